//! Keys, with no I/O: the prefix state machine that decides whether a key is a
//! command for opmux or input for the focused pane, and the xterm encoding of
//! keys and pastes into the bytes a program expects.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::layout::Direction;

/// Every default key and what it does, for the help overlay and the README.
pub const KEY_HELP: &[(&str, &str)] = &[
    ("Alt+←/→/↑/↓", "focus the pane that way"),
    ("C-b ←/→/↑/↓", "focus the pane that way"),
    ("C-b h/j/k/l", "focus ←/↓/↑/→"),
    ("C-b o", "focus the next pane"),
    ("C-b 1…9", "focus pane N"),
    ("C-b z", "zoom or unzoom the pane"),
    ("C-b Space", "tiled → rows → columns"),
    ("C-b c", "new pane: run a command"),
    ("C-b ,", "rename the pane"),
    ("C-b &", "close: stop, then remove"),
    ("C-b [", "scroll mode (history)"),
    ("C-b ?", "show or hide this help"),
    ("C-b x", "stop (again: kill)"),
    ("C-b s", "start the pane again"),
    ("C-b r", "restart the pane"),
    ("C-b R", "restart the pane's group"),
    ("C-b X", "kill the pane (SIGKILL)"),
    ("C-b q", "quit: stop all, exit"),
    ("C-b d", "detach, keep running"),
    ("C-b C-b", "send C-b to the pane"),
    ("mouse click", "focus the pane under it"),
    ("mouse wheel", "scroll the pane under it"),
    ("mouse drag", "select text and copy it"),
];

/// The keys of scroll mode, for the help overlay and the README.
pub const SCROLL_HELP: &[(&str, &str)] = &[
    ("↑/↓ k/j", "move a line"),
    ("←/→ h/l", "move a column"),
    ("PgUp/PgDn", "scroll a page"),
    ("C-u/C-d", "scroll half a page"),
    ("g/G", "top / bottom"),
    ("/ or ?", "search back / forward"),
    ("n/N", "next / previous match"),
    ("v", "start or drop selection"),
    ("y or Enter", "copy selection, leave"),
    ("q or Esc", "back to the live view"),
];

/// The keys of the prompt at the bottom (new pane, rename, search).
pub const PROMPT_HELP: &[(&str, &str)] = &[
    ("Enter / Esc", "accept / cancel"),
    ("←/→ C-a/C-e", "move the cursor"),
    ("C-w C-u C-k", "delete word/start/end"),
    ("↑/↓", "earlier lines"),
];

/// The key that starts a command unless the configuration names another.
pub const DEFAULT_PREFIX: KeyEvent = KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL);

/// What a key press asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Bytes for the focused pane's program.
    Send(Vec<u8>),
    Focus(Direction),
    FocusNext,
    /// Focus the pane with this 1-based number.
    FocusNumber(usize),
    ToggleZoom,
    ToggleHelp,
    Quit,
    /// Stop the focused pane: its stop signal, SIGKILL after its timeout.
    StopPane,
    /// Start the focused pane again if it is not running.
    StartPane,
    /// Stop the focused pane, then start it again.
    RestartPane,
    /// Restart every pane of the focused pane's group, in dependency order
    /// (the focused pane alone if it has no group).
    RestartGroup,
    /// SIGKILL every process of the focused pane at once.
    KillPane,
    /// Switch to the next layout.
    NextLayout,
    /// Ask for a command line and run it in a new pane.
    NewPane,
    /// Ask for a new name for the focused pane.
    RenamePane,
    /// Stop the focused pane, then remove it.
    ClosePane,
    /// Enter scroll mode on the focused pane.
    ScrollMode,
    /// Detach this client from the session, which goes on running.
    Detach,
    /// The prefix was pressed; the next key is a command.
    AwaitCommand,
    /// Nothing to do: an unbound key after the prefix, or a release event.
    Nothing,
}

/// The input modes of the focused pane's program that change key encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Modes {
    /// DECCKM: arrows and Home/End are sent as SS3 (`ESC O A`) instead of CSI.
    pub application_cursor: bool,
}

/// The prefix state machine. After the prefix key, exactly one more key is
/// read as a command.
#[derive(Clone, Debug)]
pub struct Keymap {
    prefix: KeyEvent,
    armed: bool,
}

impl Default for Keymap {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX,
            armed: false,
        }
    }
}

impl Keymap {
    /// A keymap whose commands follow `prefix` instead of C-b.
    pub fn new(prefix: KeyEvent) -> Self {
        Self {
            prefix,
            armed: false,
        }
    }

