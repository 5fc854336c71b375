//! Copies a vt100 screen into a ratatui buffer cell by cell, so nothing a
//! program prints reaches the outer terminal except as cells opmux draws.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

use crate::pane::history::Pen;
use crate::scroll::{Lines, Scroll};

/// Draws `screen` into `area`, clipped to it. The area is expected blank, as
/// it is in a new frame: blank cells of the screen are not written again. A
/// wide character that would straddle the right edge is drawn as a blank, so
/// it never spills into the neighbouring pane or border.
pub fn draw_screen(buf: &mut Buffer, area: Rect, screen: &vt100::Screen) {
    draw_screen_rows(buf, area, screen, 0..area.height);
}

/// Draws `rows` of `screen` into the same rows of `area`, as [`draw_screen`]
/// draws them all.
pub(super) fn draw_screen_rows(
    buf: &mut Buffer,
    area: Rect,
    screen: &vt100::Screen,
    rows: std::ops::Range<u16>,
) {
    let area = area.intersection(buf.area);
    let end = rows.end.min(area.height).min(screen.size().0.get());
    for row in rows.start..end {
        draw_screen_row(buf, area, row, screen, row);
    }
}

/// Draws row `row` of `screen` as row `y` of `area`.
fn draw_screen_row(buf: &mut Buffer, area: Rect, y: u16, screen: &vt100::Screen, row: u16) {
    let (_, cols) = screen.size();
    for col in 0..area.width.min(cols.get()) {
        let Some(cell) = screen.cell(row, col) else {
            continue;
        };
        // The frame starts blank, so a blank cell with nothing that shows
        // on a blank (background, inverse, underline) needs no write.
        if cell.is_wide_continuation() || is_plain_blank(cell) {
            continue;
        }
        let text = cell.contents();
        let text = if text.is_empty() { " " } else { text };
        put(buf, area, col, y, text, cell.is_wide(), cell_style(cell));
    }
}

/// Writes one character at column `col`, row `y` of `area`. A wide one that
/// would straddle the right edge is drawn as a blank.
fn put(buf: &mut Buffer, area: Rect, col: u16, y: u16, text: &str, wide: bool, style: Style) {
    let (x, y) = (area.x + col, area.y + y);
    if wide && col + 1 >= area.width {
        buf[(x, y)].set_symbol(" ").set_style(style);
        return;
    }
    buf[(x, y)].set_symbol(text).set_style(style);
    if wide {
        // The cell under the right half stays blank, as ratatui expects.
        buf[(x + 1, y)].set_symbol(" ").set_style(style);
    }
}

/// Matches of the search, drawn black on yellow.
const MATCH: Style = Style::new().fg(Color::Black).bg(Color::Yellow);
/// The match the cursor is on.
const CURRENT_MATCH: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::LightMagenta)
    .add_modifier(Modifier::BOLD);
/// Selected text.
const SELECTED: Style = Style::new().fg(Color::Black).bg(Color::LightBlue);

/// Draws scroll mode's view of a pane: history rows from the compact store,
/// screen rows from the screen, with search matches and the selection
/// highlighted.
pub fn draw_view(
    buf: &mut Buffer,
    area: Rect,
    lines: &Lines<'_>,
    vt: &vt100::Screen,
    scroll: &Scroll,
) {
    let area = area.intersection(buf.area);
    let mut pos = lines.clamp(scroll.top).min(lines.live_top());
    let selection = scroll.selection();
    for y in 0..area.height {
        let Some((line, range, start_col)) = lines.row_span(pos) else {
            break;
        };
        if lines.on_screen(pos.line) {
            let row = (pos.line - lines.screen_start()) as u16;
            draw_screen_row(buf, area, y, vt, row);
        } else {
            for cell in line.cells() {
                if cell.byte < range.start || cell.text.trim().is_empty() && cell.pen.is_default() {
                    continue;
                }
                if cell.byte >= range.end {
                    break;
                }
                let Ok(col) = u16::try_from(cell.col - start_col) else {
                    break;
                };
                if col >= area.width {
                    break;
                }
                put(
                    buf,
                    area,
                    col,
                    y,
                    cell.text,
                    cell.width > 1,
                    pen_style(cell.pen),
                );
            }
        }
        let mut paint = |from: usize, to: usize, style: Style| {
            for col in from..to.min(usize::from(area.width)) {
                buf[(area.x + col as u16, area.y + y)].set_style(style);
            }
        };
        if let Some(search) = &scroll.search {
            for m in search.pattern.find_iter(line.text()) {
                let (from, to) = (m.start().max(range.start), m.end().min(range.end));
                if from >= to {
                    continue;
                }
                let current = search
                    .current
                    .as_ref()
                    .is_some_and(|(n, r)| *n == pos.line && *r == m.range());
                paint(
                    line.column_of(from) - start_col,
                    line.column_of(to) - start_col,
                    if current { CURRENT_MATCH } else { MATCH },
                );
            }
        }
        if let Some((a, b)) = selection
            && a.at <= pos
            && pos <= b.at
        {
            let from = if pos == a.at { a.col } else { 0 };
            let to = if pos == b.at {
                b.col + 1
            } else {
                usize::from(area.width)
            };
            paint(from, to, SELECTED);
        }
        let next = lines.down(pos, 1);
        if next == pos {
            break;
        }
        pos = next;
    }
}

fn pen_style(pen: Pen) -> Style {
    let mut modifier = Modifier::empty();
    modifier.set(Modifier::BOLD, pen.bold());
    modifier.set(Modifier::DIM, pen.dim());
    modifier.set(Modifier::ITALIC, pen.italic());
    modifier.set(Modifier::UNDERLINED, pen.underline());
    modifier.set(Modifier::REVERSED, pen.inverse());
    Style::new()
        .fg(color(pen.fg))
        .bg(color(pen.bg))
        .add_modifier(modifier)
}

fn is_plain_blank(cell: &vt100::Cell) -> bool {
    !cell.has_contents()
        && cell.bgcolor() == vt100::Color::Default
        && !cell.inverse()
        && !cell.underline()
}

fn cell_style(cell: &vt100::Cell) -> Style {
    let mut style = Style::new()
        .fg(color(cell.fgcolor()))
        .bg(color(cell.bgcolor()));
    let mut modifier = Modifier::empty();
    modifier.set(Modifier::BOLD, cell.bold());
    modifier.set(Modifier::DIM, cell.dim());
    modifier.set(Modifier::ITALIC, cell.italic());
    modifier.set(Modifier::UNDERLINED, cell.underline());
    modifier.set(Modifier::REVERSED, cell.inverse());
    style = style.add_modifier(modifier);
    style
}

/// The first 16 indexed colours map to the named ones, so they are sent as the
/// classic SGR 30–37/90–97 codes and follow the user's palette.
fn color(color: vt100::Color) -> Color {
    match color {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => match i {
            0 => Color::Black,
            1 => Color::Red,
            2 => Color::Green,
            3 => Color::Yellow,
            4 => Color::Blue,
            5 => Color::Magenta,
            6 => Color::Cyan,
            7 => Color::Gray,
            8 => Color::DarkGray,
            9 => Color::LightRed,
            10 => Color::LightGreen,
            11 => Color::LightYellow,
            12 => Color::LightBlue,
            13 => Color::LightMagenta,
            14 => Color::LightCyan,
            15 => Color::White,
            i => Color::Indexed(i),
        },
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}
