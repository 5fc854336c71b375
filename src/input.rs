//! Turns what a terminal sends (keys, mouse reports, pastes, focus changes)
//! into crossterm's events. The server reads an attached client's terminal
//! itself, as tmux's server does, so a key reaches the session without a
//! hop through the client; crossterm only parses the input of the process
//! that owns the terminal, so the server parses here, to the same events
//! crossterm gives the client for the modes opmux turns on (legacy keys,
//! SGR mouse, bracketed paste, focus reports).
//!
//! A terminal writes each key's sequence at once, so a read ends between
//! sequences: an ESC that ends a read is the Escape key, and an ESC followed
//! by a byte that starts no sequence is that key with Alt, as crossterm
//! decides. Only a sequence that has begun and cannot be complete yet (a
//! CSI without its final byte, a paste without its end) waits for the next
//! read.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

const ESC: u8 = 0x1b;
const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";
/// The most input kept waiting for the rest of a sequence: a paste larger
/// than this is dropped rather than held without bound.
const MAX_PENDING: usize = 16 << 20;

/// Parses a terminal's input, keeping a sequence that a read cut short.
#[derive(Default)]
pub struct InputParser {
    pending: Vec<u8>,
    /// How much of a paste at the start of `pending` was searched for its
    /// end marker already.
    paste_scanned: usize,
    /// The rest of a paste too big to hold is being dropped.
    skipping_paste: bool,
}

/// What the start of some input is.
#[derive(Debug, PartialEq)]
enum Parsed {
    /// `n` bytes make one event, or nothing opmux acts on (a report it
    /// never asked for).
    Done(Option<Event>, usize),
    /// A sequence that needs more bytes.
    Incomplete,
    /// `n` bytes that make no sense; skipped.
    Invalid(usize),
}

impl InputParser {
    /// The events in `bytes`, one read's worth of the terminal's input. An
    /// escape that ends the read (`ESC`, `ESC [`, `ESC O`) waits: it may be
    /// the start of a sequence the next read finishes, or the Escape key,
    /// Alt-[ or Alt-O, which [`InputParser::flush`] says once no more comes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.pending.extend_from_slice(bytes);
        let events = self.parse_pending(false);
        if self.pending.len() > MAX_PENDING {
            match self.pending.starts_with(PASTE_START) {
                // A paste too big to hold: what came of it goes in, and the
                // rest up to its end marker is dropped, never typed.
                true => {
                    let text = String::from_utf8_lossy(&self.pending[PASTE_START.len()..]);
                    let mut events = events;
                    events.push(Event::Paste(text.into_owned()));
                    tracing::warn!(bytes = self.pending.len(), "a paste too big was cut short");
                    self.pending.clear();
                    self.skipping_paste = true;
                    return events;
                }
                false => {
                    tracing::warn!(
                        bytes = self.pending.len(),
                        "unfinished terminal input dropped"
                    );
                    self.pending.clear();
                }
            }
        }
        events
    }

    /// Whether an escape waits for more input to say what it is.
    pub fn waiting_escape(&self) -> bool {
        self.pending.first() == Some(&ESC)
    }

    /// No more input came: a waiting escape is what it is alone (Escape,
    /// Alt-[, Alt-O), and a sequence cut short is dropped.
    pub fn flush(&mut self) -> Vec<Event> {
        let events = self.parse_pending(true);
        self.pending.clear();
        events
    }

    fn parse_pending(&mut self, flush: bool) -> Vec<Event> {
        if self.skipping_paste {
            match find(&self.pending, PASTE_END) {
                Some(end) => {
                    self.pending.drain(..end + PASTE_END.len());
                    self.skipping_paste = false;
                }
                None => {
                    // Keep what could be the start of the end marker.
                    let keep = self.pending.len().min(PASTE_END.len() - 1);
                    self.pending.drain(..self.pending.len() - keep);
                    return Vec::new();
                }
            }
        }
        let mut events = Vec::new();
        let mut at = 0;
        while at < self.pending.len() {
            let input = &self.pending[at..];
            // A paste's end is looked for only in what came since the last
            // look, so a long paste is not searched again for every read.
            let parsed = if input.starts_with(PASTE_START) {
                let from = self.paste_scanned.max(PASTE_START.len());
                match find(&input[from.min(input.len())..], PASTE_END) {
                    Some(end) => {
                        let end = from + end;
                        let text = String::from_utf8_lossy(&input[PASTE_START.len()..end]);
                        self.paste_scanned = 0;
                        Parsed::Done(Some(Event::Paste(text.into_owned())), end + PASTE_END.len())
                    }
                    None => {
                        self.paste_scanned = input.len().saturating_sub(PASTE_END.len() - 1);
                        Parsed::Incomplete
                    }
                }
            } else {
                parse(input, flush)
            };
            match parsed {
                Parsed::Done(event, n) => {
                    events.extend(event);
                    at += n;
                }
                Parsed::Invalid(n) => at += n,
                Parsed::Incomplete => break,
            }
        }
        self.pending.drain(..at);
        events
    }
}

