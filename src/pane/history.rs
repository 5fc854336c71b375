//! A pane's scrollback: the rows that scrolled off the top of its screen,
//! joined back into the logical lines the program printed, with their colours
//! and attributes, in as little memory as a long-running pane can afford.
//!
//! This module owns the store ([`History`]), the compact line it keeps
//! ([`Line`]: text plus style runs) and the parsing of vt100's "basic
//! formatted" row capture into it. It does not decide which rows to keep: the
//! caller's `vt100::Callbacks::on_scroll` hands rows to [`History::push`] and
//! chooses whether rows of the alternate screen belong here. Nor does it draw:
//! a view reads [`Line::cells`] or [`Line::spans`] and re-wraps lines at the
//! pane's current width with [`Line::rows`] and [`Line::row_range`].
//!
//! Display widths come from the unicode-width tables ratatui renders with,
//! reached through [`ratatui::text::Span::width`], and are clamped to two
//! columns as vt100 does.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::OnceLock;

const BOLD: u8 = 0b0000_0001;
const DIM: u8 = 0b0000_0010;
const INTENSITY: u8 = BOLD | DIM;
const ITALIC: u8 = 0b0000_0100;
const UNDERLINE: u8 = 0b0000_1000;
const INVERSE: u8 = 0b0001_0000;

/// A cell style, kept small: two colours and a byte of attribute flags.
///
/// Bold and dim exclude each other, as they do in vt100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pen {
    /// The foreground colour.
    pub fg: vt100::Color,
    /// The background colour.
    pub bg: vt100::Color,
    flags: u8,
}

impl Pen {
    /// Returns whether text is drawn bold.
    pub fn bold(&self) -> bool {
        self.flags & BOLD != 0
    }

    /// Returns whether text is drawn dim (faint).
    pub fn dim(&self) -> bool {
        self.flags & DIM != 0
    }

    /// Returns whether text is drawn in italics.
    pub fn italic(&self) -> bool {
        self.flags & ITALIC != 0
    }

    /// Returns whether text is underlined.
    pub fn underline(&self) -> bool {
        self.flags & UNDERLINE != 0
    }

    /// Returns whether foreground and background are swapped.
    pub fn inverse(&self) -> bool {
        self.flags & INVERSE != 0
    }

    /// Returns whether this is the terminal's default style.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The style of one of vt100's cells, so a screen read cell by cell
    /// can be kept or printed again.
    pub fn of_cell(cell: &vt100::Cell) -> Pen {
        Self::with(
            cell.fgcolor(),
            cell.bgcolor(),
            [
                cell.bold(),
                cell.dim(),
                cell.italic(),
                cell.underline(),
                cell.inverse(),
            ],
        )
    }

    /// The style vt100 draws the next character in, so it can be set again
    /// after opmux itself printed on the screen.
    pub fn of_screen(vt: &vt100::Screen) -> Pen {
        Self::with(
            vt.fgcolor(),
            vt.bgcolor(),
            [
                vt.bold(),
                vt.dim(),
                vt.italic(),
                vt.underline(),
                vt.inverse(),
            ],
        )
    }

    /// A pen from colours and the flags bold, dim, italic, underline and
    /// inverse, in that order.
    fn with(fg: vt100::Color, bg: vt100::Color, flags: [bool; 5]) -> Pen {
        let mut pen = Pen { fg, bg, flags: 0 };
        for (on, flag) in flags
            .into_iter()
            .zip([BOLD, DIM, ITALIC, UNDERLINE, INVERSE])
        {
            pen.set_flag(flag, on);
        }
        // vt100 keeps one intensity; bold wins, as there.
        if pen.bold() {
            pen.set_intensity(BOLD);
        }
        pen
    }

    /// Appends the SGR sequence that sets exactly this pen, from any other.
    pub fn write_sgr(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        out.extend_from_slice(b"\x1b[0");
        for (on, code) in [
            (self.bold(), 1),
            (self.dim(), 2),
            (self.italic(), 3),
            (self.underline(), 4),
            (self.inverse(), 7),
        ] {
            if on {
                // Writing to a Vec cannot fail.
                let _ = write!(out, ";{code}");
            }
        }
        for (colour, base) in [(self.fg, 30u16), (self.bg, 40)] {
            // Writing to a Vec cannot fail.
            let _ = match colour {
                vt100::Color::Default => Ok(()),
                vt100::Color::Idx(n) if n < 8 => write!(out, ";{}", base + u16::from(n)),
                vt100::Color::Idx(n) if n < 16 => write!(out, ";{}", base + 60 + u16::from(n) - 8),
                vt100::Color::Idx(n) => write!(out, ";{};5;{n}", base + 8),
                vt100::Color::Rgb(r, g, b) => write!(out, ";{};2;{r};{g};{b}", base + 8),
            };
        }
        out.push(b'm');
    }

    fn set_intensity(&mut self, intensity: u8) {
        self.flags = (self.flags & !INTENSITY) | intensity;
    }

