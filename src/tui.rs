//! The runtime: sets the terminal up and restores it on every path, carries
//! out the effects [`App::update`] asks for, and runs the event loop that owns
//! the [`App`].
//!
//! Drawing is paced here. A change is drawn at once when the last frame is
//! older than [`FRAME`] (so a lone keystroke's echo shows immediately); while
//! changes keep coming they are coalesced into one frame per [`FRAME`]; and
//! with no change there is no timer at all, so an idle opmux never wakes.

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
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
use crate::output::{self, Outbox, Watch};
use crate::pane::PaneState;
use crate::pane::pty::{Pty, Wiring};
use crate::process::{self, PaneProcesses, proc::ProcessTable};
use crate::{PaneId, Size, ui};

/// The shortest time between two frames: about 60 frames a second.
pub const FRAME: Duration = Duration::from_micros(16_667);
/// How often a countdown on screen is redrawn, and a stopping pane's
/// processes counted again in case their end went unnoticed.
const COUNTDOWN: Duration = Duration::from_millis(250);
/// How long opmux waits for processes to vanish after the shutdown's SIGKILL
/// before it exits anyway.
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

type Backend = CrosstermBackend<Outbox>;

/// Restores the terminal when dropped; exists from the moment raw mode is on.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Puts the terminal in raw mode on the alternate screen with mouse and
/// bracketed-paste reporting. The guard undoes it even if a later step fails.
fn enter_terminal(
    events: &UnboundedSender<Event>,
) -> Result<(TerminalGuard, Terminal<Backend>, Watch)> {
    install_panic_hook();
    crossterm::terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    let guard = TerminalGuard;
    let (mut out, watch) = output::spawn(events.clone()).context("starting the output thread")?;
    crossterm::execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )
    .context("setting the terminal up")?;
    let terminal = Terminal::new(CrosstermBackend::new(out)).context("starting the renderer")?;
    Ok((guard, terminal, watch))
}

/// How long restoring the terminal may take: a terminal that stopped reading
/// must not keep opmux from exiting.
const RESTORE_LIMIT: Duration = Duration::from_secs(1);

/// Undoes everything `enter_terminal` did, waiting at most [`RESTORE_LIMIT`]
/// for the terminal to take the bytes. Safe to call more than once.
fn restore_terminal() {
    let (done, wait) = std::sync::mpsc::channel();
    let writer = std::thread::Builder::new().spawn(move || {
        let mut out = std::io::stdout();
        let _ = crossterm::execute!(
            out,
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            crossterm::cursor::Show
        );
        let _ = out.flush();
        let _ = done.send(());
    });
    if writer.is_ok() {
        let _ = wait.recv_timeout(RESTORE_LIMIT);
    }
    // Changing the terminal's mode takes effect at once, written or not.
    let _ = crossterm::terminal::disable_raw_mode();
}

/// On a panic anywhere, even in a pane's thread: restore the terminal, SIGKILL
/// every pane's processes, report the panic, and exit non-zero. Carrying on
/// with a dead thread would leave a pane silently frozen.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!("panic: {info}");
        // Kill first: restoring may wait on a terminal that stopped reading.
        process::kill_everything_now();
        restore_terminal();
        previous(info);
        std::process::exit(101);
    }));
}

struct Signals {
    child: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    winch: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Self> {
        let listen = |kind| signal(kind).context("listening for signals");
        Ok(Self {
            child: listen(SignalKind::child())?,
            term: listen(SignalKind::terminate())?,
            int: listen(SignalKind::interrupt())?,
            hup: listen(SignalKind::hangup())?,
            winch: listen(SignalKind::window_change())?,
        })
    }
}

/// When the next frame is due, if one was asked for.
struct Pacer {
    next: Option<Instant>,
    last: Instant,
    /// When input was last written to the focused pane. Its echo is drawn at
    /// once, even while a flood elsewhere keeps the frame clock busy.
    typed: Option<Instant>,
}

/// How long after a keystroke output from the focused pane counts as its echo.
const ECHO_WINDOW: Duration = Duration::from_millis(250);

impl Pacer {
    /// Asks for a frame: now if the last one is at least [`FRAME`] old, else
    /// at the end of that frame. A frame already asked for stays as it is.
    fn request(&mut self) {
        if self.next.is_none() {
            self.next = Some((self.last + FRAME).max(Instant::now()));
        }
    }
}

