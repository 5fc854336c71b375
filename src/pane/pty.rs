//! The only user of portable-pty. Spawns a pane's program on a PTY that already
//! has the pane's size, and runs the three threads that connect it to opmux:
//!
//! - the reader waits for output and passes chunks on at once, so the program
//!   is only ever held back by a full pipeline, never by drawing (at most,
//!   parsing a small chunk, it waits for the screen's lock); once the
//!   run has printed a flood's worth, it lowers the run's priority. A small
//!   chunk that finds the parser with nothing queued (an echo, a prompt) it
//!   parses itself, saving a thread's wake-up, and then hands the PTY to
//!   the main task, which reads it while output stays small (an echo then
//!   wakes the main task directly, as tmux's server is woken) and hands it
//!   back once output grows;
//! - the parser feeds the chunks to the pane's [`Screen`], forwards the replies
//!   to terminal queries, and wakes the main task once per frame at most;
//! - the writer takes the input the main task could not write at once, so a
//!   program that stops reading its input can never block the main task.
//!
//! The PTY is non-blocking. The main task writes a key straight to it while
//! nothing is queued, saving a thread's wake-up on every keystroke's echo;
//! what does not fit goes to the writer, and so does everything after it
//! until the writer has caught up, so input stays in order. opmux never
//! takes portable-pty's writer, whose drop would type a newline and EOF
//! into the pane.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, mpsc};
use std::thread;

use anyhow::{Context, Result};
use nix::unistd::Pid;
use parking_lot::{Mutex, MutexGuard};
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::mpsc::UnboundedSender;

use super::screen::Screen;
use crate::config::PaneSpec;
use crate::event::Event;
use crate::{PaneId, Size};

/// How many chunks may wait between the reader and the parser (besides the
/// parser's own lookahead). Past that the reader stops reading and the kernel
/// holds the program back, as a real terminal would; it bounds memory under a
/// flood.
const PIPELINE_CHUNKS: usize = 32;
const READ_CHUNK: usize = 64 * 1024;
/// The parser hands the screen lock over after this much input (a few
/// milliseconds of parsing, history capture included, on a wide pane), so a
/// flood never keeps the renderer waiting long.
const PARSE_BUDGET: usize = 8 * 1024;

/// What connects a pane's threads to the rest of opmux.
#[derive(Clone)]
pub struct Wiring {
    pub id: PaneId,
    /// The run these threads belong to, carried on their events.
    pub run: u32,
    /// The run whose output the screen takes; once it moves on, this run's
    /// late output is dropped instead of mixing into the next run's screen.
    pub live_run: Arc<std::sync::atomic::AtomicU32>,
    pub screen: Arc<Mutex<Screen>>,
    /// Set by the parser when the screen changed, cleared by the renderer. The
    /// parser only wakes the main task when it flips this from false to true.
    pub dirty: Arc<AtomicBool>,
    pub events: UnboundedSender<Event>,
    /// The pane's `ready` pattern; the parser reports the first rendered
    /// line that matches it.
    pub ready: Option<regex::Regex>,
    /// The pane's `attention` pattern; the parser reports each rendered
    /// line that matches it.
    pub attention: Option<regex::Regex>,
    /// How many nice steps lower the run's programs go once it floods.
    pub flood_nice: u8,
}

/// Lowers a run's priority once it floods beside as many other floods as
/// there are CPUs, as soon as that and the run's session are known: the
/// reader sees the flood, the spawn learns the session leader, and either
/// may come first.
///
/// A lone flood on a machine with CPUs to spare is left alone: nothing
/// waits for its CPU, and slowing it down only makes its reader wake for
/// smaller reads (on 2 cores, lowering a lone `seq 1 2000000` raised
/// opmux's CPU for it from 1.25 to 1.8-2.0 s).
#[derive(Default)]
struct FloodPriority {
    /// How many nice steps lower; 0 leaves the run alone.
    by: u8,
    /// The session leader's pid, once spawned; 0 before.
    leader: std::sync::atomic::AtomicI32,
    /// Flooding beside enough other floods to compete for the CPU.
    crowded: AtomicBool,
    done: AtomicBool,
}

/// The runs that flooded, while their readers run.
static FLOODS: std::sync::Mutex<Vec<std::sync::Weak<FloodPriority>>> =
    std::sync::Mutex::new(Vec::new());

