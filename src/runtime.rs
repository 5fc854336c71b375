//! What both front ends share once panes run: listening for signals,
//! carrying out the effects a [`Host`] asks for (spawning, writing,
//! resizing, signalling, removing), routing reaped children to their panes,
//! counting a stopping pane's processes, and closing the logs at exit. The
//! server and the prefixed-line front end (`headless`) differ only in what
//! they show and how they pace it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::PaneId;
use crate::app::App;
use crate::event::Event;
use crate::pane::pty::{Pty, Wiring};
use crate::pane::{Pane, PaneState};
use crate::process::{self, PaneProcesses, proc::ProcessTable};
use crate::session::{Effect, Session};

/// The signals opmux acts on, listened for before any child exists.
pub struct Signals {
    pub child: tokio::signal::unix::Signal,
    pub term: tokio::signal::unix::Signal,
    pub int: tokio::signal::unix::Signal,
    pub hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn listen() -> Result<Self> {
        let listen = |kind| signal(kind).context("listening for signals");
        Ok(Self {
            child: listen(SignalKind::child())?,
            term: listen(SignalKind::terminate())?,
            int: listen(SignalKind::interrupt())?,
            hup: listen(SignalKind::hangup())?,
        })
    }
}

/// How long opmux waits for processes to vanish after the shutdown's SIGKILL
/// before it exits anyway.
pub const AFTER_KILL: Duration = Duration::from_secs(1);

/// Where a shutdown stands, as both event loops check it each turn.
pub enum Progress {
    /// Processes are still going away.
    Waiting,
    /// Every pane's run is over and nothing descended from opmux is left.
    Done,
    /// These processes outlived SIGKILL by [`AFTER_KILL`]: opmux gives up.
    Survivors(Vec<nix::unistd::Pid>),
}

/// Follows a shutdown to its end: it is over once no pane runs and no
/// descendant of opmux is left, or a second after SIGKILL whatever is left.
pub struct ShutdownWatch {
    /// When opmux stops waiting for survivors of SIGKILL.
    pub give_up_at: Option<Instant>,
    /// Whether descendants were left at the last recount.
    descendants_left: bool,
}

impl Default for ShutdownWatch {
    fn default() -> Self {
        Self {
            give_up_at: None,
            descendants_left: true,
        }
    }
}

impl ShutdownWatch {
    /// Checks a shutdown under way; asks for a recount while panes are
    /// over but descendants may be left.
    pub fn progress(&mut self, session: &Session, recount: &mut Recount) -> Progress {
        let Some(shutdown) = session.shutdown else {
            return Progress::Waiting;
        };
        if session.all_exited() && !self.descendants_left {
            return Progress::Done;
        }
        if session.all_exited() {
            recount.request();
        }
        if shutdown.killed && self.give_up_at.is_none() {
            self.give_up_at = Some(Instant::now() + AFTER_KILL);
        }
        if self.give_up_at.is_some_and(|at| at <= Instant::now()) {
            let survivors = process::live_descendants();
            if survivors.is_empty() {
                return Progress::Done;
            }
            return Progress::Survivors(survivors);
        }
        Progress::Waiting
    }
}

/// Counts what is left of stopping panes (see `count_stopping`) and,
/// during a shutdown, whether anything descended from opmux is left, from
/// one reading of /proc; none when there is nothing to count.
pub fn recount<H: Host>(
    app: &mut H,
    watch: &mut ShutdownWatch,
    handle: &mut impl FnMut(&mut H, Event),
) {
    let stopping = app
        .session()
        .panes
        .iter()
        .any(|p| matches!(p.state, PaneState::Stopping { .. }));
    if !stopping && app.session().shutdown.is_none() {
        return;
    }
    let table = ProcessTable::read();
    count_stopping(app, &table, handle);
    if app.session().shutdown.is_some() {
        watch.descendants_left = !process::live_descendants_in(&table).is_empty();
    }
}

/// How long opmux waits at exit for more of the panes' output before it
/// gives up on their reaching its end.
pub const OUTPUT_DRAIN: Duration = Duration::from_secs(2);

/// Closes every pane's log, with the lines still on its screen. Call
/// [`finish_output`] first, so the logs hold everything the programs wrote.
pub fn close_logs(session: &Session) {
    for pane in &session.panes {
        close_log(pane);
    }
}

/// Closes the pane's log, if it has one, and logs a failure to write it.
fn close_log(pane: &Pane) {
    if let Some(error) = pane.screen().close_log() {
        tracing::warn!(
            pane = pane.spec.name,
            error,
            "writing the pane's log failed"
        );
    }
}

