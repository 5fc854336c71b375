//! What the outer terminal shows, kept between frames, and the cells a frame
//! touched: only those are compared and sent.
//!
//! ratatui's `Terminal` starts every frame from a blank buffer and compares
//! the whole of it with the last one. On a 200×50 terminal that is 10,000
//! cells reset, filled and compared for one key's echo, about half of the
//! echo's time. Here a frame is drawn over the last one: the renderer
//! redraws what changed, [`Canvas`] notes the span of each row it touched,
//! and [`Painter::draw`] compares those spans alone, sending wide
//! characters the way ratatui's own diff sends them.
//!
//! What the terminal shows is the last frame, so it is not kept a second
//! time: a row's cells are copied aside when a frame first touches the row,
//! and compared with what the frame drew there. A key's echo copies a row
//! or two, and a client costs one frame's cells, not two.

use ratatui::backend::Backend;
use ratatui::buffer::{Buffer, Cell, CellWidth};
use ratatui::layout::{Position, Rect};
use ratatui::widgets::Widget;

use crate::Size;

/// A frame being drawn over the last one.
pub struct Canvas<'a> {
    buf: &'a mut Buffer,
    /// Per row of `buf`: the columns drawn on in this frame, if any.
    touched: &'a mut [Option<Span>],
    /// The rows touched, as they were before: none on a blank canvas, which
    /// has no earlier frame.
    before: Option<&'a mut Before>,
    cursor: Option<Position>,
    fresh: bool,
}

/// Rows of the last frame as they were before the frame drawn over it
/// touched them: what the terminal shows there.
struct Before {
    /// Per row: where its copy starts in `cells`, once taken.
    rows: Vec<Option<usize>>,
    cells: Vec<Cell>,
}

impl Before {
    /// Room for the rows of a frame `rows` high.
    fn new(rows: u16) -> Self {
        Self {
            rows: vec![None; usize::from(rows)],
            cells: Vec::new(),
        }
    }

    /// Copies row `y` of `buf` aside, unless it already was in this frame.
    fn keep(&mut self, buf: &Buffer, y: usize) {
        if self.rows[y].is_none() {
            let width = usize::from(buf.area.width);
            self.rows[y] = Some(self.cells.len());
            self.cells
                .extend_from_slice(&buf.content[y * width..(y + 1) * width]);
        }
    }

    /// Row `y` as it was, if it was copied aside, `width` cells.
    fn row(&self, y: usize, width: usize) -> Option<&[Cell]> {
        let start = self.rows.get(y).copied().flatten()?;
        Some(&self.cells[start..start + width])
    }

    /// Forgets this frame's rows. The room a frame of many rows took is
    /// kept while such frames come (a flood, scroll mode), and let go after
    /// the first frame of a few rows, so an idle client holds no copy.
    fn clear(&mut self, width: usize) {
        self.rows.fill(None);
        let few = self.cells.len() <= KEPT_ROWS * width;
        self.cells.clear();
        if few && self.cells.capacity() > KEPT_ROWS * width {
            self.cells = Vec::new();
        }
    }
}

/// How many rows' worth of room [`Before`] keeps between frames: enough for
/// an echo and a status line.
const KEPT_ROWS: usize = 4;

