//! The server: a process of its own that owns one session, detached from any
//! terminal (stdio on /dev/null), the child subreaper and the one reaper of
//! every pane. It listens on the session's socket; each attached client gets
//! a view of its own (focus, prompt, scroll mode, mouse) and frames drawn
//! for its size, while zoom, layout and the panes' one PTY size belong to
//! the session. The panes follow the size of the client that was active
//! last, as tmux's `window-size latest` does.
//!
//! The server reads a client's terminal and draws on it itself, as tmux's
//! does, once the client has set it up: a key and its echo then take no hop
//! through the client. A terminal it cannot open is read and drawn on by
//! the client, which passes input and frames on the connection. A terminal or client that stops reading never holds the
//! session up: at most one frame per client is on its way, and while it is,
//! that client's changes wait in its painter, so the next frame it gets
//! brings it up to date.
//!
//! The server is a front end on the one loop (`driver`). Frames are paced as
//! the terminal front end's always were: drawn on the leading edge, then at
//! most once a [`FRAME`], no timer while nothing changes.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use crossterm::event::KeyEvent;
use nix::sys::signal::Signal;
use ratatui::backend::CrosstermBackend;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::{self, UnboundedSender, unbounded_channel};

use crate::config::{PaneSpec, Settings};
use crate::driver::{self, End};
use crate::event::Event;
use crate::keys::Keymap;
use crate::pane::Pane;
use crate::process;
use crate::protocol::{
    self, Control, Decoder, EventLine, Hello, Message, PaneAction, ProtocolError, SessionInfo,
    Want, unix_seconds,
};
use crate::registry::Claimed;
use crate::runtime::{self, Host, Signals, apply, log_event};
use crate::session::control::{Condition, Until, Verdict, Watch};
use crate::session::{Command, Effect, Happened, Note, Session};
use crate::ui;
use crate::view::{self, View};
use crate::{PaneId, Size};

/// The shortest time between two frames: about 60 frames a second.
pub const FRAME: Duration = Duration::from_micros(16_667);
/// How long after the last frame the memory a burst of output left free is
/// given back to the system. One wake-up per burst, none while idle.
const TIDY_AFTER: Duration = Duration::from_millis(500);
/// How long accepting waits after it failed.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long the logs wait for output once processes survived SIGKILL.
const AFTER_SURVIVORS: Duration = Duration::from_millis(500);
/// How long a tied session waits for the terminal that started it to
/// attach; without it, it stops as on a lost terminal.
const TIE_LIMIT: Duration = Duration::from_secs(10);
/// Copies to the clipboard kept for the next client while none is attached.
const KEPT_COPIES: usize = 8;
/// How long a new connection has to say what it wants.
const HELLO_LIMIT: Duration = Duration::from_secs(5);
/// How long the server waits at exit for clients to take their last words.
const FAREWELL_LIMIT: Duration = Duration::from_secs(1);
/// How long after a keystroke output from the focused pane counts as its echo.
const ECHO_WINDOW: Duration = Duration::from_millis(250);
/// How many messages from clients may wait for the loop before their readers
/// wait too.
const CLIENT_QUEUE: usize = 64;

/// How a new session's server is started.
pub struct Start {
    pub settings: Settings,
    pub claimed: Claimed,
    /// The panes' size until a client attaches.
    pub size: Size,
    /// Losing the terminal only detaches (`-d`, `--persist`, `persist = true`).
    pub persistent: bool,
    /// The folder the session was started in, for `opmux ls`.
    pub folder: PathBuf,
    /// The opmux.toml it was started from, if any.
    pub config: Option<PathBuf>,
}

/// Forks the server off, detached from this terminal, and returns once it
/// has launched every pane that starts on its own (or has it waiting for a
/// dependency). Call it before any thread exists: the child goes on with
/// this process's memory, and a lock another thread held would stay held.
pub fn spawn(start: Start) -> Result<()> {
    let (ready_read, ready_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("making a pipe")?;
    let name = start.claimed.name.clone();
    // SAFETY: the caller runs no other thread, so the child may do anything
    // a single-threaded process may.
    match unsafe { nix::unistd::fork() }.context("starting the server")? {
        nix::unistd::ForkResult::Child => {
            drop(ready_read);
            // A session of its own, and a second fork so that the server is
            // not its leader: it can never get a controlling terminal.
            let _ = nix::unistd::setsid();
            // SAFETY: as above; still one thread.
            match unsafe { nix::unistd::fork() } {
                Ok(nix::unistd::ForkResult::Child) => {
                    let code = run(start, ready_write);
                    std::process::exit(code);
                }
                _ => std::process::exit(0),
            }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(ready_write);
            drop(start);
            let _ = nix::sys::wait::waitpid(child, None);
            let mut byte = [0u8; 1];
            let mut ready = std::fs::File::from(ready_read);
            match std::io::Read::read(&mut ready, &mut byte) {
                Ok(1) => Ok(()),
                _ => bail!(
                    "the server of session {name} ended before its panes started; its log may say why"
                ),
            }
        }
    }
}

/// The server's life: stdio on /dev/null, the session run until it ends,
/// the socket removed. Returns the exit status.
fn run(start: Start, ready: OwnedFd) -> i32 {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    close_inherited(&[start.claimed.listener.as_raw_fd(), ready.as_raw_fd()]);
    let path = start.claimed.path.clone();
    install_panic_hook(path.clone());
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(serve(start, ready)));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("the server failed: {e:#}");
            let _ = std::fs::remove_file(&path);
            1
        }
    }
}

/// Closes every file descriptor above stderr but `keep`: whatever the shell
/// or a harness that started opmux left open (a pipe `$(opmux -d)` reads, a
/// jobserver) must not stay open for the server's whole life.
fn close_inherited(keep: &[std::os::fd::RawFd]) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    // Read the whole list first: the listing has an fd of its own.
    let fds: Vec<std::os::fd::RawFd> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: nothing in this process owns these fds: the server has
            // opened nothing of its own so far (the listing's own fd, closed
            // already, only gives EBADF).
            unsafe { nix::libc::close(fd) };
        }
    }
}

/// The sockets of connected clients, for the panic hook, which can reach
/// nothing else, each with its count of messages queued: a socket with none
/// queued stands between two messages.
type Listed = (std::os::fd::RawFd, Arc<std::sync::atomic::AtomicUsize>);
static CLIENT_SOCKETS: std::sync::Mutex<Vec<Listed>> = std::sync::Mutex::new(Vec::new());

/// The exit status of a server that panicked.
const PANICKED: i32 = 101;

/// On a panic anywhere: SIGKILL every pane's processes first, then log it,
/// tell every client that stands between two messages why the session
/// ended (without waiting on one that stopped reading), close every
/// client's connection, remove the socket and exit non-zero.
fn install_panic_hook(socket: PathBuf) {
    std::panic::set_hook(Box::new(move |info| {
        process::kill_everything_now();
        tracing::error!("panic: {info}");
        let mut farewell = Vec::new();
        let message = format!("opmux: the server panicked: {info}");
        protocol::encode(
            &Message::Control(Control::Ended {
                status: PANICKED,
                message: Some(message),
            }),
            &mut farewell,
        );
        let _ = std::fs::remove_file(&socket);
        let sockets = CLIENT_SOCKETS.lock().map(|s| s.clone()).unwrap_or_default();
        for (fd, queued) in sockets {
            // A listed fd belongs to a live connection: its writer unlists it
            // before the connection closes.
            if queued.load(Ordering::Acquire) == 0 {
                let _ = nix::sys::socket::send(
                    fd,
                    &farewell,
                    nix::sys::socket::MsgFlags::MSG_DONTWAIT
                        | nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                );
            }
            let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
        }
        std::process::exit(PANICKED);
    }));
}

