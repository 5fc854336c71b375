//! Mouse reports for the program in a pane, and the OSC 52 sequence that sets
//! the system clipboard; pure, with no I/O.
//!
//! opmux captures the mouse in the outer terminal. When the program in a pane
//! has turned mouse reporting on (DECSET 9, 1000, 1002 or 1003, which vt100
//! exposes as a [`MouseProtocolMode`]), events over that pane belong to the
//! program, encoded as it asked (the default encoding, UTF-8 with 1005 or SGR
//! with 1006: a [`MouseProtocolEncoding`]). This module owns two decisions:
//! which events a mode reports ([`wants`]) and the bytes of a report
//! ([`encode`]), following xterm's ctlseqs. It also builds the OSC 52 sequence
//! for copying text to the system clipboard ([`osc52`]).
//!
//! Left to the caller: finding the pane under the pointer and making the
//! coordinates relative to its inner area, what opmux does with events the
//! program does not want (focus, scrollback, selection), writing the report to
//! the pane's PTY and the OSC 52 sequence to the outer terminal, and limiting
//! the size of what is copied. Motion is reported once per event; the outer
//! terminal already reports motion only when the pointer enters another cell.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crossterm::event::{KeyModifiers, MouseButton, MouseEventKind};
use vt100::{MouseProtocolEncoding, MouseProtocolMode};

/// Added to a button code when the event is motion rather than a press.
const MOTION: u32 = 32;
/// The button code of a release in the default and UTF-8 encodings, which do
/// not say which button was released; also the code of motion with no button.
const NO_BUTTON: u32 = 3;
/// The button code of the wheel scrolled up; down, left and right follow it.
const WHEEL: u32 = 64;
/// Added to every value of the default and UTF-8 encodings so that it is printable.
const OFFSET: u32 = 32;
/// The largest value the UTF-8 encoding can carry: xterm's 1005 mode writes
/// at most two bytes of UTF-8.
const MAX_UTF8_VALUE: u32 = 0x7ff;

/// Whether a program in `mode` wants events of this kind, so that the caller
/// can decide between forwarding an event and using it itself.
///
/// - `None`: nothing.
/// - `Press` (X10, mode 9): button presses only. The wheel is not reported:
///   X10 programs predate it, and xterm would send the raw X button number
///   (4 or 5), which such a program reads as a press of another button. The
///   caller is free to use the wheel itself, for example to scroll back.
/// - `PressRelease` (1000): presses, releases and the wheel.
/// - `ButtonMotion` (1002): those, plus motion while a button is held (a drag).
/// - `AnyMotion` (1003): those, plus motion with no button held.
pub fn wants(kind: MouseEventKind, mode: MouseProtocolMode) -> bool {
    use MouseEventKind as K;
    let press_release = matches!(
        kind,
        K::Down(_) | K::Up(_) | K::ScrollUp | K::ScrollDown | K::ScrollLeft | K::ScrollRight
    );
    match mode {
        MouseProtocolMode::None => false,
        MouseProtocolMode::Press => matches!(kind, K::Down(_)),
        MouseProtocolMode::PressRelease => press_release,
        MouseProtocolMode::ButtonMotion => press_release || matches!(kind, K::Drag(_)),
        MouseProtocolMode::AnyMotion => true,
    }
}

