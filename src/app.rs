//! The application state and its one entry point, [`App::update`]. `update`
//! changes state and returns the [`Effect`]s the runtime must carry out (PTY
//! writes, resizes, signals); it does no I/O itself, so tests drive an `App`
//! whose panes have no PTY and check what it asks for.

use std::time::{Duration, Instant};

use crossterm::event::{KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use nix::sys::signal::Signal;
use ratatui::layout::{Position, Rect};

use crate::config::PaneSpec;
use crate::event::Event;
use crate::keys::{Action, Keymap, Modes, encode_paste};
use crate::layout::{self, Direction};
use crate::pane::{Pane, PaneState};
use crate::{PaneId, Size};

/// What the runtime must do after an update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Bytes for a pane's program.
    Write(PaneId, Vec<u8>),
    /// The pane's PTY must take this size; its screen already has.
    ResizePty(PaneId, Size),
    /// Send this signal to every process of every pane.
    SignalAll(Signal),
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
    pub stop_timeout: Duration,
    pub shutdown: Option<Shutdown>,
}

impl App {
    /// Builds the panes, each with a screen already sized to its place in the
    /// layout, so the PTY can be given that size before the program starts.
    pub fn new(specs: Vec<PaneSpec>, size: Size, stop_timeout: Duration) -> Self {
        let mut app = Self {
            panes: Vec::new(),
            focus: 0,
            zoomed: false,
            size,
            keymap: Keymap::default(),
            show_help: false,
            stop_timeout,
            shutdown: None,
        };
        let n = specs.len();
        let rects = layout::arrange(n, app.panes_area(), None);
        app.panes = specs
            .into_iter()
            .zip(rects)
            .enumerate()
            .map(|(i, (spec, rect))| Pane::new(PaneId(i), spec, inner_size(rect)))
            .collect();
        app
    }

    /// The area the panes share: the whole terminal but the status line.
    pub fn panes_area(&self) -> Rect {
        Rect::new(0, 0, self.size.cols, self.size.rows.saturating_sub(1))
    }

    /// Each pane's outer rectangle, `None` for panes hidden by a zoom.
    pub fn pane_rects(&self) -> Vec<Option<Rect>> {
        let zoom = self.zoomed.then_some(self.focus);
        layout::arrange(self.panes.len(), self.panes_area(), zoom)
    }

    /// The size a pane's program sees: its inner area, at least one cell.
    pub fn pane_size(&self, id: PaneId) -> Size {
        inner_size(self.pane_rects().get(id.0).copied().flatten())
    }

    pub fn update(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        match event {
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
                    .is_some_and(|p| p.screen().vt().bracketed_paste());
                self.send_to_focused(encode_paste(&text, bracketed))
            }
            Event::Resize(size) => {
                self.size = size;
                self.relayout()
            }
            // The terminal is gone: nobody can see or stop the panes any more.
            Event::InputClosed(_) => self.quit(now, 128 + Signal::SIGHUP as i32),
            Event::PaneOutput(_) => Vec::new(),
            Event::PaneOutputClosed(id, error) => {
                if let (Some(pane), Some(error)) = (self.panes.get_mut(id.0), error) {
                    pane.error = Some(error);
                }
                Vec::new()
            }
            Event::PaneInputFailed(id, error) => {
                if let Some(pane) = self.panes.get_mut(id.0) {
                    pane.error = Some(format!("writing input: {error}"));
                }
                Vec::new()
            }
            Event::PaneExited(id, status) => {
                if let Some(pane) = self.panes.get_mut(id.0) {
                    pane.state = PaneState::Exited(status);
                    // Closing our side of the PTY only now, after the reap,
                    // keeps portable-pty's drop from typing into a live program.
                    pane.pty = None;
                }
                Vec::new()
            }
            Event::Signal(signal) => self.quit(now, 128 + signal as i32),
            Event::StopDeadline => match &mut self.shutdown {
                Some(shutdown) if !shutdown.killed => {
                    shutdown.killed = true;
                    vec![Effect::SignalAll(Signal::SIGKILL)]
                }
                _ => Vec::new(),
            },
        }
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
            Action::Quit => return self.quit(now, 0),
            Action::AwaitCommand | Action::Nothing => {}
        }
        Vec::new()
    }

    fn focus_towards(&mut self, dir: Direction) -> Vec<Effect> {
        // While zoomed, directions follow the tiled layout the user remembers.
        let tiled = layout::arrange(self.panes.len(), self.panes_area(), None);
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

    fn mouse(&mut self, mouse: MouseEvent) -> Vec<Effect> {
        if let MouseEventKind::Down(MouseButton::Left) = mouse.kind {
            let at = Position::new(mouse.column, mouse.row);
            let hit = self
                .pane_rects()
                .iter()
                .position(|r| r.is_some_and(|r| r.contains(at)));
            if let Some(index) = hit {
                return self.set_focus(index);
            }
        }
        Vec::new()
    }

    fn send_to_focused(&self, bytes: Vec<u8>) -> Vec<Effect> {
        match self.panes.get(self.focus) {
            Some(pane) if pane.state.is_alive() && self.shutdown.is_none() => {
                vec![Effect::Write(pane.id, bytes)]
            }
            _ => Vec::new(),
        }
    }

    fn focused_modes(&self) -> Modes {
        self.panes
            .get(self.focus)
            .map_or_else(Modes::default, |pane| Modes {
                application_cursor: pane.screen().vt().application_cursor(),
            })
    }

    /// Gives every visible pane whose inner size changed its new size: the
    /// screen at once, the PTY through an effect. Hidden panes keep theirs.
    fn relayout(&mut self) -> Vec<Effect> {
        let rects = self.pane_rects();
        let mut effects = Vec::new();
        for (pane, rect) in self.panes.iter().zip(rects) {
            let Some(rect) = rect else { continue };
            let size = inner_size(Some(rect));
            let mut screen = pane.screen();
            if screen.size() != size {
                screen.resize(size);
                effects.push(Effect::ResizePty(pane.id, size));
            }
        }
        effects
    }

    /// Starts the shutdown, or escalates it to SIGKILL when asked a second time.
    fn quit(&mut self, now: Instant, exit_code: i32) -> Vec<Effect> {
        if let Some(shutdown) = &mut self.shutdown {
            if shutdown.killed {
                return Vec::new();
            }
            shutdown.killed = true;
            return vec![Effect::SignalAll(Signal::SIGKILL)];
        }
        let deadline = now + self.stop_timeout;
        self.shutdown = Some(Shutdown {
            deadline,
            killed: false,
            exit_code,
        });
        for pane in &mut self.panes {
            if let Some(pid) = pane.state.pid() {
                pane.state = PaneState::Stopping { pid, deadline };
            }
        }
        vec![Effect::SignalAll(Signal::SIGTERM)]
    }

    /// Whether no pane's main process is left running.
    pub fn all_exited(&self) -> bool {
        self.panes.iter().all(|p| !p.state.is_alive())
    }
}

fn inner_size(rect: Option<Rect>) -> Size {
    let inner = rect.map(layout::inner).unwrap_or_default();
    Size::new(inner.height, inner.width).at_least_one()
}