/// What a client's connection tells the loop.
enum FromClient {
    /// A connection said hello.
    Hello {
        id: u64,
        hello: Hello,
        writer: OwnedWriteHalf,
    },
    Message(u64, Control),
    /// The connection ended.
    Gone(u64),
    /// Client `id`'s last frame has been written.
    Drained(u64),
    /// What client `id`'s terminal sent, read by the server.
    Typed(u64, Vec<crossterm::event::Event>),
    /// Client `id`'s terminal hung up under the server's read.
    TerminalLost(u64),
}

/// Bytes for a connection's writer task.
struct Outgoing {
    bytes: Vec<u8>,
    /// A frame: the loop sends no other until this one is written.
    frame: bool,
    /// For the client's terminal, not its connection.
    terminal: bool,
}

/// The way to a connection, and to its client's terminal once the server
/// writes to it. While the writer task has nothing queued, bytes go
/// straight out without waiting; what is not taken at once goes to the
/// writer task, which waits for room. Both ways share the one queue, so a
/// goodbye on the connection never overtakes a frame still on its way to
/// the terminal, and the client restores its terminal after the last frame.
struct Link {
    /// The connection's id.
    id: u64,
    socket: Arc<OwnedWriteHalf>,
    /// The client's terminal, opened by the server, non-blocking.
    terminal: Option<Arc<AsyncFd<std::fs::File>>>,
    /// The client set its terminal up: frames may go to it.
    terminal_ready: bool,
    queue: UnboundedSender<Outgoing>,
    /// Messages handed to the writer task and not written yet.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// A frame is on its way: the next waits until it is written.
    in_flight: Arc<AtomicBool>,
    writer: tokio::task::AbortHandle,
    /// The task reading the client's terminal, once it runs.
    reader: Option<tokio::task::AbortHandle>,
}

impl Drop for Link {
    /// A client the session is done with has its terminal back at once:
    /// not one more key is read from it.
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

impl Link {
    fn control(&self, control: Control) {
        let mut bytes = Vec::new();
        protocol::encode(&Message::Control(control), &mut bytes);
        self.send(bytes, false, false);
    }

    /// Bytes for the client's terminal: written to it by the server, or
    /// sent for the client to write.
    fn raw(&self, raw: &[u8]) {
        if self.terminal.is_some() {
            self.send(raw.to_vec(), false, true);
        } else {
            let mut bytes = Vec::new();
            protocol::encode_bytes(raw, &mut bytes);
            self.send(bytes, false, false);
        }
    }

    /// Messages queued and not written yet.
    fn backlog(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether frames go to the client's terminal, without a header.
    fn writes_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// Whether a frame can be drawn for the client now.
    fn takes_frames(&self) -> bool {
        !self.in_flight.load(Ordering::Acquire) && (self.terminal.is_none() || self.terminal_ready)
    }

    fn send(&self, mut bytes: Vec<u8>, frame: bool, terminal: bool) {
        if self.queued.load(Ordering::Acquire) == 0 {
            let written = match &self.terminal {
                Some(tty) if terminal => crate::write_what_fits(tty.get_ref(), &bytes),
                _ => crate::write_what_fits(TryWrite(&self.socket), &bytes),
            };
            if written == bytes.len() {
                return;
            }
            bytes.drain(..written);
        }
        if frame {
            self.in_flight.store(true, Ordering::Release);
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        let out = Outgoing {
            bytes,
            frame,
            terminal,
        };
        if self.queue.send(out).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.in_flight.store(false, Ordering::Release);
        }
    }

    /// The client is gone: nothing more goes to what was its terminal,
    /// which its shell has again.
    fn cut(&self) {
        self.writer.abort();
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }

    /// Starts reading the client's terminal for client `id`: its keys,
    /// mouse and pastes come to the loop as events, without a hop through
    /// the client.
    fn read_terminal(&mut self, id: u64, to_loop: mpsc::Sender<FromClient>) {
        let Some(tty) = self.terminal.clone() else {
            return;
        };
        if self.reader.is_some() {
            return;
        }
        let task = tokio::spawn(async move {
            let mut parser = crate::input::InputParser::default();
            let mut buf = vec![0u8; 4096];
            loop {
                // An escape that ended the last read is a key of its own
                // unless more follows at once, as a sequence's rest does.
                let ready = match parser.waiting_escape() {
                    true => tokio::time::timeout(ESCAPE_TIME, tty.readable()).await.ok(),
                    false => Some(tty.readable().await),
                };
                let events = match ready {
                    None => parser.flush(),
                    Some(Err(_)) => break,
                    Some(Ok(mut ready)) => {
                        match ready.try_io(|tty| std::io::Read::read(&mut tty.get_ref(), &mut buf))
                        {
                            Err(_would_block) => continue,
                            Ok(Ok(n)) if n > 0 => parser.feed(&buf[..n]),
                            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            // The end of input, or an error: the terminal hung up.
                            Ok(_) => break,
                        }
                    }
                };
                if !events.is_empty() && to_loop.send(FromClient::Typed(id, events)).await.is_err()
                {
                    return;
                }
            }
            let _ = to_loop.send(FromClient::TerminalLost(id)).await;
        });
        self.reader = Some(task.abort_handle());
    }
}

/// A connection's writing half, written without waiting.
struct TryWrite<'a>(&'a OwnedWriteHalf);

impl std::io::Write for TryWrite<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the terminal a client named, for the server to read its input
/// from and write its frames to: only a terminal of the server's own user,
/// never as a controlling terminal, non-blocking so a slow terminal holds
/// nothing up.
fn open_terminal(path: &std::path::Path) -> Option<AsyncFd<std::fs::File>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let refuse = || {
        tracing::warn!(path = %path.display(), "a client named a terminal that is not its own");
        None
    };
    // Looked at before it is opened, so nothing but a character device of
    // this user is ever opened, and checked again once open.
    let before = std::fs::symlink_metadata(path).ok()?;
    let uid = nix::unistd::getuid().as_raw();
    if !before.file_type().is_char_device() || before.uid() != uid {
        return refuse();
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let after = file.metadata().ok()?;
    let same = after.dev() == before.dev() && after.ino() == before.ino();
    if !same || !nix::unistd::isatty(&file).unwrap_or(false) {
        return refuse();
    }
    // SAFETY: the File owns its descriptor, which stays open and the same
    // for as long as the AsyncFd holds it.
    unsafe { AsyncFd::register_with_interest(file, Interest::READABLE | Interest::WRITABLE) }.ok()
}

/// An attached client.
struct Client {
    id: u64,
    view: View,
    painter: ui::Painter,
    cache: ui::FrameCache,
    link: Link,
    /// A frame is owed once the one on its way is written.
    due: bool,
    /// The frame owed is an echo: it is drawn as soon as the one on its way
    /// is written, not a frame later.
    urgent: bool,
    /// Losing this client is losing the terminal the session started in.
    tied: bool,
}

struct Server {
    session: Session,
    clients: Vec<Client>,
    name: String,
    prefix: KeyEvent,
    /// Losing a terminal only detaches its client.
    persistent: bool,
    /// The next client to attach is the terminal the session started in.
    tie_next: bool,
    /// Whether the picture changed for every client.
    needs_redraw: bool,
    /// The client that was active last; the panes take its size.
    latest: Option<u64>,
    /// Connections waiting to hear that the session stopped.
    stoppers: Vec<Link>,
    /// Pane verbs waiting for their change to happen, each with what it
    /// waits for.
    acting: Vec<Acting>,
    /// `opmux wait`s not answered yet.
    waiting: Vec<(Link, Watch)>,
    /// Panes' bells ring the clients' terminals (`bell = "on"`).
    bell: bool,
    /// Panes' desktop notifications reach them (`notify = "allow"`).
    notify: bool,
    /// `opmux events` readers, each with the events it missed while it
    /// read too slowly.
    readers: Vec<(Link, u64)>,
    /// Clients attached or detached since the readers were last told.
    client_events: Vec<EventLine>,
    /// `opmux logs -f` readers: the pane, and the number of the next line
    /// each is owed.
    followers: Vec<(Link, PaneId, u64)>,
    /// When the followers are looked at again, while one is behind.
    follow_again: Option<Instant>,
    started: SystemTime,
    /// When a client last attached or typed.
    used: SystemTime,
    folder: PathBuf,
    config: Option<PathBuf>,
    /// The writers, to wait for at exit.
    writers: Vec<tokio::task::JoinHandle<()>>,
    from_clients: mpsc::Sender<FromClient>,
    /// When input was last written to a pane. Its echo is drawn at once.
    typed: Option<Instant>,
    /// A frame is due now, out of turn.
    frame_now: bool,
    /// An echo came in this wake-up: its frame is drawn at once.
    echo_pending: bool,
    /// The id the next connection gets.
    next_id: u64,
    /// When the next frame is drawn, if one is owed.
    frame_at: Option<Instant>,
    last_frame: Instant,
    /// The frame due is a key's echo.
    drawing_echo: bool,
    /// A pane left as it was for a synchronized update is drawn by then.
    held_until: Option<Instant>,
    /// When the memory a burst of output left free is given back.
    tidy_at: Option<Instant>,
    /// When a tied session whose terminal never attached stops.
    tie_by: Option<Instant>,
}

/// What the server listens to besides the panes and the signals.
struct Sources {
    listener: tokio::net::UnixListener,
    client_inbox: mpsc::Receiver<FromClient>,
}

/// Something from the [`Sources`].
enum Wake {
    Connected(UnixStream),
    Client(FromClient),
    /// Accepting failed; the loop just goes on.
    Nothing,
}

impl driver::FrontEnd for Server {
    type Sources = Sources;
    type Wake = Wake;