    fn set_flag(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// Applies the parameters of one SGR sequence (the text between `ESC [`
    /// and `m`), as vt100 writes them.
    fn apply_sgr(&mut self, params: &str) {
        if params.is_empty() {
            *self = Self::default();
            return;
        }
        let mut params = params.split(';').map(|p| p.parse::<u16>().unwrap_or(0));
        while let Some(p) = params.next() {
            match p {
                0 => *self = Self::default(),
                1 => self.set_intensity(BOLD),
                2 => self.set_intensity(DIM),
                22 => self.set_intensity(0),
                3 | 23 => self.set_flag(ITALIC, p == 3),
                4 | 24 => self.set_flag(UNDERLINE, p == 4),
                7 | 27 => self.set_flag(INVERSE, p == 7),
                30..=37 => self.fg = vt100::Color::Idx(byte(p - 30)),
                90..=97 => self.fg = vt100::Color::Idx(byte(p - 82)),
                38 => {
                    if let Some(c) = extended_colour(&mut params) {
                        self.fg = c;
                    }
                }
                39 => self.fg = vt100::Color::Default,
                40..=47 => self.bg = vt100::Color::Idx(byte(p - 40)),
                100..=107 => self.bg = vt100::Color::Idx(byte(p - 92)),
                48 => {
                    if let Some(c) = extended_colour(&mut params) {
                        self.bg = c;
                    }
                }
                49 => self.bg = vt100::Color::Default,
                _ => {}
            }
        }
    }
}

fn byte(n: u16) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// Reads the rest of a `38;5;N` or `38;2;R;G;B` colour.
fn extended_colour(params: &mut impl Iterator<Item = u16>) -> Option<vt100::Color> {
    match params.next()? {
        5 => Some(vt100::Color::Idx(byte(params.next()?))),
        2 => {
            let r = byte(params.next()?);
            let g = byte(params.next()?);
            let b = byte(params.next()?);
            Some(vt100::Color::Rgb(r, g, b))
        }
        _ => None,
    }
}

/// Splits "basic formatted" text into plain pieces, each handed to `emit`
/// with the pen it is drawn in; `pen` comes in as the pen in effect before the
/// text and goes out as the pen in effect after it.
fn parse_formatted(formatted: &str, pen: &mut Pen, mut emit: impl FnMut(&str, Pen)) {
    let mut rest = formatted;
    while let Some(esc) = rest.find('\x1b') {
        if esc > 0 {
            emit(&rest[..esc], *pen);
        }
        let seq = &rest[esc + 1..];
        // vt100 writes nothing but SGR sequences into this format.
        let Some(end) = seq.find('m') else {
            return;
        };
        let body = &seq[..end];
        pen.apply_sgr(body.strip_prefix('[').unwrap_or(body));
        rest = &seq[end + 1..];
    }
    if !rest.is_empty() {
        emit(rest, *pen);
    }
}

/// The display width of a string, from the tables ratatui draws with.
fn str_width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// The columns one character takes, clamped to 2 as vt100 clamps it.
fn char_width(c: char) -> usize {
    if c.is_ascii() {
        // Control characters never reach a cell.
        return 1;
    }
    unicode_width::UnicodeWidthChar::width(c)
        .unwrap_or(0)
        .min(2)
}

/// The heap a block of `bytes` takes, as glibc's malloc rounds it on a 64-bit
/// machine: 8 bytes of header, 16-byte granules, 32 bytes at least.
fn alloc_size(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes + 8).next_multiple_of(16).max(32)
    }
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One character cell of a [`Line`], as [`Line::cells`] yields it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell<'a> {
    /// The byte offset of the cell's text in the line.
    pub byte: usize,
    /// The display column the cell starts at, counted from the line's start.
    pub col: usize,
    /// One character plus the zero-width characters that follow it.
    pub text: &'a str,
    /// The columns the cell takes: 0, 1 or 2.
    pub width: u8,
    /// The style the cell is drawn in.
    pub pen: Pen,
}

/// Walks a line's text cell by cell.
struct Cells<'a> {
    text: &'a str,
    runs: Runs<'a>,
    pos: usize,
    col: usize,
    run: usize,
    pen: Pen,
}

impl<'a> Iterator for Cells<'a> {
    type Item = Cell<'a>;

    fn next(&mut self) -> Option<Cell<'a>> {
        let start = self.pos;
        let rest = &self.text[start..];
        let mut chars = rest.char_indices();
        let (_, first) = chars.next()?;
        let base = char_width(first);
        let mut end = first.len_utf8();
        let mut presentation = false;
        for (i, c) in chars {
            if c.is_ascii() || char_width(c) != 0 {
                break;
            }
            presentation |= c == '\u{FE0F}';
            end = i + c.len_utf8();
        }
        let text = &rest[..end];
        // vt100 widens a cell when an emoji presentation selector makes its
        // text two columns wide, and narrows it otherwise.
        let width = if presentation && base > 0 {
            if str_width(text) > 1 { 2 } else { 1 }
        } else {
            base
        };
        // A pen is read only once its run is reached.
        while let Some(run) = self.runs.0.get(self.run) {
            if Runs::at(run) > start {
                break;
            }
            self.pen = Runs::unpack(run).1;
            self.run += 1;
        }
        let cell = Cell {
            byte: start,
            col: self.col,
            text,
            width: u8::try_from(width).unwrap_or(2),
            pen: self.pen,
        };
        self.pos = start + end;
        self.col += width;
        Some(cell)
    }
}

/// One logical line: rows joined where the program's output wrapped.
///
/// The text is stored once, without escape codes; styles are kept as runs,
/// each the byte offset where a pen starts: text before the first run, or
/// all of it when there are none, is in the default pen. A history holds
/// thousands of lines, so a line takes 24 bytes and at most one allocation:
/// a short ASCII line in the default style is kept inside those bytes, and
/// any other in one block with its width, text and runs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Line {
    repr: Repr,
}

/// The most bytes of text a line keeps without an allocation.
const INLINE: usize = 22;

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// ASCII text in the default pen, as long as its width.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// The width and the text's length (u32, little-endian), the text,
    /// then the runs, [`RUN_BYTES`] each. Built from a `&str` and never
    /// changed, so the text is UTF-8.
    Heap(Box<[u8]>),
}

impl Default for Repr {
    fn default() -> Self {
        Self::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Line")
            .field("text", &self.text())
            .field("runs", &self.runs().iter().collect::<Vec<_>>())
            .finish()
    }
}

/// A run packed into bytes: its offset (u32, little-endian), then the pen's
/// foreground and background, four bytes each, and its flags.
const RUN_BYTES: usize = 13;

fn pack_colour(colour: vt100::Color) -> [u8; 4] {
    match colour {
        vt100::Color::Default => [0; 4],
        vt100::Color::Idx(i) => [1, i, 0, 0],
        vt100::Color::Rgb(r, g, b) => [2, r, g, b],
    }
}

fn unpack_colour(bytes: &[u8]) -> vt100::Color {
    match bytes[0] {
        1 => vt100::Color::Idx(bytes[1]),
        2 => vt100::Color::Rgb(bytes[1], bytes[2], bytes[3]),
        _ => vt100::Color::Default,
    }
}