impl<'a> Canvas<'a> {
    /// A canvas over `buf`, which must be blank, with `touched` as long as
    /// it is high. Everything on it is new.
    pub fn blank(buf: &'a mut Buffer, touched: &'a mut [Option<Span>]) -> Self {
        Self {
            buf,
            touched,
            before: None,
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

    /// Notes that `area` is drawn on, and keeps what its rows showed.
    pub fn touch(&mut self, area: Rect) {
        let area = area.intersection(self.buf.area);
        if area.is_empty() {
            return;
        }
        let first = usize::from(area.y - self.buf.area.y);
        let span = (
            area.left() - self.buf.area.x,
            area.right() - self.buf.area.x,
        );
        let rows = first..first + usize::from(area.height);
        for (y, touched) in rows.clone().zip(&mut self.touched[rows]) {
            if let Some(before) = &mut self.before {
                before.keep(self.buf, y);
            }
            *touched = Some(match *touched {
                Some((from, to)) => (from.min(span.0), to.max(span.1)),
                None => span,
            });
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

/// Begins a synchronized update (DEC private mode 2026): the terminal keeps
/// showing what it showed until the update ends.
const BEGIN_SYNCHRONIZED: &[u8] = b"\x1b[?2026h";
/// Ends a synchronized update: the terminal shows the frame at once.
const END_SYNCHRONIZED: &[u8] = b"\x1b[?2026l";

/// Columns `.0` up to `.1` of a row.
pub type Span = (u16, u16);

/// Keeps what the terminal shows and brings it up to date, frame by frame.
pub struct Painter {
    /// The frame being drawn: the last one, drawn over. Outside the rows
    /// touched, it is what the terminal shows.
    next: Buffer,
    /// The rows touched, as the terminal shows them.
    before: Before,
    /// Per row: the columns where `next` may differ from what the terminal
    /// shows, if any. A row touched without a copy in `before` is compared
    /// with a blank row: the terminal is cleared first.
    touched: Vec<Option<Span>>,
    /// Whether the cursor shows, once known.
    cursor_shown: Option<bool>,
    /// The terminal must be cleared first: what it shows is unknown.
    clear: bool,
    /// `next` was just made blank.
    fresh: bool,
}

impl Painter {
    /// A painter for a terminal of `size` whose contents are unknown.
    pub fn new(size: Size) -> Self {
        let area = Rect::new(0, 0, size.cols, size.rows);
        Self {
            next: Buffer::empty(area),
            before: Before::new(size.rows),
            touched: vec![Some((0, size.cols)); usize::from(size.rows)],
            cursor_shown: None,
            clear: true,
            fresh: true,
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
    /// what changed, as one synchronized update (mode 2026): a terminal that
    /// knows the mode shows the frame whole, never half drawn, and one that
    /// does not ignores it, so no query is needed.
    pub fn draw<B>(
        &mut self,
        backend: &mut B,
        paint: impl FnOnce(&mut Canvas),
    ) -> Result<(), B::Error>
    where
        B: Backend + std::io::Write,
        B::Error: From<std::io::Error>,
    {
        let mut canvas = Canvas {
            buf: &mut self.next,
            touched: &mut self.touched,
            before: Some(&mut self.before),
            cursor: None,
            fresh: std::mem::take(&mut self.fresh),
        };
        paint(&mut canvas);
        let cursor = canvas.cursor;
        let clear = std::mem::take(&mut self.clear);
        let updates = self.changes();
        // A frame that only moves the cursor needs no bracket.
        let synchronized = clear || !updates.is_empty();
        if synchronized {
            backend.write_all(BEGIN_SYNCHRONIZED)?;
        }
        if clear {
            backend.clear()?;
        }
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
        if synchronized {
            backend.write_all(END_SYNCHRONIZED)?;
        }
        Backend::flush(backend)
    }

    /// The cells to send, row by row; the touched spans of `next` are
    /// shown from then on.
    fn changes(&mut self) -> Vec<(u16, u16, Cell)> {
        let mut updates = Vec::new();
        let width = usize::from(self.next.area.width);
        let mut blank = Vec::new();
        for (y, touched) in self.touched.iter_mut().enumerate() {
            let Some((from, to)) = touched.take() else {
                continue;
            };
            let shown = match self.before.row(y, width) {
                Some(row) => row,
                None => {
                    if blank.is_empty() {
                        blank = vec![Cell::default(); width];
                    }
                    &blank
                }
            };
            let next = &self.next.content[y * width..(y + 1) * width];
            // A cell on either side too: a wide character may straddle the
            // edge of a span.
            let mut from = usize::from(from).saturating_sub(1);
            if from > 0 && next[from - 1].cell_width() > 1 {
                from -= 1;
            }
            let to = (usize::from(to) + 1).min(width);
            for (x, cell) in row_changes(shown, next, from, to) {
                updates.push((x as u16, y as u16, cell.clone()));
            }
        }
        self.before.clear(width);
        updates
    }
}

/// The cells of `next[from..to]` to send to a terminal showing `shown`, in
/// order: the cells that differ, as ratatui's diff finds them, plus the rest
/// of every wide character that a narrower one overwrites in part.
///
/// - A wide character covers the cells after it, which are not sent.
/// - A wide character with VS16 (an emoji presentation) has the cells it
///   covers sent if their symbols changed: some terminals do not clear
///   them.
/// - A terminal blanks the rest of a wide character written over in part,
///   and may give the blank the style of the character written. ratatui
///   sends such a blank only when the wide character's own style shows on
///   blanks; here the cells it covered are always sent again.
fn row_changes<'a>(
    shown: &[Cell],
    next: &'a [Cell],
    from: usize,
    to: usize,
) -> Vec<(usize, &'a Cell)> {
    let mut out = Vec::new();
    let mut x = from;
    while x < to {
        let (is, was) = (&next[x], &shown[x]);
        let width = usize::from(is.cell_width()).max(1);
        if is == was {
            x += width;
            continue;
        }
        out.push((x, is));
        if width > 1 && is.symbol().contains('\u{FE0F}') {
            for covered in x + 1..(x + width).min(to) {
                if shown[covered].symbol() != next[covered].symbol() {
                    out.push((covered, &next[covered]));
                }
            }
        }
        let mut end = x + width;
        // What is left of a wider character that was here.
        let mut rest = end;
        while rest < (x + usize::from(was.cell_width())).min(next.len()) {
            out.push((rest, &next[rest]));
            rest += usize::from(next[rest].cell_width()).max(1);
            end = rest;
        }
        x = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(symbols: &[&str]) -> Vec<Cell> {
        symbols
            .iter()
            .map(|s| {
                let mut cell = Cell::default();
                cell.set_symbol(s);
                cell
            })
            .collect()
    }

    fn sent(shown: &[&str], next: &[&str]) -> Vec<(usize, String)> {
        let (shown, next) = (row(shown), row(next));
        row_changes(&shown, &next, 0, next.len())
            .into_iter()
            .map(|(x, cell)| (x, cell.symbol().to_string()))
            .collect()
    }

    #[test]
    fn only_changed_cells_are_sent_and_wide_ones_cover_the_next() {
        assert_eq!(sent(&["a", "b", "c"], &["a", "b", "c"]), []);
        assert_eq!(sent(&["a", "b", "c"], &["a", "x", "c"]), [(1, "x".into())]);
        // A wide character covers the cell after it, which is not sent.
        assert_eq!(
            sent(&["a", "b", "c"], &["世", " ", "c"]),
            [(0, "世".into())]
        );
        assert_eq!(sent(&["世", " ", "c"], &["世", " ", "c"]), []);
    }

    /// After every frame, a terminal fed what the painter sent shows that
    /// frame: frames of random strokes, some rows touched several times,
    /// each stroke over cells an earlier one in the frame may have changed.
    #[test]
    fn the_terminal_shows_every_frame_drawn_over_the_last() {
        use ratatui::backend::CrosstermBackend;
        use ratatui::style::Color;
        let (w, h) = (12u16, 5u16);
        let mut painter = Painter::new(Size::new(h, w));
        let nonzero = |n| std::num::NonZeroU16::new(n).unwrap();
        let mut terminal = vt100::Parser::new(nonzero(h), nonzero(w), 0);
        let mut seed = 7u64;
        let mut random = move |n: u16| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) % u64::from(n.max(1))) as u16
        };
        let colours = [Color::Reset, Color::Red, Color::Blue];
        for frame in 0..400 {
            let mut out = Vec::new();
            painter
                .draw(&mut CrosstermBackend::new(&mut out), |canvas| {
                    for _ in 0..random(4) {
                        let (x, y) = (random(w), random(h));
                        let area = Rect::new(x, y, random(w - x) + 1, random(h - y) + 1);
                        let buf = canvas.buffer_for(area);
                        for _ in 0..=random(3) {
                            let at = (area.x + random(area.width), area.y + random(area.height));
                            buf[at]
                                .set_symbol(["a", "b", " "][usize::from(random(3))])
                                .set_fg(colours[usize::from(random(3))]);
                        }
                    }
                })
                .unwrap();
            terminal.process(&out);
            for (y, x) in (0..h).flat_map(|y| (0..w).map(move |x| (y, x))) {
                let (drawn, shown) = (&painter.next[(x, y)], terminal.screen().cell(y, x).unwrap());
                let symbol = match shown.contents() {
                    "" => " ",
                    text => text,
                };
                let fg = match shown.fgcolor() {
                    vt100::Color::Default => Color::Reset,
                    vt100::Color::Idx(1) => Color::Red,
                    vt100::Color::Idx(4) => Color::Blue,
                    other => panic!("unexpected colour {other:?}"),
                };
                assert_eq!(
                    (drawn.symbol(), drawn.fg),
                    (symbol, fg),
                    "frame {frame}, row {y}, column {x}"
                );
            }
        }
    }

    #[test]
    fn the_rest_of_a_wide_character_written_over_in_part_is_sent() {
        assert_eq!(
            sent(&["世", " ", "c"], &["a", " ", "c"]),
            [(0, "a".into()), (1, " ".into())]
        );
        // What comes in its place may be wide itself; the cell that one
        // covers is not sent.
        assert_eq!(
            sent(&["世", " ", "c"], &["a", "界", " "]),
            [(0, "a".into()), (1, "界".into())]
        );
    }
}