    async fn next(sources: &mut Sources) -> Wake {
        tokio::select! {
            Some(message) = sources.client_inbox.recv() => Wake::Client(message),
            accepted = sources.listener.accept() => match accepted {
                Ok((stream, _)) => Wake::Connected(stream),
                Err(e) => {
                    // Out of fds, say: trying again at once would spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    Wake::Nothing
                }
            },
        }
    }

    fn woke(&mut self, wake: Wake, events: &UnboundedSender<Event>) {
        match wake {
            Wake::Connected(stream) => match crate::registry::peer_is_us(&stream) {
                Ok(true) => {
                    self.next_id += 1;
                    let id = self.next_id;
                    tokio::spawn(read_connection(stream, id, self.from_clients.clone()));
                }
                _ => tracing::warn!("a connection from another user was dropped"),
            },
            Wake::Client(message) => {
                let effects = on_client(self, message, Instant::now());
                apply(self, effects, events);
            }
            Wake::Nothing => {}
        }
    }

    fn turn(&mut self, _events: &UnboundedSender<Event>, now: Instant) {
        if self.frame_at.is_none_or(|at| at > now) {
            return;
        }
        self.frame_at = None;
        self.last_frame = now;
        for pane in &self.session.panes {
            pane.dirty.store(false, Ordering::Release);
        }
        let echo = std::mem::take(&mut self.drawing_echo);
        self.draw(now, echo);
        self.tidy_at = Some(now + TIDY_AFTER);
        self.held_until = self
            .clients
            .iter()
            .filter_map(|c| c.cache.held_until())
            .min();
    }

    fn handle(&mut self, event: Event, events: &UnboundedSender<Event>) {
        self.echo_pending |= is_echo(self, &event);
        log_event(&self.session, &event);
        let effects = Host::update(self, event, Instant::now());
        apply(self, effects, events);
    }

    fn after_wake(&mut self) {
        self.watch();
        self.answer_acts();
        self.tell_readers();
        self.tell_followers();
        let echo = std::mem::take(&mut self.echo_pending);
        if echo || std::mem::take(&mut self.frame_now) {
            // One frame out of turn per keystroke: the echo shows at once.
            if echo {
                self.typed = None;
            }
            self.drawing_echo |= echo;
            self.frame_at = Some(Instant::now());
        } else if self.owes_frames() && self.frame_at.is_none() {
            self.frame_at = Some((self.last_frame + FRAME).max(Instant::now()));
        }
    }

