//! End to end with configuration files: the real binary started in a folder
//! holding an opmux.toml or a Procfile, checked on screen and in /proc.

mod common;

use common::{Opmux, Scratch, marker, sleepers};

#[test]
fn panes_from_the_local_opmux_toml_run_with_their_names() {
    let dir = Scratch::new("local-toml");
    dir.write(
        "opmux.toml",
        "[[pane]]\nname = \"database\"\ncmd = \"echo db-up; exec cat\"\n\n[[pane]]\nname = \"webserver\"\ncmd = [\"sh\", \"-c\", \"echo \\\"web on $PORT\\\"; exec cat\"]\nenv = { PORT = 8080 }\n",
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 100, &[]);
    opmux.wait_row(&["1 database", "running", "2 webserver", "running"]);
    opmux.wait_row(&["db-up", "web on 8080"]);
}

#[test]
fn a_procfile_runs_each_process_in_its_pane() {
    let dir = Scratch::new("procfile");
    let procfile = dir.write("Procfile", "# dev processes\nweb: echo web-started; exec cat\n\nworker: echo worker-started; exec cat\n");
    let opmux = Opmux::start_in(
        &dir.0,
        &["--procfile", procfile.to_str().unwrap()],
        24,
        100,
        &[],
    );
    opmux.wait_row(&["1 web", "2 worker"]);
    opmux.wait_row(&["web-started", "worker-started"]);
}

#[test]
fn on_failure_with_three_restarts_runs_a_failing_command_four_times() {
    let dir = Scratch::new("on-failure");
    dir.write(
        "opmux.toml",
        "[[pane]]\nname = \"flaky\"\ncmd = \"echo run >> runs.txt; exit 1\"\nrestart = \"on-failure\"\nmax_restarts = 3\n",
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 100, &[]);
    opmux.wait_text("restarting in");
    opmux.wait_text("(3/3)");
    opmux.wait_text("gave up after 3 restarts");
    assert_eq!(dir.lines("runs.txt").len(), 4, "one run and three restarts");
}

#[test]
fn always_restarts_a_command_that_exits_zero() {
    let dir = Scratch::new("always");
    dir.write(
        "opmux.toml",
        "[[pane]]\nname = \"oneshot\"\ncmd = \"echo run >> runs.txt; exit 0\"\nrestart = \"always\"\n",
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 100, &[]);
    opmux.wait_text("(2)");
    common::eventually("a third run", || dir.lines("runs.txt").len() >= 3);
}

#[test]
fn a_manual_stop_is_not_undone_by_the_restart_policy() {
    let dir = Scratch::new("manual-stop");
    let m = marker("manual-stop");
    dir.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"daemon\"\ncmd = \"exec sleep 1000.{m}\"\nrestart = \"always\"\n\n[[pane]]\nname = \"clock\"\ncmd = \"i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.1; done\"\n"
        ),
    );
    let mut opmux = Opmux::start_in(&dir.0, &[], 24, 100, &[]);
    common::eventually("the daemon started", || sleepers(&m).len() == 1);
    opmux.send(b"\x02x");
    opmux.wait_text("killed SIGTERM after");
    // Long past the first backoff (0.5 s), measured by the clock pane's ticks.
    let tick = |s: &vt100::Screen| -> u32 {
        s.contents()
            .split("tick-")
            .skip(1)
            .filter_map(|t| t.split_whitespace().next()?.parse().ok())
            .max()
            .unwrap_or(0)
    };
    let start = opmux.with_screen(tick);
    opmux.wait_for("two seconds of ticks", |s| tick(s) >= start + 20);
    assert!(
        opmux.text().contains("killed SIGTERM after"),
        "{}",
        opmux.text()
    );
    assert_eq!(
        sleepers(&m),
        [],
        "the policy restarted a manually stopped pane"
    );
    // A manual start brings it back.
    opmux.send(b"\x02s");
    common::eventually("started again", || sleepers(&m).len() == 1);
}

