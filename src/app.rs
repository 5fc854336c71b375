//! The application state and its one entry point, [`App::update`]. `update`
//! changes state and returns the [`Effect`]s the runtime must carry out (PTY
//! writes, resizes, signals); it does no I/O itself, so tests drive an `App`
//! whose panes have no PTY and check what it asks for.

use std::time::{Duration, Instant};

/// The first automatic restart's delay; each quick failure doubles it.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The longest delay between automatic restarts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A run that lasted this long resets the delay to [`BACKOFF_FIRST`].
pub const BACKOFF_RESET: Duration = Duration::from_secs(10);
/// Rows one notch of the mouse wheel scrolls.
pub const WHEEL_ROWS: usize = 3;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use nix::sys::signal::Signal;
use ratatui::layout::{Position, Rect};

use crate::config::{Condition, LayoutKind, PaneSpec, RestartPolicy, Settings};
use crate::event::Event;
use crate::keys::{Action, Keymap, Modes, encode_key, encode_paste};
use crate::layout::{self, Direction};
use crate::mouse;
use crate::pane::{Pane, PaneState, Supervision};
use crate::process::ExitStatus;
use crate::prompt::{self, Outcome, Prompt};
use crate::scroll::{Lines, Point, Scroll, Search};
use crate::{PaneId, Size, clean_text};

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
    /// [`App::remove_pane`].
    Remove(PaneId),
}

/// What a program that turned on focus events (mode 1004) is sent when its
/// pane gains the focus.
const FOCUS_IN: &[u8] = b"\x1b[I";
/// What such a program is sent when its pane loses the focus.
const FOCUS_OUT: &[u8] = b"\x1b[O";

/// What the prompt at the bottom of the screen asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asking {
    /// A command line to run in a new pane.
    NewPane,
    /// A new name for this pane.
    Rename(PaneId),
    /// A pattern to search this pane's history for.
    Search { pane: PaneId, backwards: bool },
}

/// Who gets the mouse until its button is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grab {
    /// The program in this pane asked for mouse reports.
    Forward(PaneId),
    /// The left button went down at this cell of the pane's inner area;
    /// moving it starts a selection there.
    Press(PaneId, u16, u16),
    /// A selection is being made in this pane.
    Select(PaneId),
}

/// The prompt at the bottom of the screen, while it is open.
pub struct PromptState {
    pub asking: Asking,
    pub editor: Prompt,
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

pub struct App {
    pub panes: Vec<Pane>,
    pub focus: usize,
    pub zoomed: bool,
    /// The outer terminal's size.
    pub size: Size,
    pub keymap: Keymap,
    pub show_help: bool,
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
    /// The size every pane's program is given when nothing is drawn (the
    /// prefixed-line front end), instead of its place in the layout.
    pub pty_size: Option<Size>,
    /// Whether an update changed what is drawn. A key that only goes to a
    /// pane changes nothing until the echo comes back, so it does not spend
    /// the frame the echo should be drawn in.
    pub needs_redraw: bool,
    /// The prompt at the bottom, while one is open; it takes every key.
    pub prompt: Option<PromptState>,
    /// Command lines run with `C-b c`, for the prompt's ↑/↓.
    command_history: prompt::History,
    /// Patterns searched for in scroll mode, for the prompt's ↑/↓.
    search_history: prompt::History,
    /// Texts to put on the system clipboard, taken by the runtime, which
    /// sends them to the outer terminal with OSC 52.
    pub clipboard: Vec<String>,
    /// Who the mouse belongs to while a button is held.
    grab: Option<Grab>,
    /// The id the next pane added at runtime gets.
    next_id: usize,
    /// Lines of history each pane keeps.
    pub scrollback: usize,
    /// The stop timeout of panes added at runtime.
    pub default_stop_timeout: Duration,
    /// Whether the outer terminal has the focus, as far as it reported.
    pub terminal_focused: bool,
    /// The pane whose program was last told it has the focus, or would
    /// have been had it asked (mode 1004); `None` while the outer terminal
    /// lacks the focus. See [`App::report_focus`].
    focus_reported: Option<PaneId>,
}

/// What decides whether input changed the picture.
#[derive(PartialEq, Eq)]
struct View {
    focus: usize,
    zoomed: bool,
    show_help: bool,
    armed: bool,
    layout: LayoutKind,
    panes: usize,
}

impl App {
    /// Builds the panes, each with a screen already sized to its place in the
    /// layout, so the PTY can be given that size before the program starts.
    pub fn new(specs: Vec<PaneSpec>, size: Size) -> Self {
        Self::with_layout(specs, size, LayoutKind::Tiled, Keymap::default())
    }