async fn event_loop(settings: Settings) -> Result<i32> {
    // Signals are listened for before any child exists and before the size is
    // read, so no exit and no resize during start-up is missed.
    let mut signals = Signals::listen()?;
    let subreaper = process::become_subreaper();
    let log = crate::log::init();
    let (cols, rows) = crossterm::terminal::size().context("reading the terminal size")?;
    let (events, mut inbox) = unbounded_channel();
    let mut app = App::from_settings(settings, Size::new(rows, cols));
    let (guard, mut terminal, output) = enter_terminal(&events)?;
    let mut notices = Vec::new();
    if let Err(e) = subreaper {
        notices.push(format!(
            "not a subreaper ({e}): escaped processes may outlive opmux"
        ));
    }
    match log {
        Ok(path) => tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            panes = app.panes.len(),
            ?path,
            "opmux started"
        ),
        Err(e) => notices.push(format!("no log: {e:#}")),
    }
    if !notices.is_empty() {
        app.notice = Some(notices.join("; "));
    }
    let effects = app.start();
    apply(&mut app, effects, &events);
    spawn_input_thread(events.clone());

    let mut pacer = Pacer {
        next: Some(Instant::now()),
        last: Instant::now() - FRAME,
        typed: None,
    };
    let mut can_draw = true;
    let mut countdown_at: Option<Instant> = None;
    let mut give_up_at: Option<Instant> = None;
    let mut recount = Recount::default();
    // Whether opmux has descendants left, as of the last recount during a
    // shutdown; the shutdown ends once no pane and none of these is left.
    let mut descendants_left = true;
    loop {
        let now = Instant::now();
        if pacer.next.is_some_and(|at| at <= now) && output.backlog() > output::MAX_BACKLOG {
            // The terminal is not keeping up: try again a frame later.
            pacer.next = Some(now + FRAME);
        } else if pacer.next.is_some_and(|at| at <= now) {
            pacer.next = None;
            pacer.last = now;
            app.needs_redraw = false;
            if can_draw {
                for pane in &app.panes {
                    pane.dirty.store(false, Ordering::Release);
                }
                if terminal.draw(|frame| ui::render(frame, &app, now)).is_err() {
                    // The terminal is gone; stop drawing and shut down.
                    can_draw = false;
                    let closed = Event::InputClosed("drawing failed".into());
                    handle(&mut app, closed, &events, &mut pacer);
                }
            }
        }
        if let Some(shutdown) = app.shutdown {
            if app.all_exited() && !descendants_left {
                break;
            }
            if app.all_exited() {
                recount.request();
            }
            if shutdown.killed && give_up_at.is_none() {
                give_up_at = Some(Instant::now() + AFTER_KILL);
            }
            if give_up_at.is_some_and(|at| at <= Instant::now()) {
                let survivors = process::live_descendants();
                if survivors.is_empty() {
                    break;
                }
                tracing::warn!(
                    ?survivors,
                    "processes still alive one second after SIGKILL; exiting anyway"
                );
                output.wait_drained(RESTORE_LIMIT);
                drop(terminal);
                drop(guard);
                eprintln!(
                    "opmux: {} process(es) survived SIGKILL and were left running: {survivors:?}",
                    survivors.len()
                );
                return Ok(1);
            }
        }
        if app.counting_down() && countdown_at.is_none() {
            countdown_at = Some(Instant::now() + COUNTDOWN);
        }
        let deadline = app.next_deadline();

        let event = tokio::select! {
            Some(event) = inbox.recv() => Some(event),
            Some(()) = signals.child.recv() => {
                reap(&mut app, &events, &mut pacer);
                recount.request();
                None
            }
            Some(()) = signals.term.recv() => Some(Event::Signal(Signal::SIGTERM)),
            Some(()) = signals.int.recv() => Some(Event::Signal(Signal::SIGINT)),
            Some(()) = signals.hup.recv() => Some(Event::Signal(Signal::SIGHUP)),
            Some(()) = signals.winch.recv() => crossterm::terminal::size()
                .ok()
                .map(|(cols, rows)| Event::Resize(Size::new(rows, cols))),
            () = sleep_until(pacer.next.unwrap_or(now).into()), if pacer.next.is_some() => None,
            () = sleep_until(deadline.unwrap_or(now).into()), if deadline.is_some() => Some(Event::Tick),
            () = sleep_until(give_up_at.unwrap_or(now).into()), if give_up_at.is_some() => None,
            () = sleep_until(countdown_at.unwrap_or(now).into()), if countdown_at.is_some() => {
                countdown_at = None;
                recount.request();
                pacer.request();
                None
            }
            () = sleep_until(recount.at.unwrap_or(now).into()), if recount.at.is_some() => {
                recount.done();
                count_stopping(&mut app, &events, &mut pacer);
                if app.shutdown.is_some() {
                    descendants_left = !process::live_descendants().is_empty();
                }
                None
            }
        };

        if let Some(event) = event {
            handle(&mut app, event, &events, &mut pacer);
            // Take whatever else is already waiting before drawing once.
            drain(&mut app, &mut inbox, &events, &mut pacer);
        }
        copy_to_clipboard(&mut app, &mut terminal);
    }
    let code = app.shutdown.map_or(0, |s| s.exit_code);
    close_logs(&mut app, &mut inbox, &events, &mut pacer).await;
    tracing::info!(code, "opmux exits");
    // Leave no zombie behind, even one whose SIGCHLD has not been handled yet.
    process::reap();
    // Let the last frame out before the terminal is restored behind it.
    output.wait_drained(RESTORE_LIMIT);
    drop(terminal);
    drop(guard);
    Ok(code)
}

