//! Laying a pane's main screen out again at a new size, as tmux and
//! alacritty do: the screen is read into the logical lines the program
//! printed (rows joined where they wrapped), and those lines, with any that
//! come back from the history, are printed again at the new width.
//!
//! This module reads the screen and works out where the lines and the
//! cursor go, and writes the bytes that print them; `screen` decides what
//! comes back from the history and feeds the bytes to the parser, so that
//! rows which no longer fit scroll off through the parser's own callback.

use super::history::{Line, Pen};

/// The main screen read into logical lines.
pub(super) struct Snapshot {
    /// The lines, top first; a line's trailing blank cells are left out.
    pub lines: Vec<Line>,
    /// How many of the first lines came back from the history at an
    /// earlier resize, and so were logged already.
    pub returned: usize,
    /// The line the cursor is on, and its offset from the line's start in
    /// columns.
    pub cursor: (usize, usize),
    /// The same for the cursor saved with DECSC.
    pub saved: (usize, usize),
}

impl Snapshot {
    /// Reads the screen vt100 is drawing on now, whose first
    /// `returned_rows` rows came back from the history, with the cursor and
    /// the saved cursor at these (row, column) positions. `gaps` are the
    /// rows known to go on in the next one where a wide character left the
    /// last cell blank (see [`gap_rows`]).
    pub fn read(
        vt: &vt100::Screen,
        returned_rows: usize,
        cursor: (u16, u16),
        saved: (u16, u16),
        gaps: &[u64],
    ) -> Snapshot {
        let (rows, cols) = vt.size();
        let (rows, cols) = (rows.get(), cols.get());
        let mut snapshot = Snapshot {
            lines: Vec::new(),
            returned: 0,
            cursor: (0, 0),
            saved: (0, 0),
        };
        let mut text = String::new();
        let mut spans: Vec<(usize, Pen)> = Vec::new();
        // Blank cells not yet known to be inside the line.
        let mut blanks: Vec<Pen> = Vec::new();
        let mut width = 0;
        for row in 0..rows {
            for col in 0..cols {
                let here = (snapshot.lines.len(), width + blanks.len());
                if (row, col) == cursor {
                    snapshot.cursor = here;
                }
                if (row, col) == saved {
                    snapshot.saved = here;
                }
                let Some(cell) = vt.cell(row, col) else {
                    continue;
                };
                if cell.is_wide_continuation() {
                    continue;
                }
                if !cell.has_contents() {
                    blanks.push(Pen::of_cell(cell));
                    continue;
                }
                for pen in blanks.drain(..) {
                    spans.push((text.len(), pen));
                    text.push(' ');
                    width += 1;
                }
                spans.push((text.len(), Pen::of_cell(cell)));
                text.push_str(cell.contents());
                width += if cell.is_wide() { 2 } else { 1 };
            }
            // A wrap is pending: the cursor is past the row's last cell.
            let here = (snapshot.lines.len(), width + blanks.len());
            if row == cursor.0 && cursor.1 >= cols {
                snapshot.cursor = here;
            }
            if row == saved.0 && saved.1 >= cols {
                snapshot.saved = here;
            }
            // A wide character that did not fit at the end of a row left its
            // last cell blank and went on in the next; vt100 (as tmux) does
            // not mark such a row wrapped. Guessing from a blank last cell
            // and a wide first one would join lines the program ended there
            // too: a line split in two does less harm than two lines joined,
            // so only rows known to go on (still so) are taken as wrapped.
            let gap = row + 1 < rows
                && gaps.contains(&u64::from(row))
                && vt.cell(row, cols - 1).is_some_and(|c| !c.has_contents())
                && vt.cell(row + 1, 0).is_some_and(vt100::Cell::is_wide);
            if gap {
                blanks.pop();
                continue;
            }
            if row + 1 < rows && vt.row_wrapped(row) {
                continue;
            }
            blanks.clear();
            let pieces = spans.iter().enumerate().map(|(i, &(start, pen))| {
                let end = spans.get(i + 1).map_or(text.len(), |&(next, _)| next);
                (&text[start..end], pen)
            });
            snapshot.lines.push(Line::from_pieces(pieces));
            if usize::from(row) < returned_rows && snapshot.returned + 1 == snapshot.lines.len() {
                snapshot.returned += 1;
            }
            text.clear();
            spans.clear();
            width = 0;
        }
        snapshot
    }

    /// Drops the blank lines below the cursor, which a smaller screen loses
    /// first. Blank lines down to the saved cursor stay as far as they fit
    /// on a screen of `rows` rows `cols` wide: a cursor saved before the
    /// screen was erased (as a full-screen program's start saves it) must
    /// not push blank lines into the history. A saved cursor below them
    /// goes to the last, as a terminal that does not reflow clamps it.
    pub fn drop_blank_tail(&mut self, rows: usize, cols: u16) {
        let mut keep = self
            .lines
            .iter()
            .rposition(|line| !line.text().is_empty())
            .map_or(0, |i| i + 1)
            .max(self.cursor.0 + 1);
        if self.saved.0 >= keep {
            let needed: usize = self.lines[..keep.min(self.lines.len())]
                .iter()
                .map(|l| l.rows(cols))
                .sum();
            keep = (self.saved.0 + 1).min(keep + rows.saturating_sub(needed));
            if self.saved.0 >= keep {
                self.saved = (keep - 1, self.saved.1);
            }
        }
        self.lines.truncate(keep);
        self.returned = self.returned.min(keep);
    }