fn pack_run((at, pen): (u32, Pen), out: &mut Vec<u8>) {
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&pack_colour(pen.fg));
    out.extend_from_slice(&pack_colour(pen.bg));
    out.push(pen.flags);
}

/// A line's runs, as packed by [`pack_run`].
#[derive(Clone, Copy)]
struct Runs<'a>(&'a [[u8; RUN_BYTES]]);

impl<'a> Runs<'a> {
    /// The runs packed at the start of `bytes`.
    fn of(bytes: &'a [u8]) -> Self {
        Self(bytes.as_chunks().0)
    }

    fn get(self, i: usize) -> Option<(u32, Pen)> {
        self.0.get(i).map(Self::unpack)
    }

    /// Where a run starts, read without its pen.
    fn at(run: &[u8; RUN_BYTES]) -> usize {
        u32::from_le_bytes([run[0], run[1], run[2], run[3]]) as usize
    }

    fn unpack(run: &[u8; RUN_BYTES]) -> (u32, Pen) {
        let pen = Pen {
            fg: unpack_colour(&run[4..8]),
            bg: unpack_colour(&run[8..12]),
            flags: run[12],
        };
        (Self::at(run) as u32, pen)
    }

    fn iter(self) -> impl Iterator<Item = (u32, Pen)> + 'a {
        self.0.iter().map(Self::unpack)
    }

    /// How many runs start at or before byte `byte`.
    fn starting_by(self, byte: usize) -> usize {
        self.0.partition_point(|run| Self::at(run) <= byte)
    }
}

impl Line {
    /// Parses "basic formatted" text, as vt100's
    /// `RowContents::write_formatted_basic` writes it, into a line. Its escape
    /// codes are differences from the pen before them, so `pen` comes in as
    /// the pen in effect where the text starts and goes out as the pen in
    /// effect where it ends, ready for the next line. Newlines in `formatted`
    /// are not expected; they would be kept as text.
    pub fn from_formatted(formatted: &str, pen: &mut Pen) -> Line {
        let mut builder = LineBuilder::default();
        builder.push_formatted(formatted, pen);
        builder.to_line()
    }

    fn new(text: &str, runs: &[(u32, Pen)]) -> Line {
        let ascii = text.is_ascii();
        if ascii && runs.is_empty() && text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            let len = text.len() as u8;
            return Line {
                repr: Repr::Inline { len, bytes },
            };
        }
        let width = if ascii {
            text.len()
        } else {
            cells_of(text, Runs(&[]))
                .map(|c| usize::from(c.width))
                .sum()
        };
        let mut data = Vec::with_capacity(8 + text.len() + runs.len() * RUN_BYTES);
        data.extend_from_slice(&offset(width).to_le_bytes());
        data.extend_from_slice(&offset(text.len()).to_le_bytes());
        data.extend_from_slice(text.as_bytes());
        for &run in runs {
            pack_run(run, &mut data);
        }
        Line {
            repr: Repr::Heap(data.into_boxed_slice()),
        }
    }

    /// The width and the length of the text of a line kept in a block.
    fn header(data: &[u8]) -> (usize, usize) {
        let word = |at: usize| {
            u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize
        };
        (word(0), word(4))
    }

    fn runs(&self) -> Runs<'_> {
        match &self.repr {
            Repr::Inline { .. } => Runs(&[]),
            Repr::Heap(data) => Runs::of(&data[8 + Self::header(data).1..]),
        }
    }

    /// Builds a line from pieces of text, each in its pen, in order: how a
    /// screen's row read cell by cell becomes a line again.
    pub fn from_pieces<'a>(pieces: impl IntoIterator<Item = (&'a str, Pen)>) -> Line {
        let mut builder = LineBuilder::default();
        for (text, pen) in pieces {
            builder.push(text, pen);
        }
        builder.to_line()
    }

    /// This line with `next` after it, as one line: a line that went into
    /// the history in part, joined again with the rest of it.
    pub fn joined(&self, next: &Line) -> Line {
        Line::from_pieces(self.pieces().chain(next.pieces()))
    }

    /// The line's text in runs of one pen each, in order.
    fn pieces(&self) -> impl Iterator<Item = (&str, Pen)> + '_ {
        let text = self.text();
        self.spans().map(move |(range, pen)| (&text[range], pen))
    }

    /// Returns the line's text without styles.
    pub fn text(&self) -> &str {
        let bytes = match &self.repr {
            Repr::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Repr::Heap(data) => &data[8..8 + Self::header(data).1],
        };
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: the bytes were copied from a `&str` whole (see `new`) and
        // are never changed.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Returns the columns the line takes unwrapped. Characters wider than
    /// one column count two, zero-width characters count nothing.
    pub fn width(&self) -> usize {
        match &self.repr {
            Repr::Inline { len, .. } => usize::from(*len),
            Repr::Heap(data) => Self::header(data).0,
        }
    }

    /// Returns the pen the text at byte offset `byte` is drawn in; past the
    /// end, the pen of the last character.
    pub fn pen_at(&self, byte: usize) -> Pen {
        let runs = self.runs();
        runs.starting_by(byte)
            .checked_sub(1)
            .and_then(|i| runs.get(i))
            .map_or_else(Pen::default, |(_, pen)| pen)
    }

    /// Returns the line's text split where the pen changes: byte ranges that
    /// cover the text in order, each with the pen it is drawn in.
    pub fn spans(&self) -> impl Iterator<Item = (Range<usize>, Pen)> + '_ {
        let len = self.text().len();
        let runs = self.runs();
        let first = runs.get(0).map_or(len, |(at, _)| at as usize);
        let head = (first > 0).then(|| (0..first, Pen::default()));
        let rest = runs.iter().enumerate().map(move |(i, (at, pen))| {
            let end = runs.get(i + 1).map_or(len, |(next, _)| next as usize);
            (at as usize..end, pen)
        });
        head.into_iter().chain(rest)
    }

    /// Returns the line's cells in order: each character with the zero-width
    /// characters that follow it, its column, width and pen.
    pub fn cells(&self) -> impl Iterator<Item = Cell<'_>> {
        cells_of(self.text(), self.runs())
    }

    /// Returns how many display rows the line takes in a pane `width`
    /// columns wide; at least 1, even for an empty line. A wide character
    /// that does not fit at the end of a row starts the next one, as
    /// terminals do.
    pub fn rows(&self, width: u16) -> usize {
        let width = usize::from(width.max(1));
        if self.text().is_ascii() {
            return self.text().len().div_ceil(width).max(1);
        }
        let mut rows = 1;
        let mut col = 0;
        for cell in self.cells() {
            let w = usize::from(cell.width);
            if col > 0 && col + w > width {
                rows += 1;
                col = 0;
            }
            col += w;
        }
        rows
    }

    /// Returns the byte range of display row `row` when the line is wrapped
    /// to `width` columns, as [`Line::rows`] counts them; an empty range at
    /// the end of the text for rows past the last.
    pub fn row_range(&self, width: u16, row: usize) -> Range<usize> {
        let width = usize::from(width.max(1));
        let len = self.text().len();
        if self.text().is_ascii() {
            let start = row.saturating_mul(width).min(len);
            return start..(start + width).min(len);
        }
        let mut current = 0;
        let mut col = 0;
        let mut start = 0;
        for cell in self.cells() {
            let w = usize::from(cell.width);
            if col > 0 && col + w > width {
                if current == row {
                    return start..cell.byte;
                }
                current += 1;
                col = 0;
                start = cell.byte;
            }
            col += w;
        }
        if current == row { start..len } else { len..len }
    }

    /// Returns the display column, from the line's start, of the cell that
    /// holds byte offset `byte`; the line's width for offsets at or past the
    /// end.
    pub fn column_of(&self, byte: usize) -> usize {
        if byte >= self.text().len() {
            return self.width();
        }
        if self.text().is_ascii() {
            return byte;
        }
        self.cells()
            .take_while(|cell| cell.byte <= byte)
            .last()
            .map_or(0, |cell| cell.col)
    }

    /// Returns an estimate of the heap this line holds, allocator rounding
    /// included; the line's own struct is not counted.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => 0,
            Repr::Heap(data) => alloc_size(data.len()),
        }
    }
}