impl FloodPriority {
    fn flooded(self: &Arc<Self>) {
        let mut floods = FLOODS.lock().unwrap_or_else(|p| p.into_inner());
        floods.retain(|f| f.strong_count() > 0);
        floods.push(Arc::downgrade(self));
        let cpus = thread::available_parallelism().map_or(1, usize::from);
        if floods.len() >= cpus {
            for flood in floods.iter().filter_map(std::sync::Weak::upgrade) {
                flood.crowded.store(true, Ordering::Release);
                flood.apply();
            }
        }
    }

    fn spawned(&self, leader: Pid) {
        self.leader.store(leader.as_raw(), Ordering::Release);
        self.apply();
    }

    fn apply(&self) {
        let leader = self.leader.load(Ordering::Acquire);
        if self.by == 0
            || leader == 0
            || !self.crowded.load(Ordering::Acquire)
            || self.done.swap(true, Ordering::AcqRel)
        {
            return;
        }
        match crate::process::lower_session_priority(Pid::from_raw(leader), self.by) {
            Ok(nice) => tracing::info!(leader, nice, "a flooding pane's priority was lowered"),
            Err(e) => tracing::warn!(leader, "a flooding pane's priority stayed: {e}"),
        }
    }
}

/// A running pane's PTY. Dropping it closes opmux's side of the terminal.
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    input: Input,
    /// The PTY, for writing input at once.
    direct: Arc<File>,
    pub pid: Pid,
    /// The terminal's device, `/dev/pts/N`.
    tty: Option<std::path::PathBuf>,
}

/// `error`'s text with each OS error portable-pty wrote in Rust's debug
/// form (`Os { code: 19, kind: …, message: "No such device" }`) written as
/// people read it: `No such device (os error 19)`.
fn os_errors_read(error: &anyhow::Error) -> String {
    let text = format!("{error:#}");
    let debug = regex::Regex::new(r#"Os \{ code: (\d+), kind: \w+, message: "([^"]*)" \}"#)
        .expect("a valid pattern");
    debug.replace_all(&text, "$2 (os error $1)").into_owned()
}

impl Pty {
    /// Starts `spec` on a new PTY of `size`, with `env` added to its
    /// environment, and its three threads.
    pub fn spawn(
        spec: &PaneSpec,
        size: Size,
        env: &[(&str, &str)],
        wiring: Wiring,
    ) -> Result<Self> {
        let size = size.at_least_one();
        let pair = native_pty_system()
            .openpty(pty_size(size))
            .map_err(|e| anyhow::anyhow!("opening a pseudo-terminal: {}", os_errors_read(&e)))?;
        set_utf8_input(pair.master.as_ref())?;
        let mut cmd = CommandBuilder::from_argv(spec.argv.iter().map(Into::into).collect());
        for (key, value) in &spec.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            }
        }
        cmd.env("TERM", "xterm-256color");
        for (key, value) in env {
            cmd.env(key, value);
        }
        // portable-pty falls back to the home folder for a missing cwd; a pane
        // must rather fail visibly, so the folder is checked and always given.
        let cwd = match &spec.cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("reading the current folder")?,
        };
        if !cwd.is_dir() {
            anyhow::bail!("working folder {} does not exist", cwd.display());
        }
        // portable-pty closes every inherited descriptor in the child, std's
        // exec-error pipe included, so a failed exec could not be reported:
        // the program is looked up here instead.
        find_program(&spec.argv[0], &cwd, spec)?;
        cmd.cwd(cwd);
        // The threads start first: once the program runs, nothing may fail
        // and leave it running behind a pane that says it failed. If the
        // spawn fails, dropping the slave ends the reader, and with it the rest.
        let (reader, writer) = nonblocking_ends(pair.master.as_ref())?;
        let writer = Arc::new(writer);
        let (input, input_rx) = Input::new(MAX_QUEUED_INPUT);
        let (chunks, chunks_rx) = mpsc::sync_channel::<Chunk>(PIPELINE_CHUNKS);
        let name = |role: &str| format!("pane{}-{role}", wiring.id.0 + 1);
        let priority = Arc::new(FloodPriority {
            by: wiring.flood_nice,
            ..Default::default()
        });
        let on_flood = priority.clone();
        if wiring.ready.is_some() || wiring.attention.is_some() {
            wiring.screen.lock().watch_scrolled_lines();
        }
        let parsing = Arc::new(Parsing {
            wiring: wiring.clone(),
            replies: input.clone(),
            pending: AtomicUsize::new(0),
            ready_seen: AtomicBool::new(false),
        });
        let for_reader = parsing.clone();
        let quiet = QuietReads::start(&reader, &parsing);
        thread::Builder::new()
            .name(name("reader"))
            .spawn(move || read_loop(reader, chunks, &on_flood, &for_reader, quiet))
            .context("starting the reader thread")?;
        thread::Builder::new()
            .name(name("parser"))
            .spawn(move || parse_loop(chunks_rx, &parsing))
            .context("starting the parser thread")?;
        let (queued, direct) = (input.queued.clone(), writer.clone());
        thread::Builder::new()
            .name(name("writer"))
            .spawn(move || write_loop(&writer, input_rx, &queued, wiring))
            .context("starting the writer thread")?;

        let child = pair
            .slave
            .spawn_command(cmd)
            .with_context(|| format!("starting {:?}", spec.argv))?;
        // Our copy of the slave must go, or reads would never see the end of output.
        drop(pair.slave);
        // std's Command always yields a pid for a spawned child.
        let pid = child.process_id().map(|p| Pid::from_raw(p as i32));
        // The one reaper owns waitpid; portable-pty's handle is not used to wait.
        drop(child);
        let pid = pid.context("the spawned program has no pid")?;
        priority.spawned(pid);
        let tty = pair.master.tty_name();
        Ok(Self {
            master: pair.master,
            input,
            direct,
            pid,
            tty,
        })
    }

    /// Writes bytes to the program's input: at once if they fit and nothing
    /// is queued before them, else through the writer. Never blocks. Returns
    /// false when they were dropped: the program left [`MAX_QUEUED_INPUT`]
    /// unread already.
    pub fn write(&self, bytes: Vec<u8>) -> bool {
        let written = if self.input.queued.load(Ordering::Acquire) == 0 {
            crate::write_what_fits(&*self.direct, &bytes)
        } else {
            0
        };
        let mut bytes = bytes;
        bytes.drain(..written);
        bytes.is_empty() || self.input.push(bytes)
    }

    /// Tells the kernel the terminal's new size, which sends SIGWINCH to the
    /// program's foreground group.
    pub fn resize(&self, size: Size) -> Result<()> {
        self.master.resize(pty_size(size.at_least_one()))
    }

    /// The terminal's device, `/dev/pts/N`.
    pub fn tty(&self) -> Option<&std::path::Path> {
        self.tty.as_deref()
    }

    /// The PTY's foreground process group, which an interactive shell moves
    /// its jobs into.
    pub fn foreground_group(&self) -> Option<Pid> {
        self.master.process_group_leader().map(Pid::from_raw)
    }
}

