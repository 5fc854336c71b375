//! Drawing, and nothing else: `render` reads an [`App`] and fills a ratatui
//! frame with the panes, their titles, the status line and the help overlay.
//! It never changes state, so the same `App` always draws the same frame.

pub mod paint;
mod pane;

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use crate::PaneId;
use crate::app::App;
use crate::clean_text;
use crate::keys::{KEY_HELP, PROMPT_HELP, SCROLL_HELP};
use crate::layout;
use crate::pane::screen::Damage;
use crate::pane::{Pane, PaneState};
use crate::process::ExitStatus;
use crate::session::Session;
use crate::view::{Asking, PromptState, View};

pub use paint::{Canvas, Painter};
pub use pane::{draw_screen, draw_view};

use crate::scroll::{Lines, Scroll};

const FOCUS: Color = Color::Cyan;
const MUTED: Color = Color::DarkGray;

/// What the renderer keeps between frames besides the frame itself: how
/// each pane was last drawn, with the screen generation it showed (see
/// [`Published::generation`]).
///
/// - A frame is drawn over the last one (see [`paint`]). A pane whose screen
///   has not changed since is left as it is; one whose screen changed only
///   in some rows has those rows drawn again. Reading vt100 cell by cell is
///   the larger part of drawing: one key's echo redraws one row.
/// - The renderer never waits for a parser: one busy with a flood can be
///   preempted while it holds the lock, and with 16 panes flooding 2 cores,
///   waiting for each in turn held the first frame (and every key's echo)
///   for two seconds. A busy pane is drawn from the copy its parser left, or
///   else left as it was last drawn.
///
/// [`Published::generation`]: crate::pane::published::Published::generation
#[derive(Default)]
pub struct FrameCache {
    /// What the panes were drawn over: the frame's area, each pane's
    /// rectangle, and whether the help covered them. When it changes,
    /// everything is drawn afresh.
    layout: Option<Layout>,
    panes: std::collections::HashMap<PaneId, Drawn>,
    /// The status line as last drawn, unless the prompt was drawn there.
    status: Option<Line<'static>>,
    /// The earliest time a pane left as it was in the last frame, because
    /// its program was in the middle of a synchronized update, is drawn
    /// however far its update got.
    held_until: Option<Instant>,
    /// How long such a pane is left as it was, if not [`SYNC_LIMIT`].
    sync_limit: Option<Duration>,
}

/// The longest a pane in a synchronized update (mode 2026) is left as it
/// was before, counted from when the update began, for a program that
/// never ends it. tmux and most terminals wait about as long.
pub const SYNC_LIMIT: Duration = Duration::from_millis(150);

/// The frame's area, each pane's rectangle (`None` while another is
/// zoomed), and whether the help is shown.
type Layout = (Rect, Vec<(PaneId, Option<Rect>)>, bool);

/// A pane as it was last drawn: the screen generation and program title it
/// showed, where its program shows the cursor, and its border.
struct Drawn {
    generation: u64,
    title: Option<String>,
    cursor: Option<(u16, u16)>,
    border: Option<PaneBorder>,
}

/// How long a frame waits, for all its busy panes together, for copies of
/// panes it has nothing else to draw from.
const COPY_WAIT: Duration = Duration::from_millis(2);

impl FrameCache {
    /// A cache that leaves a pane in a synchronized update as it was for
    /// `limit` at most instead of [`SYNC_LIMIT`]. The end-to-end tests use
    /// a long one, so that a loaded machine cannot make a held pane due
    /// before they look at it.
    pub fn with_sync_limit(limit: Duration) -> Self {
        Self {
            sync_limit: Some(limit),
            ..Self::default()
        }
    }

    /// When a pane the last frame left as it was, because its program was
    /// in the middle of a synchronized update, is due to be drawn anyway:
    /// a frame is needed then unless output ends the update first.
    pub fn held_until(&self) -> Option<Instant> {
        self.held_until
    }

