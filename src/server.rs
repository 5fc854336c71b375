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
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use crossterm::event::KeyEvent;
use nix::sys::signal::Signal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::{self, UnboundedSender, unbounded_channel};

use crate::config::Settings;
use crate::control::{self, About, Controlled, Controls};
use crate::driver::{self, End};
use crate::event::Event;
use crate::keys::Keymap;
use crate::link::{CLIENT_SOCKETS, FromClient, Link, Listening, Writers, open_terminal};
use crate::pane::Pane;
use crate::process;
use crate::protocol::{self, Control, Message, SessionInfo, Want};
use crate::registry::Claimed;
use crate::runtime::{self, Host, Signals, apply, log_event};
use crate::session::{Command, Effect, Session};
use crate::ui;
use crate::view::{self, View};
use crate::{PaneId, Size};

/// The shortest time between two frames: about 60 frames a second.
pub const FRAME: Duration = Duration::from_micros(16_667);
/// How long after the last frame the memory a burst of output left free is
/// given back to the system. One wake-up per burst, none while idle.
const TIDY_AFTER: Duration = Duration::from_millis(500);
/// How long the logs wait for output once processes survived SIGKILL.
const AFTER_SURVIVORS: Duration = Duration::from_millis(500);
/// How long a tied session waits for the terminal that started it to
/// attach; without it, it stops as on a lost terminal.
const TIE_LIMIT: Duration = Duration::from_secs(10);
/// Copies to the clipboard kept for the next client while none is attached.
const KEPT_COPIES: usize = 8;
/// How long the session waits at exit for clients to take their last words.
pub const FAREWELL_LIMIT: Duration = Duration::from_secs(1);
/// How long after a keystroke output from the focused pane counts as its echo.
const ECHO_WINDOW: Duration = Duration::from_millis(250);

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
    /// Its name, and where, from what and when it was started.
    about: About,
    prefix: KeyEvent,
    /// Losing a terminal only detaches its client.
    persistent: bool,
    /// The next client to attach is the terminal the session started in.
    tie_next: bool,
    /// Whether the picture changed for every client.
    needs_redraw: bool,
    /// The client that was active last; the panes take its size.
    latest: Option<u64>,
    /// The control verbs' connections waiting for answers.
    controls: Controls,
    /// Panes' bells ring the clients' terminals (`bell = "on"`).
    bell: bool,
    /// Panes' desktop notifications reach them (`notify = "allow"`).
    notify: bool,
    /// When a client last attached or typed.
    used: SystemTime,
    /// The writers, to wait for at exit.
    writers: Writers,
    /// Where a client's tasks tell the loop what happened.
    to_loop: mpsc::Sender<FromClient>,
    /// When input was last written to a pane. Its echo is drawn at once.
    typed: Option<Instant>,
    /// A frame is due now, out of turn.
    frame_now: bool,
    /// An echo came in this wake-up: its frame is drawn at once.
    echo_pending: bool,
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

impl driver::FrontEnd for Server {
    type Sources = Listening;
    type Wake = FromClient;

    fn next(sources: &mut Listening) -> impl std::future::Future<Output = FromClient> {
        sources.next()
    }

    fn woke(&mut self, message: FromClient, events: &UnboundedSender<Event>) {
        let effects = on_client(self, message, Instant::now());
        apply(self, effects, events);
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
        self.controls.answer(&mut self.session);
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
            self.controls.due_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn due(&mut self, events: &UnboundedSender<Event>, now: Instant) {
        self.controls.due(now);
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

impl Controlled for Server {
    fn parts(&mut self) -> (&mut Controls, &mut Session) {
        (&mut self.controls, &mut self.session)
    }

    fn carry_out(&mut self, command: Command, now: Instant) -> Vec<Effect> {
        self.command(command, None, now)
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
        let clients = self.clients.len();
        self.about.info(&self.session, clients, self.used, false)
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
        self.controls.client_event(id, "detached");
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
        let session = self.about.name.clone();
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
                let to_loop = self.to_loop.clone();
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

    /// Whether some client has a frame owed.
    fn owes_frames(&self) -> bool {
        self.needs_redraw || self.clients.iter().any(|c| c.due && c.link.takes_frames())
    }
}

/// Drops all but the last `n` of `copies`: copies to the clipboard that
/// wait for a client are bounded.
fn keep_last(copies: &mut Vec<String>, n: usize) {
    copies.drain(..copies.len().saturating_sub(n));
}

async fn serve(start: Start, ready: OwnedFd) -> Result<i32> {
    let mut signals = Signals::listen()?;
    let subreaper = process::become_subreaper();
    let log = crate::log::init();
    let (events, mut inbox) = unbounded_channel();
    let Start {
        settings,
        claimed,
        size,
        persistent,
        folder,
        config,
    } = start;
    let socket_path = claimed.path.clone();
    let listening = Listening::from_std(claimed.listener)?;
    let prefix = settings.prefix;
    let bell = settings.bell == crate::config::Bell::On;
    let notify = settings.notify == crate::config::Notify::Allow;
    let mut session = Session::from_settings(settings, size);
    session.reachable_at(&socket_path);
    let mut server = Server {
        session,
        clients: Vec::new(),
        about: About::new(claimed.name, folder, config),
        prefix,
        persistent,
        tie_next: !persistent,
        needs_redraw: true,
        latest: None,
        controls: Controls::default(),
        bell,
        notify,
        used: SystemTime::UNIX_EPOCH,
        writers: Writers::default(),
        to_loop: listening.to_loop(),
        typed: None,
        frame_now: false,
        echo_pending: false,
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
            session = server.about.name,
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
    let _watcher = crate::watch::start(&mut server.session, &events);
    // Every pane that starts on its own was launched or waits: whoever
    // started the server may go on.
    let _ = nix::unistd::write(&ready, b"1");
    drop(ready);

    let mut sources = listening;
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
    // The last lines and events, then the end.
    server.controls.answer(&mut server.session);
    server.controls.end();
    let writers = std::mem::take(&mut server.writers);
    sources.close(writers, &socket_path, FAREWELL_LIMIT).await;
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
            let to_loop = server.to_loop.clone();
            let link = server.writers.link(id, writer, terminal, to_loop);
            match hello.want {
                Want::Info => {
                    link.control(Control::Info(server.info()));
                    Vec::new()
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
                        session: server.about.name.clone(),
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
                    server.controls.client_event(id, "attached");
                    let mut effects = server.follow(id, now);
                    effects.extend(server.report_focus(now));
                    server.pass_on_copies();
                    effects
                }
                want => control::request(server, link, want, now),
            }
        }
        FromClient::Message(id, control) => server.on_message(id, control, now),
        FromClient::Gone(id) => {
            // A verb that gave up waiting is forgotten.
            server.controls.forget(id);
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