/// Checks that `program` can be executed, as exec would find it: a path with
/// a `/` relative to `cwd`, anything else on `$PATH` (the pane's own if it
/// sets one).
fn find_program(program: &str, cwd: &std::path::Path, spec: &PaneSpec) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = cwd.join(program);
        if runnable(&path) {
            return Ok(());
        }
        anyhow::bail!(
            "program {} does not exist or is not executable",
            path.display()
        );
    }
    let path_var = match spec.env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, value)) => value.clone().unwrap_or_default(),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    if path_var
        .split(':')
        .any(|dir| runnable(&cwd.join(dir).join(program)))
    {
        return Ok(());
    }
    anyhow::bail!("program `{program}` is not on $PATH")
}

fn pty_size(size: Size) -> PtySize {
    PtySize {
        rows: size.rows,
        cols: size.cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// The most input a pane's program may leave unread before more is
/// dropped: a program that stopped reading (stopped, or busy) must not make
/// opmux hold whatever is pasted or held down without bound.
pub const MAX_QUEUED_INPUT: usize = 16 << 20;

/// Input for the writer thread, with a count of the bytes it has not
/// written yet. Nothing empty is ever queued, so no bytes waiting is no
/// message waiting.
#[derive(Clone)]
struct Input {
    tx: mpsc::Sender<Vec<u8>>,
    /// Bytes queued and not written yet.
    queued: Arc<AtomicUsize>,
    /// The most bytes that may wait.
    limit: usize,
}

impl Input {
    fn new(limit: usize) -> (Self, Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel();
        let input = Self {
            tx,
            queued: Arc::default(),
            limit,
        };
        (input, rx)
    }

    /// Queues bytes for the writer, unless that would leave more than its
    /// limit waiting: then they are dropped and it returns false. Never
    /// blocks.
    fn push(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len();
        if self.queued.load(Ordering::Acquire) + len > self.limit {
            return false;
        }
        self.queued.fetch_add(len, Ordering::AcqRel);
        // The writer thread only ends once every sender is gone or after it
        // reported a write error, so a failed send has already been reported.
        if self.tx.send(bytes).is_err() {
            self.queued.fetch_sub(len, Ordering::AcqRel);
        }
        true
    }
}

/// Turns on `IUTF8`, as tmux does: the line discipline then knows input is
/// UTF-8, so Backspace in canonical mode (`cat`, `read`) erases a whole
/// multibyte character rather than its last byte. Set before the program
/// starts, on the master, which shares its termios with the slave.
fn set_utf8_input(master: &dyn MasterPty) -> Result<()> {
    use nix::sys::termios::{InputFlags, SetArg, tcgetattr, tcsetattr};
    let fd = master
        .as_raw_fd()
        .context("the PTY has no file descriptor")?;
    // SAFETY: the master outlives this call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut termios = tcgetattr(fd).context("reading the PTY's modes")?;
    termios.input_flags.insert(InputFlags::IUTF8);
    tcsetattr(fd, SetArg::TCSANOW, &termios).context("setting the PTY's modes")?;
    Ok(())
}

/// Two non-blocking handles on `master`, to read from and to write to.
/// They share one open file, so the flag is set for both at once.
fn nonblocking_ends(master: &dyn MasterPty) -> Result<(File, File)> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let fd = master
        .as_raw_fd()
        .context("the PTY has no file descriptor")?;
    // SAFETY: the master outlives this call, and the handles are copies.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    let reader = File::from(fd.try_clone_to_owned().context("cloning the PTY")?);
    let writer = File::from(fd.try_clone_to_owned().context("cloning the PTY")?);
    Ok((reader, writer))
}

/// Waits until `fd` is ready for `events`, or has hung up.
pub(crate) fn wait_for(fd: BorrowedFd, events: nix::poll::PollFlags) {
    let mut fds = [nix::poll::PollFd::new(fd, events)];
    // EINTR only means another try.
    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
}

enum Chunk {
    Data(Vec<u8>),
    End(Option<String>),
}

/// Reads the program's output until it ends. Small output that finds the
/// parser with nothing pending is parsed here and now, which spares a key's
/// echo a thread's wake-up; anything else goes down the pipeline. Lowers the
/// run's priority once its output passes [`FLOOD_BYTES`]: counted here,
/// where output arrives first, and done here, not by the main task, which
/// may be busy starting other panes while the first ones flood, nor after
/// parsing, which a flood among other floods may take a second to get to.
fn read_loop(
    mut reader: File,
    chunks: SyncSender<Chunk>,
    priority: &Arc<FloodPriority>,
    parsing: &Parsing,
    mut quiet: Option<QuietReads>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut flood = FloodWatch::default();
    // When output last came: only output after a pause is handed to the
    // main task, so a stream of small chunks stays here.
    let mut last_read: Option<std::time::Instant> = None;
    let end = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_for(reader.as_fd(), nix::poll::PollFlags::POLLIN);
            }
            Ok(n) => {
                let now = std::time::Instant::now();
                let after_pause = last_read.is_none_or(|at| now - at >= QUIET_GAP);
                last_read = Some(now);
                if flood.count(n) {
                    priority.flooded();
                }
                // Only the reader adds to `pending`, so none pending stays so
                // until this chunk is parsed, and output stays in order.
                if n <= INLINE_PARSE && parsing.pending.load(Ordering::Acquire) == 0 {
                    parsing.parse_small(&buf[..n]);
                    // Quiet again: the main task reads until output grows.
                    if after_pause && let Some(main) = &quiet {
                        if !main.take_turn() {
                            quiet = None;
                        }
                        // Given back: output is coming faster than frames.
                        last_read = Some(std::time::Instant::now());
                    }
                    continue;
                }
                parsing.pending.fetch_add(1, Ordering::AcqRel);
                if chunks.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Linux reports the end of a PTY's output as EIO once every
            // process has closed the terminal.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break None,
            Err(e) => break Some(format!("reading output: {e}")),
        }
    };
    let _ = chunks.send(Chunk::End(end));
}

