//! Scroll mode, with no I/O: a pane's history and screen seen as one run of
//! lines ([`Lines`]), and the view over them ([`Scroll`]) with its cursor,
//! search and selection. The view is anchored on line numbers that never
//! change, so it stays put while the pane keeps printing. `app` owns one
//! `Scroll` per pane in scroll mode and hands it the pane's screen; `ui`
//! draws what it describes.

use std::ops::Range;

use regex::Regex;

use crate::clean_text;
use crate::pane::history::{History, Line, Pen};

/// A display row. `line` numbers every line the pane ever had, as
/// [`History::first_number`] does, with the screen's rows counted after the
/// history's lines; `row` is the display row within that line at the pane's
/// width.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowPos {
    pub line: u64,
    pub row: usize,
}

/// A cell: a display row and a column in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    pub at: RowPos,
    pub col: usize,
}

/// A position in the text a pane printed, independent of the width it is
/// laid out at (see [`Lines::text_pos`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextPos {
    /// The logical line's number: a history line's own, and for the
    /// screen's lines the numbers that follow, a wrapped line counted once.
    line: u64,
    /// Display columns from the line's start.
    col: usize,
}

/// Scroll mode's positions told by their text, taken before a resize and
/// put back after it (see [`Scroll::before_resize`]).
#[derive(Clone, Debug)]
pub struct Remembered {
    top: TextPos,
    cursor: TextPos,
    anchor: Option<TextPos>,
}

/// A pane's lines as scroll mode walks them: the history's, then each row
/// of the screen as a line of its own.
pub struct Lines<'a> {
    history: &'a History,
    screen: Vec<Line>,
    /// Whether each screen row wrapped into the next.
    screen_wrapped: Vec<bool>,
    width: u16,
}

impl<'a> Lines<'a> {
    pub fn new(history: &'a History, vt: &vt100::Screen) -> Self {
        let (rows, cols) = vt.size();
        let screen = vt
            .rows(0, cols.get())
            .map(|text| Line::from_formatted(&clean_text(&text), &mut Pen::default()))
            .collect();
        let screen_wrapped = (0..rows.get()).map(|r| vt.row_wrapped(r)).collect();
        Self {
            history,
            screen,
            screen_wrapped,
            width: cols.get(),
        }
    }

    /// Every row the history was ever given: how far the screen has moved.
    pub fn rows_pushed(&self) -> u64 {
        self.history.rows_pushed()
    }

    /// Whether line `number` goes on in the next one: a screen row that
    /// wrapped, or a history line whose last row wrapped onto the screen.
    pub fn continues(&self, number: u64) -> bool {
        let start = self.screen_start();
        if number + 1 == start {
            return self.history.open_wraps() && !self.screen.is_empty();
        }
        number >= start
            && usize::try_from(number - start)
                .ok()
                .and_then(|row| self.screen_wrapped.get(row))
                .copied()
                .unwrap_or(false)
    }

    /// The pane's width, at which lines wrap into display rows.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// The number of the oldest line kept.
    pub fn first(&self) -> u64 {
        self.history.first_number()
    }

    /// The number of the screen's first row.
    pub fn screen_start(&self) -> u64 {
        self.first() + self.history.len() as u64
    }

    /// One past the number of the screen's last row.
    pub fn end(&self) -> u64 {
        self.screen_start() + self.screen.len() as u64
    }

    /// The line numbered `number`, if it is kept.
    pub fn line(&self, number: u64) -> Option<&Line> {
        let index = usize::try_from(number.checked_sub(self.first())?).ok()?;
        match index.checked_sub(self.history.len()) {
            None => self.history.get(index),
            Some(row) => self.screen.get(row),
        }
    }

    /// Whether line `number` is a row of the screen rather than history.
    pub fn on_screen(&self, number: u64) -> bool {
        number >= self.screen_start()
    }

    fn rows(&self, number: u64) -> usize {
        self.line(number).map_or(1, |l| l.rows(self.width))
    }

    /// The top of the live view: the screen's first row.
    pub fn live_top(&self) -> RowPos {
        RowPos {
            line: self.screen_start(),
            row: 0,
        }
    }

    /// The first display row of all.
    pub fn top(&self) -> RowPos {
        RowPos {
            line: self.first(),
            row: 0,
        }
    }

    /// The last display row of all.
    pub fn last(&self) -> RowPos {
        let line = self.end().saturating_sub(1).max(self.first());
        RowPos {
            line,
            row: self.rows(line).saturating_sub(1),
        }
    }

