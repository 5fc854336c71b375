//! The runtime: sets the terminal up and restores it on every path, carries
//! out the effects [`App::update`] asks for, and runs the event loop that owns
//! the [`App`].
//!
//! Drawing is paced here. A change is drawn at once when the last frame is
//! older than [`FRAME`] (so a lone keystroke's echo shows immediately); while
//! changes keep coming they are coalesced into one frame per [`FRAME`]; and
//! with no change there is no timer at all, so an idle opmux never wakes.
//! The one timer besides: while a frame left a pane as it was because its
//! program is in the middle of a synchronized update, a frame is due when
//! that update has lasted [`ui::SYNC_LIMIT`].

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
    EnableFocusChange, EnableMouseCapture,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use nix::sys::signal::Signal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::time::sleep_until;

use crate::app::{App, Effect};
use crate::config::Settings;
use crate::event::Event;
use crate::output::{self, Outbox, Watch};
use crate::process;
use crate::runtime::{self, Progress, Recount, Signals, apply, log_event};
use crate::{Size, ui};

/// The shortest time between two frames: about 60 frames a second.
pub const FRAME: Duration = Duration::from_micros(16_667);
/// How often a countdown on screen is redrawn, and a stopping pane's
/// processes counted again in case their end went unnoticed.
const COUNTDOWN: Duration = Duration::from_millis(250);
/// How long after the last frame the memory a burst of output left free is
/// given back to the system. One wake-up per burst, none while idle.
const TIDY_AFTER: Duration = Duration::from_millis(500);

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