/// Where `needle` first starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<Event> {
    Some(Event::Key(KeyEvent::new(code, modifiers)))
}

fn plain(code: KeyCode) -> Option<Event> {
    key(code, KeyModifiers::NONE)
}

/// What the start of `input` is; with `flush`, no more input is coming,
/// so an escape that could start a sequence is the key it is alone.
fn parse(input: &[u8], flush: bool) -> Parsed {
    match input[0] {
        ESC => parse_escape(input, flush),
        b'\r' => Parsed::Done(plain(KeyCode::Enter), 1),
        b'\t' => Parsed::Done(plain(KeyCode::Tab), 1),
        0x7f => Parsed::Done(plain(KeyCode::Backspace), 1),
        0 => Parsed::Done(key(KeyCode::Char(' '), KeyModifiers::CONTROL), 1),
        // C-a to C-z (C-h, C-j and C-m among them, as raw mode sends them).
        c @ 0x01..=0x1a => {
            let letter = char::from(b'a' + c - 1);
            Parsed::Done(key(KeyCode::Char(letter), KeyModifiers::CONTROL), 1)
        }
        // C-\ C-] C-^ C-_, which crossterm names C-4 to C-7.
        c @ 0x1c..=0x1f => {
            let digit = char::from(b'4' + c - 0x1c);
            Parsed::Done(key(KeyCode::Char(digit), KeyModifiers::CONTROL), 1)
        }
        _ => parse_char(input),
    }
}

/// A UTF-8 character; an upper-case one carries Shift, as crossterm's do.
fn parse_char(input: &[u8]) -> Parsed {
    let len = match input[0] {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Parsed::Invalid(1),
    };
    let Some(bytes) = input.get(..len) else {
        // A character cut short waits, unless what follows cannot go on it.
        return match input[1..].iter().all(|b| b & 0xc0 == 0x80) {
            true => Parsed::Incomplete,
            false => Parsed::Invalid(1),
        };
    };
    match std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) => {
            let shift = if c.is_uppercase() {
                KeyModifiers::SHIFT
            } else {
                KeyModifiers::NONE
            };
            Parsed::Done(key(KeyCode::Char(c), shift), len)
        }
        None => Parsed::Invalid(1),
    }
}

fn parse_escape(input: &[u8], flush: bool) -> Parsed {
    match (input.get(1), input.get(2)) {
        // Nothing after it yet: the Escape key, once no more comes.
        (None, _) if !flush => Parsed::Incomplete,
        (None, _) => Parsed::Done(plain(KeyCode::Esc), 1),
        (Some(&ESC), _) => Parsed::Done(plain(KeyCode::Esc), 2),
        (Some(b'O' | b'['), None) if !flush => Parsed::Incomplete,
        (Some(b'O'), Some(&c)) => Parsed::Done(ss3(c), 3),
        (Some(b'['), Some(_)) => parse_csi(input),
        // ESC O or ESC [ with nothing after, or ESC before another key:
        // that key with Alt.
        (Some(_), _) => match parse(&input[1..], flush) {
            Parsed::Done(Some(Event::Key(mut k)), n) => {
                k.modifiers |= KeyModifiers::ALT;
                Parsed::Done(Some(Event::Key(k)), n + 1)
            }
            Parsed::Done(event, n) => Parsed::Done(event, n + 1),
            Parsed::Invalid(n) => Parsed::Invalid(n + 1),
            Parsed::Incomplete => Parsed::Incomplete,
        },
    }
}