    /// Builds the app for `settings` on a terminal of `size`.
    pub fn from_settings(settings: Settings, size: Size) -> Self {
        let mut app = Self::with_layout(
            settings.panes,
            size,
            settings.layout,
            Keymap::new(settings.prefix),
        );
        app.log_dir = settings.log_dir;
        app.log_time = settings.log_time;
        app.flood_nice = settings.flood_nice;
        app.clipboard_allowed = settings.clipboard == crate::config::Clipboard::Allow;
        app.scrollback = settings.scrollback;
        for pane in &app.panes {
            pane.screen().set_scrollback(app.scrollback);
        }
        app
    }

    fn with_layout(specs: Vec<PaneSpec>, size: Size, layout: LayoutKind, keymap: Keymap) -> Self {
        let mut app = Self {
            panes: Vec::new(),
            focus: 0,
            zoomed: false,
            size,
            keymap,
            show_help: false,
            shutdown: None,
            layout,
            notice: None,
            log_dir: None,
            log_time: false,
            flood_nice: crate::config::DEFAULT_FLOOD_NICE,
            clipboard_allowed: false,
            pty_size: None,
            needs_redraw: true,
            prompt: None,
            command_history: prompt::History::default(),
            search_history: prompt::History::default(),
            clipboard: Vec::new(),
            grab: None,
            next_id: specs.len(),
            scrollback: crate::config::DEFAULT_SCROLLBACK,
            default_stop_timeout: crate::config::DEFAULT_STOP_TIMEOUT,
            terminal_focused: true,
            focus_reported: None,
        };
        let n = specs.len();
        let rects = layout::arrange(n, app.panes_area(), None, layout);
        app.panes = specs
            .into_iter()
            .zip(rects)
            .enumerate()
            .map(|(i, (spec, rect))| Pane::new(PaneId(i), spec, inner_size(rect)))
            .collect();
        // The first pane has the focus from the start: no report is owed.
        app.focus_reported = app.panes.first().map(|p| p.id);
        app
    }

    /// The area the panes share: the whole terminal but the status line.
    pub fn panes_area(&self) -> Rect {
        Rect::new(0, 0, self.size.cols, self.size.rows.saturating_sub(1))
    }

    /// Each pane's outer rectangle, `None` for panes hidden by a zoom.
    pub fn pane_rects(&self) -> Vec<Option<Rect>> {
        let zoom = self.zoomed.then_some(self.focus);
        layout::arrange(self.panes.len(), self.panes_area(), zoom, self.layout)
    }

    /// The size a pane's program sees: its inner area, at least one cell.
    pub fn pane_size(&self, id: PaneId) -> Size {
        if let Some(size) = self.pty_size {
            return size;
        }
        let index = self.index_of(id);
        inner_size(index.and_then(|i| self.pane_rects().get(i).copied().flatten()))
    }

    /// Where the pane with this id is in [`App::panes`], if it is still there.
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

    /// Starts every pane that starts with opmux, or has it wait for its
    /// dependencies; called once the terminal is ready.
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

    pub fn update(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let input = matches!(
            event,
            Event::Key(_) | Event::Mouse(_) | Event::Paste(_) | Event::TerminalFocus(_)
        );
        let before = self.view();
        let mut effects = self.handle(event, now);
        effects.extend(self.report_focus());
        if !input
            || self.view() != before
            || effects.iter().any(|e| !matches!(e, Effect::Write(..)))
        {
            self.needs_redraw = true;
        }
        effects
    }

    fn view(&self) -> View {
        View {
            focus: self.focus,
            zoomed: self.zoomed,
            show_help: self.show_help,
            armed: self.keymap.armed(),
            layout: self.layout,
            panes: self.panes.len(),
        }
    }