/// Sends what the app copied to the outer terminal's clipboard with OSC 52,
/// which works over SSH too. The text was cleaned when it was drawn.
fn copy_to_clipboard(app: &mut App, terminal: &mut Terminal<Backend>) {
    for text in app.clipboard.drain(..) {
        tracing::info!(chars = text.chars().count(), "copied to the clipboard");
        let out = terminal.backend_mut();
        let _ = out.write_all(crate::mouse::osc52(&text).as_bytes());
        let _ = out.flush();
    }
}

/// How long opmux waits at exit for panes' output to reach its end, so the
/// logs hold everything the programs wrote.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// Lets every pane's reader and parser finish what the program wrote (its
/// processes are gone, so the output ends), then closes the logs with the
/// lines still on screen.
async fn close_logs(
    app: &mut App,
    inbox: &mut UnboundedReceiver<Event>,
    events: &UnboundedSender<Event>,
    pacer: &mut Pacer,
) {
    if app.log_dir.is_none() {
        return;
    }
    let deadline = tokio::time::Instant::now() + OUTPUT_DRAIN;
    while app.panes.iter().any(|p| p.output_open) {
        match tokio::time::timeout_at(deadline, inbox.recv()).await {
            Ok(Some(event)) => handle(app, event, events, pacer),
            _ => break,
        }
    }
    for pane in &app.panes {
        if let Some(error) = pane.screen().close_log() {
            tracing::warn!(
                pane = pane.spec.name,
                error,
                "writing the pane's log failed"
            );
        }
    }
}

fn handle(app: &mut App, event: Event, events: &UnboundedSender<Event>, pacer: &mut Pacer) {
    // Fault injection for the end-to-end tests of the panic path; debug builds only.
    #[cfg(debug_assertions)]
    if matches!(event, Event::Key(_)) && std::env::var_os("OPMUX_FAULT_PANIC_ON_KEY").is_some() {
        panic!("injected fault: a key arrived while OPMUX_FAULT_PANIC_ON_KEY is set");
    }
    log_event(app, &event);
    let echo = match &event {
        Event::PaneOutput(id) => {
            app.index_of(*id) == Some(app.focus)
                && pacer.typed.is_some_and(|t| t.elapsed() < ECHO_WINDOW)
        }
        _ => false,
    };
    let effects = app.update(event, Instant::now());
    if effects.iter().any(|e| matches!(e, Effect::Write(..))) {
        pacer.typed = Some(Instant::now());
    }
    apply(app, effects, events);
    if echo {
        // One frame out of turn per keystroke: the echo shows at once.
        pacer.typed = None;
        pacer.next = Some(Instant::now());
    } else if app.needs_redraw {
        pacer.request();
    }
}

/// Writes what the log keeps of an event: lifecycle and errors, no input.
fn log_event(app: &App, event: &Event) {
    let name = |id: &PaneId| app.pane(*id).map_or("?", |p| p.spec.name.as_str());
    match event {
        Event::PaneExited { pane, status, left } => {
            tracing::info!(pane = name(pane), ?status, left, "main process exited")
        }
        Event::PaneOutputClosed {
            pane,
            error: Some(error),
            ..
        } => {
            tracing::warn!(pane = name(pane), error, "output ended with an error")
        }
        Event::PaneInputFailed { pane, error, .. } => {
            tracing::warn!(pane = name(pane), error, "writing input failed")
        }
        Event::PaneStarted { pane, pid } => tracing::info!(pane = name(pane), %pid, "started"),
        Event::PaneFailed { pane, error } => {
            tracing::warn!(pane = name(pane), error, "could not start")
        }
        Event::Signal(signal) => tracing::info!(%signal, "signal received"),
        Event::InputClosed(why) => tracing::warn!(why, "terminal lost"),
        _ => {}
    }
}