/// ESC O and one byte: the cursor keys and F1-F4 in application mode.
fn ss3(c: u8) -> Option<Event> {
    let code = match c {
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'P'..=b'S' => KeyCode::F(1 + c - b'P'),
        _ => return None,
    };
    plain(code)
}

/// A control sequence: ESC [ parameters final.
fn parse_csi(input: &[u8]) -> Parsed {
    match input[2] {
        // The Linux console's F1-F5: ESC [ [ A-E.
        b'[' => match input.get(3) {
            None => Parsed::Incomplete,
            Some(&c @ b'A'..=b'E') => Parsed::Done(plain(KeyCode::F(1 + c - b'A')), 4),
            Some(_) => Parsed::Invalid(4),
        },
        // X10 mouse: ESC [ M and three bytes, each offset by 32.
        b'M' => match input.get(3..6) {
            None => Parsed::Incomplete,
            Some(&[cb, cx, cy]) => {
                let event = cb.checked_sub(32).and_then(|cb| {
                    mouse(
                        cb,
                        cx.saturating_sub(33).into(),
                        cy.saturating_sub(33).into(),
                    )
                });
                Parsed::Done(event, 6)
            }
            Some(_) => Parsed::Invalid(6),
        },
        _ => {
            // Parameter and intermediate bytes, then the final byte.
            let Some(end) = input[2..].iter().position(|b| !(0x20..=0x3f).contains(b)) else {
                return Parsed::Incomplete;
            };
            let end = end + 2;
            let last = input[end];
            if !(0x40..=0x7e).contains(&last) {
                return Parsed::Invalid(end);
            }
            Parsed::Done(csi(&input[2..end], last), end + 1)
        }
    }
}

/// The event a complete control sequence stands for, if any.
fn csi(params: &[u8], last: u8) -> Option<Event> {
    let Ok(params) = std::str::from_utf8(params) else {
        return None;
    };
    if let Some(sgr) = params.strip_prefix('<') {
        return sgr_mouse(sgr, last);
    }
    // Answers to queries (ESC [ ? ...) and cursor reports (ESC [ row ; col
    // R, which is also what Shift-F3 would be; crossterm takes it for the
    // report too): nothing typed.
    if params.starts_with('?') || last == b'R' {
        return None;
    }
    let mut fields = params.split(';');
    let first = fields.next().unwrap_or("");
    let (modifiers, kind) = match (fields.next(), last) {
        (Some(field), _) => modifiers_and_kind(field),
        (None, b'~') => (KeyModifiers::NONE, KeyEventKind::Press),
        // ESC [ 5 A: a lone parameter before a key's letter is its
        // modifiers.
        (None, _) => modifiers_and_kind(first),
    };
    let code = match last {
        b'~' => match first.parse::<u8>().ok()? {
            1 | 7 => KeyCode::Home,
            2 => KeyCode::Insert,
            3 => KeyCode::Delete,
            4 | 8 => KeyCode::End,
            5 => KeyCode::PageUp,
            6 => KeyCode::PageDown,
            n @ 11..=15 => KeyCode::F(n - 10),
            n @ 17..=21 => KeyCode::F(n - 11),
            n @ 23..=26 => KeyCode::F(n - 12),
            n @ 28..=29 => KeyCode::F(n - 15),
            n @ 31..=34 => KeyCode::F(n - 17),
            _ => return None,
        },
        // rxvt's mouse: ESC [ Cb ; Cx ; Cy M, Cb offset by 32.
        b'M' if !params.is_empty() => {
            let mut numbers = params.split(';').map(|n| n.parse::<u16>().ok());
            let (Some(Some(cb)), Some(Some(cx)), Some(Some(cy))) =
                (numbers.next(), numbers.next(), numbers.next())
            else {
                return None;
            };
            let cb = u8::try_from(cb).ok()?.checked_sub(32)?;
            return mouse(cb, cx.saturating_sub(1), cy.saturating_sub(1));
        }
        b'I' if params.is_empty() => return Some(Event::FocusGained),
        b'O' if params.is_empty() => return Some(Event::FocusLost),
        b'Z' if params.is_empty() => {
            return key(KeyCode::BackTab, KeyModifiers::SHIFT);
        }
        b'A' => KeyCode::Up,
        b'B' => KeyCode::Down,
        b'C' => KeyCode::Right,
        b'D' => KeyCode::Left,
        b'H' => KeyCode::Home,
        b'F' => KeyCode::End,
        b'P' => KeyCode::F(1),
        b'Q' => KeyCode::F(2),
        b'S' => KeyCode::F(4),
        _ => return None,
    };
    Some(Event::Key(KeyEvent::new_with_kind(code, modifiers, kind)))
}