fn cells_of<'a>(text: &'a str, runs: Runs<'a>) -> Cells<'a> {
    Cells {
        text,
        runs,
        pos: 0,
        col: 0,
        run: 0,
        pen: Pen::default(),
    }
}

/// A line being put together from formatted pieces, with room to grow.
#[derive(Debug, Default)]
struct LineBuilder {
    text: String,
    runs: Vec<(u32, Pen)>,
    /// The pen of the last run, or the default pen when there is none.
    last: Pen,
}

impl LineBuilder {
    fn push_formatted(&mut self, formatted: &str, pen: &mut Pen) {
        parse_formatted(formatted, pen, |piece, pen| self.push(piece, pen));
    }

    fn push(&mut self, piece: &str, pen: Pen) {
        if piece.is_empty() {
            return;
        }
        if pen != self.last {
            self.runs.push((offset(self.text.len()), pen));
            self.last = pen;
        }
        self.text.push_str(piece);
    }

    /// Copies the line out into exactly sized storage.
    fn to_line(&self) -> Line {
        Line::new(&self.text, &self.runs)
    }

    /// Empties the builder for the next line, letting go of the room an
    /// unusually long line made.
    fn clear(&mut self) {
        const KEEP: usize = 64 * 1024;
        if self.text.capacity() > KEEP {
            self.text = String::new();
        }
        if self.runs.capacity() > KEEP / 16 {
            self.runs = Vec::new();
        }
        self.text.clear();
        self.runs.clear();
        self.last = Pen::default();
    }

    fn heap_bytes(&self) -> usize {
        alloc_size(self.text.capacity())
            + alloc_size(self.runs.capacity() * std::mem::size_of::<(u32, Pen)>())
    }
}

/// The state of the last line, which stays open until vt100 shows where it
/// ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tail {
    /// No line is open.
    None,
    /// A line is open and kept, in the builder.
    Open,
    /// A line is open but was evicted (capacity 0): rows that continue it are
    /// read for their pen and dropped.
    Hidden,
}

/// The rows that scrolled off a pane's screen, joined into lines, the oldest
/// evicted past `capacity` lines.
///
/// vt100 only shows that a row ended its line when the next row comes, so the
/// last line stays open: it is counted by [`History::len`] and reachable
/// through [`History::get`], and grows while further rows continue it.
#[derive(Debug)]
pub struct History {
    /// Finished lines, oldest first.
    lines: VecDeque<Line>,
    capacity: usize,
    /// The absolute number of `lines[0]`, counting every line ever pushed.
    first_number: u64,
    /// Reads the rows given to [`History::push`].
    capture: RowCapture,
    /// The pen in effect at the end of the last row pushed.
    pen: Pen,
    tail: Tail,
    /// The open line, while `tail` is [`Tail::Open`].
    builder: LineBuilder,
    /// The open line as a [`Line`], made on demand, reset by every push.
    tail_line: OnceLock<Line>,
    /// Every row ever pushed, so a view can tell how far the screen moved.
    rows_pushed: u64,
    /// The last row pushed was wrapped: the open line goes on in the
    /// screen's first row.
    open_wraps: bool,
}

/// The longest a line grows in the history. A program that never ends its
/// line (`yes | tr -d '\n'`) would otherwise grow one line without bound;
/// past this its text goes on in a new line.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Reads the rows vt100 hands to `Callbacks::on_scroll`, in order, as text
/// with formatting codes. Reading a row walks every cell of it, which is the
/// dearest part of keeping history, so each row is read once and the text
/// shared by whatever needs it.
#[derive(Default)]
pub struct RowCapture {
    /// The attributes the codes are relative to, and whether the previous
    /// row ended its line.
    state: vt100::capture::BasicFormattedCaptureState,
    text: String,
}

impl std::fmt::Debug for RowCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowCapture").finish_non_exhaustive()
    }
}