    /// `pos` moved onto a row that exists: to the top when its line was
    /// evicted, to the last row when past the end.
    pub fn clamp(&self, pos: RowPos) -> RowPos {
        if pos.line < self.first() {
            return self.top();
        }
        if pos > self.last() {
            return self.last();
        }
        RowPos {
            line: pos.line,
            row: pos.row.min(self.rows(pos.line).saturating_sub(1)),
        }
    }

    /// The row `n` rows below `pos`, or the last row.
    pub fn down(&self, pos: RowPos, n: usize) -> RowPos {
        let mut pos = self.clamp(pos);
        let last = self.last();
        let mut left = n;
        while left > 0 && pos < last {
            let rows = self.rows(pos.line);
            let step = left.min(rows - 1 - pos.row);
            if step > 0 {
                pos.row += step;
                left -= step;
            } else {
                pos = RowPos {
                    line: pos.line + 1,
                    row: 0,
                };
                left -= 1;
            }
        }
        pos
    }

    /// The row `n` rows above `pos`, or the first row.
    pub fn up(&self, pos: RowPos, n: usize) -> RowPos {
        let mut pos = self.clamp(pos);
        let top = self.top();
        let mut left = n;
        while left > 0 && pos > top {
            if pos.row > 0 {
                let step = left.min(pos.row);
                pos.row -= step;
                left -= step;
            } else {
                pos.line -= 1;
                pos.row = self.rows(pos.line) - 1;
                left -= 1;
            }
        }
        pos
    }

    /// How many rows lie from `from` down to `to`; 0 when `to` is above.
    pub fn distance(&self, from: RowPos, to: RowPos) -> usize {
        let (from, to) = (self.clamp(from), self.clamp(to));
        if to <= from {
            return 0;
        }
        if from.line == to.line {
            return to.row - from.row;
        }
        let middle: usize = (from.line + 1..to.line).map(|n| self.rows(n)).sum();
        self.rows(from.line) - from.row + middle + to.row
    }

    /// The rows the history takes at this width.
    pub fn history_rows(&self) -> usize {
        (0..self.history.len())
            .filter_map(|i| self.history.get(i))
            .map(|l| l.rows(self.width))
            .sum()
    }

    /// The byte range of display row `pos`, and the column its first byte
    /// has within the line.
    pub fn row_span(&self, pos: RowPos) -> Option<(&Line, Range<usize>, usize)> {
        let line = self.line(pos.line)?;
        let range = line.row_range(self.width, pos.row);
        let start_col = line.column_of(range.start);
        Some((line, range, start_col))
    }

    /// The bytes of the character drawn at `point`, or `None` when the
    /// point is past the end of its row's text.
    pub fn cell_at(&self, point: Point) -> Option<Range<usize>> {
        let (line, range, start_col) = self.row_span(point.at)?;
        let col = start_col + point.col;
        line.cells()
            .skip_while(|c| c.byte < range.start)
            .take_while(|c| c.byte < range.end)
            .find(|c| c.col + usize::from(c.width.max(1)) > col)
            .map(|c| c.byte..c.byte + c.text.len())
    }

    /// The byte of the line that `point` is on: the character covering its
    /// column, or the row's end when it is past the text.
    pub fn byte_at(&self, point: Point) -> usize {
        match self.cell_at(point) {
            Some(cell) => cell.start,
            None => self.row_span(point.at).map_or(0, |(_, range, _)| range.end),
        }
    }

    /// The cell where byte `byte` of line `number` is drawn.
    pub fn point_of(&self, number: u64, byte: usize) -> Point {
        let Some(line) = self.line(number) else {
            return Point::default();
        };
        let rows = line.rows(self.width);
        let row = (0..rows)
            .find(|&r| line.row_range(self.width, r).end > byte)
            .unwrap_or(rows - 1);
        let start = line.row_range(self.width, row).start;
        Point {
            at: RowPos { line: number, row },
            col: line.column_of(byte).saturating_sub(line.column_of(start)),
        }
    }

    /// Where `point` is in the text the pane printed: the number its
    /// logical line would have with the screen's wrapped rows joined, and
    /// the column within that line. Unlike a [`Point`], this holds while
    /// the lines are laid out again at another size.
    pub fn text_pos(&self, point: Point) -> TextPos {
        let start = self.screen_start();
        let Some(row) = point
            .at
            .line
            .checked_sub(start)
            .and_then(|r| usize::try_from(r).ok())
        else {
            let before = self.row_span(point.at).map_or(0, |(_, _, col)| col);
            return TextPos {
                line: point.at.line,
                col: before + point.col,
            };
        };
        let row = row.min(self.screen.len().saturating_sub(1));
        let (mut logical, mut first_row) = (0, 0);
        for r in 0..row {
            if !self.screen_wrapped.get(r).copied().unwrap_or(false) {
                logical += 1;
                first_row = r + 1;
            }
        }
        let width = usize::from(self.width.max(1));
        let mut col = (row - first_row) * width + point.col;
        let open = self.continues(start.saturating_sub(1)) && start > self.first();
        if open && logical == 0 {
            col += self.line(start - 1).map_or(0, Line::width);
        }
        TextPos {
            line: start + logical - u64::from(open),
            col,
        }
    }