/// xterm's modifier parameter (1 + a mask: Shift 1, Alt 2, Ctrl 4, Super
/// 8, Hyper 16, Meta 32), with the event kind after a colon.
fn modifiers_and_kind(field: &str) -> (KeyModifiers, KeyEventKind) {
    let mut parts = field.split(':');
    let mask = parts
        .next()
        .and_then(|m| m.parse::<u8>().ok())
        .unwrap_or(1)
        .saturating_sub(1);
    let mut modifiers = KeyModifiers::NONE;
    for (bit, modifier) in [
        (1, KeyModifiers::SHIFT),
        (2, KeyModifiers::ALT),
        (4, KeyModifiers::CONTROL),
        (8, KeyModifiers::SUPER),
        (16, KeyModifiers::HYPER),
        (32, KeyModifiers::META),
    ] {
        if mask & bit != 0 {
            modifiers |= modifier;
        }
    }
    let kind = match parts.next() {
        Some("2") => KeyEventKind::Repeat,
        Some("3") => KeyEventKind::Release,
        _ => KeyEventKind::Press,
    };
    (modifiers, kind)
}

/// SGR mouse: ESC [ < Cb ; Cx ; Cy, then M for a press or motion and m for
/// a release.
fn sgr_mouse(params: &str, last: u8) -> Option<Event> {
    let mut numbers = params.split(';').map(|n| n.parse::<u16>().ok());
    let (Some(Some(cb)), Some(Some(cx)), Some(Some(cy))) =
        (numbers.next(), numbers.next(), numbers.next())
    else {
        return None;
    };
    let event = mouse(
        u8::try_from(cb).ok()?,
        cx.saturating_sub(1),
        cy.saturating_sub(1),
    )?;
    match (event, last) {
        (Event::Mouse(mut m), b'm') => {
            if let MouseEventKind::Down(button) = m.kind {
                m.kind = MouseEventKind::Up(button);
            }
            Some(Event::Mouse(m))
        }
        (event, b'M') => Some(event),
        _ => None,
    }
}