impl RowCapture {
    /// Reads `row`: its text with formatting codes, starting with a newline
    /// when the row before it ended its line, and whether this row ends its
    /// own (false when it wrapped into the next).
    pub fn capture(&mut self, row: &vt100::capture::RowContents<'_>) -> (&str, bool) {
        self.text.clear();
        // Writing to a String cannot fail.
        let _ = row.write_formatted_basic(&mut self.text, &mut self.state);
        // Whether this row ended its line shows only in how the next capture
        // starts; writing the row again with a copy of the state shows that
        // in its first character, and stops there.
        let mut first = FirstChar(None);
        let _ = row.write_formatted_basic(&mut first, &mut self.state.clone());
        (&self.text, first.0 == Some('\n'))
    }
}

/// A `fmt::Write` that keeps the first character written and then fails,
/// so a capture stops as soon as it has shown how it starts.
struct FirstChar(Option<char>);

impl std::fmt::Write for FirstChar {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.0.is_none() {
            self.0 = s.chars().next();
        }
        if self.0.is_some() {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

impl Default for History {
    fn default() -> Self {
        Self::new(0)
    }
}

impl History {
    /// Creates an empty history that keeps at most `capacity` lines. A
    /// capacity of 0 keeps nothing.
    pub fn new(capacity: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            capacity,
            first_number: 0,
            capture: RowCapture::default(),
            pen: Pen::default(),
            tail: Tail::None,
            builder: LineBuilder::default(),
            tail_line: OnceLock::new(),
            rows_pushed: 0,
            open_wraps: false,
        }
    }

    /// Takes in a row that scrolled off the screen; call it from
    /// `vt100::Callbacks::on_scroll`. A row that continues a wrapped row is
    /// joined to its line. Every row must come through here, in order, for
    /// the styles to be read right, since vt100 writes them as differences.
    pub fn push(&mut self, row: vt100::capture::RowContents<'_>) {
        let mut capture = std::mem::take(&mut self.capture);
        let (formatted, ended) = capture.capture(&row);
        self.push_captured(formatted, ended);
        self.capture = capture;
    }

    /// Takes in a row already read by a [`RowCapture`] that every row goes
    /// through, so one reading of a row can serve the log and the history.
    pub fn push_captured(&mut self, formatted: &str, ended: bool) {
        let body = match formatted.strip_prefix('\n') {
            Some(rest) => {
                self.end_line();
                rest
            }
            None => formatted,
        };
        self.extend_line(body);
        self.open_wraps = !ended;
        self.rows_pushed += 1;
        if self.builder.text.len() > MAX_LINE_BYTES {
            self.end_line();
        }
        self.evict();
    }

    /// Counts a row that scrolled off without reading it, because more
    /// lines are sure to follow than the history keeps: it and every line
    /// before it would be evicted before anyone could look. Those go now,
    /// keeping the numbering as if they had been pushed and evicted.
    pub fn skip_row(&mut self) {
        if self.tail == Tail::Open {
            self.first_number += 1;
        }
        self.first_number += self.lines.len() as u64 + 1;
        self.lines.clear();
        self.tail = Tail::None;
        self.builder.clear();
        self.tail_line = OnceLock::new();
        self.open_wraps = false;
        self.rows_pushed += 1;
    }

    /// Returns the newest line, the open last line if there is one.
    pub fn newest(&self) -> Option<&Line> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Takes the newest line back out, the open last line if there is one:
    /// a pane that grew taller shows it on its screen again. Numbering and
    /// the style carried from row to row stay as they were, so rows pushed
    /// after this are read as before.
    pub fn take_newest(&mut self) -> Option<Line> {
        self.tail_line = OnceLock::new();
        self.open_wraps = false;
        match std::mem::replace(&mut self.tail, Tail::None) {
            Tail::Open => {
                let line = self.builder.to_line();
                self.builder.clear();
                Some(line)
            }
            Tail::Hidden => None,
            Tail::None => self.lines.pop_back(),
        }
    }

    /// Returns how many rows were ever pushed.
    pub fn rows_pushed(&self) -> u64 {
        self.rows_pushed
    }

    /// Returns whether the last row pushed was wrapped, so that the open
    /// line goes on in the screen's first row.
    pub fn open_wraps(&self) -> bool {
        self.open_wraps && self.tail == Tail::Open
    }

    /// Finishes the open line, if any, and stores it.
    fn end_line(&mut self) {
        let tail = std::mem::replace(&mut self.tail, Tail::None);
        if tail != Tail::Open {
            return;
        }
        let line = self.builder.to_line();
        self.builder.clear();
        self.tail_line = OnceLock::new();
        while self.lines.len() >= self.capacity && self.lines.pop_front().is_some() {
            self.first_number += 1;
        }
        if self.lines.len() == self.lines.capacity() {
            // Grow by doubling, but never past the capacity, so a full
            // history has no slack.
            let len = self.lines.len();
            let target = (len * 2).max(64).min(self.capacity.max(len + 1));
            self.lines.reserve_exact(target - len);
        }
        self.lines.push_back(line);
    }

    /// Adds formatted text to the open line, opening one if needed.
    fn extend_line(&mut self, formatted: &str) {
        match self.tail {
            Tail::None => {
                self.tail = Tail::Open;
                self.builder.push_formatted(formatted, &mut self.pen);
            }
            Tail::Open => self.builder.push_formatted(formatted, &mut self.pen),
            Tail::Hidden => parse_formatted(formatted, &mut self.pen, |_, _| {}),
        }
        self.tail_line = OnceLock::new();
    }

    /// Drops the oldest lines until at most `capacity` are left.
    fn evict(&mut self) {
        while self.len() > self.capacity {
            if self.lines.pop_front().is_none() {
                // Only the open line is left, and the capacity is 0.
                self.tail = Tail::Hidden;
                self.builder.clear();
                self.tail_line = OnceLock::new();
            }
            self.first_number += 1;
        }
    }

    /// Returns the number of lines kept, the open last line included.
    pub fn len(&self) -> usize {
        self.lines.len() + usize::from(self.tail == Tail::Open)
    }

    /// Returns the number of finished lines kept: the open last line, if
    /// any, left out.
    pub fn finished(&self) -> usize {
        self.lines.len()
    }

    /// Returns whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns line `index`, 0 being the oldest kept; the open last line is
    /// at `len() - 1`.
    pub fn get(&self, index: usize) -> Option<&Line> {
        if index < self.lines.len() {
            return self.lines.get(index);
        }
        (index == self.lines.len() && self.tail == Tail::Open)
            .then(|| self.tail_line.get_or_init(|| self.builder.to_line()))
    }

    /// Returns the kept lines, oldest first, the open last line included.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Line> + '_ {
        let tail = (self.tail == Tail::Open)
            .then(|| self.tail_line.get_or_init(|| self.builder.to_line()));
        self.lines.iter().chain(tail)
    }

