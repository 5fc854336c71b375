//! The session: the panes, their supervision (dependencies, restart
//! policies with backoff), zoom and layout, and the shutdown. It is driven
//! by [`Command`]s addressed to a pane and by the process events the
//! runtime reports, and answers each with the [`Effect`]s the runtime must
//! carry out (spawning, PTY writes and resizes, signals). It knows no
//! terminal and no client: focus, scroll mode, the prompt and the mouse
//! belong to a view (`crate::view`), which reads the session and sends it
//! commands. It does no I/O itself, so tests drive a session whose panes
//! have no PTY and check what it asks for.

pub mod control;

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use ratatui::layout::Rect;

use crate::config::{Condition, LayoutKind, PaneSpec, RestartPolicy, Settings};
use crate::event::Event;
use crate::layout;
use crate::pane::{Attention, Pane, PaneState, Supervision};
use crate::process::ExitStatus;
use crate::{PaneId, Size, clean_text};

/// The first automatic restart's delay; each quick failure doubles it.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The longest delay between automatic restarts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A run that lasted this long resets the delay to [`BACKOFF_FIRST`].
pub const BACKOFF_RESET: Duration = Duration::from_secs(10);

/// What the runtime must do after an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Bytes for a pane's program.
    Write(PaneId, Vec<u8>),
    /// The pane's PTY must take this size; its screen already has.
    ResizePty(PaneId, Size),
    /// Start a new run of the pane, numbered `Pane::run`.
    Start(PaneId),
    /// Send this signal to every process of the pane.
    Signal(PaneId, Signal),
    /// Send this signal to every descendant of opmux that no pane claims.
    SignalStrays(Signal),
    /// The pane was closed and its run is over: close its log and call
    /// [`Session::remove_pane`].
    Remove(PaneId),
}

/// What a view (keys, the mouse, a prompt) or another source asks of the
/// session. Pane commands name their pane, so it does not matter which
/// client's focus picked it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Bytes for the pane's program, if it runs.
    Write(PaneId, Vec<u8>),
    /// Start the pane, or restart it once it stopped if it is stopping.
    Start(PaneId),
    /// Stop it now and start it again.
    Restart(PaneId),
    /// Restart these panes together, in dependency order: each waits, in
    /// its next run, for the next run of what it depends on among them.
    RestartAll(Vec<PaneId>),
    /// Its stop signal, SIGKILL after its timeout; again while it stops
    /// kills at once.
    Stop(PaneId),
    /// SIGKILL to every process of the pane.
    Kill(PaneId),
    /// Stop it and take it out once its run is over.
    Close(PaneId),
    /// A new pane, started at once at the end of the list.
    Add(Box<PaneSpec>),
    /// A new name for the pane.
    Rename(PaneId, String),
    /// Zoom this pane to the whole area, or go back to the layout.
    Zoom(Option<PaneId>),
    /// The next of the layouts.
    NextLayout,
    /// The terminal the panes are laid out for has this size.
    Resize(Size),
    /// Stop every pane and end with `exit_code`; asked again with
    /// `escalate`, SIGKILL at once.
    Quit { exit_code: i32, escalate: bool },
}

impl Command {
    /// Whether this command can change the size of panes' screens.
    pub fn may_resize(&self) -> bool {
        matches!(
            self,
            Command::Add(_) | Command::Zoom(_) | Command::NextLayout | Command::Resize(_)
        )
    }
}

/// Something that happened to a pane, for `opmux events`: the pane's name
/// and number then, and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub name: String,
    pub number: u32,
    pub what: Happened,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happened {
    Started {
        pid: u32,
    },
    Ready,
    Exited(ExitStatus),
    Restarting {
        delay: Duration,
        attempt: u32,
    },
    GaveUp,
    /// Its liveness probe failed too often: the run is being stopped.
    Unhealthy(String),
    Attention(Attention),
    AttentionCleared,
    Added,
    Removed,
}

/// A shutdown in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shutdown {
    /// When survivors of the stop signal get SIGKILL.
    pub deadline: Instant,
    /// Whether SIGKILL has been sent already.
    pub killed: bool,
    /// opmux's exit status once everything is gone.
    pub exit_code: i32,
}

pub struct Session {
    pub panes: Vec<Pane>,
    /// The pane shown alone over the whole area, if one is zoomed.
    pub zoom: Option<PaneId>,
    /// The size of the terminal the panes are laid out for.
    pub size: Size,
    pub shutdown: Option<Shutdown>,
    pub layout: LayoutKind,
    /// A warning about opmux itself (no log, not a subreaper), shown in the
    /// status line for the whole run.
    pub notice: Option<String>,
    /// Where each pane's output lines are logged, as `NAME.log`.
    pub log_dir: Option<std::path::PathBuf>,
    /// Whether each logged line starts with the time it was written.
    pub log_time: bool,
    /// How many nice steps lower a flooding pane's programs run.
    pub flood_nice: u8,
    /// Whether panes' programs may put text on the clipboard.
    pub clipboard_allowed: bool,
    /// Texts panes' programs put on the clipboard (OSC 52), for the front
    /// end to pass on.
    pub copies: Vec<String>,
    /// The panes some attached view has focused, set by the front end: a
    /// run that ends in one of them raises no attention.
    pub watched: Vec<PaneId>,
    /// Bells rung by panes since the front end last passed them on.
    pub bells: u32,
    /// Desktop notifications from panes since the front end last passed
    /// them on (the last few), cleaned and cut short.
    pub notifications: Vec<String>,
    /// What happened to the panes since the front end last took it, for
    /// `opmux events`; kept only while `noting`.
    pub notes: Vec<Note>,
    /// Someone reads the notes.
    pub noting: bool,
    /// The size every pane's program is given when nothing is drawn (the
    /// prefixed-line front end), instead of its place in the layout.
    pub pty_size: Option<Size>,
    /// The id the next pane added at runtime gets.
    next_id: usize,
    /// Lines of history each pane keeps.
    pub scrollback: usize,
    /// The stop timeout of panes added at runtime.
    pub default_stop_timeout: Duration,
    /// Variables every pane's programs get, unless the pane's own `env`
    /// sets or drops them: `OPMUX`, the session's socket.
    pub pane_env: Vec<(String, String)>,
}