    /// Finishes pane `id` at `rect` from its kept drawing: its border, built
    /// by `border` from the kept title and drawn only if it changed, and its
    /// program's cursor if `show_cursor`.
    fn finish(
        &mut self,
        canvas: &mut Canvas,
        (id, rect): (PaneId, Rect),
        border: impl FnOnce(Option<&str>) -> PaneBorder,
        show_cursor: bool,
    ) {
        let Some(drawn) = self.panes.get_mut(&id) else {
            return;
        };
        let border = border(drawn.title.as_deref());
        if drawn.border.as_ref() != Some(&border) {
            canvas.render_widget(border.clone(), rect);
            drawn.border = Some(border);
        }
        if show_cursor && let Some(at) = drawn.cursor {
            canvas.set_cursor_position(at);
        }
    }
}

/// Draws `app` on a blank `frame`, with nothing kept from earlier frames.
pub fn render(frame: &mut Frame, app: &App, now: Instant) {
    let mut touched = vec![None; usize::from(frame.area().height)];
    let mut canvas = Canvas::blank(frame.buffer_mut(), &mut touched);
    render_cached(
        &mut canvas,
        &app.session,
        &app.view,
        now,
        &mut FrameCache::default(),
    );
    if let Some(at) = canvas.cursor() {
        frame.set_cursor_position(at);
    }
}