    /// Returns the absolute number of line 0: how many lines were evicted or
    /// cleared before it, so a view can hold on to a line while older ones go.
    pub fn first_number(&self) -> u64 {
        self.first_number
    }

    /// Returns the most lines kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the most lines kept, evicting the oldest lines over it at once.
    pub fn set_capacity(&mut self, lines: usize) {
        self.capacity = lines;
        self.evict();
        if self.lines.capacity() > lines.max(self.lines.len()) {
            self.lines.shrink_to(lines);
        }
    }

    /// Drops every kept line. Numbering goes on from where it was, and the
    /// style carried from row to row is kept; rows that continue the line
    /// open at the time start a line of their own.
    pub fn clear(&mut self) {
        self.first_number += self.len() as u64;
        self.lines = VecDeque::new();
        self.tail = Tail::None;
        self.builder.clear();
        self.tail_line = OnceLock::new();
    }

    /// Returns an estimate of the heap this history holds, for benchmarks:
    /// every allocation rounded as glibc's malloc rounds it.
    pub fn heap_bytes(&self) -> usize {
        let slots = alloc_size(self.lines.capacity() * std::mem::size_of::<Line>());
        let lines: usize = self.lines.iter().map(Line::heap_bytes).sum();
        let tail = self.tail_line.get().map_or(0, Line::heap_bytes);
        slots + lines + tail + self.builder.heap_bytes() + alloc_size(self.capture.text.capacity())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU16;

    /// Callbacks that feed every scrolled-off row into a history.
    struct Hooks {
        history: History,
    }

    impl vt100::Callbacks for Hooks {
        fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, _alternate: bool) {
            self.history.push(row);
        }
    }

    fn parser(rows: u16, cols: u16, capacity: usize) -> vt100::Parser<Hooks> {
        vt100::Parser::new_with_callbacks(
            NonZeroU16::new(rows).unwrap(),
            NonZeroU16::new(cols).unwrap(),
            0,
            Hooks {
                history: History::new(capacity),
            },
        )
    }

    /// Prints `output` on a two-row screen `cols` wide, then two newlines so
    /// that every row it drew has scrolled into the history.
    fn capture(cols: u16, capacity: usize, output: &str) -> History {
        let mut vt = parser(2, cols, capacity);
        vt.process(output.as_bytes());
        vt.process(b"\r\n\r\n");
        std::mem::take(&mut vt.callbacks_mut().history)
    }

    fn texts(history: &History) -> Vec<&str> {
        history.iter().map(Line::text).collect()
    }

    fn fg(c: vt100::Color) -> Pen {
        Pen {
            fg: c,
            ..Pen::default()
        }
    }

    #[test]
    fn lines_are_kept_in_order_and_the_oldest_evicted() {
        let output = (1..=10)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("\r\n");
        let history = capture(20, 3, &output);
        assert_eq!(texts(&history), ["8", "9", "10"]);
        assert_eq!(history.len(), 3);
        assert_eq!(history.first_number(), 7);
        assert_eq!(history.get(3), None);

        // More output moves the window and the numbering on.
        let mut vt = parser(2, 20, 3);
        vt.process(output.as_bytes());
        let before = vt.callbacks().history.first_number();
        vt.process(b"\r\n11\r\n12");
        let history = &vt.callbacks().history;
        assert_eq!(texts(history), ["8", "9", "10"]);
        assert_eq!(history.first_number(), before + 2);
    }

    #[test]
    fn set_capacity_and_clear_keep_the_numbering() {
        let output = (1..=10)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("\r\n");
        let mut history = capture(20, 100, &output);
        assert_eq!(history.len(), 10);
        history.set_capacity(4);
        assert_eq!(texts(&history), ["7", "8", "9", "10"]);
        assert_eq!(history.first_number(), 6);
        history.clear();
        assert!(history.is_empty());
        assert_eq!(history.first_number(), 10);
        assert_eq!(history.get(0), None);
    }

    #[test]
    fn styles_are_kept() {
        let history = capture(
            80,
            10,
            "\x1b[31mred\x1b[0m \x1b[1mbold\x1b[0m \x1b[38;5;200mpink\x1b[0m \
             \x1b[38;2;1;2;3mrgb\x1b[0m \x1b[7minv\x1b[0m \x1b[2;3;4;91;101mall\x1b[0m end",
        );
        let line = history.get(0).unwrap();
        assert_eq!(line.text(), "red bold pink rgb inv all end");
        let at = |word: &str| line.pen_at(line.text().find(word).unwrap());
        assert_eq!(at("red"), fg(vt100::Color::Idx(1)));
        assert!(at("bold").bold() && !at("bold").dim());
        assert_eq!(at("bold").fg, vt100::Color::Default);
        assert_eq!(at("pink"), fg(vt100::Color::Idx(200)));
        assert_eq!(at("rgb"), fg(vt100::Color::Rgb(1, 2, 3)));
        assert!(at("inv").inverse() && !at("inv").bold());
        let all = at("all");
        assert!(all.dim() && all.italic() && all.underline() && !all.bold() && !all.inverse());
        assert_eq!(
            (all.fg, all.bg),
            (vt100::Color::Idx(9), vt100::Color::Idx(9))
        );
        assert!(at("end").is_default());
        // The spaces between words are in the default pen.
        assert!(line.pen_at(3).is_default());
        let spans: Vec<_> = line.spans().map(|(r, _)| &line.text()[r]).collect();
        assert_eq!(spans[..4], ["red", " ", "bold", " "]);
        assert_eq!(spans.concat(), line.text());
    }

