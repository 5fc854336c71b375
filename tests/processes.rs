//! End to end, how opmux finds and ends a pane's processes: escapees that
//! cleared their environment, and what outlives the shutdown's SIGKILL. The
//! real `opmux` binary runs under the harness of `tests/common`; what is
//! left running is checked in /proc.

mod common;

use common::{Opmux, alive, marker, sleepers};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use opmux::process::proc::{self, ProcessTable};

/// Where file descriptor `fd` of `pid` points.
fn fd_target(pid: Pid, fd: i32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()
}

/// The one live `sleep 1000.<m>`, once it runs.
fn the_sleeper(m: &str) -> Pid {
    common::eventually("the sleep started", || sleepers(m).len() == 1);
    sleepers(m)[0]
}

/// Checks that `escapee` is out of reach of everything but the pane's
/// terminal: adopted by the server, in a session and group of its own, without
/// the pane's tag (or any environment), and writing to the terminal of the
/// pane whose main process is `main`.
fn assert_escaped_but_on_the_terminal(opmux: &Opmux, escapee: Pid, main: Pid) {
    let table = ProcessTable::read();
    let info = table.get(escapee).expect("the escapee in /proc");
    assert_eq!(
        info.ppid,
        opmux.server(),
        "the server, a subreaper, adopted it"
    );
    assert_eq!(
        (info.session, info.pgrp),
        (escapee, escapee),
        "it leads a session of its own"
    );
    let environ = std::fs::read(format!("/proc/{escapee}/environ")).unwrap_or_default();
    assert!(
        environ.is_empty(),
        "env -i left an environment: {environ:?}"
    );
    assert_eq!(
        proc::environ_value(escapee, opmux::process::PANE_TAG_VAR),
        None
    );
    let tty = fd_target(main, 1).expect("the pane's standard output");
    assert!(tty.starts_with("/dev/pts"), "not a terminal: {tty:?}");
    assert_eq!(
        fd_target(escapee, 1),
        Some(tty),
        "the escapee writes to the pane's terminal"
    );
}

#[test]
fn an_escapee_that_cleared_its_environment_is_stopped_with_its_pane_by_its_terminal() {
    let gone = marker("env-i-escapee");
    let m = marker("env-i-pane");
    // A double fork into a session of its own with an empty environment:
    // the pane's terminal, still its standard output, is all that says
    // whose it is.
    let cmd =
        format!("(setsid env -i /bin/sleep 1000.{gone} &)\necho escaped; exec sleep 1000.{m}");
    let mut opmux = Opmux::start(&[&cmd, "echo other-pane; exec cat"], 24, 120);
    opmux.wait_text("escaped");
    opmux.wait_text("other-pane");
    let escapee = the_sleeper(&gone);
    let main = the_sleeper(&m);
    assert_escaped_but_on_the_terminal(&opmux, escapee, main);
    opmux.send(b"\x02x");
    // The title says how the pane ended only once nothing of it is left.
    opmux.wait_text("killed SIGTERM after");
    assert!(!alive(main), "the pane's program survived C-b x");
    assert!(
        !alive(escapee),
        "the escapee {escapee} on the pane's terminal outlived C-b x"
    );
    assert!(!opmux.has_exited(), "stopping one pane must not end opmux");
}

#[test]
fn escapees_that_cleared_their_environment_are_stopped_on_quit() {
    let on_tty = marker("quit-env-i-tty");
    let detached = marker("quit-env-i-detached");
    let m = marker("quit-env-i-pane");
    // One escapee keeps the pane's terminal; the other lets go of it too,
    // so nothing tells whose it is, but it is still a descendant of opmux.
    let cmd = format!(
        "(setsid env -i /bin/sleep 1000.{on_tty} &)\n\
         (setsid env -i /bin/sleep 1000.{detached} </dev/null >/dev/null 2>&1 &)\n\
         echo escaped; exec sleep 1000.{m}"
    );
    // With a stop timeout far beyond the harness's deadline, only the stop
    // signal can end them in time: nothing waits for the SIGKILL.
    let mut opmux = Opmux::start(&["--stop-timeout", "60", &cmd], 24, 100);
    opmux.wait_text("escaped");
    let escapees = [the_sleeper(&on_tty), the_sleeper(&detached)];
    let main = the_sleeper(&m);
    assert_escaped_but_on_the_terminal(&opmux, escapees[0], main);
    assert_eq!(
        fd_target(escapees[1], 1).as_deref(),
        Some(std::path::Path::new("/dev/null"))
    );
    opmux.send(b"\x02q");
    assert_eq!(opmux.wait_exit(), 0);
    for pid in escapees.into_iter().chain([main]) {
        assert!(!alive(pid), "{pid} outlived the quit");
    }
}