/// Draws `session` as `view` shows it, over the last frame on `canvas`,
/// redrawing what changed since (see [`FrameCache`]). A pane whose parser holds its screen is drawn from
/// its parser's copy or left as it was; in scroll mode, which reads the
/// history too, the frame waits for it.
pub fn render_cached(
    canvas: &mut Canvas,
    session: &Session,
    view: &View,
    now: Instant,
    cache: &mut FrameCache,
) {
    let area = canvas.area();
    if area.area() == 0 {
        return;
    }
    let rects = session.pane_rects();
    let layout = (
        area,
        session
            .panes
            .iter()
            .map(|p| p.id)
            .zip(rects.iter().copied())
            .collect(),
        view.show_help,
    );
    if canvas.fresh() || cache.layout.as_ref() != Some(&layout) {
        canvas.clear(area);
        cache.panes.clear();
        cache.status = None;
        cache.layout = Some(layout);
    }
    let mut copy_deadline = None;
    cache.held_until = None;
    for (index, (pane, rect)) in session.panes.iter().zip(rects).enumerate() {
        let Some(rect) = rect else { continue };
        let focused = index == view.focus;
        let show_cursor = focused && !view.show_help && view.prompt.is_none();
        let border = |title: Option<&str>, scroll: Option<String>| {
            pane_border(pane, title, scroll, index, focused, now, rect.width)
        };
        let inner = layout::inner(rect).intersection(area);
        let kept_border = |title: Option<&str>| border(title, None);
        let scroll = view.scroll(pane.id);
        if scroll.is_none()
            && cache
                .panes
                .get(&pane.id)
                .is_some_and(|d| d.generation == pane.published.generation())
        {
            // Unchanged since it was drawn.
            cache.finish(canvas, (pane.id, rect), kept_border, show_cursor);
            continue;
        }
        // The program is in the middle of a synchronized update: the pane
        // stays as last drawn until the update ends, or for SYNC_LIMIT at
        // most. The screen keeps its damage for when it is drawn. A pane
        // with no kept drawing (the layout changed, the terminal was
        // resized or a zoom toggled) is drawn as it is, update or not.
        let sync_limit = cache.sync_limit.unwrap_or(SYNC_LIMIT);
        if scroll.is_none()
            && let Some(since) = pane.published.synchronized_since()
            && now < since + sync_limit
            && cache.panes.contains_key(&pane.id)
        {
            let due = since + sync_limit;
            cache.held_until = Some(cache.held_until.map_or(due, |at| at.min(due)));
            cache.finish(canvas, (pane.id, rect), kept_border, show_cursor);
            continue;
        }
        // One hold of the lock per pane and frame, and only if it is free:
        // a parser busy with a flood leaves a copy of its screen instead.
        let mut screen = match pane.screen.try_lock() {
            Some(screen) => {
                pane.published.forget_copy();
                screen
            }
            None if scroll.is_none() => {
                pane.published.want_copy();
                let drawn = cache.panes.contains_key(&pane.id);
                let copy = pane.published.take_copy().or_else(|| {
                    // Nothing to draw it from: the copy comes as soon as
                    // the parser's batch is done, normally well within this.
                    (!drawn).then(|| {
                        let deadline =
                            copy_deadline.get_or_insert_with(|| Instant::now() + COPY_WAIT);
                        pane.published.wait_copy(*deadline)
                    })?
                });
                match copy {
                    Some(copy) => {
                        canvas.clear(inner);
                        let drawn = Drawn {
                            generation: copy.generation,
                            cursor: draw_vt(canvas, inner, &copy.vt, 0..inner.height),
                            title: copy.title,
                            border: None,
                        };
                        cache.panes.insert(pane.id, drawn);
                        cache.finish(canvas, (pane.id, rect), kept_border, show_cursor);
                    }
                    // Left as it was last drawn.
                    None if drawn => {
                        cache.finish(canvas, (pane.id, rect), kept_border, show_cursor);
                    }
                    None => {
                        // Still no copy (its parser was preempted): the
                        // border now, the screen once the copy arrives.
                        canvas.clear(inner);
                        canvas.render_widget(border(None, None), rect);
                    }
                }
                continue;
            }
            // Scroll mode reads the history as well as the screen.
            None => pane.screen(),
        };
        if let Some(scroll) = scroll {
            // Drawn whole every frame, and afresh once it ends.
            cache.panes.remove(&pane.id);
            let lines = Lines::new(screen.history(), screen.vt());
            canvas.render_widget(
                border(screen.title(), Some(scroll_label(scroll, &lines))),
                rect,
            );
            canvas.clear(inner);
            draw_view(canvas.buffer_for(inner), inner, &lines, screen.vt(), scroll);
            let top = lines.clamp(scroll.top).min(lines.live_top());
            let row = lines.distance(top, lines.clamp(scroll.cursor.at));
            if show_cursor && row < usize::from(inner.height) && inner.width > 0 {
                let col = scroll.cursor.col.min(usize::from(inner.width) - 1) as u16;
                canvas.set_cursor_position((inner.x + col, inner.y + row as u16));
            }
            continue;
        }
        // What changed since the drawing on the canvas, if that drawing is
        // of the generation the damage starts from.
        let (since, damage) = screen.take_damage();
        let kept = cache.panes.remove(&pane.id);
        let rows = match (&kept, damage) {
            (Some(drawn), Damage::None) if drawn.generation == since => 0..0,
            (Some(drawn), Damage::Rows(first, last)) if drawn.generation == since => {
                first.min(inner.height)..last.saturating_add(1).min(inner.height)
            }
            _ => 0..inner.height,
        };
        canvas.clear(Rect::new(
            inner.x,
            inner.y + rows.start,
            inner.width,
            rows.len() as u16,
        ));
        // Read under the lock: exactly the screen just drawn.
        let drawn = Drawn {
            generation: pane.published.generation(),
            title: screen.title().map(str::to_string),
            cursor: draw_vt(canvas, inner, screen.vt(), rows),
            border: kept.and_then(|k| k.border),
        };
        drop(screen);
        cache.panes.insert(pane.id, drawn);
        cache.finish(canvas, (pane.id, rect), kept_border, show_cursor);
    }
    let status = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    match &view.prompt {
        Some(prompt) => {
            canvas.clear(status);
            draw_prompt(canvas, status, prompt);
            cache.status = None;
        }
        None => {
            let line = status_line(session, view, now);
            if cache.status.as_ref() != Some(&line) {
                canvas.clear(status);
                canvas.render_widget(&line, status);
                cache.status = Some(line);
            }
        }
    }
    if view.show_help {
        // Above the status line, even when the frame is smaller than the
        // app knows yet.
        let above_status = Rect::new(area.x, area.y, area.width, area.height - 1);
        let help_area = session.panes_area().intersection(above_status);
        help_overlay(canvas, help_area, &view.keymap.prefix_label());
    }
}