/// Handles what is already waiting in `inbox`, a bounded number of events
/// so that a burst cannot keep the loop from drawing or reaping.
pub fn drain<H>(
    app: &mut H,
    inbox: &mut UnboundedReceiver<Event>,
    handle: &mut impl FnMut(&mut H, Event),
) {
    for _ in 0..256 {
        match inbox.try_recv() {
            Ok(event) => handle(app, event),
            Err(_) => break,
        }
    }
}

/// Handles events until every pane's output has reached its end (their
/// processes are gone, so it does). It gives up only when nothing arrives
/// for [`OUTPUT_DRAIN`]: a flood still being parsed keeps it waiting, so no
/// line a program wrote is lost, while output that never ends (a process
/// that survived SIGKILL holds the terminal) cannot hold opmux for long.
pub async fn finish_output<H: Host>(
    app: &mut H,
    inbox: &mut UnboundedReceiver<Event>,
    handle: &mut impl FnMut(&mut H, Event),
) {
    // A parser whose wake-up was already taken sends no other until the
    // flag is cleared, and no frame will clear it any more.
    for pane in &app.session().panes {
        pane.dirty.store(false, Ordering::Release);
    }
    while app.session().panes.iter().any(|p| p.output_open) {
        match tokio::time::timeout(OUTPUT_DRAIN, inbox.recv()).await {
            Ok(Some(event)) => {
                // No frame is drawn any more to clear the flag, and each
                // wake-up is a sign of progress worth waiting for.
                if let Event::PaneOutput(id) = &event
                    && let Some(pane) = app.session().pane(*id)
                {
                    pane.dirty.store(false, Ordering::Release);
                }
                handle(app, event);
            }
            _ => break,
        }
    }
}

/// Writes what the log keeps of an event: lifecycle and errors, no input.
pub fn log_event(session: &Session, event: &Event) {
    let name = |id: &PaneId| session.pane(*id).map_or("?", |p| p.spec.name.as_str());
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

/// What identifies pane `index`'s processes right now; `tag` is its
/// [`process::pane_tag`].
fn pane_processes<'a>(
    session: &'a Session,
    index: usize,
    tag: &'a str,
) -> Option<PaneProcesses<'a>> {
    let pane = session.panes.get(index)?;
    Some(PaneProcesses {
        sid: pane.state.pid()?,
        foreground: pane.pty.as_ref().and_then(Pty::foreground_group),
        tag,
        tty: pane.pty.as_ref().and_then(Pty::tty),
    })
}

/// Routes reaped statuses to their panes, with how many of each pane's
/// processes are left.
pub fn reap<H: Host>(app: &mut H, handle: &mut impl FnMut(&mut H, Event)) {
    let reaped = process::reap();
    if reaped.is_empty() {
        return;
    }
    // Read once, when the first pane's child turns up among them.
    let mut table = None;
    for (pid, status) in reaped {
        let Some(index) = app
            .session()
            .panes
            .iter()
            .position(|p| p.state.is_running() && p.state.pid() == Some(pid))
        else {
            continue;
        };
        let id = app.session().panes[index].id;
        let tag = process::pane_tag(id.0);
        let table = table.get_or_insert_with(ProcessTable::read);
        let left = pane_processes(app.session(), index, &tag).map_or(0, |p| p.find(table).len());
        let exited = Event::PaneExited {
            pane: id,
            status,
            left,
        };
        handle(app, exited);
    }
}

/// When the processes of stopping panes are next counted. Counting reads
/// /proc, so it happens at most every `RECOUNT`, however many children end.
#[derive(Default)]
pub struct Recount {
    pub at: Option<Instant>,
    last: Option<Instant>,
}

/// The shortest time between two counts of stopping panes' processes.
const RECOUNT: Duration = Duration::from_millis(50);

impl Recount {
    pub fn request(&mut self) {
        if self.at.is_none() {
            let now = Instant::now();
            self.at = Some(self.last.map_or(now, |last| (last + RECOUNT).max(now)));
        }
    }

    pub fn done(&mut self) {
        self.at = None;
        self.last = Some(Instant::now());
    }
}

