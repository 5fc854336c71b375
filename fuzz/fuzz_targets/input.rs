//! Arbitrary keys, mouse events and pastes through the prefix machine, the
//! prompt, scroll mode and the encoders, with the panes' programs asking for
//! every input mode: no panic.
#![no_main]

#[path = "common.rs"]
mod common;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use libfuzzer_sys::fuzz_target;
use opmux::event::Event;

fn code(bytes: &mut common::Bytes) -> KeyCode {
    let b = bytes.byte();
    match b % 24 {
        0 => KeyCode::Enter,
        1 => KeyCode::Esc,
        2 => KeyCode::Backspace,
        3 => KeyCode::Tab,
        4 => KeyCode::BackTab,
        5 => KeyCode::Up,
        6 => KeyCode::Down,
        7 => KeyCode::Left,
        8 => KeyCode::Right,
        9 => KeyCode::Home,
        10 => KeyCode::End,
        11 => KeyCode::PageUp,
        12 => KeyCode::PageDown,
        13 => KeyCode::Delete,
        14 => KeyCode::Insert,
        15 => KeyCode::F(bytes.byte() % 26),
        16 => KeyCode::Null,
        _ => {
            let c = u32::from_le_bytes([bytes.byte(), bytes.byte(), bytes.byte() % 0x11, 0]);
            KeyCode::Char(char::from_u32(c).unwrap_or(char::from(b)))
        }
    }
}

fn button(b: u8) -> MouseButton {
    [MouseButton::Left, MouseButton::Right, MouseButton::Middle][usize::from(b % 3)]
}

/// Input modes a program can ask for, to be fed to a pane's screen.
const MODES: &[&[u8]] = &[
    b"\x1b[?1h",
    b"\x1b[?1l",
    b"\x1b[?2004h",
    b"\x1b[?1000h",
    b"\x1b[?1002h",
    b"\x1b[?1003h",
    b"\x1b[?1006h",
    b"\x1b[?1005h",
    b"\x1b[?1000l",
    b"\x1b[?1049h",
    b"\x1b[?1049l",
];

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let size = bytes.size();
    let mut app = common::app(3, size);
    let mut screen = common::Screen::new(size);
    while !bytes.is_empty() {
        let op = bytes.byte();
        let modifiers = KeyModifiers::from_bits_truncate(bytes.byte());
        let event = match op % 8 {
            0..=3 => Event::Key(KeyEvent::new(code(&mut bytes), modifiers)),
            4 => {
                let b = bytes.byte();
                let kind = match b % 9 {
                    0 => MouseEventKind::Down(button(b / 9)),
                    1 => MouseEventKind::Up(button(b / 9)),
                    2 => MouseEventKind::Drag(button(b / 9)),
                    3 => MouseEventKind::Moved,
                    4 => MouseEventKind::ScrollDown,
                    5 => MouseEventKind::ScrollUp,
                    6 => MouseEventKind::ScrollLeft,
                    _ => MouseEventKind::ScrollRight,
                };
                let (column, row) = (u16::from(bytes.byte()), u16::from(bytes.byte()));
                Event::Mouse(MouseEvent {
                    kind,
                    column,
                    row,
                    modifiers,
                })
            }
            5 => {
                let len = usize::from(bytes.byte() % 32);
                Event::Paste(String::from_utf8_lossy(bytes.take(len)).into_owned())
            }
            6 => {
                let pane = usize::from(bytes.byte() % 3);
                app.panes[pane]
                    .screen()
                    .process(MODES[usize::from(bytes.byte()) % MODES.len()]);
                continue;
            }
            _ => Event::Resize(bytes.size()),
        };
        app.update(event, Instant::now());
        screen.draw(&app);
    }
});
