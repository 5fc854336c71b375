//! The end-to-end harness: runs the real `opmux` binary on a PTY of its own,
//! reads what it draws through a vt100 parser, types into it, and looks at
//! processes in /proc. Every wait is a predicate with a deadline; on failure
//! the screen is dumped. Dropping an [`Opmux`] SIGKILLs opmux and everything
//! below it, so a failing test leaves nothing running.

#![allow(dead_code)]

use std::io::Write;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use opmux::process::proc::ProcessTable;
use portable_pty::{CommandBuilder, MasterPty, PtySize, SlavePty, native_pty_system};

/// Generous, because CI is a loaded 2-core machine running a debug build.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// What opmux asked the outer terminal to put on the clipboard (OSC 52),
/// decoded, and every byte it wrote.
#[derive(Default)]
pub struct Clipboard {
    pub copies: Vec<String>,
    pub received: Vec<u8>,
}

impl vt100::Callbacks for Clipboard {
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        use base64::Engine;
        if let Ok(text) = base64::engine::general_purpose::STANDARD.decode(data) {
            self.copies
                .push(String::from_utf8_lossy(&text).into_owned());
        }
    }
}

struct Shared {
    parser: Mutex<vt100::Parser<Clipboard>>,
    /// Notified after every chunk of output is parsed.
    changed: Condvar,
    /// While set, the reader stops reading, like a terminal that stalls.
    paused: Mutex<bool>,
    resumed: Condvar,
}

pub struct Opmux {
    /// `None` once the test hung the terminal up.
    master: Option<Box<dyn MasterPty + Send>>,
    /// Held so the terminal outlives opmux and its settings can be read after
    /// it exits.
    _slave: Box<dyn SlavePty + Send>,
    writer: Option<Box<dyn Write + Send>>,
    /// The reader thread and the pipe that stops it.
    reader: Option<(std::thread::JoinHandle<()>, std::os::fd::OwnedFd)>,
    shared: Arc<Shared>,
    pub pid: Pid,
    exit: mpsc::Receiver<portable_pty::ExitStatus>,
    exited: Option<portable_pty::ExitStatus>,
    /// Every process seen below opmux, so the test can check they are gone.
    pub seen: Vec<Pid>,
    /// The value of [`TAG_VAR`] that opmux and everything it starts inherit.
    tag: String,
    /// The socket folder of this run's sessions, private to it.
    runtime: std::path::PathBuf,
}

impl Opmux {
    /// Starts opmux with `args` on a `rows` × `cols` terminal.
    pub fn start(args: &[&str], rows: u16, cols: u16) -> Self {
        Self::start_with_env(args, rows, cols, &[])
    }

    /// Starts opmux with extra environment variables.
    pub fn start_with_env(args: &[&str], rows: u16, cols: u16, env: &[(&str, &str)]) -> Self {
        Self::start_in(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")),
            args,
            rows,
            cols,
            env,
        )
    }

    /// Starts opmux in folder `dir`, with extra environment variables.
    pub fn start_in(
        dir: &std::path::Path,
        args: &[&str],
        rows: u16,
        cols: u16,
        env: &[(&str, &str)],
    ) -> Self {
        let program = std::path::Path::new(env!("CARGO_BIN_EXE_opmux"));
        Self::start_program(program, dir, args, rows, cols, env)
    }

