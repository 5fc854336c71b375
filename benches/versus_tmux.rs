//! Side-by-side benchmark: opmux and tmux, each inside a 200×50 PTY that this
//! program drains the way a real terminal would, in the same run.
//!
//! `flood`: a pane runs `seq 1 2000000` (16.9 MB with CRs). The time is taken
//! inside the pane, around `seq` alone, since a child can only finish as fast
//! as its multiplexer drains it. Results are printed as seconds and as the
//! ratio opmux / tmux.
//!
//! Run with `cargo bench --bench versus_tmux`. tmux is skipped with a note when
//! it is not installed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const ROWS: u16 = 50;
const COLS: u16 = 200;
const LINES: u32 = 2_000_000;
const RUNS: usize = 3;

/// A multiplexer under test: how to start it on a pane command, and how to
/// make it quit once the measurement is in.
struct Contender {
    name: &'static str,
    start: fn(pane: &str, tag: &str) -> CommandBuilder,
    stop: fn(tag: &str, child: &mut Box<dyn portable_pty::Child + Send + Sync>),
}

fn opmux(pane: &str, _tag: &str) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_opmux"));
    cmd.args(["--stop-timeout", "1", pane]);
    cmd
}

fn stop_opmux(_tag: &str, child: &mut Box<dyn portable_pty::Child + Send + Sync>) {
    if let Some(pid) = child.process_id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

fn tmux(pane: &str, tag: &str) -> CommandBuilder {
    // A private server (-L) with no user config, no status line and the same
    // 10,000 lines of history opmux is measured with.
    let mut cmd = CommandBuilder::new("tmux");
    cmd.args(["-L", tag, "-f", "/dev/null", "new-session", ";"]);
    cmd.args(["set", "-g", "status", "off", ";"]);
    cmd.args(["set", "-g", "history-limit", "10000", ";"]);
    cmd.args(["new-window", "-k", "-t", "0", pane]);
    cmd
}

fn stop_tmux(tag: &str, _child: &mut Box<dyn portable_pty::Child + Send + Sync>) {
    let _ = Command::new("tmux")
        .args(["-L", tag, "kill-server"])
        .status();
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs one flood under `contender` and returns the seconds `seq` took.
fn flood(contender: &Contender, scratch: &Path, run: usize) -> Option<f64> {
    let tag = format!("opmux-bench-{}-{run}", std::process::id());
    let result = scratch.join(format!("{}-{run}.ns", contender.name));
    let _ = std::fs::remove_file(&result);
    let pane = format!(
        "t0=$(date +%s%N); seq 1 {LINES}; t1=$(date +%s%N); echo $((t1 - t0)) > {}.tmp; mv {0}.tmp {0}; exec sleep 1000",
        result.display()
    );
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: ROWS,
            cols: COLS,
            pixel_width: 0,
            pixel_height: 0,
        })
        .ok()?;
    let mut cmd = (contender.start)(&pane, &tag);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).ok()?;
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().ok()?;
    // Drain like a terminal would, until the multiplexer exits.
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let nanos = loop {
        if let Ok(text) = std::fs::read_to_string(&result) {
            break text.trim().parse::<f64>().ok();
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (contender.stop)(&tag, &mut child);
    let _ = child.wait();
    drop(pair.master);
    let _ = drain.join();
    nanos.map(|n| n / 1e9)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let scratch: PathBuf = std::env::temp_dir().join(format!("opmux-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("creating a scratch folder");
    let contenders = [
        Contender {
            name: "opmux",
            start: opmux,
            stop: stop_opmux,
        },
        Contender {
            name: "tmux",
            start: tmux,
            stop: stop_tmux,
        },
    ];
    println!("flood: seq 1 {LINES} in one pane, {COLS}x{ROWS}, median of {RUNS} runs");
    let mut medians = Vec::new();
    for contender in &contenders {
        if contender.name != "opmux" && !installed(contender.name) {
            println!("  {:<6} not installed, skipped", contender.name);
            continue;
        }
        let times: Vec<f64> = (0..RUNS)
            .filter_map(|run| flood(contender, &scratch, run))
            .collect();
        if times.is_empty() {
            println!("  {:<6} failed to run", contender.name);
            continue;
        }
        let m = median(times.clone());
        println!(
            "  {:<6} {m:.2} s   (runs: {})",
            contender.name,
            times
                .iter()
                .map(|t| format!("{t:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        medians.push((contender.name, m));
    }
    if let [(_, opmux), rest @ ..] = medians.as_slice() {
        for (name, other) in rest {
            println!("  opmux / {name} = {:.2}", opmux / other);
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
