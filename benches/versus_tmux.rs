//! Side-by-side benchmark: opmux and tmux, each inside a 200×50 PTY that this
//! program drains the way a real terminal would, in the same run.
//!
//! - `flood`: a pane runs `seq 1 2000000` (16.9 MB with CRs). The time is taken
//!   inside the pane, around `seq` alone, since a child can only finish as fast
//!   as its multiplexer drains it.
//! - `echo`: the focused pane runs `stty raw -echo; cat`; a key is written to
//!   the outer terminal every 20 ms and timed until the multiplexer draws it.
//!   Measured with the other pane idle, and with it flooding (`yes`).
//!
//! - `cpu`: the multiplexer's CPU seconds (all of its processes, from /proc)
//!   for the flood, and over 10 s with 4 idle panes and with 2 panes printing
//!   a line every 0.2 s.
//!
//! - `memory`: the resident memory (VmRSS) of the multiplexer, summed over its
//!   processes (opmux's server and client; tmux's server and client), with one
//!   pane that printed `seq 1 200000`, both keeping 10,000 lines of history,
//!   beside the same figure for an idle pane.
//!
//! - `attach`: a detached session of 16 panes with full screens; the time from
//!   starting `opmux attach` (`tmux attach`) until every pane's last line is on
//!   the attaching terminal, median of 5.
//!
//! - `idle`: the CPU seconds of a detached session's server with 4 idle panes
//!   over 10 s.
//!
//! - `many panes`: 16 panes each printing `seq 1 200000` at once, beside a
//!   quiet `cat` pane: the time until all are done, and the p90 key echo in
//!   the quiet pane meanwhile.
//!
//! - `load`: the same with 32 flooding panes, also giving the peak resident
//!   memory (VmHWM) of the process holding the screens.
//!
//! - `quit`: three panes running `sleep`; time from the quit (`C-b q` for opmux,
//!   `kill-server` for tmux) until the multiplexer has exited. For opmux alone,
//!   also one pane that ignores SIGTERM, under `--stop-timeout 1`.
//!
//! Each figure is printed for both, with the ratio opmux / tmux (below 1 means
//! opmux is ahead). Run with `cargo bench --bench versus_tmux`; tmux is skipped
//! with a note when it is not installed.
//!
//! Arguments narrow a run: section names (`flood`, `cpu`, `echo`, `memory`,
//! `many`, `load`, `quit`, `attach`, `idle`) run only those, contender names only those, as in
//! `cargo bench --bench versus_tmux -- many opmux`. `BENCH_OPMUX_LOG=FILE`
//! turns opmux's own log on, which is off otherwise.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const ROWS: u16 = 50;
const COLS: u16 = 200;
const LINES: u32 = 2_000_000;
const FLOOD_RUNS: usize = 3;
const KEYS: usize = 300;

/// A multiplexer under test: how to start it on pane commands (the first one
/// focused), and how to make it quit.
struct Contender {
    name: &'static str,
    start: fn(panes: &[&str], tag: &str) -> CommandBuilder,
    stop: fn(tag: &str, child: &mut Box<dyn Child + Send + Sync>),
    /// Asks the multiplexer to quit the way its user would.
    quit: fn(session: &mut Session),
}

fn quit_opmux(session: &mut Session) {
    let _ = session.writer.write_all(b"\x02q");
    let _ = session.writer.flush();
}

fn quit_tmux(session: &mut Session) {
    stop_tmux(&session.tag, &mut session.child);
}

/// The socket folder of every opmux session this benchmark starts, private
/// to it, as `-L` keeps tmux's servers apart.
fn opmux_runtime() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("opmux-bench-{}-runtime", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    dir
}

/// `opmux ARGS` in the benchmark's socket folder, without its own log.
fn opmux_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
    cmd.args(args)
        .env("XDG_RUNTIME_DIR", opmux_runtime())
        .env("OPMUX_LOG", "off")
        .env_remove("OPMUX");
    cmd
}

fn opmux(panes: &[&str], tag: &str) -> CommandBuilder {
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_opmux"));
    // Measured without its own log, as tmux runs without one.
    cmd.env(
        "OPMUX_LOG",
        std::env::var("BENCH_OPMUX_LOG").unwrap_or("off".into()),
    );
    cmd.env("XDG_RUNTIME_DIR", opmux_runtime());
    cmd.env_remove("OPMUX");
    cmd.args(["-s", tag, "--stop-timeout", "1"]);
    cmd.args(panes);
    cmd
}