#[test]
fn a_dependent_starts_only_after_its_dependency_printed_its_ready_line() {
    let dir = Scratch::new("depends-on");
    let m = marker("depends-on");
    dir.write(
        "opmux.toml",
        &format!(
            r#"[[pane]]
name = "api"
cmd = "date +%s%N > api-started; echo api is up; exec sleep 1000.{m}"
depends_on = ["db"]

[[pane]]
name = "db"
cmd = '''sleep 0.5; printf 'booting\r'; date +%s%N > db-ready; printf '\033[32mready\033[0m to accept connections\n'; exec sleep 1000.{m}'''
ready = "^ready to accept connections$"
"#
        ),
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 120, &[]);
    opmux.wait_text("waiting for db");
    opmux.wait_text("api is up");
    let read = |name| {
        dir.lines(name)
            .first()
            .and_then(|l| l.parse::<u128>().ok())
            .expect(name)
    };
    let (ready, started) = (read("db-ready"), read("api-started"));
    assert!(
        started >= ready,
        "api started at {started}, before db was ready at {ready}"
    );
}

#[test]
fn a_pane_without_autostart_waits_for_ctrl_b_s() {
    let dir = Scratch::new("autostart");
    let m = marker("autostart");
    dir.write(
        "opmux.toml",
        &format!("[[pane]]\nname = \"main\"\ncmd = \"exec cat\"\n\n[[pane]]\nname = \"later\"\ncmd = \"exec sleep 1000.{m}\"\nautostart = false\n"),
    );
    let mut opmux = Opmux::start_in(&dir.0, &[], 24, 100, &[]);
    opmux.wait_row(&["1 main", "running", "2 later", "not started"]);
    assert_eq!(sleepers(&m), []);
    opmux.send(b"\x022\x02s");
    opmux.wait_text("2 later  running");
    common::eventually("the pane started", || sleepers(&m).len() == 1);
}

#[test]
fn a_bad_config_exits_before_touching_the_terminal() {
    let dir = Scratch::new("bad-config");
    dir.write("opmux.toml", "[[pane]]\nnmae = \"web\"\ncmd = \"true\"\n");
    let mut opmux = Opmux::start_in(&dir.0, &[], 24, 100, &[]);
    assert_eq!(opmux.wait_exit(), 2);
    opmux.wait_text("opmux.toml:2:1: unknown field `nmae`, did you mean `name`?");
    opmux.with_screen(|s| {
        assert!(
            !s.alternate_screen(),
            "the terminal was switched to the alternate screen"
        );
    });
}

#[test]
fn the_log_dir_keeps_every_line_of_a_flood_even_when_opmux_is_terminated() {
    let dir = Scratch::new("log-dir");
    let m = marker("log-dir");
    // Far more lines than any screen holds, then an end marker, then the
    // pane keeps running until opmux is told to stop.
    let cmd = format!("seq 1 200000; echo flood-done; exec sleep 1000.{m}");
    let logs = dir.0.join("logs");
    let mut opmux = Opmux::start_in(
        &dir.0,
        &[
            "--log-dir",
            logs.to_str().unwrap(),
            "-n",
            "flood",
            &cmd,
            "-n",
            "calm",
            "printf 'a\\rb\\rc\\n'; exec cat",
        ],
        24,
        100,
        &[],
    );
    opmux.wait_text("flood-done");
    nix::sys::signal::kill(opmux.pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(opmux.wait_exit(), 143);
    let flood = std::fs::read_to_string(logs.join("flood.log")).unwrap();
    let lines: Vec<&str> = flood.lines().collect();
    assert_eq!(lines.len(), 200_001, "every line, then the marker");
    assert!(
        lines[..200_000]
            .iter()
            .enumerate()
            .all(|(i, l)| l.parse::<usize>() == Ok(i + 1)),
        "lines out of order or damaged"
    );
    assert_eq!(lines[200_000], "flood-done");
    // A carriage-return redraw is logged once, in its final form.
    assert_eq!(
        std::fs::read_to_string(logs.join("calm.log")).unwrap(),
        "c\n"
    );
}

#[test]
fn a_log_that_cannot_be_opened_is_shown_and_the_pane_still_runs() {
    let dir = Scratch::new("log-unwritable");
    // A file where the log folder should be.
    let blocker = dir.write("logs", "not a folder");
    let opmux = Opmux::start_in(
        &dir.0,
        &[
            "--log-dir",
            blocker.to_str().unwrap(),
            "echo still-running; exec cat",
        ],
        24,
        120,
        &[],
    );
    opmux.wait_text("still-running");
    opmux.wait_text("no log");
}
