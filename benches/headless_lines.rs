//! Throughput of the prefixed-line front end, side by side in one run with
//! what people use for the same job: a pane printing `seq 1 2000000`, every
//! line prefixed with its process's name and read from a pipe to the end.
//!
//! - `opmux --no-tui`;
//! - foreman (`foreman start` on a one-line Procfile), if installed;
//! - concurrently, if installed (on PATH, or at $CONCURRENTLY);
//! - plain `sh -c 'seq … | sed …'`, the floor: a pipe and a prefix, no PTY.
//!
//! Each contender runs three times; the median wall time is printed with its
//! ratio to opmux's, after checking that every line arrived. Run with
//! `cargo bench --bench headless_lines`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const LINES: u32 = 2_000_000;
const RUNS: usize = 3;

/// Builds the command line of one contender, afresh for each run.
type MakeCommand = Box<dyn Fn() -> Command>;

fn on_path(program: &str) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .map(|dir| std::path::Path::new(dir).join(program))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

/// Runs `cmd`, reads its stdout to the end, and returns the seconds it took
/// and how many lines ended with the wanted last number.
fn time(mut cmd: Command) -> Option<(f64, usize)> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let mut numbered = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.ok()?;
        if line.trim_end().ends_with(|c: char| c.is_ascii_digit()) {
            numbered += 1;
        }
    }
    child.wait().ok()?;
    Some((start.elapsed().as_secs_f64(), numbered))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let scratch = std::env::temp_dir().join(format!("opmux-headless-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("creating a scratch folder");
    let procfile = scratch.join("Procfile");
    std::fs::write(&procfile, format!("seq: seq 1 {LINES}\n")).expect("writing a Procfile");
    let pane = format!("seq 1 {LINES}");

    let mut contenders: Vec<(&str, MakeCommand)> = Vec::new();
    let p = pane.clone();
    contenders.push((
        "opmux --no-tui",
        Box::new(move || {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
            cmd.env("OPMUX_LOG", "off")
                .args(["--no-tui", "-n", "seq", &p]);
            cmd
        }),
    ));
    match on_path("foreman") {
        Some(foreman) => {
            let procfile = procfile.clone();
            contenders.push((
                "foreman start",
                Box::new(move || {
                    let mut cmd = Command::new(&foreman);
                    cmd.arg("start").arg("-f").arg(&procfile);
                    cmd
                }),
            ));
        }
        None => println!("foreman is not installed: skipped"),
    }
    match std::env::var("CONCURRENTLY")
        .ok()
        .or_else(|| on_path("concurrently"))
    {
        Some(concurrently) => {
            let p = pane.clone();
            contenders.push((
                "concurrently",
                Box::new(move || {
                    let mut cmd = Command::new(&concurrently);
                    cmd.args(["-n", "seq", &p]);
                    cmd
                }),
            ));
        }
        None => println!("concurrently is not installed: skipped"),
    }
    let p = pane.clone();
    contenders.push((
        "sh -c 'seq | sed'",
        Box::new(move || {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c").arg(format!("{p} | sed 's/^/seq | /'"));
            cmd
        }),
    ));

    println!("seq 1 {LINES} through each, stdout read from a pipe; median of {RUNS}");
    let mut ours = None;
    for (name, make) in &contenders {
        let mut times = Vec::new();
        for _ in 0..RUNS {
            match time(make()) {
                Some((secs, lines)) if lines >= LINES as usize => times.push(secs),
                Some((_, lines)) => println!("  {name}: only {lines} numbered lines arrived"),
                None => println!("  {name}: failed to run"),
            }
        }
        if times.is_empty() {
            continue;
        }
        let secs = median(times);
        let ours = *ours.get_or_insert(secs);
        println!(
            "  {name:<20} {secs:>7.2} s   {:>8.0} lines/s   this/opmux = {:.2}",
            f64::from(LINES) / secs,
            secs / ours
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