    /// The cell at `pos`, as laid out now (see [`Lines::text_pos`]); the
    /// last row when the text is gone past the end.
    pub fn point_at(&self, pos: TextPos) -> Point {
        let start = self.screen_start();
        let open = self.continues(start.saturating_sub(1)) && start > self.first();
        let width = usize::from(self.width.max(1));
        let mut col = pos.col;
        let mut logical = pos.line.checked_sub(start);
        if let Some(line) = self.line(pos.line).filter(|_| pos.line < start) {
            if !(open && pos.line + 1 == start && col >= line.width()) {
                return self.point_in_history(pos.line, col);
            }
            col -= line.width();
            logical = Some(0);
        } else if let Some(l) = logical.as_mut() {
            *l += u64::from(open);
        }
        let Some(logical) = logical else {
            return Point {
                at: self.top(),
                col: 0,
            };
        };
        // The screen's row where logical line `logical` starts.
        let mut first_row = 0;
        let mut seen = 0;
        while seen < logical && first_row < self.screen.len() {
            if !self.screen_wrapped.get(first_row).copied().unwrap_or(false) {
                seen += 1;
            }
            first_row += 1;
        }
        if first_row >= self.screen.len() {
            return Point {
                at: self.last(),
                col: 0,
            };
        }
        let mut row = first_row;
        while col >= width
            && row + 1 < self.screen.len()
            && self.screen_wrapped.get(row).copied().unwrap_or(false)
        {
            col -= width;
            row += 1;
        }
        Point {
            at: RowPos {
                line: start + row as u64,
                row: 0,
            },
            col: col.min(width - 1),
        }
    }

    /// The cell `col` columns into history line `number`.
    fn point_in_history(&self, number: u64, col: usize) -> Point {
        let Some(line) = self.line(number) else {
            return Point::default();
        };
        let rows = line.rows(self.width);
        let row_col = |r: usize| line.column_of(line.row_range(self.width, r).start);
        let row = (0..rows).rev().find(|&r| row_col(r) <= col).unwrap_or(0);
        Point {
            at: RowPos { line: number, row },
            col: (col - row_col(row)).min(usize::from(self.width.max(1)) - 1),
        }
    }

    /// The text from `a` to `b`, both cells included, in either order. Lines
    /// are joined with newlines, except where a line wrapped; trailing blanks
    /// are left out.
    pub fn text_between(&self, a: Point, b: Point) -> String {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let start = self.byte_at(a);
        let end = match self.cell_at(b) {
            Some(cell) => cell.end,
            None => self.row_span(b.at).map_or(0, |(_, range, _)| range.end),
        };
        let mut out = String::new();
        for number in a.at.line..=b.at.line {
            let Some(line) = self.line(number) else {
                continue;
            };
            let text = line.text();
            let from = if number == a.at.line { start } else { 0 };
            let to = if number == b.at.line { end } else { text.len() };
            if from < to && to <= text.len() {
                out.push_str(&text[from..to]);
            }
            if number < b.at.line && !self.continues(number) {
                out.truncate(out.trim_end().len());
                out.push('\n');
            }
        }
        out.truncate(out.trim_end().len());
        out
    }

    /// The next match of `pattern` from line `from.0`, byte `from.1`: one
    /// starting before it when `backwards`, else one starting at or after.
    pub fn find(
        &self,
        pattern: &Regex,
        from: (u64, usize),
        backwards: bool,
    ) -> Option<(u64, Range<usize>)> {
        let (first, end) = (self.first(), self.end());
        if end == first {
            return None;
        }
        let start = from.0.clamp(first, end - 1);
        let in_line = |number: u64| -> Vec<Range<usize>> {
            self.line(number)
                .map(|l| pattern.find_iter(l.text()).map(|m| m.range()).collect())
                .unwrap_or_default()
        };
        if backwards {
            for number in (first..=start).rev() {
                let found = in_line(number)
                    .into_iter()
                    .rfind(|m| number < start || m.start < from.1);
                if let Some(m) = found {
                    return Some((number, m));
                }
            }
        } else {
            for number in start..end {
                let found = in_line(number)
                    .into_iter()
                    .find(|m| number > start || m.start >= from.1);
                if let Some(m) = found {
                    return Some((number, m));
                }
            }
        }
        None
    }
}