    /// The prefix as the help and status line show it: `C-b`, `M-a`.
    pub fn prefix_label(&self) -> String {
        let key = match self.prefix.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        let mods = if self.prefix.modifiers.contains(KeyModifiers::ALT) {
            "M-"
        } else {
            "C-"
        };
        format!("{mods}{key}")
    }

    /// Whether `key` is the prefix key.
    pub fn is_prefix(&self, key: &KeyEvent) -> bool {
        key.code == self.prefix.code && key.modifiers == self.prefix.modifiers
    }

    /// Whether the prefix was pressed and the next key is a command.
    pub fn armed(&self) -> bool {
        self.armed
    }

    pub fn handle(&mut self, key: KeyEvent, modes: Modes) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Nothing;
        }
        let is_prefix = self.is_prefix(&key);
        if self.armed {
            self.armed = false;
            return command(key, is_prefix, &self.prefix, modes);
        }
        if is_prefix {
            self.armed = true;
            return Action::AwaitCommand;
        }
        if key.modifiers == KeyModifiers::ALT
            && let Some(dir) = arrow_direction(key.code)
        {
            return Action::Focus(dir);
        }
        encode_key(key, modes).map_or(Action::Nothing, Action::Send)
    }
}

fn arrow_direction(code: KeyCode) -> Option<Direction> {
    match code {
        KeyCode::Left => Some(Direction::Left),
        KeyCode::Right => Some(Direction::Right),
        KeyCode::Up => Some(Direction::Up),
        KeyCode::Down => Some(Direction::Down),
        _ => None,
    }
}

/// The key read after the prefix.
fn command(key: KeyEvent, is_prefix: bool, prefix: &KeyEvent, modes: Modes) -> Action {
    if is_prefix {
        return encode_key(*prefix, modes).map_or(Action::Nothing, Action::Send);
    }
    if let Some(dir) = arrow_direction(key.code) {
        return Action::Focus(dir);
    }
    let plain = key.modifiers.difference(KeyModifiers::SHIFT).is_empty();
    match key.code {
        KeyCode::Char(c) if plain => match c {
            'h' => Action::Focus(Direction::Left),
            'j' => Action::Focus(Direction::Down),
            'k' => Action::Focus(Direction::Up),
            'l' => Action::Focus(Direction::Right),
            'o' => Action::FocusNext,
            'z' => Action::ToggleZoom,
            'q' => Action::Quit,
            '?' => Action::ToggleHelp,
            'x' => Action::StopPane,
            's' => Action::StartPane,
            'r' => Action::RestartPane,
            'R' => Action::RestartGroup,
            'X' => Action::KillPane,
            ' ' => Action::NextLayout,
            'c' => Action::NewPane,
            ',' => Action::RenamePane,
            '&' => Action::ClosePane,
            '[' => Action::ScrollMode,
            'd' => Action::Detach,
            '1'..='9' => Action::FocusNumber(c as usize - '0' as usize),
            _ => Action::Nothing,
        },
        _ => Action::Nothing,
    }
}

/// xterm's modifier parameter: 1 + Shift(1) + Alt(2) + Ctrl(4).
fn modifier_param(mods: KeyModifiers) -> u8 {
    1 + u8::from(mods.contains(KeyModifiers::SHIFT))
        + 2 * u8::from(mods.contains(KeyModifiers::ALT))
        + 4 * u8::from(mods.contains(KeyModifiers::CONTROL))
}

/// A key written as tmux names it: `Enter`, `Escape`, `Tab`, `BSpace`,
/// `Space`, `Up`, `PageDown` (`NPage`), `DC`, `F5`, or one character, after
/// any of the modifiers `C-`, `M-` and `S-`, as in `C-c` or `M-Left`. Names
/// are matched whatever their case; `None` for a word that names no key.
pub fn parse_key_name(word: &str) -> Option<KeyEvent> {
    let mut modifiers = KeyModifiers::NONE;
    let mut rest = word;
    while let Some((modifier, after)) = rest.split_at_checked(2)
        && !after.is_empty()
    {
        modifiers |= match modifier {
            "C-" | "c-" => KeyModifiers::CONTROL,
            "M-" | "m-" => KeyModifiers::ALT,
            "S-" | "s-" => KeyModifiers::SHIFT,
            _ => break,
        };
        rest = after;
    }
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) => KeyCode::Char(c),
        _ => match rest.to_ascii_lowercase().as_str() {
            "enter" => KeyCode::Enter,
            "escape" | "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "btab" => KeyCode::BackTab,
            "bspace" | "backspace" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" | "ppage" | "pgup" => KeyCode::PageUp,
            "pagedown" | "npage" | "pgdn" => KeyCode::PageDown,
            "insert" | "ic" => KeyCode::Insert,
            "delete" | "dc" => KeyCode::Delete,
            name => {
                let n: u8 = name.strip_prefix('f')?.parse().ok()?;
                if !(1..=12).contains(&n) {
                    return None;
                }
                KeyCode::F(n)
            }
        },
    };
    Some(KeyEvent::new(code, modifiers))
}

