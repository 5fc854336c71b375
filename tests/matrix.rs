//! The bad-input matrix: each test is one row, a hostile or odd input and
//! the outcome a user should see. Every row ends by checking opmux still
//! runs and answers a key, unless the row is about refusing to start.

mod common;

use common::{Opmux, Scratch, alive, marker, sleepers};
use nix::sys::signal::{Signal, kill};

/// A pane that echoes what is typed into it at once, on the same row, to
/// prove opmux still answers.
const ECHO: &str = "stty raw -echo; exec cat";

/// Types `token` into the focused pane (a `cat`) and waits for its echo:
/// opmux is alive, reads keys and draws.
fn still_answers(opmux: &mut Opmux, token: &str) {
    assert!(alive(opmux.pid), "opmux died");
    opmux.send(format!("\r{token}").as_bytes());
    opmux.wait_text(token);
}

/// One of opmux's memory figures in KiB (`VmRSS:` now, `VmHWM:` its
/// peak), from /proc, summed over the client and the server.
fn memory_kib(opmux: &Opmux, field: &str) -> u64 {
    [opmux.pid, opmux.server()]
        .into_iter()
        .map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
            let line = status.lines().find(|l| l.starts_with(field)).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

#[test]
fn row_tiny_and_zero_sized_terminals() {
    let mut opmux = Opmux::start(&[ECHO, "echo second; exec sleep 60"], 1, 1);
    for (rows, cols) in [(2, 3), (1, 1), (24, 0), (0, 80), (3, 2)] {
        opmux.resize(rows, cols);
    }
    opmux.resize(24, 80);
    opmux.wait_text("second");
    still_answers(&mut opmux, "tiny-ok");
}

#[test]
fn row_a_storm_of_200_resizes() {
    let mut opmux = Opmux::start(&[ECHO, "exec sleep 60"], 24, 80);
    for i in 0..200u16 {
        opmux.resize(10 + i % 40, 20 + (i * 7) % 180);
    }
    opmux.resize(30, 100);
    // The frame follows the last size: the focused pane's corner.
    opmux.wait_for("the frame at 30x100", |s| {
        s.cell(28, 49).is_some_and(|c| c.contents() == "┛")
    });
    still_answers(&mut opmux, "storm-ok");
}

#[test]
fn row_random_bytes_invalid_utf8_and_hard_text() {
    let noise = "head -c 2000000 /dev/urandom; printf '\\377\\376\\300\\200 \\355\\240\\200'; \
                 printf '\\n e\\314\\201 \\342\\200\\213 \\360\\237\\207\\253\\360\\237\\207\\267 \
                 \\360\\237\\221\\250\\342\\200\\215\\360\\237\\221\\251\\342\\200\\215\\360\\237\\221\\247 \\033[0m\\033c'; \
                 echo noise-done; exec sleep 60";
    let mut opmux = Opmux::start(&[ECHO, noise], 24, 100);
    opmux.wait_text("noise-done");
    still_answers(&mut opmux, "noise-ok");
}

#[test]
fn row_an_escape_sequence_that_never_ends_keeps_memory_bounded() {
    // 50 MB inside an OSC, then inside a DCS, each left open; then text.
    // It starts once the file exists, so opmux's size before is known.
    let dir = Scratch::new("matrix-endless");
    let go = dir.0.join("go");
    let endless = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; \
         printf '\\033]0;'; head -c 50000000 /dev/zero | tr '\\0' a; \
         printf '\\033P'; head -c 50000000 /dev/zero | tr '\\0' b; \
         printf '\\033\\\\'; echo; echo endless-done; exec sleep 60",
        go.display()
    );
    let mut opmux = Opmux::start(&[ECHO, &endless], 24, 100);
    opmux.wait_row(&["1 stty", "running", "2 while", "running"]);
    let before = memory_kib(&opmux, "VmRSS:");
    std::fs::write(&go, b"").unwrap();
    opmux.wait_text("endless-done");
    let peak = memory_kib(&opmux, "VmHWM:");
    assert!(
        peak.saturating_sub(before) < 64 * 1024,
        "opmux grew from {before} KiB to a peak of {peak} KiB"
    );
    still_answers(&mut opmux, "endless-ok");
}