    fn due_at(&self) -> Option<Instant> {
        [
            self.frame_at,
            self.held_until,
            self.tidy_at,
            self.tie_by,
            self.follow_again,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn due(&mut self, events: &UnboundedSender<Event>, now: Instant) {
        // The followers are looked at after this wake.
        if self.follow_again.is_some_and(|at| at <= now) {
            self.follow_again = None;
        }
        // A frame due is drawn at the top of the next turn.
        if self.held_until.is_some_and(|at| at <= now) {
            self.held_until = None;
            self.needs_redraw = true;
        }
        if self.tidy_at.is_some_and(|at| at <= now) {
            self.tidy_at = None;
            runtime::release_free_memory();
        }
        if self.tie_by.is_some_and(|at| at <= now) {
            self.tie_by = None;
            if self.tie_next && self.session.shutdown.is_none() {
                tracing::warn!("the terminal that started the session never attached: stopping");
                let quit = Command::Quit {
                    exit_code: 128 + Signal::SIGHUP as i32,
                    escalate: false,
                };
                let effects = self.command(quit, None, now);
                apply(self, effects, events);
            }
        }
    }

    fn shows_countdowns(&self) -> bool {
        true
    }

    fn countdown(&mut self) {
        self.needs_redraw = true;
    }
}

impl Host for Server {
    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn update(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        // A process event moves no view's focus: no focus report is owed.
        let effects = self.session.handle(event, now);
        self.pass_on_copies();
        self.needs_redraw = true;
        effects
    }

    fn remove_pane(&mut self, id: PaneId, now: Instant) -> (Option<Pane>, Vec<Effect>) {
        let removed = view::remove_pane(&mut self.session, &mut self.clients, id, now);
        let Some((pane, effects)) = removed else {
            return (None, Vec::new());
        };
        self.needs_redraw = true;
        (Some(pane), effects)
    }
}

impl AsMut<View> for Client {
    fn as_mut(&mut self) -> &mut View {
        &mut self.view
    }
}

impl Server {
    /// Carries out a command from any source (`from`: the client at that
    /// place, whose view focuses a pane it added), keeping every view's
    /// scroll modes on their text when panes change size.
    fn command(&mut self, command: Command, from: Option<usize>, now: Instant) -> Vec<Effect> {
        // Input for a program changes nothing drawn until its echo comes.
        self.needs_redraw |= !matches!(command, Command::Write(..));
        view::carry_out(&mut self.session, &mut self.clients, from, command, now)
    }

    /// Focus reports each client's view owes the programs.
    fn report_focus(&mut self, now: Instant) -> Vec<Effect> {
        view::report_focus(&mut self.session, &mut self.clients, now)
    }

    /// What programs put on the clipboard goes to the client active last;
    /// with none attached, the last few wait for the next one.
    fn pass_on_copies(&mut self) {
        if self.session.copies.is_empty() {
            return;
        }
        if self.clients.is_empty() {
            keep_last(&mut self.session.copies, KEPT_COPIES);
            return;
        }
        let copies = std::mem::take(&mut self.session.copies);
        let latest = self.latest;
        let at = self
            .clients
            .iter()
            .position(|c| Some(c.id) == latest)
            .or_else(|| self.clients.len().checked_sub(1));
        if let Some(at) = at {
            self.clients[at].view.clipboard.extend(copies);
        }
    }

    fn client(&mut self, id: u64) -> Option<&mut Client> {
        self.clients.iter_mut().find(|c| c.id == id)
    }

    /// The panes take the size of client `id`, which was just active.
    fn follow(&mut self, id: u64, now: Instant) -> Vec<Effect> {
        self.latest = Some(id);
        let Some(size) = self
            .clients
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.painter.size())
        else {
            return Vec::new();
        };
        if self.session.size == size {
            return Vec::new();
        }
        self.command(Command::Resize(size), None, now)
    }

    fn info(&self) -> SessionInfo {
        let running = self
            .session
            .panes
            .iter()
            .filter(|p| p.state.is_alive())
            .count();
        SessionInfo {
            name: self.name.clone(),
            folder: self.folder.display().to_string(),
            config: self.config.as_ref().map(|c| c.display().to_string()),
            panes_running: running as u32,
            panes_total: self.session.panes.len() as u32,
            clients: self.clients.len() as u32,
            started_unix: unix_seconds(self.started),
            pid: std::process::id(),
            used_unix: unix_seconds(self.used),
        }
    }

    /// Says goodbye to client `id` with `last`, and forgets it.
    fn drop_client(&mut self, id: u64, last: Option<Control>) {
        let Some(at) = self.clients.iter().position(|c| c.id == id) else {
            return;
        };
        let client = self.clients.remove(at);
        if let Some(last) = last {
            client.link.control(last);
        }
        self.client_event(id, "detached");
        if self.latest == Some(id) {
            self.latest = self.clients.last().map(|c| c.id);
        }
        self.needs_redraw = true;
    }

    /// Client `id` leaves and the session goes on, persistent from now on.
    fn detach(&mut self, id: u64) {
        tracing::info!(client = id, "detached");
        // The terminal that started the session detached: from now on no
        // terminal's loss stops it.
        if self.clients.iter().any(|c| c.id == id && c.tied) {
            self.persistent = true;
        }
        let session = self.name.clone();
        self.drop_client(id, Some(Control::Detached { session }));
    }

    /// Client `id`'s terminal is gone, or it got `signal`: a tied session
    /// stops as a quit does, a persistent one only loses the client.
    fn lost(&mut self, id: u64, signal: Option<Signal>, now: Instant) -> Vec<Effect> {
        let tied = self.clients.iter().any(|c| c.id == id && c.tied);
        if tied && !self.persistent {
            let (code, escalate) = match signal {
                Some(signal) => (128 + signal as i32, signal != Signal::SIGHUP),
                None => (128 + Signal::SIGHUP as i32, false),
            };
            tracing::info!(
                client = id,
                ?signal,
                "the session's terminal is gone: stopping"
            );
            let quit = Command::Quit {
                exit_code: code,
                escalate,
            };
            let effects = self.command(quit, None, now);
            // A client that got a signal stays to hear how the session
            // ended; one whose connection ended is gone.
            if signal.is_none() {
                self.drop_client(id, None);
            }
            return effects;
        }
        match signal {
            Some(_) => self.detach(id),
            None => {
                tracing::info!(client = id, "client gone");
                self.drop_client(id, None);
            }
        }
        Vec::new()
    }

    /// A message from an attached client.
    fn on_message(&mut self, id: u64, control: Control, now: Instant) -> Vec<Effect> {
        // A connection that asked for info or a stop, or a client already
        // gone, has no say.
        if !self.clients.iter().any(|c| c.id == id) {
            return Vec::new();
        }
        match control {
            Control::Input(value) => match serde_json::from_value(value) {
                Ok(event) => self.on_input(id, event, now),
                Err(e) => {
                    tracing::warn!(client = id, error = %e, "unreadable input");
                    Vec::new()
                }
            },
            Control::Resize { cols, rows } => self.resize_client(id, Size::new(rows, cols), now),
            Control::Detach => {
                self.detach(id);
                Vec::new()
            }
            Control::Suspend => {
                if let Some(client) = self.client(id) {
                    client.link.terminal_ready = false;
                    if let Some(reader) = client.link.reader.take() {
                        reader.abort();
                    }
                    // The shell will have drawn over it: all of it next time.
                    let size = client.painter.size();
                    client.painter.resize(size);
                    client.link.control(Control::Suspended);
                }
                Vec::new()
            }
            Control::Ready => {
                let to_loop = self.from_clients.clone();
                if let Some(client) = self.client(id) {
                    client.link.terminal_ready = true;
                    client.link.read_terminal(id, to_loop);
                    client.due = true;
                    self.frame_now = true;
                }
                Vec::new()
            }
            Control::Signal { signal } => {
                let signal = Signal::try_from(signal).unwrap_or(Signal::SIGHUP);
                self.lost(id, Some(signal), now)
            }
            other => {
                tracing::warn!(client = id, message = ?other, "unexpected message");
                Vec::new()
            }
        }
    }

    fn resize_client(&mut self, id: u64, size: Size, now: Instant) -> Vec<Effect> {
        let size = size.from_client();
        if let Some(client) = self.client(id) {
            client.painter.resize(size);
            client.due = true;
        }
        // A terminal resized in the background does not take the panes
        // from the client in use.
        if self.latest == Some(id) {
            return self.follow(id, now);
        }
        Vec::new()
    }

    /// One event from client `id`'s terminal.
    fn on_input(&mut self, id: u64, event: crossterm::event::Event, now: Instant) -> Vec<Effect> {
        use crossterm::event::Event as Term;
        // Fault injection for the end-to-end tests of the panic path; debug builds only.
        #[cfg(debug_assertions)]
        if matches!(event, Term::Key(_)) && std::env::var_os("OPMUX_FAULT_PANIC_ON_KEY").is_some() {
            panic!("injected fault: a key arrived while OPMUX_FAULT_PANIC_ON_KEY is set");
        }
        let event = match event {
            Term::Key(key) => Event::Key(key),
            Term::Mouse(mouse) => Event::Mouse(mouse),
            Term::Paste(text) => Event::Paste(text),
            Term::FocusGained => Event::TerminalFocus(true),
            Term::FocusLost => Event::TerminalFocus(false),
            Term::Resize(cols, rows) => return self.resize_client(id, Size::new(rows, cols), now),
        };
        // Focus reports come by themselves; only what the user does makes
        // this client the one the panes follow.
        let mut effects = Vec::new();
        if !matches!(event, Event::TerminalFocus(_)) {
            self.used = SystemTime::now();
            effects = self.follow(id, now);
        }
        let Some(at) = self.clients.iter().position(|c| c.id == id) else {
            return effects;
        };
        let (more, changed) = view::input(&mut self.session, &mut self.clients, at, event, now);
        effects.extend(more);
        self.needs_redraw |= changed.session;
        if effects.iter().any(|e| matches!(e, Effect::Write(..))) {
            self.typed = Some(Instant::now());
        }
        let client = &mut self.clients[at];
        if std::mem::take(&mut client.view.detach) {
            self.detach(id);
            return effects;
        }
        client.due |= changed.view;
        effects
    }

    /// Draws a frame for every client that needs one and has none on its way;
    /// `echo` when the frame shows a key's echo.
    fn draw(&mut self, now: Instant, echo: bool) {
        let all = std::mem::take(&mut self.needs_redraw);
        for client in &mut self.clients {
            if !(all || client.due) {
                continue;
            }
            if !client.link.takes_frames() {
                client.due = true;
                client.urgent |= echo;
                keep_last(&mut client.view.clipboard, KEPT_COPIES);
                continue;
            }
            client.due = false;
            client.urgent = false;
            for text in client.view.clipboard.drain(..) {
                client.link.raw(crate::mouse::osc52(&text).as_bytes());
            }
            // Drawn straight behind the message's header: a frame is not
            // copied on its way to the socket. The terminal takes it bare.
            let mut message = Vec::new();
            let start =
                (!client.link.writes_terminal()).then(|| protocol::start_bytes(&mut message));
            let header = message.len();
            let drawn = client
                .painter
                .draw(&mut CrosstermBackend::new(&mut message), |canvas| {
                    ui::render_cached(canvas, &self.session, &client.view, now, &mut client.cache)
                });
            if drawn.is_ok() && message.len() > header {
                if let Some(start) = start {
                    protocol::finish_bytes(&mut message, start);
                }
                let terminal = client.link.writes_terminal();
                client.link.send(message, true, terminal);
            }
        }
    }

    /// Tells the session which panes the clients have focused, so a pane
    /// a client has just focused has its attention seen; and rings the
    /// clients' bells for the panes' bells.
    fn watch(&mut self) {
        let watched: Vec<PaneId> = self
            .clients
            .iter()
            .filter_map(|c| c.view.focused(&self.session))
            .collect();
        for &id in &watched {
            if !self.session.watched.contains(&id) {
                self.session.acknowledge(id);
                self.needs_redraw = true;
            }
        }
        self.session.watched = watched;
        let mut out = Vec::new();
        if std::mem::take(&mut self.session.bells) > 0 && self.bell {
            // The one thing a pane prints that reaches a terminal as it is.
            out.push(0x07);
        }
        for text in std::mem::take(&mut self.session.notifications) {
            // Cleaned and cut short where the screen took them.
            if self.notify {
                out.extend(format!("\x1b]9;{text}\x07").bytes());
            }
        }
        if !out.is_empty() {
            for client in &self.clients {
                // Not to a terminal the client has not set up, or has
                // handed back to its shell.
                if client.link.terminal.is_none() || client.link.terminal_ready {
                    client.link.raw(&out);
                }
            }
        }
    }

    /// Sends what happened since the last wake to every `opmux events`
    /// reader. A reader that has fallen behind misses events rather than
    /// have them pile up here, and is told how many it missed.
    fn tell_readers(&mut self) {
        if self.readers.is_empty() {
            self.session.noting = false;
            self.session.notes.clear();
            self.client_events.clear();
            return;
        }
        let time_ms = unix_millis();
        let mut lines: Vec<EventLine> = self
            .session
            .notes
            .drain(..)
            .map(|note| event_line(note, time_ms))
            .collect();
        lines.append(&mut self.client_events);
        if lines.is_empty() {
            return;
        }
        for (link, missed) in &mut self.readers {
            if link.backlog() > READER_BACKLOG {
                *missed += lines.len() as u64;
                continue;
            }
            if *missed > 0 {
                let line = EventLine {
                    missed: Some(std::mem::take(missed)),
                    ..EventLine::new("missed", time_ms)
                };
                link.control(Control::Event(Box::new(line)));
            }
            for line in &lines {
                link.control(Control::Event(Box::new(line.clone())));
            }
        }
    }

    /// Sends each `opmux logs -f` reader the lines its pane finished since
    /// it last got some. A reader that has fallen behind gets nothing
    /// until it catches up: the pane is never held back and nothing piles
    /// up here; the lines the history evicted meanwhile are counted and
    /// said in a marker line.
    fn tell_followers(&mut self) {
        let session = &self.session;
        let mut behind = false;
        self.followers.retain_mut(|(link, pane, next)| {
            let Some(pane) = session.pane(*pane) else {
                link.control(Control::Done);
                return false;
            };
            // As much as it has room for, a message at a time.
            loop {
                if link.backlog() > FOLLOWER_BACKLOG {
                    behind = true;
                    return true;
                }
                let (mut lines, after, missed) =
                    pane.screen().finished_lines(*next, LINES_A_MESSAGE);
                *next = after;
                if missed > 0 {
                    lines.insert(0, format!("[opmux: {missed} lines missed]"));
                }
                if lines.is_empty() {
                    return true;
                }
                link.control(Control::Lines {
                    lines: lines.iter().map(|l| crate::clean_text(l)).collect(),
                });
            }
        });
        // A reader behind is looked at again soon, output or not: a
        // timer only while one is behind.
        self.follow_again = behind.then(|| Instant::now() + FOLLOW_AGAIN);
    }

    /// Notes that client `id` attached or detached, for the readers.
    fn client_event(&mut self, id: u64, event: &str) {
        if !self.readers.is_empty() {
            self.client_events.push(EventLine {
                client: Some(id),
                ..EventLine::new(event, unix_millis())
            });
        }
    }

    /// Tells each pane verb whose change has happened that it is done, and
    /// each wait whose condition holds, or never will, so.
    fn answer_acts(&mut self) {
        let session = &self.session;
        self.acting.retain_mut(|acting| {
            acting.until.retain(|u| !session.holds(*u));
            if !acting.until.is_empty() {
                return true;
            }
            let answer = match acting.report {
                Some(id) => Control::Status {
                    panes: session.pane_status(id).into_iter().collect(),
                },
                None => Control::Done,
            };
            acting.link.control(answer);
            false
        });
        self.waiting
            .retain_mut(|(link, watch)| !answer_wait(session, link, watch));
    }

    /// A control verb's request, answered on `link` now, or once a pane
    /// verb's change has happened or a wait's condition holds; an
    /// `events` or `logs -f` reader is kept and told as things happen.
    fn control(&mut self, link: Link, want: Want, now: Instant) -> Vec<Effect> {
        let failed = |link: &Link, message: String| link.control(Control::Failed { message });
        match want {
            Want::Act { action, panes } => {
                if self.session.shutdown.is_some() {
                    failed(&link, "the session is stopping".into());
                    return Vec::new();
                }
                let ids = match self.session.find_all(&panes) {
                    Ok(ids) => ids,
                    Err(message) => {
                        failed(&link, message);
                        return Vec::new();
                    }
                };
                let mut effects = Vec::new();
                let mut until = Vec::new();
                for id in ids {
                    until.extend(self.session.until(action, id));
                    let command = match action {
                        PaneAction::Start => Command::Start(id),
                        PaneAction::Stop => Command::Stop(id),
                        PaneAction::Restart => Command::Restart(id),
                        PaneAction::Kill => Command::Kill(id),
                    };
                    effects.extend(self.command(command, None, now));
                }
                self.acting.push(Acting {
                    link,
                    until,
                    report: None,
                });
                effects
            }
            Want::Send {
                pane,
                text,
                keys,
                paste,
            } => match self.session.find_named(&pane) {
                Ok(id) if !self.session.takes_input(id) => {
                    failed(
                        &link,
                        format!("pane {} is not running", crate::clean_text(&pane)),
                    );
                    Vec::new()
                }
                Ok(id) => {
                    let bytes = self.session.typed(id, &text, keys, paste);
                    let effects = self.command(Command::Write(id, bytes), None, now);
                    link.control(Control::Done);
                    effects
                }
                Err(message) => {
                    failed(&link, message);
                    Vec::new()
                }
            },
            Want::Run { name, command } => {
                if command.is_empty() || self.session.shutdown.is_some() {
                    let why = if command.is_empty() {
                        "no command to run"
                    } else {
                        "the session is stopping"
                    };
                    failed(&link, why.into());
                    return Vec::new();
                }
                let mut spec = match command.as_slice() {
                    [line] => PaneSpec::shell(line),
                    _ => PaneSpec::program(command),
                };
                if let Some(name) = name
                    .map(|n| crate::clean_text(n.trim()))
                    .filter(|n| !n.is_empty())
                {
                    spec.name = name;
                    spec.named = true;
                }
                spec.stop_timeout = self.session.default_stop_timeout;
                let effects = self.command(Command::Add(spec), None, now);
                if let Some(id) = self.session.last_pane() {
                    self.acting.push(Acting {
                        link,
                        until: vec![Until::Started(id, 0)],
                        report: Some(id),
                    });
                }
                effects
            }
            Want::Wait { pane, until } => {
                let watch = self
                    .session
                    .find_named(&pane)
                    .and_then(|id| Ok(Watch::new(&self.session, id, Condition::parse(&until)?)));
                match watch {
                    Ok(mut watch) => {
                        if !answer_wait(&self.session, &link, &mut watch) {
                            self.waiting.push((link, watch));
                        }
                    }
                    Err(message) => failed(&link, message),
                }
                Vec::new()
            }
            Want::Screen {
                pane,
                ansi,
                history,
            } => {
                let dump = self.session.find_named(&pane).and_then(|id| {
                    let dump = self.session.screen_dump(id, ansi, history as usize);
                    dump.ok_or_else(|| "the pane is gone".to_string())
                });
                match dump {
                    Ok(dump) => link.control(Control::Screen(dump)),
                    Err(message) => failed(&link, message),
                }
                Vec::new()
            }
            Want::Logs {
                pane,
                lines,
                follow,
            } => {
                let Some((id, pane)) = self
                    .session
                    .find_named(&pane)
                    .map_err(|message| failed(&link, message))
                    .ok()
                    .and_then(|id| Some((id, self.session.pane(id)?)))
                else {
                    return Vec::new();
                };
                let screen = pane.screen();
                let from = match lines {
                    Some(n) => screen.finished_end().saturating_sub(u64::from(n)),
                    None => screen.history().first_number(),
                };
                if follow {
                    drop(screen);
                    self.followers.push((link, id, from));
                    self.tell_followers();
                } else {
                    let (lines, _, _) = screen.finished_lines(from, usize::MAX);
                    let lines = lines.iter().map(|l| crate::clean_text(l)).collect();
                    link.control(Control::Lines { lines });
                    link.control(Control::Done);
                }
                Vec::new()
            }
            Want::Events => {
                self.session.noting = true;
                self.readers.push((link, 0));
                Vec::new()
            }
            Want::Attach { .. } | Want::Info | Want::Stop { .. } | Want::Status => Vec::new(),
        }
    }

    /// Whether some client has a frame owed.
    fn owes_frames(&self) -> bool {
        self.needs_redraw || self.clients.iter().any(|c| c.due && c.link.takes_frames())
    }
}

/// A pane verb waiting for its change to happen.
struct Acting {
    link: Link,
    until: Vec<Until>,
    /// The pane whose status is the answer (`run`); else the answer is
    /// [`Control::Done`].
    report: Option<PaneId>,
}

/// The most messages of lines an `opmux logs -f` reader may leave unread
/// (each up to [`LINES_A_MESSAGE`] lines) before it is behind: a few
/// hundred kilobytes at most wait for it here.
const FOLLOWER_BACKLOG: usize = 4;

/// How soon a follower that was behind is looked at again.
const FOLLOW_AGAIN: Duration = Duration::from_millis(50);

/// The most lines one message of `opmux logs` carries.
const LINES_A_MESSAGE: usize = 1024;

/// The most messages an `opmux events` reader may leave unread before it
/// misses events.
const READER_BACKLOG: usize = 1024;

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A session note as a line of `opmux events`, cleaned.
fn event_line(note: Note, time_ms: u64) -> EventLine {
    let mut line = EventLine {
        pane: Some(crate::clean_text(&note.name)),
        number: Some(note.number),
        ..EventLine::new("", time_ms)
    };
    line.event = match note.what {
        Happened::Started { pid } => {
            line.pid = Some(pid);
            "started"
        }
        Happened::Ready => "ready",
        Happened::Exited(status) => {
            line.exit_code = Some(status.code());
            if let crate::process::ExitStatus::Signaled(signal) = status {
                line.exit_signal = Some(signal.as_str().to_string());
            }
            "exited"
        }
        Happened::Restarting { delay, attempt } => {
            line.delay_ms = Some(delay.as_millis() as u64);
            line.restart = Some(attempt);
            "restarting"
        }
        Happened::GaveUp => "gave_up",
        Happened::Attention(why) => {
            let idle = why == crate::pane::Attention::Idle;
            line.why = Some(crate::clean_text(&why.label()));
            if idle { "idle" } else { "attention" }
        }
        Happened::AttentionCleared => "attention_cleared",
        Happened::Added => "added",
        Happened::Removed => "removed",
    }
    .into();
    line
}

/// Answers a wait on `link` if its condition holds, or never will;
/// returns whether it did.
fn answer_wait(session: &Session, link: &Link, watch: &mut Watch) -> bool {
    match watch.check(session) {
        Verdict::Holds => link.control(Control::Done),
        Verdict::Never => {
            let name = session
                .pane(watch.pane)
                .map_or_else(|| "the pane".into(), |p| crate::clean_text(&p.spec.name));
            link.control(Control::Never {
                reason: format!("pane {name} ended for good without it"),
            });
        }
        Verdict::Pending => return false,
    }
    true
}

/// Drops all but the last `n` of `copies`: copies to the clipboard that
/// wait for a client are bounded.
fn keep_last(copies: &mut Vec<String>, n: usize) {
    copies.drain(..copies.len().saturating_sub(n));
}

/// Takes a client's socket off the panic hook's list when its writer ends.
struct Unlist(std::os::fd::RawFd);

impl Drop for Unlist {
    fn drop(&mut self) {
        if let Ok(mut sockets) = CLIENT_SOCKETS.lock() {
            sockets.retain(|(fd, _)| *fd != self.0);
        }
    }
}

/// Reads a connection's hello, then its messages, for the loop.
async fn read_connection(stream: UnixStream, id: u64, to_loop: mpsc::Sender<FromClient>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut decoder = Decoder::new();
    let hello = tokio::time::timeout(HELLO_LIMIT, next_message(&mut reader, &mut decoder)).await;
    let hello = match hello {
        Ok(Some(Message::Control(Control::Hello(hello)))) => hello,
        Ok(_) => return,
        Err(_) => {
            tracing::info!(client = id, "no hello in time: dropped");
            return;
        }
    };
    if let Err(refusal) = protocol::check_hello(&hello) {
        let mut out = Vec::new();
        protocol::encode(&Message::Control(refusal), &mut out);
        let _ = writer.write_all(&out).await;
        return;
    }
    if to_loop
        .send(FromClient::Hello { id, hello, writer })
        .await
        .is_err()
    {
        return;
    }
    while let Some(message) = next_message(&mut reader, &mut decoder).await {
        if let Message::Control(control) = message
            && to_loop
                .send(FromClient::Message(id, control))
                .await
                .is_err()
        {
            return;
        }
    }
    let _ = to_loop.send(FromClient::Gone(id)).await;
}

/// The next message on a connection; `None` at its end or on garbage.
async fn next_message(reader: &mut OwnedReadHalf, decoder: &mut Decoder) -> Option<Message> {
    let mut buf = [0u8; 4096];
    loop {
        match decoder.next() {
            Ok(Some(message)) => return Some(message),
            Ok(None) => {}
            // One message this build cannot read (from a newer client, or
            // out of range) is skipped; the stream goes on.
            Err(
                e @ (ProtocolError::Unknown(_)
                | ProtocolError::Invalid(_)
                | ProtocolError::UnknownKind(_)),
            ) => {
                tracing::warn!(error = %e, "a client's message was skipped");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "a client's stream broke");
                return None;
            }
        }
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => decoder.push(&buf[..n]),
        }
    }
}