impl Session {
    /// Gives every pane started from now on the session's socket in
    /// `OPMUX`: a program in a pane reaches its own session with it, as
    /// `$TMUX` lets one reach tmux.
    pub fn reachable_at(&mut self, socket: &std::path::Path) {
        self.pane_env.push((
            crate::protocol::SESSION_VAR.into(),
            socket.to_string_lossy().into_owned(),
        ));
    }

    /// Every pane as `opmux status` reports it, in order.
    pub fn status(&self) -> Vec<crate::protocol::PaneStatus> {
        self.panes
            .iter()
            .enumerate()
            .map(|(i, pane)| pane_status(pane, i + 1))
            .collect()
    }

    /// Pane `id` as `opmux status` reports it, if it is still there.
    pub fn pane_status(&self, id: PaneId) -> Option<crate::protocol::PaneStatus> {
        let index = self.index_of(id)?;
        Some(pane_status(&self.panes[index], index + 1))
    }

    /// Builds the panes, each with a screen already sized to its place in the
    /// layout, so the PTY can be given that size before the program starts.
    pub fn new(specs: Vec<PaneSpec>, size: Size, layout: LayoutKind) -> Self {
        let mut session = Self {
            panes: Vec::new(),
            zoom: None,
            size,
            shutdown: None,
            layout,
            notice: None,
            log_dir: None,
            log_time: false,
            flood_nice: crate::config::DEFAULT_FLOOD_NICE,
            clipboard_allowed: false,
            copies: Vec::new(),
            watched: Vec::new(),
            bells: 0,
            notifications: Vec::new(),
            notes: Vec::new(),
            noting: false,
            pty_size: None,
            next_id: specs.len(),
            scrollback: crate::config::DEFAULT_SCROLLBACK,
            default_stop_timeout: crate::config::DEFAULT_STOP_TIMEOUT,
            pane_env: Vec::new(),
        };
        let rects = layout::arrange(specs.len(), session.panes_area(), None, layout);
        for (i, (mut spec, rect)) in specs.into_iter().zip(rects).enumerate() {
            spec.name = session.unique_name(&spec.name, None);
            session
                .panes
                .push(Pane::new(PaneId(i), spec, inner_size(rect)));
        }
        session
    }

    /// `wanted`, or the first of `wanted-2`, `wanted-3`… that no pane but
    /// `except` is named: a pane's name names one pane.
    fn unique_name(&self, wanted: &str, except: Option<PaneId>) -> String {
        let taken = |name: &str| {
            self.panes
                .iter()
                .any(|p| p.spec.name == name && Some(p.id) != except)
        };
        if !taken(wanted) {
            return wanted.to_string();
        }
        (2..)
            .map(|n| format!("{wanted}-{n}"))
            .find(|name| !taken(name))
            .unwrap_or_default()
    }

    /// The pane a control verb names: the one with that exact name, else
    /// the one with that number as its border shows it, from 1.
    pub fn find(&self, name: &str) -> Option<PaneId> {
        if let Some(pane) = self.panes.iter().find(|p| p.spec.name == name) {
            return Some(pane.id);
        }
        let number: usize = name.parse().ok()?;
        self.panes.get(number.checked_sub(1)?).map(|p| p.id)
    }

    /// Builds the session for `settings` on a terminal of `size`.
    pub fn from_settings(settings: Settings, size: Size) -> Self {
        let mut session = Self::new(settings.panes, size, settings.layout);
        session.default_stop_timeout = settings.stop_timeout;
        session.log_dir = settings.log_dir;
        session.log_time = settings.log_time;
        session.flood_nice = settings.flood_nice;
        session.clipboard_allowed = settings.clipboard == crate::config::Clipboard::Allow;
        session.scrollback = settings.scrollback;
        for pane in &session.panes {
            pane.screen().set_scrollback(session.scrollback);
        }
        session
    }

    /// The area the panes share: the whole terminal but the status line.
    pub fn panes_area(&self) -> Rect {
        Rect::new(0, 0, self.size.cols, self.size.rows.saturating_sub(1))
    }

    /// Each pane's outer rectangle, `None` for panes hidden by a zoom.
    pub fn pane_rects(&self) -> Vec<Option<Rect>> {
        let zoom = self.zoom.and_then(|id| self.index_of(id));
        layout::arrange(self.panes.len(), self.panes_area(), zoom, self.layout)
    }

    /// Each pane's outer rectangle in the layout with no zoom.
    pub fn tiled_rects(&self) -> Vec<Option<Rect>> {
        layout::arrange(self.panes.len(), self.panes_area(), None, self.layout)
    }

    /// The size a pane's program sees: its inner area, at least one cell.
    pub fn pane_size(&self, id: PaneId) -> Size {
        if let Some(size) = self.pty_size {
            return size;
        }
        let index = self.index_of(id);
        inner_size(index.and_then(|i| self.pane_rects().get(i).copied().flatten()))
    }

    /// Where the pane with this id is in [`Session::panes`], if it is still there.
    pub fn index_of(&self, id: PaneId) -> Option<usize> {
        // Ids grow with every pane added and panes keep their order, so
        // the pane sits at or before index `id`.
        let guess = id.0.min(self.panes.len().saturating_sub(1));
        if self.panes.get(guess).is_some_and(|p| p.id == id) {
            return Some(guess);
        }
        self.panes.iter().position(|p| p.id == id)
    }