    #[test]
    fn a_colour_set_on_one_line_carries_to_the_next() {
        let history = capture(
            40,
            10,
            "plain\r\n\x1b[32;44mgreen\r\nstill green\r\n\x1b[mplain again",
        );
        assert_eq!(
            texts(&history),
            ["plain", "green", "still green", "plain again"]
        );
        let green = Pen {
            fg: vt100::Color::Idx(2),
            bg: vt100::Color::Idx(4),
            ..Pen::default()
        };
        assert!(history.get(0).unwrap().pen_at(0).is_default());
        assert_eq!(history.get(1).unwrap().pen_at(0), green);
        let still = history.get(2).unwrap();
        assert!(still.cells().all(|c| c.pen == green));
        assert!(history.get(3).unwrap().pen_at(0).is_default());
    }

    #[test]
    fn from_formatted_carries_the_pen_in_and_out() {
        let mut pen = Pen::default();
        let first = Line::from_formatted("a\x1b[31mb", &mut pen);
        assert_eq!(pen, fg(vt100::Color::Idx(1)));
        let second = Line::from_formatted("c\x1b[mdef", &mut pen);
        assert!(pen.is_default());
        assert!(first.pen_at(0).is_default());
        assert_eq!(first.pen_at(1), fg(vt100::Color::Idx(1)));
        assert_eq!(second.pen_at(0), fg(vt100::Color::Idx(1)));
        assert!(second.pen_at(1).is_default());
        assert_eq!(second.text(), "cdef");
        assert_eq!(second.spans().count(), 2);
    }

    #[test]
    fn wide_characters_keep_their_width() {
        let history = capture(20, 10, "中文ab字\r\ne\u{301}x\r\n\u{2764}\u{FE0F}x");
        let line = history.get(0).unwrap();
        assert_eq!(line.text(), "中文ab字");
        assert_eq!(line.width(), 8);
        let cells: Vec<_> = line.cells().map(|c| (c.text, c.col, c.width)).collect();
        assert_eq!(
            cells,
            [
                ("中", 0, 2),
                ("文", 2, 2),
                ("a", 4, 1),
                ("b", 5, 1),
                ("字", 6, 2)
            ]
        );
        assert_eq!(line.column_of(3), 2);
        assert_eq!(line.column_of(6), 4);
        assert_eq!(line.column_of(100), 8);

        // At 5 columns, 字 does not fit after "ab" and starts the next row.
        assert_eq!(line.rows(5), 2);
        assert_eq!(&line.text()[line.row_range(5, 0)], "中文a");
        assert_eq!(&line.text()[line.row_range(5, 1)], "b字");
        // At 3 columns, 文 and b each move on too.
        assert_eq!(line.rows(3), 3);
        let rows: Vec<_> = (0..3).map(|r| &line.text()[line.row_range(3, r)]).collect();
        assert_eq!(rows, ["中", "文a", "b字"]);
        assert_eq!(line.row_range(3, 9), line.text().len()..line.text().len());

        // A combining accent stays in the cell of its letter.
        let accent = history.get(1).unwrap();
        assert_eq!(accent.width(), 2);
        let cells: Vec<_> = accent.cells().map(|c| (c.text, c.width)).collect();
        assert_eq!(cells, [("e\u{301}", 1), ("x", 1)]);

        // An emoji presentation selector widens its cell, as in vt100.
        let heart = history.get(2).unwrap();
        let cells: Vec<_> = heart.cells().map(|c| (c.text, c.col, c.width)).collect();
        assert_eq!(cells, [("\u{2764}\u{FE0F}", 0, 2), ("x", 2, 1)]);
        assert_eq!(heart.width(), 3);
    }

    #[test]
    fn a_wide_character_that_does_not_fit_moves_to_the_next_row() {
        let mut pen = Pen::default();
        let line = Line::from_formatted("ab中", &mut pen);
        assert_eq!(line.rows(3), 2);
        assert_eq!(line.row_range(3, 0), 0..2);
        assert_eq!(line.row_range(3, 1), 2..5);
        assert_eq!(line.rows(4), 1);
        assert_eq!(line.rows(1), 3);
    }

    #[test]
    fn wrapped_rows_are_joined_into_one_line() {
        let history = capture(10, 10, "0123456789abcdefghij012\r\nnext");
        assert_eq!(texts(&history), ["0123456789abcdefghij012", "next"]);
        let line = history.get(0).unwrap();
        assert_eq!(line.width(), 23);
        assert_eq!(line.rows(10), 3);
        assert_eq!(line.row_range(10, 2), 20..23);
        assert_eq!(line.rows(80), 1);
        assert_eq!(line.rows(0), 23);
        assert_eq!(history.get(1).unwrap().rows(10), 1);

        // A styled wrapped line keeps its pen across the join.
        let history = capture(4, 10, "\x1b[31mabcdef\x1b[m");
        let line = history.get(0).unwrap();
        assert_eq!(line.text(), "abcdef");
        assert!(line.cells().all(|c| c.pen == fg(vt100::Color::Idx(1))));
    }

    #[test]
    fn the_open_line_is_visible_and_grows() {
        let mut vt = parser(2, 4, 10);
        vt.process(b"abcdefghij");
        // "abcd" has scrolled off, wrapped, so its line is still open.
        assert_eq!(texts(&vt.callbacks().history), ["abcd"]);
        vt.process(b"klmn");
        assert_eq!(texts(&vt.callbacks().history), ["abcdefgh"]);
        vt.process(b"\r\n\r\n\r\n");
        assert_eq!(texts(&vt.callbacks().history), ["abcdefghijklmn", ""]);
    }

    #[test]
    fn blank_middles_are_kept_and_trailing_blanks_dropped() {
        // The cursor moves over the gaps, leaving blank cells.
        // Erased cells at the end of a row are blank too; spaces the program
        // wrote are text, and stay.
        let history = capture(
            20,
            10,
            "a\x1b[3Cb\tc\r\n\x1b[5Cd\r\nx   \x1b[3D\x1b[K\r\ny  ",
        );
        assert_eq!(texts(&history), ["a   b   c", "     d", "x", "y  "]);
        assert_eq!(history.get(0).unwrap().width(), 9);
    }

