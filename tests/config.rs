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
fn a_panes_port_shows_in_its_title_and_a_held_one_says_who_holds_it() {
    let dir = Scratch::new("port-title");
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a listener");
    let taken = held.local_addr().unwrap().port();
    dir.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"api\"\nport = \"auto\"\ncmd = \"echo on $PORT; exec cat\"\n\
             [[pane]]\nname = \"fixed\"\nport = {taken}\ncmd = \"exec cat\"\n"
        ),
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 160, &[]);
    opmux.wait_text("on 5");
    let text = opmux.text();
    let after = &text[text.find("on 5").unwrap() + 3..];
    let port: String = after.chars().take_while(char::is_ascii_digit).collect();
    opmux.wait_text(&format!("1 api  :{port}"));
    opmux.wait_text(&format!(
        "failed: port {taken} is in use by {}",
        std::process::id()
    ));
    drop(held);
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
    // db is ready only once the test creates `go`, which it does after it has
    // seen api waiting: no timing decides what the test sees.
    dir.write(
        "opmux.toml",
        &format!(
            r#"[[pane]]
name = "api"
cmd = "date +%s%N > api-started; echo api is up; exec sleep 1000.{m}"
depends_on = ["db"]

[[pane]]
name = "db"
cmd = '''printf 'booting\r'; while [ ! -e go ]; do sleep 0.02; done; date +%s%N > db-ready; printf '\033[32mready\033[0m to accept connections\n'; exec sleep 1000.{m}'''
ready = "^ready to accept connections$"
"#
        ),
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 120, &[]);
    opmux.wait_text("waiting for db");
    assert!(
        dir.lines("api-started").is_empty(),
        "api started before db was ready:\n{}",
        opmux.text()
    );
    dir.write("go", "");
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

/// Runs opmux without its TUI in folder `dir`, with `env` added to its own
/// environment, to the end; past [`common::DEADLINE`] six times over (a
/// whole run, not one wait) kills it and everything it started, and fails.
fn run_headless(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    use std::process::{Command, Stdio};
    let tag = common::run_tag();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
    common::private_runtime(&mut cmd, &tag);
    let child = cmd
        .arg("--no-tui")
        .args(args)
        .current_dir(dir)
        .env("OPMUX_LOG", "off")
        .env(common::TAG_VAR, &tag)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running opmux");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let limit = common::DEADLINE * 6;
    match rx.recv_timeout(limit) {
        Ok(out) => {
            let _ = std::fs::remove_dir_all(common::runtime_of(&tag));
            out.expect("waiting for opmux")
        }
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            common::kill_tagged(&tag);
            panic!("opmux {args:?} did not exit within {limit:?}");
        }
    }
}

/// The lines printed for pane `name` (the text after `name | `).
fn lines_of(out: &std::process::Output, name: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (prefix, text) = l.split_once(" | ")?;
            (prefix.trim_end() == name).then(|| text.to_string())
        })
        .collect()
}

/// The physical path of `path`, as `pwd -P` prints it.
fn physical(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .expect("an existing folder")
        .display()
        .to_string()
}