#[test]
fn row_50_mb_without_a_newline() {
    let long = "head -c 50000000 /dev/zero | tr '\\0' x; echo; echo long-done; exec sleep 60";
    let mut opmux = Opmux::start(&[ECHO, long], 24, 100);
    // A million wrapped rows through the history: 31 s in a debug build on
    // a 2-core machine.
    opmux.wait_text_for("long-done", std::time::Duration::from_secs(300));
    still_answers(&mut opmux, "long-ok");
}

#[test]
fn row_a_pane_that_closes_its_output_but_keeps_running() {
    let m = marker("closed-output");
    let closer = format!("echo closing; exec >&- 2>&-; exec sleep 1000.{m}");
    let mut opmux = Opmux::start(&[ECHO, &closer], 24, 100);
    opmux.wait_text("closing");
    common::eventually("the sleep", || sleepers(&m).len() == 1);
    opmux.wait_row(&["2 echo", "running"]);
    still_answers(&mut opmux, "closed-ok");
    opmux.send(b"\x02q");
    assert_eq!(opmux.wait_exit(), 0);
    assert_eq!(sleepers(&m), [], "the quiet sleeper was stopped too");
}

#[test]
fn row_a_pane_that_forks_500_short_lived_children() {
    let forks = "for i in $(seq 500); do true & done; wait; echo forked-500; exec sleep 60";
    let mut opmux = Opmux::start(&[ECHO, forks], 24, 100);
    opmux.wait_text("forked-500");
    let zombies = || {
        let table = opmux::process::proc::ProcessTable::read();
        table
            .descendants(opmux.pid)
            .into_iter()
            .filter(|p| table.get(*p).is_some_and(|i| i.state == 'Z'))
            .count()
    };
    common::eventually("no zombie left", || zombies() == 0);
    still_answers(&mut opmux, "forks-ok");
}

#[test]
fn row_a_command_of_100_kb() {
    let padding = "x".repeat(100 * 1024);
    let cmd = format!("echo long-command-ran; : {padding}; exec sleep 60");
    let mut opmux = Opmux::start(&[ECHO, &cmd], 24, 100);
    opmux.wait_text("long-command-ran");
    still_answers(&mut opmux, "command-ok");
}

#[test]
fn row_configs_that_cannot_be_used_exit_before_touching_the_terminal() {
    let dir = Scratch::new("matrix-configs");
    std::fs::create_dir_all(dir.0.join("folder.toml")).unwrap();
    std::fs::write(dir.0.join("latin1.toml"), b"[[pane]]\ncmd = \"caf\xe9\"\n").unwrap();
    dir.write(
        "twice.toml",
        "[[pane]]\nname = \"web\"\ncmd = \"true\"\n[[pane]]\nname = \"web\"\ncmd = \"true\"\n",
    );
    dir.write(
        "no-cwd.toml",
        "[[pane]]\ncmd = \"true\"\ncwd = \"missing\"\n",
    );
    // A file even root cannot read: its own memory from address 0.
    let unreadable = "/proc/self/mem";
    let cases = [
        (unreadable, "/proc/self/mem: cannot be read"),
        ("folder.toml", "is a folder, not a config file"),
        ("latin1.toml", "cannot be read"),
        ("twice.toml", "`web` is already the name of the pane"),
        ("no-cwd.toml", "field `cwd`: folder"),
    ];
    for (file, expected) in cases {
        let mut opmux = Opmux::start_in(&dir.0, &["-c", file], 24, 100, &[]);
        assert_eq!(opmux.wait_exit(), 2, "{file}");
        opmux.wait_text(expected);
        opmux.with_screen(|s| assert!(!s.alternate_screen(), "{file} touched the terminal"));
    }
}