/// A search in scroll mode.
#[derive(Clone, Debug)]
pub struct Search {
    pub pattern: Regex,
    /// Whether `n` goes towards older lines.
    pub backwards: bool,
    /// The match the cursor is on: line number and byte range.
    pub current: Option<(u64, Range<usize>)>,
}

/// One pane's scroll mode: where the view is, the cursor, and what is
/// being searched for and selected.
#[derive(Clone, Debug)]
pub struct Scroll {
    /// The view's first row.
    pub top: RowPos,
    pub cursor: Point,
    /// Where the selection started, while one is being made.
    pub anchor: Option<Point>,
    pub search: Option<Search>,
    /// Entered with the mouse wheel: scrolling back to the live view
    /// leaves scroll mode.
    pub by_wheel: bool,
    /// Entered by dragging with the mouse: releasing the button copies and
    /// leaves.
    pub by_drag: bool,
    /// A message for the title, such as a search that found nothing.
    pub note: Option<String>,
    /// [`Lines::rows_pushed`] and [`Lines::screen_start`] when the positions
    /// above were last brought up to date (see [`Scroll::follow`]).
    seen: (u64, u64),
}

impl Scroll {
    /// Scroll mode on the live view, with the cursor at `cursor` (a row and
    /// column of the screen).
    pub fn enter(lines: &Lines<'_>, cursor: (u16, u16)) -> Self {
        let top = lines.live_top();
        Self {
            top,
            cursor: Point {
                at: lines.down(top, usize::from(cursor.0)),
                col: usize::from(cursor.1),
            },
            anchor: None,
            search: None,
            by_wheel: false,
            by_drag: false,
            note: None,
            seen: (lines.rows_pushed(), lines.screen_start()),
        }
    }

    /// This scroll mode with its positions brought up to date with `lines`.
    ///
    /// A position on the screen is a screen row, and screen rows move up as
    /// output scrolls them into the history. Each row pushed moves them one
    /// up, whether or not it ended a line, so a position there is carried by
    /// the rows pushed since it was last looked at; one carried off the top
    /// lands on the history row it became. Positions in the history hold.
    pub fn follow(&self, lines: &Lines<'_>) -> Self {
        let now = (lines.rows_pushed(), lines.screen_start());
        let (pushed, start) = self.seen;
        let moved = now.0.saturating_sub(pushed);
        let carry = |pos: RowPos| -> RowPos {
            if pos.line < start {
                return pos;
            }
            let row = pos.line - start;
            match row.checked_sub(moved) {
                Some(row) => RowPos {
                    line: now.1 + row,
                    row: 0,
                },
                None => lines.up(
                    lines.live_top(),
                    usize::try_from(moved - row).unwrap_or(usize::MAX),
                ),
            }
        };
        let mut next = self.clone();
        next.seen = now;
        if moved == 0 && now.1 == start {
            return next;
        }
        next.top = carry(self.top);
        next.cursor.at = carry(self.cursor.at);
        if let Some(anchor) = &mut next.anchor {
            anchor.at = carry(anchor.at);
        }
        if let Some(search) = &mut next.search
            && let Some((number, range)) = search.current.take()
        {
            // The match's bytes are counted from the start of its row on the
            // screen; in the history they start where that row does.
            let at = carry(RowPos {
                line: number,
                row: 0,
            });
            if number < start {
                search.current = Some((number, range));
            } else if let Some((_, row_bytes, _)) = lines.row_span(at) {
                let shift = row_bytes.start;
                search.current = Some((at.line, range.start + shift..range.end + shift));
            }
        }
        next
    }

    /// How many rows the view is above the live view.
    pub fn offset(&self, lines: &Lines<'_>) -> usize {
        lines.distance(lines.clamp(self.top), lines.live_top())
    }

    /// Puts the view and cursor back on rows that exist (lines may have
    /// been evicted) and the view no lower than the live view.
    pub fn settle(&mut self, lines: &Lines<'_>, height: usize) {
        *self = self.follow(lines);
        self.top = lines.clamp(self.top).min(lines.live_top());
        self.cursor.at = lines.clamp(self.cursor.at);
        self.cursor.col = self
            .cursor
            .col
            .min(usize::from(lines.width()).saturating_sub(1));
        self.keep_cursor_in_view(lines, height);
    }

    /// Tells where the view, the cursor and the selection are by their
    /// text, for [`Scroll::after_resize`]: a resize lays the screen out
    /// again, so its rows then hold other text.
    pub fn before_resize(&self, lines: &Lines<'_>) -> Remembered {
        let now = self.follow(lines);
        let top = lines.clamp(now.top);
        Remembered {
            top: lines.text_pos(Point { at: top, col: 0 }),
            cursor: lines.text_pos(Point {
                at: lines.clamp(now.cursor.at),
                col: now.cursor.col,
            }),
            anchor: now.anchor.map(|a| lines.text_pos(a)),
        }
    }