#[test]
fn an_opmux_toml_runs_its_commands_in_its_own_folder_and_cwd_is_relative_to_it() {
    let dir = Scratch::new("toml-folder");
    let project = dir.0.join("project");
    // A `server` in opmux's own folder too, so a `cwd` resolved against the
    // wrong folder still finds one and shows where it went.
    for folder in ["project/server", "server"] {
        std::fs::create_dir_all(dir.0.join(folder)).unwrap();
    }
    dir.write(
        "project/opmux.toml",
        "[[pane]]\nname = \"top\"\ncmd = \"pwd -P\"\n\n[[pane]]\nname = \"sub\"\ncmd = [\"pwd\", \"-P\"]\ncwd = \"server\"\n",
    );
    // Started from the folder above, given the file by a relative path; a
    // COMMAND pane beside them runs in opmux's own folder.
    let out = run_headless(
        &dir.0,
        &["-c", "project/opmux.toml", "-n", "own", "pwd -P"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        lines_of(&out, "top"),
        [physical(&project), "[exited 0]".into()]
    );
    assert_eq!(
        lines_of(&out, "sub"),
        [physical(&project.join("server")), "[exited 0]".into()]
    );
    assert_eq!(
        lines_of(&out, "own"),
        [physical(&dir.0), "[exited 0]".into()]
    );
}

#[test]
fn a_procfile_runs_its_commands_in_its_own_folder() {
    let dir = Scratch::new("procfile-folder");
    let procs = dir.0.join("procs");
    std::fs::create_dir_all(&procs).unwrap();
    dir.write("procs/Procfile", "where: pwd -P\n");
    let out = run_headless(&dir.0, &["--procfile", "procs/Procfile"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        lines_of(&out, "where"),
        [physical(&procs), "[exited 0]".into()]
    );
}

#[test]
fn a_procfiles_processes_get_ports_from_opmuxs_own_port_or_5000_as_with_foreman() {
    let dir = Scratch::new("procfile-ports");
    dir.write(
        "Procfile",
        "web: echo web on $PORT\nworker: echo worker on $PORT\n",
    );
    for (port, web, worker) in [("6200", "6200", "6300"), ("", "5000", "5100")] {
        let out = run_headless(&dir.0, &["--procfile", "Procfile"], &[("PORT", port)]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            lines_of(&out, "web")[0],
            format!("web on {web}"),
            "PORT={port:?}"
        );
        assert_eq!(
            lines_of(&out, "worker")[0],
            format!("worker on {worker}"),
            "PORT={port:?}"
        );
    }
}

#[test]
fn a_procfiles_dotenv_reaches_its_processes_and_its_port_starts_theirs() {
    let dir = Scratch::new("procfile-dotenv");
    std::fs::create_dir_all(dir.0.join("app")).unwrap();
    dir.write(
        "app/Procfile",
        "web: echo \"web: $GREETING on $PORT\"\nworker: echo \"worker on $PORT\"\n",
    );
    dir.write(
        "app/.env",
        "# local\nGREETING=\"hello from .env\"\nPORT=7000\n",
    );
    // A .env where opmux starts is not the Procfile's.
    dir.write(".env", "GREETING=wrong\nPORT=1000\n");
    // The .env's PORT comes before opmux's own.
    let out = run_headless(&dir.0, &["--procfile", "app/Procfile"], &[("PORT", "3000")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(lines_of(&out, "web")[0], "web: hello from .env on 7000");
    assert_eq!(lines_of(&out, "worker")[0], "worker on 7100");
    // A line the .env cannot hold is refused, naming its file and line.
    dir.write("app/.env", "GREETING=ok\nnot a line\n");
    let out = run_headless(&dir.0, &["--procfile", "app/Procfile"], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(".env:2: not a `KEY=value` line"), "{said}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn env_file_is_read_from_the_configs_folder_and_reaches_every_pane() {
    let dir = Scratch::new("env-file");
    std::fs::create_dir_all(dir.0.join("project")).unwrap();
    dir.write(
        "project/.env",
        "# settings\nGREETING=\"hello from the file\"\nexport PORT=8080\n",
    );
    // The same name in opmux's own folder, so the file is not found there
    // by accident.
    dir.write(".env", "GREETING=\"wrong file\"\nPORT=1\n");
    dir.write(
        "project/opmux.toml",
        "env_file = \".env\"\n\n[[pane]]\nname = \"a\"\ncmd = 'echo \"a: $GREETING on $PORT\"'\n\n[[pane]]\nname = \"b\"\ncmd = 'echo \"b: $GREETING\"'\n",
    );
    let out = run_headless(&dir.0, &["-c", "project/opmux.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(lines_of(&out, "a")[0], "a: hello from the file on 8080");
    assert_eq!(lines_of(&out, "b")[0], "b: hello from the file");
}

#[test]
fn env_false_unsets_a_variable_opmux_itself_has() {
    let dir = Scratch::new("env-unset");
    dir.write(
        "opmux.toml",
        r#"env = { TOP_GONE = false, TOP_SET = "top" }

[[pane]]
name = "p"
cmd = 'echo "top=${TOP_GONE-unset} pane=${PANE_GONE-unset} kept=${KEPT-unset} set=$TOP_SET port=$PORT"'
env = { PANE_GONE = false, PORT = 8080 }
"#,
    );
    let out = run_headless(
        &dir.0,
        &[],
        &[
            ("TOP_GONE", "inherited"),
            ("PANE_GONE", "inherited"),
            ("KEPT", "inherited"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        lines_of(&out, "p")[0],
        "top=unset pane=unset kept=inherited set=top port=8080"
    );
}

#[test]
fn check_prints_the_panes_in_start_order() {
    let dir = Scratch::new("check-order");
    // File order: web, api, db, cache. Start order puts each pane after
    // what it depends on and otherwise keeps file order: db, cache, api,
    // web — neither the file's order nor its reverse.
    dir.write(
        "opmux.toml",
        r#"[[pane]]
name = "web"
cmd = "run-web"
depends_on = ["api"]

[[pane]]
name = "api"
cmd = "run-api"
depends_on = { db = "started" }

[[pane]]
name = "db"
cmd = "run-db"

[[pane]]
name = "cache"
cmd = "run-cache"
"#,
    );
    let out = run_headless(&dir.0, &["--check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(names, ["db", "cache", "api", "web"], "{text}");
    let heading = format!(
        "{}: 4 pane(s), in start order:",
        dir.0.join("opmux.toml").display()
    );
    assert_eq!(text.lines().next(), Some(heading.as_str()), "{text}");
}

/// A tiny HTTP server on 127.0.0.1 for probes to ask: it answers 200 while
/// `healthy` holds, else 503. Returns its port.
fn health_server(healthy: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a listener");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request);
            let status = match healthy.load(std::sync::atomic::Ordering::SeqCst) {
                true => "200 OK",
                false => "503 Service Unavailable",
            };
            let answer =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    port
}

#[test]
fn an_http_readiness_probe_releases_a_dependent_and_a_failing_liveness_probe_restarts_the_pane() {
    use std::sync::atomic::Ordering;
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = health_server(healthy.clone());
    let dir = Scratch::new("http-probes");
    let probe = format!("http = \"http://127.0.0.1:{port}/health\", interval = \"100ms\"");
    dir.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"api\"\ncmd = \"echo run >> runs; exec cat\"\nrestart = \"on-failure\"\n\
             ready_probe = {{ {probe} }}\n\
             live_probe = {{ {probe}, failure_threshold = 3 }}\n\
             [[pane]]\nname = \"web\"\ndepends_on = [\"api\"]\ncmd = \"echo web released; exec cat\"\n"
        ),
    );
    let opmux = Opmux::start_in(&dir.0, &[], 24, 160, &[]);
    opmux.wait_text("waiting for api");
    healthy.store(true, Ordering::SeqCst);
    opmux.wait_text("web released");
    opmux.wait_text("ready");
    // Sick now: three failures in a row stop the run as a failure, which
    // on-failure restarts; the title says why until a run is ready again.
    healthy.store(false, Ordering::SeqCst);
    opmux.wait_text("liveness failed: HTTP 503");
    common::eventually("the second run", || dir.lines("runs").len() == 2);
    opmux.wait_text("liveness failed: HTTP 503");
    healthy.store(true, Ordering::SeqCst);
    opmux.wait_for("the reason gone once ready again", |screen| {
        !screen.contents().contains("liveness failed")
    });
}
