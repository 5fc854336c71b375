//! One session with one view attached: what a front end that owns its
//! terminal (the TUI) or owns no terminal at all (the prefixed-line front
//! end) drives. [`App::update`] routes each event: a terminal's input to the
//! view, which turns it into commands for the session; everything else to
//! the session. It returns the [`Effect`]s the runtime must carry out and
//! does no I/O itself, so tests drive an `App` whose panes have no PTY and
//! check what it asks for.

use std::time::Instant;

use crate::config::{LayoutKind, PaneSpec, Settings};
use crate::event::Event;
use crate::keys::Keymap;
use crate::pane::Pane;
use crate::session::{Command, Session};
use crate::view::{self, View};
use crate::{PaneId, Size};

pub use crate::session::{Effect, Shutdown};
pub use crate::view::{Asking, PromptState, WHEEL_ROWS};

pub struct App {
    pub session: Session,
    pub view: View,
    /// Whether an update changed what is drawn. A key that only goes to a
    /// pane changes nothing until the echo comes back, so it does not spend
    /// the frame the echo should be drawn in.
    pub needs_redraw: bool,
}

impl App {
    /// Builds the panes, each with a screen already sized to its place in the
    /// layout, so the PTY can be given that size before the program starts.
    pub fn new(specs: Vec<PaneSpec>, size: Size) -> Self {
        Self::with(
            Session::new(specs, size, LayoutKind::Tiled),
            Keymap::default(),
        )
    }

    /// Builds the app for `settings` on a terminal of `size`.
    pub fn from_settings(settings: Settings, size: Size) -> Self {
        let keymap = Keymap::new(settings.prefix);
        Self::with(Session::from_settings(settings, size), keymap)
    }

    fn with(session: Session, keymap: Keymap) -> Self {
        let view = View::new(&session, keymap);
        Self {
            session,
            view,
            needs_redraw: true,
        }
    }

    /// Starts every pane that starts with opmux; called once the front end
    /// is ready.
    pub fn start(&mut self) -> Vec<Effect> {
        self.session.start()
    }

    pub fn update(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        let effects = match event {
            Event::Key(_) | Event::Mouse(_) | Event::Paste(_) | Event::TerminalFocus(_) => {
                let views = std::slice::from_mut(&mut self.view);
                let (effects, changed) = view::input(&mut self.session, views, 0, event, now);
                self.needs_redraw |= changed.session || changed.view;
                effects
            }
            Event::Resize(size) => {
                self.needs_redraw = true;
                self.command(Command::Resize(size), now)
            }
            event => {
                self.needs_redraw = true;
                self.session.handle(event, now)
            }
        };
        // Whatever the view asked to show is in the frame asked for.
        self.view.redraw = false;
        self.view.clipboard.append(&mut self.session.copies);
        effects
    }

    /// Carries out a command, keeping the view's scroll modes on their text
    /// when panes change size, and focusing a pane the view added.
    pub fn command(&mut self, command: Command, now: Instant) -> Vec<Effect> {
        let views = std::slice::from_mut(&mut self.view);
        view::carry_out(&mut self.session, views, Some(0), command, now)
    }

    /// Takes a closed pane out, re-tiles the rest and returns it, so the
    /// runtime can close its log. The last pane closed ends opmux.
    pub fn remove_pane(&mut self, id: PaneId, now: Instant) -> (Option<Pane>, Vec<Effect>) {
        let views = std::slice::from_mut(&mut self.view);
        let Some((pane, effects)) = view::remove_pane(&mut self.session, views, id, now) else {
            return (None, Vec::new());
        };
        self.needs_redraw = true;
        (Some(pane), effects)
    }
}