/// Makes the link to connection `id`, and to its client's `terminal` if
/// the server writes to it, and starts its writer task, which writes what
/// was not taken at once, in order, and tells the loop when a frame is out,
/// so it can send the next. While the task runs, the panic hook knows the
/// client's socket.
fn link(
    id: u64,
    writer: OwnedWriteHalf,
    terminal: Option<AsyncFd<std::fs::File>>,
    to_loop: mpsc::Sender<FromClient>,
) -> (Link, tokio::task::JoinHandle<()>) {
    let fd = writer.as_ref().as_raw_fd();
    let (queue, mut outbox) = unbounded_channel::<Outgoing>();
    let socket = Arc::new(writer);
    let terminal = terminal.map(Arc::new);
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicBool::new(false));
    if let Ok(mut sockets) = CLIENT_SOCKETS.lock() {
        sockets.push((fd, queued.clone()));
    }
    let task = tokio::spawn({
        let (socket, terminal) = (socket.clone(), terminal.clone());
        let (queued, in_flight) = (queued.clone(), in_flight.clone());
        async move {
            let _listed = Unlist(fd);
            // A terminal that failed (hung up) takes nothing more, and no
            // frame is drawn for it again; the connection still carries
            // what the client is told, its goodbye above all.
            let mut terminal_lost = false;
            while let Some(out) = outbox.recv().await {
                let written = match &terminal {
                    Some(tty) if out.terminal => {
                        !terminal_lost && write_to_terminal(tty, &out.bytes).await.is_ok()
                    }
                    _ => {
                        if write_to_socket(&socket, &out.bytes).await.is_err() {
                            return;
                        }
                        true
                    }
                };
                terminal_lost |= !written;
                queued.fetch_sub(1, Ordering::AcqRel);
                if out.frame && written {
                    in_flight.store(false, Ordering::Release);
                    let _ = to_loop.send(FromClient::Drained(id)).await;
                }
            }
        }
    });
    let link = Link {
        id,
        socket,
        terminal,
        terminal_ready: false,
        queue,
        queued,
        in_flight,
        writer: task.abort_handle(),
        reader: None,
    };
    (link, task)
}