#[test]
fn row_64_panes_on_an_80x24_terminal() {
    let m = marker("sixty-four");
    let sleeper = format!("exec sleep 1000.{m}");
    let mut args = vec![ECHO];
    args.extend(std::iter::repeat_n(sleeper.as_str(), 63));
    let mut opmux = Opmux::start(&args, 24, 80);
    common::eventually("63 sleepers", || sleepers(&m).len() == 63);
    still_answers(&mut opmux, "many-ok");
    opmux.send(b"\x02q");
    assert_eq!(opmux.wait_exit(), 0);
    assert_eq!(sleepers(&m), []);
}

#[test]
fn row_pane_programs_killed_by_every_kind_of_signal() {
    use nix::sys::signal::Signal::*;
    let signals = [
        SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1,
        SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGSYS,
    ];
    let m = marker("signalled");
    let victim = format!("exec sleep 1000.{m}");
    let mut args = vec![ECHO];
    args.extend(std::iter::repeat_n(victim.as_str(), signals.len()));
    let mut opmux = Opmux::start(&args, 60, 200);
    common::eventually("every victim", || sleepers(&m).len() == signals.len());
    let mut victims = sleepers(&m);
    victims.sort();
    for (pid, signal) in victims.iter().zip(signals) {
        kill(*pid, signal).unwrap();
    }
    common::eventually("every victim gone", || sleepers(&m).is_empty());
    opmux.wait_text("killed SIGSYS");
    still_answers(&mut opmux, "signals-ok");
}

/// Whether every thread of `pid` is stopped by a signal (`T` in
/// /proc/PID/task/TID/stat), so none of them can still read input.
fn all_threads_stopped(pid: nix::unistd::Pid) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            return false;
        };
        // The state follows the command name, which is in parentheses and
        // may hold spaces.
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next());
        if state != Some('T') {
            return false;
        }
        any = true;
    }
    any
}

#[test]
fn row_opmux_stopped_and_continued() {
    let mut opmux = Opmux::start(&[ECHO, "exec sleep 60"], 24, 80);
    // opmux drew its panes, so its terminal is raw: typed text no longer
    // echoes by itself (the kernel's echo would pass `still_answers`).
    opmux.wait_row(&["1 stty", "running", "2 exec", "running"]);
    // The cat is reading, raw, before opmux stops.
    still_answers(&mut opmux, "before-stop");
    kill(opmux.pid, Signal::SIGSTOP).unwrap();
    common::eventually("every thread of the client stopped", || {
        all_threads_stopped(opmux.pid)
    });
    // The server reads the terminal and draws on it, as tmux's does: a
    // stopped client holds nothing up, and typing still reaches the cat.
    opmux.send(b"\rtyped-while-stopped");
    opmux.wait_text("typed-while-stopped");
    assert!(
        all_threads_stopped(opmux.pid),
        "the client ran again before SIGCONT"
    );
    kill(opmux.pid, Signal::SIGCONT).unwrap();
    still_answers(&mut opmux, "continued-ok");
}

#[test]
fn load_32_floods_at_once_leave_opmux_answering_with_bounded_memory() {
    let m = marker("thirty-two");
    let flood = format!("seq 1 30000; exec sleep 1000.{m}");
    let mut args = vec![ECHO];
    args.extend(std::iter::repeat_n(flood.as_str(), 32));
    let mut opmux = Opmux::start(&args, 50, 200);
    // Typed while the floods run, and answered.
    still_answers(&mut opmux, "flooded-ok");
    opmux.wait_text_for("30000", std::time::Duration::from_secs(120));
    common::eventually("every flood done", || sleepers(&m).len() == 32);
    let peak = memory_kib(&opmux, "VmHWM:");
    eprintln!("peak RSS with 32 floods: {peak} KiB");
    // Each pane keeps 10,000 lines of history; 32 of them, full, come to
    // a few tens of MB.
    assert!(peak < 256 * 1024, "opmux peaked at {peak} KiB");
    still_answers(&mut opmux, "after-ok");
}