    /// Drops the lines below the cursor's that do not fit on a screen of
    /// `rows` rows `cols` wide, bottom first, as tmux does: only the rows
    /// above the cursor's line are to scroll off into the history, and
    /// the cursor's line stays on the screen. A saved cursor on a dropped
    /// line goes to the end of the last line kept.
    pub fn drop_below_cursor(&mut self, rows: usize, cols: u16) {
        let mut needed: usize = self.lines.iter().map(|l| l.rows(cols)).sum();
        while needed > rows && self.lines.len() > self.cursor.0 + 1 {
            if let Some(line) = self.lines.pop() {
                needed -= line.rows(cols);
            }
        }
        let last = self.lines.len().saturating_sub(1);
        if self.saved.0 > last {
            let width = self.lines.get(last).map_or(0, Line::width);
            self.saved = (last, width);
        }
        self.returned = self.returned.min(self.lines.len());
    }
}

/// Where the cursor goes on a line laid out at some width.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// At this row of the line and column.
    At(usize, u16),
    /// After the line's last character, which ends exactly at the right
    /// edge: a wrap is pending there. The character starts at this row and
    /// column, and is printed again to leave the cursor so.
    AfterLast(usize, u16),
}

/// Where the cursor `offset` columns into `line` goes when the line is
/// wrapped at `cols` columns. Past the end of the line it stays as far
/// past as it was, up to the right edge.
pub(super) fn place(line: &Line, offset: usize, cols: u16) -> Place {
    let width = usize::from(cols.max(1));
    let (mut row, mut col) = (0, 0);
    let mut last = None;
    for cell in line.cells() {
        let w = usize::from(cell.width);
        if w == 0 {
            continue;
        }
        if col > 0 && col + w > width {
            row += 1;
            col = 0;
        }
        if offset < cell.col + w {
            let inside = (offset - cell.col.min(offset)).min(w - 1);
            return Place::At(row, column(col + inside));
        }
        last = Some((row, col));
        col += w;
    }
    let past = offset.saturating_sub(line.width());
    match last {
        Some((row, start)) if col >= width && past == 0 => Place::AfterLast(row, column(start)),
        _ => Place::At(row, column((col + past).min(width - 1))),
    }
}

/// The rows of `line` laid out at `cols` columns after which a wide
/// character does not fit in the last column and goes on in the next row,
/// leaving that column blank: vt100 marks no wrap there.
pub(super) fn gap_rows(line: &Line, cols: u16) -> Vec<usize> {
    // Only a wide character leaves a gap.
    if line.text().is_ascii() {
        return Vec::new();
    }
    let width = usize::from(cols.max(1));
    let (mut row, mut col) = (0, 0);
    let mut gaps = Vec::new();
    for cell in line.cells() {
        let w = usize::from(cell.width);
        if w == 0 {
            continue;
        }
        if col > 0 && col + w > width {
            if col < width {
                gaps.push(row);
            }
            row += 1;
            col = 0;
        }
        col += w;
    }
    gaps
}

fn column(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Appends the bytes that print `line` from the cursor on, in its styles;
/// `pen` is the pen in effect before and is left as the pen after.
pub(super) fn write_line(line: &Line, pen: &mut Pen, out: &mut Vec<u8>) {
    for (range, span_pen) in line.spans() {
        if span_pen != *pen {
            span_pen.write_sgr(out);
            *pen = span_pen;
        }
        out.extend_from_slice(line.text()[range].as_bytes());
    }
}

/// Appends the bytes that print the last character of `line` again, in
/// its style; `pen` as for [`write_line`].
pub(super) fn write_last_cell(line: &Line, pen: &mut Pen, out: &mut Vec<u8>) {
    if let Some(cell) = line.cells().filter(|c| c.width > 0).last() {
        if cell.pen != *pen {
            cell.pen.write_sgr(out);
            *pen = cell.pen;
        }
        out.extend_from_slice(cell.text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Line {
        Line::from_pieces([(text, Pen::default())])
    }

    #[test]
    fn the_cursor_is_placed_on_its_character_at_any_width() {
        let l = line("abcdefghij");
        assert_eq!(place(&l, 0, 4), Place::At(0, 0));
        assert_eq!(place(&l, 5, 4), Place::At(1, 1));
        assert_eq!(place(&l, 9, 4), Place::At(2, 1));
        // Just past the end, with room on the row.
        assert_eq!(place(&l, 10, 4), Place::At(2, 2));
        assert_eq!(place(&l, 12, 4), Place::At(2, 3));
        assert_eq!(place(&l, 30, 4), Place::At(2, 3));
        // Just past a line that fills its last row: a wrap is pending.
        assert_eq!(place(&l, 10, 5), Place::AfterLast(1, 4));
        assert_eq!(place(&line(""), 3, 10), Place::At(0, 3));
        // A wide character that does not fit starts the next row.
        let wide = line("ab中");
        assert_eq!(place(&wide, 2, 3), Place::At(1, 0));
        assert_eq!(place(&wide, 4, 3), Place::At(1, 2));
        assert_eq!(place(&wide, 4, 2), Place::AfterLast(1, 0));
    }

    #[test]
    fn rows_a_wide_character_leaves_a_blank_last_column_are_found() {
        let l = line("ab中cd文x");
        assert_eq!(gap_rows(&l, 3), [0]);
        assert_eq!(gap_rows(&l, 4), Vec::<usize>::new());
        assert_eq!(gap_rows(&line("abc中d中"), 4), [0, 1]);
        assert_eq!(gap_rows(&line("中中"), 2), Vec::<usize>::new());
        assert_eq!(gap_rows(&line("a中"), 2), [0]);
    }
}