/// The pid of the server of opmux session `tag`, from `opmux ls --json`.
fn opmux_server(tag: &str) -> Option<u32> {
    let out = opmux_command(&["ls", "--json"]).output().ok()?;
    let sessions: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).ok()?;
    let session = sessions.iter().find(|s| s["name"] == tag)?;
    session["pid"].as_u64().map(|pid| pid as u32)
}

fn stop_opmux(_tag: &str, child: &mut Box<dyn Child + Send + Sync>) {
    if let Some(pid) = child.process_id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

fn tmux(panes: &[&str], tag: &str) -> CommandBuilder {
    // A private server (-L) with no user config, no status line and the same
    // 10,000 lines of history opmux keeps.
    let mut cmd = CommandBuilder::new("tmux");
    cmd.args(["-L", tag, "-f", "/dev/null", "new-session", ";"]);
    cmd.args(["set", "-g", "status", "off", ";"]);
    cmd.args(["set", "-g", "history-limit", "10000", ";"]);
    cmd.args(["new-window", "-k", "-t", "0", panes[0]]);
    for pane in &panes[1..] {
        // -d keeps the focus on the first pane; tiling after each split
        // leaves room for the next, as opmux tiles.
        cmd.args([";", "split-window", "-h", "-d", pane]);
        cmd.args([";", "select-layout", "tiled"]);
    }
    cmd
}

fn stop_tmux(tag: &str, _child: &mut Box<dyn Child + Send + Sync>) {
    let _ = Command::new("tmux")
        .args(["-L", tag, "kill-server"])
        .stderr(std::process::Stdio::null())
        .status();
}

/// A GNU screen session named `tag` with the panes stacked in regions, the
/// first one focused, and 10,000 lines of history. Each pane's command runs
/// from a script file, so that the screenrc needs no quoting.
fn screen(panes: &[&str], tag: &str) -> CommandBuilder {
    let dir = std::env::temp_dir().join(format!("{tag}.screen"));
    let _ = std::fs::create_dir_all(&dir);
    let mut rc = String::from("startup_message off\ndefscrollback 10000\nhardstatus ignore\n");
    for (i, pane) in panes.iter().enumerate() {
        let script = dir.join(format!("pane-{i}.sh"));
        let _ = std::fs::write(&script, pane);
        if i > 0 {
            rc.push_str("split\nfocus down\n");
        }
        rc.push_str(&format!("screen sh {}\n", script.display()));
    }
    rc.push_str("focus top\n");
    let rc_file = dir.join("screenrc");
    let _ = std::fs::write(&rc_file, rc);
    let mut cmd = CommandBuilder::new("screen");
    cmd.args(["-S", tag, "-c"]);
    cmd.arg(&rc_file);
    cmd
}

fn stop_screen(tag: &str, _child: &mut Box<dyn Child + Send + Sync>) {
    let _ = Command::new("screen")
        .args(["-S", tag, "-X", "quit"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("{tag}.screen")));
}

fn quit_screen(session: &mut Session) {
    // C-a :quit, as its user would type it.
    let _ = session.writer.write_all(b"\x01:quit\r");
    let _ = session.writer.flush();
}

/// The pid of screen's server for session `tag`, from `screen -ls`, whose
/// lines name sessions as `PID.TAG`.
fn screen_server(tag: &str) -> Option<u32> {
    let out = Command::new("screen").args(["-ls", tag]).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let (pid, name) = line.split_whitespace().next()?.split_once('.')?;
            (name == tag).then(|| pid.parse().ok()).flatten()
        })
}

/// No multiplexer: the pane's command straight on the benchmark's PTY, for
/// the floor a flood cannot beat.
fn bare(panes: &[&str], _tag: &str) -> CommandBuilder {
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", panes[0]]);
    cmd
}

