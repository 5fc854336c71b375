//! The prefixed-line front end as CI and containers meet it: the real
//! binary with its stdout piped, its lines and exit status checked, its
//! processes looked for in /proc, and its logs read back.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Scratch, eventually, eventually_within, marker, sleepers};
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
    common::private_runtime(&mut cmd, &tag);
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
        Ok(out) => {
            let _ = std::fs::remove_dir_all(common::runtime_of(tag));
            out.expect("waiting for opmux")
        }
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

/// A shell command that prints `at N` as a line of its own, N being the
/// wall-clock time in nanoseconds since the epoch: a pane's own stamp of
/// when it went on to print what follows.
const STAMP: &str = "printf 'at %s\\n' \"$(date +%s%N)\"";

/// The time in a line that [`STAMP`] printed.
fn stamped(line: &str) -> SystemTime {
    let (_, nanos) = line.split_once("| at ").expect("a stamp line");
    let nanos: u64 = nanos.trim().parse().expect("nanoseconds from date +%s%N");
    SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// The least time an unfinished line may take from the pane to the test.
/// opmux holds it back a second; a little less allows for the clocks'
/// granularity, while a late reader or a loaded machine only adds time.
const HELD_BACK: Duration = Duration::from_millis(800);

/// Asserts that a line that arrived at `arrived` was held back for about a
/// second after the pane started it, at `started`.
fn assert_held_back(started: SystemTime, arrived: SystemTime, line: &str) {
    let held = arrived.duration_since(started).unwrap_or_default();
    assert!(
        held >= HELD_BACK,
        "{line:?} arrived {held:?} after the pane started it: an unfinished line must wait about a second"
    );
}

/// A running opmux whose stdout is read line by line, each line stamped
/// with the moment it arrived; killed when dropped, with everything it
/// started.
struct Running {
    child: Child,
    tag: String,
    lines: std::sync::mpsc::Receiver<(SystemTime, String)>,
    /// The lines read so far, in order.
    seen: Vec<String>,
    /// When each of [`Running::seen`] arrived.
    arrived: Vec<SystemTime>,
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
                // Stamped as soon as it is read: a late reader can only make
                // a line look later than opmux printed it, never earlier.
                if tx.send((SystemTime::now(), line)).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            tag,
            lines,
            seen: Vec::new(),
            arrived: Vec::new(),
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Waits for a printed line containing `text`, or panics with what was
    /// printed; returns the first such line and when it arrived.
    fn wait_line(&mut self, text: &str) -> (SystemTime, String) {
        self.wait_for(&format!("{text:?}"), |l| l.contains(text))
    }

    /// Waits for a printed line that `wanted` accepts, or panics with what
    /// was printed; returns the first such line and when it arrived.
    fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> (SystemTime, String) {
        let deadline = Instant::now() + common::DEADLINE;
        loop {
            if let Some(i) = self.seen.iter().position(|l| wanted(l)) {
                return (self.arrived[i], self.seen[i].clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.arrived.push(at);
                    self.seen.push(line);
                }
                Err(_) => panic!("timed out waiting for {what}; printed:\n{:#?}", self.seen),
            }
        }
    }

    /// Every line printed, up to the end of opmux's output, once opmux has
    /// exited; panics if the output does not end within a deadline.
    fn all_lines(&mut self) -> Vec<String> {
        let deadline = Instant::now() + common::DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.arrived.push(at);
                    self.seen.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return self.seen.clone(),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("opmux's output did not end; printed:\n{:#?}", self.seen)
                }
            }
        }
    }

    /// Sends opmux SIGTERM and waits for its exit code.
    fn terminate(&mut self) -> Option<i32> {
        kill(self.pid(), Signal::SIGTERM).unwrap();
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + common::DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for opmux") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "opmux did not exit");
            std::thread::sleep(Duration::from_millis(20));
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
    // Two panes named after their command: a name names one pane, so the
    // second is `echo-2`.
    let out = run(&["--no-tui", "echo one", "echo two"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(lines_of(&out, "echo").contains(&"one".to_string()));
    assert!(lines_of(&out, "echo-2").contains(&"two".to_string()));
}

#[test]
fn each_pane_runs_on_a_terminal_of_its_own() {
    let pane = "test -t 0 && test -t 1 && test -t 2 && echo on-a-terminal; tty";
    let out = run(&["--no-tui", "-n", "a", "-n", "b", pane, pane]);
    assert_eq!(out.status.code(), Some(0));
    let (a, b) = (lines_of(&out, "a"), lines_of(&out, "b"));
    assert_eq!(a[0], "on-a-terminal", "{a:#?}");
    assert_eq!(b[0], "on-a-terminal", "{b:#?}");
    assert!(
        a[1].starts_with("/dev/pts/") && a[1] != b[1],
        "{a:#?} {b:#?}"
    );
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
    // A success that comes first is no failure.
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
fn the_pane_that_fails_first_gives_the_status_not_one_that_fails_later() {
    // "later" is listed first but fails second: it waits for a file the
    // test creates once opmux has told of "first"'s end, which it does in
    // the same step as it counts the failure. No timing decides the order.
    let scratch = Scratch::new("headless-first-failure");
    let go = scratch.0.join("go");
    let later = format!("until [ -e {} ]; do sleep 0.05; done; exit 5", go.display());
    let mut running = Running::start(&["--no-tui", "-n", "later", "-n", "first", &later, "exit 3"]);
    running.wait_line("first | [exited 3]");
    scratch.write("go", "");
    running.wait_line("later | [exited 5]");
    assert_eq!(running.wait_exit(), Some(3), "{:#?}", running.seen);
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
    // The pane stamps the moment before it prints the unfinished line, and
    // finishes it only once the test has seen it printed.
    let scratch = Scratch::new("headless-unfinished");
    let go = scratch.0.join("go");
    let pane = format!(
        "{STAMP}; printf waiting; until [ -e {} ]; do sleep 0.05; done; echo ', done'; exec sleep 60",
        go.display()
    );
    let mut running = Running::start(&["--no-tui", "-n", "w", &pane]);
    let (_, stamp) = running.wait_line("w | at ");
    // Not at once: about a second after the pane printed it.
    let (arrived, line) = running.wait_line("w | waiting");
    assert_eq!(line, "w | waiting");
    assert_held_back(stamped(&stamp), arrived, &line);
    // As far as it goes, and the rest when the line ends.
    scratch.write("go", "");
    running.wait_line("w | , done");
    assert_eq!(running.terminate(), Some(143));
    let printed = running.all_lines();
    assert_eq!(
        printed,
        [
            stamp.as_str(),
            "w | waiting",
            "w | , done",
            "w | [killed SIGTERM]"
        ],
        "nothing printed twice"
    );
}

/// Runs opmux with `args` and its standard streams on a terminal of its
/// own, `NO_COLOR` set to `no_color` or unset, until it exits 0; returns
/// every byte it wrote there.
fn run_on_terminal(args: &[&str], no_color: Option<&str>) -> Vec<u8> {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("openpty");
    let tag = common::run_tag();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_opmux"));
    cmd.args(args);
    cmd.cwd(env!("CARGO_MANIFEST_DIR"));
    cmd.env("OPMUX_LOG", "off");
    cmd.env(common::TAG_VAR, &tag);
    match no_color {
        Some(value) => cmd.env("NO_COLOR", value),
        None => cmd.env_remove("NO_COLOR"),
    }
    let mut child = pair.slave.spawn_command(cmd).expect("spawning opmux");
    // Only opmux holds the terminal now: its end ends the reading.
    drop(pair.slave);
    let pid = Pid::from_raw(child.process_id().expect("opmux pid") as i32);
    let mut reader = pair.master.try_clone_reader().expect("a reader");
    let (tx, chunks) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Once opmux and everything it started are gone, the read fails.
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let (tx, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let deadline = Instant::now() + common::DEADLINE;
    let mut written = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => written.extend_from_slice(&chunk),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = kill(pid, Signal::SIGKILL);
                common::kill_tagged(&tag);
                panic!(
                    "opmux's terminal was not closed; it wrote {:?}",
                    String::from_utf8_lossy(&written)
                );
            }
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let Ok(status) = exit.recv_timeout(left) else {
        let _ = kill(pid, Signal::SIGKILL);
        common::kill_tagged(&tag);
        panic!("opmux closed its terminal but did not exit");
    };
    let status = status.expect("waiting for opmux");
    assert!(
        status.success(),
        "{status:?}: {:?}",
        String::from_utf8_lossy(&written)
    );
    drop(pair.master);
    written
}

#[test]
fn colour_auto_colours_a_terminal_unless_no_color_is_set() {
    let args = ["--no-tui", "-n", "x", "echo hi"];
    let coloured = "\x1b[36mx |\x1b[0m hi";
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    // auto is the default.
    let out = text(run_on_terminal(&args, None));
    assert!(out.contains(coloured), "{out:?}");
    let out = text(run_on_terminal(
        &["--color", "auto", "-n", "x", "--no-tui", "echo hi"],
        None,
    ));
    assert!(out.contains(coloured), "{out:?}");
    // NO_COLOR with any value turns it off; an empty one counts as unset,
    // as no-color.org has it.
    for value in ["1", "0", "no"] {
        let out = text(run_on_terminal(&args, Some(value)));
        assert!(out.contains("x | hi"), "NO_COLOR={value}: {out:?}");
        assert!(!out.contains('\x1b'), "NO_COLOR={value}: {out:?}");
    }
    let out = text(run_on_terminal(&args, Some("")));
    assert!(out.contains(coloured), "NO_COLOR empty: {out:?}");
    // always colours even under NO_COLOR; never does not on a terminal.
    let out = text(run_on_terminal(
        &["--no-tui", "--color", "always", "-n", "x", "echo hi"],
        Some("1"),
    ));
    assert!(out.contains(coloured), "always under NO_COLOR: {out:?}");
    let out = text(run_on_terminal(
        &["--no-tui", "--color", "never", "-n", "x", "echo hi"],
        None,
    ));
    assert!(
        out.contains("x | hi") && !out.contains('\x1b'),
        "never: {out:?}"
    );
}

#[test]
fn colours_follow_the_color_option() {
    // A colour per pane; lifecycle lines dimmed.
    let out = run(&[
        "--no-tui", "--color", "always", "-n", "x", "-n", "yy", "echo hi", "echo ho",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\x1b[36mx  |\x1b[0m hi"), "{text:?}");
    assert!(text.contains("\x1b[33myy |\x1b[0m ho"), "{text:?}");
    assert!(
        text.contains("\x1b[36mx  |\x1b[0m \x1b[2m[exited 0]\x1b[0m"),
        "{text:?}"
    );
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
    assert_eq!(running.terminate(), Some(143));
    // Only that pane: the other's terminal would have echoed the input, and
    // opmux prints what is in its pipeline before it exits.
    let printed = running.all_lines();
    assert!(
        !printed
            .iter()
            .any(|l| l.starts_with("other") && l.contains("hello")),
        "{printed:#?}"
    );
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
    // Half a million lines through a debug build: on a loaded machine this
    // takes longer than the usual deadline, and only a hang should fail here.
    eventually_within("the flood to end", RUN_DEADLINE, || done.exists());
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
    // It said what it waited for, then that it never started.
    assert_eq!(
        lines,
        ["[waiting for db]", "[never started: db ended first]"],
        "{lines:#?}"
    );
}

#[test]
fn the_ci_example_runs_the_tests_once_the_service_is_ready_and_fails_with_either() {
    // As the README's CI example, with `depends_on = { db = "ready" }` in
    // place of the sleep: the tests wait for the service, --kill-others
    // stops the service when they end, and the status is the tests' own.
    let scratch = Scratch::new("headless-ci");
    for (tests_exit, status) in [(0, 0), (4, 4)] {
        let m = marker("headless-ci");
        let config = scratch.write(
            "opmux.toml",
            &format!(
                "[[pane]]\nname = \"db\"\ncmd = \"echo ready to accept connections; exec sleep 1000.{m}\"\n\
                 ready = \"ready to accept\"\n\n\
                 [[pane]]\nname = \"tests\"\ncmd = \"echo ran; exit {tests_exit}\"\n\
                 depends_on = {{ db = \"ready\" }}\n"
            ),
        );
        let config = config.to_string_lossy().into_owned();
        let out = run(&["--no-tui", "--kill-others", "-c", &config]);
        assert_eq!(out.status.code(), Some(status), "{:#?}", stdout_lines(&out));
        assert_eq!(
            lines_of(&out, "tests"),
            ["[waiting for db]", "ran", &format!("[exited {tests_exit}]")],
        );
        assert_eq!(
            lines_of(&out, "db"),
            ["ready to accept connections", "[killed SIGTERM]"]
        );
        assert_eq!(sleepers(&m), []);
    }
    // The service dies first: the job fails with it, and the tests opmux
    // stopped are no failure.
    let m = marker("headless-ci-db");
    let config = scratch.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"db\"\ncmd = \"echo ready; exit 7\"\nready = \"ready\"\n\n\
             [[pane]]\nname = \"tests\"\ncmd = \"exec sleep 1000.{m}\"\ndepends_on = [\"db\"]\n"
        ),
    );
    let config = config.to_string_lossy().into_owned();
    let out = run(&["--no-tui", "--kill-others", "-c", &config]);
    assert_eq!(out.status.code(), Some(7), "{:#?}", stdout_lines(&out));
    assert_eq!(sleepers(&m), []);
}

#[test]
fn restarts_that_run_out_end_with_a_line_saying_so() {
    let scratch = Scratch::new("headless-gave-up");
    let config = scratch.write(
        "opmux.toml",
        "[[pane]]\nname = \"f\"\ncmd = \"exit 1\"\nrestart = \"on-failure\"\nmax_restarts = 1\n",
    );
    let config = config.to_string_lossy().into_owned();
    let out = run(&["--no-tui", "-c", &config]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines_of(&out, "f");
    let events: Vec<&String> = lines.iter().filter(|l| l.starts_with('[')).collect();
    assert_eq!(
        events,
        [
            "[exited 1, restarting in 0.5s]",
            "[exited 1, gave up after 1 restarts]"
        ],
        "{lines:#?}"
    );
}

#[test]
fn a_panes_last_output_comes_before_its_end_even_without_a_line_feed() {
    // Enough output that the program has exited well before opmux has read
    // it all.
    let out = run(&["--no-tui", "-n", "p", "seq 1 20000; printf 'no line feed'"]);
    assert_eq!(out.status.code(), Some(0));
    let lines = lines_of(&out, "p");
    assert_eq!(
        lines.len(),
        20_002,
        "{:#?}",
        &lines[lines.len().saturating_sub(5)..]
    );
    assert_eq!(lines[19_999], "20000");
    assert_eq!(lines[20_000..], ["no line feed", "[exited 0]"]);
}

#[test]
fn a_line_ended_right_after_it_was_printed_unfinished_is_not_printed_again() {
    let scratch = Scratch::new("headless-ended-unfinished");
    let go = scratch.0.join("go");
    let pane = format!(
        "printf half; until [ -e {} ]; do sleep 0.05; done; echo; printf again; exec sleep 60",
        go.display()
    );
    let mut running = Running::start(&["--no-tui", "-n", "w", &pane]);
    running.wait_line("w | half");
    scratch.write("go", "");
    running.wait_line("w | again");
    assert_eq!(running.terminate(), Some(143));
    // No empty rest of "half", and "again", left unfinished, not twice.
    assert_eq!(
        running.all_lines(),
        ["w | half", "w | again", "w | [killed SIGTERM]"]
    );
}

#[test]
fn stdin_and_its_end_wait_for_a_pane_that_has_not_started_yet() {
    // The reader waits for a gate the test opens only once opmux has read
    // the input and its end.
    let scratch = Scratch::new("headless-stdin-early");
    let m = marker("headless-stdin-early");
    let go = scratch.0.join("go");
    let config = scratch.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"gate\"\ncmd = \"until [ -e {} ]; do sleep 0.05; done; echo open; exec sleep 1000.{m}\"\n\
             ready = \"open\"\n\n\
             [[pane]]\nname = \"reader\"\ncmd = \"read x; echo got $x; cat >/dev/null; echo eof\"\n\
             depends_on = [\"gate\"]\n",
            go.display()
        ),
    );
    let config = config.to_string_lossy().into_owned();
    let (mut cmd, tag) = opmux();
    // The gate stays up, as a service would, until the reader is done.
    let mut child = cmd
        .args([
            "--no-tui",
            "--kill-others",
            "--stdin",
            "reader",
            "-c",
            &config,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting opmux");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"hello\n").expect("writing opmux's input");
    // Read by opmux once the pipe holds nothing; it then handles the input
    // before any output the gate prints later.
    let pipe = std::os::fd::AsRawFd::as_raw_fd(&stdin);
    eventually("opmux to read its input", || unread(pipe) == 0);
    drop(stdin);
    scratch.write("go", "");
    let out = finish(child, &tag);
    assert_eq!(out.status.code(), Some(0), "{:#?}", stdout_lines(&out));
    let lines = lines_of(&out, "reader");
    assert!(lines.contains(&"got hello".to_string()), "{lines:#?}");
    assert!(lines.contains(&"eof".to_string()), "{lines:#?}");
    assert_eq!(sleepers(&m), []);
}

/// How many bytes the pipe with end `fd` holds, not yet read.
fn unread(fd: std::os::fd::RawFd) -> i32 {
    nix::ioctl_read_bad!(fionread, nix::libc::FIONREAD, nix::libc::c_int);
    let mut n: nix::libc::c_int = 0;
    // The fd is the open write end of a pipe the caller holds, and FIONREAD
    // writes one int.
    unsafe { fionread(fd, &mut n) }.expect("FIONREAD on a pipe");
    n
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
    let pane = format!("{STAMP}; printf Running; while :; do sleep 0.2; printf .; done");
    let mut running = Running::start(&["--no-tui", "-n", "dots", &pane]);
    let (_, stamp) = running.wait_line("dots | at ");
    // Printed while dots keep coming, though not before a second...
    let (arrived, line) = running.wait_line("dots | Running");
    assert_held_back(stamped(&stamp), arrived, &line);
    // ...and the dots after it follow later, as far as they go.
    running.wait_for("a line of the dots that followed", |l| {
        l.strip_prefix("dots | ")
            .is_some_and(|dots| !dots.is_empty() && dots.chars().all(|c| c == '.'))
    });
    assert_eq!(running.terminate(), Some(143));
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
    assert_eq!(running.wait_exit(), Some(0));
    // Everything printed, up to the end of opmux's output.
    let printed = running.all_lines();
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
    // The reader is dropped once it has read a line: opmux's stdout is
    // closed, as `| head -1` does.
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, first) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    let first = match first.recv_timeout(common::DEADLINE) {
        Ok(line) => line.expect("reading opmux's first line"),
        Err(_) => {
            let _ = child.kill();
            common::kill_tagged(&tag);
            panic!("opmux printed no line");
        }
    };
    assert_eq!(first, "y | y\n");
    let out = finish(child, &tag);
    // As a writer in a pipeline ends on SIGPIPE: 128 + 13.
    assert_eq!(out.status.code(), Some(141), "{out:?}");
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
fn an_unfinished_line_printed_at_a_runs_end_is_not_printed_again_when_it_restarts() {
    let dir = Scratch::new("headless-restart-partial");
    // Plain, coloured, after a coloured line, and drawn over before the
    // end: each run's last line is printed once, before the run's end.
    let cases = [
        ("printf partial", "partial"),
        ("printf '\\033[1mpartial\\033[0m'", "partial"),
        (
            "printf '\\033[32mhello\\033[0m\\n'; printf partial",
            "partial",
        ),
        ("printf '10%%\\r100%%'", "100%"),
    ];
    for (n, (program, last)) in cases.iter().enumerate() {
        let config = dir.0.join(format!("opmux-{n}.toml"));
        std::fs::write(
            &config,
            format!(
                "[[pane]]\nname = \"p\"\ncmd = '''{program}; exit 1'''\n\
                 restart = \"always\"\nmax_restarts = 1\n"
            ),
        )
        .unwrap();
        let out = run(&["--no-tui", "-c", config.to_str().unwrap()]);
        let lines = lines_of(&out, "p");
        let shown: Vec<usize> = (lines.iter().enumerate())
            .filter(|(_, l)| l == last)
            .map(|(i, _)| i)
            .collect();
        let banner = lines.iter().position(|l| l.contains("started again"));
        assert!(
            shown.len() == 2 && banner.is_some_and(|b| shown[0] < b && b < shown[1]),
            "{program}: {lines:#?}"
        );
    }
}

#[test]
fn the_rest_of_a_line_printed_unfinished_follows_it_whatever_colours_come_after() {
    // The rest is written once the unfinished parts were printed, on a
    // file the test creates, so no timing decides the order.
    let scratch = common::Scratch::new("rest-after-colours");
    let go = scratch.0.join("go");
    let wait = format!("until [ -e {} ]; do sleep 0.05; done", go.display());
    // q's line ends plain and a coloured line follows; r's rest is
    // coloured itself. Colours do not go back over a line.
    let q = format!("printf abc; {wait}; printf 'def\\n\\033[32mnext\\033[0m\\n'");
    let r = format!("printf xyz; {wait}; printf '\\033[32mdef\\033[0m\\n'");
    let mut running = Running::start(&["--no-tui", "-n", "q", "-n", "r", &q, &r]);
    running.wait_line("q | abc");
    running.wait_line("r | xyz");
    scratch.write("go", "");
    assert_eq!(running.wait_exit(), Some(0));
    let printed = running.all_lines();
    let of = |name: &str| -> Vec<String> {
        let prefix = format!("{name} | ");
        (printed.iter())
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    };
    assert_eq!(of("q"), ["abc", "def", "next", "[exited 0]"]);
    assert_eq!(of("r"), ["xyz", "def", "[exited 0]"]);
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
    // Why it could not start, as the first line (no empty line before
    // it), then the failure as the last line.
    let lines = lines_of(&out, "gone");
    let why = lines
        .iter()
        .position(|l| l.contains("could not start") && l.contains("opmux-test-no-such-program"));
    let failed = lines.iter().position(|l| l.starts_with("[failed"));
    assert!(
        why == Some(0) && failed == Some(lines.len() - 1),
        "{lines:#?}"
    );
}

#[test]
fn a_pane_with_two_things_wrong_prints_each_once() {
    let scratch = Scratch::new("headless-two-notices");
    // A log folder that is a file: the log cannot be opened. A liveness
    // probe that fails: the run is stopped as unhealthy.
    let not_a_folder = scratch.write("logs", "");
    scratch.write(
        "opmux.toml",
        "[[pane]]\nname = \"sick\"\ncmd = \"exec sleep 1000\"\n\
         live_probe = { exec = \"false\", interval = \"100ms\", failure_threshold = 1 }\n",
    );
    let config = scratch.0.join("opmux.toml");
    let log_dir = not_a_folder.to_str().unwrap();
    let out = run(&[
        "--no-tui",
        "--log-dir",
        log_dir,
        "-c",
        config.to_str().unwrap(),
    ]);
    let lines = stdout_lines(&out);
    let notices: Vec<&String> = lines.iter().filter(|l| l.contains("| [! ")).collect();
    assert!(
        notices.iter().any(|l| l.contains("liveness failed")),
        "{lines:?}"
    );
    assert_eq!(notices.len(), 2, "each notice once: {lines:?}");
}
