//! Copies a vt100 screen into a ratatui buffer cell by cell, so nothing a
//! program prints reaches the outer terminal except as cells opmux draws.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};

/// Draws `screen` into `area`, clipped to it. The area is expected blank, as
/// it is in a new frame: blank cells of the screen are not written again. A
/// wide character that would straddle the right edge is drawn as a blank, so
/// it never spills into the neighbouring pane or border.
pub fn draw_screen(buf: &mut Buffer, area: Rect, screen: &vt100::Screen) {
    let area = area.intersection(buf.area);
    let (rows, cols) = screen.size();
    for row in 0..area.height.min(rows.get()) {
        for col in 0..area.width.min(cols.get()) {
            let Some(cell) = screen.cell(row, col) else {
                continue;
            };
            // The frame starts blank, so a blank cell with nothing that shows
            // on a blank (background, inverse, underline) needs no write.
            if cell.is_wide_continuation() || is_plain_blank(cell) {
                continue;
            }
            let (x, y) = (area.x + col, area.y + row);
            let style = cell_style(cell);
            let text = cell.contents();
            if cell.is_wide() {
                if col + 1 >= area.width {
                    buf[(x, y)].set_symbol(" ").set_style(style);
                    continue;
                }
                buf[(x, y)].set_symbol(text).set_style(style);
                // The cell under the right half stays blank, as ratatui expects.
                buf[(x + 1, y)].set_symbol(" ").set_style(style);
            } else {
                buf[(x, y)]
                    .set_symbol(if text.is_empty() { " " } else { text })
                    .set_style(style);
            }
        }
    }
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
