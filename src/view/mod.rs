//! One client's view of a session: which pane has its focus, the prefix
//! key's state, the help overlay, the prompt, scroll mode and selections,
//! the mouse, and the focus reports its terminal owes programs. It reads the
//! session and turns the client's input into [`Command`]s addressed to
//! panes; it never changes the session itself. Texts it copies go to its
//! own terminal's clipboard.

use std::collections::HashMap;
use std::time::Instant;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Position;

use crate::PaneId;
use crate::config::PaneSpec;
use crate::event::Event;
use crate::keys::{Action, Keymap, Modes, encode_key, encode_paste};
use crate::layout::{self, Direction};
use crate::mouse;
use crate::pane::Pane;
use crate::prompt::{self, Outcome, Prompt};
use crate::scroll::{Lines, Point, Remembered, Scroll, Search};
use crate::session::{Command, Effect, Session};
use crate::{Size, clean_text};

/// Rows one notch of the mouse wheel scrolls.
pub const WHEEL_ROWS: usize = 3;

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

/// Where a view's scroll modes stood before panes were resized, to put
/// them back on the same text after.
pub struct ScrollMemo(Vec<(PaneId, Size, Remembered)>);

pub struct View {
    /// The place in the session's panes of the pane with the focus.
    pub focus: usize,
    pub keymap: Keymap,
    pub show_help: bool,
    /// The prompt at the bottom, while one is open; it takes every key.
    pub prompt: Option<PromptState>,
    /// Command lines run with `C-b c`, for the prompt's ↑/↓.
    command_history: prompt::History,
    /// Patterns searched for in scroll mode, for the prompt's ↑/↓.
    search_history: prompt::History,
    /// Texts to put on this client's clipboard, taken by the front end,
    /// which sends them to the terminal with OSC 52.
    pub clipboard: Vec<String>,
    /// Who the mouse belongs to while a button is held.
    grab: Option<Grab>,
    /// Scroll mode, for each pane that is in it.
    scrolls: HashMap<PaneId, Scroll>,
    /// Whether this client's terminal has the focus, as far as it reported.
    pub terminal_focused: bool,
    /// The pane whose program was last told it has the focus, or would
    /// have been had it asked (mode 1004); `None` while the terminal lacks
    /// the focus. See [`View::report_focus`].
    focus_reported: Option<PaneId>,
    /// Whether input changed what this view draws beyond what the session
    /// shows: the prompt, scroll mode, a selection. The front end clears it.
    pub redraw: bool,
    /// The client asked to detach (`C-b d`); whoever serves it acts on it.
    pub detach: bool,
}

/// A pane's input modes that key encoding depends on.
fn modes_of(session: &Session, index: usize) -> Modes {
    session
        .panes
        .get(index)
        .map_or_else(Modes::default, Pane::key_modes)
}

impl View {
    /// A view with the focus on the first pane, which is owed no report.
    pub fn new(session: &Session, keymap: Keymap) -> Self {
        Self {
            focus: 0,
            keymap,
            show_help: false,
            prompt: None,
            command_history: prompt::History::default(),
            search_history: prompt::History::default(),
            clipboard: Vec::new(),
            grab: None,
            scrolls: HashMap::new(),
            terminal_focused: true,
            focus_reported: session.panes.first().map(|p| p.id),
            redraw: true,
            detach: false,
        }
    }

    /// The id of the pane with the focus.
    pub fn focused(&self, session: &Session) -> Option<PaneId> {
        session.panes.get(self.focus).map(|p| p.id)
    }

    /// The pane's scroll mode, if it is in it.
    pub fn scroll(&self, id: PaneId) -> Option<&Scroll> {
        self.scrolls.get(&id)
    }

    /// Whether the pane with the focus is in scroll mode.
    pub fn focus_in_scroll(&self, session: &Session) -> bool {
        self.focused(session)
            .is_some_and(|id| self.scrolls.contains_key(&id))
    }

