//! Sessions that outlive the terminal, end to end: `opmux -d` starts a
//! server, `opmux attach` puts a real `opmux` client on a PTY, `opmux ls`
//! and `opmux kill-session` talk to the server, and /proc says what runs.
//! Every test has a socket folder of its own (`XDG_RUNTIME_DIR`), never the
//! one of the person running the tests, and its `Sessions` stops whatever it
//! started when it is dropped, pass or fail.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use common::{
    Opmux, Scratch, TAG_VAR, alive, eventually, eventually_within, kill_tagged, marker, run_tag,
    sleepers,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The sessions of one test: a private runtime folder and a tag on every
/// process started through it.
struct Sessions {
    runtime: Scratch,
    tag: String,
    /// The `--no-tui` sessions it started, each with the lines it printed.
    no_tui: std::cell::RefCell<Vec<NoTui>>,
}

/// A `--no-tui` session run by a test, and what it has printed so far.
struct NoTui {
    child: std::process::Child,
    printed: std::sync::Arc<std::sync::Mutex<String>>,
}

/// How a test's session runs: in a server (`opmux -d`), or in the
/// prefixed-line front end (`opmux --no-tui`), which takes the same verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Detached,
    NoTui,
}

/// Two tests with one body: one against a session run by a server, one
/// against a `--no-tui` session.
macro_rules! in_both_modes {
    ($body:ident: $detached:ident, $no_tui:ident) => {
        #[test]
        fn $detached() {
            $body(Mode::Detached);
        }

        #[test]
        fn $no_tui() {
            $body(Mode::NoTui);
        }
    };
}

impl Mode {
    /// A short word for folder names: socket paths are short.
    fn tag(self) -> &'static str {
        match self {
            Mode::Detached => "d",
            Mode::NoTui => "n",
        }
    }
}

impl Sessions {
    fn new(test: &str) -> Self {
        let runtime = Scratch::new(&format!("sessions-{test}"));
        std::fs::set_permissions(&runtime.0, std::fs::Permissions::from_mode(0o700))
            .expect("making the runtime folder private");
        Self {
            runtime,
            tag: run_tag(),
            no_tui: Default::default(),
        }
    }

    /// Starts a session as `mode` says and returns its name.
    fn start_as(&self, mode: Mode, args: &[&str]) -> String {
        match mode {
            Mode::Detached => self.start(args),
            Mode::NoTui => self.start_no_tui(args),
        }
    }