/// Puts the terminal in raw mode on the alternate screen with mouse,
/// bracketed-paste and focus reporting (the last passed on to the focused
/// pane's program if it asks for it). The guard undoes it even if a later
/// step fails.
fn enter_terminal(events: &UnboundedSender<Event>) -> Result<(TerminalGuard, Backend, Watch)> {
    install_panic_hook();
    crossterm::terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    let guard = TerminalGuard;
    let (mut out, watch) = output::spawn(events.clone()).context("starting the output thread")?;
    crossterm::execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        EnableFocusChange
    )
    .context("setting the terminal up")?;
    Ok((guard, CrosstermBackend::new(out), watch))
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
            DisableFocusChange,
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
    let mut painter = ui::Painter::new(app.session.size);
    let mut notices = Vec::new();
    if let Err(e) = subreaper {
        notices.push(format!(
            "not a subreaper ({e}): escaped processes may outlive opmux"
        ));
    }
    match log {
        Ok(path) => tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            panes = app.session.panes.len(),
            ?path,
            "opmux started"
        ),
        Err(e) => notices.push(format!("no log: {e:#}")),
    }
    if !notices.is_empty() {
        app.session.notice = Some(notices.join("; "));
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
    let mut recount = Recount::default();
    let mut watch = runtime::ShutdownWatch::default();
    let mut frame_cache = frame_cache();
    let mut tidy_at: Option<Instant> = None;
    // A pane left as it was for a synchronized update is drawn by then.
    let mut held_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if pacer.next.is_some_and(|at| at <= now) && output.backlog() > output::MAX_BACKLOG {
            // The terminal is not keeping up: try again a frame later.
            pacer.next = Some(now + FRAME);
        } else if pacer.next.is_some_and(|at| at <= now) {
            pacer.next = None;
            pacer.last = now;
            tidy_at = Some(now + TIDY_AFTER);
            app.needs_redraw = false;
            if can_draw {
                for pane in &app.session.panes {
                    pane.dirty.store(false, Ordering::Release);
                }
                let drawn = draw_frame(&mut painter, &mut terminal, &app, now, &mut frame_cache);
                held_until = frame_cache.held_until();
                if drawn.is_err() {
                    // The terminal is gone; stop drawing and shut down.
                    can_draw = false;
                    let closed = Event::InputClosed("drawing failed".into());
                    handle(&mut app, closed, &events, &mut pacer);
                }
            }
        }
        match watch.progress(&app.session, &mut recount) {
            Progress::Waiting => {}
            Progress::Done => break,
            Progress::Survivors(survivors) => {
                tracing::warn!(
                    ?survivors,
                    "processes still alive one second after SIGKILL; exiting anyway"
                );
                // The logs still get what the panes wrote; a survivor holding
                // a terminal open costs the output wait its two seconds.
                finish_logs(&mut app, &mut inbox, &events, &mut pacer).await;
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
        if app.session.counting_down() && countdown_at.is_none() {
            countdown_at = Some(Instant::now() + COUNTDOWN);
        }
        let deadline = app.session.next_deadline();

        let event = tokio::select! {
            Some(event) = inbox.recv() => Some(event),
            Some(()) = signals.child.recv() => {
                runtime::reap(&mut app, &mut |app, event| handle(app, event, &events, &mut pacer));
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
            () = sleep_until(watch.give_up_at.unwrap_or(now).into()), if watch.give_up_at.is_some() => None,
            () = sleep_until(tidy_at.unwrap_or(now).into()), if tidy_at.is_some() => {
                tidy_at = None;
                runtime::release_free_memory();
                None
            }
            () = sleep_until(held_until.unwrap_or(now).into()), if held_until.is_some() => {
                held_until = None;
                pacer.request();
                None
            }
            () = sleep_until(countdown_at.unwrap_or(now).into()), if countdown_at.is_some() => {
                countdown_at = None;
                recount.request();
                pacer.request();
                None
            }
            () = sleep_until(recount.at.unwrap_or(now).into()), if recount.at.is_some() => {
                recount.done();
                runtime::recount(&mut app, &mut watch, &mut |app, event| {
                    handle(app, event, &events, &mut pacer)
                });
                None
            }
        };

        if let Some(event) = event {
            handle(&mut app, event, &events, &mut pacer);
            // Take whatever else is already waiting before drawing once.
            runtime::drain(&mut app, &mut inbox, &mut |app, event| {
                handle(app, event, &events, &mut pacer)
            });
        }
        copy_to_clipboard(&mut app, &mut terminal);
    }
    let code = app.session.shutdown.map_or(0, |s| s.exit_code);
    finish_logs(&mut app, &mut inbox, &events, &mut pacer).await;
    tracing::info!(code, "opmux exits");
    // Leave no zombie behind, even one whose SIGCHLD has not been handled yet.
    process::reap();
    // Let the last frame out before the terminal is restored behind it.
    output.wait_drained(RESTORE_LIMIT);
    drop(terminal);
    drop(guard);
    Ok(code)
}

/// The renderer's cache. Debug builds take the limit on synchronized
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

/// With logs open, waits for the rest of the panes' output so the logs
/// hold it all, then closes them.
async fn finish_logs(
    app: &mut App,
    inbox: &mut UnboundedReceiver<Event>,
    events: &UnboundedSender<Event>,
    pacer: &mut Pacer,
) {
    if app.session.log_dir.is_none() {
        return;
    }
    runtime::finish_output(app, inbox, &mut |app, event| {
        handle(app, event, events, pacer)
    })
    .await;
    runtime::close_logs(&app.session);
}

/// Draws one frame of `app` over the last, afresh if the app's size is not
/// the one the painter drew at.
fn draw_frame(
    painter: &mut ui::Painter,
    terminal: &mut Backend,
    app: &App,
    now: Instant,
    cache: &mut ui::FrameCache,
) -> std::io::Result<()> {
    if painter.size() != app.session.size {
        painter.resize(app.session.size);
    }
    painter.draw(terminal, |canvas| {
        ui::render_cached(canvas, &app.session, &app.view, now, cache)
    })?;
    Ok(())
}

/// Sends what the app copied to the outer terminal's clipboard with OSC 52,
/// which works over SSH too. The text goes base64-encoded, so nothing in it
/// can end the sequence early, whether a selection or a pane's own copy.
fn copy_to_clipboard(app: &mut App, terminal: &mut Backend) {
    for text in app.view.clipboard.drain(..) {
        tracing::info!(chars = text.chars().count(), "copied to the clipboard");
        let _ = terminal.write_all(crate::mouse::osc52(&text).as_bytes());
        let _ = Write::flush(terminal);
    }
}

fn handle(app: &mut App, event: Event, events: &UnboundedSender<Event>, pacer: &mut Pacer) {
    // Fault injection for the end-to-end tests of the panic path; debug builds only.
    #[cfg(debug_assertions)]
    if matches!(event, Event::Key(_)) && std::env::var_os("OPMUX_FAULT_PANIC_ON_KEY").is_some() {
        panic!("injected fault: a key arrived while OPMUX_FAULT_PANIC_ON_KEY is set");
    }
    log_event(&app.session, &event);
    let echo = match &event {
        Event::PaneOutput(id) => {
            app.session.index_of(*id) == Some(app.view.focus)
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
                    Ok(crossterm::event::Event::FocusGained) => Event::TerminalFocus(true),
                    Ok(crossterm::event::Event::FocusLost) => Event::TerminalFocus(false),
                    Ok(crossterm::event::Event::Resize(cols, rows)) => {
                        Event::Resize(Size::new(rows, cols))
                    }
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