/// Encodes a key the way xterm does, or `None` for keys that have no byte form.
pub fn encode_key(key: KeyEvent, modes: Modes) -> Option<Vec<u8>> {
    let mods = key.modifiers & (KeyModifiers::SHIFT | KeyModifiers::ALT | KeyModifiers::CONTROL);
    let m = modifier_param(mods);
    let alt = mods.contains(KeyModifiers::ALT);
    let ctrl = mods.contains(KeyModifiers::CONTROL);
    // Keys with a letter final: arrows, Home, End, F1-F4.
    let letter = |final_byte: char, cursor_key: bool| -> Vec<u8> {
        if m > 1 {
            format!("\x1b[1;{m}{final_byte}").into_bytes()
        } else if !cursor_key || modes.application_cursor {
            format!("\x1bO{final_byte}").into_bytes()
        } else {
            format!("\x1b[{final_byte}").into_bytes()
        }
    };
    // Keys with a number and a tilde: Insert, Delete, PgUp, PgDn, F5-F12.
    let tilde = |n: u8| -> Vec<u8> {
        if m > 1 {
            format!("\x1b[{n};{m}~").into_bytes()
        } else {
            format!("\x1b[{n}~").into_bytes()
        }
    };
    let with_alt = |bytes: Vec<u8>| -> Vec<u8> {
        if alt {
            let mut out = vec![0x1b];
            out.extend(bytes);
            out
        } else {
            bytes
        }
    };
    let bytes = match key.code {
        KeyCode::Up => letter('A', true),
        KeyCode::Down => letter('B', true),
        KeyCode::Right => letter('C', true),
        KeyCode::Left => letter('D', true),
        KeyCode::Home => letter('H', true),
        KeyCode::End => letter('F', true),
        KeyCode::F(n @ 1..=4) => letter((b'P' + n - 1) as char, false),
        KeyCode::F(n @ 5..=12) => tilde([15, 17, 18, 19, 20, 21, 23, 24][usize::from(n) - 5]),
        KeyCode::Insert => tilde(2),
        KeyCode::Delete => tilde(3),
        KeyCode::PageUp => tilde(5),
        KeyCode::PageDown => tilde(6),
        KeyCode::Enter => with_alt(vec![b'\r']),
        // xterm sends CSI Z for Shift+Tab whether the terminal reports it as
        // a back-tab or as a Tab with Shift.
        KeyCode::Tab if mods.contains(KeyModifiers::SHIFT) => with_alt(b"\x1b[Z".to_vec()),
        KeyCode::Tab => with_alt(vec![b'\t']),
        KeyCode::BackTab => with_alt(b"\x1b[Z".to_vec()),
        KeyCode::Esc => with_alt(vec![0x1b]),
        KeyCode::Backspace => with_alt(vec![if ctrl { 0x08 } else { 0x7f }]),
        KeyCode::Null => with_alt(vec![0]),
        // Ctrl with a character that has no control form sends the
        // character, as xterm does while modifyOtherKeys is off.
        KeyCode::Char(c) => with_alt(match control_byte(c).filter(|_| ctrl) {
            Some(byte) => vec![byte],
            None => c.to_string().into_bytes(),
        }),
        _ => return None,
    };
    Some(bytes)
}

/// The C0 byte xterm sends for Ctrl with a character, by X11's rules
/// (`XLookupString`): `@` to `~` and Space keep their low five bits, the
/// digits 2 to 8 stand for the control keys of a VT220 (`2` is NUL, `3` to
/// `7` are ESC to US, `8` is DEL), and `/` is US. `?` is DEL, as `^?` names
/// it, and `-` is US as on the keyboards that put `_` above it.
fn control_byte(c: char) -> Option<u8> {
    let byte = u8::try_from(c).ok()?;
    Some(match byte {
        b'@'..=b'~' | b' ' => byte & 0x1f,
        b'2' => 0,
        b'3'..=b'7' => byte - b'3' + 0x1b,
        b'8' | b'?' => 0x7f,
        b'/' | b'-' => 0x1f,
        _ => return None,
    })
}