async fn write_to_socket(socket: &OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        socket.writable().await?;
        match socket.try_write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How long the rest of an escape sequence may take to come before the
/// escape is the Escape key (tmux's `escape-time`; terminals send a
/// sequence at once, a slow link may split it).
const ESCAPE_TIME: Duration = Duration::from_millis(25);

/// How long a terminal may take no output before the server gives up on
/// it (a terminal stopped with XOFF, a hung emulator): the client's
/// goodbye on the connection, queued behind, must not wait for ever.
const TERMINAL_STALL_LIMIT: Duration = Duration::from_secs(10);

async fn write_to_terminal(tty: &AsyncFd<std::fs::File>, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut written = 0;
    while written < bytes.len() {
        let Ok(ready) = tokio::time::timeout(TERMINAL_STALL_LIMIT, tty.writable()).await else {
            return Err(std::io::ErrorKind::TimedOut.into());
        };
        let mut ready = ready?;
        match ready.try_io(|tty| tty.get_ref().write(&bytes[written..])) {
            Ok(Ok(n)) => written += n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

async fn serve(start: Start, ready: OwnedFd) -> Result<i32> {
    let mut signals = Signals::listen()?;
    let subreaper = process::become_subreaper();
    let log = crate::log::init();
    let (events, mut inbox) = unbounded_channel();
    let (from_clients, client_inbox) = mpsc::channel(CLIENT_QUEUE);
    let Start {
        settings,
        claimed,
        size,
        persistent,
        folder,
        config,
    } = start;
    claimed
        .listener
        .set_nonblocking(true)
        .context("making the socket non-blocking")?;
    let socket_path = claimed.path.clone();
    let listener =
        tokio::net::UnixListener::from_std(claimed.listener).context("listening on the socket")?;
    let prefix = settings.prefix;
    let bell = settings.bell == crate::config::Bell::On;
    let notify = settings.notify == crate::config::Notify::Allow;
    let mut session = Session::from_settings(settings, size);
    // A program in a pane reaches its own session with this, as `$TMUX`
    // lets one reach tmux.
    session.pane_env.push((
        crate::protocol::SESSION_VAR.into(),
        socket_path.to_string_lossy().into_owned(),
    ));
    let mut server = Server {
        session,
        clients: Vec::new(),
        name: claimed.name,
        prefix,
        persistent,
        tie_next: !persistent,
        needs_redraw: true,
        latest: None,
        stoppers: Vec::new(),
        acting: Vec::new(),
        bell,
        notify,
        readers: Vec::new(),
        client_events: Vec::new(),
        followers: Vec::new(),
        follow_again: None,
        waiting: Vec::new(),
        started: SystemTime::now(),
        used: SystemTime::UNIX_EPOCH,
        folder,
        config,
        writers: Vec::new(),
        from_clients,
        typed: None,
        frame_now: false,
        echo_pending: false,
        next_id: 0,
        frame_at: None,
        last_frame: Instant::now() - FRAME,
        drawing_echo: false,
        held_until: None,
        tidy_at: None,
        tie_by: (!persistent).then(|| Instant::now() + TIE_LIMIT),
    };
    let mut notices = Vec::new();
    if let Err(e) = subreaper {
        notices.push(format!(
            "not a subreaper ({e}): escaped processes may outlive opmux"
        ));
    }
    match log {
        Ok(path) => tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            session = server.name,
            panes = server.session.panes.len(),
            ?path,
            "opmux started"
        ),
        Err(e) => notices.push(format!("no log: {e:#}")),
    }
    if !notices.is_empty() {
        server.session.notice = Some(notices.join("; "));
    }
    let effects = server.session.start();
    apply(&mut server, effects, &events);
    // Every pane that starts on its own was launched or waits: whoever
    // started the server may go on.
    let _ = nix::unistd::write(&ready, b"1");
    drop(ready);

    let mut sources = Sources {
        listener,
        client_inbox,
    };
    let end = driver::run(&mut server, &mut sources, &mut signals, &events, &mut inbox).await;
    let survivors = match end {
        End::Done => None,
        End::Survivors(left) => Some(left),
    };
    let code = match &survivors {
        Some(_) => 1,
        None => server.session.shutdown.map_or(0, |s| s.exit_code),
    };
    if server.session.log_dir.is_some() {
        let mut on_event =
            |server: &mut Server, event| driver::FrontEnd::handle(server, event, &events);
        let finishing = runtime::finish_output(&mut server, &mut inbox, &mut on_event);
        // Survivors of SIGKILL may hold a terminal open and keep writing:
        // the shutdown's bound holds anyway.
        if survivors.is_some() {
            let _ = tokio::time::timeout(AFTER_SURVIVORS, finishing).await;
        } else {
            finishing.await;
        }
        runtime::close_logs(&server.session);
    }
    process::reap();
    tracing::info!(code, "opmux exits");
    let message = survivors.map(|left| {
        format!(
            "opmux: {} process(es) survived SIGKILL and were left running: {left:?}",
            left.len()
        )
    });
    // A last frame, so every client sees the panes as they ended.
    server.needs_redraw = true;
    server.draw(Instant::now(), false);
    for client in std::mem::take(&mut server.clients) {
        client.link.control(Control::Ended {
            status: code,
            message: message.clone(),
        });
    }
    for stopper in std::mem::take(&mut server.stoppers) {
        stopper.control(Control::Stopped);
    }
    // Writers may still tell the loop a frame is out: nobody listens now.
    let Sources {
        listener,
        client_inbox,
    } = sources;
    drop(client_inbox);
    let writers = std::mem::take(&mut server.writers);
    let farewell = async {
        for writer in writers {
            let _ = writer.await;
        }
    };
    let _ = tokio::time::timeout(FAREWELL_LIMIT, farewell).await;
    // Removed while the listener still holds the name: a new session can
    // only claim it once this one is gone.
    let _ = std::fs::remove_file(&socket_path);
    drop(listener);
    Ok(code)
}

/// A client's renderer cache. Debug builds take the limit on synchronized
/// updates from `OPMUX_TEST_SYNC_LIMIT_MS`, for the end-to-end tests.
fn frame_cache() -> ui::FrameCache {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("OPMUX_TEST_SYNC_LIMIT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
    {
        return ui::FrameCache::with_sync_limit(Duration::from_millis(ms));
    }
    ui::FrameCache::default()
}

/// Whether `event` is output from a pane just typed into: its echo.
fn is_echo(server: &Server, event: &Event) -> bool {
    match event {
        Event::PaneOutput(id) => {
            server.typed.is_some_and(|t| t.elapsed() < ECHO_WINDOW)
                && server
                    .clients
                    .iter()
                    .any(|c| c.view.focused(&server.session) == Some(*id))
        }
        _ => false,
    }
}

/// A client connected, spoke or went away.
fn on_client(server: &mut Server, message: FromClient, now: Instant) -> Vec<Effect> {
    match message {
        FromClient::Hello { id, hello, writer } => {
            let terminal = match &hello.want {
                Want::Attach { tty: Some(tty), .. } => open_terminal(tty),
                _ => None,
            };
            let (link, task) = link(id, writer, terminal, server.from_clients.clone());
            server.writers.retain(|writer| !writer.is_finished());
            server.writers.push(task);
            match hello.want {
                Want::Info => {
                    link.control(Control::Info(server.info()));
                    Vec::new()
                }
                Want::Status => {
                    link.control(Control::Status {
                        panes: server.session.status(),
                    });
                    Vec::new()
                }
                want @ (Want::Act { .. }
                | Want::Run { .. }
                | Want::Send { .. }
                | Want::Screen { .. }
                | Want::Wait { .. }
                | Want::Logs { .. }
                | Want::Events) => server.control(link, want, now),
                Want::Stop { now: at_once } => {
                    tracing::info!(at_once, "asked to stop");
                    server.stoppers.push(link);
                    // With `now`, the second quit SIGKILLs at once, as a
                    // second `C-b q` does.
                    let quit = |escalate| Command::Quit {
                        exit_code: 0,
                        escalate,
                    };
                    let mut effects = server.command(quit(false), None, now);
                    if at_once {
                        effects.extend(server.command(quit(true), None, now));
                    }
                    effects
                }
                Want::Attach {
                    cols,
                    rows,
                    terminal_focused,
                    ..
                } => {
                    let size = Size::new(rows, cols).from_client();
                    let mut view = View::new(&server.session, Keymap::new(server.prefix));
                    view.terminal_focused = terminal_focused;
                    link.control(Control::Welcome {
                        protocol: protocol::PROTOCOL,
                        session: server.name.clone(),
                        pid: std::process::id(),
                        terminal: link.writes_terminal(),
                    });
                    let tied = std::mem::take(&mut server.tie_next);
                    if tied {
                        // The terminal came: no deadline for it is left.
                        server.tie_by = None;
                    }
                    server.used = SystemTime::now();
                    tracing::info!(client = id, tied, %size.cols, %size.rows, "attached");
                    server.clients.push(Client {
                        id,
                        view,
                        painter: ui::Painter::new(size),
                        cache: frame_cache(),
                        link,
                        due: true,
                        urgent: false,
                        tied,
                    });
                    server.client_event(id, "attached");
                    let mut effects = server.follow(id, now);
                    effects.extend(server.report_focus(now));
                    server.pass_on_copies();
                    effects
                }
            }
        }
        FromClient::Message(id, control) => server.on_message(id, control, now),
        FromClient::Gone(id) => {
            // A verb that gave up waiting is forgotten.
            server.acting.retain(|acting| acting.link.id != id);
            server.waiting.retain(|(link, _)| link.id != id);
            server.readers.retain(|(link, _)| link.id != id);
            server.followers.retain(|(link, ..)| link.id != id);
            if let Some(client) = server.client(id) {
                client.link.cut();
                server.lost(id, None, now)
            } else {
                Vec::new()
            }
        }
        FromClient::Typed(id, events) => {
            let mut effects = Vec::new();
            for event in events {
                // What came after a detach key is not the session's.
                if server.client(id).is_none() {
                    break;
                }
                effects.extend(server.on_input(id, event, now));
            }
            effects
        }
        FromClient::TerminalLost(id) => {
            if server.clients.iter().any(|c| c.id == id) {
                server.lost(id, Some(Signal::SIGHUP), now)
            } else {
                Vec::new()
            }
        }
        // The loop draws what the client is owed once it wakes; an echo at
        // once.
        FromClient::Drained(id) => {
            if server.client(id).is_some_and(|c| c.urgent) {
                server.frame_now = true;
            }
            Vec::new()
        }
    }
}