    /// The pane with this id, if it is still there.
    pub fn pane(&self, id: PaneId) -> Option<&Pane> {
        self.index_of(id).map(|i| &self.panes[i])
    }

    /// The pane with this id, if it is still there.
    pub fn pane_mut(&mut self, id: PaneId) -> Option<&mut Pane> {
        self.index_of(id).map(|i| &mut self.panes[i])
    }

    /// Whether the pane's program runs and may be written to.
    pub fn takes_input(&self, id: PaneId) -> bool {
        self.shutdown.is_none() && self.pane(id).is_some_and(|p| p.state.is_running())
    }

    /// Starts every pane that starts with opmux, or has it wait for its
    /// dependencies; called once the front end is ready.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        for index in 0..self.panes.len() {
            if self.panes[index].spec.autostart {
                effects.extend(self.launch(index));
            }
        }
        effects
    }

    /// Starts pane `index` if its dependencies allow, else has it wait.
    fn launch(&mut self, index: usize) -> Vec<Effect> {
        match self.unmet_dependency(index) {
            None => vec![self.start_run(index)],
            Some(on) => {
                self.panes[index].state = PaneState::Waiting { on };
                Vec::new()
            }
        }
    }

    /// The name of the first dependency of pane `index` not yet at its condition.
    fn unmet_dependency(&self, index: usize) -> Option<String> {
        self.panes[index].spec.depends_on.iter().find_map(|dep| {
            // Dependencies name panes by their place in the configuration,
            // which is their id; a pane closed since then no longer holds
            // anyone back.
            let other = self.pane(PaneId(dep.pane))?;
            // One restarted together with this pane is awaited in its next
            // run.
            let pane = &self.panes[index];
            let restarted =
                (pane.follows.iter()).any(|&(on, run)| on == other.id && other.run <= run);
            if restarted {
                return Some(other.spec.name.clone());
            }
            let met = match dep.condition {
                // Started for real: the runtime reported the program running.
                Condition::Started => matches!(
                    other.state,
                    PaneState::Running { .. }
                        | PaneState::Stopping { .. }
                        | PaneState::Exited { .. }
                        | PaneState::Restarting { .. }
                ),
                Condition::Ready => other.supervision.ready,
                // Latched, so a dependency that restarts after exit 0 still counts.
                Condition::Succeeded => other.supervision.succeeded,
            };
            (!met).then(|| other.spec.name.clone())
        })
    }

    /// Starts the waiting panes whose dependencies are now met.
    fn wake_waiters(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.shutdown.is_some() {
            return effects;
        }
        for index in 0..self.panes.len() {
            if matches!(self.panes[index].state, PaneState::Waiting { .. }) {
                effects.extend(self.launch(index));
            }
        }
        effects
    }

    /// A process event, a signal to opmux or the clock. Input from a
    /// terminal is a view's to turn into commands, and is ignored here.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        match event {
            Event::Key(_)
            | Event::Mouse(_)
            | Event::Paste(_)
            | Event::TerminalFocus(_)
            | Event::Stdin(_) => Vec::new(),
            Event::PaneOutput(id) => {
                if let Some(pane) = self.pane_mut(id)
                    && pane.spec.idle_after.is_some()
                {
                    pane.active_at = Some(now);
                    pane.idle = false;
                }
                Vec::new()
            }
            Event::PaneAlert { pane, run, alert } => {
                let Some(index) = self.index_of(pane).filter(|&i| self.panes[i].run == run) else {
                    return Vec::new();
                };
                use crate::pane::screen::Alert;
                let why = match alert {
                    Alert::Bell => {
                        self.bells = self.bells.saturating_add(1);
                        Attention::Bell
                    }
                    Alert::Notify(text) => {
                        if self.notifications.len() >= KEPT_NOTIFICATIONS {
                            self.notifications.remove(0);
                        }
                        self.notifications.push(text.clone());
                        Attention::Notified(text)
                    }
                    Alert::Matched(line) => Attention::Asked(line),
                };
                self.raise(index, why);
                Vec::new()
            }
            Event::Resize(size) => self.command(Command::Resize(size), now),
            // The terminal is gone: nobody can see or stop the panes any more.
            // It never escalates a shutdown already under way: a hang-up
            // arrives as a signal, a read error and a write error at once.
            Event::InputClosed(_) => self.quit(now, 128 + Signal::SIGHUP as i32, false),
            Event::PaneOutputClosed { pane, run, error } => {
                if let Some(pane) = self.pane_mut(pane).filter(|p| p.run == run) {
                    pane.output_open = false;
                    pane.error = error.or(pane.error.take());
                }
                Vec::new()
            }
            Event::PaneInputFailed { pane, run, error } => {
                if let Some(pane) = self.pane_mut(pane).filter(|p| p.run == run) {
                    pane.error = Some(format!("writing input: {error}"));
                }
                Vec::new()
            }
            Event::PaneStarted { pane, pid } => {
                if let Some(index) = self.index_of(pane) {
                    let pane = &mut self.panes[index];
                    pane.state = PaneState::Running { pid, since: now };
                    pane.output_open = true;
                    pane.error = None;
                    pane.supervision.ready = false;
                    self.note(
                        index,
                        Happened::Started {
                            pid: pid.as_raw() as u32,
                        },
                    );
                }
                self.wake_waiters()
            }
            Event::PaneCopy { pane, run, text } => {
                match self.pane(pane).filter(|p| p.run == run) {
                    Some(_) if self.clipboard_allowed => self.copies.push(text),
                    Some(p) => tracing::info!(
                        pane = p.spec.name,
                        "a copy to the clipboard was dropped: clipboard = \"allow\" passes them on"
                    ),
                    None => {}
                }
                Vec::new()
            }
            Event::PaneReady { pane, run } => {
                if let Some(index) = self.index_of(pane).filter(|&i| self.panes[i].run == run) {
                    self.panes[index].ready_line = true;
                    self.update_ready(index);
                }
                self.wake_waiters()
            }
            Event::Probe {
                pane,
                run,
                live,
                result,
            } => {
                let Some(index) = self.index_of(pane).filter(|&i| {
                    let pane = &self.panes[i];
                    pane.run == run && matches!(pane.state, PaneState::Running { .. })
                }) else {
                    return Vec::new();
                };
                let pane = &mut self.panes[index];
                match (live, result) {
                    (false, Ok(())) => {
                        pane.ready_probed = true;
                        self.update_ready(index);
                        return self.wake_waiters();
                    }
                    (false, Err(_)) => {}
                    (true, Ok(())) => {
                        pane.live_failures = 0;
                        pane.health = None;
                    }
                    // A run still getting ready is not judged on health: a
                    // server not listening yet is starting, not sick.
                    (true, Err(_))
                        if !pane.supervision.ready
                            && (pane.spec.ready.is_some() || pane.spec.ready_probe.is_some()) => {}
                    (true, Err(why)) => {
                        pane.live_failures += 1;
                        let threshold = pane
                            .spec
                            .live_probe
                            .as_ref()
                            .map_or(1, |p| p.failure_threshold);
                        if pane.live_failures >= threshold {
                            let why = format!("liveness failed: {}", crate::clean_text(&why));
                            tracing::warn!(pane = pane.spec.name, why, "stopping an unhealthy run");
                            pane.health = Some(why.clone());
                            pane.unhealthy = true;
                            self.note(index, Happened::Unhealthy(why));
                            // A failed run: the restart policy decides.
                            return self.begin_stop(index, now, None, false);
                        }
                    }
                }
                Vec::new()
            }
            Event::PaneFailed { pane, error } => {
                let Some(index) = self.index_of(pane) else {
                    return Vec::new();
                };
                let pane = &mut self.panes[index];
                pane.state = PaneState::Failed(error);
                pane.pty = None;
                pane.stop_probes();
                // A program that could not start (not built yet, a folder
                // gone) is a failed run to the restart policy, 127 as a
                // shell says for a missing command.
                if self.shutdown.is_none() {
                    let status = ExitStatus::Exited(127);
                    self.apply_restart_policy(index, status, true, Duration::ZERO, now);
                }
                Vec::new()
            }
            Event::PaneExited { pane, status, left } => self.exited(pane, status, left, now),
            Event::PaneProcessesLeft { pane, left } => {
                let index = self.index_of(pane);
                match index.map(|i| &self.panes[i].state) {
                    Some(PaneState::Stopping {
                        exit: Some(status), ..
                    }) if left == 0 => {
                        let status = *status;
                        self.finish_run(index.unwrap_or_default(), status, now)
                    }
                    _ => Vec::new(),
                }
            }
            // A repeated SIGTERM or SIGINT is someone insisting; SIGHUP is
            // part of a hang-up, which never escalates (see InputClosed).
            Event::Signal(signal) => self.quit(now, 128 + signal as i32, signal != Signal::SIGHUP),
            Event::Tick => self.expire(now),
            Event::WatchFailed(why) => {
                crate::watch::not_watching(self, None, &why);
                Vec::new()
            }
            Event::FilesChanged(paths) => {
                for pane in &mut self.panes {
                    if let Some(watch) = &pane.spec.watch
                        && paths.iter().any(|path| watch.wants(path))
                    {
                        // The restart waits for the burst to be over.
                        pane.change_at = Some(now + watch.debounce);
                    }
                }
                Vec::new()
            }
        }
    }

    /// Carries out a command. Pane commands other than writes are ignored
    /// once the shutdown began, and commands for a pane that is gone are
    /// ignored always.
    pub fn command(&mut self, command: Command, now: Instant) -> Vec<Effect> {
        match command {
            Command::Write(id, bytes) => {
                if self.takes_input(id) {
                    // Typing into a pane answers what it asked.
                    self.acknowledge(id);
                    return vec![Effect::Write(id, bytes)];
                }
            }
            Command::Quit {
                exit_code,
                escalate,
            } => return self.quit(now, exit_code, escalate),
            Command::Zoom(zoom) => {
                self.zoom = zoom.filter(|&id| self.index_of(id).is_some());
                return self.relayout();
            }
            Command::Resize(size) => {
                self.size = size;
                return self.relayout();
            }
            Command::Rename(id, name) => {
                let name = clean_text(name.trim());
                let name = self.unique_name(&name, Some(id));
                if let Some(pane) = self.pane_mut(id).filter(|_| !name.is_empty()) {
                    pane.spec.name = name;
                    pane.spec.named = true;
                }
            }
            _ if self.shutdown.is_some() => {}
            Command::NextLayout => {
                self.layout = self.layout.next();
                return self.relayout();
            }
            Command::Add(spec) => return self.add_pane(*spec),
            Command::Stop(id) => return self.stop_command(id, now),
            Command::Start(id) => return self.start_command(id, now),
            Command::Restart(id) => {
                let Some(index) = self.index_of(id) else {
                    return Vec::new();
                };
                self.reset_supervision(index);
                let follows = !self.panes[index].follows.is_empty();
                return match self.panes[index].state {
                    ref state if state.is_alive() => self.stop(index, now, true),
                    // Never started: its dependencies still apply, as with C-b s.
                    PaneState::NotStarted => self.launch(index),
                    _ if follows => self.launch(index),
                    _ => vec![self.start_run(index)],
                };
            }
            Command::RestartAll(ids) => {
                let ordered = self.dependency_order(&ids);
                self.follow_together(&ordered);
                let mut effects = Vec::new();
                for id in ordered {
                    effects.extend(self.command(Command::Restart(id), now));
                }
                return effects;
            }
            Command::Kill(id) => {
                let Some(index) = self.index_of(id) else {
                    return Vec::new();
                };
                if self.halt(index) {
                    return Vec::new();
                }
                return self.kill(index, now, false);
            }
            Command::Close(id) => {
                if let Some(index) = self.index_of(id) {
                    return self.close(index, now);
                }
            }
        }
        Vec::new()
    }

    fn stop_command(&mut self, id: PaneId, now: Instant) -> Vec<Effect> {
        let Some(index) = self.index_of(id) else {
            return Vec::new();
        };
        if self.halt(index) {
            return Vec::new();
        }
        match self.panes[index].state {
            // A second stop while stopping kills at once, as a second quit does.
            PaneState::Stopping { .. } => self.kill(index, now, false),
            _ => self.stop(index, now, false),
        }
    }

    fn start_command(&mut self, id: PaneId, now: Instant) -> Vec<Effect> {
        let Some(index) = self.index_of(id) else {
            return Vec::new();
        };
        match self.panes[index].state {
            PaneState::Stopping { .. } => {
                self.reset_supervision(index);
                self.stop(index, now, true)
            }
            // Not started yet: its dependencies still apply.
            PaneState::NotStarted => {
                self.reset_supervision(index);
                let mut effects = self.launch(index);
                effects.extend(self.wake_waiters());
                effects
            }
            // Waiting, or between runs: start it now.
            ref state if !state.is_alive() => {
                self.reset_supervision(index);
                vec![self.start_run(index)]
            }
            _ => Vec::new(),
        }
    }

    /// The earliest moment something is due: a stop deadline or the end of
    /// the shutdown's grace period. The runtime sends [`Event::Tick`] then.
    pub fn next_deadline(&self) -> Option<Instant> {
        let panes = self.panes.iter().filter_map(|p| match p.state {
            PaneState::Stopping {
                deadline,
                killed: false,
                ..
            } => Some(deadline),
            _ => None,
        });
        let restarts = self.panes.iter().filter_map(|p| match p.state {
            PaneState::Restarting { at, .. } => Some(at),
            _ => None,
        });
        let shutdown = self.shutdown.filter(|s| !s.killed).map(|s| s.deadline);
        let idle = self.panes.iter().filter_map(idle_at);
        let changes = self.panes.iter().filter_map(|p| p.change_at);
        panes
            .chain(restarts)
            .chain(shutdown)
            .chain(idle)
            .chain(changes)
            .min()
    }

    /// Notes that `what` happened to pane `index`, if anyone reads notes.
    fn note(&mut self, index: usize, what: Happened) {
        if self.noting {
            self.notes.push(Note {
                name: self.panes[index].spec.name.clone(),
                number: index as u32 + 1,
                what,
            });
        }
    }

    /// Raises pane `index`'s attention for `why`; the latest reason is
    /// the one kept.
    fn raise(&mut self, index: usize, why: Attention) {
        let pane = &mut self.panes[index];
        tracing::info!(pane = pane.spec.name, why = why.label(), "attention");
        pane.attention = Some(why.clone());
        self.note(index, Happened::Attention(why));
    }

    /// Someone focused pane `id` or typed into it: what it asked is seen.
    pub fn acknowledge(&mut self, id: PaneId) {
        let Some(index) = self.index_of(id) else {
            return;
        };
        if self.panes[index].attention.take().is_some() {
            self.note(index, Happened::AttentionCleared);
        }
    }

    /// Whether a countdown is on screen, which changes every second.
    pub fn counting_down(&self) -> bool {
        self.stopping()
            || self
                .panes
                .iter()
                .any(|p| matches!(p.state, PaneState::Restarting { .. }))
    }

    /// Whether processes are being stopped: a shutdown, or a pane stopping.
    /// Their processes are counted again now and then, in case their end
    /// went unnoticed.
    pub fn stopping(&self) -> bool {
        self.shutdown.is_some()
            || self
                .panes
                .iter()
                .any(|p| matches!(p.state, PaneState::Stopping { .. }))
    }

    /// SIGKILLs what outlived its stop deadline.
    fn expire(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        for pane in &mut self.panes {
            if let PaneState::Stopping {
                deadline, killed, ..
            } = &mut pane.state
                && !*killed
                && *deadline <= now
            {
                *killed = true;
                effects.push(Effect::Signal(pane.id, Signal::SIGKILL));
            }
        }
        if let Some(shutdown) = &mut self.shutdown
            && !shutdown.killed
            && shutdown.deadline <= now
        {
            shutdown.killed = true;
            effects.push(Effect::SignalStrays(Signal::SIGKILL));
        }
        if self.shutdown.is_none() {
            for index in 0..self.panes.len() {
                if matches!(self.panes[index].state, PaneState::Restarting { at, .. } if at <= now)
                {
                    effects.push(self.start_run(index));
                }
            }
        }
        for index in 0..self.panes.len() {
            if self.panes[index].change_at.is_some_and(|at| at <= now) {
                self.panes[index].change_at = None;
                if self.shutdown.is_none() {
                    effects.extend(self.restart_on_change(index, now));
                }
            }
        }
        for index in 0..self.panes.len() {
            if idle_at(&self.panes[index]).is_some_and(|at| at <= now) {
                let pane = &mut self.panes[index];
                pane.active_at = None;
                pane.idle = true;
                // Someone looking at it needs no marker (the quiet after
                // their own typing is theirs); a wait for idle still sees it.
                if !self.watched.contains(&pane.id) {
                    self.raise(index, Attention::Idle);
                }
            }
        }
        effects
    }

    /// The pane's main process was reaped with `left` of its processes alive.
    fn exited(&mut self, id: PaneId, status: ExitStatus, left: usize, now: Instant) -> Vec<Effect> {
        let Some(index) = self.index_of(id) else {
            return Vec::new();
        };
        match &mut self.panes[index].state {
            // The run is not over while its other processes live: stop
            // them, so an exited pane never leaves anything behind.
            PaneState::Running { .. } if left > 0 => {
                self.begin_stop(index, now, Some(status), false)
            }
            PaneState::Stopping { exit, .. } if left > 0 => {
                *exit = Some(status);
                Vec::new()
            }
            PaneState::Running { .. } | PaneState::Stopping { .. } => {
                self.finish_run(index, status, now)
            }
            _ => Vec::new(),
        }
    }

    /// Ends a run whose processes are all gone, and starts the next one if a
    /// restart was asked for.
    fn finish_run(&mut self, index: usize, status: ExitStatus, now: Instant) -> Vec<Effect> {
        let pane = &mut self.panes[index];
        let (since, restart) = match pane.state {
            PaneState::Running { since, .. } => (since, false),
            PaneState::Stopping { since, restart, .. } => (since, restart),
            _ => return Vec::new(),
        };
        let ran = now.saturating_duration_since(since);
        pane.state = PaneState::Exited { status, ran };
        pane.stop_probes();
        // Quiet after the end is no idle program.
        pane.active_at = None;
        pane.idle = false;
        self.note(index, Happened::Exited(status));
        let pane = &mut self.panes[index];
        // Readiness belongs to a run; the next one must print its line again.
        pane.supervision.ready = false;
        // A run stopped as unhealthy failed, whatever it exited with.
        let failed = status != ExitStatus::Exited(0) || pane.unhealthy;
        if !failed {
            pane.supervision.succeeded = true;
        }
        // Closing our side of the PTY only now, when nothing of the run is
        // left, keeps portable-pty's drop from typing into a live program.
        pane.pty = None;
        if self.shutdown.is_some() {
            return Vec::new();
        }
        if pane.closing {
            return vec![Effect::Remove(pane.id)];
        }
        // A run ended by a restart asked for is followed at once by the next.
        if !restart && !self.watched.contains(&pane.id) {
            self.raise(index, Attention::Ended);
        }
        // A dependency restarted with it (a group, its dependents) is
        // waited for; otherwise it starts again at once, as before.
        let mut effects = if restart && !self.panes[index].follows.is_empty() {
            self.launch(index)
        } else if restart {
            vec![self.start_run(index)]
        } else {
            self.apply_restart_policy(index, status, failed, ran, now);
            Vec::new()
        };
        effects.extend(self.wake_waiters());
        effects
    }

    /// After a run ended by itself: schedule the next one if the pane's
    /// policy wants it, with exponential backoff, or record that it gave up.
    fn apply_restart_policy(
        &mut self,
        index: usize,
        status: ExitStatus,
        failed: bool,
        ran: Duration,
        now: Instant,
    ) {
        let pane = &mut self.panes[index];
        let wanted = match pane.spec.restart {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Always => true,
        };
        let sup = &mut pane.supervision;
        if !wanted || !sup.auto_restart {
            return;
        }
        if pane
            .spec
            .max_restarts
            .is_some_and(|max| sup.restarts >= max)
        {
            sup.gave_up = true;
            self.note(index, Happened::GaveUp);
            return;
        }
        if ran >= BACKOFF_RESET {
            sup.backoff = 0;
        }
        let delay = BACKOFF_FIRST
            .saturating_mul(1u32.checked_shl(sup.backoff).unwrap_or(u32::MAX))
            .min(BACKOFF_CAP);
        sup.backoff = sup.backoff.saturating_add(1);
        sup.restarts += 1;
        let attempt = sup.restarts;
        pane.state = PaneState::Restarting {
            at: now + delay,
            attempt,
            status,
            ran,
        };
        self.note(index, Happened::Restarting { delay, attempt });
    }

    /// Files pane `index` watches changed: a running pane, or one waiting to
    /// restart, starts again (its stop signal, then a start); one stopped
    /// by hand or given up on stays as it is. With `restart_dependents`,
    /// the panes that depend on it follow, in dependency order, each
    /// waiting for what it depends on.
    fn restart_on_change(&mut self, index: usize, now: Instant) -> Vec<Effect> {
        let id = self.panes[index].id;
        tracing::info!(
            pane = self.panes[index].spec.name,
            "files changed: restarting"
        );
        let mut restarted = vec![id];
        if self.panes[index].spec.restart_dependents {
            let mut i = 0;
            while i < restarted.len() {
                let on = restarted[i];
                for pane in &self.panes {
                    let depends = pane.spec.depends_on.iter().any(|d| PaneId(d.pane) == on);
                    if depends && !restarted.contains(&pane.id) {
                        restarted.push(pane.id);
                    }
                }
                i += 1;
            }
        }
        // Only the panes that will run again are waited for: one stopped by
        // hand has no next run.
        restarted.retain(|&id| {
            self.pane(id).is_some_and(|p| {
                matches!(
                    p.state,
                    PaneState::Running { .. } | PaneState::Restarting { .. }
                )
            })
        });
        let ordered = self.dependency_order(&restarted);
        self.follow_together(&ordered);
        let mut effects = Vec::new();
        for pane in ordered {
            let Some(index) = self.index_of(pane) else {
                continue;
            };
            effects.extend(match self.panes[index].state {
                PaneState::Running { .. } => self.stop(index, now, true),
                _ => self.launch(index),
            });
        }
        effects
    }

    /// Marks each of `ids` to wait, in its next run, for the next run of
    /// the panes among them it depends on.
    fn follow_together(&mut self, ids: &[PaneId]) {
        for &id in ids {
            let Some(index) = self.index_of(id) else {
                continue;
            };
            let follows: Vec<(PaneId, u32)> = (self.panes[index].spec.depends_on.iter())
                .map(|dep| PaneId(dep.pane))
                .filter(|on| *on != id && ids.contains(on))
                .filter_map(|on| Some((on, self.pane(on)?.run)))
                .collect();
            self.panes[index].follows = follows;
        }
    }

    /// Marks pane `index`'s run ready once its `ready` line has shown and
    /// its readiness probe has succeeded, as far as it has each.
    fn update_ready(&mut self, index: usize) {
        let pane = &mut self.panes[index];
        let line = pane.spec.ready.is_none() || pane.ready_line;
        let probed = pane.spec.ready_probe.is_none() || pane.ready_probed;
        if line && probed && !pane.supervision.ready {
            pane.supervision.ready = true;
            pane.health = None;
            self.note(index, Happened::Ready);
        }
    }

    /// A manual start or restart: automatic restarts are on again and their
    /// count and backoff start over.
    fn reset_supervision(&mut self, index: usize) {
        let sup = &mut self.panes[index].supervision;
        *sup = Supervision {
            ready: sup.ready,
            succeeded: sup.succeeded,
            ..Supervision::default()
        };
    }

    /// Numbers a new run and asks the runtime to start it.
    fn start_run(&mut self, index: usize) -> Effect {
        let pane = &mut self.panes[index];
        pane.run += 1;
        // Readiness and health belong to a run.
        pane.ready_line = false;
        pane.ready_probed = false;
        pane.live_failures = 0;
        pane.unhealthy = false;
        pane.follows.clear();
        // Out of Waiting at once, so no later wake-up starts it a second time.
        pane.state = PaneState::Starting;
        Effect::Start(pane.id)
    }

    /// Sends the pane its stop signal; SIGKILL follows at the deadline.
    fn stop(&mut self, index: usize, now: Instant, restart: bool) -> Vec<Effect> {
        match &mut self.panes[index].state {
            PaneState::Running { .. } => self.begin_stop(index, now, None, restart),
            PaneState::Stopping { restart: again, .. } => {
                *again |= restart;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Moves a running pane to Stopping, with the main process's status if it
    /// is already known, and sends its stop signal. SIGCONT goes with it:
    /// stopped jobs would not act on the stop signal before the deadline.
    fn begin_stop(
        &mut self,
        index: usize,
        now: Instant,
        exit: Option<ExitStatus>,
        restart: bool,
    ) -> Vec<Effect> {
        let pane = &mut self.panes[index];
        let PaneState::Running { pid, since } = pane.state else {
            return Vec::new();
        };
        // A run on its way out is probed no more.
        pane.stop_probes();
        pane.state = PaneState::Stopping {
            pid,
            since,
            deadline: now + pane.spec.stop_timeout,
            killed: false,
            exit,
            restart,
        };
        vec![
            Effect::Signal(pane.id, pane.spec.stop_signal),
            Effect::Signal(pane.id, Signal::SIGCONT),
        ]
    }

    /// SIGKILLs every process of the pane at once.
    fn kill(&mut self, index: usize, now: Instant, restart: bool) -> Vec<Effect> {
        let mut effects = self.stop(index, now, restart);
        effects.retain(|e| !matches!(e, Effect::Signal(..)));
        let pane = &mut self.panes[index];
        if let PaneState::Stopping {
            killed, deadline, ..
        } = &mut pane.state
        {
            if *killed {
                return effects;
            }
            *killed = true;
            *deadline = now;
            effects.push(Effect::Signal(pane.id, Signal::SIGKILL));
        }
        effects
    }

    /// Adds a pane for `spec` at the end and starts it. The screen gets its
    /// place in the new layout first, so the program starts at its real
    /// size.
    pub fn add_pane(&mut self, mut spec: PaneSpec) -> Vec<Effect> {
        spec.name = self.unique_name(&spec.name, None);
        let id = PaneId(self.next_id);
        self.next_id += 1;
        let pane = Pane::new(id, spec, Size::new(1, 1));
        pane.screen().set_scrollback(self.scrollback);
        self.panes.push(pane);
        // A zoom moves to the new pane, which the view that asked for it
        // shows next.
        if self.zoom.is_some() {
            self.zoom = Some(id);
        }
        let mut effects = self.relayout();
        // The new pane has no PTY yet: its size goes with the start.
        effects.retain(|e| !matches!(e, Effect::ResizePty(pane, _) if *pane == id));
        let index = self.panes.len() - 1;
        self.note(index, Happened::Added);
        effects.push(self.start_run(index));
        effects
    }

    /// The id of the pane added last, if any.
    pub fn last_pane(&self) -> Option<PaneId> {
        self.panes.last().map(|p| p.id)
    }

    /// Closes pane `index`: no more restarts, its stop signal, SIGKILL after
    /// its timeout, and once its run is over it is removed. A second close
    /// while it stops kills it at once.
    fn close(&mut self, index: usize, now: Instant) -> Vec<Effect> {
        let pane = &mut self.panes[index];
        let again = pane.closing;
        pane.closing = true;
        self.halt(index);
        match self.panes[index].state {
            PaneState::Stopping { .. } if again => self.kill(index, now, false),
            ref state if state.is_alive() => self.stop(index, now, false),
            _ => vec![Effect::Remove(self.panes[index].id)],
        }
    }

    /// Takes a closed pane out, re-tiles the rest and returns it with its
    /// place in the list, so the runtime can close its log and views can
    /// move their focus. The last pane closed ends the session.
    pub fn remove_pane(&mut self, id: PaneId, now: Instant) -> Option<(usize, Pane, Vec<Effect>)> {
        let index = self.index_of(id)?;
        self.note(index, Happened::Removed);
        let pane = self.panes.remove(index);
        if self.panes.is_empty() {
            self.zoom = None;
            return Some((index, pane, self.quit(now, 0, false)));
        }
        if self.zoom == Some(id) {
            // The zoom stays, on the pane that takes the closed one's place.
            self.zoom = Some(self.panes[index.min(self.panes.len() - 1)].id);
        }
        let mut effects = self.relayout();
        // A pane closed no longer holds back the panes that waited for it.
        effects.extend(self.wake_waiters());
        Some((index, pane, effects))
    }

    /// Gives every visible pane whose inner size changed its new size: the
    /// screen at once, the PTY through an effect. Hidden panes keep theirs.
    fn relayout(&mut self) -> Vec<Effect> {
        // Panes of one fixed PTY size (the prefixed-line front end's) are
        // laid out by no one: their screens are the front end's to size.
        if self.pty_size.is_some() {
            return Vec::new();
        }
        let rects = self.pane_rects();
        let mut effects = Vec::new();
        for (pane, rect) in self.panes.iter_mut().zip(rects) {
            let Some(rect) = rect else { continue };
            let size = inner_size(Some(rect));
            let mut screen = pane.screen.lock();
            if screen.size() != size {
                screen.resize(size);
                effects.push(Effect::ResizePty(pane.id, size));
            }
        }
        effects
    }

    /// Starts the shutdown: every pane stops in parallel, each with its own
    /// signal and timeout. Asked again with `escalate`, it SIGKILLs at once.
    fn quit(&mut self, now: Instant, exit_code: i32, escalate: bool) -> Vec<Effect> {
        if let Some(shutdown) = &mut self.shutdown {
            if shutdown.killed || !escalate {
                return Vec::new();
            }
            shutdown.killed = true;
            let mut effects = vec![Effect::SignalStrays(Signal::SIGKILL)];
            for index in 0..self.panes.len() {
                effects.extend(self.kill(index, now, false));
            }
            return effects;
        }
        let longest = self
            .panes
            .iter()
            .filter(|p| p.state.is_alive())
            .map(|p| p.spec.stop_timeout)
            .max()
            .unwrap_or_default();
        self.shutdown = Some(Shutdown {
            deadline: now + longest,
            killed: false,
            exit_code,
        });
        let mut effects = vec![Effect::SignalStrays(Signal::SIGTERM)];
        for index in 0..self.panes.len() {
            if let PaneState::Stopping { restart, .. } = &mut self.panes[index].state {
                *restart = false;
            }
            self.cancel_pending(index);
            effects.extend(self.stop(index, now, false));
        }
        effects
    }

    /// Drops a start that is only pending: a restart waiting out its backoff
    /// ends as the exit it followed, a pane waiting for dependencies goes
    /// back to not started. Returns whether there was one.
    fn cancel_pending(&mut self, index: usize) -> bool {
        let pane = &mut self.panes[index];
        match pane.state {
            PaneState::Restarting { status, ran, .. } => {
                pane.state = PaneState::Exited { status, ran }
            }
            PaneState::Waiting { .. } => pane.state = PaneState::NotStarted,
            _ => return false,
        }
        true
    }

    /// What a manual stop or kill does before any signal: automatic
    /// restarts go off until a manual start (the policy never undoes it), and
    /// neither a pending start nor a restart asked for earlier survives.
    /// Returns whether that was all there was to stop.
    fn halt(&mut self, index: usize) -> bool {
        self.panes[index].supervision.auto_restart = false;
        if self.cancel_pending(index) {
            return true;
        }
        if let PaneState::Stopping { restart, .. } = &mut self.panes[index].state {
            *restart = false;
        }
        false
    }

    /// Whether every run is over: no pane has a process left.
    pub fn all_exited(&self) -> bool {
        self.panes.iter().all(|p| !p.state.is_alive())
    }
}

/// The size a program sees in a pane whose outer rectangle is `rect`.
pub fn inner_size(rect: Option<Rect>) -> Size {
    let inner = rect.map(layout::inner).unwrap_or_default();
    Size::new(inner.height, inner.width).at_least_one()
}

/// `pane`, numbered `number`, as `opmux status` reports it.
/// Desktop notifications kept for the front end between two looks.
const KEPT_NOTIFICATIONS: usize = 8;

/// When pane `pane` turns idle, if it printed and has an `idle_after`.
fn idle_at(pane: &Pane) -> Option<Instant> {
    Some(pane.active_at? + pane.spec.idle_after?)
}

fn pane_status(pane: &Pane, number: usize) -> crate::protocol::PaneStatus {
    let (state, last) = match &pane.state {
        PaneState::NotStarted => ("not-started", None),
        PaneState::Starting => ("starting", None),
        PaneState::Waiting { .. } => ("waiting", None),
        PaneState::Running { .. } => ("running", None),
        PaneState::Stopping { exit, .. } => ("stopping", *exit),
        PaneState::Restarting { status, .. } => ("restarting", Some(*status)),
        PaneState::Exited { status, .. } => ("exited", Some(*status)),
        PaneState::Failed(_) => ("failed", None),
    };
    crate::protocol::PaneStatus {
        number: number as u32,
        name: pane.spec.name.clone(),
        state: state.into(),
        pid: pane.state.pid().map(|pid| pid.as_raw() as u32),
        restarts: pane.supervision.restarts,
        ready: pane.supervision.ready,
        exit_code: last.map(ExitStatus::code),
        exit_signal: last.and_then(|status| match status {
            ExitStatus::Signaled(signal) => Some(signal.as_str().to_string()),
            ExitStatus::Exited(_) => None,
        }),
        command: pane.spec.argv.clone(),
        attention: pane.attention.as_ref().map(|why| clean_text(&why.label())),
        port: pane.spec.port,
        group: pane.spec.group.clone(),
    }
}
