//! opmux's own log as a user meets it: where it goes from the environment,
//! and its rotation past 10 MB when opmux starts. Each test points the log
//! into a scratch folder, so no user's log is ever touched.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Scratch;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The README's "10 MB", as opmux counts it (MiB), written out here rather
/// than taken from the code, so that a changed limit fails the tests.
const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Runs `opmux --no-tui 'echo hi'` to the end with the environment `env`
/// (a `None` value unsets the variable), HOME pointing into `scratch`, and
/// checks that it exited 0. The log is started before the pane, so once
/// opmux has exited it has written its lines there.
fn run_with(scratch: &Scratch, env: &[(&str, Option<&str>)]) {
    let tag = common::run_tag();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
    common::private_runtime(&mut cmd, &tag);
    cmd.args(["--no-tui", "echo hi"])
        .env("HOME", scratch.0.join("home"))
        .env_remove("XDG_STATE_HOME")
        .env_remove("OPMUX_LOG")
        .env(common::TAG_VAR, &tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    let child = cmd.spawn().expect("running opmux");
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let limit = Duration::from_secs(60);
    let Ok(out) = rx.recv_timeout(limit) else {
        let _ = kill(pid, Signal::SIGKILL);
        common::kill_tagged(&tag);
        panic!("opmux did not exit within {limit:?}");
    };
    let out = out.expect("waiting for opmux");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// What opmux writes to its log when the pane of [`run_with`] starts.
const STARTED: &str = "started pane=\"echo\"";

/// An old log of `len` bytes, recognisable by its first line.
fn old_log(len: u64) -> Vec<u8> {
    let mut text = b"the old log\n".to_vec();
    text.resize(len as usize, b'.');
    text
}

#[test]
fn a_log_over_10_mb_is_moved_to_opmux_log_1_when_opmux_starts() {
    // Found under $XDG_STATE_HOME, as it is by default.
    let scratch = Scratch::new("log-rotated");
    let state = scratch.0.join("state");
    let dir = state.join("opmux");
    std::fs::create_dir_all(&dir).expect("creating the log folder");
    let log = dir.join("opmux.log");
    let rotated = dir.join("opmux.log.1");
    std::fs::write(&log, old_log(MAX_BYTES + 1)).expect("writing an old log");
    // An older rotation gives way.
    std::fs::write(&rotated, "an older rotation\n").expect("writing an older rotation");
    run_with(&scratch, &[("XDG_STATE_HOME", state.to_str())]);
    let moved = std::fs::read(&rotated).expect("the old log as opmux.log.1");
    assert_eq!(moved.len() as u64, MAX_BYTES + 1, "the old log, whole");
    assert!(moved.starts_with(b"the old log\n"));
    let fresh = std::fs::read_to_string(&log).expect("a new log");
    assert!(
        fresh.starts_with(|c: char| c.is_ascii_digit()) && fresh.contains(STARTED),
        "the new log starts afresh: {:?}",
        &fresh[..fresh.len().min(200)]
    );
    assert!(fresh.len() < 64 * 1024, "{} bytes", fresh.len());
}

#[test]
fn a_log_of_10_mb_or_less_is_appended_to() {
    let scratch = Scratch::new("log-kept");
    let log = scratch.0.join("opmux.log");
    let rotated = scratch.0.join("opmux.log.1");
    // Exactly at the limit: not over it.
    std::fs::write(&log, old_log(MAX_BYTES)).expect("writing an old log");
    run_with(&scratch, &[("OPMUX_LOG", log.to_str())]);
    assert!(!rotated.exists(), "a log at the limit was rotated");
    let kept = std::fs::read(&log).expect("the log");
    assert!(
        kept.starts_with(b"the old log\n"),
        "the old lines were lost"
    );
    let added = String::from_utf8_lossy(&kept[MAX_BYTES as usize..]);
    assert!(added.contains(STARTED), "nothing appended: {added:?}");
}

#[test]
fn the_log_goes_where_the_environment_says_or_nowhere_when_off() {
    let scratch = Scratch::new("log-where");
    // $XDG_STATE_HOME/opmux/opmux.log, its folder made for it.
    let state = scratch.0.join("state");
    run_with(&scratch, &[("XDG_STATE_HOME", state.to_str())]);
    let log = state.join("opmux").join("opmux.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains(STARTED), "{log:?}: {text:?}");
    // Else ~/.local/state/opmux/opmux.log.
    run_with(&scratch, &[]);
    let log = scratch.0.join("home/.local/state/opmux/opmux.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains(STARTED), "{log:?}: {text:?}");
    // OPMUX_LOG=off: nothing anywhere.
    let quiet = Scratch::new("log-off");
    let state = quiet.0.join("state");
    run_with(
        &quiet,
        &[
            ("OPMUX_LOG", Some("off")),
            ("XDG_STATE_HOME", state.to_str()),
        ],
    );
    assert!(!state.exists() && !quiet.0.join("home").exists());
}