/// The reader's side of a quiet pane's hand-over: while a pane prints
/// little (an echo, a prompt, a line now and then), the main task reads and
/// parses its output itself, woken by the PTY as tmux's server is, which
/// spares each echo the reader's wake-up on its way to a frame. Output that
/// grows hands the PTY back to the reader, so a flood never wakes the main
/// task more than its frames do.
///
/// One side reads at a time and hands over only with nothing queued for the
/// parser, so output stays in order: the reader stops reading until the
/// main task gives the PTY back.
struct QuietReads {
    /// Tells the main task's reading task it is its turn.
    turn: tokio::sync::mpsc::UnboundedSender<()>,
    /// The PTY comes back here.
    back: mpsc::Receiver<()>,
}

impl QuietReads {
    /// Starts the main task's side on the runtime the caller runs in;
    /// `None` outside a runtime, where the reader alone reads.
    fn start(reader: &File, parsing: &Arc<Parsing>) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let pty = reader.try_clone().ok()?;
        let (turn, turns) = tokio::sync::mpsc::unbounded_channel();
        let (give_back, back) = mpsc::channel();
        runtime.spawn(read_while_quiet(pty, turns, give_back, parsing.clone()));
        Some(Self { turn, back })
    }

    /// Hands the PTY to the main task and waits until it comes back.
    /// Returns false if the main task's side is gone: the reader then
    /// reads on its own.
    fn take_turn(&self) -> bool {
        self.turn.send(()).is_ok() && self.back.recv().is_ok()
    }
}