    /// Puts the positions taken by [`Scroll::before_resize`] back on the
    /// text they were on, laid out as `lines` are now. The view then moves
    /// to the cursor if it left it, rather than the cursor to the view,
    /// which would change a selection being made.
    pub fn after_resize(&mut self, remembered: &Remembered, lines: &Lines<'_>, height: usize) {
        self.seen = (lines.rows_pushed(), lines.screen_start());
        self.top = lines.point_at(remembered.top).at;
        self.cursor = lines.point_at(remembered.cursor);
        self.anchor = remembered.anchor.map(|a| lines.point_at(a));
        if let Some(search) = &mut self.search
            && search
                .current
                .as_ref()
                .is_some_and(|c| lines.on_screen(c.0))
        {
            // Its bytes were counted in a row of the old layout.
            search.current = None;
        }
        self.reveal(lines, self.cursor.at, height, false);
        self.settle(lines, height);
    }

    fn keep_cursor_in_view(&mut self, lines: &Lines<'_>, height: usize) {
        if self.cursor.at < self.top {
            self.cursor.at = self.top;
        }
        let bottom = lines.down(self.top, height.saturating_sub(1));
        if self.cursor.at > bottom {
            self.cursor.at = bottom;
        }
    }

    /// Scrolls the view `delta` rows (negative: up), the cursor with it.
    pub fn scroll(&mut self, lines: &Lines<'_>, delta: isize, height: usize) {
        let n = delta.unsigned_abs();
        if delta < 0 {
            self.top = lines.up(self.top, n);
            self.cursor.at = lines.up(self.cursor.at, n);
        } else {
            self.top = lines.down(self.top, n).min(lines.live_top());
            self.cursor.at = lines.down(self.cursor.at, n);
        }
        self.settle(lines, height);
    }

    /// Moves the cursor `rows` down (negative: up) and `cols` right; the
    /// view follows it.
    pub fn move_cursor(&mut self, lines: &Lines<'_>, rows: isize, cols: isize, height: usize) {
        let n = rows.unsigned_abs();
        self.cursor.at = if rows < 0 {
            lines.up(self.cursor.at, n)
        } else {
            lines.down(self.cursor.at, n)
        };
        let width = usize::from(lines.width()).max(1);
        self.cursor.col = self.cursor.col.saturating_add_signed(cols).min(width - 1);
        self.reveal(lines, self.cursor.at, height, false);
    }

    /// Makes row `pos` visible: scrolls just enough, or when `centre`,
    /// puts it in the middle of a view it was outside of.
    pub fn reveal(&mut self, lines: &Lines<'_>, pos: RowPos, height: usize, centre: bool) {
        let height = height.max(1);
        let bottom = lines.down(self.top, height - 1);
        if pos >= self.top && pos <= bottom {
            return;
        }
        self.top = if centre {
            lines.up(pos, height / 2)
        } else if pos < self.top {
            pos
        } else {
            lines.up(pos, height - 1)
        };
        self.top = self.top.min(lines.live_top());
    }

    /// The view at the very top, the cursor on its first row.
    pub fn to_top(&mut self, lines: &Lines<'_>) {
        self.top = lines.top();
        self.cursor.at = self.top;
    }

    /// The view back at the live view, the cursor on its last row.
    pub fn to_bottom(&mut self, lines: &Lines<'_>, height: usize) {
        self.top = lines.live_top();
        self.cursor.at = lines.down(self.top, height.saturating_sub(1));
    }

    /// Moves to the next match of the search, in its direction or, with
    /// `reverse`, the other. Returns whether one was found.
    pub fn find_next(&mut self, lines: &Lines<'_>, reverse: bool, height: usize) -> bool {
        let Some(search) = &self.search else {
            return false;
        };
        let backwards = search.backwards != reverse;
        let here = (self.cursor.at.line, lines.byte_at(self.cursor));
        // Forwards starts past the match the cursor is on, which may start
        // inside the cursor's character (a combining mark).
        let on_match = search
            .current
            .as_ref()
            .filter(|(n, r)| *n == here.0 && lines.point_of(*n, r.start) == self.cursor);
        let from = match on_match {
            _ if backwards => here,
            Some((n, r)) => (*n, r.start + 1),
            None => (here.0, here.1 + 1),
        };
        match lines.find(&search.pattern, from, backwards) {
            Some((number, range)) => {
                self.cursor = lines.point_of(number, range.start);
                if let Some(search) = &mut self.search {
                    search.current = Some((number, range));
                }
                self.note = None;
                self.reveal(lines, self.cursor.at, height, true);
                true
            }
            None => {
                self.note = Some(format!("no more matches of {}", search.pattern.as_str()));
                false
            }
        }
    }