    /// Starts `program`, an opmux binary, in folder `dir`.
    pub fn start_program(
        program: &std::path::Path,
        dir: &std::path::Path,
        args: &[&str],
        rows: u16,
        cols: u16,
        env: &[(&str, &str)],
    ) -> Self {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut cmd = CommandBuilder::new(program);
        cmd.args(args);
        cmd.env("TERM", "xterm-256color");
        cmd.env("SHELL", "/bin/sh");
        cmd.cwd(dir);
        let tag = run_tag();
        cmd.env(TAG_VAR, &tag);
        // Tests that want opmux's log ask for it; the rest keep it off.
        cmd.env("OPMUX_LOG", "off");
        // Sessions of their own, never those of whoever runs the tests.
        let runtime = runtime_of(&tag);
        std::fs::create_dir_all(&runtime).expect("making a runtime folder");
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
            .expect("making the runtime folder private");
        cmd.env("XDG_RUNTIME_DIR", &runtime);
        cmd.env_remove("OPMUX");
        for (key, value) in env {
            cmd.env(key, value);
        }
        let mut child = pair.slave.spawn_command(cmd).expect("spawning opmux");
        let pid = Pid::from_raw(child.process_id().expect("opmux pid") as i32);
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let shared = Arc::new(Shared {
            parser: Mutex::new(vt100::Parser::new_with_callbacks(
                std::num::NonZeroU16::new(rows).unwrap(),
                std::num::NonZeroU16::new(cols).unwrap(),
                0,
                Clipboard::default(),
            )),
            changed: Condvar::new(),
            paused: Mutex::new(false),
            resumed: Condvar::new(),
        });
        // The reader polls a copy of the master and a pipe, so `hang_up` can
        // stop it and close every copy of the master, as a lost terminal would.
        let master_fd = pair.master.as_raw_fd().expect("master fd");
        // The master is open here, and dup gives the reader its own copy.
        let reading = nix::unistd::dup(unsafe { BorrowedFd::borrow_raw(master_fd) }).expect("dup");
        let (wake_rx, wake) = nix::unistd::pipe().expect("pipe");
        let feed = shared.clone();
        let reader = std::thread::spawn(move || {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            use std::os::fd::AsFd;
            let mut buf = [0u8; 65536];
            loop {
                let paused = feed.paused.lock().unwrap();
                drop(feed.resumed.wait_while(paused, |p| *p).unwrap());
                let mut fds = [
                    PollFd::new(reading.as_fd(), PollFlags::POLLIN),
                    PollFd::new(wake_rx.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => return,
                    Ok(_) => {}
                }
                if fds[1].any().unwrap_or(true) {
                    return;
                }
                match nix::unistd::read(&reading, &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let mut parser = feed.parser.lock().unwrap();
                        parser.callbacks_mut().received.extend_from_slice(&buf[..n]);
                        parser.process(&buf[..n]);
                        drop(parser);
                        feed.changed.notify_all();
                    }
                }
            }
        });
        let writer = pair.master.take_writer().expect("writer");
        Self {
            master: Some(pair.master),
            _slave: pair.slave,
            writer: Some(writer),
            reader: Some((reader, wake)),
            shared,
            pid,
            exit,
            exited: None,
            seen: Vec::new(),
            tag,
            runtime,
        }
    }