/// The prompt in place of the status line, with the cursor in it.
fn draw_prompt(frame: &mut Canvas, area: Rect, prompt: &PromptState) {
    let label = format!(" {}: ", prompt.editor.label());
    let hint = match prompt.asking {
        Asking::NewPane => " Enter runs it in a new pane · Esc cancels ",
        Asking::Rename(_) => " Enter renames · Esc cancels ",
        Asking::Search { .. } => " a regex · Enter searches · Esc cancels ",
    };
    let label_width = Line::from(label.as_str()).width();
    let text_width = usize::from(area.width).saturating_sub(label_width + 1);
    // Keep the cursor in sight: show the end of a line longer than the space.
    let text = prompt.editor.text();
    let cursor = prompt.editor.cursor_column();
    let skip = cursor.saturating_sub(text_width);
    let shown: String = skip_columns(text, skip);
    let mut spans = vec![
        Span::styled(label, Style::new().fg(Color::Black).bg(Color::Yellow)),
        Span::raw(" "),
        Span::raw(clean_text(&shown)),
    ];
    let used = label_width + 1 + Line::from(shown.as_str()).width();
    let hint_width = Line::from(hint).width();
    if used + hint_width < usize::from(area.width) {
        spans.push(Span::raw(
            " ".repeat(usize::from(area.width) - used - hint_width),
        ));
        spans.push(Span::styled(hint, Style::new().fg(MUTED)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    let x = area.x as usize + label_width + 1 + cursor - skip;
    frame.set_cursor_position((
        (x.min(usize::from(area.right().saturating_sub(1)))) as u16,
        area.y,
    ));
}

/// `text` without its first `columns` display columns.
fn skip_columns(text: &str, columns: usize) -> String {
    let mut skipped = 0;
    text.chars()
        .skip_while(|c| {
            if skipped >= columns {
                return false;
            }
            skipped += unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
            true
        })
        .collect()
}

/// The state as the title shows it: `running · pid 42`, `exited 3 after 12s`,
/// `killed SIGKILL after 1m05s`, `stopping · kill in 4s`, `waiting for db`,
/// `exited 1 · restarting in 4s (2/5)`.
pub fn state_label(pane: &Pane, now: Instant) -> String {
    let countdown = |at: &Instant| at.saturating_duration_since(now).as_secs_f64().ceil();
    match &pane.state {
        PaneState::NotStarted => "not started".into(),
        PaneState::Starting => "starting".into(),
        PaneState::Running { pid, .. } if pane.supervision.ready => {
            format!("running · pid {pid} · ready")
        }
        PaneState::Running { pid, .. } => format!("running · pid {pid}"),
        PaneState::Stopping { killed: true, .. } => "killing".into(),
        PaneState::Stopping { deadline, exit, .. } => match exit {
            None => format!("stopping · kill in {:.0}s", countdown(deadline)),
            Some(status) => format!(
                "{} · stopping the rest, kill in {:.0}s",
                exit_label(*status),
                countdown(deadline)
            ),
        },
        PaneState::Exited { status, ran } if pane.supervision.gave_up => format!(
            "{} after {} · gave up after {} restarts",
            exit_label(*status),
            duration_label(*ran),
            pane.supervision.restarts
        ),
        PaneState::Exited { status, ran } => {
            format!("{} after {}", exit_label(*status), duration_label(*ran))
        }
        PaneState::Failed(why) => format!("failed: {why}"),
        PaneState::Waiting { on } => format!("waiting for {on}"),
        PaneState::Restarting {
            at,
            attempt,
            status,
            ..
        } => {
            let of = pane
                .spec
                .max_restarts
                .map(|max| format!("/{max}"))
                .unwrap_or_default();
            format!(
                "{} · restarting in {:.0}s ({attempt}{of})",
                exit_label(*status),
                countdown(at)
            )
        }
    }
}

/// How a run ended, as titles and lifecycle lines say it: `exited 3`,
/// `killed SIGTERM`.
pub fn exit_label(status: ExitStatus) -> String {
    match status {
        ExitStatus::Exited(code) => format!("exited {code}"),
        ExitStatus::Signaled(signal) => format!("killed {}", signal.as_str()),
    }
}

/// A run time as people say it: `0.4s`, `12s`, `3m05s`, `2h07m`.
pub fn duration_label(ran: Duration) -> String {
    let secs = ran.as_secs();
    match secs {
        // Below 9.95 s one decimal; from there whole seconds, so 9.96 s does
        // not print as "10.0s".
        _ if ran.as_secs_f64() < 9.95 => format!("{:.1}s", ran.as_secs_f64()),
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs / 60 % 60),
    }
}

/// The name a pane goes by: the one the user gave, else the window title its
/// program set (already cleaned of control characters), else its command's
/// first word.
pub fn display_name(pane: &Pane, title: Option<&str>) -> String {
    if !pane.spec.named
        && let Some(title) = title.filter(|t| !t.trim().is_empty())
    {
        return title.trim().to_string();
    }
    pane.spec.name.clone()
}

/// `text` cut to at most `max` columns, with an ellipsis where it was cut.
pub fn truncate(text: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    if text.width() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        used += w;
        out.push(c);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Draws `rows` of `vt` into `inner`, where they must be blank; returns where
/// the program shows its cursor, if it does and that is inside `inner`.
fn draw_vt(
    canvas: &mut Canvas,
    inner: Rect,
    vt: &vt100::Screen,
    rows: std::ops::Range<u16>,
) -> Option<(u16, u16)> {
    if !rows.is_empty() {
        let area = Rect::new(
            inner.x,
            inner.y + rows.start,
            inner.width,
            rows.len() as u16,
        );
        pane::draw_screen_rows(canvas.buffer_for(area), inner, vt, rows);
    }
    // While a wrap is pending vt100 puts the column one past the edge;
    // terminals show the cursor on the last column then.
    let (row, col) = vt.cursor_position();
    if vt.hide_cursor() || row >= inner.height || inner.width == 0 {
        return None;
    }
    Some((inner.x + col.min(inner.width - 1), inner.y + row))
}

/// Where scroll mode is, for the title of `pane`: `[scroll N/M]` and a note.
fn scroll_label(scroll: &Scroll, lines: &Lines) -> String {
    let mut label = format!("[scroll {}/{}]", scroll.offset(lines), lines.history_rows());
    if let Some(note) = &scroll.note {
        label.push_str(&format!(" {note}"));
    }
    label
}

/// The border of `pane`: its number, its name (or the program's `title`),
/// the scroll position if any, its state and its error.
fn pane_border(
    pane: &Pane,
    title: Option<&str>,
    scroll_label: Option<String>,
    index: usize,
    focused: bool,
    now: Instant,
    width: u16,
) -> PaneBorder {
    let state = state_label(pane, now);
    let state_style = match pane.state {
        PaneState::Running { .. } => Style::new().fg(Color::Green),
        PaneState::Stopping { .. } => Style::new().fg(Color::Yellow),
        PaneState::Exited {
            status: ExitStatus::Exited(0),
            ..
        }
        | PaneState::NotStarted => Style::new().fg(MUTED),
        PaneState::Exited { .. } | PaneState::Failed(_) => Style::new().fg(Color::Red),
        PaneState::Waiting { .. } | PaneState::Restarting { .. } | PaneState::Starting => {
            Style::new().fg(Color::Yellow)
        }
    };
    let name_style = if focused {
        Style::new()
            .fg(Color::Black)
            .bg(FOCUS)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    };
    let mut spans = vec![
        Span::raw(" "),
        Span::styled(
            format!(
                " {} {} ",
                index + 1,
                // Half the border for the name, so the state still shows.
                truncate(&display_name(pane, title), usize::from(width / 2).max(8))
            ),
            name_style,
        ),
        Span::raw(" "),
    ];
    if let Some(port) = pane.spec.port {
        spans.push(Span::styled(format!(":{port} "), Style::new().fg(MUTED)));
    }
    // The pane wants the user: the first thing after its name.
    if let Some(why) = &pane.attention {
        spans.push(Span::styled(
            format!(
                " ● {} ",
                truncate(&why.label(), usize::from(width / 3).max(6))
            ),
            Style::new()
                .fg(Color::Black)
                .bg(Color::LightMagenta)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(" "));
    }
    if let Some(label) = scroll_label {
        // Before the state, which a narrow border cuts first.
        spans.push(Span::styled(
            label,
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(state, state_style));
    spans.push(Span::raw(" "));
    for error in pane.notices() {
        spans.push(Span::styled(
            format!("! {error} "),
            Style::new().fg(Color::Red),
        ));
    }
    PaneBorder {
        focused,
        title: Line::from(spans),
    }
}

/// A pane's frame: a line around it, thick and cyan when focused, with the
/// title on its top edge. Drawn on the edge cells alone: ratatui's `Block`
/// also restyles every cell inside, which took a sixth of a frame's time
/// for cells the pane's screen overwrites anyway.
#[derive(Clone, PartialEq)]
struct PaneBorder {
    focused: bool,
    title: Line<'static>,
}

impl ratatui::widgets::Widget for PaneBorder {
    fn render(self, area: Rect, buf: &mut ratatui::buffer::Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let (set, style) = if self.focused {
            (ratatui::symbols::border::THICK, Style::new().fg(FOCUS))
        } else {
            (ratatui::symbols::border::PLAIN, Style::new().fg(MUTED))
        };
        let (left, top) = (area.left(), area.top());
        let (right, bottom) = (area.right() - 1, area.bottom() - 1);
        // Drawn over the last frame: nothing of an earlier border's style
        // may show through.
        for x in left..=right {
            buf[(x, top)].reset();
            buf[(x, bottom)].reset();
        }
        for y in top..=bottom {
            buf[(left, y)].reset();
            buf[(right, y)].reset();
        }
        for x in left..=right {
            buf[(x, top)]
                .set_symbol(set.horizontal_top)
                .set_style(style);
            buf[(x, bottom)]
                .set_symbol(set.horizontal_bottom)
                .set_style(style);
        }
        for y in top..=bottom {
            buf[(left, y)]
                .set_symbol(set.vertical_left)
                .set_style(style);
            buf[(right, y)]
                .set_symbol(set.vertical_right)
                .set_style(style);
        }
        for (x, y, corner) in [
            (left, top, set.top_left),
            (right, top, set.top_right),
            (left, bottom, set.bottom_left),
            (right, bottom, set.bottom_right),
        ] {
            buf[(x, y)].set_symbol(corner).set_style(style);
        }
        let title = Rect::new(left + 1, top, area.width.saturating_sub(2), 1);
        self.title.render(title, buf);
    }
}

fn status_line(session: &Session, view: &View, now: Instant) -> Line<'static> {
    let mut spans = Vec::new();
    if view.keymap.armed() {
        spans.push(Span::styled(
            format!(" {} ", view.keymap.prefix_label()),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    for (index, pane) in session.panes.iter().enumerate() {
        let mut style = if index == view.focus {
            Style::new().fg(Color::Black).bg(FOCUS)
        } else {
            Style::new()
        };
        if !pane.state.is_alive() {
            style = style.add_modifier(Modifier::DIM);
        }
        spans.push(Span::styled(
            format!(" {}:{} ", index + 1, pane.spec.name),
            style,
        ));
    }
    let p = view.keymap.prefix_label();
    let hint = match session.shutdown {
        Some(s) if s.killed => " killing… ".to_string(),
        Some(s) => {
            let left = s
                .deadline
                .saturating_duration_since(now)
                .as_secs_f64()
                .ceil();
            format!(" stopping, kill in {left:.0}s · {p} q kills now ")
        }
        None if view.focus_in_scroll(session) => {
            " scroll · ↑↓ PgUp PgDn g G · / ? search · n N · v select · y copy · q back "
                .to_string()
        }
        None if session.zoom.is_some() => {
            format!(" zoomed · {p} z unzoom · {p} ? help · {p} q quit ")
        }
        None => format!(" {p} ? help · {p} q quit "),
    };
    spans.push(Span::styled(hint, Style::new().fg(MUTED)));
    if let Some(notice) = &session.notice {
        spans.push(Span::styled(
            format!(" ! {notice} "),
            Style::new().fg(Color::Red),
        ));
    }
    Line::from(spans)
}

/// One section of the help: a heading and its keys, aligned.
fn help_section(heading: &str, keys: &[(&str, &str)], prefix: &str) -> Vec<Line<'static>> {
    // The keys as this run has them: C-b stands for the configured prefix.
    let keys: Vec<(String, &str)> = keys
        .iter()
        .map(|(k, what)| (k.replace("C-b", prefix), *what))
        .collect();
    let key_width = keys
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = vec![Line::from(Span::styled(
        format!(" {heading}"),
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    ))];
    lines.extend(keys.iter().map(|(key, what)| {
        Line::from(vec![
            Span::styled(
                format!(" {key:<key_width$}  "),
                Style::new().fg(FOCUS).add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{what} ")),
        ])
    }));
    lines
}

fn help_overlay(frame: &mut Canvas, area: Rect, prefix: &str) {
    let mut all = help_section("panes", KEY_HELP, prefix);
    all.push(Line::default());
    all.extend(help_section("scroll mode", SCROLL_HELP, prefix));
    all.push(Line::default());
    all.extend(help_section("prompt", PROMPT_HELP, prefix));
    // Flowed into as many columns as the height needs, side by side.
    let per_column = usize::from(area.height.saturating_sub(2)).max(1);
    let columns: Vec<&[Line]> = all.chunks(per_column).collect();
    let widths: Vec<usize> = columns
        .iter()
        .map(|c| c.iter().map(Line::width).max().unwrap_or(0))
        .collect();
    let rows = columns.first().map_or(0, |c| c.len());
    let lines: Vec<Line> = (0..rows)
        .map(|i| {
            let mut spans: Vec<Span> = Vec::new();
            for (column, width) in columns.iter().zip(&widths) {
                let line = column.get(i).map(|l| l.spans.clone()).unwrap_or_default();
                let used: usize = line.iter().map(Span::width).sum();
                spans.extend(line);
                spans.push(Span::raw(" ".repeat(width - used + 1)));
            }
            Line::from(spans)
        })
        .collect();
    let width = lines.iter().map(Line::width).max().unwrap_or(0) as u16 + 2;
    let height = lines.len() as u16 + 2;
    let popup = Rect::new(
        area.x + area.width.saturating_sub(width) / 2,
        area.y + area.height.saturating_sub(height) / 2,
        width.min(area.width),
        height.min(area.height),
    );
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .border_type(BorderType::Rounded)
                .title(" keys · any key closes "),
        ),
        popup,
    );
}
