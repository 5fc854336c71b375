//! What the outer terminal shows, kept between frames, and the rows a frame
//! changed: only those are compared and sent.
//!
//! ratatui's `Terminal` starts every frame from a blank buffer and compares
//! the whole of it with the last one. On a 200×50 terminal that is 10,000
//! cells reset, filled and compared for one key's echo, about half of the
//! echo's time. Here a frame is drawn over the last one: the renderer
//! redraws what changed, [`Canvas`] notes the rows it touched, and
//! [`Painter::draw`] compares those rows alone, with ratatui's own diff, so
//! wide characters are sent the way ratatui sends them.

use ratatui::backend::Backend;
use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::{Position, Rect};
use ratatui::widgets::Widget;

use crate::Size;

/// A frame being drawn over the last one.
pub struct Canvas<'a> {
    buf: &'a mut Buffer,
    /// Per row of `buf`: whether it was drawn on in this frame.
    touched: &'a mut [bool],
    cursor: Option<Position>,
    fresh: bool,
}

impl<'a> Canvas<'a> {
    /// A canvas over `buf`, which must be blank, with `touched` as long as
    /// it is high. Everything on it is new.
    pub fn blank(buf: &'a mut Buffer, touched: &'a mut [bool]) -> Self {
        Self {
            buf,
            touched,
            cursor: None,
            fresh: true,
        }
    }

    /// The whole frame.
    pub fn area(&self) -> Rect {
        self.buf.area
    }

    /// Whether the canvas started blank: nothing of an earlier frame is on it.
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// Notes that the rows of `area` are drawn on.
    pub fn touch(&mut self, area: Rect) {
        let area = area.intersection(self.buf.area);
        if area.is_empty() {
            return;
        }
        let first = usize::from(area.y - self.buf.area.y);
        for touched in &mut self.touched[first..first + usize::from(area.height)] {
            *touched = true;
        }
    }

    /// The buffer, for drawing inside `area`.
    pub fn buffer_for(&mut self, area: Rect) -> &mut Buffer {
        self.touch(area);
        self.buf
    }

    /// Draws `widget` over `area`.
    pub fn render_widget<W: Widget>(&mut self, widget: W, area: Rect) {
        widget.render(area, self.buffer_for(area));
    }

    /// Blanks `area`.
    pub fn clear(&mut self, area: Rect) {
        let area = area.intersection(self.buf.area);
        if area.is_empty() {
            return;
        }
        let buf = self.buffer_for(area);
        for y in area.top()..area.bottom() {
            let start = buf.index_of(area.x, y);
            for cell in &mut buf.content[start..start + usize::from(area.width)] {
                cell.reset();
            }
        }
    }

    /// Shows the cursor at `at` once the frame is drawn.
    pub fn set_cursor_position(&mut self, at: impl Into<Position>) {
        self.cursor = Some(at.into());
    }

    /// Where the frame shows the cursor, if it does.
    pub fn cursor(&self) -> Option<Position> {
        self.cursor
    }
}

/// Keeps what the terminal shows and brings it up to date, frame by frame.
pub struct Painter {
    /// What the terminal shows.
    shown: Buffer,
    /// The frame being drawn: the last one, drawn over.
    next: Buffer,
    /// Per row: whether `next` may differ from `shown` there.
    touched: Vec<bool>,
    /// Whether the cursor shows, once known.
    cursor_shown: Option<bool>,
    /// The terminal must be cleared first: what it shows is unknown.
    clear: bool,
    /// `next` was just made blank.
    fresh: bool,
    /// One row of each, for comparing a row at a time.
    shown_row: Buffer,
    next_row: Buffer,
}

/// With more rows touched than this share of the screen, the frame is
/// compared whole, without copying rows out first.
const WHOLE_FRAME_SHARE: usize = 4;

impl Painter {
    /// A painter for a terminal of `size` whose contents are unknown.
    pub fn new(size: Size) -> Self {
        let area = Rect::new(0, 0, size.cols, size.rows);
        let row = Rect::new(0, 0, size.cols, 1);
        Self {
            shown: Buffer::empty(area),
            next: Buffer::empty(area),
            touched: vec![true; usize::from(size.rows)],
            cursor_shown: None,
            clear: true,
            fresh: true,
            shown_row: Buffer::empty(row),
            next_row: Buffer::empty(row),
        }
    }