fn stop_bare(_tag: &str, child: &mut Box<dyn Child + Send + Sync>) {
    let _ = child.kill();
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// One contender running in a drained PTY; its output arrives on `output`.
struct Session {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    output: mpsc::Receiver<Vec<u8>>,
    tag: String,
}

impl Session {
    fn start(contender: &Contender, panes: &[&str], tag: String) -> Option<Self> {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .ok()?;
        let mut cmd = (contender.start)(panes, &tag);
        cmd.env("TERM", "xterm-256color");
        let child = pair.slave.spawn_command(cmd).ok()?;
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().ok()?;
        let (tx, output) = mpsc::channel();
        // Drain like a terminal would, until the multiplexer exits.
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let writer = pair.master.take_writer().ok()?;
        Some(Self {
            master: pair.master,
            writer,
            child,
            output,
            tag,
        })
    }

    /// Writes `key` and returns how long until the output contains it.
    fn echo(&mut self, key: u8) -> Option<Duration> {
        while self.output.try_recv().is_ok() {}
        let start = Instant::now();
        self.writer.write_all(&[key]).ok()?;
        self.writer.flush().ok()?;
        let deadline = start + Duration::from_secs(5);
        loop {
            let chunk = self
                .output
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()?;
            if chunk.contains(&key) {
                return Some(start.elapsed());
            }
        }
    }

    /// Types key number `i` and adds its echo time in milliseconds to
    /// `times`, then waits a typist's pace, so each key meets an idle frame
    /// clock. Two keys no pane prints otherwise alternate, so each echo is new.
    fn type_key(&mut self, i: usize, times: &mut Vec<f64>) {
        let key = if i.is_multiple_of(2) { b'#' } else { b'@' };
        if let Some(t) = self.echo(key) {
            times.push(t.as_secs_f64() * 1e3);
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    fn stop(mut self, contender: &Contender) {
        (contender.stop)(&self.tag, &mut self.child);
        let _ = self.child.wait();
        drop(self.master);
    }
}

/// CPU seconds (user and system) the processes `pids` have used, from
/// /proc: every thread of each, none of their children.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf only reads a constant of the system.
    let ticks = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) }.max(1) as f64;
    pids.iter()
        .filter_map(|&pid| opmux::process::proc::stat(nix::unistd::Pid::from_raw(pid as i32)))
        .map(|p| (p.utime + p.stime) as f64 / ticks)
        .sum()
}

/// Every process of the multiplexer: the one started in the PTY (opmux's or
/// tmux's client) and the one holding the screens (its server).
fn multiplexer_pids(contender: &Contender, session: &Session) -> Vec<u32> {
    let mut pids: Vec<u32> = session.child.process_id().into_iter().collect();
    if let Some(holder) = screen_holder(contender, session)
        && !pids.contains(&holder)
    {
        pids.push(holder);
    }
    pids
}

/// The multiplexer's CPU seconds over `window` with `panes` running, after
/// a second to settle.
fn cpu_over(contender: &Contender, panes: &[&str], label: &str, window: Duration) -> Option<f64> {
    let tag = format!("opmux-bench-{}-{label}", std::process::id());
    let session = Session::start(contender, panes, tag)?;
    std::thread::sleep(Duration::from_secs(1));
    let pids = multiplexer_pids(contender, &session);
    let before = cpu_seconds(&pids);
    std::thread::sleep(window);
    let used = cpu_seconds(&pids) - before;
    session.stop(contender);
    Some(used)
}

/// Runs one flood under `contender` and returns the seconds `seq` took and
/// the multiplexer's CPU seconds up to then.
fn flood(contender: &Contender, scratch: &Path, run: usize) -> Option<(f64, f64)> {
    let result = scratch.join(format!("{}-{run}.ns", contender.name));
    let _ = std::fs::remove_file(&result);
    let pane = format!(
        "t0=$(date +%s%N); seq 1 {LINES}; t1=$(date +%s%N); echo $((t1 - t0)) > {}.tmp; mv {0}.tmp {0}; exec sleep 1000",
        result.display()
    );
    let tag = format!("opmux-bench-{}-flood-{run}", std::process::id());
    let session = Session::start(contender, &[&pane], tag)?;
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
    // What the multiplexer still has to parse when the child is done.
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_seconds(&multiplexer_pids(contender, &session));
    session.stop(contender);
    nanos.map(|n| (n / 1e9, cpu))
}