    fn handle(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        match event {
            Event::Key(key) if self.prompt.is_some() => self.prompt_key(key, now),
            Event::Paste(text) if self.prompt.is_some() => {
                if let Some(prompt) = &mut self.prompt {
                    prompt.editor.insert_str(&text);
                }
                self.needs_redraw = true;
                Vec::new()
            }
            Event::Key(key)
                if !self.keymap.armed()
                    && !self.keymap.is_prefix(&key)
                    && !key.modifiers.contains(KeyModifiers::ALT)
                    && !self.show_help
                    && self
                        .panes
                        .get(self.focus)
                        .is_some_and(|p| p.scroll.is_some()) =>
            {
                self.scroll_key(key)
            }
            Event::Key(key) => {
                let action = self.keymap.handle(key, self.focused_modes());
                if !self.show_help {
                    return self.act(action, now);
                }
                // With the help open, a typed key only closes it; commands
                // after the prefix still work, and the prefix keeps it open.
                match action {
                    Action::AwaitCommand => Vec::new(),
                    Action::Nothing if key.kind == KeyEventKind::Release => Vec::new(),
                    Action::Send(_) | Action::Nothing | Action::ToggleHelp => {
                        self.show_help = false;
                        Vec::new()
                    }
                    command => {
                        self.show_help = false;
                        self.act(command, now)
                    }
                }
            }
            Event::Mouse(mouse) => self.mouse(mouse),
            Event::Paste(text) => {
                let bracketed = self
                    .panes
                    .get(self.focus)
                    .is_some_and(|p| p.published.modes().bracketed_paste);
                self.send_to_focused(encode_paste(&text, bracketed))
            }
            Event::Resize(size) => {
                self.size = size;
                self.relayout()
            }
            // Reported to the focused pane's program by `report_focus`.
            Event::TerminalFocus(focused) => {
                self.terminal_focused = focused;
                Vec::new()
            }
            // The terminal is gone: nobody can see or stop the panes any more.
            // It never escalates a shutdown already under way: a hang-up
            // arrives as a signal, a read error and a write error at once.
            Event::InputClosed(_) => self.quit(now, 128 + Signal::SIGHUP as i32, false),
            Event::PaneOutput(_) | Event::Stdin(_) => Vec::new(),
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
                if let Some(pane) = self.pane_mut(pane) {
                    pane.state = PaneState::Running { pid, since: now };
                    pane.output_open = true;
                    pane.error = None;
                    pane.supervision.ready = false;
                }
                self.wake_waiters()
            }
            Event::PaneCopy { pane, run, text } => {
                match self.pane(pane).filter(|p| p.run == run) {
                    Some(_) if self.clipboard_allowed => self.clipboard.push(text),
                    Some(p) => tracing::info!(
                        pane = p.spec.name,
                        "a copy to the clipboard was dropped: clipboard = \"allow\" passes them on"
                    ),
                    None => {}
                }
                Vec::new()
            }
            Event::PaneReady { pane, run } => {
                if let Some(pane) = self.pane_mut(pane).filter(|p| p.run == run) {
                    pane.supervision.ready = true;
                }
                self.wake_waiters()
            }
            Event::PaneFailed { pane, error } => {
                let Some(index) = self.index_of(pane) else {
                    return Vec::new();
                };
                let pane = &mut self.panes[index];
                pane.state = PaneState::Failed(error);
                pane.pty = None;
                // A program that could not start (not built yet, a folder
                // gone) is a failed run to the restart policy, 127 as a
                // shell says for a missing command.
                if self.shutdown.is_none() {
                    self.apply_restart_policy(index, ExitStatus::Exited(127), Duration::ZERO, now);
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
        panes.chain(restarts).chain(shutdown).min()
    }

    /// Whether a countdown is on screen, which changes every second.
    pub fn counting_down(&self) -> bool {
        self.shutdown.is_some()
            || self.panes.iter().any(|p| {
                matches!(
                    p.state,
                    PaneState::Stopping { .. } | PaneState::Restarting { .. }
                )
            })
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
        // Readiness belongs to a run; the next one must print its line again.
        pane.supervision.ready = false;
        if status == ExitStatus::Exited(0) {
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
        let mut effects = if restart {
            vec![self.start_run(index)]
        } else {
            self.apply_restart_policy(index, status, ran, now);
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
        ran: Duration,
        now: Instant,
    ) {
        let pane = &mut self.panes[index];
        let wanted = match pane.spec.restart {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => status != ExitStatus::Exited(0),
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
        pane.state = PaneState::Restarting {
            at: now + delay,
            attempt: sup.restarts,
            status,
            ran,
        };
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

    fn act(&mut self, action: Action, now: Instant) -> Vec<Effect> {
        match action {
            Action::Send(bytes) => return self.send_to_focused(bytes),
            Action::Focus(dir) => return self.focus_towards(dir),
            Action::FocusNext => {
                if !self.panes.is_empty() {
                    return self.set_focus((self.focus + 1) % self.panes.len());
                }
            }
            Action::FocusNumber(n) => {
                if (1..=self.panes.len()).contains(&n) {
                    return self.set_focus(n - 1);
                }
            }
            Action::ToggleZoom => {
                self.zoomed = !self.zoomed;
                return self.relayout();
            }
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::Quit => return self.quit(now, 0, true),
            _ if self.shutdown.is_some() || self.panes.is_empty() => {}
            Action::StopPane => {
                let index = self.focus;
                if self.halt(index) {
                    return Vec::new();
                }
                return match self.panes[index].state {
                    // A second stop while stopping kills at once, as a second quit does.
                    PaneState::Stopping { .. } => self.kill(index, now, false),
                    _ => self.stop(index, now, false),
                };
            }
            Action::StartPane => {
                let index = self.focus;
                return match self.panes[index].state {
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
                };
            }
            Action::RestartPane => {
                let index = self.focus;
                self.reset_supervision(index);
                return match self.panes[index].state {
                    ref state if state.is_alive() => self.stop(index, now, true),
                    // Never started: its dependencies still apply, as with C-b s.
                    PaneState::NotStarted => self.launch(index),
                    _ => vec![self.start_run(index)],
                };
            }
            Action::KillPane => {
                let index = self.focus;
                if self.halt(index) {
                    return Vec::new();
                }
                return self.kill(index, now, false);
            }
            Action::NextLayout => {
                self.layout = self.layout.next();
                return self.relayout();
            }
            Action::NewPane => {
                self.prompt = Some(PromptState {
                    asking: Asking::NewPane,
                    editor: Prompt::new("run", ""),
                });
            }
            Action::RenamePane => {
                let pane = &self.panes[self.focus];
                self.prompt = Some(PromptState {
                    asking: Asking::Rename(pane.id),
                    editor: Prompt::new("rename", &pane.spec.name),
                });
            }
            Action::ClosePane => return self.close(self.focus, now),
            Action::ScrollMode => self.enter_scroll(self.focus),
            Action::AwaitCommand | Action::Nothing => {}
        }
        Vec::new()
    }

    /// A key while the prompt is open: edited, accepted or cancelled.
    fn prompt_key(&mut self, key: crossterm::event::KeyEvent, now: Instant) -> Vec<Effect> {
        self.needs_redraw = true;
        let Some(state) = &mut self.prompt else {
            return Vec::new();
        };
        let history = match state.asking {
            Asking::NewPane => &mut self.command_history,
            Asking::Search { .. } => &mut self.search_history,
            Asking::Rename(_) => &mut prompt::History::default(),
        };
        let outcome = state.editor.handle(key, history);
        let asking = state.asking;
        match outcome {
            Outcome::Editing => Vec::new(),
            Outcome::Cancel => {
                self.prompt = None;
                Vec::new()
            }
            Outcome::Submit(text) => {
                self.prompt = None;
                match asking {
                    Asking::NewPane if !text.trim().is_empty() && self.shutdown.is_none() => {
                        let mut spec = PaneSpec::shell(text.trim());
                        spec.stop_timeout = self.default_stop_timeout;
                        self.add_pane(spec, now)
                    }
                    Asking::Rename(id) => {
                        let name = clean_text(text.trim());
                        if let Some(pane) = self.pane_mut(id).filter(|_| !name.is_empty()) {
                            pane.spec.name = name;
                            pane.spec.named = true;
                        }
                        Vec::new()
                    }
                    Asking::Search { pane, backwards } => {
                        if !text.is_empty() {
                            self.search(pane, &text, backwards);
                        }
                        Vec::new()
                    }
                    Asking::NewPane => Vec::new(),
                }
            }
        }
    }

    /// Adds a pane for `spec`, focuses it and starts it. The screen gets its
    /// place in the new layout first, so the program starts at its real size.
    pub fn add_pane(&mut self, spec: PaneSpec, _now: Instant) -> Vec<Effect> {
        let id = PaneId(self.next_id);
        self.next_id += 1;
        let pane = Pane::new(id, spec, Size::new(1, 1));
        pane.screen().set_scrollback(self.scrollback);
        self.panes.push(pane);
        self.focus = self.panes.len() - 1;
        let mut effects = self.relayout();
        // The new pane has no PTY yet: its size goes with the start.
        effects.retain(|e| !matches!(e, Effect::ResizePty(pane, _) if *pane == id));
        let index = self.focus;
        effects.push(self.start_run(index));
        effects
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

    /// Takes a closed pane out, re-tiles the rest and returns it, so the
    /// runtime can close its log. The last pane closed ends opmux.
    pub fn remove_pane(&mut self, id: PaneId, now: Instant) -> (Option<Pane>, Vec<Effect>) {
        let Some(index) = self.index_of(id) else {
            return (None, Vec::new());
        };
        let pane = self.panes.remove(index);
        if self.focus > index || self.focus >= self.panes.len() {
            self.focus = self.focus.saturating_sub(1);
        }
        self.needs_redraw = true;
        if self.panes.is_empty() {
            return (Some(pane), self.quit(now, 0, false));
        }
        let mut effects = self.relayout();
        // A pane closed no longer holds back the panes that waited for it.
        effects.extend(self.wake_waiters());
        effects.extend(self.report_focus());
        (Some(pane), effects)
    }

    /// Tells the programs that asked for focus events (mode 1004) that the
    /// focus moved: `CSI O` to the pane that had it, `CSI I` to the pane
    /// that has it now. The focus is nowhere while the outer terminal lacks
    /// it. Run after every event and every removal, it catches each way the
    /// focus moves (keys, a click, a pane added or closed, the outer
    /// terminal's own focus) without each having to remember.
    fn report_focus(&mut self) -> Vec<Effect> {
        let focused = self
            .terminal_focused
            .then(|| self.panes.get(self.focus).map(|p| p.id))
            .flatten();
        if focused == self.focus_reported {
            return Vec::new();
        }
        let lost = std::mem::replace(&mut self.focus_reported, focused);
        let mut effects = Vec::new();
        for (id, report) in [(lost, FOCUS_OUT), (focused, FOCUS_IN)] {
            let Some(pane) = id.and_then(|id| self.index_of(id)).map(|i| &self.panes[i]) else {
                continue;
            };
            if self.shutdown.is_none()
                && pane.state.is_running()
                && pane.published.modes().focus_events
            {
                effects.push(Effect::Write(pane.id, report.to_vec()));
            }
        }
        effects
    }

    fn focus_towards(&mut self, dir: Direction) -> Vec<Effect> {
        // While zoomed, directions follow the tiled layout the user remembers.
        let tiled = layout::arrange(self.panes.len(), self.panes_area(), None, self.layout);
        match layout::neighbour(&tiled, self.focus, dir) {
            Some(next) => self.set_focus(next),
            None => Vec::new(),
        }
    }

    /// Moves the focus; a zoom follows it to the new pane.
    fn set_focus(&mut self, index: usize) -> Vec<Effect> {
        if index == self.focus {
            return Vec::new();
        }
        self.focus = index;
        if self.zoomed {
            self.relayout()
        } else {
            Vec::new()
        }
    }

    /// Puts pane `index` in scroll mode on its live view, the cursor where
    /// the program's cursor is.
    fn enter_scroll(&mut self, index: usize) {
        let Some(pane) = self.panes.get_mut(index) else {
            return;
        };
        if pane.scroll.is_some() {
            return;
        }
        let screen = pane.screen.lock();
        let lines = Lines::new(screen.history(), screen.vt());
        let cursor = screen.vt().cursor_position();
        let (rows, cols) = (screen.size().rows, screen.size().cols);
        let cursor = (cursor.0.min(rows - 1), cursor.1.min(cols - 1));
        pane.scroll = Some(Scroll::enter(&lines, cursor));
        self.needs_redraw = true;
    }

    /// The rows pane `index` shows, which scroll mode pages by.
    fn view_height(&self, index: usize) -> usize {
        usize::from(self.panes[index].screen().size().rows)
    }

    /// Runs `change` on pane `index`'s scroll mode with the pane's lines,
    /// after the view has been put back on rows that exist.
    fn with_scroll<T>(
        &mut self,
        index: usize,
        change: impl FnOnce(&mut Scroll, &Lines<'_>, usize) -> T,
    ) -> Option<T> {
        let height = self.view_height(index);
        let pane = self.panes.get_mut(index)?;
        let screen = pane.screen.lock();
        let lines = Lines::new(screen.history(), screen.vt());
        let scroll = pane.scroll.as_mut()?;
        scroll.settle(&lines, height);
        self.needs_redraw = true;
        Some(change(scroll, &lines, height))
    }

    /// A key in scroll mode.
    fn scroll_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let index = self.focus;
        let id = self.panes[index].id;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let half = |h: usize| (h / 2).max(1) as isize;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.with_scroll(index, |s, l, h| s.move_cursor(l, -1, 0, h));
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.with_scroll(index, |s, l, h| s.move_cursor(l, 1, 0, h));
            }
            KeyCode::Left | KeyCode::Char('h') => {
                self.with_scroll(index, |s, l, h| s.move_cursor(l, 0, -1, h));
            }
            KeyCode::Right | KeyCode::Char('l') => {
                self.with_scroll(index, |s, l, h| s.move_cursor(l, 0, 1, h));
            }
            KeyCode::Home | KeyCode::Char('0') => {
                self.with_scroll(index, |s, _, _| s.cursor.col = 0);
            }
            KeyCode::End | KeyCode::Char('$') => {
                self.with_scroll(index, |s, l, _| {
                    s.cursor.col = l.row_span(s.cursor.at).map_or(0, |(line, range, start)| {
                        line.column_of(range.end).saturating_sub(start + 1)
                    });
                });
            }
            KeyCode::PageUp | KeyCode::Char('b') if ctrl || key.code == KeyCode::PageUp => {
                self.with_scroll(index, |s, l, h| s.scroll(l, -(h as isize), h));
            }
            KeyCode::PageDown | KeyCode::Char('f') if ctrl || key.code == KeyCode::PageDown => {
                self.with_scroll(index, |s, l, h| s.scroll(l, h as isize, h));
            }
            KeyCode::Char('u') if ctrl => {
                self.with_scroll(index, |s, l, h| s.scroll(l, -half(h), h));
            }
            KeyCode::Char('d') if ctrl => {
                self.with_scroll(index, |s, l, h| s.scroll(l, half(h), h));
            }
            KeyCode::Char('c') if ctrl => self.leave_scroll(index),
            KeyCode::Char('g') => {
                self.with_scroll(index, |s, l, _| s.to_top(l));
            }
            KeyCode::Char('G') => {
                self.with_scroll(index, |s, l, h| s.to_bottom(l, h));
            }
            KeyCode::Char(c @ ('/' | '?')) => {
                let backwards = c == '/';
                self.prompt = Some(PromptState {
                    asking: Asking::Search {
                        pane: id,
                        backwards,
                    },
                    editor: Prompt::new(
                        if backwards {
                            "search ↑"
                        } else {
                            "search ↓"
                        },
                        "",
                    ),
                });
                self.needs_redraw = true;
            }
            KeyCode::Char(c @ ('n' | 'N')) => {
                self.with_scroll(index, |s, l, h| s.find_next(l, c == 'N', h));
            }
            KeyCode::Char('v' | ' ') => {
                self.with_scroll(index, |s, _, _| {
                    s.anchor = match s.anchor {
                        Some(_) => None,
                        None => Some(s.cursor),
                    };
                });
            }
            KeyCode::Char('y') | KeyCode::Enter => {
                let text = self.with_scroll(index, |s, l, _| s.selected_text(l));
                if let Some(text) = text.flatten().filter(|t| !t.is_empty()) {
                    self.clipboard.push(text);
                }
                self.leave_scroll(index);
            }
            KeyCode::Esc
                if self.panes[index]
                    .scroll
                    .as_ref()
                    .is_some_and(|s| s.anchor.is_some()) =>
            {
                self.with_scroll(index, |s, _, _| s.anchor = None);
            }
            KeyCode::Char('q') | KeyCode::Esc => self.leave_scroll(index),
            _ => {}
        }
        Vec::new()
    }

    /// Back to the live view.
    fn leave_scroll(&mut self, index: usize) {
        if let Some(pane) = self.panes.get_mut(index) {
            pane.scroll = None;
        }
        self.needs_redraw = true;
    }

    /// Starts a search for `text` in the pane's scroll mode.
    fn search(&mut self, id: PaneId, text: &str, backwards: bool) {
        let Some(index) = self.index_of(id) else {
            return;
        };
        let pattern = match regex::Regex::new(text) {
            Ok(pattern) => Some(pattern),
            Err(e) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim().to_string();
                self.with_scroll(index, |s, _, _| {
                    s.note = Some(format!("bad pattern: {}", clean_text(&why)));
                });
                None
            }
        };
        let Some(pattern) = pattern else { return };
        self.with_scroll(index, |s, l, h| {
            s.search = Some(Search {
                pattern,
                backwards,
                current: None,
            });
            s.find_next(l, false, h)
        });
    }

    fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        let at = Position::new(mouse.column, mouse.row);
        let rects = self.pane_rects();
        let hit = rects.iter().position(|r| r.is_some_and(|r| r.contains(at)));
        // Where the pointer is inside pane `index`'s inner area, clamped to it.
        let inside = |index: usize| -> Option<(u16, u16)> {
            let inner = layout::inner(rects.get(index).copied().flatten()?);
            if inner.width == 0 || inner.height == 0 {
                return None;
            }
            let col = at.x.clamp(inner.x, inner.right() - 1) - inner.x;
            let row = at.y.clamp(inner.y, inner.bottom() - 1) - inner.y;
            Some((col, row))
        };
        let shift = mouse.modifiers.contains(KeyModifiers::SHIFT);
        match (mouse.kind, self.grab) {
            (MouseEventKind::Drag(_) | MouseEventKind::Up(_), Some(Grab::Forward(id))) => {
                if matches!(mouse.kind, MouseEventKind::Up(_)) {
                    self.grab = None;
                }
                let Some(index) = self.index_of(id) else {
                    return Vec::new();
                };
                let Some((col, row)) = inside(index) else {
                    return Vec::new();
                };
                self.forward_mouse(index, mouse, col, row)
            }
            (MouseEventKind::Drag(MouseButton::Left), Some(Grab::Press(id, col, row))) => {
                // The pointer moved with the button down: a selection starts
                // where it went down, in scroll mode so the text holds still.
                let Some(index) = self.index_of(id) else {
                    return Vec::new();
                };
                let entered = self.panes[index].scroll.is_none();
                self.enter_scroll(index);
                self.with_scroll(index, |s, l, _| {
                    s.by_drag |= entered;
                    s.cursor = Point {
                        at: l.down(s.top, usize::from(row)),
                        col: usize::from(col),
                    };
                    s.anchor = Some(s.cursor);
                });
                self.grab = Some(Grab::Select(id));
                self.mouse(mouse)
            }
            (MouseEventKind::Drag(MouseButton::Left), Some(Grab::Select(id))) => {
                if let Some(index) = self.index_of(id)
                    && let Some((col, row)) = inside(index)
                {
                    self.with_scroll(index, |s, l, _| {
                        s.cursor = Point {
                            at: l.down(s.top, usize::from(row)),
                            col: usize::from(col),
                        };
                    });
                }
                Vec::new()
            }
            (MouseEventKind::Up(_), Some(Grab::Press(..))) => {
                self.grab = None;
                Vec::new()
            }
            (MouseEventKind::Up(_), Some(Grab::Select(id))) => {
                self.grab = None;
                let Some(index) = self.index_of(id) else {
                    return Vec::new();
                };
                let (text, by_drag) = self
                    .with_scroll(index, |s, l, _| {
                        let text = s.selected_text(l).filter(|t| !t.is_empty());
                        s.anchor = None;
                        (text, s.by_drag)
                    })
                    .unwrap_or((None, false));
                self.clipboard.extend(text);
                if by_drag {
                    self.leave_scroll(index);
                }
                Vec::new()
            }
            (MouseEventKind::Down(button), _) => {
                self.grab = None;
                let Some(index) = hit else {
                    return Vec::new();
                };
                // Only the left button moves the focus, as in tmux.
                let mut effects = if button == MouseButton::Left {
                    self.set_focus(index)
                } else {
                    Vec::new()
                };
                let Some((col, row)) = inside(index)
                    .filter(|_| layout::inner(rects[index].unwrap_or_default()).contains(at))
                else {
                    return effects;
                };
                if shift {
                    return effects;
                }
                if self.wants_mouse(index, mouse.kind) {
                    self.grab = Some(Grab::Forward(self.panes[index].id));
                    effects.extend(self.forward_mouse(index, mouse, col, row));
                    return effects;
                }
                if button == MouseButton::Left {
                    self.grab = Some(Grab::Press(self.panes[index].id, col, row));
                }
                effects
            }
            (MouseEventKind::ScrollUp | MouseEventKind::ScrollDown, _) => {
                let Some(index) = hit else {
                    return Vec::new();
                };
                let up = mouse.kind == MouseEventKind::ScrollUp;
                let (col, row) = inside(index).unwrap_or_default();
                if self.wants_mouse(index, mouse.kind) {
                    return self.forward_mouse(index, mouse, col, row);
                }
                let pane = &self.panes[index];
                if pane.scroll.is_none() && pane.published.modes().alternate_screen {
                    // A full-screen program without mouse reports (less, a
                    // pager) gets arrow keys, as xterm's alternate scroll does.
                    if !pane.state.is_running() || self.shutdown.is_some() {
                        return Vec::new();
                    }
                    let modes = Modes {
                        application_cursor: pane.published.modes().application_cursor,
                    };
                    let key = KeyEvent::new(
                        if up { KeyCode::Up } else { KeyCode::Down },
                        KeyModifiers::NONE,
                    );
                    let bytes = encode_key(key, modes)
                        .unwrap_or_default()
                        .repeat(WHEEL_ROWS);
                    return vec![Effect::Write(pane.id, bytes)];
                }
                if up && pane.scroll.is_none() {
                    self.enter_scroll(index);
                    self.with_scroll(index, |s, _, _| s.by_wheel = true);
                }
                let delta = if up {
                    -(WHEEL_ROWS as isize)
                } else {
                    WHEEL_ROWS as isize
                };
                let at_bottom = self.with_scroll(index, |s, l, h| {
                    s.scroll(l, delta, h);
                    s.by_wheel && s.offset(l) == 0 && s.anchor.is_none()
                });
                if at_bottom == Some(true) {
                    self.leave_scroll(index);
                }
                Vec::new()
            }
            (MouseEventKind::Moved | MouseEventKind::Drag(_), None) => match hit {
                Some(index) if !shift && self.wants_mouse(index, mouse.kind) => {
                    match inside(index) {
                        Some((col, row)) => self.forward_mouse(index, mouse, col, row),
                        None => Vec::new(),
                    }
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Whether the program in pane `index` asked for this kind of mouse
    /// event and can take it now (scroll mode keeps the mouse for itself).
    fn wants_mouse(&self, index: usize, kind: MouseEventKind) -> bool {
        let pane = &self.panes[index];
        pane.scroll.is_none()
            && pane.state.is_running()
            && self.shutdown.is_none()
            && mouse::wants(kind, pane.published.modes().mouse_mode)
    }

    /// Sends a mouse event to pane `index`'s program, encoded as it asked.
    fn forward_mouse(&self, index: usize, mouse: MouseEvent, col: u16, row: u16) -> Vec<Effect> {
        let pane = &self.panes[index];
        if !pane.state.is_running() || self.shutdown.is_some() {
            return Vec::new();
        }
        let modes = pane.published.modes();
        match mouse::encode(
            mouse.kind,
            mouse.modifiers,
            col,
            row,
            modes.mouse_mode,
            modes.mouse_encoding,
        ) {
            Some(bytes) => vec![Effect::Write(pane.id, bytes)],
            None => Vec::new(),
        }
    }

    fn send_to_focused(&self, bytes: Vec<u8>) -> Vec<Effect> {
        match self.panes.get(self.focus) {
            Some(pane) if pane.state.is_running() && self.shutdown.is_none() => {
                vec![Effect::Write(pane.id, bytes)]
            }
            _ => Vec::new(),
        }
    }

    fn focused_modes(&self) -> Modes {
        self.panes
            .get(self.focus)
            .map_or_else(Modes::default, |pane| Modes {
                application_cursor: pane.published.modes().application_cursor,
            })
    }

    /// Gives every visible pane whose inner size changed its new size: the
    /// screen at once, the PTY through an effect. Hidden panes keep theirs.
    fn relayout(&mut self) -> Vec<Effect> {
        let rects = self.pane_rects();
        let mut effects = Vec::new();
        for (pane, rect) in self.panes.iter_mut().zip(rects) {
            let Some(rect) = rect else { continue };
            let size = inner_size(Some(rect));
            let mut screen = pane.screen.lock();
            if screen.size() != size {
                let remembered = pane
                    .scroll
                    .as_ref()
                    .map(|s| s.before_resize(&Lines::new(screen.history(), screen.vt())));
                screen.resize(size);
                if let (Some(scroll), Some(remembered)) = (&mut pane.scroll, remembered) {
                    let lines = Lines::new(screen.history(), screen.vt());
                    scroll.after_resize(&remembered, &lines, usize::from(size.rows));
                }
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

fn inner_size(rect: Option<Rect>) -> Size {
    let inner = rect.map(layout::inner).unwrap_or_default();
    Size::new(inner.height, inner.width).at_least_one()
}
