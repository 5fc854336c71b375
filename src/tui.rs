//! The runtime: sets the terminal up and restores it on every path, starts the
//! panes, and runs the event loop that owns the [`App`].
//!
//! Drawing is paced here. A change is drawn at once when the last frame is
//! older than [`FRAME`] (so a lone keystroke's echo shows immediately); while
//! changes keep coming they are coalesced into one frame per [`FRAME`]; and
//! with no change there is no timer at all, so an idle opmux never wakes.

use std::io::{BufWriter, IsTerminal, Stdout, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use nix::sys::signal::Signal;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::sleep_until;

use crate::app::{App, Effect};
use crate::config::Settings;
use crate::event::Event;
use crate::pane::PaneState;
use crate::pane::pty::{Pty, Wiring};
use crate::{PaneId, Size, process, ui};

/// The shortest time between two frames: about 60 frames a second.
pub const FRAME: Duration = Duration::from_micros(16_667);
/// How long the loop waits for processes to vanish after SIGKILL before
/// giving up on them and exiting anyway.
const AFTER_KILL: Duration = Duration::from_secs(1);

/// Runs the TUI until the user quits; returns opmux's exit status.
pub fn run(settings: Settings) -> Result<i32> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("opmux needs a terminal: stdin and stdout must both be a TTY");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(event_loop(settings))
}

type Backend = CrosstermBackend<BufWriter<Stdout>>;

/// Owns the terminal while opmux draws on it and restores it when dropped.
struct Screen {
    terminal: Terminal<Backend>,
}

impl Screen {
    fn enter() -> Result<Self> {
        install_panic_hook();
        crossterm::terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
        let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout());
        crossterm::execute!(
            out,
            EnterAlternateScreen,
            EnableMouseCapture,
            EnableBracketedPaste
        )
        .context("setting the terminal up")?;
        let terminal =
            Terminal::new(CrosstermBackend::new(out)).context("starting the renderer")?;
        Ok(Self { terminal })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.terminal.flush();
        restore_terminal();
    }
}

/// Undoes everything `Screen::enter` did. Safe to call more than once.
fn restore_terminal() {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = out.flush();
}

/// On a panic anywhere, even in a pane's thread: restore the terminal, SIGKILL
/// every pane's processes, report the panic, and exit non-zero. Carrying on
/// with a dead thread would leave a pane silently frozen.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        process::kill_everything_now();
        previous(info);
        std::process::exit(101);
    }));
}

struct Signals {
    child: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Self> {
        let listen = |kind| signal(kind).context("listening for signals");
        Ok(Self {
            child: listen(SignalKind::child())?,
            term: listen(SignalKind::terminate())?,
            int: listen(SignalKind::interrupt())?,
            hup: listen(SignalKind::hangup())?,
        })
    }
}

async fn event_loop(settings: Settings) -> Result<i32> {
    // SIGCHLD is listened for before any child exists, so no exit is missed.
    let mut signals = Signals::listen()?;
    let subreaper = process::become_subreaper();
    let (cols, rows) = crossterm::terminal::size().context("reading the terminal size")?;
    let (events, mut inbox) = unbounded_channel();
    let mut app = App::new(settings.panes, Size::new(rows, cols), settings.stop_timeout);
    let mut screen = Screen::enter()?;
    if let Err(e) = subreaper
        && let Some(pane) = app.panes.first_mut()
    {
        pane.error = Some(format!(
            "not a subreaper ({e}): escaped processes may outlive opmux"
        ));
    }
    for index in 0..app.panes.len() {
        start_pane(&mut app, PaneId(index), &events);
    }
    spawn_input_thread(events.clone());

    let mut next_frame: Option<Instant> = Some(Instant::now());
    let mut last_frame = Instant::now() - FRAME;
    let mut can_draw = true;
    let mut give_up_at: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if next_frame.is_some_and(|at| at <= now) {
            next_frame = None;
            last_frame = now;
            if can_draw {
                for pane in &app.panes {
                    pane.dirty
                        .store(false, std::sync::atomic::Ordering::Release);
                }
                if screen
                    .terminal
                    .draw(|frame| ui::render(frame, &app, now))
                    .is_err()
                {
                    // The terminal is gone; stop drawing and shut down.
                    can_draw = false;
                    let effects = app.update(Event::InputClosed("drawing failed".into()), now);
                    apply(&mut app, effects);
                }
            }
        }
        if let Some(shutdown) = app.shutdown {
            if app.all_exited() && !process::any_descendant_alive() {
                break;
            }
            if shutdown.killed && give_up_at.is_none() {
                give_up_at = Some(Instant::now() + AFTER_KILL);
            }
            if give_up_at.is_some_and(|at| at <= Instant::now()) {
                break;
            }
        }
        let stop_deadline = app.shutdown.filter(|s| !s.killed).map(|s| s.deadline);
        // While stopping, the countdown in the titles changes every second.
        let countdown_tick = app
            .shutdown
            .map(|_| Instant::now() + Duration::from_millis(250));

        let event = tokio::select! {
            Some(event) = inbox.recv() => Some(event),
            Some(()) = signals.child.recv() => {
                reap(&mut app);
                None
            }
            Some(()) = signals.term.recv() => Some(Event::Signal(Signal::SIGTERM)),
            Some(()) = signals.int.recv() => Some(Event::Signal(Signal::SIGINT)),
            Some(()) = signals.hup.recv() => Some(Event::Signal(Signal::SIGHUP)),
            () = sleep_until(next_frame.unwrap_or(now).into()), if next_frame.is_some() => None,
            () = sleep_until(stop_deadline.unwrap_or(now).into()), if stop_deadline.is_some() => Some(Event::StopDeadline),
            () = sleep_until(give_up_at.unwrap_or(now).into()), if give_up_at.is_some() => None,
            () = sleep_until(countdown_tick.unwrap_or(now).into()), if countdown_tick.is_some() => {
                request_frame(&mut next_frame, last_frame);
                None
            }
        };
        if let Some(event) = event {
            handle(&mut app, event, &mut next_frame, last_frame);
            // Take whatever else is already waiting before drawing once.
            drain(&mut app, &mut inbox, &mut next_frame, last_frame);
        }
    }
    let code = app.shutdown.map_or(0, |s| s.exit_code);
    // Leave no zombie behind, even one whose SIGCHLD has not been handled yet.
    process::reap();
    drop(screen);
    Ok(code)
}