/// Encodes pasted text: line ends become CR as a typed Enter would, and the
/// text is wrapped in bracketed-paste markers when the program asked for them.
/// Markers inside the text are removed so a paste cannot end itself early.
pub fn encode_paste(text: &str, bracketed: bool) -> Vec<u8> {
    let body = text.replace("\r\n", "\r").replace('\n', "\r");
    if bracketed {
        let body = body.replace("\x1b[200~", "").replace("\x1b[201~", "");
        format!("\x1b[200~{body}\x1b[201~").into_bytes()
    } else {
        body.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }
    const NONE: KeyModifiers = KeyModifiers::NONE;
    const CTRL: KeyModifiers = KeyModifiers::CONTROL;
    const ALT: KeyModifiers = KeyModifiers::ALT;
    const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

    #[test]
    fn tmux_key_names_name_the_keys_they_do_in_tmux() {
        let cases: &[(&str, KeyCode, KeyModifiers)] = &[
            ("Enter", KeyCode::Enter, NONE),
            ("enter", KeyCode::Enter, NONE),
            ("Escape", KeyCode::Esc, NONE),
            ("Tab", KeyCode::Tab, NONE),
            ("BTab", KeyCode::BackTab, NONE),
            ("BSpace", KeyCode::Backspace, NONE),
            ("Space", KeyCode::Char(' '), NONE),
            ("Up", KeyCode::Up, NONE),
            ("NPage", KeyCode::PageDown, NONE),
            ("PageUp", KeyCode::PageUp, NONE),
            ("DC", KeyCode::Delete, NONE),
            ("IC", KeyCode::Insert, NONE),
            ("F5", KeyCode::F(5), NONE),
            ("F12", KeyCode::F(12), NONE),
            ("C-c", KeyCode::Char('c'), CTRL),
            ("M-x", KeyCode::Char('x'), ALT),
            ("C-M-Left", KeyCode::Left, CTRL.union(ALT)),
            ("S-Up", KeyCode::Up, SHIFT),
            ("x", KeyCode::Char('x'), NONE),
            ("-", KeyCode::Char('-'), NONE),
            ("C--", KeyCode::Char('-'), CTRL),
            ("é", KeyCode::Char('é'), NONE),
        ];
        for &(name, code, mods) in cases {
            assert_eq!(parse_key_name(name), Some(key(code, mods)), "{name}");
        }
        for word in ["hello", "F13", "F0", "C-", "X-a", ""] {
            assert_eq!(parse_key_name(word), None, "{word}");
        }
        // What they type, through the same encoding as keys typed in a pane.
        let typed = |name| encode_key(parse_key_name(name).unwrap(), Modes::default());
        assert_eq!(typed("C-c"), Some(b"\x03".to_vec()));
        assert_eq!(typed("M-x"), Some(b"\x1bx".to_vec()));
        assert_eq!(typed("Enter"), Some(b"\r".to_vec()));
        assert_eq!(typed("F5"), Some(b"\x1b[15~".to_vec()));
    }

    #[test]
    fn keys_encode_as_xterm_does() {
        let normal = Modes::default();
        let app = Modes {
            application_cursor: true,
        };
        let cases: &[(KeyCode, KeyModifiers, Modes, &[u8])] = &[
            (KeyCode::Char('a'), NONE, normal, b"a"),
            (KeyCode::Char('A'), SHIFT, normal, b"A"),
            (KeyCode::Char('é'), NONE, normal, "é".as_bytes()),
            (KeyCode::Char('c'), CTRL, normal, b"\x03"),
            (KeyCode::Char(' '), CTRL, normal, b"\x00"),
            (KeyCode::Char('['), CTRL, normal, b"\x1b"),
            (KeyCode::Char('x'), ALT, normal, b"\x1bx"),
            (KeyCode::Char('c'), CTRL | ALT, normal, b"\x1b\x03"),
            (KeyCode::Enter, NONE, normal, b"\r"),
            (KeyCode::Backspace, NONE, normal, b"\x7f"),
            (KeyCode::Backspace, ALT, normal, b"\x1b\x7f"),
            (KeyCode::Tab, NONE, normal, b"\t"),
            (KeyCode::BackTab, SHIFT, normal, b"\x1b[Z"),
            (KeyCode::Esc, NONE, normal, b"\x1b"),
            (KeyCode::Up, NONE, normal, b"\x1b[A"),
            (KeyCode::Up, NONE, app, b"\x1bOA"),
            (KeyCode::Left, NONE, app, b"\x1bOD"),
            (KeyCode::Right, CTRL, app, b"\x1b[1;5C"),
            (KeyCode::Down, SHIFT, normal, b"\x1b[1;2B"),
            (KeyCode::Home, NONE, normal, b"\x1b[H"),
            (KeyCode::End, NONE, app, b"\x1bOF"),
            (KeyCode::PageUp, NONE, normal, b"\x1b[5~"),
            (KeyCode::PageDown, SHIFT, normal, b"\x1b[6;2~"),
            (KeyCode::Delete, NONE, normal, b"\x1b[3~"),
            (KeyCode::Insert, NONE, normal, b"\x1b[2~"),
            (KeyCode::F(1), NONE, normal, b"\x1bOP"),
            (KeyCode::F(4), NONE, app, b"\x1bOS"),
            (KeyCode::F(2), CTRL, normal, b"\x1b[1;5Q"),
            (KeyCode::F(5), NONE, normal, b"\x1b[15~"),
            (KeyCode::F(12), ALT, normal, b"\x1b[24;3~"),
        ];
        for (code, mods, modes, expected) in cases {
            let got = encode_key(key(*code, *mods), *modes);
            assert_eq!(
                got.as_deref(),
                Some(*expected),
                "{code:?} {mods:?} {modes:?}"
            );
        }
        assert_eq!(encode_key(key(KeyCode::F(20), NONE), normal), None);
    }

    /// xterm's C0 byte for Ctrl with each character, modifyOtherKeys off:
    /// one row per character, from X11's `XLookupString` rules (`@` to `~`
    /// keep their low five bits; Space and `2` are NUL; `3` to `7` are ESC
    /// to US; `8` is DEL; `/` is US), plus `?` as DEL and `-` as US.
    const CTRL_TABLE: &[(char, u8)] = &[
        (' ', 0x00),
        ('@', 0x00),
        ('`', 0x00),
        ('2', 0x00),
        ('a', 0x01),
        ('b', 0x02),
        ('c', 0x03),
        ('d', 0x04),
        ('e', 0x05),
        ('f', 0x06),
        ('g', 0x07),
        ('h', 0x08),
        ('i', 0x09),
        ('j', 0x0a),
        ('k', 0x0b),
        ('l', 0x0c),
        ('m', 0x0d),
        ('n', 0x0e),
        ('o', 0x0f),
        ('p', 0x10),
        ('q', 0x11),
        ('r', 0x12),
        ('s', 0x13),
        ('t', 0x14),
        ('u', 0x15),
        ('v', 0x16),
        ('w', 0x17),
        ('x', 0x18),
        ('y', 0x19),
        ('z', 0x1a),
        ('A', 0x01),
        ('M', 0x0d),
        ('Z', 0x1a),
        ('[', 0x1b),
        ('{', 0x1b),
        ('3', 0x1b),
        ('\\', 0x1c),
        ('|', 0x1c),
        ('4', 0x1c),
        (']', 0x1d),
        ('}', 0x1d),
        ('5', 0x1d),
        ('^', 0x1e),
        ('~', 0x1e),
        ('6', 0x1e),
        ('_', 0x1f),
        ('/', 0x1f),
        ('-', 0x1f),
        ('7', 0x1f),
        ('?', 0x7f),
        ('8', 0x7f),
    ];

    #[test]
    fn ctrl_with_a_character_sends_xterms_c0_byte() {
        let normal = Modes::default();
        for &(c, byte) in CTRL_TABLE {
            let shift = if c.is_ascii_uppercase() { SHIFT } else { NONE };
            let got = encode_key(key(KeyCode::Char(c), CTRL | shift), normal);
            assert_eq!(got, Some(vec![byte]), "Ctrl+{c:?}");
            // Alt puts ESC in front of the same byte.
            let got = encode_key(key(KeyCode::Char(c), CTRL | ALT | shift), normal);
            assert_eq!(got, Some(vec![0x1b, byte]), "Ctrl+Alt+{c:?}");
        }
    }

    #[test]
    fn ctrl_with_a_character_that_has_no_control_form_sends_the_character() {
        for c in ['1', '9', '0', ',', '.', ';', '\'', '=', 'é'] {
            let mut plain = [0; 4];
            let plain = c.encode_utf8(&mut plain).as_bytes();
            assert_eq!(
                encode_key(key(KeyCode::Char(c), CTRL), Modes::default()).as_deref(),
                Some(plain),
                "Ctrl+{c:?}"
            );
        }
    }

    #[test]
    fn alt_and_shift_with_characters_and_editing_keys_encode_as_xterm_does() {
        let normal = Modes::default();
        let cases: &[(KeyCode, KeyModifiers, &[u8])] = &[
            (KeyCode::Char('a'), ALT, b"\x1ba"),
            (KeyCode::Char('A'), ALT | SHIFT, b"\x1bA"),
            (KeyCode::Char('A'), SHIFT, b"A"),
            (KeyCode::Char('1'), ALT, b"\x1b1"),
            (KeyCode::Char(' '), ALT, b"\x1b "),
            (KeyCode::Char(' '), NONE, b" "),
            (KeyCode::Char('['), ALT, b"\x1b["),
            (KeyCode::Char('é'), ALT, "\x1bé".as_bytes()),
            (KeyCode::Backspace, NONE, b"\x7f"),
            (KeyCode::Backspace, SHIFT, b"\x7f"),
            (KeyCode::Backspace, CTRL, b"\x08"),
            (KeyCode::Backspace, ALT, b"\x1b\x7f"),
            (KeyCode::Backspace, CTRL | ALT, b"\x1b\x08"),
            (KeyCode::Enter, NONE, b"\r"),
            (KeyCode::Enter, SHIFT, b"\r"),
            (KeyCode::Enter, CTRL, b"\r"),
            (KeyCode::Enter, ALT, b"\x1b\r"),
            (KeyCode::Tab, NONE, b"\t"),
            (KeyCode::Tab, CTRL, b"\t"),
            (KeyCode::Tab, ALT, b"\x1b\t"),
            (KeyCode::Tab, SHIFT, b"\x1b[Z"),
            (KeyCode::BackTab, SHIFT, b"\x1b[Z"),
            (KeyCode::BackTab, NONE, b"\x1b[Z"),
            (KeyCode::BackTab, ALT | SHIFT, b"\x1b\x1b[Z"),
            (KeyCode::Esc, NONE, b"\x1b"),
            (KeyCode::Esc, ALT, b"\x1b\x1b"),
            (KeyCode::Null, NONE, b"\x00"),
            (KeyCode::Null, ALT, b"\x1b\x00"),
        ];
        for (code, mods, expected) in cases {
            assert_eq!(
                encode_key(key(*code, *mods), normal).as_deref(),
                Some(*expected),
                "{code:?} {mods:?}"
            );
        }
    }

    /// xterm's modifier parameter for each combination of Shift, Alt and
    /// Ctrl (ctlseqs, "PC-Style Function Keys").
    const MODIFIER_PARAMS: &[(KeyModifiers, u8)] = &[
        (SHIFT, 2),
        (ALT, 3),
        (SHIFT.union(ALT), 4),
        (CTRL, 5),
        (CTRL.union(SHIFT), 6),
        (CTRL.union(ALT), 7),
        (CTRL.union(ALT).union(SHIFT), 8),
    ];

    #[test]
    fn cursor_and_function_keys_encode_as_xterm_does_with_every_modifier() {
        // Per key: unmodified in normal mode, unmodified in application
        // cursor mode (DECCKM), and the modified form with `{m}` for the
        // modifier parameter: `CSI 1 ; m X` or `CSI n ; m ~`.
        let table: &[(KeyCode, &str, &str, &str)] = &[
            (KeyCode::Up, "\x1b[A", "\x1bOA", "\x1b[1;{m}A"),
            (KeyCode::Down, "\x1b[B", "\x1bOB", "\x1b[1;{m}B"),
            (KeyCode::Right, "\x1b[C", "\x1bOC", "\x1b[1;{m}C"),
            (KeyCode::Left, "\x1b[D", "\x1bOD", "\x1b[1;{m}D"),
            (KeyCode::Home, "\x1b[H", "\x1bOH", "\x1b[1;{m}H"),
            (KeyCode::End, "\x1b[F", "\x1bOF", "\x1b[1;{m}F"),
            (KeyCode::F(1), "\x1bOP", "\x1bOP", "\x1b[1;{m}P"),
            (KeyCode::F(2), "\x1bOQ", "\x1bOQ", "\x1b[1;{m}Q"),
            (KeyCode::F(3), "\x1bOR", "\x1bOR", "\x1b[1;{m}R"),
            (KeyCode::F(4), "\x1bOS", "\x1bOS", "\x1b[1;{m}S"),
            (KeyCode::F(5), "\x1b[15~", "\x1b[15~", "\x1b[15;{m}~"),
            (KeyCode::F(6), "\x1b[17~", "\x1b[17~", "\x1b[17;{m}~"),
            (KeyCode::F(7), "\x1b[18~", "\x1b[18~", "\x1b[18;{m}~"),
            (KeyCode::F(8), "\x1b[19~", "\x1b[19~", "\x1b[19;{m}~"),
            (KeyCode::F(9), "\x1b[20~", "\x1b[20~", "\x1b[20;{m}~"),
            (KeyCode::F(10), "\x1b[21~", "\x1b[21~", "\x1b[21;{m}~"),
            (KeyCode::F(11), "\x1b[23~", "\x1b[23~", "\x1b[23;{m}~"),
            (KeyCode::F(12), "\x1b[24~", "\x1b[24~", "\x1b[24;{m}~"),
            (KeyCode::Insert, "\x1b[2~", "\x1b[2~", "\x1b[2;{m}~"),
            (KeyCode::Delete, "\x1b[3~", "\x1b[3~", "\x1b[3;{m}~"),
            (KeyCode::PageUp, "\x1b[5~", "\x1b[5~", "\x1b[5;{m}~"),
            (KeyCode::PageDown, "\x1b[6~", "\x1b[6~", "\x1b[6;{m}~"),
        ];
        let app = Modes {
            application_cursor: true,
        };
        for &(code, normal, application, modified) in table {
            let got = |mods, modes| encode_key(key(code, mods), modes).map(String::from_utf8);
            assert_eq!(
                got(NONE, Modes::default()),
                Some(Ok(normal.into())),
                "{code:?}"
            );
            assert_eq!(
                got(NONE, app),
                Some(Ok(application.into())),
                "{code:?} DECCKM"
            );
            for &(mods, m) in MODIFIER_PARAMS {
                let expected = modified.replace("{m}", &m.to_string());
                // The modified form is the same in both cursor modes.
                for modes in [Modes::default(), app] {
                    assert_eq!(
                        got(mods, modes),
                        Some(Ok(expected.clone())),
                        "{code:?} {mods:?} {modes:?}"
                    );
                }
            }
        }
        // Keys beyond F12 have no form here; Meta and Super are not sent.
        assert_eq!(
            encode_key(key(KeyCode::F(13), NONE), Modes::default()),
            None
        );
        assert_eq!(
            encode_key(key(KeyCode::Up, KeyModifiers::SUPER), Modes::default()).as_deref(),
            Some(&b"\x1b[A"[..])
        );
    }

    #[test]
    fn plain_keys_go_to_the_pane() {
        let mut map = Keymap::default();
        assert_eq!(
            map.handle(key(KeyCode::Char('q'), NONE), Modes::default()),
            Action::Send(b"q".to_vec())
        );
    }

    #[test]
    fn prefix_then_command_keys() {
        let cases: &[(KeyCode, KeyModifiers, Action)] = &[
            (KeyCode::Char('q'), NONE, Action::Quit),
            (KeyCode::Char('x'), NONE, Action::StopPane),
            (KeyCode::Char('X'), SHIFT, Action::KillPane),
            (KeyCode::Char('s'), NONE, Action::StartPane),
            (KeyCode::Char('r'), NONE, Action::RestartPane),
            (KeyCode::Char('R'), SHIFT, Action::RestartGroup),
            (KeyCode::Char('o'), NONE, Action::FocusNext),
            (KeyCode::Char('z'), NONE, Action::ToggleZoom),
            (KeyCode::Char('?'), SHIFT, Action::ToggleHelp),
            (KeyCode::Char('1'), NONE, Action::FocusNumber(1)),
            (KeyCode::Char('3'), NONE, Action::FocusNumber(3)),
            (KeyCode::Char('9'), NONE, Action::FocusNumber(9)),
            (KeyCode::Char('0'), NONE, Action::Nothing),
            (KeyCode::Char(' '), NONE, Action::NextLayout),
            (KeyCode::Char('c'), NONE, Action::NewPane),
            (KeyCode::Char(','), NONE, Action::RenamePane),
            (KeyCode::Char('&'), SHIFT, Action::ClosePane),
            (KeyCode::Char('['), NONE, Action::ScrollMode),
            (KeyCode::Char('h'), NONE, Action::Focus(Direction::Left)),
            (KeyCode::Char('j'), NONE, Action::Focus(Direction::Down)),
            (KeyCode::Char('k'), NONE, Action::Focus(Direction::Up)),
            (KeyCode::Char('l'), NONE, Action::Focus(Direction::Right)),
            (KeyCode::Left, NONE, Action::Focus(Direction::Left)),
            (KeyCode::Right, NONE, Action::Focus(Direction::Right)),
            (KeyCode::Up, NONE, Action::Focus(Direction::Up)),
            (KeyCode::Down, NONE, Action::Focus(Direction::Down)),
            (KeyCode::Char('b'), CTRL, Action::Send(vec![0x02])),
            (KeyCode::Char('y'), NONE, Action::Nothing),
            (KeyCode::Char('q'), CTRL, Action::Nothing),
        ];
        for (code, mods, expected) in cases {
            let mut map = Keymap::default();
            assert_eq!(
                map.handle(key(KeyCode::Char('b'), CTRL), Modes::default()),
                Action::AwaitCommand
            );
            assert!(map.armed());
            assert_eq!(
                &map.handle(key(*code, *mods), Modes::default()),
                expected,
                "{code:?}"
            );
            assert!(!map.armed(), "one key after the prefix disarms it");
            // The key after that goes to the pane again.
            assert_eq!(
                map.handle(key(KeyCode::Char('q'), NONE), Modes::default()),
                Action::Send(b"q".to_vec())
            );
        }
    }

    #[test]
    fn alt_arrows_move_focus_without_the_prefix() {
        let mut map = Keymap::default();
        for (code, dir) in [
            (KeyCode::Left, Direction::Left),
            (KeyCode::Right, Direction::Right),
            (KeyCode::Up, Direction::Up),
            (KeyCode::Down, Direction::Down),
        ] {
            assert_eq!(
                map.handle(key(code, ALT), Modes::default()),
                Action::Focus(dir)
            );
        }
        // Without Alt, arrows are the program's.
        assert_eq!(
            map.handle(key(KeyCode::Left, NONE), Modes::default()),
            Action::Send(b"\x1b[D".to_vec())
        );
        assert_eq!(
            map.handle(key(KeyCode::Down, CTRL), Modes::default()),
            Action::Send(b"\x1b[1;5B".to_vec())
        );
        assert_eq!(
            map.handle(key(KeyCode::Right, ALT), Modes::default()),
            Action::Focus(Direction::Right)
        );
        assert_eq!(
            map.handle(key(KeyCode::Up, ALT), Modes::default()),
            Action::Focus(Direction::Up)
        );
        // With Shift as well, it is the program's key again.
        assert_eq!(
            map.handle(key(KeyCode::Right, ALT | SHIFT), Modes::default()),
            Action::Send(b"\x1b[1;4C".to_vec())
        );
    }

    #[test]
    fn only_the_prefix_itself_arms_the_keymap() {
        let mut map = Keymap::default();
        let cases: &[(KeyCode, KeyModifiers, &[u8])] = &[
            (KeyCode::Char('b'), NONE, b"b"),
            (KeyCode::Char('b'), ALT, b"\x1bb"),
            (KeyCode::Char('B'), SHIFT, b"B"),
            (KeyCode::Char('a'), CTRL, b"\x01"),
        ];
        for (code, mods, bytes) in cases {
            assert_eq!(
                map.handle(key(*code, *mods), Modes::default()),
                Action::Send(bytes.to_vec()),
                "{code:?} {mods:?}"
            );
            assert!(!map.armed());
        }
        // A configured prefix replaces C-b, which goes to the pane again;
        // the prefix twice sends the prefix.
        let mut map = Keymap::new(KeyEvent::new(KeyCode::Char('a'), CTRL));
        let ctrl_a = key(KeyCode::Char('a'), CTRL);
        assert_eq!(
            map.handle(key(KeyCode::Char('b'), CTRL), Modes::default()),
            Action::Send(vec![0x02])
        );
        assert_eq!(map.handle(ctrl_a, Modes::default()), Action::AwaitCommand);
        assert_eq!(
            map.handle(ctrl_a, Modes::default()),
            Action::Send(vec![0x01])
        );
        assert!(!map.armed());
    }

    #[test]
    fn the_prefix_is_labelled_the_way_tmux_writes_keys() {
        let label = |code, mods| Keymap::new(KeyEvent::new(code, mods)).prefix_label();
        assert_eq!(Keymap::default().prefix_label(), "C-b");
        assert_eq!(label(KeyCode::Char('a'), ALT), "M-a");
        assert_eq!(label(KeyCode::Char(' '), CTRL), "C-Space");
    }

    #[test]
    fn releases_are_ignored() {
        let mut map = Keymap::default();
        let mut release = key(KeyCode::Char('b'), CTRL);
        release.kind = KeyEventKind::Release;
        assert_eq!(map.handle(release, Modes::default()), Action::Nothing);
        assert!(!map.armed());
    }

    #[test]
    fn paste_is_bracketed_only_when_asked() {
        assert_eq!(encode_paste("a\nb\r\nc", false), b"a\rb\rc");
        assert_eq!(encode_paste("ls", true), b"\x1b[200~ls\x1b[201~");
        assert_eq!(
            encode_paste("x\x1b[201~rm -rf /\n", true),
            b"\x1b[200~xrm -rf /\r\x1b[201~"
        );
    }
}