/// Key-echo latencies in milliseconds, with `other` in a second pane.
/// Echo times of `KEYS` keys typed into a `cat` pane of each contender,
/// with `other` in a second pane. With `side_by_side`, every contender's
/// session runs at once and they take turns key by key, so a change in the
/// machine's state (another guest, the CPUs' clocks) falls on all of them
/// alike; otherwise one after the other, for an `other` that would
/// disturb the rest (a flood).
fn echo(contenders: &[&Contender], other: &str, side_by_side: bool) -> Vec<Option<Vec<f64>>> {
    if !side_by_side {
        return contenders
            .iter()
            .map(|&c| echo(&[c], other, true).pop().flatten())
            .collect();
    }
    let mut sessions: Vec<Option<Session>> = contenders
        .iter()
        .map(|c| {
            let tag = format!("opmux-bench-{}-echo-{}", std::process::id(), c.name);
            let mut session = Session::start(c, &["stty raw -echo; exec cat", other], tag)?;
            // Wait until the cat pane echoes at all.
            let ready = Instant::now() + Duration::from_secs(10);
            while session.echo(b'#').is_none() {
                if Instant::now() > ready {
                    session.stop(c);
                    return None;
                }
            }
            Some(session)
        })
        .collect();
    // Let start-up settle.
    std::thread::sleep(Duration::from_millis(300));
    let mut times = vec![Vec::with_capacity(KEYS); contenders.len()];
    for i in 0..KEYS {
        for (session, times) in sessions.iter_mut().zip(&mut times) {
            if let Some(session) = session {
                session.type_key(i, times);
            }
        }
    }
    sessions
        .into_iter()
        .zip(contenders)
        .zip(times)
        .map(|((session, c), times)| {
            session?.stop(c);
            Some(times)
        })
        .collect()
}

/// The resident memory of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> Option<f64> {
    status_kib(pid, "VmRSS:")
}

/// A memory figure of `pid` in KiB (`VmRSS:`, `VmHWM:`), from /proc.
fn status_kib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The process that holds the panes' screens: opmux's or tmux's server.
fn screen_holder(contender: &Contender, session: &Session) -> Option<u32> {
    match contender.name {
        "opmux" => return opmux_server(&session.tag),
        "screen" => return screen_server(&session.tag),
        "tmux" => {}
        _ => return None,
    }
    let out = Command::new("tmux")
        .args(["-L", &session.tag, "display-message", "-p", "#{pid}"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// RSS in KiB of the screen holder with one pane that printed `lines` lines
/// (0: an idle pane), once the output is through.
fn memory(contender: &Contender, scratch: &Path, lines: u32) -> Option<f64> {
    let done = scratch.join(format!("{}-memory-{lines}.done", contender.name));
    let _ = std::fs::remove_file(&done);
    let pane = format!(
        "seq 1 {lines} | head -n {lines}; touch {}; exec sleep 1000",
        done.display()
    );
    let tag = format!("opmux-bench-{}-memory-{lines}", std::process::id());
    let session = Session::start(contender, &[&pane], tag)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // The last output may still be on its way through the multiplexer's
    // pipeline; a benchmark may wait for it to settle.
    std::thread::sleep(Duration::from_secs(1));
    let pids = multiplexer_pids(contender, &session);
    let rss: Option<f64> = pids.iter().map(|&pid| rss_kib(pid)).sum();
    session.stop(contender);
    rss.map(|kib| kib / 1024.0)
}

/// Panes flooding at once in the many-panes figure, each `seq 1 MANY_LINES`.
const MANY: usize = 16;
const MANY_LINES: u32 = 200_000;

/// Panes flooding at once in the load figure.
const LOAD: usize = 32;

/// What a run of many floods gave: the seconds until every flood was done,
/// key-echo latencies in the quiet pane meanwhile in milliseconds, and the
/// peak resident memory of the process holding the screens in KiB.
struct Floods {
    took: f64,
    times: Vec<f64>,
    peak_kib: Option<f64>,
}

/// Starts a quiet `cat` pane (focused) and `count` flooding ones, each
/// `seq 1 MANY_LINES`, and types into the quiet one until they are done.
fn many_panes(contender: &Contender, scratch: &Path, count: usize) -> Option<Floods> {
    let dir = scratch.join(format!("{}-many", contender.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let floods: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "seq 1 {MANY_LINES}; touch {}; exec sleep 1000",
                dir.join(format!("done-{i}")).display()
            )
        })
        .collect();
    let mut panes = vec!["stty raw -echo; exec cat"];
    panes.extend(floods.iter().map(String::as_str));
    let tag = format!("opmux-bench-{}-many", std::process::id());
    let start = Instant::now();
    let mut session = Session::start(contender, &panes, tag)?;
    let all_done = || (0..count).all(|i| dir.join(format!("done-{i}")).exists());
    let deadline = start + Duration::from_secs(120);
    let mut times = Vec::new();
    let mut i = 0usize;
    while !all_done() && Instant::now() < deadline {
        session.type_key(i, &mut times);
        i += 1;
    }
    let took = start.elapsed().as_secs_f64();
    let finished = all_done();
    let peak_kib = screen_holder(contender, &session).and_then(|pid| status_kib(pid, "VmHWM:"));
    session.stop(contender);
    let _ = std::fs::remove_dir_all(&dir);
    finished.then_some(Floods {
        took,
        times,
        peak_kib,
    })
}

/// Live `sleep 1000.<marker>` processes.
fn sleepers(marker: &str) -> usize {
    let wanted = format!("1000.{marker}");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let mut args = cmdline.split(|b| *b == 0);
            args.next().is_some_and(|a| a.ends_with(b"sleep"))
                && args.next() == Some(wanted.as_bytes())
        })
        .count()
}