fn drain(
    app: &mut App,
    inbox: &mut UnboundedReceiver<Event>,
    events: &UnboundedSender<Event>,
    pacer: &mut Pacer,
) {
    // Bounded, so a burst of events cannot keep the loop from drawing or reaping.
    for _ in 0..256 {
        match inbox.try_recv() {
            Ok(event) => handle(app, event, events, pacer),
            Err(_) => break,
        }
    }
}

/// What identifies pane `index`'s processes right now; `tag` is its
/// [`process::pane_tag`].
fn pane_processes<'a>(app: &'a App, index: usize, tag: &'a str) -> Option<PaneProcesses<'a>> {
    let pane = app.panes.get(index)?;
    Some(PaneProcesses {
        sid: pane.state.pid()?,
        foreground: pane.pty.as_ref().and_then(Pty::foreground_group),
        tag,
        tty: pane.pty.as_ref().and_then(Pty::tty),
    })
}

/// Routes reaped statuses to their panes, with how many of each pane's
/// processes are left.
fn reap(app: &mut App, events: &UnboundedSender<Event>, pacer: &mut Pacer) {
    let reaped = process::reap();
    if reaped.is_empty() {
        return;
    }
    for (pid, status) in reaped {
        let Some(index) = app
            .panes
            .iter()
            .position(|p| p.state.is_running() && p.state.pid() == Some(pid))
        else {
            continue;
        };
        let id = app.panes[index].id;
        let tag = process::pane_tag(id.0);
        let table = ProcessTable::read();
        let left = pane_processes(app, index, &tag).map_or(0, |p| p.find(&table).len());
        let exited = Event::PaneExited {
            pane: id,
            status,
            left,
        };
        handle(app, exited, events, pacer);
    }
}

/// When the processes of stopping panes are next counted. Counting reads
/// /proc, so it happens at most every [`RECOUNT`], however many children end.
#[derive(Default)]
struct Recount {
    at: Option<Instant>,
    last: Option<Instant>,
}

/// The shortest time between two counts of stopping panes' processes.
const RECOUNT: Duration = Duration::from_millis(50);

impl Recount {
    fn request(&mut self) {
        if self.at.is_none() {
            let now = Instant::now();
            self.at = Some(self.last.map_or(now, |last| (last + RECOUNT).max(now)));
        }
    }

    fn done(&mut self) {
        self.at = None;
        self.last = Some(Instant::now());
    }
}

/// Counts what each stopping pane has left: tells the app for panes whose
/// main process is gone, and SIGKILLs again what outlived a SIGKILL (a
/// process forked just as the last one was sent).
fn count_stopping(app: &mut App, events: &UnboundedSender<Event>, pacer: &mut Pacer) {
    // Ids, not places: a pane whose count ends its run may be removed (it
    // was closed), moving the panes after it.
    let stopping: Vec<PaneId> = app
        .panes
        .iter()
        .filter(|p| matches!(p.state, PaneState::Stopping { .. }))
        .map(|p| p.id)
        .collect();
    if stopping.is_empty() {
        return;
    }
    let table = ProcessTable::read();
    for id in stopping {
        let Some(index) = app.index_of(id) else {
            continue;
        };
        let tag = process::pane_tag(id.0);
        let Some(processes) = pane_processes(app, index, &tag) else {
            continue;
        };
        let left = processes.find(&table).len();
        let (exited, killed) = match app.panes[index].state {
            PaneState::Stopping { exit, killed, .. } => (exit.is_some(), killed),
            _ => (false, false),
        };
        if killed && left > 0 {
            processes.signal(Signal::SIGKILL);
        }
        if exited {
            let counted = Event::PaneProcessesLeft { pane: id, left };
            handle(app, counted, events, pacer);
        }
    }
}