    /// The selection, first cell first, while one is being made.
    pub fn selection(&self) -> Option<(Point, Point)> {
        let anchor = self.anchor?;
        Some(if anchor <= self.cursor {
            (anchor, self.cursor)
        } else {
            (self.cursor, anchor)
        })
    }

    /// The selected text, if there is a selection.
    pub fn selected_text(&self, lines: &Lines<'_>) -> Option<String> {
        let (a, b) = self.selection()?;
        Some(lines.text_between(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Size;
    use crate::pane::screen::Screen;

    /// A 4-row, 20-column screen that printed `lines`, each ended by CRLF.
    fn screen_with(lines: &[&str]) -> Screen {
        let mut screen = Screen::new(Size::new(4, 20));
        for line in lines {
            screen.process(line.as_bytes());
            screen.process(b"\r\n");
        }
        screen
    }

    fn numbered(n: usize) -> Screen {
        let lines: Vec<String> = (1..=n).map(|i| format!("line {i}")).collect();
        screen_with(&lines.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn history_and_screen_read_as_one_run_of_lines() {
        let screen = numbered(10);
        let lines = Lines::new(screen.history(), screen.vt());
        let texts: Vec<&str> = (lines.first()..lines.end())
            .map(|n| lines.line(n).unwrap().text())
            .collect();
        let mut expected: Vec<String> = (1..=10).map(|i| format!("line {i}")).collect();
        // The cursor's empty row ends the screen.
        expected.push(String::new());
        assert_eq!(texts, expected);
        assert_eq!(lines.screen_start(), 7);
    }

    #[test]
    fn search_finds_matches_across_stored_lines_both_ways() {
        let screen = numbered(30);
        let lines = Lines::new(screen.history(), screen.vt());
        let re = Regex::new(r"line 1\d").unwrap();
        let end = (lines.end(), 0);
        // Backwards from the end: the newest match first, then older ones.
        let (n, range) = lines.find(&re, end, true).unwrap();
        assert_eq!((lines.line(n).unwrap().text(), range), ("line 19", 0..7));
        let (older, _) = lines.find(&re, (n, 0), true).unwrap();
        assert_eq!(lines.line(older).unwrap().text(), "line 18");
        // Forwards from the top: the oldest first.
        let (n, _) = lines.find(&re, (lines.first(), 0), false).unwrap();
        assert_eq!(lines.line(n).unwrap().text(), "line 10");
        // On screen too, and nothing past the last match.
        let re = Regex::new("line 30").unwrap();
        let (n, _) = lines.find(&re, (lines.first(), 0), false).unwrap();
        assert!(lines.on_screen(n));
        assert_eq!(lines.find(&re, (n, 1), false), None);
        assert_eq!(lines.find(&Regex::new("absent").unwrap(), end, true), None);
    }

    #[test]
    fn a_selection_reads_back_as_the_text_it_covers() {
        let screen = screen_with(&[
            "\x1b[31mred\x1b[0m and plain",
            "漢字 wide",
            "third line",
            "4",
            "5",
        ]);
        let lines = Lines::new(screen.history(), screen.vt());
        let first = lines.first();
        let at = |line: u64, col: usize| Point {
            at: RowPos { line, row: 0 },
            col,
        };
        // Within a line, colours left behind.
        assert_eq!(lines.text_between(at(first, 0), at(first, 2)), "red");
        // Across lines, in either order; a wide character is taken whole
        // from either of its columns.
        let across = "plain\n漢字 wide\nthird";
        assert_eq!(lines.text_between(at(first, 8), at(first + 2, 4)), across);
        assert_eq!(lines.text_between(at(first + 2, 4), at(first, 8)), across);
        assert_eq!(
            lines.text_between(at(first + 1, 1), at(first + 1, 2)),
            "漢字"
        );
        // Past the end of a row: up to its end, without trailing blanks.
        assert_eq!(lines.text_between(at(first + 3, 0), at(first + 3, 15)), "4");
    }

    #[test]
    fn a_long_line_wraps_into_rows_and_is_selected_whole() {
        let long = "0123456789abcdefghijKLMNO";
        let screen = screen_with(&[long, "2", "3", "4", "5"]);
        let lines = Lines::new(screen.history(), screen.vt());
        let first = lines.first();
        assert_eq!(
            lines.line(first).unwrap().text(),
            long,
            "wrapped rows joined"
        );
        let row = |row: usize, col: usize| Point {
            at: RowPos { line: first, row },
            col,
        };
        assert_eq!(
            lines.down(lines.top(), 1),
            RowPos {
                line: first,
                row: 1
            }
        );
        assert_eq!(lines.text_between(row(0, 18), row(1, 1)), "ijKL");
    }

    #[test]
    fn the_view_holds_still_while_output_arrives() {
        let mut screen = numbered(50);
        let height = 4;
        let mut scroll = {
            let lines = Lines::new(screen.history(), screen.vt());
            let mut scroll = Scroll::enter(&lines, (3, 0));
            scroll.scroll(&lines, -10, height);
            scroll
        };
        let shown = |screen: &Screen, scroll: &Scroll| {
            let lines = Lines::new(screen.history(), screen.vt());
            lines
                .line(lines.clamp(scroll.top).line)
                .unwrap()
                .text()
                .to_string()
        };
        let before = shown(&screen, &scroll);
        for i in 51..=80 {
            screen.process(format!("line {i}\r\n").as_bytes());
        }
        let lines = Lines::new(screen.history(), screen.vt());
        scroll.settle(&lines, height);
        assert_eq!(shown(&screen, &scroll), before);
        assert_eq!(scroll.offset(&lines), 10 + 30);
    }

    #[test]
    fn an_evicted_top_moves_the_view_to_the_oldest_line() {
        let mut screen = numbered(20);
        screen.set_scrollback(5);
        let lines = Lines::new(screen.history(), screen.vt());
        let mut scroll = Scroll::enter(&lines, (0, 0));
        scroll.to_top(&lines);
        for i in 21..=40 {
            screen.process(format!("line {i}\r\n").as_bytes());
        }
        let lines = Lines::new(screen.history(), screen.vt());
        scroll.settle(&lines, 4);
        assert_eq!(scroll.top, lines.top());
        // Lines 38 to 40 and the cursor row are on screen; five kept before.
        assert_eq!(lines.line(scroll.top.line).unwrap().text(), "line 33");
    }

    #[test]
    fn searching_moves_the_cursor_from_match_to_match() {
        let screen = numbered(40);
        let lines = Lines::new(screen.history(), screen.vt());
        let mut scroll = Scroll::enter(&lines, (3, 0));
        scroll.search = Some(Search {
            pattern: Regex::new("line [23]5").unwrap(),
            backwards: true,
            current: None,
        });
        let on = |s: &Scroll| lines.line(s.cursor.at.line).unwrap().text().to_string();
        assert!(scroll.find_next(&lines, false, 4));
        assert_eq!(on(&scroll), "line 35");
        assert!(scroll.find_next(&lines, false, 4));
        assert_eq!(on(&scroll), "line 25");
        assert!(!scroll.find_next(&lines, false, 4), "no older match");
        assert!(scroll.note.is_some());
        // N goes the other way.
        assert!(scroll.find_next(&lines, true, 4));
        assert_eq!(on(&scroll), "line 35");
        // The match is in view.
        let bottom = lines.down(scroll.top, 3);
        assert!(scroll.top <= scroll.cursor.at && scroll.cursor.at <= bottom);
    }

    #[test]
    fn the_view_holds_still_while_long_lines_wrap_on_screen() {
        // 20 columns: each 50-character line takes three rows, and the
        // screen's first row continues a line the history holds the start of.
        let mut screen = Screen::new(Size::new(5, 20));
        let long = |i: usize| format!("{i:02}{}\r\n", "x".repeat(48));
        for i in 0..3 {
            screen.process(long(i).as_bytes());
        }
        let lines = Lines::new(screen.history(), screen.vt());
        let scroll = Scroll::enter(&lines, (0, 0));
        let first_row = |screen: &Screen, scroll: &Scroll| {
            let lines = Lines::new(screen.history(), screen.vt());
            let scroll = scroll.follow(&lines);
            let (line, range, _) = lines.row_span(scroll.top).unwrap();
            line.text()[range].to_string()
        };
        let before = first_row(&screen, &scroll);
        for i in 3..9 {
            screen.process(long(i).as_bytes());
        }
        assert_eq!(first_row(&screen, &scroll), before);
    }

    #[test]
    fn after_a_resize_the_view_still_shows_the_cursor_on_its_line() {
        let mut screen = Screen::new(Size::new(10, 40));
        for i in 0..40 {
            screen.process(format!("L{i:02}{}\r\n", "-".repeat(25)).as_bytes());
        }
        let lines = Lines::new(screen.history(), screen.vt());
        let mut scroll = Scroll::enter(&lines, (0, 0));
        scroll.scroll(&lines, -20, 10);
        scroll.move_cursor(&lines, 8, 2, 10);
        let line_of = |scroll: &Scroll, screen: &Screen| {
            let lines = Lines::new(screen.history(), screen.vt());
            lines.line(scroll.cursor.at.line).unwrap().text()[..3].to_string()
        };
        let before = line_of(&scroll, &screen);
        // Each line now takes three rows: the cursor's line is far below
        // the view's first rows.
        let remembered = scroll.before_resize(&Lines::new(screen.history(), screen.vt()));
        screen.resize(Size::new(10, 10));
        let lines = Lines::new(screen.history(), screen.vt());
        scroll.after_resize(&remembered, &lines, 10);
        assert_eq!(line_of(&scroll, &screen), before);
        let bottom = lines.down(scroll.top, 9);
        assert!(scroll.top <= scroll.cursor.at && scroll.cursor.at <= bottom);
    }

    #[test]
    fn a_position_on_a_line_that_went_off_in_part_keeps_its_character() {
        let mut screen = Screen::new(Size::new(4, 20));
        let long: String = ('a'..='z').cycle().take(130).collect();
        screen.process(format!("top\r\n{long}").as_bytes());
        let lines = Lines::new(screen.history(), screen.vt());
        assert!(
            lines.continues(lines.screen_start() - 1),
            "the line went off in part"
        );
        let mut scroll = Scroll::enter(&lines, (1, 7));
        let char_at = |scroll: &Scroll, screen: &Screen| {
            let lines = Lines::new(screen.history(), screen.vt());
            let byte = lines.byte_at(scroll.cursor);
            let line = lines.line(scroll.cursor.at.line).unwrap();
            (
                line.text()[byte..].chars().next(),
                lines.text_pos(scroll.cursor),
            )
        };
        let before = char_at(&scroll, &screen);
        for size in [
            Size::new(4, 30),
            Size::new(3, 7),
            Size::new(12, 50),
            Size::new(4, 20),
        ] {
            let remembered = scroll.before_resize(&Lines::new(screen.history(), screen.vt()));
            screen.resize(size);
            let lines = Lines::new(screen.history(), screen.vt());
            scroll.after_resize(&remembered, &lines, usize::from(size.rows));
            assert_eq!(char_at(&scroll, &screen).0, before.0, "{size:?}");
        }
        assert_eq!(char_at(&scroll, &screen), before);
    }

    #[test]
    fn a_line_wrapped_on_screen_is_copied_without_a_break() {
        let mut screen = Screen::new(Size::new(6, 20));
        let url = format!("https://example.com/{}", "a".repeat(30));
        screen.process(format!("{url}\r\nnext").as_bytes());
        let lines = Lines::new(screen.history(), screen.vt());
        let start = lines.screen_start();
        let a = Point {
            at: RowPos {
                line: start,
                row: 0,
            },
            col: 0,
        };
        let b = Point {
            at: RowPos {
                line: start + 3,
                row: 0,
            },
            col: 3,
        };
        assert_eq!(lines.text_between(a, b), format!("{url}\nnext"));
        // The same once it has scrolled into the history, and across the
        // history's last row and the screen's first.
        screen.process(b"\r\n1\r\n2\r\n3\r\n");
        let lines = Lines::new(screen.history(), screen.vt());
        let (n, range) = lines
            .find(&Regex::new("^https").unwrap(), (lines.first(), 0), false)
            .unwrap();
        let a = lines.point_of(n, range.start);
        let b = Point {
            at: lines.down(a.at, 2),
            col: 9,
        };
        assert_eq!(lines.text_between(a, b), url);
    }

    #[test]
    fn a_selection_ending_on_a_combining_mark_keeps_it() {
        let screen = screen_with(&["cafe\u{301} au lait"]);
        let lines = Lines::new(screen.history(), screen.vt());
        let at = |col: usize| Point {
            at: RowPos {
                line: lines.screen_start(),
                row: 0,
            },
            col,
        };
        assert_eq!(lines.text_between(at(0), at(3)), "cafe\u{301}");
    }

    #[test]
    fn repeating_a_search_for_a_combining_mark_moves_on() {
        let screen = screen_with(&["e\u{301} one", "e\u{301} two"]);
        let lines = Lines::new(screen.history(), screen.vt());
        let mut scroll = Scroll::enter(&lines, (0, 0));
        scroll.search = Some(Search {
            pattern: Regex::new("\u{301}").unwrap(),
            backwards: false,
            current: None,
        });
        assert!(scroll.find_next(&lines, false, 4));
        let first = scroll.cursor;
        assert!(scroll.find_next(&lines, false, 4));
        assert_ne!(scroll.cursor, first, "n stayed on the same match");
    }
}
