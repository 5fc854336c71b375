//! The prefixed-line front end as CI and containers meet it: the real
//! binary with its stdout piped, its lines and exit status checked, its
//! processes looked for in /proc, and its logs read back.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{Scratch, eventually, marker, sleepers};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// opmux, and the tag that it and everything it starts carry, so that a
/// test that fails leaves nothing behind (see [`common::kill_tagged`]).
fn opmux() -> (Command, String) {
    let tag = common::run_tag();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
    cmd.env("OPMUX_LOG", "off")
        .env_remove("NO_COLOR")
        .env(common::TAG_VAR, &tag);
    (cmd, tag)
}

/// The longest a whole run of opmux may take in these tests; past it the
/// run is taken for hung, killed, and the test fails instead of waiting
/// forever. Longer than [`common::DEADLINE`], which bounds one wait.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// Runs opmux with `args`, stdout and stderr piped and no stdin, to the end.
fn run(args: &[&str]) -> Output {
    let (mut cmd, tag) = opmux();
    let child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running opmux");
    finish(child, &tag)
}

/// Waits for `child`, a run tagged `tag`, to end and returns its output;
/// past [`RUN_DEADLINE`] kills it and all it started, and panics with what
/// it printed.
fn finish(child: Child, tag: &str) -> Output {
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RUN_DEADLINE) {
        Ok(out) => out.expect("waiting for opmux"),
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            common::kill_tagged(tag);
            let out = rx.recv().ok().and_then(Result::ok);
            panic!("opmux did not exit within {RUN_DEADLINE:?}; its output: {out:?}");
        }
    }
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The text after `name | ` of each line printed for pane `name`.
fn lines_of(out: &Output, name: &str) -> Vec<String> {
    stdout_lines(out)
        .iter()
        .filter_map(|l| {
            let (prefix, text) = l.split_once(" | ")?;
            (prefix.trim_end() == name).then(|| text.to_string())
        })
        .collect()
}

/// A running opmux whose stdout is read line by line; killed when dropped,
/// with everything it started.
struct Running {
    child: Child,
    tag: String,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let (mut cmd, tag) = opmux();
        let mut child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting opmux");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            tag,
            lines,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for a printed line containing `text`, or panics with what was
    /// printed.
    fn wait_line(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + common::DEADLINE;
        while !self.seen.iter().any(|l| l.contains(text)) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("timed out waiting for {text:?}; printed:\n{:#?}", self.seen),
            }
        }
    }

    /// Sends opmux SIGTERM and waits for its exit code.
    fn terminate(&mut self) -> Option<i32> {
        kill(self.pid(), Signal::SIGTERM).unwrap();
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = std::time::Instant::now() + common::DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for opmux") {
                return status.code();
            }
            assert!(std::time::Instant::now() < deadline, "opmux did not exit");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        common::kill_tagged(&self.tag);
        let _ = self.child.wait();
    }
}