    /// The terminal is now of `size`; it is cleared and drawn afresh.
    pub fn resize(&mut self, size: Size) {
        let cursor_shown = self.cursor_shown;
        *self = Self::new(size);
        self.cursor_shown = cursor_shown;
    }

    /// The size drawn at.
    pub fn size(&self) -> Size {
        Size::new(self.next.area.height, self.next.area.width)
    }

    /// Draws a frame with `paint` over the last one and sends the terminal
    /// what changed.
    pub fn draw<B: Backend>(
        &mut self,
        backend: &mut B,
        paint: impl FnOnce(&mut Canvas),
    ) -> Result<(), B::Error> {
        let mut canvas = Canvas {
            buf: &mut self.next,
            touched: &mut self.touched,
            cursor: None,
            fresh: std::mem::take(&mut self.fresh),
        };
        paint(&mut canvas);
        let cursor = canvas.cursor;
        if std::mem::take(&mut self.clear) {
            backend.clear()?;
        }
        let updates = self.changes();
        if !updates.is_empty() {
            backend.draw(updates.iter().map(|(x, y, cell)| (*x, *y, cell)))?;
        }
        match cursor {
            Some(at) => {
                if self.cursor_shown != Some(true) {
                    backend.show_cursor()?;
                    self.cursor_shown = Some(true);
                }
                // Drawing moved it.
                backend.set_cursor_position(at)?;
            }
            None if self.cursor_shown != Some(false) => {
                backend.hide_cursor()?;
                self.cursor_shown = Some(false);
            }
            None => {}
        }
        backend.flush()
    }

    /// The cells to send, row by row; the touched rows of `next` are shown
    /// from then on.
    fn changes(&mut self) -> Vec<(u16, u16, Cell)> {
        let touched = self.touched.iter().filter(|t| **t).count();
        let mut updates = Vec::new();
        if touched == 0 {
            return updates;
        }
        if touched * WHOLE_FRAME_SHARE > self.touched.len() {
            updates = with_wide_remains(&self.shown, &self.next, 0);
            self.shown.content.clone_from_slice(&self.next.content);
            self.touched.fill(false);
            return updates;
        }
        let width = usize::from(self.next.area.width);
        for (y, touched) in self.touched.iter_mut().enumerate() {
            if !std::mem::take(touched) {
                continue;
            }
            let row = y * width..(y + 1) * width;
            self.shown_row
                .content
                .clone_from_slice(&self.shown.content[row.clone()]);
            self.next_row
                .content
                .clone_from_slice(&self.next.content[row.clone()]);
            updates.extend(with_wide_remains(&self.shown_row, &self.next_row, y as u16));
            self.shown.content[row].clone_from_slice(&self.next_row.content);
        }
        updates
    }
}

/// The cells that turn `shown` into `next` (both of the same area, moved
/// down by `dy` rows): ratatui's diff, plus the rest of every wide character
/// that a narrower one overwrites in part.
///
/// A terminal blanks the rest of a wide character written over in part,
/// and may give the blank the style of the character written. ratatui sends
/// such a blank only when the wide character's own style shows on blanks;
/// so the cells it covered are always sent again here.
fn with_wide_remains(shown: &Buffer, next: &Buffer, dy: u16) -> Vec<(u16, u16, Cell)> {
    use ratatui::buffer::CellWidth;
    let diff = shown.diff(next);
    let mut updates: Vec<(u16, u16, Cell)> = Vec::with_capacity(diff.len());
    for (i, &(x, y, cell)) in diff.iter().enumerate() {
        updates.push((x, y + dy, cell.clone()));
        let (was, is) = (shown[(x, y)].cell_width(), cell.cell_width().max(1));
        let sent_next = |t: u16| {
            diff[i + 1..]
                .iter()
                .any(|&(dx, ddy, _)| dx == t && ddy == y)
        };
        for t in (x + is..x.saturating_add(was)).filter(|&t| t < shown.area.right()) {
            if !sent_next(t) {
                updates.push((t, y + dy, next[(t, y)].clone()));
            }
        }
    }
    updates
}