fn handle(app: &mut App, event: Event, next_frame: &mut Option<Instant>, last_frame: Instant) {
    // Fault injection for the end-to-end tests of the panic path; debug builds only.
    #[cfg(debug_assertions)]
    if matches!(event, Event::Key(_)) && std::env::var_os("OPMUX_FAULT_PANIC_ON_KEY").is_some() {
        panic!("injected fault: a key arrived while OPMUX_FAULT_PANIC_ON_KEY is set");
    }
    let effects = app.update(event, Instant::now());
    apply(app, effects);
    request_frame(next_frame, last_frame);
}

fn drain(
    app: &mut App,
    inbox: &mut UnboundedReceiver<Event>,
    next_frame: &mut Option<Instant>,
    last_frame: Instant,
) {
    // Bounded, so a burst of events cannot keep the loop from drawing or reaping.
    for _ in 0..256 {
        match inbox.try_recv() {
            Ok(event) => handle(app, event, next_frame, last_frame),
            Err(_) => break,
        }
    }
}

/// Asks for a frame: now if the last one is at least [`FRAME`] old, else at
/// the end of that frame. A frame already asked for is left as it is.
fn request_frame(next_frame: &mut Option<Instant>, last_frame: Instant) {
    if next_frame.is_none() {
        *next_frame = Some((last_frame + FRAME).max(Instant::now()));
    }
}

fn reap(app: &mut App) {
    for (pid, status) in process::reap() {
        process::forget_pane(pid);
        let pane = app.panes.iter().position(|p| p.state.pid() == Some(pid));
        if let Some(index) = pane {
            let effects = app.update(Event::PaneExited(PaneId(index), status), Instant::now());
            apply(app, effects);
        }
    }
}

fn start_pane(app: &mut App, id: PaneId, events: &UnboundedSender<Event>) {
    let size = app.pane_size(id);
    let pane = &mut app.panes[id.0];
    let wiring = Wiring {
        id,
        screen: pane.screen.clone(),
        dirty: pane.dirty.clone(),
        events: events.clone(),
    };
    match Pty::spawn(&pane.spec, size, wiring) {
        Ok(pty) => {
            process::register_pane(pty.pid);
            pane.state = PaneState::Running {
                pid: pty.pid,
                since: Instant::now(),
            };
            pane.pty = Some(pty);
        }
        Err(e) => {
            let why = format!("{e:#}");
            pane.screen()
                .process(format!("opmux: could not start this pane: {why}\r\n").as_bytes());
            pane.state = PaneState::Failed(why);
        }
    }
}

fn apply(app: &mut App, effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Write(id, bytes) => {
                if let Some(pty) = app.panes.get(id.0).and_then(|p| p.pty.as_ref()) {
                    pty.write(bytes);
                }
            }
            Effect::ResizePty(id, size) => {
                let Some(pane) = app.panes.get_mut(id.0) else {
                    continue;
                };
                if let Some(Err(e)) = pane.pty.as_ref().map(|pty| pty.resize(size)) {
                    pane.error = Some(format!("resizing: {e:#}"));
                }
            }
            Effect::SignalAll(signal) => {
                for pane in &app.panes {
                    if let (Some(pid), Some(pty)) = (pane.state.pid(), pane.pty.as_ref()) {
                        process::signal_pane(pid, pty.foreground_group(), signal);
                    }
                }
                // Whatever escaped its pane's session is still our descendant.
                process::signal_all_descendants(signal);
            }
        }
    }
}

/// Reads the outer terminal on a thread of its own: crossterm's `read` blocks
/// until input arrives, so nothing polls.
fn spawn_input_thread(events: UnboundedSender<Event>) {
    let failed = events.clone();
    let spawned = std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            loop {
                let event = match crossterm::event::read() {
                    Ok(crossterm::event::Event::Key(key)) => Event::Key(key),
                    Ok(crossterm::event::Event::Mouse(mouse)) => Event::Mouse(mouse),
                    Ok(crossterm::event::Event::Paste(text)) => Event::Paste(text),
                    Ok(crossterm::event::Event::Resize(cols, rows)) => {
                        Event::Resize(Size::new(rows, cols))
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        let _ = events.send(Event::InputClosed(e.to_string()));
                        return;
                    }
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        let _ = failed.send(Event::InputClosed(format!(
            "starting the input thread: {e}"
        )));
    }
}