/// Encodes a crossterm mouse event for a program, at `col`,`row` (0-based,
/// relative to the pane's inner area), or returns None when the program's mode
/// does not report this kind of event (see [`wants`]) or the encoding cannot
/// carry the position.
///
/// The button code is 0, 1 or 2 for the left, middle and right button, 64 to
/// 67 for the wheel up, down, left and right, plus 32 for motion (35 for
/// motion with no button), plus 4 for Shift, 8 for Alt (or Meta) and 16 for
/// Control. Releases are code 3 in the default and UTF-8 encodings and keep
/// the button in SGR, which ends them with `m` instead of `M`. The X10 mode
/// (`Press`) reports no modifiers, so they are left out of its code.
///
/// - `Default`: `ESC [ M`, then the code, the column + 1 and the row + 1, each
///   plus 32 as one byte; a column or row beyond 223 (1-based) cannot be
///   carried, and the event is not reported rather than reported at a wrong
///   cell.
/// - `Utf8`: the same values, each written as a UTF-8 character, up to 2015.
/// - `Sgr`: `ESC [ < code ; column + 1 ; row + 1` then `M` or `m`, with no limit.
pub fn encode(
    kind: MouseEventKind,
    modifiers: KeyModifiers,
    col: u16,
    row: u16,
    mode: MouseProtocolMode,
    encoding: MouseProtocolEncoding,
) -> Option<Vec<u8>> {
    if !wants(kind, mode) {
        return None;
    }
    let sgr = encoding == MouseProtocolEncoding::Sgr;
    let mut code = match kind {
        MouseEventKind::Down(button) => button_code(button),
        MouseEventKind::Up(button) if sgr => button_code(button),
        MouseEventKind::Up(_) => NO_BUTTON,
        MouseEventKind::Drag(button) => button_code(button) + MOTION,
        MouseEventKind::Moved => NO_BUTTON + MOTION,
        MouseEventKind::ScrollUp => WHEEL,
        MouseEventKind::ScrollDown => WHEEL + 1,
        MouseEventKind::ScrollLeft => WHEEL + 2,
        MouseEventKind::ScrollRight => WHEEL + 3,
    };
    if mode != MouseProtocolMode::Press {
        code += modifier_bits(modifiers);
    }
    let x = u32::from(col) + 1;
    let y = u32::from(row) + 1;
    match encoding {
        MouseProtocolEncoding::Sgr => {
            let last = if matches!(kind, MouseEventKind::Up(_)) {
                'm'
            } else {
                'M'
            };
            Some(format!("\x1b[<{code};{x};{y}{last}").into_bytes())
        }
        MouseProtocolEncoding::Default => {
            let mut out = b"\x1b[M".to_vec();
            for value in [code, x, y] {
                // A value past 255 does not fit in its byte.
                out.push(u8::try_from(value + OFFSET).ok()?);
            }
            Some(out)
        }
        MouseProtocolEncoding::Utf8 => {
            let mut out = b"\x1b[M".to_vec();
            for value in [code, x, y] {
                let value = value + OFFSET;
                if value > MAX_UTF8_VALUE {
                    return None;
                }
                let ch = char::from_u32(value)?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
            }
            Some(out)
        }
    }
}

/// The xterm number of a button, before motion and modifiers are added.
fn button_code(button: MouseButton) -> u32 {
    match button {
        MouseButton::Left => 0,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    }
}

/// The bits xterm adds to a button code for the modifiers held: Shift 4,
/// Alt or Meta 8, Control 16. Super and Hyper have no bit and are dropped.
fn modifier_bits(modifiers: KeyModifiers) -> u32 {
    let mut bits = 0;
    if modifiers.contains(KeyModifiers::SHIFT) {
        bits += 4;
    }
    if modifiers.intersects(KeyModifiers::ALT | KeyModifiers::META) {
        bits += 8;
    }
    if modifiers.contains(KeyModifiers::CONTROL) {
        bits += 16;
    }
    bits
}