/// Counts what each stopping pane has left: tells the app for panes whose
/// main process is gone, and SIGKILLs again what outlived a SIGKILL (a
/// process forked just as the last one was sent).
fn count_stopping<H: Host>(
    app: &mut H,
    table: &ProcessTable,
    handle: &mut impl FnMut(&mut H, Event),
) {
    // Ids, not places: a pane whose count ends its run may be removed (it
    // was closed), moving the panes after it.
    let stopping: Vec<PaneId> = app
        .session()
        .panes
        .iter()
        .filter(|p| matches!(p.state, PaneState::Stopping { .. }))
        .map(|p| p.id)
        .collect();
    for id in stopping {
        let Some(index) = app.session().index_of(id) else {
            continue;
        };
        let tag = process::pane_tag(id.0);
        let Some(processes) = pane_processes(app.session(), index, &tag) else {
            continue;
        };
        let left = processes.find(table).len();
        let (exited, killed) = match app.session().panes[index].state {
            PaneState::Stopping { exit, killed, .. } => (exit.is_some(), killed),
            _ => (false, false),
        };
        if killed && left > 0 {
            processes.signal(Signal::SIGKILL);
        }
        if exited {
            let counted = Event::PaneProcessesLeft { pane: id, left };
            handle(app, counted);
        }
    }
}

/// Opens the pane's log in the log folder on its first run. A log that
/// cannot be opened does not stop the pane; the error is returned for its title.
pub fn open_log(session: &Session, id: PaneId) -> Option<String> {
    let dir = session.log_dir.as_ref()?;
    let pane = session.pane(id)?;
    if pane.screen().has_log() {
        return None;
    }
    // Panes named alike (after the same command) get a log each: the first
    // NAME.log, the next NAME-2.log, in the order of the panes.
    let alike = session
        .panes
        .iter()
        .take_while(|p| p.id != id)
        .filter(|p| p.spec.name == pane.spec.name)
        .count();
    let stem = pane.spec.name.replace('/', "_");
    let file = match alike {
        0 => dir.join(format!("{stem}.log")),
        n => dir.join(format!("{stem}-{}.log", n + 1)),
    };
    let opened =
        std::fs::create_dir_all(dir).and_then(|()| pane.screen().open_log(&file, session.log_time));
    let e = opened.err()?;
    tracing::warn!(pane = pane.spec.name, error = %e, "could not open the pane's log");
    Some(format!("no log {}: {e}", file.display()))
}

pub fn start_pane(session: &mut Session, index: usize, events: &UnboundedSender<Event>) -> Event {
    let id = session.panes[index].id;
    let size = session.pane_size(id);
    let pane = &mut session.panes[index];
    {
        let mut screen = pane.screen();
        // From here on the screen takes this run's output only.
        pane.live_run.store(pane.run, Ordering::Release);
        if pane.run > 1 {
            // A new run on the old screen: reset the modes the last program
            // set and mark where the new output starts.
            screen.start_again(RESTART_BANNER.as_bytes());
        }
    }
    // A new run's first output announces itself, as any output after a
    // frame does: the session learns the pane is active.
    pane.dirty.store(false, Ordering::Release);
    let wiring = Wiring {
        id,
        run: pane.run,
        live_run: pane.live_run.clone(),
        screen: pane.screen.clone(),
        dirty: pane.dirty.clone(),
        events: events.clone(),
        ready: pane.spec.ready.as_ref().map(|r| r.0.clone()),
        attention: pane.spec.attention.as_ref().map(|r| r.0.clone()),
        flood_nice: session.flood_nice,
    };
    let pane = &mut session.panes[index];
    let tag = process::pane_tag(id.0);
    let mut env = vec![(process::PANE_TAG_VAR, tag.as_str())];
    for (key, value) in &session.pane_env {
        if !pane.spec.env.iter().any(|(k, _)| k == key) {
            env.push((key, value));
        }
    }
    // A port something else holds fails the run, not the session.
    let spawned = match pane
        .spec
        .port
        .filter(|_| pane.spec.port_checked)
        .filter(|&port| !crate::config::ports::is_free(port))
    {
        Some(port) => {
            let holder = process::proc::tcp_listener(port).map(|who| format!(" by {who}"));
            Err(anyhow::anyhow!(
                "port {port} is in use{}",
                holder.unwrap_or_default()
            ))
        }
        None => Pty::spawn(&pane.spec, size, &env, wiring),
    };
    match spawned {
        Ok(pty) => {
            process::register_pane(pty.pid);
            let pid = pty.pid;
            pane.pty = Some(pty);
            if pane.spec.ready_probe.is_some() || pane.spec.live_probe.is_some() {
                let mut env = session
                    .pane_env
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())));
                let mut place = crate::probe::Place {
                    cwd: pane.spec.cwd.clone(),
                    env: env.by_ref().collect(),
                };
                place.env.extend(pane.spec.env.iter().cloned());
                let probes = [
                    pane.spec.ready_probe.as_ref(),
                    pane.spec.live_probe.as_ref(),
                ];
                pane.probes = crate::probe::start(id, pane.run, probes, &place, events);
            }
            Event::PaneStarted { pane: id, pid }
        }
        Err(e) => {
            let error = format!("{e:#}");
            let mut screen = pane.screen();
            // On a line of its own: a line feed first only when the cursor
            // is not at a line's start, so no empty line comes before it.
            let fresh = screen.vt().cursor_position().1 == 0;
            let feed = if fresh { "" } else { "\r\n" };
            let message = format!("{feed}opmux: could not start this pane: {error}\r\n");
            screen.process(message.as_bytes());
            drop(screen);
            Event::PaneFailed { pane: id, error }
        }
    }
}