#[test]
fn two_panes_print_their_lines_with_prefixes_and_exit_0() {
    let out = run(&["--no-tui", "-n", "a", "-n", "bee", "echo one", "echo two"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines = stdout_lines(&out);
    // Names padded to one width; no colour into a pipe.
    assert!(lines.contains(&"a   | one".to_string()), "{lines:#?}");
    assert!(lines.contains(&"bee | two".to_string()), "{lines:#?}");
    assert!(
        lines.contains(&"a   | [exited 0]".to_string()),
        "{lines:#?}"
    );
    assert!(!out.stdout.contains(&0x1b), "escape codes in a pipe");
    // As the issue puts it: two panes named after their command.
    let out = run(&["--no-tui", "echo one", "echo two"]);
    assert_eq!(out.status.code(), Some(0));
    let lines = lines_of(&out, "echo");
    assert!(lines.contains(&"one".to_string()) && lines.contains(&"two".to_string()));
}

#[test]
fn without_a_terminal_on_stdout_opmux_prints_lines_instead_of_drawing() {
    let out = run(&["echo hi"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(lines_of(&out, "echo"), ["hi", "[exited 0]"]);
    assert!(!out.stdout.contains(&0x1b), "the terminal was drawn on");
}

#[test]
fn the_exit_status_is_the_first_failing_panes() {
    let out = run(&["--no-tui", "true", "sleep 0.3; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(lines_of(&out, "sleep").contains(&"[exited 3]".to_string()));
    let out = run(&["--no-tui", "kill -TERM $$"]);
    assert_eq!(
        out.status.code(),
        Some(128 + 15),
        "a signal counts as 128+N"
    );
    let out = run(&["--no-tui", "exec no-such-program-here"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn kill_others_on_fail_stops_a_long_running_sibling() {
    let m = marker("kill-others");
    let long = format!("exec sleep 1000.{m}");
    let out = run(&[
        "--no-tui",
        "--kill-others-on-fail",
        "-n",
        "long",
        "-n",
        "bad",
        &long,
        "sleep 0.5; exit 2",
    ]);
    assert_eq!(out.status.code(), Some(2), "{:#?}", stdout_lines(&out));
    assert!(
        lines_of(&out, "long").contains(&"[killed SIGTERM]".to_string()),
        "{:#?}",
        stdout_lines(&out)
    );
    assert_eq!(sleepers(&m), []);
    // Without it, a failure leaves the sibling running: opmux stays.
    let mut running = Running::start(&["--no-tui", "-n", "long", &long, "exit 2"]);
    running.wait_line("[exited 2]");
    assert_eq!(running.child.try_wait().unwrap(), None);
    eventually("the sibling still running", || sleepers(&m).len() == 1);
    assert_eq!(running.terminate(), Some(143));
    assert_eq!(sleepers(&m), []);
}

#[test]
fn kill_others_stops_everything_when_one_pane_ends() {
    let m = marker("kill-others-any");
    let long = format!("exec sleep 1000.{m}");
    let out = run(&["--no-tui", "--kill-others", &long, "sleep 0.5"]);
    // The pane that ended did so with 0, and the ones opmux stopped are no
    // failures.
    assert_eq!(out.status.code(), Some(0), "{:#?}", stdout_lines(&out));
    assert_eq!(sleepers(&m), []);
}

#[test]
fn a_carriage_return_redraw_prints_its_final_form_once() {
    let out = run(&["--no-tui", "-n", "bar", "printf 'a\\rb\\rc\\n'"]);
    assert_eq!(lines_of(&out, "bar"), ["c", "[exited 0]"]);
    // Colours and cursor movement stay out of the lines, unless --raw.
    let out = run(&[
        "--no-tui",
        "-n",
        "c",
        "printf '\\033[31mred\\033[0m \\033[1Cok\\n'",
    ]);
    assert_eq!(lines_of(&out, "c"), ["red  ok", "[exited 0]"]);
    let out = run(&[
        "--no-tui",
        "--raw",
        "-n",
        "c",
        "printf '\\033[31mred\\033[0m\\n'",
    ]);
    assert_eq!(lines_of(&out, "c")[0], "\x1b[31mred\x1b[0m");
}

#[test]
fn an_unfinished_line_is_printed_after_a_second() {
    let mut running = Running::start(&["--no-tui", "-n", "w", "printf waiting; exec sleep 60"]);
    running.wait_line("w | waiting");
    assert_eq!(running.terminate(), Some(143));
}

#[test]
fn colours_follow_the_color_option() {
    let out = run(&["--no-tui", "--color", "always", "-n", "x", "echo hi"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\x1b[36mx |\x1b[0m hi"), "{text:?}");
    let out = run(&["--no-tui", "--color", "never", "echo hi"]);
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn stdin_goes_to_the_pane_named_by_stdin() {
    let mut running = Running::start(&[
        "--no-tui",
        "--stdin",
        "reader",
        "-n",
        "reader",
        "-n",
        "other",
        "read x; echo got $x",
        "exec sleep 60",
    ]);
    let stdin = running.child.stdin.as_mut().unwrap();
    stdin.write_all(b"hello\n").unwrap();
    running.wait_line("reader | got hello");
    running.terminate();
    let out = run(&["--no-tui", "--stdin", "nope", "echo hi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pane named nope"));
}

#[test]
fn sigterm_leaves_no_pane_process() {
    let m = marker("headless-term");
    let calm = format!("exec sleep 1000.{m}");
    let escapee = format!("setsid sleep 1000.{m} & echo forked; exec sleep 1000.{m}");
    let mut running = Running::start(&["--no-tui", &calm, &escapee]);
    running.wait_line("forked");
    eventually("all three sleeping", || sleepers(&m).len() == 3);
    assert_eq!(running.terminate(), Some(143));
    assert_eq!(sleepers(&m), []);
}

#[test]
fn a_flood_through_log_dir_leaves_every_line_in_the_log() {
    let scratch = Scratch::new("headless-flood");
    let dir = scratch.0.to_string_lossy().into_owned();
    let out = run(&["--no-tui", "--log-dir", &dir, "-n", "flood", "seq 1 500000"]);
    assert_eq!(out.status.code(), Some(0));
    common::assert_numbered(&scratch.lines("flood.log"), 500_000);
}

#[test]
fn sigterm_right_after_a_flood_still_leaves_every_line_in_the_log() {
    let scratch = Scratch::new("headless-flood-term");
    let dir = scratch.0.to_string_lossy().into_owned();
    let done = scratch.0.join("done");
    let pane = format!("seq 1 500000; touch {}; exec sleep 1000", done.display());
    let mut running = Running::start(&["--no-tui", "--log-dir", &dir, "-n", "flood", &pane]);
    eventually("the flood to end", || done.exists());
    assert_eq!(running.terminate(), Some(143));
    let logged = scratch.lines("flood.log");
    assert_eq!(logged.len(), 500_000);
    assert_eq!(logged.last().map(String::as_str), Some("500000"));
}

#[test]
fn log_time_starts_each_logged_line_with_an_iso_8601_timestamp() {
    let scratch = Scratch::new("headless-log-time");
    let dir = scratch.0.to_string_lossy().into_owned();
    let out = run(&[
        "--no-tui",
        "--log-dir",
        &dir,
        "--log-time",
        "-n",
        "t",
        "echo one; echo two",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stamp = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (one|two)$").unwrap();
    let logged = scratch.lines("t.log");
    assert_eq!(logged.len(), 2, "{logged:#?}");
    assert!(logged.iter().all(|l| stamp.is_match(l)), "{logged:#?}");
}

#[test]
fn a_log_that_cannot_be_opened_is_reported_and_the_pane_runs_anyway() {
    let scratch = Scratch::new("headless-bad-log");
    // A file where the log folder should be.
    let not_a_dir = scratch.write("taken", "");
    let dir = not_a_dir.to_string_lossy().into_owned();
    let out = run(&["--no-tui", "--log-dir", &dir, "-n", "p", "echo still-ran"]);
    assert_eq!(out.status.code(), Some(0));
    let lines = lines_of(&out, "p");
    assert!(lines.contains(&"still-ran".to_string()), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("[! no log")),
        "{lines:#?}"
    );
}

#[test]
fn a_failure_followed_by_a_successful_restart_exits_0() {
    let scratch = Scratch::new("headless-restart");
    let marker_file = scratch.0.join("ran-once");
    let config = scratch.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"flaky\"\ncmd = \"test -f {0} || {{ touch {0}; exit 1; }}\"\nrestart = \"on-failure\"\n",
            marker_file.display()
        ),
    );
    let config = config.to_string_lossy().into_owned();
    let out = run(&["--no-tui", "--kill-others-on-fail", "-c", &config]);
    let lines = lines_of(&out, "flaky");
    assert_eq!(out.status.code(), Some(0), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[exited 1, restarting in")),
        "{lines:#?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("[exited 0]"));
}

#[test]
fn a_pane_that_never_gets_to_start_is_a_failure() {
    let scratch = Scratch::new("headless-never");
    let config = scratch.write(
        "opmux.toml",
        "[[pane]]\nname = \"db\"\ncmd = \"true\"\nready = \"never printed\"\n\n\
         [[pane]]\nname = \"tests\"\ncmd = \"echo ran\"\ndepends_on = [\"db\"]\n",
    );
    let config = config.to_string_lossy().into_owned();
    let out = run(&["--no-tui", "-c", &config]);
    assert_eq!(out.status.code(), Some(1), "{:#?}", stdout_lines(&out));
    let lines = lines_of(&out, "tests");
    assert!(!lines.contains(&"ran".to_string()));
    assert!(
        lines.iter().any(|l| l.starts_with("[never started")),
        "{lines:#?}"
    );
}

#[test]
fn the_end_of_stdin_ends_input_even_after_a_partial_line() {
    let (mut cmd, tag) = opmux();
    let mut child = cmd
        .args(["--no-tui", "--stdin", "count", "-n", "count", "wc -c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc").unwrap();
    let out = finish(child, &tag);
    assert_eq!(out.status.code(), Some(0));
    let lines = lines_of(&out, "count");
    // The terminal echoes the input; wc's count ends the line.
    assert!(
        lines.iter().any(|l| l.trim_end().ends_with('3')),
        "{lines:#?}"
    );
}

#[test]
fn an_unfinished_line_is_printed_a_second_after_it_starts_even_while_it_grows() {
    let mut running = Running::start(&[
        "--no-tui",
        "-n",
        "dots",
        "printf Running; while :; do sleep 0.2; printf .; done",
    ]);
    // Printed while dots keep coming; the dots after it follow later.
    running.wait_line("dots | Running");
    running.terminate();
}

#[test]
fn a_line_redrawn_after_it_was_printed_unfinished_is_printed_whole() {
    // The redraw waits for a file the test creates once the unfinished line
    // was printed, so no timing decides the order.
    let scratch = common::Scratch::new("redrawn-unfinished");
    let go = scratch.0.join("go");
    let pane = format!(
        "printf 'Downloading 1'; until [ -e {} ]; do sleep 0.05; done; \
         printf '\\rDownloading 100%%\\n'",
        go.display()
    );
    let mut running = Running::start(&["--no-tui", "-n", "dl", &pane]);
    running.wait_line("dl | Downloading 1");
    scratch.write("go", "");
    running.wait_exit();
    // Everything printed, up to the end of opmux's output.
    let mut printed = std::mem::take(&mut running.seen);
    printed.extend(running.lines.iter());
    let lines: Vec<&str> = printed
        .iter()
        .filter_map(|l| l.strip_prefix("dl | "))
        .collect();
    assert_eq!(lines, ["Downloading 1", "Downloading 100%", "[exited 0]"]);
}

#[test]
fn panes_named_alike_log_to_files_of_their_own() {
    let scratch = Scratch::new("headless-alike-logs");
    let dir = scratch.0.to_string_lossy().into_owned();
    let out = run(&[
        "--no-tui",
        "--log-dir",
        &dir,
        "echo first",
        "echo second",
        "echo third",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(scratch.lines("echo.log"), ["first"]);
    assert_eq!(scratch.lines("echo-2.log"), ["second"]);
    assert_eq!(scratch.lines("echo-3.log"), ["third"]);
}

#[test]
fn a_closed_stdout_stops_every_pane() {
    let (mut cmd, tag) = opmux();
    let mut child = cmd
        .args(["--no-tui", "-n", "y", "yes"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting opmux");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first)
        .expect("reading opmux's first line");
    assert_eq!(first, "y | y\n");
    // The reader is dropped: opmux's stdout is closed, as `| head -1` does.
    let out = finish(child, &tag);
    assert!(out.status.code().is_some(), "{out:?}");
    assert_eq!(common::tagged(&tag), [], "processes left after opmux");
}

#[test]
fn sigint_and_sighup_give_128_plus_their_number() {
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGHUP, 129)] {
        let m = marker("headless-signals");
        let pane = format!("echo up; exec sleep 1000.{m}");
        let mut running = Running::start(&["--no-tui", &pane]);
        running.wait_line("up");
        kill(running.pid(), signal).unwrap();
        assert_eq!(running.wait_exit(), Some(code), "{signal}");
        assert_eq!(sleepers(&m), [], "{signal}");
    }
}

#[test]
fn a_second_signal_kills_what_the_first_one_could_not_stop() {
    // The pane's shell notes the stop signal and goes on (its short sleeps
    // let the trap run at once); only SIGKILL ends it, and the stop timeout
    // is far longer than a wait's deadline.
    let stubborn = "trap 'echo got-term' TERM; echo up; while :; do sleep 0.1; done";
    let mut running = Running::start(&["--no-tui", "--stop-timeout", "600", stubborn]);
    running.wait_line("up");
    kill(running.pid(), Signal::SIGTERM).unwrap();
    running.wait_line("got-term");
    kill(running.pid(), Signal::SIGTERM).unwrap();
    assert_eq!(running.wait_exit(), Some(143));
    assert_eq!(
        common::tagged(&running.tag),
        [],
        "processes left after opmux"
    );
}

#[test]
fn a_program_that_does_not_exist_exits_127_without_a_shell() {
    let dir = Scratch::new("headless-missing");
    let config = dir.0.join("opmux.toml");
    std::fs::write(
        &config,
        "[[pane]]\nname = \"gone\"\ncmd = [\"opmux-test-no-such-program\"]\n",
    )
    .unwrap();
    let out = run(&["--no-tui", "-c", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        lines_of(&out, "gone")
            .iter()
            .any(|l| l.starts_with("[failed")),
        "{out:?}"
    );
}
