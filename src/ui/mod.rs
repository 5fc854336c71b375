//! Drawing, and nothing else: `render` reads an [`App`] and fills a ratatui
//! frame with the panes, their titles, the status line and the help overlay.
//! It never changes state, so the same `App` always draws the same frame.

mod pane;

use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};

use crate::app::App;
use crate::keys::KEY_HELP;
use crate::layout;
use crate::pane::{Pane, PaneState};
use crate::process::ExitStatus;

pub use pane::draw_screen;

const FOCUS: Color = Color::Cyan;
const MUTED: Color = Color::DarkGray;

pub fn render(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    if area.area() == 0 {
        return;
    }
    for (index, (pane, rect)) in app.panes.iter().zip(app.pane_rects()).enumerate() {
        let Some(rect) = rect else { continue };
        let focused = index == app.focus;
        let block = pane_block(pane, index, focused, now);
        let inner = layout::inner(rect);
        frame.render_widget(block, rect);
        let screen = pane.screen();
        draw_screen(frame.buffer_mut(), inner, screen.vt());
        if focused && !app.show_help && !screen.vt().hide_cursor() {
            // While a wrap is pending vt100 puts the column one past the
            // edge; terminals show the cursor on the last column then.
            let (row, col) = screen.vt().cursor_position();
            if row < inner.height && inner.width > 0 {
                frame.set_cursor_position((inner.x + col.min(inner.width - 1), inner.y + row));
            }
        }
    }
    let status = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    frame.render_widget(status_line(app, now), status);
    if app.show_help {
        help_overlay(frame, app.panes_area(), &app.keymap.prefix_label());
    }
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

fn exit_label(status: ExitStatus) -> String {
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

fn pane_block(pane: &Pane, index: usize, focused: bool, now: Instant) -> Block<'static> {
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
    let mut title = vec![
        Span::raw(" "),
        Span::styled(format!(" {} {} ", index + 1, pane.spec.name), name_style),
        Span::raw(" "),
        Span::styled(state, state_style),
        Span::raw(" "),
    ];
    if let Some(error) = &pane.error {
        title.push(Span::styled(
            format!("! {error} "),
            Style::new().fg(Color::Red),
        ));
    }
    let (border_type, border_style) = if focused {
        (BorderType::Thick, Style::new().fg(FOCUS))
    } else {
        (BorderType::Plain, Style::new().fg(MUTED))
    };
    Block::bordered()
        .border_type(border_type)
        .border_style(border_style)
        .title(Line::from(title))
}

fn status_line(app: &App, now: Instant) -> Paragraph<'static> {
    let mut spans = Vec::new();
    if app.keymap.armed() {
        spans.push(Span::styled(
            format!(" {} ", app.keymap.prefix_label()),
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    for (index, pane) in app.panes.iter().enumerate() {
        let mut style = if index == app.focus {
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
    let p = app.keymap.prefix_label();
    let hint = match app.shutdown {
        Some(s) if s.killed => " killing… ".to_string(),
        Some(s) => {
            let left = s
                .deadline
                .saturating_duration_since(now)
                .as_secs_f64()
                .ceil();
            format!(" stopping, kill in {left:.0}s · {p} q kills now ")
        }
        None if app.zoomed => format!(" zoomed · {p} z unzoom · {p} ? help · {p} q quit "),
        None => format!(" {p} ? help · {p} q quit "),
    };
    spans.push(Span::styled(hint, Style::new().fg(MUTED)));
    if let Some(notice) = &app.notice {
        spans.push(Span::styled(
            format!(" ! {notice} "),
            Style::new().fg(Color::Red),
        ));
    }
    Paragraph::new(Line::from(spans))
}

fn help_overlay(frame: &mut Frame, area: Rect, prefix: &str) {
    // The keys as this run has them: C-b stands for the configured prefix.
    let keys: Vec<(String, &str)> = KEY_HELP
        .iter()
        .map(|(k, what)| (k.replace("C-b", prefix), *what))
        .collect();
    let key_width = keys
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let lines: Vec<Line> = keys
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {key:<key_width$}  "),
                    Style::new().fg(FOCUS).add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!("{what} ")),
            ])
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