    /// Types bytes into opmux's terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().expect("the terminal was hung up");
        writer.write_all(bytes).expect("typing into opmux");
        writer.flush().expect("flushing input");
    }

    /// Presses the left button at 0-based `col`, `row`, moves it to each of
    /// `through` with the button held, and releases it at the last point, as
    /// a terminal reports it in SGR mouse mode.
    pub fn drag(&mut self, from: (u16, u16), through: &[(u16, u16)]) {
        let (c, r) = from;
        self.send(format!("\x1b[<0;{};{}M", c + 1, r + 1).as_bytes());
        let mut last = from;
        for &(c, r) in through {
            self.send(format!("\x1b[<32;{};{}M", c + 1, r + 1).as_bytes());
            last = (c, r);
        }
        self.send(format!("\x1b[<0;{};{}m", last.0 + 1, last.1 + 1).as_bytes());
    }

    /// A left click at 0-based `col`, `row`.
    pub fn click(&mut self, col: u16, row: u16) {
        self.drag((col, row), &[]);
    }

    /// Turns the mouse wheel `notches` times at 0-based `col`, `row`: up
    /// when `up`, else down.
    pub fn wheel(&mut self, col: u16, row: u16, up: bool, notches: usize) {
        let button = if up { 64 } else { 65 };
        for _ in 0..notches {
            self.send(format!("\x1b[<{button};{};{}M", col + 1, row + 1).as_bytes());
        }
    }

    /// The screen as text, for assertions and failure dumps.
    pub fn text(&self) -> String {
        self.shared.parser.lock().unwrap().screen().contents()
    }

    /// Runs `check` on the screen.
    pub fn with_screen<T>(&self, check: impl FnOnce(&vt100::Screen) -> T) -> T {
        check(self.shared.parser.lock().unwrap().screen())
    }

    /// Waits until `ready` holds for the screen, or panics with the screen.
    pub fn wait_for(&self, what: &str, ready: impl Fn(&vt100::Screen) -> bool) {
        self.wait_parser(what, |p| ready(p.screen()));
    }

    /// Every byte opmux wrote to its terminal so far.
    pub fn received(&self) -> Vec<u8> {
        self.shared
            .parser
            .lock()
            .unwrap()
            .callbacks()
            .received
            .clone()
    }

    /// What opmux put on the clipboard with OSC 52 so far, decoded.
    pub fn copies(&self) -> Vec<String> {
        self.shared
            .parser
            .lock()
            .unwrap()
            .callbacks()
            .copies
            .clone()
    }

    /// Waits until opmux has put `text` on the clipboard with OSC 52.
    pub fn wait_clipboard(&self, text: &str) {
        self.wait_parser(&format!("{text:?} copied with OSC 52"), |p| {
            p.callbacks().copies.iter().any(|copy| copy == text)
        });
    }

    /// Waits until `ready` holds for the parser, or panics with the screen.
    fn wait_parser(&self, what: &str, ready: impl Fn(&vt100::Parser<Clipboard>) -> bool) {
        self.wait_parser_for(what, DEADLINE, ready);
    }

    /// [`Opmux::wait_text`] with a deadline of its own, for a step known to
    /// take long in an unoptimised build.
    pub fn wait_text_for(&self, text: &str, limit: Duration) {
        self.wait_parser_for(&format!("{text:?} on screen"), limit, |p| {
            p.screen().contents().contains(text)
        });
    }

    fn wait_parser_for(
        &self,
        what: &str,
        limit: Duration,
        ready: impl Fn(&vt100::Parser<Clipboard>) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        let mut parser = self.shared.parser.lock().unwrap();
        loop {
            if ready(&parser) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "timed out waiting for {what}; screen:\n{}",
                    parser.screen().contents()
                );
            }
            parser = self
                .shared
                .changed
                .wait_timeout(parser, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Waits until `text` is on the screen.
    pub fn wait_text(&self, text: &str) {
        self.wait_for(&format!("{text:?} on screen"), |s| {
            s.contents().contains(text)
        });
    }

    /// Waits until some screen row holds every one of `parts`.
    pub fn wait_row(&self, parts: &[&str]) {
        self.wait_for(&format!("one row with {parts:?}"), |s| {
            s.contents()
                .lines()
                .any(|row| parts.iter().all(|p| row.contains(p)))
        });
    }

    /// Resizes opmux's terminal, which sends it SIGWINCH. The test's own
    /// emulator takes the new size first, with its output held back: a frame
    /// opmux draws at the new size must not be parsed at the old one, where
    /// what falls outside would be lost.
    pub fn resize(&self, rows: u16, cols: u16) {
        // A terminal may report no rows or columns; the test's own
        // emulator keeps at least one.
        let at_least_one =
            |n: u16| std::num::NonZeroU16::new(n).unwrap_or(std::num::NonZeroU16::MIN);
        let mut parser = self.shared.parser.lock().unwrap();
        parser.set_size(at_least_one(rows), at_least_one(cols));
        self.master
            .as_ref()
            .expect("the terminal was hung up")
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resizing");
        drop(parser);
    }

    /// Stops reading opmux's output, as a stalled terminal would, or goes on.
    pub fn stall(&self, stalled: bool) {
        *self.shared.paused.lock().unwrap() = stalled;
        self.shared.resumed.notify_all();
    }

    /// Closes opmux's terminal, as a dropped SSH connection or a closed
    /// window does.
    pub fn hang_up(&mut self) {
        if let Some((thread, wake)) = self.reader.take() {
            drop(wake);
            thread.join().expect("reader thread");
        }
        self.writer = None;
        self.master = None;
    }

    /// Waits for opmux to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        if let Some(status) = &self.exited {
            return status.exit_code();
        }
        match self.exit.recv_timeout(DEADLINE) {
            Ok(status) => {
                let code = status.exit_code();
                self.exited = Some(status);
                code
            }
            Err(_) => panic!("opmux did not exit; screen:\n{}", self.text()),
        }
    }

    /// Whether opmux has exited, without waiting.
    pub fn has_exited(&mut self) -> bool {
        if self.exited.is_none() {
            self.exited = self.exit.try_recv().ok();
        }
        self.exited.is_some()
    }

    /// The server of the session this opmux started or attached to: the
    /// process that owns the panes. Waits for it to be there.
    pub fn server(&self) -> Pid {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(pid) = self.find_server() {
                return pid;
            }
            assert!(
                Instant::now() < deadline,
                "no server; screen:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server, if it runs: a tagged opmux that is not the one the test
    /// started and leads no session of its own (the first fork of the two
    /// does, for an instant).
    fn find_server(&self) -> Option<Pid> {
        let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_opmux")).ok()?;
        let table = ProcessTable::read();
        tagged(&self.tag).into_iter().find(|&pid| {
            pid != self.pid
                && std::fs::read_link(format!("/proc/{pid}/exe")).ok().as_ref() == Some(&binary)
                && table
                    .get(pid)
                    .is_some_and(|p| p.session != pid && p.state != 'Z')
        })
    }

    /// Remembers every current descendant of opmux and of its server, and
    /// returns them.
    pub fn record_descendants(&mut self) -> Vec<Pid> {
        let table = ProcessTable::read();
        let mut now = table.descendants(self.pid);
        if let Some(server) = self.find_server() {
            now.push(server);
            now.extend(table.descendants(server));
        }
        for pid in &now {
            if !self.seen.contains(pid) {
                self.seen.push(*pid);
            }
        }
        now
    }

    /// The device of opmux's terminal, `/dev/pts/N`.
    pub fn tty(&self) -> std::path::PathBuf {
        let master = self.master.as_ref().expect("the terminal was hung up");
        master.tty_name().expect("the terminal's device")
    }

    /// The local flags of opmux's terminal, to check raw mode was undone.
    pub fn local_flags(&self) -> nix::sys::termios::LocalFlags {
        let master = self.master.as_ref().expect("the terminal was hung up");
        let fd = master.as_raw_fd().expect("master fd");
        // The master stays open for the life of `self`.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        nix::sys::termios::tcgetattr(fd)
            .expect("tcgetattr")
            .local_flags
    }
}

impl Opmux {
    /// Every live process of this run: opmux and what it started, the
    /// server and its tree (escapees that cleared their environment too),
    /// and whatever still carries the tag.
    fn doomed(&self) -> Vec<Pid> {
        let table = ProcessTable::read();
        let mut doomed = table.descendants(self.pid);
        doomed.push(self.pid);
        if let Some(server) = self.find_server() {
            doomed.push(server);
            doomed.extend(table.descendants(server));
        }
        doomed.extend(self.seen.iter().copied());
        doomed.extend(tagged(&self.tag));
        doomed.retain(|&pid| alive(pid));
        doomed
    }
}

impl Drop for Opmux {
    fn drop(&mut self) {
        // Again until nothing is left: opmux may have been forking its
        // server (twice) just as the first round ran.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let doomed = self.doomed();
            if doomed.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in doomed {
                let _ = kill(pid, Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.exit.recv_timeout(Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.runtime);
    }
}

/// An environment variable every process a test starts inherits, so cleanup
/// finds even processes that escaped opmux.
pub const TAG_VAR: &str = "OPMUX_E2E_RUN";

/// A tag no other run of this test binary has, for [`TAG_VAR`].
pub fn run_tag() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The socket folder of runs tagged `tag` (`XDG_RUNTIME_DIR`).
pub fn runtime_of(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("opmux-run-{tag}"))
}

/// Gives `cmd`, a run of opmux tagged `tag`, a socket folder of its own
/// and no `OPMUX`: the session it names and starts (a `--no-tui` run has
/// one too) is never among those of whoever runs the tests. Removed with
/// [`kill_tagged`].
pub fn private_runtime(cmd: &mut std::process::Command, tag: &str) {
    let runtime = runtime_of(tag);
    std::fs::create_dir_all(&runtime).expect("making a runtime folder");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
        .expect("making the runtime folder private");
    cmd.env("XDG_RUNTIME_DIR", &runtime).env_remove("OPMUX");
}

/// Kills every process carrying `tag` (see [`TAG_VAR`]): what a test
/// started, however far it strayed from the process it started; and
/// removes the socket folder of its runs.
pub fn kill_tagged(tag: &str) {
    let _ = std::fs::remove_dir_all(runtime_of(tag));
    // Again until nothing is left: a process may fork as the last one dies.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let doomed: Vec<Pid> = tagged(tag).into_iter().filter(|&p| alive(p)).collect();
        if doomed.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in doomed {
            let _ = kill(pid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every process whose environment holds `TAG_VAR=tag`.
pub fn tagged(tag: &str) -> Vec<Pid> {
    ProcessTable::read()
        .pids()
        .filter(|&pid| opmux::process::proc::environ_value(pid, TAG_VAR).as_deref() == Some(tag))
        .collect()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn alive(pid: Pid) -> bool {
    opmux::process::proc::stat(pid).is_some_and(|p| p.state != 'Z')
}

/// Every live `sleep 1000.<marker>` process.
pub fn sleepers(marker: &str) -> Vec<Pid> {
    let wanted = format!("1000.{marker}");
    let table = ProcessTable::read();
    table
        .pids()
        .filter(|&pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let is_sleep = argv.first().is_some_and(|a| a.ends_with(b"sleep"));
            is_sleep
                && argv.get(1) == Some(&wanted.as_bytes())
                && table.get(pid).is_some_and(|p| p.state != 'Z')
        })
        .collect()
}

/// Digits unique to one test in one run, to find its processes by command
/// line: `sleep 1000.<marker>` is a valid, recognisable sleep.
pub fn marker(test: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    // A counter, so two tests that pick the same word never share a marker.
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}{:03}{n:03}", std::process::id(), test.len() % 1000)
}

/// Waits until `done` holds, re-checking whenever `/proc` may have changed.
/// There is no event for "a process is gone", so this polls with short naps
/// under a deadline; it synchronises on the predicate, never on the nap.
pub fn eventually(what: &str, done: impl Fn() -> bool) {
    eventually_within(what, DEADLINE, done);
}

/// [`eventually`] with a deadline of its own, for waits whose work grows with
/// the machine's load, such as a flood through a debug build.
pub fn eventually_within(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that `lines` are exactly `1`, `2`, … `n`, naming on stderr the
/// first that are not.
pub fn assert_numbered(lines: &[String], n: usize) {
    if lines.len() != n {
        let missing: Vec<usize> = (1..=n)
            .filter(|i| lines.get(i - 1).map(String::as_str) != Some(&i.to_string()))
            .take(5)
            .collect();
        eprintln!(
            "first mismatches at {missing:?}; last line {:?}",
            lines.last()
        );
    }
    assert_eq!(lines.len(), n);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, l)| *l == (i + 1).to_string())
    );
}

/// A scratch folder for one test, removed when dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("opmux-test-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch folder");
        Self(dir)
    }

    /// Writes `text` to `name` in the folder and returns its path.
    pub fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("writing a scratch file");
        path
    }

    /// The lines of `name`, or none if it does not exist yet.
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.0.join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `tool` (a program that answers `--version`) is installed for a
/// check that needs it. `.ci/run` installs every such tool, so under CI a
/// missing one fails the test; elsewhere the check is skipped, and says so.
pub fn installed_for(tool: &str, check: &str) -> bool {
    let there = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !there {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is not installed, and CI needs it for {check}"
        );
        eprintln!("{tool} is not installed: {check} is not checked");
    }
    there
}