/// Seconds from the quit until the multiplexer exited, with `panes` running.
fn quit(contender: &Contender, panes: &[&str], marker: &str) -> Option<f64> {
    let tag = format!("opmux-bench-{}-quit", std::process::id());
    let mut session = Session::start(contender, panes, tag)?;
    let ready = Instant::now() + Duration::from_secs(10);
    while sleepers(marker) < panes.len() {
        if Instant::now() > ready {
            session.stop(contender);
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let start = Instant::now();
    (contender.quit)(&mut session);
    let _ = session.child.wait();
    let took = start.elapsed().as_secs_f64();
    session.stop(contender);
    Some(took)
}

/// Panes in the attach figure, each printing a full screen.
const ATTACH_PANES: usize = 16;
const ATTACHES: usize = 5;

/// Starts a detached session of `panes`, named `tag`; false if it cannot.
fn start_detached(contender: &Contender, panes: &[String], tag: &str) -> bool {
    let size = format!("{COLS}x{ROWS}");
    let status = match contender.name {
        "opmux" => {
            let mut args = vec!["-d", "-s", tag, "--size", &size];
            args.extend(panes.iter().map(String::as_str));
            opmux_command(&args)
                .stdout(std::process::Stdio::null())
                .status()
        }
        "tmux" => {
            let (cols, rows) = (COLS.to_string(), ROWS.to_string());
            let mut cmd = Command::new("tmux");
            cmd.args([
                "-L",
                tag,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &cols,
                "-y",
                &rows,
            ]);
            cmd.args([&panes[0], ";", "set", "-g", "status", "off", ";"]);
            cmd.args(["set", "-g", "history-limit", "10000"]);
            for pane in &panes[1..] {
                cmd.args([";", "split-window", "-h", "-d", pane]);
                cmd.args([";", "select-layout", "tiled"]);
            }
            cmd.status()
        }
        _ => return false,
    };
    status.is_ok_and(|s| s.success())
}

/// Stops a detached session started by [`start_detached`].
fn stop_detached(contender: &Contender, tag: &str) {
    let _ = match contender.name {
        "opmux" => opmux_command(&["kill-session", "--now", tag]).status(),
        _ => Command::new("tmux")
            .args(["-L", tag, "kill-server"])
            .status(),
    };
}

/// The attaching command for a detached session `tag`.
fn attach_command(contender: &Contender, tag: &str) -> Option<CommandBuilder> {
    match contender.name {
        "opmux" => {
            let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_opmux"));
            cmd.env("XDG_RUNTIME_DIR", opmux_runtime());
            cmd.env("OPMUX_LOG", "off");
            cmd.env_remove("OPMUX");
            cmd.args(["attach", tag]);
            Some(cmd)
        }
        "tmux" => {
            let mut cmd = CommandBuilder::new("tmux");
            cmd.args(["-L", tag, "attach"]);
            Some(cmd)
        }
        _ => None,
    }
}

/// Milliseconds from starting an attach to a detached session of
/// [`ATTACH_PANES`] full panes until every pane's last line is on screen.
fn attach(contender: &Contender) -> Option<Vec<f64>> {
    let tag = format!("opmux-bench-{}-attach", std::process::id());
    let panes: Vec<String> = (0..ATTACH_PANES)
        .map(|i| format!("seq 1 100; printf 'end-{i:02}'; exec sleep 1000"))
        .collect();
    if !start_detached(contender, &panes, &tag) {
        return None;
    }
    // Every pane printed its screen by now.
    std::thread::sleep(Duration::from_secs(2));
    let mut times = Vec::new();
    for _ in 0..ATTACHES {
        let cmd = attach_command(contender, &tag)?;
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .ok()?;
        let mut reader = pair.master.try_clone_reader().ok()?;
        let start = Instant::now();
        let mut child = pair.slave.spawn_command(cmd).ok()?;
        let mut parser = vt100::Parser::new(
            std::num::NonZeroU16::new(ROWS)?,
            std::num::NonZeroU16::new(COLS)?,
            0,
        );
        let mut buf = [0u8; 65536];
        let complete = |screen: &vt100::Screen| {
            let text = screen.contents();
            (0..ATTACH_PANES).all(|i| text.contains(&format!("end-{i:02}")))
        };
        while !complete(parser.screen()) && start.elapsed() < Duration::from_secs(10) {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => parser.process(&buf[..n]),
            }
        }
        if complete(parser.screen()) {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        let _ = child.kill();
        let _ = child.wait();
        drop(pair.master);
    }
    stop_detached(contender, &tag);
    Some(times)
}

/// How many times each control command runs.
const CONTROL_RUNS: usize = 200;

/// Milliseconds each run of two control commands took against a detached
/// session with a full screen in a `cat` pane: reading the screen (`opmux
/// screen` beside `tmux capture-pane -p`), and typing a key (`opmux send`
/// beside `tmux send-keys`). Runs alternate between the two commands.
fn control(contender: &Contender) -> Option<(Vec<f64>, Vec<f64>)> {
    let tag = format!("opmux-bench-{}-control", std::process::id());
    let panes = ["seq 1 100; exec cat".to_string()];
    if !start_detached(contender, &panes, &tag) {
        return None;
    }
    let (mut screen, mut send) = (Command::new("tmux"), Command::new("tmux"));
    if contender.name == "opmux" {
        screen = opmux_command(&["screen", "-s", &tag, "1"]);
        send = opmux_command(&["send", "-s", &tag, "1", "x"]);
    } else {
        screen.args(["-L", &tag, "capture-pane", "-p", "-t", "0"]);
        send.args(["-L", &tag, "send-keys", "-t", "0", "x"]);
    }
    let timed = |cmd: &mut Command| {
        let start = Instant::now();
        let ok = cmd.output().is_ok_and(|out| out.status.success());
        ok.then(|| start.elapsed().as_secs_f64() * 1e3)
    };
    // The screen is full once the last number shows.
    let ready = Instant::now() + Duration::from_secs(10);
    while !screen
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("100"))
    {
        if Instant::now() > ready {
            stop_detached(contender, &tag);
            return None;
        }
    }
    let (mut reads, mut writes) = (Vec::new(), Vec::new());
    for _ in 0..CONTROL_RUNS {
        reads.extend(timed(&mut screen));
        writes.extend(timed(&mut send));
    }
    stop_detached(contender, &tag);
    Some((reads, writes))
}

/// CPU seconds a detached session's server with 4 idle panes uses in 10 s.
fn idle_detached(contender: &Contender) -> Option<f64> {
    let tag = format!("opmux-bench-{}-idle", std::process::id());
    let panes: Vec<String> = (0..4).map(|_| "exec sleep 1000".to_string()).collect();
    if !start_detached(contender, &panes, &tag) {
        return None;
    }
    std::thread::sleep(Duration::from_secs(1));
    let server = match contender.name {
        "opmux" => opmux_server(&tag),
        _ => Command::new("tmux")
            .args(["-L", &tag, "display-message", "-p", "#{pid}"])
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok()),
    };
    let used = server.map(|pid| {
        let before = cpu_seconds(&[pid]);
        std::thread::sleep(Duration::from_secs(10));
        cpu_seconds(&[pid]) - before
    });
    stop_detached(contender, &tag);
    used
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

fn report(what: &str, unit: &str, results: &[(&str, f64)]) {
    print!("  {what:<28}");
    for (name, value) in results {
        print!("  {name} {value:>8.2} {unit}");
    }
    if let Some(((ours, value), others)) = results.split_first()
        && *ours == "opmux"
    {
        for (name, theirs) in others {
            match (*value, *theirs) {
                (_, t) if t > 0.0 => print!("   opmux/{name} = {:.2}", value / t),
                (0.0, _) => print!("   opmux, {name} both 0"),
                _ => print!("   {name} 0"),
            }
        }
    }
    println!();
}

fn main() {
    let scratch: PathBuf = std::env::temp_dir().join(format!("opmux-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("creating a scratch folder");
    let all = [
        Contender {
            name: "opmux",
            start: opmux,
            stop: stop_opmux,
            quit: quit_opmux,
        },
        Contender {
            name: "tmux",
            start: tmux,
            stop: stop_tmux,
            quit: quit_tmux,
        },
        Contender {
            name: "screen",
            start: screen,
            stop: stop_screen,
            quit: quit_screen,
        },
    ];
    // Names of contenders among the arguments run only those.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let named = |name: &str| args.iter().any(|a| a == name);
    let pick_some = all.iter().any(|c| named(c.name));
    let contenders: Vec<&Contender> = all
        .iter()
        .filter(|c| !pick_some || named(c.name))
        .filter(|c| {
            let here = c.name == "opmux" || installed(c.name);
            if !here {
                println!("{} is not installed: skipped", c.name);
            }
            here
        })
        .collect();
    println!("{COLS}x{ROWS} terminal, same run for every contender");
    // `cargo bench --bench versus_tmux -- echo many` runs only the sections
    // named; with no names, every section runs.
    let only: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && !all.iter().any(|c| c.name == a.as_str()))
        .cloned()
        .collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);

    if wanted("flood") {
        let mut floods = Vec::new();
        let mut flood_cpu = Vec::new();
        for c in &contenders {
            let runs: Vec<(f64, f64)> = (0..FLOOD_RUNS)
                .filter_map(|run| flood(c, &scratch, run))
                .collect();
            if runs.is_empty() {
                println!("  {} failed to run the flood", c.name);
                continue;
            }
            let times: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let cpu: Vec<f64> = runs.iter().map(|r| r.1).collect();
            floods.push((c.name, percentile(&times, 0.5)));
            flood_cpu.push((c.name, percentile(&cpu, 0.5)));
        }
        report(&format!("flood seq 1 {LINES}, median"), "s ", &floods);
        report("CPU for the flood, median", "s ", &flood_cpu);
        // The floor is worth its three floods only beside opmux's figure.
        if let Some(&(_, ours)) = floods.iter().find(|(name, _)| *name == "opmux") {
            let floor = Contender {
                name: "bare",
                start: bare,
                stop: stop_bare,
                quit: |_| {},
            };
            let runs: Vec<f64> = (0..FLOOD_RUNS)
                .filter_map(|run| flood(&floor, &scratch, run))
                .map(|(secs, _)| secs)
                .collect();
            if !runs.is_empty() {
                let floor = percentile(&runs, 0.5);
                println!(
                    "  {:<28}  bare PTY {floor:>5.2} s    opmux/floor = {:.2}",
                    "flood floor, no multiplexer",
                    ours / floor
                );
            }
        }
    }

    if wanted("cpu") {
        let idle = ["exec sleep 1000"; 4];
        let chatty = ["while :; do echo tick; sleep 0.2; done"; 2];
        for (tag, label, panes) in [
            ("idle", "idle, 4 panes, 10 s", &idle[..]),
            ("chatty", "chatty, 2 panes, 10 s", &chatty[..]),
        ] {
            let mut cpu = Vec::new();
            for c in &contenders {
                match cpu_over(c, panes, tag, Duration::from_secs(10)) {
                    Some(secs) => cpu.push((c.name, secs)),
                    None => println!("  {} failed to run {label}", c.name),
                }
            }
            report(&format!("CPU, {label}"), "s ", &cpu);
        }
    }

    if wanted("echo") {
        for (label, other, side_by_side) in [
            ("idle", "exec sleep 1000", true),
            ("flood in other pane", "exec yes flood", false),
        ] {
            let mut medians = Vec::new();
            let mut p90s = Vec::new();
            for (c, times) in contenders
                .iter()
                .zip(echo(&contenders, other, side_by_side))
            {
                match times {
                    Some(times) if !times.is_empty() => {
                        medians.push((c.name, percentile(&times, 0.5)));
                        p90s.push((c.name, percentile(&times, 0.9)));
                    }
                    _ => println!("  {} failed to echo ({label})", c.name),
                }
            }
            report(&format!("key echo, {label}, median"), "ms", &medians);
            report(&format!("key echo, {label}, p90"), "ms", &p90s);
        }
    }

    if wanted("memory") {
        for (label, lines) in [("RSS, idle pane", 0), ("RSS after seq 1 200000", 200_000)] {
            let mut rss = Vec::new();
            for c in &contenders {
                match memory(c, &scratch, lines) {
                    Some(mib) => rss.push((c.name, mib)),
                    None => println!("  {} failed to report its memory", c.name),
                }
            }
            report(label, "MiB", &rss);
        }
    }

    for (section, count) in [("many", MANY), ("load", LOAD)] {
        if !wanted(section) {
            continue;
        }
        let (mut total, mut p90, mut peak) = (Vec::new(), Vec::new(), Vec::new());
        for c in &contenders {
            match many_panes(c, &scratch, count) {
                Some(run) if !run.times.is_empty() => {
                    total.push((c.name, run.took));
                    p90.push((c.name, percentile(&run.times, 0.9)));
                    if let Some(kib) = run.peak_kib {
                        peak.push((c.name, kib / 1024.0));
                    }
                }
                _ => println!("  {} failed to run {count} flooding panes", c.name),
            }
        }
        report(&format!("{count} panes x seq 1 {MANY_LINES}"), "s ", &total);
        report("key echo beside them, p90", "ms", &p90);
        if section == "load" {
            report("peak RSS meanwhile", "MiB", &peak);
        }
    }

    if wanted("quit") {
        let marker = format!("{}", std::process::id());
        let calm = format!("exec sleep 1000.{marker}");
        let mut quits = Vec::new();
        for c in &contenders {
            match quit(c, &[&calm, &calm, &calm], &marker) {
                Some(t) => quits.push((c.name, t * 1e3)),
                None => println!("  {} failed to quit", c.name),
            }
        }
        report("quit, 3 panes", "ms", &quits);
        let stubborn = format!("trap '' TERM; sleep 1000.{marker}; true");
        if let Some(t) = quit(&all[0], &[&stubborn], &marker) {
            report(
                "quit, TERM ignored, timeout 1s",
                "ms",
                &[("opmux", t * 1e3)],
            );
        }
    }
    let sessions: Vec<&Contender> = contenders
        .iter()
        .copied()
        .filter(|c| matches!(c.name, "opmux" | "tmux"))
        .collect();
    if wanted("attach") {
        let mut medians = Vec::new();
        for c in &sessions {
            match attach(c) {
                Some(times) if !times.is_empty() => medians.push((c.name, percentile(&times, 0.5))),
                _ => println!("  {} failed to attach", c.name),
            }
        }
        report(
            &format!("attach, {ATTACH_PANES} full panes"),
            "ms",
            &medians,
        );
    }
    if wanted("control") {
        let (mut reads, mut writes) = (Vec::new(), Vec::new());
        let (mut reads_p99, mut writes_p99) = (Vec::new(), Vec::new());
        for c in &sessions {
            match control(c) {
                Some((r, w)) if !r.is_empty() && !w.is_empty() => {
                    reads.push((c.name, percentile(&r, 0.5)));
                    reads_p99.push((c.name, percentile(&r, 0.99)));
                    writes.push((c.name, percentile(&w, 0.5)));
                    writes_p99.push((c.name, percentile(&w, 0.99)));
                }
                _ => println!("  {} failed to run control commands", c.name),
            }
        }
        report("screen / capture-pane, median", "ms", &reads);
        report("screen / capture-pane, p99", "ms", &reads_p99);
        report("send / send-keys, median", "ms", &writes);
        report("send / send-keys, p99", "ms", &writes_p99);
    }
    if wanted("idle") {
        let mut cpu = Vec::new();
        for c in &sessions {
            match idle_detached(c) {
                Some(seconds) => cpu.push((c.name, seconds)),
                None => println!("  {} failed to run detached", c.name),
            }
        }
        report("CPU in 10 s, detached, 4 idle", "s ", &cpu);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir_all(opmux_runtime());
}
