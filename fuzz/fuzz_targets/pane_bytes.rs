//! Arbitrary program output into a pane's screen and history, with resizes
//! between chunks, scroll mode and searches, each step drawn: no panic.
#![no_main]

#[path = "common.rs"]
mod common;

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use libfuzzer_sys::fuzz_target;
use opmux::event::Event;

fn key(app: &mut opmux::app::App, code: KeyCode, modifiers: KeyModifiers) {
    app.update(Event::Key(KeyEvent::new(code, modifiers)), Instant::now());
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let size = bytes.size();
    let mut app = common::app(2, size);
    let mut screen = common::Screen::new(size);
    while !bytes.is_empty() {
        let op = bytes.byte();
        match op % 16 {
            0 => {
                let size = bytes.size();
                app.update(Event::Resize(size), Instant::now());
            }
            1 => {
                // Scroll mode, a search for a pattern from the input, a move.
                key(&mut app, KeyCode::Char('b'), KeyModifiers::CONTROL);
                key(&mut app, KeyCode::Char('['), KeyModifiers::NONE);
                key(&mut app, KeyCode::Char('/'), KeyModifiers::NONE);
                let len = usize::from(bytes.byte() % 8);
                let pattern = String::from_utf8_lossy(bytes.take(len)).into_owned();
                for c in pattern.chars() {
                    key(&mut app, KeyCode::Char(c), KeyModifiers::NONE);
                }
                key(&mut app, KeyCode::Enter, KeyModifiers::NONE);
                let moves = [
                    KeyCode::Up,
                    KeyCode::PageUp,
                    KeyCode::Char('n'),
                    KeyCode::Char('v'),
                ];
                key(
                    &mut app,
                    moves[usize::from(bytes.byte()) % moves.len()],
                    KeyModifiers::NONE,
                );
            }
            2 => key(&mut app, KeyCode::Esc, KeyModifiers::NONE),
            3 => screen.draw(&app),
            _ => {
                let pane = usize::from(op >> 7);
                let len = usize::from(bytes.byte());
                let chunk = bytes.take(len);
                app.panes[pane].screen().process(chunk);
            }
        }
        screen.draw(&app);
    }
});