/// Opens the pane's log in the log folder on its first run. A log that
/// cannot be opened does not stop the pane; the error is returned for its title.
fn open_log(app: &App, id: PaneId) -> Option<String> {
    let dir = app.log_dir.as_ref()?;
    let pane = app.pane(id)?;
    if pane.screen().has_log() {
        return None;
    }
    let file = dir.join(format!("{}.log", pane.spec.name.replace('/', "_")));
    let opened = std::fs::create_dir_all(dir).and_then(|()| pane.screen().open_log(&file));
    let e = opened.err()?;
    tracing::warn!(pane = pane.spec.name, error = %e, "could not open the pane's log");
    Some(format!("no log {}: {e}", file.display()))
}

fn start_pane(app: &mut App, index: usize, events: &UnboundedSender<Event>) -> Event {
    let id = app.panes[index].id;
    let size = app.pane_size(id);
    let pane = &mut app.panes[index];
    {
        let mut screen = pane.screen();
        // From here on the screen takes this run's output only.
        pane.live_run.store(pane.run, Ordering::Release);
        if pane.run > 1 {
            // A new run on the old screen: reset the modes the last program
            // set and mark where the new output starts.
            screen.process(RESTART_BANNER.as_bytes());
        }
    }
    let wiring = Wiring {
        id,
        run: pane.run,
        live_run: pane.live_run.clone(),
        screen: pane.screen.clone(),
        dirty: pane.dirty.clone(),
        events: events.clone(),
        ready: pane.spec.ready.as_ref().map(|r| r.0.clone()),
    };
    let pane = &mut app.panes[index];
    let tag = process::pane_tag(id.0);
    match Pty::spawn(&pane.spec, size, &[(process::PANE_TAG_VAR, &tag)], wiring) {
        Ok(pty) => {
            process::register_pane(pty.pid);
            let pid = pty.pid;
            pane.pty = Some(pty);
            Event::PaneStarted { pane: id, pid }
        }
        Err(e) => {
            let error = format!("{e:#}");
            let message = format!("\r\nopmux: could not start this pane: {error}\r\n");
            pane.screen().process(message.as_bytes());
            Event::PaneFailed { pane: id, error }
        }
    }
}

/// Leaves the alternate screen, turns off the input modes a program may have
/// left on, and draws a dim rule before a pane's next run.
const RESTART_BANNER: &str = "\x1b[?1049l\x1b[?1l\x1b>\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?25h\x1b[0m\r\n\x1b[2m── started again ──\x1b[0m\r\n";

fn apply(app: &mut App, effects: Vec<Effect>, events: &UnboundedSender<Event>) {
    for effect in effects {
        match effect {
            Effect::Write(id, bytes) => {
                if let Some(pty) = app.pane(id).and_then(|p| p.pty.as_ref()) {
                    pty.write(bytes);
                }
            }
            Effect::ResizePty(id, size) => {
                let Some(pane) = app.pane_mut(id) else {
                    continue;
                };
                if let Some(Err(e)) = pane.pty.as_ref().map(|pty| pty.resize(size)) {
                    pane.error = Some(format!("resizing: {e:#}"));
                }
            }
            Effect::Start(id) => {
                let Some(index) = app.index_of(id) else {
                    continue;
                };
                let log_error = open_log(app, id);
                let started = start_pane(app, index, events);
                log_event(app, &started);
                let effects = app.update(started, Instant::now());
                if let (Some(error), Some(pane)) = (log_error, app.pane_mut(id)) {
                    pane.error = Some(error);
                }
                apply(app, effects, events);
            }
            Effect::Signal(id, signal) => {
                let Some(index) = app.index_of(id) else {
                    continue;
                };
                let tag = process::pane_tag(id.0);
                if let Some(processes) = pane_processes(app, index, &tag) {
                    let count = processes.signal(signal);
                    let pane = app.panes[index].spec.name.as_str();
                    tracing::info!(pane, %signal, processes = count, "signalled");
                }
            }
            Effect::Remove(id) => {
                let (removed, effects) = app.remove_pane(id, Instant::now());
                if let Some(pane) = removed {
                    tracing::info!(pane = pane.spec.name, "closed");
                    if let Some(error) = pane.screen().close_log() {
                        tracing::warn!(
                            pane = pane.spec.name,
                            error,
                            "writing the pane's log failed"
                        );
                    }
                }
                apply(app, effects, events);
            }
            Effect::SignalStrays(signal) => {
                let tags: Vec<String> = app
                    .panes
                    .iter()
                    .map(|p| process::pane_tag(p.id.0))
                    .collect();
                let panes: Vec<PaneProcesses<'_>> = (0..app.panes.len())
                    .filter_map(|i| pane_processes(app, i, &tags[i]))
                    .collect();
                process::signal_strays(&panes, signal);
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