/// The main task's side of [`QuietReads`]: on each turn, reads and parses
/// small output as it comes, until a read fills the buffer or finds a frame
/// still owed for the last one, which is output coming faster than frames;
/// then gives the PTY back. The end of output, or any error, goes back to
/// the reader too, which reads it again and reports it; this side then ends.
async fn read_while_quiet(
    pty: File,
    mut turns: tokio::sync::mpsc::UnboundedReceiver<()>,
    give_back: mpsc::Sender<()>,
    parsing: Arc<Parsing>,
) {
    use tokio::io::{Interest, unix::AsyncFd};
    let mut pty = pty;
    let mut buf = [0u8; INLINE_PARSE];
    while turns.recv().await.is_some() {
        // SAFETY: the File owns its descriptor, which stays open and the
        // same until `into_inner` takes the File back.
        let watched = match unsafe { AsyncFd::register_with_interest(pty, Interest::READABLE) } {
            Ok(watched) => watched,
            Err(e) => {
                tracing::debug!("a quiet pane's output stays with its reader: {e}");
                let _ = give_back.send(());
                return;
            }
        };
        let over = loop {
            let Ok(mut ready) = watched.readable().await else {
                break true;
            };
            match ready.try_io(|file| file.get_ref().read(&mut buf)) {
                Err(_would_block) => {}
                Ok(Ok(n)) if n > 0 => {
                    let owed = parsing.wiring.dirty.load(Ordering::Acquire);
                    parsing.parse_small(&buf[..n]);
                    if owed || n == buf.len() {
                        break false;
                    }
                }
                Ok(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Ok(_) => break true,
            }
        };
        // Out of the runtime's poll set first: the reader's reads must not
        // wake the main task.
        pty = watched.into_inner();
        if give_back.send(()).is_err() || over {
            return;
        }
    }
}

/// How long output must pause before the reader hands a small chunk's PTY
/// to the main task: about a frame.
const QUIET_GAP: std::time::Duration = std::time::Duration::from_millis(16);

/// The most output the reader parses itself, when the parser has nothing
/// pending: an echo, a prompt, a log line. More goes to the parser, which
/// reads ahead of a flood and parses it while the reader keeps reading.
const INLINE_PARSE: usize = 1024;

/// What the reader and the parser share to parse a run's output in order,
/// and what follows parsing.
struct Parsing {
    wiring: Wiring,
    /// Where the replies to terminal queries go.
    replies: Input,
    /// Chunks the reader has sent to the parser and the parser has not
    /// finished with.
    pending: AtomicUsize,
    /// Whether the run's `ready` line has been seen; changed only under the
    /// screen's lock.
    ready_seen: AtomicBool,
}

impl Parsing {
    /// Parses a little output on the reader's thread.
    fn parse_small(&self, data: &[u8]) {
        let answer = {
            let mut screen = self.wiring.screen.lock();
            if self.wiring.live_run.load(Ordering::Acquire) == self.wiring.run {
                screen.process(data);
            }
            self.after(&mut screen)
        };
        self.announce(answer);
    }

    /// What follows a stretch of parsing, with the screen still locked:
    /// clipboard copies go out, the ready line is looked for. Returns the
    /// screen's replies to terminal queries.
    fn after(&self, screen: &mut Screen) -> Vec<u8> {
        let wiring = &self.wiring;
        for text in screen.take_copies() {
            let _ = wiring.events.send(Event::PaneCopy {
                pane: wiring.id,
                run: wiring.run,
                text,
            });
        }
        let ready = (wiring.ready.as_ref()).filter(|_| !self.ready_seen.load(Ordering::Acquire));
        let (alerts, ready_found) = screen.take_alerts(wiring.attention.as_ref(), ready);
        if ready_found {
            self.ready_seen.store(true, Ordering::Release);
            if wiring.attention.is_none() {
                screen.stop_watching_lines();
            }
            let _ = wiring.events.send(Event::PaneReady {
                pane: wiring.id,
                run: wiring.run,
            });
        }
        for alert in alerts {
            let _ = wiring.events.send(Event::PaneAlert {
                pane: wiring.id,
                run: wiring.run,
                alert,
            });
        }
        screen.take_replies()
    }

    /// Once the screen is unlocked: sends `answer` back to the program and
    /// wakes the main task, unless a wake-up is already on its way.
    fn announce(&self, answer: Vec<u8>) {
        if !answer.is_empty() {
            self.replies.push(answer);
        }
        if !self.wiring.dirty.swap(true, Ordering::AcqRel) {
            let _ = self.wiring.events.send(Event::PaneOutput(self.wiring.id));
        }
    }
}

/// The most output the parser takes from the pipeline ahead of parsing it:
/// enough to see more lines coming than a history keeps during a flood.
const LOOKAHEAD_BYTES: usize = 1024 * 1024;

/// Output taken from the pipeline and not parsed yet, with a count of what
/// tells whether the rows scrolled off before it will outlive it in the
/// history.
#[derive(Default)]
pub struct Lookahead {
    /// Each chunk with its [`Lookahead::counts`], so each byte is counted
    /// once on the way in.
    chunks: std::collections::VecDeque<(Chunk, (usize, usize))>,
    /// Bytes of queued output.
    bytes: usize,
    /// Line feeds (LF, VT, FF) in the queued output.
    line_feeds: usize,
    /// Bytes that may start a control sequence (ESC, and the first byte of
    /// a C1 control written in UTF-8) in the queued output.
    escapes: usize,
}

impl Lookahead {
    /// (line feeds, bytes that may start a control sequence) in `data`.
    fn counts(data: &[u8]) -> (usize, usize) {
        data.iter().fold((0, 0), |(feeds, escapes), &b| match b {
            b'\n' | 0x0b | 0x0c => (feeds + 1, escapes),
            0x1b | 0xc2 => (feeds, escapes + 1),
            _ => (feeds, escapes),
        })
    }

    fn push(&mut self, chunk: Chunk) {
        let mut counts = (0, 0);
        if let Chunk::Data(data) = &chunk {
            counts = Self::counts(data);
            self.line_feeds += counts.0;
            self.escapes += counts.1;
            self.bytes += data.len();
        }
        self.chunks.push_back((chunk, counts));
    }

    /// Takes the oldest chunk out, with its counts.
    fn pop(&mut self) -> Option<(Chunk, (usize, usize))> {
        let (chunk, counts) = self.chunks.pop_front()?;
        if let Chunk::Data(data) = &chunk {
            self.line_feeds -= counts.0;
            self.escapes -= counts.1;
            self.bytes -= data.len();
        }
        Some((chunk, counts))
    }

    /// Takes what the pipeline already holds, up to [`LOOKAHEAD_BYTES`].
    fn fill(&mut self, pipeline: &Receiver<Chunk>) {
        while self.bytes < LOOKAHEAD_BYTES {
            match pipeline.try_recv() {
                Ok(chunk) => self.push(chunk),
                Err(_) => break,
            }
        }
    }

    /// Whether every row scrolled off before the queued output is sure to
    /// be evicted from a history of `lines` lines on a screen of `rows`
    /// rows once the queued output is parsed. Without control sequences
    /// nothing can move the cursor up or stop rows from scrolling, so each
    /// line feed beyond a screenful scrolls a row off and ends a line.
    pub fn dooms(&self, lines: usize, rows: usize) -> bool {
        self.dooms_with(lines, rows, (0, 0))
    }

    /// [`Lookahead::dooms`], with `more` (line feeds, escapes) counted in
    /// output that comes before the queued chunks and after what is parsed.
    fn dooms_with(&self, lines: usize, rows: usize, more: (usize, usize)) -> bool {
        self.escapes + more.1 == 0 && self.line_feeds + more.0 >= lines + 2 * rows + 16
    }
}

/// Output a run prints before its reader and parser count as a flood's,
/// and before the run is reported as flooding.
pub const FLOOD_BYTES: usize = 64 * 1024;

/// How much lower a flood's reader and parser run than the rest of opmux (a
/// nice value), so that the thread that reads keys and draws, and the
/// threads of quiet panes, get the CPU first. On 2 cores with 16 panes
/// flooding, the p90 key echo in a quiet 17th pane went from about 80 ms
/// (parsers at +5 from the start, readers at 0) to about 40 ms. A pane's
/// threads start at opmux's priority and are lowered once, when their run
/// has passed [`FLOOD_BYTES`]: a thread cannot raise its priority again
/// without privileges, and a pane that never floods keeps its echo fast.
const FLOOD_NICENESS: i32 = 19;

/// Counts a run's output through one thread, and lowers that thread's
/// priority once the run turns out to be a flood.
#[derive(Default)]
struct FloodWatch {
    bytes: usize,
    lowered: bool,
}

impl FloodWatch {
    /// Counts `bytes` more; returns whether they made the run a flood.
    fn count(&mut self, bytes: usize) -> bool {
        self.bytes += bytes;
        let crossed = !self.lowered && self.bytes > FLOOD_BYTES;
        if crossed {
            self.lowered = true;
            lower_priority(FLOOD_NICENESS);
        }
        crossed
    }
}

/// Lowers the calling thread's CPU priority by `niceness`. Best effort:
/// failing leaves the thread as it was.
fn lower_priority(niceness: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take no pointers; a thread id given
        // to PRIO_PROCESS names that one thread on Linux.
        unsafe {
            let tid = nix::libc::gettid();
            let now = nix::libc::getpriority(nix::libc::PRIO_PROCESS, tid as nix::libc::id_t);
            nix::libc::setpriority(
                nix::libc::PRIO_PROCESS,
                tid as nix::libc::id_t,
                now.saturating_add(niceness),
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = niceness;
}

fn parse_loop(chunks: Receiver<Chunk>, parsing: &Parsing) {
    let wiring = &parsing.wiring;
    let mut flood = FloodWatch::default();
    let mut ahead = Lookahead::default();
    // The chunk being parsed, how much of it is done, and the counts of the
    // rest.
    let mut current: Option<(Vec<u8>, usize, (usize, usize))> = None;
    loop {
        if current.is_none() {
            if ahead.chunks.is_empty() {
                match chunks.recv() {
                    Ok(chunk) => ahead.push(chunk),
                    Err(_) => return,
                }
            }
            ahead.fill(&chunks);
            match ahead.pop() {
                Some((Chunk::Data(data), counts)) => current = Some((data, 0, counts)),
                Some((Chunk::End(error), _)) => {
                    // The pane's output ended: what its log holds goes to disk now.
                    let log_error = wiring.screen.lock().flush_log();
                    let error = error.or(log_error.map(|e| format!("writing the log: {e}")));
                    let _ = wiring.events.send(Event::PaneOutputClosed {
                        pane: wiring.id,
                        run: wiring.run,
                        error,
                    });
                    return;
                }
                None => continue,
            }
        }
        // Chunks parsed to their end in this stretch.
        let mut finished = 0;
        let answer = {
            let mut screen = wiring.screen.lock();
            let live = wiring.live_run.load(Ordering::Acquire) == wiring.run;
            let mut parsed = 0;
            // Parse up to a budget in one hold of the lock: the rest of this
            // chunk, then what else is already waiting.
            while let Some((data, done, rest)) = &mut current {
                let end = (*done + PARSE_BUDGET - parsed).min(data.len());
                if live {
                    let keeps = screen.history().capacity();
                    // What follows in this chunk counts too; and a sequence
                    // cut off at the end of what is parsed now ends later.
                    let slice = &data[*done..end];
                    let parsed_now = Lookahead::counts(slice);
                    *rest = (rest.0 - parsed_now.0, rest.1 - parsed_now.1);
                    let (feeds, mut escapes) = *rest;
                    escapes += slice[slice.len().saturating_sub(32)..]
                        .iter()
                        .filter(|&&b| b == 0x1b || b == 0xc2)
                        .count();
                    let rows = usize::from(screen.size().rows);
                    if ahead.dooms_with(keeps, rows, (feeds, escapes)) {
                        screen.process_doomed(&data[*done..end]);
                    } else {
                        screen.process(&data[*done..end]);
                    }
                }
                parsed += end - *done;
                flood.count(end - *done);
                *done = end;
                if *done < data.len() {
                    break;
                }
                current = None;
                finished += 1;
                ahead.fill(&chunks);
                if parsed >= PARSE_BUDGET
                    || !matches!(ahead.chunks.front(), Some((Chunk::Data(_), _)))
                {
                    break;
                }
                if let Some((Chunk::Data(data), counts)) = ahead.pop() {
                    current = Some((data, 0, counts));
                }
            }
            let answer = parsing.after(&mut screen);
            // A fair unlock hands the lock to a waiting renderer instead of
            // letting this loop take it straight back under a flood.
            MutexGuard::unlock_fair(screen);
            answer
        };
        parsing.announce(answer);
        // Last: from here on the reader may parse on its own.
        parsing.pending.fetch_sub(finished, Ordering::AcqRel);
    }
}

fn write_loop(writer: &File, input: Receiver<Vec<u8>>, queued: &AtomicUsize, wiring: Wiring) {
    let mut failed = false;
    for bytes in input {
        if !failed && let Err(e) = write_all(writer, &bytes) {
            failed = true;
            let _ = wiring.events.send(Event::PaneInputFailed {
                pane: wiring.id,
                run: wiring.run,
                error: e.to_string(),
            });
        }
        queued.fetch_sub(bytes.len(), Ordering::AcqRel);
    }
    // Every sender is gone: the `Pty`, dropped only once no process of the
    // run is left, and the parser, gone at the end of output. So the newline
    // and EOF portable-pty types into the terminal on drop reach no one.
}

/// Writes all of `bytes` to the non-blocking `writer`, waiting whenever the
/// program's input is full.
fn write_all(mut writer: &File, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match writer.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_for(writer.as_fd(), nix::poll::PollFlags::POLLOUT);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_os_error_in_debug_form_is_written_as_people_read_it() {
        let error = anyhow::anyhow!(
            "failed to openpty: {:?}",
            std::io::Error::from_raw_os_error(19)
        );
        assert_eq!(
            super::os_errors_read(&error),
            "failed to openpty: No such device (os error 19)"
        );
        let plain = anyhow::anyhow!("no such folder");
        assert_eq!(super::os_errors_read(&plain), "no such folder");
    }

    #[test]
    fn input_past_the_limit_is_dropped_and_the_queue_stays_bounded() {
        let (input, unread) = super::Input::new(10);
        assert!(input.push(b"12345".to_vec()));
        assert!(input.push(b"67890".to_vec()));
        // Nothing was written: one more byte is one too many.
        assert!(!input.push(b"x".to_vec()));
        assert_eq!(input.queued.load(std::sync::atomic::Ordering::Acquire), 10);
        // Once the writer took the first message, room is back.
        let first = unread.recv().unwrap();
        input
            .queued
            .fetch_sub(first.len(), std::sync::atomic::Ordering::AcqRel);
        assert!(input.push(b"abc".to_vec()));
    }

    use super::*;

    fn ahead(chunks: &[&[u8]]) -> Lookahead {
        let mut ahead = Lookahead::default();
        for chunk in chunks {
            ahead.push(Chunk::Data(chunk.to_vec()));
        }
        ahead
    }

    #[test]
    fn only_plain_lines_beyond_the_history_doom_what_comes_before() {
        let many = "x\n".repeat(1000);
        // 1000 line feeds ahead: enough for 900 lines of history on 40 rows.
        assert!(ahead(&[many.as_bytes()]).dooms(900, 40));
        assert!(!ahead(&[many.as_bytes()]).dooms(990, 40), "too few");
        // Any control sequence could move the cursor back up.
        assert!(!ahead(&[many.as_bytes(), b"\x1b[A"]).dooms(900, 40));
        assert!(!ahead(&[many.as_bytes(), "\u{9b}A".as_bytes()]).dooms(900, 40));
        // Vertical tabs and form feeds feed lines too.
        assert!(
            ahead(&[
                "x\x0b".repeat(500).as_bytes(),
                "x\x0c".repeat(500).as_bytes()
            ])
            .dooms(900, 40)
        );
    }

    #[test]
    fn the_counts_follow_what_is_taken_out() {
        let mut ahead = ahead(&[b"a\x1b[m\n", b"b\nc\n"]);
        assert_eq!((ahead.line_feeds, ahead.escapes, ahead.bytes), (3, 1, 9));
        assert!(matches!(ahead.pop(), Some((Chunk::Data(_), _))));
        assert_eq!((ahead.line_feeds, ahead.escapes, ahead.bytes), (2, 0, 4));
    }
}