/// Leaves the alternate screen, turns off the modes a program may have left
/// on (DECSTR takes the margins, origin mode, insert mode, autowrap, the
/// character sets and the rendition), and draws a dim rule before a pane's
/// next run.
pub(crate) const RESTART_BANNER: &str = "\x1b[?1049l\x1b[!p\x1b[?2004l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\x1b[?2026l\r\n\x1b[2m── started again ──\x1b[0m\r\n";

pub fn apply<H: Host>(app: &mut H, effects: Vec<Effect>, events: &UnboundedSender<Event>) {
    for effect in effects {
        match effect {
            Effect::Write(id, bytes) => {
                let dropped = app
                    .session()
                    .pane(id)
                    .and_then(|p| p.pty.as_ref())
                    .is_some_and(|pty| !pty.write(bytes));
                if let Some(pane) = app.session_mut().pane_mut(id).filter(|_| dropped) {
                    tracing::warn!(
                        pane = pane.spec.name,
                        "input dropped: the program is not reading"
                    );
                    pane.error = Some("input dropped: the program is not reading".into());
                }
            }
            Effect::ResizePty(id, size) => {
                let Some(pane) = app.session_mut().pane_mut(id) else {
                    continue;
                };
                if let Some(Err(e)) = pane.pty.as_ref().map(|pty| pty.resize(size)) {
                    pane.error = Some(format!("resizing: {e:#}"));
                }
            }
            Effect::Start(id) => {
                let Some(index) = app.session().index_of(id) else {
                    continue;
                };
                let log_error = open_log(app.session(), id);
                let started = start_pane(app.session_mut(), index, events);
                log_event(app.session(), &started);
                let effects = app.update(started, Instant::now());
                if let (Some(error), Some(pane)) = (log_error, app.session_mut().pane_mut(id)) {
                    pane.error = Some(error);
                }
                apply(app, effects, events);
            }
            Effect::Signal(id, signal) => {
                let Some(index) = app.session().index_of(id) else {
                    continue;
                };
                let tag = process::pane_tag(id.0);
                if let Some(processes) = pane_processes(app.session(), index, &tag) {
                    let count = processes.signal(signal);
                    let pane = app.session().panes[index].spec.name.as_str();
                    tracing::info!(pane, %signal, processes = count, "signalled");
                }
            }
            Effect::Remove(id) => {
                let (removed, effects) = app.remove_pane(id, Instant::now());
                if let Some(pane) = removed {
                    tracing::info!(pane = pane.spec.name, "closed");
                    close_log(&pane);
                }
                apply(app, effects, events);
            }
            Effect::SignalStrays(signal) => {
                let tags: Vec<String> = app
                    .session()
                    .panes
                    .iter()
                    .map(|p| process::pane_tag(p.id.0))
                    .collect();
                let panes: Vec<PaneProcesses<'_>> = (0..app.session().panes.len())
                    .filter_map(|i| pane_processes(app.session(), i, &tags[i]))
                    .collect();
                process::signal_strays(&panes, signal);
            }
        }
    }
}

/// Gives memory the allocator holds free back to the system. A flood moves
/// megabytes through the pipeline's buffers on several threads, and glibc
/// keeps what they freed in per-thread arenas, so opmux's resident memory
/// would stay at its peak long after the output stopped.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// What the runtime carries effects out on: a session and whatever views
/// are attached to it, which must hear of a pane taken out.
pub trait Host {
    fn session(&self) -> &Session;
    fn session_mut(&mut self) -> &mut Session;
    /// A process event, a signal or the clock, with what it asks for.
    fn update(&mut self, event: Event, now: Instant) -> Vec<Effect>;
    /// Takes a closed pane out; returns it, so its log can be closed.
    fn remove_pane(&mut self, id: PaneId, now: Instant) -> (Option<Pane>, Vec<Effect>);
}

impl Host for App {
    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn update(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        App::update(self, event, now)
    }

    fn remove_pane(&mut self, id: PaneId, now: Instant) -> (Option<Pane>, Vec<Effect>) {
        App::remove_pane(self, id, now)
    }
}