#[test]
fn a_stray_that_ignores_sigterm_is_killed_when_the_stop_timeout_passes() {
    let deaf = marker("stray-ignores-term");
    let m = marker("stray-pane");
    // Ignored signals stay ignored across exec: the stray outlives SIGTERM.
    let cmd = format!(
        "(trap '' TERM; setsid env -i /bin/sleep 1000.{deaf} </dev/null >/dev/null 2>&1 &)\n\
         echo escaped; exec sleep 1000.{m}"
    );
    let mut opmux = Opmux::start(&["--stop-timeout", "5", &cmd], 24, 100);
    opmux.wait_text("escaped");
    let stray = the_sleeper(&deaf);
    let main = the_sleeper(&m);
    opmux.send(b"\x02q");
    // The pane is over at once; opmux still waits for the stray.
    common::eventually("the pane's program ended", || !alive(main));
    assert!(alive(stray), "the stray did not ignore SIGTERM");
    assert!(!opmux.has_exited(), "opmux left before its stray was gone");
    assert_eq!(opmux.wait_exit(), 0);
    assert!(!alive(stray), "the stray outlived the shutdown's SIGKILL");
}

/// Runs opmux with two panes whose programs ignore SIGTERM and SIGHUP (or
/// the hang-up of its terminal when opmux exits would end them): through
/// the debug builds' fault switch, the first ignores SIGKILL too, as a
/// process stuck in the kernel would. Returns opmux, the unkillable program
/// and the other, which SIGKILL must still end.
#[cfg(debug_assertions)]
fn with_an_unkillable_pane(extra: &[&str]) -> (Opmux, Pid, Pid) {
    let stuck = marker("unkillable");
    let killable = marker("killable");
    let deaf = |m: &str| format!("trap '' TERM HUP; exec sleep 1000.{m}");
    let (first, second) = (deaf(&stuck), deaf(&killable));
    let mut args = vec!["--stop-timeout", "1"];
    args.extend_from_slice(extra);
    args.extend([first.as_str(), second.as_str()]);
    let word = format!("1000.{stuck}");
    let opmux = Opmux::start_with_env(
        &args,
        24,
        100,
        &[(opmux::process::SURVIVE_SIGKILL_VAR, &word)],
    );
    let (stuck, killable) = (the_sleeper(&stuck), the_sleeper(&killable));
    (opmux, stuck, killable)
}

/// Checks opmux said on stderr (the terminal, once it was restored) that
/// `survivor`, and it alone, survived, and that `killed` did not; then
/// ends the survivor.
#[cfg(debug_assertions)]
fn assert_named_and_kill(opmux: &Opmux, survivor: Pid, killed: Pid) {
    opmux.wait_text("survived SIGKILL");
    let text = opmux.text();
    let line = text
        .lines()
        .find(|l| l.contains("survived SIGKILL"))
        .unwrap_or_default();
    assert!(
        line.contains("1 process(es)") && line.contains(&survivor.to_string()),
        "the survivor {survivor}, and it alone, is not named: {line:?}"
    );
    assert!(
        !alive(killed),
        "{killed} outlived SIGKILL without the fault"
    );
    assert!(alive(survivor), "the survivor was killed after all");
    kill(survivor, Signal::SIGKILL).expect("killing the survivor");
    common::eventually("the survivor ended", || !alive(survivor));
}

#[cfg(debug_assertions)]
#[test]
fn survivors_of_the_shutdowns_sigkill_are_named_and_opmux_exits_1() {
    let (mut opmux, survivor, killed) = with_an_unkillable_pane(&[]);
    opmux.wait_row(&["1 trap", "running", "2 trap", "running"]);
    opmux.send(b"\x02q");
    opmux.wait_text("killing");
    assert_eq!(opmux.wait_exit(), 1);
    assert_named_and_kill(&opmux, survivor, killed);
}

#[cfg(debug_assertions)]
#[test]
fn without_the_tui_survivors_are_named_too_and_opmux_exits_1_not_143() {
    let (mut opmux, survivor, killed) = with_an_unkillable_pane(&["--no-tui"]);
    kill(opmux.pid, Signal::SIGTERM).expect("signalling opmux");
    assert_eq!(opmux.wait_exit(), 1);
    assert_named_and_kill(&opmux, survivor, killed);
}

#[test]
fn on_quit_a_pane_gets_its_own_stop_signal_and_not_the_strays_sigterm() {
    let scratch = common::Scratch::new("own-stop-signal");
    // The handlers do not exit: the program lives on until the SIGKILL and
    // says which signals reached it meanwhile.
    let config = scratch.write(
        "opmux.toml",
        r#"stop_timeout = 3

[[pane]]
name = "int"
cmd = "trap 'echo got-INT' INT; trap 'echo got-TERM' TERM; echo trapped; while :; do sleep 0.05; done"
stop_signal = "SIGINT"
"#,
    );
    let config = config.to_string_lossy().into_owned();
    let mut opmux = Opmux::start(&["--no-tui", "-c", &config], 24, 100);
    opmux.wait_text("trapped");
    kill(opmux.pid, Signal::SIGTERM).expect("signalling opmux");
    assert_eq!(opmux.wait_exit(), 143);
    let text = opmux.text();
    assert!(text.contains("got-INT"), "no stop signal came:\n{text}");
    assert!(
        !text.contains("got-TERM"),
        "the pane got SIGTERM besides its stop signal:\n{text}"
    );
}