/// A mouse report's button byte (without any offset) at a 0-based cell.
fn mouse(cb: u8, column: u16, row: u16) -> Option<Event> {
    let button = (cb & 0b11) | ((cb & 0b1100_0000) >> 4);
    let dragging = cb & 0b10_0000 != 0;
    let kind = match (button, dragging) {
        (0, false) => MouseEventKind::Down(MouseButton::Left),
        (1, false) => MouseEventKind::Down(MouseButton::Middle),
        (2, false) => MouseEventKind::Down(MouseButton::Right),
        (0, true) => MouseEventKind::Drag(MouseButton::Left),
        (1, true) => MouseEventKind::Drag(MouseButton::Middle),
        (2, true) => MouseEventKind::Drag(MouseButton::Right),
        (3, false) => MouseEventKind::Up(MouseButton::Left),
        (3..=5, true) => MouseEventKind::Moved,
        (4, false) => MouseEventKind::ScrollUp,
        (5, false) => MouseEventKind::ScrollDown,
        (6, false) => MouseEventKind::ScrollLeft,
        (7, false) => MouseEventKind::ScrollRight,
        _ => return None,
    };
    let mut modifiers = KeyModifiers::NONE;
    for (bit, modifier) in [
        (4, KeyModifiers::SHIFT),
        (8, KeyModifiers::ALT),
        (16, KeyModifiers::CONTROL),
    ] {
        if cb & bit != 0 {
            modifiers |= modifier;
        }
    }
    Some(Event::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that each input is read as its one event.
    fn each_one(cases: &[(&[u8], Event)]) {
        for (bytes, event) in cases {
            assert_eq!(events(bytes), vec![event.clone()], "{bytes:?}");
        }
    }

    /// The events in `bytes` read at once, and nothing after them.
    fn events(bytes: &[u8]) -> Vec<Event> {
        let mut parser = InputParser::default();
        let mut events = parser.feed(bytes);
        events.extend(parser.flush());
        events
    }

    fn k(code: KeyCode, modifiers: KeyModifiers) -> Event {
        Event::Key(KeyEvent::new(code, modifiers))
    }

    const NONE: KeyModifiers = KeyModifiers::NONE;
    const CTRL: KeyModifiers = KeyModifiers::CONTROL;
    const ALT: KeyModifiers = KeyModifiers::ALT;
    const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

    #[test]
    fn plain_and_control_bytes_are_the_keys_crossterm_names() {
        use KeyCode::*;
        let cases: &[(&[u8], Event)] = &[
            (b"a", k(Char('a'), NONE)),
            (b"A", k(Char('A'), SHIFT)),
            (b"#", k(Char('#'), NONE)),
            ("é".as_bytes(), k(Char('é'), NONE)),
            ("É".as_bytes(), k(Char('É'), SHIFT)),
            ("字".as_bytes(), k(Char('字'), NONE)),
            ("🦀".as_bytes(), k(Char('🦀'), NONE)),
            (b"\r", k(Enter, NONE)),
            (b"\t", k(Tab, NONE)),
            (b"\x7f", k(Backspace, NONE)),
            (b"\x02", k(Char('b'), CTRL)),
            (b"\x08", k(Char('h'), CTRL)),
            (b"\n", k(Char('j'), CTRL)),
            (b"\x00", k(Char(' '), CTRL)),
            (b"\x1c", k(Char('4'), CTRL)),
            (b"\x1f", k(Char('7'), CTRL)),
            (b"\x1b", k(Esc, NONE)),
            (b"\x1b\x1b", k(Esc, NONE)),
            (b"\x1bx", k(Char('x'), ALT)),
            (b"\x1bX", k(Char('X'), ALT | SHIFT)),
            (b"\x1b\x01", k(Char('a'), CTRL | ALT)),
            (b"\x1b\r", k(Enter, ALT)),
            (b"\x1b[", k(Char('['), ALT)),
            (b"\x1bO", k(Char('O'), ALT | SHIFT)),
        ];
        each_one(cases);
    }

    #[test]
    fn cursor_editing_and_function_keys_with_their_modifiers() {
        use KeyCode::*;
        let cases: &[(&[u8], Event)] = &[
            (b"\x1b[A", k(Up, NONE)),
            (b"\x1b[B", k(Down, NONE)),
            (b"\x1b[C", k(Right, NONE)),
            (b"\x1b[D", k(Left, NONE)),
            (b"\x1b[H", k(Home, NONE)),
            (b"\x1b[F", k(End, NONE)),
            (b"\x1bOA", k(Up, NONE)),
            (b"\x1bOH", k(Home, NONE)),
            (b"\x1bOP", k(F(1), NONE)),
            (b"\x1bOS", k(F(4), NONE)),
            (b"\x1b[Z", k(BackTab, SHIFT)),
            (b"\x1b[1;5A", k(Up, CTRL)),
            (b"\x1b[1;2D", k(Left, SHIFT)),
            (b"\x1b[1;3C", k(Right, ALT)),
            (b"\x1b[1;8H", k(Home, SHIFT | ALT | CTRL)),
            (b"\x1b[1;5P", k(F(1), CTRL)),
            (b"\x1b[5A", k(Up, CTRL)),
            (b"\x1b[2~", k(Insert, NONE)),
            (b"\x1b[3~", k(Delete, NONE)),
            (b"\x1b[3;5~", k(Delete, CTRL)),
            (b"\x1b[1~", k(Home, NONE)),
            (b"\x1b[4~", k(End, NONE)),
            (b"\x1b[5~", k(PageUp, NONE)),
            (b"\x1b[6;2~", k(PageDown, SHIFT)),
            (b"\x1b[15~", k(F(5), NONE)),
            (b"\x1b[17~", k(F(6), NONE)),
            (b"\x1b[24;5~", k(F(12), CTRL)),
            (b"\x1b[[A", k(F(1), NONE)),
            (b"\x1b[[E", k(F(5), NONE)),
        ];
        each_one(cases);
    }

    #[test]
    fn mouse_reports_in_sgr_rxvt_and_x10_form() {
        let at = |kind, column, row, modifiers| {
            Event::Mouse(MouseEvent {
                kind,
                column,
                row,
                modifiers,
            })
        };
        use MouseButton::*;
        use MouseEventKind::*;
        let cases: &[(&[u8], Event)] = &[
            (b"\x1b[<0;1;1M", at(Down(Left), 0, 0, NONE)),
            (b"\x1b[<0;10;5m", at(Up(Left), 9, 4, NONE)),
            (b"\x1b[<2;3;4M", at(Down(Right), 2, 3, NONE)),
            (b"\x1b[<32;3;4M", at(Drag(Left), 2, 3, NONE)),
            (b"\x1b[<35;7;8M", at(Moved, 6, 7, NONE)),
            (b"\x1b[<64;7;8M", at(ScrollUp, 6, 7, NONE)),
            (b"\x1b[<65;7;8M", at(ScrollDown, 6, 7, NONE)),
            (b"\x1b[<16;2;2M", at(Down(Left), 1, 1, CTRL)),
            (b"\x1b[<4;2;2M", at(Down(Left), 1, 1, SHIFT)),
            (b"\x1b[<0;300;200M", at(Down(Left), 299, 199, NONE)),
            (b"\x1b[32;5;6M", at(Down(Left), 4, 5, NONE)),
            (b"\x1b[M !!", at(Down(Left), 0, 0, NONE)),
            (b"\x1b[M#*+", at(Up(Left), 9, 10, NONE)),
        ];
        each_one(cases);
    }

    #[test]
    fn pastes_focus_and_reports_nobody_typed() {
        assert_eq!(
            events(b"\x1b[200~two\nlines \x1b[A\x1b[201~x"),
            vec![
                Event::Paste("two\nlines \x1b[A".into()),
                k(KeyCode::Char('x'), NONE)
            ]
        );
        assert_eq!(
            events(b"\x1b[I\x1b[O"),
            vec![Event::FocusGained, Event::FocusLost]
        );
        // Answers to queries and cursor reports are not keys.
        assert_eq!(events(b"\x1b[?62;22c\x1b[12;40R\x1b[?1u"), vec![]);
    }

    #[test]
    fn a_sequence_cut_by_a_read_waits_for_the_rest_and_keys_in_one_read_all_count() {
        let mut parser = InputParser::default();
        assert_eq!(
            parser.feed(b"ab\x1b[1;"),
            vec![k(KeyCode::Char('a'), NONE), k(KeyCode::Char('b'), NONE)]
        );
        assert_eq!(parser.feed(b"5A"), vec![k(KeyCode::Up, CTRL)]);
        assert_eq!(parser.feed(b"\x1b[200~half"), vec![]);
        assert_eq!(
            parser.feed(b" and half\x1b[201~"),
            vec![Event::Paste("half and half".into())]
        );
        assert_eq!(parser.feed(&"é".as_bytes()[..1]), vec![]);
        assert_eq!(
            parser.feed(&"é".as_bytes()[1..]),
            vec![k(KeyCode::Char('é'), NONE)]
        );
        assert_eq!(parser.feed(b"\x1b[<0;1;"), vec![]);
        assert_eq!(
            parser.feed(b"2M\x1b"),
            vec![Event::Mouse(MouseEvent {
                kind: MouseEventKind::Down(MouseButton::Left),
                column: 0,
                row: 1,
                modifiers: NONE,
            })]
        );
        assert_eq!(parser.flush(), vec![k(KeyCode::Esc, NONE)]);
    }

    #[test]
    fn an_escape_ending_a_read_waits_for_the_next_and_is_a_key_only_if_none_comes() {
        let mut parser = InputParser::default();
        for (first, rest, event) in [
            (&b"\x1b"[..], &b"[A"[..], k(KeyCode::Up, NONE)),
            (b"\x1b[", b"200~hi\x1b[201~", Event::Paste("hi".into())),
            (b"\x1bO", b"P", k(KeyCode::F(1), NONE)),
            (b"x\x1b", b"y", k(KeyCode::Char('y'), ALT)),
        ] {
            let got = parser.feed(first);
            assert!(parser.waiting_escape(), "{first:?}");
            assert!(
                got.iter().all(|e| *e == k(KeyCode::Char('x'), NONE)),
                "{got:?}"
            );
            assert_eq!(parser.feed(rest), vec![event], "{first:?} then {rest:?}");
            assert!(!parser.waiting_escape());
        }
        for (alone, event) in [
            (&b"\x1b"[..], k(KeyCode::Esc, NONE)),
            (b"\x1b[", k(KeyCode::Char('['), ALT)),
            (b"\x1bO", k(KeyCode::Char('O'), ALT | SHIFT)),
        ] {
            assert_eq!(parser.feed(alone), vec![]);
            assert_eq!(parser.flush(), vec![event], "{alone:?}");
        }
    }

    #[test]
    fn a_paste_is_searched_once_and_one_too_big_is_cut_never_typed() {
        let mut parser = InputParser::default();
        assert_eq!(parser.feed(b"\x1b[200~part one, "), vec![]);
        assert_eq!(parser.feed(b"part two\x1b[20"), vec![]);
        assert_eq!(
            parser.feed(b"1~z"),
            vec![
                Event::Paste("part one, part two".into()),
                k(KeyCode::Char('z'), NONE)
            ]
        );
        // Over the limit: what came is pasted, the rest up to the end is
        // dropped, and what follows the paste is typed again.
        let big = vec![b'a'; MAX_PENDING + 1];
        let events = parser.feed(&[PASTE_START, &big[..]].concat());
        assert!(matches!(&events[..], [Event::Paste(text)] if text.len() > MAX_PENDING));
        assert_eq!(parser.feed(b"more\nthat is not typed\x1b[2"), vec![]);
        assert_eq!(parser.feed(b"01~q"), vec![k(KeyCode::Char('q'), NONE)]);
    }

    #[test]
    fn garbage_is_skipped_and_what_follows_still_parses() {
        assert_eq!(
            events(b"\xff\xc3(x"),
            vec![k(KeyCode::Char('('), NONE), k(KeyCode::Char('x'), NONE)]
        );
        // A control byte inside a sequence breaks it, and counts itself.
        assert_eq!(
            events(b"\x1b[1;5\x01y"),
            vec![k(KeyCode::Char('a'), CTRL), k(KeyCode::Char('y'), NONE)]
        );
        assert_eq!(
            events(b"\x1b[99~\x1b[<200;1;1M\x1b[<0;1Mz"),
            vec![k(KeyCode::Char('z'), NONE)]
        );
    }
}