    /// Starts `opmux --no-tui` with `args` (named `nt1`, `nt2`, ... unless
    /// they name it), its output read into [`NoTui::printed`], and returns
    /// its name once it answers.
    fn start_no_tui(&self, args: &[&str]) -> String {
        use std::io::Read;
        let number = self.no_tui.borrow().len() + 1;
        let mut all = vec!["--no-tui".to_string()];
        let name = match args.iter().position(|a| *a == "-s") {
            Some(at) => args[at + 1].to_string(),
            None => {
                let name = format!("nt{number}");
                all.extend(["-s".to_string(), name.clone()]);
                name
            }
        };
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut child = self
            .command(&all)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("starting opmux --no-tui");
        let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut stdout = child.stdout.take().expect("piped stdout");
        let into = printed.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    return;
                }
                into.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        self.no_tui.borrow_mut().push(NoTui { child, printed });
        eventually(&format!("session {name} to answer"), || {
            self.run(&["status", "-s", &name]).status.success()
        });
        name
    }

    /// What `--no-tui` session number `number` (from 1) has printed.
    fn printed(&self, number: usize) -> String {
        self.no_tui.borrow()[number - 1]
            .printed
            .lock()
            .unwrap()
            .clone()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", &self.runtime.0)
            .env_remove("OPMUX")
            .env(TAG_VAR, &self.tag)
            .env("OPMUX_LOG", "off")
            .env("SHELL", "/bin/sh")
            .current_dir(&self.runtime.0);
        cmd
    }

    /// Runs opmux to its end with `args`.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running opmux")
    }

    /// Starts a detached session and returns its name.
    fn start(&self, args: &[&str]) -> String {
        let mut all = vec!["-d"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(
            out.status.success(),
            "opmux -d failed: {}",
            text(&out.stderr)
        );
        let name = text(&out.stdout).trim().to_string();
        assert!(!name.is_empty(), "opmux -d printed no name");
        name
    }

    /// `opmux attach NAME` on a terminal of its own.
    fn attach(&self, name: &str, rows: u16, cols: u16) -> Opmux {
        let runtime = self.runtime.0.to_str().expect("a UTF-8 path");
        Opmux::start_with_env(
            &["attach", name],
            rows,
            cols,
            &[("XDG_RUNTIME_DIR", runtime), ("OPMUX", "")],
        )
    }

    /// `opmux attach` with no name, on a terminal of its own.
    fn attach_default(&self, rows: u16, cols: u16) -> Opmux {
        let runtime = self.runtime.0.to_str().expect("a UTF-8 path");
        Opmux::start_in(
            &self.runtime.0,
            &["attach"],
            rows,
            cols,
            &[("XDG_RUNTIME_DIR", runtime), ("OPMUX", "")],
        )
    }

    /// What `opmux ls --json` says, one object per session.
    fn list(&self) -> Vec<serde_json::Value> {
        let out = self.run(&["ls", "--json"]);
        assert!(
            out.status.success(),
            "opmux ls failed: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("ls --json prints JSON")
    }

    /// The pid of the server of session `name`.
    fn server(&self, name: &str) -> Pid {
        let listed = self.list();
        let session = listed
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no session {name} in {listed:?}"));
        Pid::from_raw(session["pid"].as_i64().expect("a pid") as i32)
    }
}

impl Drop for Sessions {
    fn drop(&mut self) {
        kill_tagged(&self.tag);
        for mut no_tui in self.no_tui.take() {
            let _ = no_tui.child.wait();
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_detached_session_keeps_running_and_a_new_client_sees_what_it_printed_meanwhile() {
    let sessions = Sessions::new("detach");
    let m = marker("detach");
    let gate = sessions.runtime.0.join("gate");
    let pane = format!(
        "echo first; while [ ! -e {} ]; do sleep 0.05; done; echo printed-while-detached; exec sleep 1000.{m}",
        gate.display()
    );
    let name = sessions.start(&["-s", "work", &pane]);
    assert_eq!(name, "work");
    let mut first = sessions.attach(&name, 24, 80);
    first.wait_text("first");
    first.send(b"\x02d");
    assert_eq!(first.wait_exit(), 0);
    first.wait_text("[detached from work]");
    // Detached: the pane's program goes on, and so does its output.
    std::fs::write(&gate, "").expect("opening the gate");
    eventually("the pane's sleep to start", || sleepers(&m).len() == 1);
    let listed = sessions.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["clients"], 0);
    assert_eq!(listed[0]["panes_running"], 1);
    let mut second = sessions.attach(&name, 24, 80);
    second.wait_text("printed-while-detached");
    second.wait_text("first");
    second.send(b"\x02q");
    assert_eq!(second.wait_exit(), 0);
    eventually("the pane's processes to be gone", || {
        sleepers(&m).is_empty()
    });
    assert_eq!(sessions.list(), Vec::<serde_json::Value>::new());
}

/// Whether `pid` has `path` open.
fn holds_open(pid: Pid, path: &std::path::Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

#[test]
fn the_server_reads_and_draws_an_attached_terminal_itself_and_lets_it_go_on_detach() {
    let sessions = Sessions::new("terminal");
    let name = sessions.start(&["cat"]);
    let server = sessions.server(&name);
    let mut client = sessions.attach(&name, 24, 80);
    let tty = client.tty();
    client.wait_text("1 cat");
    // Keys and frames go between the terminal and the server, as tmux's
    // do: even with the client process stopped, typing is echoed.
    assert!(
        holds_open(server, &tty),
        "the server has not opened {tty:?}"
    );
    kill(client.pid, Signal::SIGSTOP).unwrap();
    client.send(b"typed-here");
    client.wait_text("typed-here");
    kill(client.pid, Signal::SIGCONT).unwrap();
    client.send(b"\x02d");
    assert_eq!(client.wait_exit(), 0);
    client.wait_text(&format!("[detached from {name}]"));
    eventually("the server to let the terminal go", || {
        !holds_open(server, &tty)
    });
}

#[test]
fn two_clients_type_into_one_session_and_see_each_other() {
    let sessions = Sessions::new("two");
    let name = sessions.start(&["cat"]);
    let mut one = sessions.attach(&name, 24, 80);
    let mut two = sessions.attach(&name, 24, 80);
    one.wait_text("cat");
    two.wait_text("cat");
    one.send(b"alpha\r");
    two.wait_text("alpha");
    two.send(b"beta\r");
    one.wait_text("beta");
    assert_eq!(sessions.list()[0]["clients"], 2);
    one.send(b"\x02q");
    assert_eq!(one.wait_exit(), 0);
    assert_eq!(two.wait_exit(), 0, "a quit from one client ends the other");
    assert_eq!(sessions.list(), Vec::<serde_json::Value>::new());
}

#[test]
fn each_client_keeps_its_own_focus() {
    let sessions = Sessions::new("focus");
    let name = sessions.start(&["cat", "cat"]);
    let mut one = sessions.attach(&name, 24, 80);
    let mut two = sessions.attach(&name, 24, 80);
    one.wait_text("2 cat");
    two.wait_text("2 cat");
    // The second client moves to pane 2; the first stays on pane 1.
    two.send(b"\x022");
    two.send(b"right\r");
    one.send(b"left\r");
    one.wait_row(&["left", "right"]);
    two.wait_row(&["left", "right"]);
    one.send(b"\x02q");
    one.wait_exit();
    two.wait_exit();
}

#[test]
fn kill_session_stops_every_pane_and_returns_once_nothing_is_left() {
    let sessions = Sessions::new("kill");
    let m = marker("kill");
    let name = sessions.start(&[
        &format!("sleep 1000.{m}"),
        &format!("trap '' TERM; sleep 1000.{m}; true"),
        "--stop-timeout",
        "1",
    ]);
    eventually("both sleeps to start", || sleepers(&m).len() == 2);
    let server = sessions.server(&name);
    let out = sessions.run(&["kill-session", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Returned only once everything was gone, the one ignoring TERM too.
    assert_eq!(sleepers(&m), vec![]);
    assert!(!alive(server), "the server is gone");
    assert_eq!(sessions.list(), Vec::<serde_json::Value>::new());
}

#[test]
fn kill_session_now_sigkills_at_once() {
    let sessions = Sessions::new("kill-now");
    let m = marker("kill-now");
    let name = sessions.start(&[&format!("trap '' TERM; sleep 1000.{m}; true")]);
    eventually("the sleep to start", || sleepers(&m).len() == 1);
    let began = std::time::Instant::now();
    let out = sessions.run(&["kill-session", "--now", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sleepers(&m), vec![]);
    // The default stop timeout is 5 s; SIGKILL at once does not wait it out.
    assert!(began.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn ls_names_each_session_with_its_folder_panes_and_clients() {
    let sessions = Sessions::new("ls");
    let a = sessions.start(&["-s", "alpha", "sleep 1000", "true"]);
    let b = sessions.start(&["-s", "beta", "sleep 1000"]);
    eventually("alpha's second pane to end", || {
        sessions.list()[0]["panes_running"] == 1
    });
    let listed = sessions.list();
    let names: Vec<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, [a.as_str(), b.as_str()]);
    assert_eq!(listed[0]["panes_total"], 2);
    let folder = std::fs::canonicalize(&sessions.runtime.0).unwrap();
    assert_eq!(listed[0]["folder"], folder.to_str().unwrap());
    let table = text(&sessions.run(&["ls"]).stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("alpha\t"), "{table}");
    assert!(lines[0].contains("1/2 panes running"), "{table}");
    assert!(lines[1].contains("0 attached"), "{table}");
}

#[test]
fn a_taken_name_is_refused_when_asked_for_and_numbered_by_default() {
    let sessions = Sessions::new("names");
    let first = sessions.start(&["sleep 1000"]);
    let second = sessions.start(&["sleep 1000"]);
    assert_eq!(second, format!("{first}-2"));
    let out = sessions.run(&["-d", "-s", &first, "sleep 1000"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains(&format!("session {first} already exists")),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(sessions.list().len(), 2);
}

#[test]
fn the_same_opmux_toml_twice_is_refused_with_a_hint_to_attach() {
    let sessions = Sessions::new("twice");
    let project = Scratch::new("sessions-twice-project");
    project.write("opmux.toml", "[[pane]]\ncmd = \"sleep 1000\"\n");
    let config = project.0.join("opmux.toml");
    let config = config.to_str().unwrap();
    let name = sessions.start(&["-c", config]);
    let out = sessions.run(&["-d", "-c", config]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains(&format!("opmux attach {name}")), "{err}");
    assert_eq!(sessions.list().len(), 1);
}

#[test]
fn a_socket_folder_others_can_open_is_refused() {
    let sessions = Sessions::new("unsafe");
    let dir = sessions.runtime.0.join("opmux");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = sessions.run(&["-d", "sleep 1000"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(dir.to_str().unwrap()) && err.contains("0755"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "no socket made"
    );
}

#[test]
fn a_socket_left_by_a_killed_server_is_cleaned_up_and_its_name_reused() {
    let sessions = Sessions::new("stale");
    let m = marker("stale");
    let name = sessions.start(&["-s", "web", &format!("sleep 1000.{m}")]);
    let server = sessions.server(&name);
    kill(server, Signal::SIGKILL).unwrap();
    eventually("the server to die", || !alive(server));
    // Its other threads may hold the socket a moment after its main one is
    // a zombie; once they are gone too, the socket refuses connections.
    let socket = sessions.runtime.0.join("opmux/web.sock");
    eventually("the socket to refuse", || {
        std::os::unix::net::UnixStream::connect(&socket).is_err()
    });
    assert!(socket.exists());
    assert_eq!(sessions.list(), Vec::<serde_json::Value>::new());
    assert!(!sessions.runtime.0.join("opmux/web.sock").exists());
    assert_eq!(sessions.start(&["-s", "web", "sleep 1000"]), "web");
}

#[test]
fn a_client_whose_server_is_killed_restores_its_terminal_and_says_so() {
    let sessions = Sessions::new("server-killed");
    let name = sessions.start(&["cat"]);
    let mut client = sessions.attach(&name, 24, 80);
    client.wait_text("cat");
    let raw = client.local_flags();
    assert!(!raw.contains(nix::sys::termios::LocalFlags::ICANON));
    kill(sessions.server(&name), Signal::SIGKILL).unwrap();
    assert_eq!(client.wait_exit(), 1);
    client.wait_text(&format!("the server of session {name} ended"));
    let flags = client.local_flags();
    assert!(flags.contains(nix::sys::termios::LocalFlags::ICANON));
    assert!(flags.contains(nix::sys::termios::LocalFlags::ECHO));
}

#[test]
fn verbs_are_reserved_but_never_taken_from_a_command_or_after_two_dashes() {
    let sessions = Sessions::new("verbs");
    let out = sessions.run(&["--check", "--", "ls"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ls"), "{}", text(&out.stdout));
    let out = sessions.run(&["ls -l", "--check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ls -l"));
    // The verb itself lists (no sessions here): nothing, and success.
    let out = sessions.run(&["ls"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn a_tied_session_whose_terminal_closes_leaves_nothing_running() {
    let m = marker("tied-hangup");
    let mut opmux = Opmux::start(&[&format!("trap '' HUP; exec sleep 1000.{m}")], 24, 80);
    eventually("the pane to start", || sleepers(&m).len() == 1);
    let server = opmux.server();
    opmux.hang_up();
    eventually("the pane to be stopped", || sleepers(&m).is_empty());
    eventually("the server to end", || !alive(server));
    assert_eq!(opmux.wait_exit(), 129);
}

#[test]
fn a_persistent_session_whose_terminal_closes_keeps_running() {
    let project = Scratch::new("sessions-persist-project");
    let m = marker("persist");
    project.write(
        "opmux.toml",
        &format!("persist = true\n[[pane]]\ncmd = \"exec sleep 1000.{m}\"\n"),
    );
    for args in [
        &["--persist", "--", &format!("exec sleep 1000.{m}")][..],
        &[][..],
    ] {
        let mut opmux = Opmux::start_in(&project.0, args, 24, 80, &[]);
        eventually("the pane to start", || sleepers(&m).len() == 1);
        let server = opmux.server();
        opmux.hang_up();
        assert_eq!(
            opmux.wait_exit(),
            0,
            "a lost terminal only detaches, {args:?}"
        );
        assert!(alive(server), "the server goes on, {args:?}");
        assert_eq!(sleepers(&m).len(), 1, "and so does its pane, {args:?}");
        // Dropping the harness stops the session.
        drop(opmux);
        eventually("the session to be stopped", || sleepers(&m).is_empty());
    }
}

/// Kilobytes of resident memory of `pid`, from /proc.
fn rss_kib(pid: Pid) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_stopped_client_during_a_flood_holds_up_neither_the_other_client_nor_the_server() {
    let sessions = Sessions::new("stopped-client");
    let done = sessions.runtime.0.join("flood-done");
    let flood = format!(
        "seq 1 2000000; touch {}; echo flood-over; exec sleep 1000",
        done.display()
    );
    let name = sessions.start(&[&flood, "cat"]);
    let server = sessions.server(&name);
    let mut stopped = sessions.attach(&name, 24, 100);
    let mut typing = sessions.attach(&name, 24, 100);
    stopped.wait_text("2 cat");
    typing.wait_text("2 cat");
    typing.send(b"\x022");
    kill(stopped.pid, Signal::SIGSTOP).unwrap();
    let start = rss_kib(server);
    let mut peak = start;
    // While one client reads nothing, the other's typing is echoed, round
    // after round, and the server's memory does not grow with the frames
    // the stopped client misses.
    let mut round = 0;
    // A debug build's flood on a loaded machine takes its time: bounded by
    // a deadline, not a count of rounds.
    let deadline = std::time::Instant::now() + common::DEADLINE * 6;
    while !done.exists() {
        round += 1;
        let token = format!("typed-{round}");
        typing.send(format!("{token}\r").as_bytes());
        typing.wait_text(&token);
        peak = peak.max(rss_kib(server));
        assert!(
            std::time::Instant::now() < deadline,
            "the flood never ended"
        );
    }
    assert!(
        peak < start + 32 * 1024,
        "server RSS grew from {start} KiB to {peak} KiB"
    );
    kill(stopped.pid, Signal::SIGCONT).unwrap();
    // Reading again, it is brought up to date.
    stopped.wait_text("flood-over");
    stopped.wait_text(&format!("typed-{round}"));
    typing.send(b"\x02q");
    assert_eq!(typing.wait_exit(), 0);
    assert_eq!(stopped.wait_exit(), 0);
}

#[test]
fn sigterm_to_a_client_detaches_from_a_persistent_session_and_to_the_server_quits() {
    let sessions = Sessions::new("signals");
    let m = marker("signals");
    let name = sessions.start(&[&format!("exec sleep 1000.{m}")]);
    eventually("the pane to start", || sleepers(&m).len() == 1);
    let mut client = sessions.attach(&name, 24, 80);
    client.wait_text("running");
    kill(client.pid, Signal::SIGTERM).unwrap();
    assert_eq!(client.wait_exit(), 0);
    client.wait_text(&format!("[detached from {name}]"));
    assert_eq!(sleepers(&m).len(), 1, "the session goes on");
    let mut client = sessions.attach(&name, 24, 80);
    client.wait_text("running");
    kill(sessions.server(&name), Signal::SIGTERM).unwrap();
    assert_eq!(client.wait_exit(), 128 + Signal::SIGTERM as u32);
    assert_eq!(sleepers(&m), vec![]);
    assert_eq!(sessions.list(), Vec::<serde_json::Value>::new());
}

#[test]
fn the_panes_take_the_size_of_the_client_active_last_and_others_still_draw() {
    let sessions = Sessions::new("sizes");
    let pane = "trap 'stty size' WINCH; stty size; while :; do sleep 0.1; done";
    let name = sessions.start(&[pane]);
    let mut small = sessions.attach(&name, 24, 80);
    small.wait_text("21 78");
    let mut big = sessions.attach(&name, 40, 120);
    big.wait_text("37 118");
    // The small client types (a command that changes nothing): the panes
    // follow it, and the big one shows the smaller picture, padded.
    small.send(b"\x02o");
    small.wait_for("the size printed after 37 118", |s| {
        let text = s.contents();
        text.rfind("21 78") > text.find("37 118")
    });
    big.wait_for("the small picture", |s| {
        let text = s.contents();
        text.rfind("21 78") > text.find("37 118")
    });
    small.send(b"\x02q");
    assert_eq!(small.wait_exit(), 0);
    assert_eq!(big.wait_exit(), 0);
}

/// A raw connection to session `name`'s socket.
fn connect(sessions: &Sessions, name: &str) -> std::os::unix::net::UnixStream {
    let socket = sessions.runtime.0.join(format!("opmux/{name}.sock"));
    std::os::unix::net::UnixStream::connect(socket).expect("connecting")
}

#[test]
fn a_client_of_another_protocol_is_told_so_but_may_still_ask_and_stop() {
    use opmux::protocol::{Control, Hello, Message, Want, read_message, write_message};
    let sessions = Sessions::new("protocol");
    let name = sessions.start(&["sleep 1000"]);
    let hello = |want| {
        Message::Control(Control::Hello(Hello {
            protocol: 99,
            version: "9.9.9".into(),
            want,
        }))
    };
    let mut stream = connect(&sessions, &name);
    let attach = Want::Attach {
        cols: 80,
        rows: 24,
        terminal_focused: true,
        tty: None,
    };
    write_message(&mut stream, &hello(attach)).unwrap();
    match read_message(&mut stream).unwrap() {
        Some(Message::Control(Control::Refused { reason, protocol })) => {
            assert_eq!(protocol, opmux::protocol::PROTOCOL);
            assert!(reason.contains("protocol 99"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut stream = connect(&sessions, &name);
    write_message(&mut stream, &hello(Want::Info)).unwrap();
    match read_message(&mut stream).unwrap() {
        Some(Message::Control(Control::Info(info))) => assert_eq!(info.name, name),
        other => panic!("expected its info, got {other:?}"),
    }
    let mut stream = connect(&sessions, &name);
    write_message(&mut stream, &hello(Want::Stop { now: true })).unwrap();
    assert!(matches!(
        read_message(&mut stream).unwrap(),
        Some(Message::Control(Control::Stopped)) | None
    ));
    eventually("the session to end", || sessions.list().is_empty());
}

#[test]
fn a_connection_that_never_says_hello_is_dropped() {
    use std::io::Read;
    let sessions = Sessions::new("silent");
    let name = sessions.start(&["sleep 1000"]);
    let mut stream = connect(&sessions, &name);
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let began = std::time::Instant::now();
    let mut buf = [0u8; 16];
    // The server closes it: end of file, not the test's timeout.
    assert_eq!(stream.read(&mut buf).expect("closed, not timed out"), 0);
    assert!(began.elapsed() >= std::time::Duration::from_secs(4));
}

#[test]
fn attach_without_a_name_takes_the_session_used_last() {
    let sessions = Sessions::new("recent");
    let first = sessions.start(&["-s", "first", "cat"]);
    let second = sessions.start(&["-s", "second", "cat"]);
    for name in [&first, &second, &first] {
        let mut client = sessions.attach(name, 24, 80);
        client.wait_text("cat");
        client.send(b"\x02d");
        assert_eq!(client.wait_exit(), 0);
        // Seconds are what ls keeps: the next use must fall in a later one.
        let used = |s: &str| {
            sessions
                .list()
                .into_iter()
                .find(|x| x["name"] == s)
                .map(|x| x["used_unix"].as_u64().unwrap())
        };
        let at = used(name);
        eventually("a new second", || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                > at.unwrap()
        });
    }
    let mut client = sessions.attach_default(24, 80);
    client.wait_text("cat");
    client.send(b"\x02d");
    assert_eq!(client.wait_exit(), 0);
    client.wait_text(&format!("[detached from {first}]"));
}

#[test]
fn a_name_too_long_for_a_unix_socket_is_refused_with_the_limit() {
    let sessions = Sessions::new("long-name");
    let name = "n".repeat(100);
    let out = sessions.run(&["-d", "-s", &name, "sleep 1000"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("at most 107"), "{err}");
    assert_eq!(sessions.list(), Vec::<serde_json::Value>::new());
}

#[test]
fn detached_panes_have_the_given_size_then_keep_the_last_clients() {
    let sessions = Sessions::new("detached-size");
    let log = sessions.runtime.0.join("sizes");
    let pane = format!(
        "trap 'stty size >> {0}' WINCH; stty size >> {0}; while :; do sleep 0.1; done",
        log.display()
    );
    let name = sessions.start(&["--size", "100x30", &pane]);
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    // 30 rows less the status line and borders, 100 columns less borders.
    eventually("the first size in the log", || {
        lines().first().map(String::as_str) == Some("27 98")
    });
    let mut client = sessions.attach(&name, 24, 80);
    eventually("the client's size", || {
        lines().last().map(String::as_str) == Some("21 78")
    });
    client.send(b"\x02d");
    assert_eq!(client.wait_exit(), 0);
    // Detached, the panes keep the last client's size: no new size, even
    // after the server answered another request.
    sessions.run(&["ls"]);
    assert_eq!(lines(), ["27 98", "21 78"]);
}

#[test]
fn output_printed_while_detached_is_in_the_scrollback() {
    let sessions = Sessions::new("detached-history");
    let gate = sessions.runtime.0.join("gate");
    let pane = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; seq 1 200 | sed 's/^/line-/'; exec sleep 1000",
        gate.display()
    );
    let name = sessions.start(&[&pane]);
    let mut first = sessions.attach(&name, 24, 80);
    first.wait_text("running");
    first.send(b"\x02d");
    assert_eq!(first.wait_exit(), 0);
    std::fs::write(&gate, "").unwrap();
    let mut second = sessions.attach(&name, 24, 80);
    second.wait_text("line-200");
    // Scroll mode reaches back to lines that scrolled off while no one
    // was attached.
    second.send(b"\x02[");
    second.send(b"g");
    second.wait_for("line-1 on the top row", |s| {
        s.contents()
            .lines()
            .nth(1)
            .map(|l| l.trim_matches(['┃', ' ']))
            == Some("line-1")
    });
    second.send(b"q\x02q");
    assert_eq!(second.wait_exit(), 0);
}

#[test]
fn a_client_claiming_a_huge_terminal_or_sending_garbage_does_not_take_the_server_down() {
    use opmux::protocol::{Control, Hello, Message, Want, read_message, write_message};
    use std::io::Write;
    let sessions = Sessions::new("hostile");
    let name = sessions.start(&["cat"]);
    let mut stream = connect(&sessions, &name);
    // Not a terminal: the server writes nothing to it, and the frames
    // come on the connection.
    let huge = Want::Attach {
        cols: u16::MAX,
        rows: u16::MAX,
        terminal_focused: true,
        tty: Some("/dev/null".into()),
    };
    write_message(
        &mut stream,
        &Message::Control(Control::Hello(Hello::new(huge))),
    )
    .unwrap();
    assert!(matches!(
        read_message(&mut stream).unwrap(),
        Some(Message::Control(Control::Welcome { .. }))
    ));
    // A message this build does not know, one that does not decode, and a
    // resize out of range: each is skipped, and the connection goes on.
    for body in [
        &br#"{"teleport":{"to":"mars"}}"#[..],
        b"{not json",
        br#"{"resize":{"cols":70000,"rows":1}}"#,
    ] {
        let mut frame = ((body.len() + 1) as u32).to_be_bytes().to_vec();
        frame.push(0);
        frame.extend_from_slice(body);
        stream.write_all(&frame).unwrap();
    }
    write_message(
        &mut stream,
        &Message::Control(Control::Resize {
            cols: u16::MAX,
            rows: u16::MAX,
        }),
    )
    .unwrap();
    write_message(&mut stream, &Message::Control(Control::Detach)).unwrap();
    let mut frames = 0;
    let detached = loop {
        match read_message(&mut stream).expect("the connection goes on") {
            Some(Message::Control(Control::Detached { session })) => break session,
            Some(Message::Bytes(_)) => frames += 1,
            Some(_) => continue,
            None => panic!("the server hung up"),
        }
    };
    assert_eq!(detached, name);
    assert!(frames > 0, "no frame came on the connection");
    assert_eq!(sessions.list().len(), 1, "the server is still there");
}

#[test]
fn the_server_keeps_no_file_the_shell_left_open() {
    let sessions = Sessions::new("fds");
    let opmux = env!("CARGO_BIN_EXE_opmux");
    // fd 3 is the pipe the test reads: a server holding it would keep the
    // pipe open, and `$(opmux -d ...)` would never return.
    let mut child = Command::new("sh")
        .args(["-c", &format!("exec 3>&1; exec {opmux} -d 'sleep 1000'")])
        .env("XDG_RUNTIME_DIR", &sessions.runtime.0)
        .env(TAG_VAR, &sessions.tag)
        .env("OPMUX_LOG", "off")
        .current_dir(&sessions.runtime.0)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        let _ = done.send(text);
    });
    let text = finished
        .recv_timeout(common::DEADLINE)
        .expect("the output never ended: the server holds the pipe");
    assert!(!text.trim().is_empty(), "the session's name");
    let _ = child.wait();
    assert_eq!(sessions.list().len(), 1);
}

#[test]
fn every_pane_names_its_session_in_opmux_unless_its_env_drops_it() {
    let sessions = Sessions::new("opmux-var");
    let project = Scratch::new("sessions-opmux-var-project");
    project.write(
        "opmux.toml",
        "[[pane]]\nname = \"told\"\ncmd = 'echo \"told [$OPMUX]\"; exec cat'\n\
         [[pane]]\nname = \"untold\"\ncmd = 'echo \"untold [$OPMUX]\"; exec cat'\n\
         env = { OPMUX = false }\n",
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start(&["-c", config.to_str().unwrap()]);
    let socket = sessions
        .runtime
        .0
        .join("opmux")
        .join(format!("{name}.sock"));
    let mut client = sessions.attach(&name, 24, 240);
    client.wait_text(&format!("told [{}]", socket.display()));
    client.wait_text("untold []");
    client.send(b"\x02q");
    assert_eq!(client.wait_exit(), 0);
}

#[test]
fn a_verb_run_in_a_pane_acts_on_that_panes_session() {
    let sessions = Sessions::new("own-session");
    let gate = sessions.runtime.0.join("gate");
    let m = marker("own-session");
    // Waits for the gate, then stops its own session with no name given.
    let stopper = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; {} kill-session; exec sleep 1000.{m}",
        gate.display(),
        env!("CARGO_BIN_EXE_opmux")
    );
    let own = sessions.start(&["-s", "own", &stopper]);
    // Another session in the same folder, used more recently: without
    // OPMUX, a verb with no name would take this one.
    let other = sessions.start(&["-s", "other", "cat"]);
    let mut client = sessions.attach(&other, 24, 80);
    client.wait_text("cat");
    client.send(b"\x02d");
    assert_eq!(client.wait_exit(), 0);
    std::fs::write(&gate, "").expect("opening the gate");
    eventually("the pane's own session to end", || {
        sessions.list().iter().all(|s| s["name"] != own.as_str())
    });
    let listed = sessions.list();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], other.as_str());
}

#[test]
fn attach_refuses_to_show_a_session_inside_its_own_pane() {
    let sessions = Sessions::new("self-attach");
    let name = sessions.start(&["-s", "loop", "cat"]);
    let socket = sessions
        .runtime
        .0
        .join("opmux")
        .join(format!("{name}.sock"));
    for args in [&["attach"][..], &["attach", "loop"]] {
        let out = sessions
            .command(args)
            .env("OPMUX", &socket)
            .output()
            .expect("running opmux");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("inside one of its own panes"), "{err}");
    }
}

#[test]
fn status_reports_every_pane_as_a_table_and_as_json_with_nothing_raw() {
    let sessions = Sessions::new("status");
    let m = marker("status");
    let project = Scratch::new("sessions-status-project");
    project.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"api\"\ncmd = \"echo ready; exec sleep 1000.{m}\"\nready = \"ready\"\n\
             [[pane]]\nname = \"job\"\ncmd = \"printf 'x\\u009b31my'; exit 3\"\n"
        ),
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start(&["-c", config.to_str().unwrap()]);
    let report = || -> serde_json::Value {
        let out = sessions.run(&["status", "-s", &name, "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let raw = text(&out.stdout);
        assert!(
            !raw.chars().any(|c| c.is_control() && c != '\n'),
            "a raw control character in {raw:?}"
        );
        serde_json::from_str(&raw).expect("status --json prints JSON")
    };
    eventually("api ready and job exited", || {
        let r = report();
        r["panes"][0]["ready"] == true && r["panes"][1]["state"] == "exited"
    });
    let r = report();
    assert_eq!(r["v"], 1);
    assert_eq!(r["session"], name.as_str());
    let (api, job) = (&r["panes"][0], &r["panes"][1]);
    assert_eq!(
        (api["number"].clone(), api["name"].clone()),
        (1.into(), "api".into())
    );
    assert_eq!(api["state"], "running");
    let pid = api["pid"].as_i64().expect("a running pane has a pid") as i32;
    assert_eq!(
        sleepers(&m),
        vec![Pid::from_raw(pid)],
        "the pid is the pane's program"
    );
    assert_eq!(api["exit_code"], serde_json::Value::Null);
    assert_eq!(
        (job["state"].clone(), job["exit_code"].clone()),
        ("exited".into(), 3.into())
    );
    assert_eq!(job["pid"], serde_json::Value::Null);
    assert_eq!(job["ready"], false);
    assert_eq!(job["command"][2], "printf 'x\u{9b}31my'; exit 3");
    let out = sessions.run(&["status", "-s", &name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(!table.contains('\u{9b}'), "{table:?}");
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0][..4], ["#", "NAME", "STATE", "PID"]);
    assert_eq!(
        lines[1][..7],
        ["1", "api", "running", &pid.to_string(), "0", "yes", "-"]
    );
    assert_eq!(lines[2][..7], ["2", "job", "exited", "-", "0", "no", "3"]);
}

impl Sessions {
    /// `opmux ARGS` that must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "opmux {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Pane `number` (from 1) of session `name`, as `status --json` says.
    fn pane(&self, name: &str, number: usize) -> serde_json::Value {
        let out = self.ok(&["status", "-s", name, "--json"]);
        let report: serde_json::Value = serde_json::from_str(&out).expect("status prints JSON");
        report["panes"][number - 1].clone()
    }

    /// The port pane `number` of session `name` has, as `status` says.
    fn port(&self, name: &str, number: usize) -> u16 {
        let pane = self.pane(name, number);
        let port = pane["port"].as_u64();
        port.unwrap_or_else(|| panic!("no port in {pane}")) as u16
    }
}

/// Whether `text` holds an escape sequence other than SGR, or a C0 or C1
/// control other than a line feed.
fn has_raw_controls(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() != Some('[') {
                return true;
            }
            loop {
                match chars.next() {
                    Some('0'..='9' | ';') => {}
                    Some('m') => break,
                    _ => return true,
                }
            }
        } else if c.is_control() && c != '\n' {
            return true;
        }
    }
    false
}

in_both_modes!(
    send_and_screen:
    send_types_into_a_pane_and_screen_shows_it_with_nothing_raw,
    send_and_screen_work_the_same_on_a_no_tui_session
);

fn send_and_screen(mode: Mode) {
    let sessions = Sessions::new(&format!("send-screen-{}", mode.tag()));
    let hostile = "printf 'before\\n\\033[31mred\\033[0m \\033]0;ti\\001tle\\007\
                   \\033]52;c;aGk=\\007\\302\\233 31m c1 \\033[5n\\033P+q\\033\\\\done\\n'; \
                   exec sleep 1000";
    let name = sessions.start_as(mode, &["-n", "typist", "cat", hostile]);
    sessions.ok(&["send", "-s", &name, "typist", "hello", "there"]);
    eventually("the typed words on cat's screen", || {
        sessions
            .ok(&["screen", "-s", &name, "typist"])
            .contains("hello there")
    });
    // By number, as the border shows it.
    eventually("the hostile pane's last line", || {
        sessions.ok(&["screen", "-s", &name, "2"]).contains("done")
    });
    let plain = sessions.ok(&["screen", "-s", &name, "2", "--history", "5"]);
    assert!(plain.contains("red"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "an escape in {plain:?}");
    assert!(!has_raw_controls(&plain), "{plain:?}");
    let ansi = sessions.ok(&["screen", "-s", &name, "2", "--ansi"]);
    // Without a screen only the text of each line is kept.
    if mode == Mode::Detached {
        assert!(ansi.contains("\x1b[0;31mred"), "no colour in {ansi:?}");
    }
    assert!(!has_raw_controls(&ansi), "more than SGR in {ansi:?}");
    let json = sessions.ok(&["screen", "-s", &name, "2", "--json"]);
    assert!(!json.trim_end().chars().any(char::is_control), "{json:?}");
    let dump: serde_json::Value = serde_json::from_str(&json).expect("screen --json is JSON");
    assert_eq!(dump["v"], 1);
    assert_eq!(dump["name"], "printf");
    assert_eq!(dump["number"], 2);
    assert_eq!(dump["title"], "title");
    let rows = dump["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), dump["size"][0].as_u64().unwrap() as usize);
    assert!(rows.iter().any(|r| r.as_str().unwrap().contains("done")));
    // An unknown pane is an error that names it and the panes there are;
    // so is an unknown session.
    let out = sessions.run(&["send", "-s", &name, "nosuch", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(said.contains("`nosuch`"), "{said}");
    assert!(said.contains("1 typist, 2 printf"), "{said}");
    let out = sessions.run(&["screen", "-s", "nosuch", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(said.contains(&format!("the sessions are {name}")), "{said}");
}

#[test]
fn send_keys_and_paste_type_what_the_keys_and_a_bracketed_paste_send() {
    let sessions = Sessions::new("send-keys");
    let trap = "trap 'echo got-int' INT; while :; do sleep 0.05; done";
    let paste = "printf '\\033[?2004h'; exec cat -v";
    let name = sessions.start(&["-n", "trap", "-n", "paste", trap, paste]);
    // The trap is set once the shell runs its loop; C-c until it says so.
    eventually("C-c to interrupt the loop", || {
        sessions.ok(&["send", "-s", &name, "trap", "--keys", "C-c"]);
        sessions
            .ok(&["screen", "-s", &name, "trap"])
            .contains("got-int")
    });
    sessions.ok(&["send", "-s", &name, "paste", "--paste", "pasted"]);
    sessions.ok(&["send", "-s", &name, "paste", "--keys", "Enter"]);
    eventually("the paste, bracketed, echoed by cat -v", || {
        sessions
            .ok(&["screen", "-s", &name, "paste"])
            .contains("^[[200~pasted^[[201~")
    });
}

in_both_modes!(
    pane_verbs:
    pane_verbs_do_what_their_keys_do_and_return_once_it_has_happened,
    pane_verbs_work_the_same_on_a_no_tui_session
);

fn pane_verbs(mode: Mode) {
    let sessions = Sessions::new(&format!("pane-verbs-{}", mode.tag()));
    let m = marker(&format!("pane-verbs-{}", mode.tag()));
    // It takes its time to stop, so a verb that returned early would find
    // it still stopping. A second pane keeps a `--no-tui` session, which
    // ends once every pane has, running while the first is stopped.
    let slow = format!("trap 'sleep 0.3; exit 0' TERM; sleep 1000.{m} & wait");
    let name = sessions.start_as(mode, &["-n", "svc", &slow, "exec sleep 1000"]);
    let pid = |pane: &serde_json::Value| pane["pid"].as_i64().map(|p| Pid::from_raw(p as i32));
    eventually("the pane to run", || {
        sessions.pane(&name, 1)["state"] == "running"
    });
    let first = pid(&sessions.pane(&name, 1)).expect("a pid");
    // Each verb's change is there the moment it returns: no waiting here.
    sessions.ok(&["restart", "-s", &name, "svc"]);
    let pane = sessions.pane(&name, 1);
    assert_eq!(pane["state"], "running", "{pane}");
    let second = pid(&pane).expect("a pid");
    assert_ne!(first, second, "the same run");
    assert!(!alive(first), "the first run is still there");
    sessions.ok(&["stop", "-s", &name, "1"]);
    let pane = sessions.pane(&name, 1);
    assert_eq!(pane["state"], "exited", "{pane}");
    assert_eq!(pane["exit_code"], 0, "{pane}");
    assert!(sleepers(&m).is_empty(), "the program outlived stop");
    // A manual stop is not restarted; start starts it.
    sessions.ok(&["start", "-s", &name, "svc"]);
    assert_eq!(sessions.pane(&name, 1)["state"], "running");
    sessions.ok(&["kill", "-s", &name, "svc"]);
    let pane = sessions.pane(&name, 1);
    assert_eq!(pane["state"], "exited", "{pane}");
    assert_eq!(pane["exit_signal"], "SIGKILL");
    assert_eq!(pane["restarts"], 0);
    if mode == Mode::NoTui {
        // Runs someone stopped or killed are no failures of the run.
        sessions.ok(&["kill-session", &name]);
        let status = sessions.no_tui.borrow_mut()[0]
            .child
            .wait()
            .expect("waiting for it");
        assert_eq!(status.code(), Some(0));
    }
}

#[test]
fn panes_have_unique_names_and_a_name_wins_over_a_number() {
    let sessions = Sessions::new("pane-names");
    let name = sessions.start(&[
        "-n",
        "2",
        "echo first-pane; exec sleep 1000",
        "echo second-pane; exec sleep 1000",
        "echo third-pane; exec sleep 1000",
    ]);
    let names: Vec<String> = (1..=3)
        .map(|n| {
            sessions.pane(&name, n)["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["2", "echo", "echo-2"]);
    eventually("every pane's line", || {
        sessions
            .ok(&["screen", "-s", &name, "3"])
            .contains("third-pane")
    });
    // `2` is the first pane's name before it is the second pane's number.
    assert!(
        sessions
            .ok(&["screen", "-s", &name, "2"])
            .contains("first-pane")
    );
    assert!(
        sessions
            .ok(&["screen", "-s", &name, "echo-2"])
            .contains("third-pane")
    );
}

in_both_modes!(
    wait_conditions:
    wait_returns_when_its_condition_holds_1_on_timeout_and_3_when_it_never_can,
    wait_works_the_same_on_a_no_tui_session
);

fn wait_conditions(mode: Mode) {
    let sessions = Sessions::new(&format!("wait-{}", mode.tag()));
    let m = marker(&format!("wait-{}", mode.tag()));
    let gate = sessions.runtime.0.join("gate");
    let project = Scratch::new(&format!("sessions-wait-project-{}", mode.tag()));
    // Each run waits for the gate, takes it, and only then says it is ready.
    project.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"api\"\nready = \"^ready\"\ncmd = \"while [ ! -e {g} ]; do sleep 0.02; done; \
             rm {g}; echo ready; exec sleep 1000.{m}\"\n\
             [[pane]]\nname = \"job\"\ncmd = \"echo working; sleep 0.2; exit 4\"\n",
            g = gate.display()
        ),
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start_as(mode, &["-c", config.to_str().unwrap()]);
    // Without a timeout of its own, a wait is bounded by the deadline all
    // end-to-end waits have, so a broken one fails instead of hanging.
    let wait = |pane: &str, until: &str, timeout: Option<&str>| {
        let secs = timeout.unwrap_or("20");
        sessions.run(&[
            "wait",
            "-s",
            &name,
            pane,
            "--until",
            until,
            "--timeout",
            secs,
        ])
    };
    let code = |out: Output| out.status.code();
    // Not ready while the gate is shut: a timeout, 1.
    assert_eq!(code(wait("api", "ready", Some("0.3"))), Some(1));
    let mut waiting = sessions
        .command(&[
            "wait",
            "-s",
            &name,
            "api",
            "--until",
            "ready",
            "--timeout",
            "20",
        ])
        .spawn()
        .expect("starting opmux wait");
    std::fs::write(&gate, "").unwrap();
    let status = waiting.wait().expect("waiting for opmux wait");
    assert_eq!(status.code(), Some(0));
    // A condition that holds returns at once; readiness belongs to a run, so
    // after a restart the new run is not ready until it says so.
    assert_eq!(code(wait("api", "running", None)), Some(0));
    assert_eq!(code(wait("api", "match:^rea", None)), Some(0));
    sessions.ok(&["restart", "-s", &name, "api"]);
    assert_eq!(code(wait("api", "ready", Some("0.3"))), Some(1));
    std::fs::write(&gate, "").unwrap();
    assert_eq!(code(wait("api", "ready", Some("20"))), Some(0));
    // A match on a line still to come.
    assert_eq!(code(wait("job", "match:work", None)), Some(0));
    // It can never succeed once it failed: 3, and why.
    let out = wait("job", "succeeded", None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("job"), "{}", text(&out.stderr));
    assert_eq!(code(wait("job", "ready", None)), Some(3));
    assert_eq!(code(wait("job", "exited", None)), Some(0));
    // Nonsense is an error of its own, 2.
    assert_eq!(code(wait("job", "soon", None)), Some(2));
    assert_eq!(code(wait("nosuch", "exited", None)), Some(2));
}

#[test]
fn each_attention_source_raises_its_marker_and_focusing_clears_it() {
    let sessions = Sessions::new("attention");
    let gate = sessions.runtime.0.join("ring");
    let project = Scratch::new("sessions-attention-project");
    let pane = |name: &str, extra: &str, cmd: &str| {
        format!("[[pane]]\nname = \"{name}\"\n{extra}cmd = \"{cmd}\"\n")
    };
    let config = [
        pane("main", "", "cat"),
        pane(
            "bell",
            "",
            &format!(
                "while [ ! -e {} ]; do sleep 0.02; done; printf '\\\\a'; exec sleep 1000",
                gate.display()
            ),
        ),
        pane(
            "notify",
            "",
            &format!(
                "while [ ! -e {} ]; do sleep 0.02; done; printf '\\\\033]9;tests done\\\\007'; exec sleep 1000",
                gate.display()
            ),
        ),
        pane(
            "asks",
            "attention = '\\(y/n\\)'\n",
            "printf 'Proceed? (y/n) '; exec sleep 1000",
        ),
        pane(
            "busy",
            "idle_after = \"300ms\"\n",
            "echo busy; exec sleep 1000",
        ),
        pane("silent", "idle_after = \"300ms\"\n", "exec sleep 1000"),
        pane("ends", "", "exit 0"),
    ]
    .concat();
    project.write("opmux.toml", &format!("notify = \"allow\"\n{config}"));
    let config = project.0.join("opmux.toml");
    let name = sessions.start(&["-c", config.to_str().unwrap()]);
    let attention = |n: usize| sessions.pane(&name, n)["attention"].clone();
    eventually(
        "the sources that need no terminal to raise attention",
        || [4, 5, 7].iter().all(|&n| !attention(n).is_null()),
    );
    assert_eq!(attention(4), "asks: Proceed? (y/n)");
    assert_eq!(attention(5), "idle");
    assert_eq!(attention(7), "ended");
    // Silence only counts after output: the pane that never printed is not
    // idle, though as long has passed as for the one that did.
    assert!(attention(6).is_null(), "{}", attention(6));
    let idle = sessions.run(&[
        "wait",
        "-s",
        &name,
        "silent",
        "--until",
        "idle",
        "--timeout",
        "0.5",
    ]);
    assert_eq!(idle.status.code(), Some(1));
    let busy = sessions.run(&[
        "wait",
        "-s",
        &name,
        "busy",
        "--until",
        "attention",
        "--timeout",
        "20",
    ]);
    assert_eq!(busy.status.code(), Some(0));
    // An attached terminal shows each marker, hears the bell and, with
    // notify = "allow", gets the notification.
    let mut client = sessions.attach(&name, 40, 200);
    client.wait_text("● asks: Proceed? (y/n)");
    client.wait_text("● idle");
    client.wait_text("● ended");
    let heard = client.received().len();
    std::fs::write(&gate, "").unwrap();
    client.wait_text("● bell");
    client.wait_text("● notified: tests done");
    assert_eq!(attention(3), "notified: tests done");
    let passed = |needle: &[u8]| {
        let got = client.received();
        got[heard..].windows(needle.len()).any(|w| w == needle)
    };
    eventually("the bell to reach the terminal", || passed(b"\x07"));
    eventually("the notification to reach the terminal", || {
        passed(b"\x1b]9;tests done\x07")
    });
    // Focusing a pane clears its marker; the others keep theirs.
    for (n, marker) in [
        (2, "● bell"),
        (3, "● notified"),
        (4, "● asks"),
        (5, "● idle"),
        (7, "● ended"),
    ] {
        client.send(format!("\x02{n}").as_bytes());
        eventually(&format!("pane {n}'s attention to clear"), || {
            attention(n).is_null()
        });
        client.wait_for(&format!("{marker} gone"), |screen| {
            !screen.contents().contains(marker)
        });
    }
    client.send(b"\x02q");
    assert_eq!(client.wait_exit(), 0);
}

in_both_modes!(
    events_in_order:
    events_json_lines_parse_and_arrive_in_order,
    events_work_the_same_on_a_no_tui_session
);

fn events_in_order(mode: Mode) {
    use std::io::BufRead;
    let sessions = Sessions::new(&format!("events-{}", mode.tag()));
    let m = marker(&format!("events-{}", mode.tag()));
    // The second pane keeps a `--no-tui` session running while the first
    // is stopped.
    let svc = format!("exec sleep 1000.{m}");
    let name = sessions.start_as(mode, &["-n", "svc", &svc, "exec sleep 1000"]);
    let mut reader = sessions
        .command(&["events", "-s", &name, "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting opmux events");
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = reader.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.expect("a line")).is_err() {
                return;
            }
        }
    });
    let next = |within: u64| -> Option<serde_json::Value> {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(within))
            .ok()?;
        assert!(!line.chars().any(char::is_control), "{line:?}");
        Some(serde_json::from_str(&line).expect("each line is JSON"))
    };
    // Restart until the reader is known to be listening: a started event.
    let mut first = None;
    for _ in 0..10 {
        sessions.ok(&["restart", "-s", &name, "svc"]);
        while let Some(event) = next(2) {
            if event["event"] == "started" && event["pane"] == "svc" {
                first = Some(event);
                break;
            }
        }
        if first.is_some() {
            break;
        }
    }
    let first = first.expect("no started event after 10 restarts");
    // Drained: what comes next is what these verbs did, in order.
    while next(0).is_some() {}
    sessions.ok(&["stop", "-s", &name, "svc"]);
    sessions.ok(&["start", "-s", &name, "svc"]);
    let mut order = Vec::new();
    let mut last_time = first["time_ms"].as_u64().expect("a time");
    while order.last().map(String::as_str) != Some("started") {
        let event = next(20).expect("an event within 20 s");
        assert_eq!(event["v"], 1, "{event}");
        let time = event["time_ms"].as_u64().expect("a time");
        assert!(time >= last_time, "out of order: {event}");
        last_time = time;
        assert_eq!(event["pane"], "svc", "{event}");
        let kind = event["event"].as_str().unwrap().to_string();
        match kind.as_str() {
            "exited" => assert_eq!(event["exit_signal"], "SIGTERM", "{event}"),
            "started" => assert!(event["pid"].as_u64().is_some(), "{event}"),
            "attention" => assert_eq!(event["why"], "ended", "{event}"),
            _ => {}
        }
        order.push(kind);
    }
    assert_eq!(order, ["exited", "attention", "started"]);
    // The session's end ends the reader.
    sessions.ok(&["kill-session", &name]);
    let status = reader.wait().expect("waiting for opmux events");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn run_adds_a_pane_as_c_b_c_does_and_prints_its_unique_name() {
    let sessions = Sessions::new("run");
    let name = sessions.start(&["-n", "web", "cat"]);
    let added = sessions.ok(&[
        "run",
        "-s",
        &name,
        "-n",
        "web",
        "--",
        "echo from-run; exec sleep 1000",
    ]);
    assert_eq!(added.trim(), "web-2");
    // It runs by the time run returns.
    let pane = sessions.pane(&name, 2);
    assert_eq!(
        (pane["name"].as_str(), pane["state"].as_str()),
        (Some("web-2"), Some("running"))
    );
    eventually("its output", || {
        sessions
            .ok(&["screen", "-s", &name, "web-2"])
            .contains("from-run")
    });
    // Several words are a program and its arguments, not a shell line.
    let added = sessions.ok(&[
        "run", "-s", &name, "--", "printf", "%s|", "one two", "three",
    ]);
    assert_eq!(added.trim(), "printf");
    eventually("printf's arguments, each as given", || {
        sessions
            .ok(&["screen", "-s", &name, "printf"])
            .contains("one two|three|")
    });
}

#[test]
fn a_suspended_client_gives_the_terminal_back_and_takes_it_again_when_continued() {
    let sessions = Sessions::new("suspend");
    let name = sessions.start(&["-n", "typist", "cat"]);
    let mut client = sessions.attach(&name, 24, 80);
    client.wait_text("1 typist");
    kill(client.pid, Signal::SIGTSTP).unwrap();
    // Its shell's terminal again: line mode and echo, the alternate screen
    // left, and nothing typed now reaches the session.
    eventually("the terminal restored", || {
        client
            .local_flags()
            .contains(nix::sys::termios::LocalFlags::ICANON)
    });
    // A shell reads the line typed now, and opmux does not: were the
    // server still reading, it would take the line first.
    let tty = client.tty();
    let (tx, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut shell = std::fs::File::open(tty).expect("opening the terminal");
        let mut buf = [0u8; 256];
        let n = shell.read(&mut buf).unwrap_or(0);
        let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
    });
    client.send(b"for-the-shell\n");
    let read = line
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the shell's read");
    assert_eq!(read, "for-the-shell\n");
    // Continued, it takes the terminal back, redrawn whole, and typing
    // reaches the pane again.
    kill(client.pid, Signal::SIGCONT).unwrap();
    eventually("raw mode again", || {
        !client
            .local_flags()
            .contains(nix::sys::termios::LocalFlags::ICANON)
    });
    client.wait_text("1 typist");
    client.send(b"back-again");
    eventually("typing reaching the pane", || {
        sessions
            .ok(&["screen", "-s", &name, "typist"])
            .contains("back-again")
    });
    client.send(b"\x02d");
    assert_eq!(client.wait_exit(), 0);
}

#[test]
fn logs_prints_rendered_lines_follows_new_ones_and_says_what_a_slow_reader_missed() {
    use std::io::{BufRead, Read};
    let sessions = Sessions::new("logs");
    let gate = sessions.runtime.0.join("go");
    let done = sessions.runtime.0.join("flood-done");
    let ticker = format!(
        "printf 'early 1\\n\\033[32mearly\\033[0m 2\\n'; while [ ! -e {} ]; do sleep 0.02; done; \
         for i in 1 2 3 4 5; do echo \"later $i\"; done; exec sleep 1000",
        gate.display()
    );
    let flood = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; seq 1 300000; touch {}; exec sleep 1000",
        gate.display(),
        done.display()
    );
    let name = sessions.start(&["-n", "ticker", "-n", "flood", &ticker, &flood]);
    eventually("the early lines", || {
        sessions.ok(&["logs", "-s", &name, "ticker"]) == "early 1\nearly 2\n"
    });
    assert_eq!(
        sessions.ok(&["logs", "-s", &name, "ticker", "-n", "1"]),
        "early 2\n"
    );
    // One follower reads as lines come; one never reads during the flood.
    let follow = |pane: &str| {
        sessions
            .command(&["logs", "-s", &name, pane, "-f", "-n", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting opmux logs -f")
    };
    let mut reader = follow("ticker");
    let mut stalled = follow("flood");
    let server = sessions.server(&name);
    let start = rss_kib(server);
    std::fs::write(&gate, "").unwrap();
    let mut lines = std::io::BufReader::new(reader.stdout.take().unwrap()).lines();
    for i in 1..=5 {
        let line = lines.next().expect("a line").expect("readable");
        assert_eq!(line, format!("later {i}"));
    }
    // The flood runs to its end with its follower reading nothing, and the
    // server does not hold what that follower does not take.
    eventually_within(
        "the flood to end",
        std::time::Duration::from_secs(60),
        || done.exists(),
    );
    let grown = rss_kib(server).saturating_sub(start);
    assert!(grown < 32 * 1024, "the server grew by {grown} KiB");
    // Reading at last: it is told how many lines it missed, and catches up
    // to the flood's last line.
    let (tx, caught_up) = std::sync::mpsc::channel();
    let mut stdout = stalled.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.ends_with(b"\n300000\n") {
                break;
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&out).into_owned());
    });
    let out = caught_up
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the follower to catch up");
    assert!(
        out.contains(" lines missed]"),
        "no marker in {} bytes",
        out.len()
    );
    assert!(
        out.ends_with("\n300000\n"),
        "{:?}",
        &out[out.len().saturating_sub(80)..]
    );
    sessions.ok(&["kill-session", &name]);
    let _ = stalled.wait();
    let _ = reader.wait();
}

#[test]
fn a_pane_added_at_runtime_takes_the_sessions_stop_timeout() {
    let sessions = Sessions::new("run-timeout");
    let m = marker("run-timeout");
    let name = sessions.start(&["--stop-timeout", "0.3", "-n", "first", "cat"]);
    let stubborn = format!("trap '' TERM; sleep 1000.{m}; true");
    sessions.ok(&["run", "-s", &name, "-n", "stubborn", "--", &stubborn]);
    eventually("the stubborn sleep to start", || sleepers(&m).len() == 1);
    // It ignores its stop signal: SIGKILL comes after the session's 0.3 s,
    // not the default 5 s.
    let began = std::time::Instant::now();
    sessions.ok(&["stop", "-s", &name, "stubborn"]);
    assert!(
        began.elapsed() < std::time::Duration::from_secs(4),
        "stop took {:?}",
        began.elapsed()
    );
    assert!(sleepers(&m).is_empty());
    assert_eq!(sessions.pane(&name, 2)["exit_signal"], "SIGKILL");
}

#[test]
fn a_no_tui_session_is_named_and_shows_its_last_lines_as_its_pty_would() {
    let sessions = Sessions::new("no-tui-lines");
    let count = "seq 1 100; printf 'Continue? '; exec sleep 1000";
    let own = "echo \"reach me at $OPMUX\"; exec sleep 1000";
    let name = sessions.start_no_tui(&["-n", "count", "-n", "own", count, own]);
    let listed = sessions.list();
    let me = listed
        .iter()
        .find(|s| s["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} not in {listed:?}"));
    assert_eq!(
        (me["no_tui"].clone(), me["clients"].clone()),
        (true.into(), 0.into())
    );
    let ls = sessions.ok(&["ls"]);
    assert!(ls.contains("no screen"), "{ls}");
    eventually("the prompt on the pane's screen", || {
        sessions
            .ok(&["screen", "-s", &name, "count"])
            .contains("Continue?")
    });
    // As many lines as its PTY has rows (24): the last 23 it finished and
    // the one it is writing, where the cursor is.
    let json = sessions.ok(&["screen", "-s", &name, "count", "--json", "--history", "5"]);
    let dump: serde_json::Value = serde_json::from_str(&json).expect("screen --json is JSON");
    let rows: Vec<&str> = (dump["rows"].as_array().expect("rows").iter())
        .map(|r| r.as_str().unwrap())
        .collect();
    let wanted: Vec<String> = (78..=100).map(|n| n.to_string()).collect();
    assert_eq!(rows.len(), 24, "{rows:?}");
    assert_eq!(rows[..23], wanted[..], "{rows:?}");
    assert_eq!(rows[23], "Continue?");
    assert_eq!(dump["cursor"], serde_json::json!([23, 10]));
    assert_eq!(dump["size"], serde_json::json!([24, 160]));
    assert_eq!(
        dump["history"],
        serde_json::json!(["73", "74", "75", "76", "77"])
    );
    // Its rendered lines, all or the last few.
    let all = sessions.ok(&["logs", "-s", &name, "count"]);
    let wanted: Vec<String> = (1..=100).map(|n| n.to_string()).collect();
    assert_eq!(all.lines().collect::<Vec<_>>(), wanted);
    assert_eq!(
        sessions.ok(&["logs", "-s", &name, "count", "-n", "2"]),
        "99\n100\n"
    );
    // Its panes reach it through OPMUX, as a server's do.
    let socket = sessions.runtime.0.join("opmux").join(&name);
    let said = format!("reach me at {}", socket.display());
    eventually("the pane to print OPMUX", || {
        sessions.ok(&["screen", "-s", &name, "own"]).contains(&said)
    });
    // What it prints is unchanged for it.
    assert!(sessions.printed(1).contains("count | 100\n"));
    // Nothing to attach to, and it says so, with the status of a refusal.
    let out = sessions.run(&["attach", &name]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        text(&out.stderr).contains("without a screen"),
        "{}",
        text(&out.stderr)
    );
    // kill-session stops it, and its socket goes.
    sessions.ok(&["kill-session", &name]);
    let status = sessions.no_tui.borrow_mut()[0]
        .child
        .wait()
        .expect("waiting for it");
    assert_eq!(status.code(), Some(0));
    assert!(!socket.exists(), "the socket outlived the session");
}

#[test]
fn attention_on_a_no_tui_session_is_raised_by_each_source_and_cleared_by_input() {
    let sessions = Sessions::new("no-tui-attention");
    let gate = sessions.runtime.0.join("ring");
    let project = Scratch::new("sessions-no-tui-attention-project");
    let pane = |name: &str, extra: &str, cmd: &str| {
        format!("[[pane]]\nname = \"{name}\"\n{extra}cmd = \"{cmd}\"\n")
    };
    let wait_gate = format!("while [ ! -e {} ]; do sleep 0.02; done", gate.display());
    let config = [
        pane(
            "bell",
            "",
            &format!("{wait_gate}; printf '\\\\a'; exec cat"),
        ),
        pane(
            "notify",
            "",
            &format!("{wait_gate}; printf '\\\\033]9;tests done\\\\007'; exec cat"),
        ),
        pane(
            "asks",
            "attention = '\\(y/n\\)'\n",
            "printf 'Proceed? (y/n) '; exec cat",
        ),
        pane(
            "busy",
            "idle_after = \"300ms\"\n",
            "echo busy; exec sleep 1000",
        ),
        pane("silent", "idle_after = \"300ms\"\n", "exec sleep 1000"),
        pane("ends", "", "exit 0"),
    ]
    .concat();
    project.write("opmux.toml", &config);
    let config = project.0.join("opmux.toml");
    let name = sessions.start_no_tui(&["-c", config.to_str().unwrap()]);
    let attention = |n: usize| sessions.pane(&name, n)["attention"].clone();
    eventually("the sources that need no gate to raise attention", || {
        [3, 4, 6].iter().all(|&n| !attention(n).is_null())
    });
    assert_eq!(attention(3), "asks: Proceed? (y/n)");
    assert_eq!(attention(4), "idle");
    assert_eq!(attention(6), "ended");
    // Silence only counts after output.
    let idle = sessions.run(&[
        "wait",
        "-s",
        &name,
        "silent",
        "--until",
        "idle",
        "--timeout",
        "0.5",
    ]);
    assert_eq!(idle.status.code(), Some(1));
    assert!(attention(5).is_null(), "{}", attention(5));
    std::fs::write(&gate, "").unwrap();
    let raised = |pane: &str| {
        let args = [
            "wait",
            "-s",
            &name,
            pane,
            "--until",
            "attention",
            "--timeout",
            "20",
        ];
        sessions.run(&args).status.code()
    };
    assert_eq!(raised("bell"), Some(0));
    assert_eq!(raised("notify"), Some(0));
    assert_eq!(attention(1), "bell");
    assert_eq!(attention(2), "notified: tests done");
    // Nothing focuses a pane here: input reaching it clears its attention.
    for n in [1, 2, 3] {
        sessions.ok(&["send", "-s", &name, &n.to_string(), "y"]);
        assert!(attention(n).is_null(), "pane {n}: {}", attention(n));
    }
    assert_eq!(attention(6), "ended", "a pane nobody typed into keeps it");
}

#[test]
fn wait_with_a_timeout_waits_for_a_named_session_to_appear() {
    let sessions = Sessions::new("wait-appear");
    let args = ["wait", "-s", "later", "svc", "--until", "running"];
    // Without a timeout, a session that is not there is an error at once.
    let out = sessions.run(&args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let mut waiting = sessions
        .command(&[&args[..], &["--timeout", "20"]].concat())
        .spawn()
        .expect("starting opmux wait");
    sessions.start_no_tui(&["-s", "later", "-n", "svc", "exec sleep 1000"]);
    let status = waiting.wait().expect("waiting for opmux wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn run_on_a_no_tui_session_adds_a_pane_that_prints_and_is_followed_like_the_others() {
    use std::io::BufRead;
    let sessions = Sessions::new("no-tui-run");
    let gate = sessions.runtime.0.join("gate");
    // It ticks once a pane has been added: its lines stay lines.
    let ticks = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; for i in 1 2 3 4 5; do echo tick $i; done; \
         exec sleep 1000",
        gate.display()
    );
    let name = sessions.start_no_tui(&["--kill-others", "-n", "first", &ticks]);
    let added = sessions.ok(&["run", "-s", &name, "-n", "first", "--", "exec cat"]);
    assert_eq!(added.trim(), "first-2");
    std::fs::write(&gate, "").unwrap();
    eventually("the ticks printed", || {
        sessions.printed(1).contains("tick 5")
    });
    let printed = sessions.printed(1);
    for n in 1..=5 {
        assert!(
            printed.contains(&format!("first   | tick {n}\n")),
            "{printed}"
        );
    }
    let mut follower = sessions
        .command(&["logs", "-s", &name, "first-2", "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting opmux logs -f");
    let stdout = follower.stdout.take().expect("piped stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.expect("a line")).is_err() {
                return;
            }
        }
    });
    sessions.ok(&["send", "-s", &name, "first-2", "typed in"]);
    sessions.ok(&["send", "-s", &name, "first-2", "--keys", "Enter"]);
    // The terminal's echo, then cat's copy: each a line of its own.
    let within = std::time::Duration::from_secs(20);
    assert_eq!(lines.recv_timeout(within).expect("a line"), "typed in");
    assert_eq!(lines.recv_timeout(within).expect("a line"), "typed in");
    eventually("the added pane's lines printed with its prefix", || {
        sessions.printed(1).contains("first-2 | typed in\n")
    });
    // A pane `run` added ending stops nothing, even with --kill-others.
    sessions.ok(&["kill", "-s", &name, "first-2"]);
    assert_eq!(sessions.pane(&name, 1)["state"], "running");
    sessions.ok(&["kill-session", &name]);
    assert_eq!(
        follower.wait().expect("waiting for logs -f").code(),
        Some(0)
    );
    let status = sessions.no_tui.borrow_mut()[0]
        .child
        .wait()
        .expect("waiting for it");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_raw_no_tui_session_gives_the_verbs_text() {
    let sessions = Sessions::new("no-tui-raw");
    let pane = "printf '\\033[32mready\\033[0m now\\n50%%\\r100%%\\n\\033[1mask\\033[0m '; \
                exec sleep 1000";
    let name = sessions.start_no_tui(&["--raw", "-n", "r", pane]);
    let wait = [
        "wait",
        "-s",
        &name,
        "r",
        "--until",
        "match:^ready now$",
        "--timeout",
        "20",
    ];
    assert_eq!(sessions.run(&wait).status.code(), Some(0));
    eventually("the unfinished line", || {
        sessions.ok(&["screen", "-s", &name, "r"]).contains("ask")
    });
    assert_eq!(
        sessions.ok(&["logs", "-s", &name, "r"]),
        "ready now\n100%\n"
    );
    let screen = sessions.ok(&["screen", "-s", &name, "r"]);
    assert!(screen.starts_with("ready now\n100%\nask\n"), "{screen:?}");
    // What it prints stays raw.
    assert!(sessions.printed(1).contains("\x1b[32mready"));
}

#[test]
fn automatic_ports_differ_skip_a_taken_one_and_reach_other_panes() {
    let sessions = Sessions::new("ports");
    // A port this test holds: the first automatic one must skip it.
    let held = std::net::TcpListener::bind(("0.0.0.0", 0)).expect("a listener");
    let base = held.local_addr().unwrap().port();
    let project = Scratch::new("sessions-ports-project");
    project.write(
        "opmux.toml",
        &format!(
            "port_base = {base}\nport_step = 1\n\
             [[pane]]\nname = \"api\"\nport = \"auto\"\ncmd = \"echo api on $PORT; exec sleep 1000\"\n\
             [[pane]]\nname = \"web\"\nport = \"auto\"\nenv = {{ API = \"http://localhost:${{api.port}}\" }}\n\
             cmd = \"echo web on ${{port}} to $API; exec sleep 1000\"\n"
        ),
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start_no_tui(&["-c", config.to_str().unwrap()]);
    let port = |n: usize| sessions.port(&name, n);
    let (api, web) = (port(1), port(2));
    assert!(api > base && web > api, "base {base}, api {api}, web {web}");
    eventually("both panes' lines", || {
        let printed = sessions.printed(1);
        printed.contains(&format!("api | api on {api}\n"))
            && printed.contains(&format!("web | web on {web} to http://localhost:{api}\n"))
    });
    let table = sessions.ok(&["status", "-s", &name]);
    assert!(
        table.lines().nth(1).unwrap().contains(&format!(" {api} ")),
        "{table}"
    );
    drop(held);
}

#[test]
fn a_fixed_port_someone_holds_fails_that_panes_run_and_says_who() {
    let sessions = Sessions::new("port-held");
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("a listener");
    let port = held.local_addr().unwrap().port();
    let project = Scratch::new("sessions-port-held-project");
    project.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"fixed\"\nport = {port}\ncmd = \"echo should not run\"\n\
             [[pane]]\nname = \"other\"\ncmd = \"echo other runs; exec sleep 1000\"\n"
        ),
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start_no_tui(&["-c", config.to_str().unwrap()]);
    eventually("the pane to fail", || {
        sessions.pane(&name, 1)["state"] == "failed"
    });
    let who = format!("port {port} is in use by {} (", std::process::id());
    eventually("the reason printed", || {
        let printed = sessions.printed(1);
        printed.contains(&format!("fixed | [failed: {who}"))
            && printed.contains("other | other runs")
    });
    assert!(!sessions.printed(1).contains("should not run"));
    assert_eq!(sessions.pane(&name, 2)["state"], "running");
    // Once the port is free, a start runs it.
    drop(held);
    sessions.ok(&["start", "-s", &name, "fixed"]);
    eventually("the pane's line", || {
        sessions.printed(1).contains("fixed | should not run")
    });
}

#[test]
fn a_procfiles_processes_get_ports_in_steps_of_100_and_a_held_one_stops_no_run() {
    let sessions = Sessions::new("procfile-ports");
    let project = Scratch::new("sessions-procfile-ports-project");
    project.write(
        "Procfile",
        "web: echo web on $PORT; exec sleep 1000\nworker: echo worker on $PORT; exec sleep 1000\n",
    );
    let procfile = project.0.join("Procfile");
    let name = sessions.start_no_tui(&["--procfile", procfile.to_str().unwrap()]);
    let port = |n: usize| sessions.port(&name, n);
    let (web, worker) = (port(1), port(2));
    // foreman's: in steps of 100, in the Procfile's order (where from is
    // tests/config.rs's to check).
    assert_eq!(worker, web + 100, "web {web}, worker {worker}");
    eventually("both panes' lines", || {
        let printed = sessions.printed(1);
        // The prefixes are padded to the longer name.
        printed.contains(&format!("web    | web on {web}\n"))
            && printed.contains(&format!("worker | worker on {worker}\n"))
    });
    // The worker does not listen. With its port held by something else,
    // its next run still starts: a Procfile does not say who listens.
    let held = match std::net::TcpListener::bind(("0.0.0.0", worker)) {
        Ok(listener) => Some(listener),
        // Held already, by something else: as good for this test.
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => panic!("holding port {worker}: {e}"),
    };
    sessions.ok(&["restart", "-s", &name, "worker"]);
    eventually("the worker's next run", || {
        let line = format!("worker | worker on {worker}\n");
        sessions.printed(1).matches(&line).count() == 2
    });
    assert!(!sessions.printed(1).contains("is in use"));
    drop(held);
}

#[test]
fn a_group_stands_for_its_panes_in_the_verbs() {
    let sessions = Sessions::new("groups");
    let m = marker("groups");
    let project = Scratch::new("sessions-groups-project");
    project.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"api\"\ngroup = \"backend\"\ndepends_on = {{ db = \"ready\" }}\n\
             cmd = \"echo api up; exec sleep 1000.{m}\"\n\
             [[pane]]\nname = \"web\"\ngroup = \"frontend\"\ncmd = \"echo web up; exec sleep 1000.{m}\"\n\
             [[pane]]\nname = \"db\"\ngroup = \"backend\"\nready = \"db up\"\ncmd = \"echo db up; exec sleep 1000.{m}\"\n"
        ),
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start(&["-c", config.to_str().unwrap()]);
    let wait = |until: &str| {
        let args = [
            "wait",
            "-s",
            &name,
            "@backend",
            "--until",
            until,
            "--timeout",
            "20",
        ];
        sessions.run(&args).status.code()
    };
    assert_eq!(wait("running"), Some(0));
    // A pane with nothing to be ready by (api) is ready once it runs.
    assert_eq!(wait("ready"), Some(0));
    assert_eq!(sessions.pane(&name, 1)["group"], "backend");
    let pid = |n: usize| sessions.pane(&name, n)["pid"].as_i64();
    let before = [pid(1), pid(2), pid(3)];
    sessions.ok(&["restart", "-s", &name, "@backend"]);
    assert_eq!(wait("running"), Some(0));
    let after = [pid(1), pid(2), pid(3)];
    assert_ne!(after[0], before[0], "api was not restarted");
    assert_eq!(after[1], before[1], "web, of another group, was restarted");
    assert_ne!(after[2], before[2], "db was not restarted");
    eventually("both runs' lines", || {
        let logs = sessions.ok(&["logs", "-s", &name, "@backend"]);
        logs.matches("api | api up\n").count() == 2 && logs.matches("db | db up\n").count() == 2
    });
    // A group that does not exist names those that do.
    let out = sessions.run(&["stop", "-s", &name, "@nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let said = text(&out.stderr);
    assert!(
        said.contains("the groups are @backend, @frontend"),
        "{said}"
    );
    // A restart by hand with its dependency stopped by hand runs at once,
    // as it always has.
    sessions.ok(&["stop", "-s", &name, "db"]);
    sessions.ok(&["restart", "-s", &name, "api"]);
    assert_eq!(sessions.pane(&name, 1)["state"], "running");
    sessions.ok(&["stop", "-s", &name, "@backend"]);
    assert_eq!(wait("exited"), Some(0));
    assert_eq!(sessions.pane(&name, 2)["state"], "running");
}

#[test]
fn tcp_and_exec_probes_judge_readiness_and_health() {
    let sessions = Sessions::new("probes");
    let m = marker("probes");
    let gone = sessions.runtime.0.join("gone");
    // A port nothing listens on until the test does.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let project = Scratch::new("sessions-probes-project");
    project.write(
        "opmux.toml",
        &format!(
            "[[pane]]\nname = \"db\"\ncmd = \"exec sleep 1000\"\n\
             ready_probe = {{ tcp = {port}, interval = \"100ms\" }}\n\
             [[pane]]\nname = \"web\"\ndepends_on = [\"db\"]\ncmd = \"echo web released; exec sleep 1000\"\n\
             [[pane]]\nname = \"worker\"\ncmd = \"trap 'exit 0' TERM; sleep 1000 & wait\"\nrestart = \"on-failure\"\n\
             live_probe = {{ exec = \"test ! -e {}\", interval = \"100ms\", failure_threshold = 2 }}\n\
             [[pane]]\nname = \"slow\"\ncmd = \"exec sleep 1000\"\n\
             live_probe = {{ exec = \"sleep 1000.{m}\", timeout = \"60s\" }}\n",
            gone.display()
        ),
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start_no_tui(&["-c", config.to_str().unwrap()]);
    let wait = |pane: &str, until: &str, timeout: &str| {
        let args = [
            "wait",
            "-s",
            &name,
            pane,
            "--until",
            until,
            "--timeout",
            timeout,
        ];
        sessions.run(&args).status.code()
    };
    assert_eq!(
        wait("db", "ready", "0.5"),
        Some(1),
        "ready with nothing listening"
    );
    assert_eq!(sessions.pane(&name, 2)["state"], "waiting");
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port again");
    assert_eq!(wait("db", "ready", "20"), Some(0));
    assert_eq!(wait("web", "match:web released", "20"), Some(0));
    // A probe's command still running when the run ends goes with it.
    eventually("the slow probe's command", || !sleepers(&m).is_empty());
    sessions.ok(&["stop", "-s", &name, "slow"]);
    eventually("the probe's command gone", || sleepers(&m).is_empty());
    // The worker is healthy while the file is missing; once it exists, two
    // failed tries stop the run as a failure (though it exits 0), and
    // on-failure restarts it.
    assert_eq!(sessions.pane(&name, 3)["restarts"], 0);
    std::fs::write(&gone, "").unwrap();
    eventually("the unhealthy run restarted", || {
        sessions.pane(&name, 3)["restarts"] == 1
    });
    std::fs::remove_file(&gone).unwrap();
    let printed = sessions.printed(1);
    let why = format!(
        "worker | [! liveness failed: `test ! -e {}` exited 1]",
        gone.display()
    );
    assert!(printed.contains(&why), "{printed}");
    drop(listener);
}

#[test]
fn a_burst_of_changes_to_watched_files_restarts_once_and_its_dependents_after_it() {
    use std::io::BufRead;
    let sessions = Sessions::new("watch");
    let project = Scratch::new("sessions-watch-project");
    std::fs::create_dir_all(project.0.join("src/gen")).unwrap();
    project.write("src/main.rs", "");
    project.write(
        "opmux.toml",
        "log_dir = \"logs\"\n\
         [[pane]]\nname = \"api\"\ncmd = \"echo run >> api-runs; trap 'sleep 0.3; exit 0' TERM; sleep 1000 & wait\"\n\
         watch = [\"src/**/*.rs\", \"**/*.log\"]\nwatch_ignore = [\"src/gen/**\"]\nwatch_debounce = \"500ms\"\n\
         restart_dependents = true\n\
         [[pane]]\nname = \"web\"\ndepends_on = [\"api\"]\ncmd = \"echo run >> web-runs; exec sleep 1000\"\n",
    );
    let config = project.0.join("opmux.toml");
    let name = sessions.start_no_tui(&["-c", config.to_str().unwrap()]);
    let runs = |pane: &str| project.lines(&format!("{pane}-runs")).len();
    eventually("both first runs", || runs("api") == 1 && runs("web") == 1);
    let mut reader = sessions
        .command(&["events", "-s", &name, "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting opmux events");
    let (tx, events) = std::sync::mpsc::channel();
    let stdout = reader.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let event: serde_json::Value = serde_json::from_str(&line.expect("a line")).unwrap();
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    // Restarts by hand until the reader is known to listen: it has seen
    // one start.
    let mut restarts = 0;
    let listening = loop {
        assert!(restarts < 10, "no started event after 10 restarts");
        sessions.ok(&["restart", "-s", &name, "web"]);
        restarts += 1;
        let seen =
            std::iter::from_fn(|| events.recv_timeout(std::time::Duration::from_secs(2)).ok())
                .find(|event| event["event"] == "started");
        if seen.is_some() {
            break restarts;
        }
    };
    eventually("web's runs so far", || runs("web") == 1 + listening);
    let within = std::time::Duration::from_secs(20);
    // Ten writes in a burst: one restart of each.
    for n in 0..10 {
        project.write("src/main.rs", &format!("// {n}\n"));
    }
    let mut started = Vec::new();
    while started.len() < 2 {
        let event = events.recv_timeout(within).expect("an event");
        if event["event"] == "started" {
            started.push(event["pane"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(
        started,
        ["api", "web"],
        "the dependent restarts after its dependency"
    );
    // An ignored file, and time for a second restart of the burst if there
    // were one: nothing more starts.
    project.write("src/gen/out.rs", "");
    let more = events.recv_timeout(std::time::Duration::from_secs(1));
    assert!(more.is_err(), "{more:?}");
    assert_eq!((runs("api"), runs("web")), (2, 2 + listening));
    sessions.ok(&["kill-session", &name]);
    let _ = reader.wait();
}

#[test]
fn the_attached_client_is_the_lean_program_or_opmux_itself_without_it() {
    let sessions = Sessions::new("lean-client");
    let name = sessions.start(&["echo from-the-pane; exec cat"]);
    let exe = |pid: Pid| std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let mut lean = sessions.attach(&name, 24, 80);
    lean.wait_text("from-the-pane");
    let program = exe(lean.pid);
    assert_eq!(program.file_name().unwrap(), "opmux-attach", "{program:?}");
    lean.send(b"\x02d");
    assert_eq!(lean.wait_exit(), 0);
    // An opmux with no opmux-attach beside it attaches by itself.
    let alone = Scratch::new("lean-client-alone");
    let copy = alone.0.join("opmux");
    std::fs::copy(env!("CARGO_BIN_EXE_opmux"), &copy).unwrap();
    let runtime = sessions.runtime.0.to_str().unwrap();
    let env = [("XDG_RUNTIME_DIR", runtime), ("OPMUX", "")];
    let mut itself = Opmux::start_program(&copy, &alone.0, &["attach", &name], 24, 80, &env);
    itself.wait_text("from-the-pane");
    assert_eq!(exe(itself.pid), copy);
    itself.send(b"\x02d");
    assert_eq!(itself.wait_exit(), 0);
    // Nor is one left from another build used.
    let stale = alone.write(
        "opmux-attach",
        "#!/bin/sh\n[ \"$1\" = --identity ] && echo '0.0.0 protocol 0'; exit 99\n",
    );
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut past = Opmux::start_program(&copy, &alone.0, &["attach", &name], 24, 80, &env);
    past.wait_text("from-the-pane");
    assert_eq!(exe(past.pid), copy);
    past.send(b"\x02q");
    assert_eq!(past.wait_exit(), 0);
}