    /// Input from this view's terminal, as commands for the session.
    pub fn input(&mut self, session: &Session, event: Event) -> Vec<Command> {
        match event {
            Event::Key(key) if self.prompt.is_some() => self.prompt_key(session, key),
            Event::Paste(text) if self.prompt.is_some() => {
                if let Some(prompt) = &mut self.prompt {
                    prompt.editor.insert_str(&text);
                }
                self.redraw = true;
                Vec::new()
            }
            Event::Key(key)
                if !self.keymap.armed()
                    && !self.keymap.is_prefix(&key)
                    && !key.modifiers.contains(KeyModifiers::ALT)
                    && !self.show_help
                    && self.focus_in_scroll(session) =>
            {
                self.scroll_key(session, key)
            }
            Event::Key(key) => {
                let action = self.keymap.handle(key, modes_of(session, self.focus));
                if !self.show_help {
                    return self.act(session, action);
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
                        self.act(session, command)
                    }
                }
            }
            Event::Mouse(mouse) => self.mouse(session, mouse),
            Event::Paste(text) => {
                let bracketed = session
                    .panes
                    .get(self.focus)
                    .is_some_and(|p| p.published.modes().bracketed_paste);
                self.send_to_focused(session, encode_paste(&text, bracketed))
            }
            // Reported to the focused pane's program by `report_focus`.
            Event::TerminalFocus(focused) => {
                self.terminal_focused = focused;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn act(&mut self, session: &Session, action: Action) -> Vec<Command> {
        let focused = self.focused(session);
        match action {
            Action::Send(bytes) => return self.send_to_focused(session, bytes),
            Action::Focus(dir) => return self.focus_towards(session, dir),
            Action::FocusNext => {
                if !session.panes.is_empty() {
                    return self.set_focus(session, (self.focus + 1) % session.panes.len());
                }
            }
            Action::FocusNumber(n) => {
                if (1..=session.panes.len()).contains(&n) {
                    return self.set_focus(session, n - 1);
                }
            }
            Action::ToggleZoom => {
                let zoom = match session.zoom {
                    Some(_) => None,
                    None => focused,
                };
                return vec![Command::Zoom(zoom)];
            }
            Action::ToggleHelp => self.show_help = !self.show_help,
            Action::Detach => self.detach = true,
            Action::Quit => {
                return vec![Command::Quit {
                    exit_code: 0,
                    escalate: true,
                }];
            }
            _ if session.shutdown.is_some() || session.panes.is_empty() => {}
            Action::NextLayout => return vec![Command::NextLayout],
            Action::NewPane => {
                self.prompt = Some(PromptState {
                    asking: Asking::NewPane,
                    editor: Prompt::new("run", ""),
                });
            }
            Action::RenamePane => {
                if let Some(pane) = session.panes.get(self.focus) {
                    self.prompt = Some(PromptState {
                        asking: Asking::Rename(pane.id),
                        editor: Prompt::new("rename", &pane.spec.name),
                    });
                }
            }
            Action::ScrollMode => self.enter_scroll(session, self.focus),
            Action::StopPane => return focused.map(Command::Stop).into_iter().collect(),
            Action::StartPane => return focused.map(Command::Start).into_iter().collect(),
            Action::RestartPane => return focused.map(Command::Restart).into_iter().collect(),
            Action::RestartGroup => {
                let group = (session.panes.get(self.focus)).and_then(|p| p.spec.group.as_deref());
                let panes = match group {
                    Some(group) => session.group(group).unwrap_or_default(),
                    None => focused.into_iter().collect(),
                };
                return vec![Command::RestartAll(panes)];
            }
            Action::KillPane => return focused.map(Command::Kill).into_iter().collect(),
            Action::ClosePane => return focused.map(Command::Close).into_iter().collect(),
            Action::AwaitCommand | Action::Nothing => {}
        }
        Vec::new()
    }

    /// A key while the prompt is open: edited, accepted or cancelled.
    fn prompt_key(&mut self, session: &Session, key: KeyEvent) -> Vec<Command> {
        self.redraw = true;
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
                    Asking::NewPane if !text.trim().is_empty() && session.shutdown.is_none() => {
                        let mut spec = PaneSpec::shell(text.trim());
                        spec.stop_timeout = session.default_stop_timeout;
                        vec![Command::Add(Box::new(spec))]
                    }
                    Asking::Rename(id) => vec![Command::Rename(id, text)],
                    Asking::Search { pane, backwards } => {
                        if !text.is_empty() {
                            self.search(session, pane, &text, backwards);
                        }
                        Vec::new()
                    }
                    Asking::NewPane => Vec::new(),
                }
            }
        }
    }

    /// Puts the focus on the pane with this id, as after it was added.
    pub fn focus_pane(&mut self, session: &Session, id: PaneId) {
        if let Some(index) = session.index_of(id) {
            self.focus = index;
        }
    }

    /// The pane at `index` was taken out of the session: the focus stays on
    /// the pane it was on, or moves to the one that took its place.
    pub fn pane_removed(&mut self, index: usize, id: PaneId, panes_left: usize) {
        if self.focus > index || self.focus >= panes_left {
            self.focus = self.focus.saturating_sub(1);
        }
        self.scrolls.remove(&id);
        self.redraw = true;
        if matches!(self.grab, Some(Grab::Forward(g) | Grab::Press(g, ..) | Grab::Select(g)) if g == id)
        {
            self.grab = None;
        }
    }

    /// Tells the programs that asked for focus events (mode 1004) that the
    /// focus moved: `CSI O` to the pane that had it, `CSI I` to the pane
    /// that has it now. The focus is nowhere while the terminal lacks it.
    /// Run after every event and every removal, it catches each way the
    /// focus moves (keys, a click, a pane added or closed, the terminal's
    /// own focus) without each having to remember.
    pub fn report_focus(&mut self, session: &Session) -> Vec<Command> {
        let focused = self
            .terminal_focused
            .then(|| self.focused(session))
            .flatten();
        if focused == self.focus_reported {
            return Vec::new();
        }
        let lost = std::mem::replace(&mut self.focus_reported, focused);
        let mut commands = Vec::new();
        for (id, report) in [(lost, FOCUS_OUT), (focused, FOCUS_IN)] {
            let Some(pane) = id.and_then(|id| session.pane(id)) else {
                continue;
            };
            if session.takes_input(pane.id) && pane.published.modes().focus_events {
                commands.push(Command::Write(pane.id, report.to_vec()));
            }
        }
        commands
    }

    fn focus_towards(&mut self, session: &Session, dir: Direction) -> Vec<Command> {
        // While zoomed, directions follow the tiled layout the user remembers.
        match layout::neighbour(&session.tiled_rects(), self.focus, dir) {
            Some(next) => self.set_focus(session, next),
            None => Vec::new(),
        }
    }

    /// Moves the focus; a zoom follows it to the new pane.
    fn set_focus(&mut self, session: &Session, index: usize) -> Vec<Command> {
        if index == self.focus {
            return Vec::new();
        }
        self.focus = index;
        match (session.zoom, session.panes.get(index)) {
            (Some(_), Some(pane)) => vec![Command::Zoom(Some(pane.id))],
            _ => Vec::new(),
        }
    }

    /// Puts pane `index` in scroll mode on its live view, the cursor where
    /// the program's cursor is.
    fn enter_scroll(&mut self, session: &Session, index: usize) {
        let Some(pane) = session.panes.get(index) else {
            return;
        };
        if self.scrolls.contains_key(&pane.id) {
            return;
        }
        let screen = pane.screen.lock();
        let lines = Lines::new(screen.history(), screen.vt());
        let cursor = screen.vt().cursor_position();
        let (rows, cols) = (screen.size().rows, screen.size().cols);
        let cursor = (cursor.0.min(rows - 1), cursor.1.min(cols - 1));
        self.scrolls.insert(pane.id, Scroll::enter(&lines, cursor));
        self.redraw = true;
    }

    /// Runs `change` on pane `index`'s scroll mode with the pane's lines,
    /// after the view has been put back on rows that exist.
    fn with_scroll<T>(
        &mut self,
        session: &Session,
        index: usize,
        change: impl FnOnce(&mut Scroll, &Lines<'_>, usize) -> T,
    ) -> Option<T> {
        let pane = session.panes.get(index)?;
        let scroll = self.scrolls.get_mut(&pane.id)?;
        let screen = pane.screen.lock();
        // The rows the pane shows, which scroll mode pages by.
        let height = usize::from(screen.size().rows);
        let lines = Lines::new(screen.history(), screen.vt());
        scroll.settle(&lines, height);
        self.redraw = true;
        Some(change(scroll, &lines, height))
    }

    /// A key in scroll mode.
    fn scroll_key(&mut self, session: &Session, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let index = self.focus;
        let Some(id) = self.focused(session) else {
            return Vec::new();
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let half = |h: usize| (h / 2).max(1) as isize;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.with_scroll(session, index, |s, l, h| s.move_cursor(l, -1, 0, h));
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.with_scroll(session, index, |s, l, h| s.move_cursor(l, 1, 0, h));
            }
            KeyCode::Left | KeyCode::Char('h') => {
                self.with_scroll(session, index, |s, l, h| s.move_cursor(l, 0, -1, h));
            }
            KeyCode::Right | KeyCode::Char('l') => {
                self.with_scroll(session, index, |s, l, h| s.move_cursor(l, 0, 1, h));
            }
            KeyCode::Home | KeyCode::Char('0') => {
                self.with_scroll(session, index, |s, _, _| s.cursor.col = 0);
            }
            KeyCode::End | KeyCode::Char('$') => {
                self.with_scroll(session, index, |s, l, _| {
                    s.cursor.col = l.row_span(s.cursor.at).map_or(0, |(line, range, start)| {
                        line.column_of(range.end).saturating_sub(start + 1)
                    });
                });
            }
            KeyCode::PageUp | KeyCode::Char('b') if ctrl || key.code == KeyCode::PageUp => {
                self.with_scroll(session, index, |s, l, h| s.scroll(l, -(h as isize), h));
            }
            KeyCode::PageDown | KeyCode::Char('f') if ctrl || key.code == KeyCode::PageDown => {
                self.with_scroll(session, index, |s, l, h| s.scroll(l, h as isize, h));
            }
            KeyCode::Char('u') if ctrl => {
                self.with_scroll(session, index, |s, l, h| s.scroll(l, -half(h), h));
            }
            KeyCode::Char('d') if ctrl => {
                self.with_scroll(session, index, |s, l, h| s.scroll(l, half(h), h));
            }
            KeyCode::Char('c') if ctrl => self.leave_scroll(id),
            KeyCode::Char('g') => {
                self.with_scroll(session, index, |s, l, _| s.to_top(l));
            }
            KeyCode::Char('G') => {
                self.with_scroll(session, index, |s, l, h| s.to_bottom(l, h));
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
                self.redraw = true;
            }
            KeyCode::Char(c @ ('n' | 'N')) => {
                self.with_scroll(session, index, |s, l, h| s.find_next(l, c == 'N', h));
            }
            KeyCode::Char('v' | ' ') => {
                self.with_scroll(session, index, |s, _, _| {
                    s.anchor = match s.anchor {
                        Some(_) => None,
                        None => Some(s.cursor),
                    };
                });
            }
            KeyCode::Char('y') | KeyCode::Enter => {
                let text = self.with_scroll(session, index, |s, l, _| s.selected_text(l));
                if let Some(text) = text.flatten().filter(|t| !t.is_empty()) {
                    self.clipboard.push(text);
                }
                self.leave_scroll(id);
            }
            KeyCode::Esc if self.scrolls.get(&id).is_some_and(|s| s.anchor.is_some()) => {
                self.with_scroll(session, index, |s, _, _| s.anchor = None);
            }
            KeyCode::Char('q') | KeyCode::Esc => self.leave_scroll(id),
            _ => {}
        }
        Vec::new()
    }

    /// Back to the live view.
    fn leave_scroll(&mut self, id: PaneId) {
        self.scrolls.remove(&id);
        self.redraw = true;
    }

    /// Starts a search for `text` in the pane's scroll mode.
    fn search(&mut self, session: &Session, id: PaneId, text: &str, backwards: bool) {
        let Some(index) = session.index_of(id) else {
            return;
        };
        let pattern = match regex::Regex::new(text) {
            Ok(pattern) => Some(pattern),
            Err(e) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim().to_string();
                self.with_scroll(session, index, |s, _, _| {
                    s.note = Some(format!("bad pattern: {}", clean_text(&why)));
                });
                None
            }
        };
        let Some(pattern) = pattern else { return };
        self.with_scroll(session, index, |s, l, h| {
            s.search = Some(Search {
                pattern,
                backwards,
                current: None,
            });
            s.find_next(l, false, h)
        });
    }

    /// Where this view's scroll modes stand, before panes may be resized.
    pub fn remember_scrolls(&self, session: &Session) -> ScrollMemo {
        let mut memo = Vec::new();
        for (&id, scroll) in &self.scrolls {
            let Some(pane) = session.pane(id) else {
                continue;
            };
            let screen = pane.screen.lock();
            let lines = Lines::new(screen.history(), screen.vt());
            memo.push((id, screen.size(), scroll.before_resize(&lines)));
        }
        ScrollMemo(memo)
    }

    /// Puts each scroll mode back on the text it showed, in the panes whose
    /// size changed since `memo` was taken.
    pub fn restore_scrolls(&mut self, session: &Session, memo: ScrollMemo) {
        for (id, size, remembered) in memo.0 {
            let (Some(pane), Some(scroll)) = (session.pane(id), self.scrolls.get_mut(&id)) else {
                continue;
            };
            let screen = pane.screen.lock();
            if screen.size() == size {
                continue;
            }
            let lines = Lines::new(screen.history(), screen.vt());
            scroll.after_resize(&remembered, &lines, usize::from(screen.size().rows));
        }
    }

    fn mouse(&mut self, session: &Session, mouse: MouseEvent) -> Vec<Command> {
        let at = Position::new(mouse.column, mouse.row);
        let rects = session.pane_rects();
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
                let Some(index) = session.index_of(id) else {
                    return Vec::new();
                };
                let Some((col, row)) = inside(index) else {
                    return Vec::new();
                };
                forward_mouse(session, index, mouse, col, row)
            }
            (MouseEventKind::Drag(MouseButton::Left), Some(Grab::Press(id, col, row))) => {
                // The pointer moved with the button down: a selection starts
                // where it went down, in scroll mode so the text holds still.
                let Some(index) = session.index_of(id) else {
                    return Vec::new();
                };
                let entered = !self.scrolls.contains_key(&id);
                self.enter_scroll(session, index);
                self.with_scroll(session, index, |s, l, _| {
                    s.by_drag |= entered;
                    s.cursor = Point {
                        at: l.down(s.top, usize::from(row)),
                        col: usize::from(col),
                    };
                    s.anchor = Some(s.cursor);
                });
                self.grab = Some(Grab::Select(id));
                self.mouse(session, mouse)
            }
            (MouseEventKind::Drag(MouseButton::Left), Some(Grab::Select(id))) => {
                if let Some(index) = session.index_of(id)
                    && let Some((col, row)) = inside(index)
                {
                    self.with_scroll(session, index, |s, l, _| {
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
                let Some(index) = session.index_of(id) else {
                    return Vec::new();
                };
                let (text, by_drag) = self
                    .with_scroll(session, index, |s, l, _| {
                        let text = s.selected_text(l).filter(|t| !t.is_empty());
                        s.anchor = None;
                        (text, s.by_drag)
                    })
                    .unwrap_or((None, false));
                self.clipboard.extend(text);
                if by_drag {
                    self.leave_scroll(id);
                }
                Vec::new()
            }
            (MouseEventKind::Down(button), _) => {
                self.grab = None;
                let Some(index) = hit else {
                    return Vec::new();
                };
                // Only the left button moves the focus, as in tmux.
                let mut commands = if button == MouseButton::Left {
                    self.set_focus(session, index)
                } else {
                    Vec::new()
                };
                let Some((col, row)) = inside(index)
                    .filter(|_| layout::inner(rects[index].unwrap_or_default()).contains(at))
                else {
                    return commands;
                };
                if shift {
                    return commands;
                }
                let id = session.panes[index].id;
                if self.wants_mouse(session, index, mouse.kind) {
                    self.grab = Some(Grab::Forward(id));
                    commands.extend(forward_mouse(session, index, mouse, col, row));
                    return commands;
                }
                if button == MouseButton::Left {
                    self.grab = Some(Grab::Press(id, col, row));
                }
                commands
            }
            (MouseEventKind::ScrollUp | MouseEventKind::ScrollDown, _) => {
                let Some(index) = hit else {
                    return Vec::new();
                };
                let up = mouse.kind == MouseEventKind::ScrollUp;
                let (col, row) = inside(index).unwrap_or_default();
                if self.wants_mouse(session, index, mouse.kind) {
                    return forward_mouse(session, index, mouse, col, row);
                }
                let pane = &session.panes[index];
                let scrolling = self.scrolls.contains_key(&pane.id);
                if !scrolling && pane.published.modes().alternate_screen {
                    // A full-screen program without mouse reports (less, a
                    // pager) gets arrow keys, as xterm's alternate scroll does.
                    if !session.takes_input(pane.id) {
                        return Vec::new();
                    }
                    let modes = modes_of(session, index);
                    let key = KeyEvent::new(
                        if up { KeyCode::Up } else { KeyCode::Down },
                        KeyModifiers::NONE,
                    );
                    let bytes = encode_key(key, modes)
                        .unwrap_or_default()
                        .repeat(WHEEL_ROWS);
                    return vec![Command::Write(pane.id, bytes)];
                }
                let id = pane.id;
                if up && !scrolling {
                    self.enter_scroll(session, index);
                    self.with_scroll(session, index, |s, _, _| s.by_wheel = true);
                }
                let delta = if up {
                    -(WHEEL_ROWS as isize)
                } else {
                    WHEEL_ROWS as isize
                };
                let at_bottom = self.with_scroll(session, index, |s, l, h| {
                    s.scroll(l, delta, h);
                    s.by_wheel && s.offset(l) == 0 && s.anchor.is_none()
                });
                if at_bottom == Some(true) {
                    self.leave_scroll(id);
                }
                Vec::new()
            }
            (MouseEventKind::Moved | MouseEventKind::Drag(_), None) => match hit {
                Some(index) if !shift && self.wants_mouse(session, index, mouse.kind) => {
                    match inside(index) {
                        Some((col, row)) => forward_mouse(session, index, mouse, col, row),
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
    fn wants_mouse(&self, session: &Session, index: usize, kind: MouseEventKind) -> bool {
        let pane = &session.panes[index];
        !self.scrolls.contains_key(&pane.id)
            && session.takes_input(pane.id)
            && mouse::wants(kind, pane.published.modes().mouse_mode)
    }

    fn send_to_focused(&self, session: &Session, bytes: Vec<u8>) -> Vec<Command> {
        match self.focused(session) {
            Some(id) if session.takes_input(id) => vec![Command::Write(id, bytes)],
            _ => Vec::new(),
        }
    }
}

impl AsMut<View> for View {
    fn as_mut(&mut self) -> &mut View {
        self
    }
}

/// Carries out `command` for the views attached to `session`: when panes
/// may change size, every view's scroll modes stay on the text they showed,
/// and a pane the view at `from` added gets that view's focus.
pub fn carry_out<V: AsMut<View>>(
    session: &mut Session,
    views: &mut [V],
    from: Option<usize>,
    command: Command,
    now: Instant,
) -> Vec<Effect> {
    let added = matches!(command, Command::Add(_));
    let memos: Option<Vec<ScrollMemo>> = command.may_resize().then(|| {
        views
            .iter_mut()
            .map(|v| v.as_mut().remember_scrolls(session))
            .collect()
    });
    let panes = session.panes.len();
    let effects = session.command(command, now);
    for (view, memo) in views.iter_mut().zip(memos.into_iter().flatten()) {
        view.as_mut().restore_scrolls(session, memo);
    }
    if added
        && session.panes.len() > panes
        && let (Some(view), Some(id)) = (from.and_then(|i| views.get_mut(i)), session.last_pane())
    {
        view.as_mut().focus_pane(session, id);
    }
    effects
}

/// What carrying out one terminal event changed, besides its effects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// A command other than input for a program was carried out: what the
    /// session shows may differ for every view.
    pub session: bool,
    /// The view's own picture changed (focus, help, the prefix, the prompt),
    /// or it asked for a redraw.
    pub view: bool,
}

/// One event from the terminal of `views[at]`: the commands its view makes
/// of it, carried out, then the focus reports owed. A key that only goes to
/// a pane changes nothing drawn until its echo comes back.
pub fn input<V: AsMut<View>>(
    session: &mut Session,
    views: &mut [V],
    at: usize,
    event: Event,
    now: Instant,
) -> (Vec<Effect>, Changed) {
    let picture = |view: &View| {
        (
            view.focus,
            view.show_help,
            view.keymap.armed(),
            view.prompt.is_some(),
        )
    };
    let view = views[at].as_mut();
    let before = picture(view);
    let commands = view.input(session, event);
    let mut changed = Changed::default();
    let mut effects = Vec::new();
    for command in commands {
        changed.session |= !matches!(command, Command::Write(..));
        effects.extend(carry_out(session, views, Some(at), command, now));
    }
    effects.extend(report_focus(session, views, now));
    let view = views[at].as_mut();
    changed.view = std::mem::take(&mut view.redraw) || picture(view) != before;
    (effects, changed)
}

/// The focus reports the views owe the programs (see [`View::report_focus`]),
/// carried out.
pub fn report_focus<V: AsMut<View>>(
    session: &mut Session,
    views: &mut [V],
    now: Instant,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    for view in views.iter_mut() {
        for command in view.as_mut().report_focus(session) {
            effects.extend(session.command(command, now));
        }
    }
    effects
}

/// Takes a closed pane out of `session` and moves every view's focus and
/// scroll mode off it; returns the pane, so its log can be closed, and what
/// the removal asks for, the focus reports owed included.
pub fn remove_pane<V: AsMut<View>>(
    session: &mut Session,
    views: &mut [V],
    id: PaneId,
    now: Instant,
) -> Option<(Pane, Vec<Effect>)> {
    let memos: Vec<ScrollMemo> = views
        .iter_mut()
        .map(|v| v.as_mut().remember_scrolls(session))
        .collect();
    let (index, pane, mut effects) = session.remove_pane(id, now)?;
    let left = session.panes.len();
    for (view, memo) in views.iter_mut().zip(memos) {
        let view = view.as_mut();
        view.restore_scrolls(session, memo);
        view.pane_removed(index, id, left);
    }
    effects.extend(report_focus(session, views, now));
    Some((pane, effects))
}

/// Sends a mouse event to pane `index`'s program, encoded as it asked.
fn forward_mouse(
    session: &Session,
    index: usize,
    mouse: MouseEvent,
    col: u16,
    row: u16,
) -> Vec<Command> {
    let pane = &session.panes[index];
    if !session.takes_input(pane.id) {
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
        Some(bytes) => vec![Command::Write(pane.id, bytes)],
        None => Vec::new(),
    }
}