/// The OSC 52 sequence that puts `text` on the system clipboard (selection
/// `c`): `ESC ] 52 ; c ;`, the text in standard base64, then BEL.
///
/// BEL rather than ST (`ESC \`) ends it because BEL is what the `Ms`
/// capability in terminfo and tmux's clipboard support use, so it is the form
/// every terminal that implements OSC 52 accepts; xterm and the terminals that
/// follow it accept ST as well, but some older ones only BEL.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", STANDARD.encode(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    use MouseButton::{Left, Middle, Right};
    use MouseEventKind::{Down, Drag, Moved, ScrollDown, ScrollLeft, ScrollRight, ScrollUp, Up};

    const NONE: KeyModifiers = KeyModifiers::NONE;
    const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
    const ALT: KeyModifiers = KeyModifiers::ALT;
    const CTRL: KeyModifiers = KeyModifiers::CONTROL;

    const OFF: MouseProtocolMode = MouseProtocolMode::None;
    const X10: MouseProtocolMode = MouseProtocolMode::Press;
    const PR: MouseProtocolMode = MouseProtocolMode::PressRelease;
    const BM: MouseProtocolMode = MouseProtocolMode::ButtonMotion;
    const AM: MouseProtocolMode = MouseProtocolMode::AnyMotion;

    const DEF: MouseProtocolEncoding = MouseProtocolEncoding::Default;
    const UTF: MouseProtocolEncoding = MouseProtocolEncoding::Utf8;
    const SGR: MouseProtocolEncoding = MouseProtocolEncoding::Sgr;

    const ALL_KINDS: [MouseEventKind; 12] = [
        Down(Left),
        Down(Middle),
        Down(Right),
        Up(Left),
        Up(Right),
        Drag(Left),
        Drag(Right),
        Moved,
        ScrollUp,
        ScrollDown,
        ScrollLeft,
        ScrollRight,
    ];

    /// A default-encoding report of `code` at the 1-based `x`,`y`.
    fn byte(code: u8, x: u8, y: u8) -> Option<Vec<u8>> {
        Some(vec![0x1b, b'[', b'M', 32 + code, 32 + x, 32 + y])
    }

    /// An SGR report, or any report given as its exact bytes.
    fn raw(bytes: &[u8]) -> Option<Vec<u8>> {
        Some(bytes.to_vec())
    }

    #[test]
    fn wants_follows_the_mode() {
        // The kind, then whether X10, PR, BM and AM want it.
        let cases: &[(MouseEventKind, [bool; 4])] = &[
            (Down(Left), [true, true, true, true]),
            (Down(Middle), [true, true, true, true]),
            (Up(Left), [false, true, true, true]),
            (ScrollUp, [false, true, true, true]),
            (ScrollDown, [false, true, true, true]),
            (ScrollLeft, [false, true, true, true]),
            (ScrollRight, [false, true, true, true]),
            (Drag(Left), [false, false, true, true]),
            (Moved, [false, false, false, true]),
        ];
        for &(kind, expected) in cases {
            let got = [X10, PR, BM, AM].map(|mode| wants(kind, mode));
            assert_eq!(got, expected, "{kind:?}");
            assert!(!wants(kind, OFF), "{kind:?}");
        }
    }

    #[test]
    fn nothing_is_encoded_when_the_mode_does_not_want_it() {
        for mode in [OFF, X10, PR, BM, AM] {
            for kind in ALL_KINDS {
                for encoding in [DEF, UTF, SGR] {
                    let encoded = encode(kind, NONE, 0, 0, mode, encoding);
                    let context = format!("{kind:?} {mode:?} {encoding:?}");
                    assert_eq!(encoded.is_some(), wants(kind, mode), "{context}");
                }
            }
        }
    }

    #[test]
    fn events_encode_as_xterm_does() {
        type Case = (
            MouseEventKind,
            KeyModifiers,
            (u16, u16),
            MouseProtocolMode,
            MouseProtocolEncoding,
            Option<Vec<u8>>,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            // Presses of each button, in each encoding.
            (Down(Left), NONE, (0, 0), PR, DEF, byte(0, 1, 1)),
            (Down(Middle), NONE, (4, 2), PR, DEF, byte(1, 5, 3)),
            (Down(Right), NONE, (9, 19), PR, DEF, byte(2, 10, 20)),
            (Down(Left), NONE, (0, 0), PR, UTF, byte(0, 1, 1)),
            (Down(Right), NONE, (9, 19), PR, SGR, raw(b"\x1b[<2;10;20M")),
            // Releases: code 3 without SGR; with it, the button and `m`.
            (Up(Left), NONE, (4, 2), PR, DEF, byte(3, 5, 3)),
            (Up(Right), NONE, (4, 2), PR, UTF, byte(3, 5, 3)),
            (Up(Right), SHIFT, (4, 2), PR, DEF, byte(7, 5, 3)),
            (Up(Left), NONE, (4, 2), PR, SGR, raw(b"\x1b[<0;5;3m")),
            (Up(Middle), NONE, (4, 2), BM, SGR, raw(b"\x1b[<1;5;3m")),
            (Up(Right), NONE, (4, 2), AM, SGR, raw(b"\x1b[<2;5;3m")),
            // The wheel, in every direction and mode that reports it.
            (ScrollUp, NONE, (0, 0), PR, DEF, byte(64, 1, 1)),
            (ScrollDown, NONE, (0, 0), PR, DEF, byte(65, 1, 1)),
            (ScrollLeft, NONE, (0, 0), BM, DEF, byte(66, 1, 1)),
            (ScrollRight, NONE, (0, 0), AM, DEF, byte(67, 1, 1)),
            (ScrollUp, NONE, (7, 3), PR, UTF, byte(64, 8, 4)),
            (ScrollUp, NONE, (7, 3), PR, SGR, raw(b"\x1b[<64;8;4M")),
            (ScrollDown, CTRL, (7, 3), AM, SGR, raw(b"\x1b[<81;8;4M")),
            // Drags (a button held) and plain motion.
            (Drag(Left), NONE, (5, 5), BM, DEF, byte(32, 6, 6)),
            (Drag(Right), NONE, (5, 5), AM, DEF, byte(34, 6, 6)),
            (Drag(Middle), NONE, (5, 5), BM, SGR, raw(b"\x1b[<33;6;6M")),
            (Drag(Left), ALT, (5, 5), BM, SGR, raw(b"\x1b[<40;6;6M")),
            (Moved, NONE, (5, 5), AM, DEF, byte(35, 6, 6)),
            (Moved, NONE, (5, 5), AM, UTF, byte(35, 6, 6)),
            (Moved, NONE, (5, 5), AM, SGR, raw(b"\x1b[<35;6;6M")),
            (Moved, CTRL, (5, 5), AM, SGR, raw(b"\x1b[<51;6;6M")),
            // Motion the mode does not report.
            (Drag(Left), NONE, (2, 3), PR, SGR, None),
            (Moved, NONE, (2, 3), BM, SGR, None),
            // Modifiers, alone and together; Super has no bit.
            (Down(Left), SHIFT, (0, 0), PR, SGR, raw(b"\x1b[<4;1;1M")),
            (Down(Left), ALT, (0, 0), PR, SGR, raw(b"\x1b[<8;1;1M")),
            (Down(Left), KeyModifiers::META, (0, 0), PR, SGR, raw(b"\x1b[<8;1;1M")),
            (Down(Left), CTRL, (0, 0), PR, SGR, raw(b"\x1b[<16;1;1M")),
            (Down(Right), SHIFT | ALT | CTRL, (0, 0), PR, DEF, byte(30, 1, 1)),
            (Down(Left), KeyModifiers::SUPER, (0, 0), PR, SGR, raw(b"\x1b[<0;1;1M")),
            // X10: presses only, never with modifiers, no wheel.
            (Down(Left), NONE, (2, 3), X10, DEF, byte(0, 3, 4)),
            (Down(Right), CTRL | SHIFT, (2, 3), X10, DEF, byte(2, 3, 4)),
            (Down(Middle), ALT, (2, 3), X10, SGR, raw(b"\x1b[<1;3;4M")),
            (Up(Left), NONE, (2, 3), X10, SGR, None),
            (ScrollUp, NONE, (2, 3), X10, DEF, None),
            (Drag(Left), NONE, (2, 3), X10, DEF, None),
            // Coordinate limits: 223 in one byte, 2015 in UTF-8, none in SGR.
            (Down(Left), NONE, (222, 222), PR, DEF, raw(b"\x1b[M \xff\xff")),
            (Down(Left), NONE, (223, 0), PR, DEF, None),
            (Down(Left), NONE, (0, 223), PR, DEF, None),
            (Drag(Left), NONE, (500, 0), BM, DEF, None),
            (Down(Left), NONE, (94, 95), PR, UTF, raw(b"\x1b[M \x7f\xc2\x80")),
            (Down(Left), NONE, (2014, 0), PR, UTF, raw(b"\x1b[M \xdf\xbf!")),
            (Down(Left), NONE, (0, 2015), PR, UTF, None),
            (Down(Left), NONE, (300, 250), PR, SGR, raw(b"\x1b[<0;301;251M")),
            (Up(Left), NONE, (u16::MAX, 0), PR, SGR, raw(b"\x1b[<0;65536;1m")),
        ];
        for (kind, mods, (col, row), mode, encoding, expected) in cases {
            let got = encode(kind, mods, col, row, mode, encoding);
            let context = format!("{kind:?} {mods:?} ({col},{row}) {mode:?} {encoding:?}");
            assert_eq!(got, expected, "{context}");
        }
    }

    #[test]
    fn utf8_coordinates_decode_back() {
        let bytes = encode(Down(Left), NONE, 1000, 1500, PR, UTF).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let values: Vec<u32> = text.chars().skip(3).map(|c| c as u32 - 32).collect();
        assert_eq!(values, [0, 1001, 1501]);
    }

    #[test]
    fn osc52_wraps_base64_in_the_sequence() {
        assert_eq!(osc52("hello"), "\x1b]52;c;aGVsbG8=\x07");
        assert_eq!(osc52(""), "\x1b]52;c;\x07");
        assert_eq!(osc52("漢字"), "\x1b]52;c;5ryi5a2X\x07");
    }
}