    #[test]
    fn capacity_zero_keeps_nothing() {
        let mut vt = parser(2, 4, 0);
        vt.process(b"one\r\ntwo\r\nabcdefghijkl\r\nend\r\n\r\n");
        let history = &mut vt.callbacks_mut().history;
        assert_eq!(history.len(), 0);
        assert!(history.is_empty());
        assert_eq!(history.get(0), None);
        assert_eq!(history.iter().count(), 0);
        assert_eq!(history.first_number(), 4);
        assert!(history.heap_bytes() < 256);

        // Raised later, it keeps what comes next, with the pen carried
        // through the rows it dropped: "cd" comes with no escape code, since
        // vt100 already wrote the red for "ab".
        let mut vt = parser(2, 4, 0);
        vt.process(b"\x1b[31mab\r\ncd\r\n");
        assert!(vt.callbacks().history.is_empty());
        vt.callbacks_mut().history.set_capacity(5);
        vt.process(b"\r\n");
        let history = &vt.callbacks().history;
        assert_eq!(texts(history), ["cd"]);
        assert_eq!(history.get(0).unwrap().pen_at(0), fg(vt100::Color::Idx(1)));
    }

    #[test]
    fn two_hundred_thousand_lines_fit_in_well_under_two_megabytes() {
        const ROWS: u16 = 24;
        let mut vt = parser(ROWS, 80, 10_000);
        // `seq`, then enough lines that exactly 200,000 rows scroll off: the
        // last ROWS - 1 stay on screen above the cursor's empty row.
        let last = 200_000 + u32::from(ROWS) - 1;
        let mut chunk = String::new();
        for n in 1..=last {
            chunk.push_str(&n.to_string());
            chunk.push_str("\r\n");
            if chunk.len() > 64 * 1024 {
                vt.process(chunk.as_bytes());
                chunk.clear();
            }
        }
        vt.process(chunk.as_bytes());
        let history = &vt.callbacks().history;
        assert_eq!(history.len(), 10_000);
        assert_eq!(history.get(0).unwrap().text(), "190001");
        assert_eq!(history.get(9_999).unwrap().text(), "200000");
        assert_eq!(history.first_number(), 190_000);
        let heap = history.heap_bytes();
        eprintln!("heap_bytes for 10,000 of 200,000 lines: {heap}");
        // Each kept line is a 24-byte slot in the deque that holds its 6
        // bytes of text too: 240 kB in all.
        assert_eq!(std::mem::size_of::<Line>(), 24);
        assert!(heap < 260_000, "heap_bytes = {heap}");
    }

    #[test]
    fn lines_kept_inline_or_in_a_block_read_back_the_same() {
        let red = fg(vt100::Color::Idx(1));
        let rgb = Pen::with(
            vt100::Color::Rgb(1, 2, 3),
            vt100::Color::Rgb(250, 251, 252),
            [true, false, true, true, true],
        );
        let long = "x".repeat(INLINE + 1);
        let cases: [&[(&str, Pen)]; 5] = [
            &[("plain and short", Pen::default())],
            &[(&long, Pen::default())],
            &[("a", Pen::default()), ("b", red), ("c", rgb)],
            &[("wide 世界", Pen::default())],
            &[("", Pen::default())],
        ];
        for pieces in cases {
            let line = Line::from_pieces(pieces.iter().copied());
            let text: String = pieces.iter().map(|(t, _)| *t).collect();
            assert_eq!(line.text(), text);
            let width: usize = line.cells().map(|c| usize::from(c.width)).sum();
            assert_eq!(line.width(), width, "{text:?}");
            let got: Vec<(&str, Pen)> = line.pieces().collect();
            let want: Vec<(&str, Pen)> = pieces
                .iter()
                .copied()
                .filter(|(t, _)| !t.is_empty())
                .collect();
            assert_eq!(got, want);
            for (byte, _) in text.char_indices() {
                let mut at = 0;
                let pen = pieces
                    .iter()
                    .find(|(t, _)| {
                        at += t.len();
                        byte < at
                    })
                    .map_or(Pen::default(), |(_, pen)| *pen);
                assert_eq!(line.pen_at(byte), pen, "{text:?} at {byte}");
            }
        }
        // Only a short ASCII line in the default pen goes without a block.
        assert_eq!(
            Line::from_pieces([("short", Pen::default())]).heap_bytes(),
            0
        );
        assert!(Line::from_pieces([("short", red)]).heap_bytes() > 0);
        assert!(Line::from_pieces([(long.as_str(), Pen::default())]).heap_bytes() > 0);
    }

    #[test]
    fn rows_are_counted_and_a_wrap_onto_the_screen_is_known() {
        let mut vt = parser(2, 10, 100);
        vt.process(b"one\r\ntwo\r\n");
        let history = &vt.callbacks().history;
        assert_eq!(history.rows_pushed(), 1);
        assert!(!history.open_wraps(), "\"one\" ended its line");
        // 23 characters on ten columns: three rows, the first of which
        // scrolls off while the line goes on on screen.
        vt.process(b"0123456789abcdefghijklm");
        let history = &vt.callbacks().history;
        assert_eq!(history.rows_pushed(), 3);
        assert!(history.open_wraps());
        assert_eq!(texts(history), ["one", "two", "0123456789"]);
    }

    #[test]
    fn a_line_that_never_ends_is_cut_into_bounded_lines() {
        let mut vt = parser(2, 100, 1000);
        let chunk = "y".repeat(100);
        for _ in 0..(3 * MAX_LINE_BYTES / 100) {
            vt.process(chunk.as_bytes());
        }
        let history = &vt.callbacks().history;
        assert!(history.len() >= 3, "{} lines", history.len());
        assert!(
            history
                .iter()
                .all(|l| l.text().len() <= MAX_LINE_BYTES + 100)
        );
        let kept: usize = history.iter().map(|l| l.text().len()).sum();
        assert_eq!(kept as u64, history.rows_pushed() * 100, "no text lost");
    }
}
