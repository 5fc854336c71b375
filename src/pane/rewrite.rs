//! Supplies the escape sequences and modes vt100 0.18 ignores, by rewriting a
//! pane's output into what it understands before the parser sees it: DEC
//! special graphics and the UK set (designation, SO/SI, DECSC/DECRC), IND and
//! NEL, autowrap off, insert mode, tab stops, DECALN, alternate screens 1047
//! and 1048, the colon and extended forms of SGR, conceal, SCOSC/SCORC,
//! DECCOLM once mode 40 allows it (the screen cleared as on a switch of
//! width, the width kept), and DECSTBM's cursor home as xterm puts it.
//!
//! The rewriter follows the escape-sequence syntax itself, since a read can
//! cut a sequence anywhere: a sequence it may change is held back until it
//! is complete (an overlong one goes on unchanged), everything else passes
//! through. Where the result depends on the cursor (tab stops, insert mode,
//! autowrap off, HTS), the bytes before that point go to the parser first,
//! and the cursor it then reports decides the equivalent that follows.
//! Output with no special mode active and no ESC, SO or SI (nor a tab,
//! with stops of the program's own) reaches the parser as it came, after
//! one scan.

use std::io::Write as _;

use unicode_width::UnicodeWidthChar;

const ESC: u8 = 0x1b;
const SO: u8 = 0x0e;
const SI: u8 = 0x0f;
const HT: u8 = 0x09;
const CAN: u8 = 0x18;
const SUB: u8 = 0x1a;
const BEL: u8 = 0x07;
/// The first byte of VS16 (U+FE0F, emoji presentation) in UTF-8. VS16 is
/// the one character vt100 lets make the character before it wide, after
/// the fact.
const SELECTOR_START: u8 = 0xef;

/// What the output erases besides the parser's own cells, which the
/// screen that keeps it (the history, rows back from it, modes vt100 does
/// not track) must erase at the same point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Erase {
    /// The saved lines (`CSI 3 J`, `CSI ? 3 J`).
    Saved,
    /// The whole screen (`CSI 2 J`, `CSI ? 2 J`).
    Screen,
    /// A reset (RIS, `ESC c`), which erases the screen and ends the modes
    /// vt100 does not track, as it resets its own.
    Reset,
}

impl Erase {
    /// What an erase in display (`CSI J`, or `CSI ? J`) with these
    /// parameters erases that the history must follow.
    fn of_ed(params: &[u8]) -> Option<Erase> {
        match params {
            b"2" => Some(Erase::Screen),
            b"3" => Some(Erase::Saved),
            _ => None,
        }
    }
}

/// The parser's callbacks, told of each [`Erase`] once the parser has
/// carried it out, before any output after it.
pub trait Erasing: vt100::Callbacks {
    fn erased(&mut self, _erase: Erase) {}
}

impl Erasing for () {}

/// The longest sequence held back; a longer one is passed on as it comes.
/// The longest SGR a program plausibly writes is well under this.
const SEQUENCE_LIMIT: usize = 256;

/// The characters DEC special graphics puts at 0x5f to 0x7e.
const DEC_GRAPHICS: [char; 32] = [
    ' ', '◆', '▒', '␉', '␌', '␍', '␊', '°', '±', '␤', '␋', '┘', '┐', '┌', '└', '┼', '⎺', '⎻', '─',
    '⎼', '⎽', '├', '┤', '┴', '┬', '│', '≤', '≥', 'π', '≠', '£', '·',
];

/// A character set a G0 or G1 designation can name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Charset {
    #[default]
    Ascii,
    DecGraphics,
    Uk,
}

impl Charset {
    /// The set an `ESC ( f` / `ESC ) f` designation names; sets vt100 has no
    /// use for (the national ones) count as ASCII, so that none sticks.
    fn designated(f: u8) -> Self {
        match f {
            b'0' => Self::DecGraphics,
            b'A' => Self::Uk,
            _ => Self::Ascii,
        }
    }
}

/// G0 and G1, and which of them SO/SI shifted into GL. DECSC saves it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Charsets {
    g: [Charset; 2],
    gl: usize,
}

impl Charsets {
    fn active(self) -> Charset {
        self.g[self.gl]
    }

    fn map(self, c: char) -> char {
        match (self.active(), c) {
            (Charset::DecGraphics, '\u{5f}'..='\u{7e}') => DEC_GRAPHICS[c as usize - 0x5f],
            (Charset::Uk, '#') => '£',
            _ => c,
        }
    }
}

/// What DECSC saves beyond what vt100 saves itself: the character sets, and
/// conceal, which is an SGR attribute to xterm but not to vt100.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Saved {
    charsets: Charsets,
    conceal: bool,
}

/// Where the rewriter is in the escape-sequence syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC and any intermediates, all held in `seq`.
    Escape,
    /// Inside a CSI, held in `seq`.
    Csi,
    /// Inside a sequence too long to hold, passed on until a byte from
    /// `final_from` to 0x7e ends it.
    Passing {
        final_from: u8,
    },
    /// Inside an OSC (which BEL also ends), DCS, SOS, PM or APC string,
    /// passed on until its end.
    Text {
        bell_ends: bool,
    },
}

/// The rewriting state of one pane's output; see the module header.
pub struct Rewriter {
    state: State,
    /// The sequence held back, from its ESC.
    seq: Vec<u8>,
    /// A UTF-8 character begun but not finished, while characters are
    /// rewritten one by one.
    utf8: Vec<u8>,
    /// How many bytes the character in `utf8` takes.
    utf8_len: usize,
    charsets: Charsets,
    /// SGR 8: characters print as blanks, since vt100 cells cannot hide.
    conceal: bool,
    /// IRM: printing shifts the rest of the row right.
    insert: bool,
    /// DECAWM reset: printing at the right edge overwrites the last column.
    no_autowrap: bool,
    /// Mode 40: the program allowed DECCOLM to switch between 80 and 132
    /// columns, as xterm requires before it acts on DECCOLM at all.
    allow_columns: bool,
    /// What DECSC saved, on the main screen and on the alternate one.
    saved: [Saved; 2],
    /// Whether DECSC (or what saves as it does) was used on the main screen
    /// and on the alternate one since the start or the last RIS.
    cursor_saved: [bool; 2],
    /// The tab stops, one per column, when the program set its own; `None`
    /// while they are the default every 8 columns, which vt100 keeps.
    stops: Option<Vec<bool>>,
    /// The bytes for the parser not handed over yet.
    out: Vec<u8>,
    /// The parser was made to drop the sequence or string being passed on
    /// (see [`Rewriter::interrupt`]): the rest of it is dropped here too,
    /// rather than reach the parser as text.
    discard: bool,
}

impl Default for Rewriter {
    fn default() -> Self {
        Self {
            state: State::Ground,
            seq: Vec::new(),
            utf8: Vec::new(),
            utf8_len: 0,
            charsets: Charsets::default(),
            conceal: false,
            insert: false,
            no_autowrap: false,
            allow_columns: false,
            saved: [Saved::default(); 2],
            cursor_saved: [false; 2],
            stops: None,
            out: Vec::new(),
            discard: false,
        }
    }
}

/// Whether column `col` holds a tab stop by default.
fn default_stop(col: usize) -> bool {
    col.is_multiple_of(8)
}

/// A numeric parameter as vte reads it: digits up to the first other byte,
/// empty as 0, saturating.
fn number(param: &[u8]) -> u16 {
    param
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u16, |n, &d| {
            n.saturating_mul(10).saturating_add(u16::from(d - b'0'))
        })
}

/// Where the first VS16 in `bytes` starts. Text with no byte 0xef (all
/// ASCII, and most other text) costs one memchr.
fn find_selector(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(SELECTOR_START, bytes).find(|&i| selector(&bytes[i..]).is_some())
}

/// The VS16 that `bytes` starts with, if it does.
fn selector(bytes: &[u8]) -> Option<char> {
    match bytes {
        [0xef, 0xb8, 0x8f, ..] => Some('\u{fe0f}'),
        _ => None,
    }
}

/// Whether `param` is a plain number (no subparameters).
fn is_number(param: &[u8]) -> bool {
    param.iter().all(u8::is_ascii_digit)
}

impl Rewriter {
    /// Whether output passes through unchanged for now: no special mode is
    /// active and no sequence is held. Bytes that bypass the parser (the
    /// plain-line fast path) may only do so then.
    pub fn passes_plain_text(&self) -> bool {
        self.state == State::Ground && self.utf8.is_empty() && !self.rewrites_characters()
    }

    /// Whether printable characters are rewritten one by one.
    fn rewrites_characters(&self) -> bool {
        self.charsets.active() != Charset::Ascii || self.conceal || self.insert || self.no_autowrap
    }

    /// Brings the parser back to the ground state if it is in the middle of
    /// a sequence or string this rewriter passed on (an overlong sequence,
    /// an OSC, DCS or the like), so that bytes fed to it directly, as a
    /// resize reprinting the screen does, are not taken as part of it. The
    /// rest of that sequence is then dropped. Sequences held here are not
    /// affected: they reach the parser whole, later.
    pub fn interrupt<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        self.flush(parser);
        if matches!(self.state, State::Passing { .. } | State::Text { .. }) {
            parser.process(&[CAN]);
            self.discard = true;
        }
    }

    /// Forgets the program whose output this was, for a new one to start
    /// from the defaults: what is held of a sequence or a character is
    /// dropped (the parser is brought back to the ground state too), and
    /// every mode, the tab stops and the DECSC slots are reset.
    pub fn restart<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        self.flush(parser);
        if self.state != State::Ground {
            parser.process(&[CAN]);
        }
        *self = Self {
            out: std::mem::take(&mut self.out),
            ..Self::default()
        };
    }

    /// Whether the program saved the cursor on the main screen (DECSC,
    /// SCOSC, 1048 or 1049) since it started or last reset the terminal.
    /// Until it does, the saved cursor is the top-left corner, wherever a
    /// resize moves the lines.
    pub fn main_cursor_saved(&self) -> bool {
        self.cursor_saved[0]
    }

    /// Keeps custom tab stops for a screen `cols` wide: new columns get the
    /// default stops.
    pub fn resize(&mut self, cols: u16) {
        if let Some(stops) = &mut self.stops {
            let old = stops.len();
            let cols = usize::from(cols);
            stops.truncate(cols);
            stops.extend((old..cols).map(default_stop));
        }
    }

    /// The first byte in `bytes` that needs more than passing through,
    /// outside any sequence and with no special mode active: a control the
    /// rewriter follows, or a selector that can widen a character.
    fn next_special(&self, bytes: &[u8]) -> Option<usize> {
        let tabs = self.stops.is_some();
        // A key's echo, or a line on a one-row screen, is a few bytes: no
        // call to set up for it, one look at each byte.
        if tabs || bytes.len() < 16 {
            let mut from = 0;
            loop {
                let at = from
                    + bytes[from..].iter().position(|&b| {
                        matches!(b, ESC | SO | SI | SELECTOR_START) || (tabs && b == HT)
                    })?;
                if bytes[at] != SELECTOR_START || selector(&bytes[at..]).is_some() {
                    return Some(at);
                }
                from = at + 1;
            }
        }
        let control = memchr::memchr3(ESC, SO, SI, bytes);
        // Only up to the control, so that a run of sequences is not searched
        // to its end again for each.
        let before = &bytes[..control.unwrap_or(bytes.len())];
        find_selector(before).or(control)
    }

    /// Feeds `bytes` of program output to `parser`, rewritten.
    pub fn feed<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, bytes: &[u8]) {
        self.feed_with(parser, bytes, |parser| parser.process(b"\n"));
    }

    /// Like [`Rewriter::feed`], with `index` carrying out IND and NEL's move
    /// down (a line feed to vt100), for a caller that tells the rows it
    /// scrolls off from rows that wrapped.
    pub fn feed_with<C: Erasing>(
        &mut self,
        parser: &mut vt100::Parser<C>,
        bytes: &[u8],
        index: fn(&mut vt100::Parser<C>),
    ) {
        let mut i = 0;
        if self.state == State::Ground && !self.rewrites_characters() && self.utf8.is_empty() {
            match self.next_special(bytes) {
                None => {
                    let whole = self.hold_unfinished(bytes);
                    return parser.process(&bytes[..whole]);
                }
                Some(first) => {
                    self.out.extend_from_slice(&bytes[..first]);
                    i = first;
                }
            }
        }
        while i < bytes.len() {
            i = self.step(parser, bytes, i, index);
        }
        self.flush(parser);
    }

    /// Keeps a character that `bytes` ends in the middle of, at most three
    /// bytes, for the next output to finish, and returns how many bytes go
    /// on before it: the parser must not hold half a character while a
    /// resize feeds it directly, or the character is lost. Only the last
    /// bytes are looked at.
    fn hold_unfinished(&mut self, bytes: &[u8]) -> usize {
        for back in 1..=bytes.len().min(3) {
            let b = bytes[bytes.len() - back];
            if (0x80..=0xbf).contains(&b) {
                continue;
            }
            let len = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => break,
            };
            if len > back {
                self.utf8.extend_from_slice(&bytes[bytes.len() - back..]);
                self.utf8_len = len;
                return bytes.len() - back;
            }
            break;
        }
        bytes.len()
    }

    /// Hands what is ready to the parser.
    fn flush<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        if !self.out.is_empty() {
            parser.process(&self.out);
            self.out.clear();
        }
    }

    /// The cursor's column (one past the edge while a wrap is pending) and
    /// the screen's width, once everything before has been parsed.
    fn cursor<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) -> (u16, u16) {
        self.flush(parser);
        let vt = parser.screen();
        (vt.cursor_position().1, vt.size().1.get())
    }

    /// Whether the alternate screen shows, once everything before has been
    /// parsed; each screen has its own DECSC slot, as in xterm.
    fn screen_index<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) -> usize {
        self.flush(parser);
        usize::from(parser.screen().alternate_screen())
    }

    /// Takes bytes from `bytes[i..]` and returns where to go on.
    fn step<C: Erasing>(
        &mut self,
        parser: &mut vt100::Parser<C>,
        bytes: &[u8],
        i: usize,
        index: fn(&mut vt100::Parser<C>),
    ) -> usize {
        let b = bytes[i];
        match self.state {
            // A character begun in an earlier read is finished (or found
            // not to be one) below, one byte at a time.
            State::Ground if !self.rewrites_characters() && self.utf8.is_empty() => {
                let rest = &bytes[i..];
                let Some(at) = self.next_special(rest) else {
                    let whole = self.hold_unfinished(rest);
                    self.out.extend_from_slice(&rest[..whole]);
                    return bytes.len();
                };
                self.out.extend_from_slice(&rest[..at]);
                if let Some(c) = selector(&rest[at..]) {
                    self.print(parser, c);
                    return i + at + c.len_utf8();
                }
                if let Some(len) = self.csi_unchanged(&rest[at..]) {
                    self.out.extend_from_slice(&rest[at..at + len]);
                    return i + at + len;
                }
                self.ground_control(parser, rest[at]);
                i + at + 1
            }
            State::Ground => {
                if !self.utf8.is_empty() {
                    if !(0x80..=0xbf).contains(&b) {
                        // Not a character after all: vte draws nothing for it.
                        self.out.append(&mut self.utf8);
                        return i;
                    }
                    self.utf8.push(b);
                    if self.utf8.len() == self.utf8_len {
                        match std::str::from_utf8(&self.utf8)
                            .ok()
                            .and_then(|s| s.chars().next())
                        {
                            Some(c) => {
                                self.utf8.clear();
                                self.print(parser, c);
                            }
                            None => self.out.append(&mut self.utf8),
                        }
                    }
                    return i + 1;
                }
                match b {
                    0x20..=0x7e => self.print(parser, char::from(b)),
                    0xc2..=0xf4 => {
                        self.utf8.push(b);
                        self.utf8_len = match b {
                            0xc2..=0xdf => 2,
                            0xe0..=0xef => 3,
                            _ => 4,
                        };
                    }
                    0x00..=0x1f => self.ground_control(parser, b),
                    _ => self.out.push(b),
                }
                i + 1
            }
            State::Escape => {
                match b {
                    ESC => self.restart_sequence(),
                    CAN | SUB => self.abandon_sequence(b),
                    0x00..=0x1f => self.control(parser, b),
                    _ if self.seq.len() == 1 && b == b'[' => {
                        self.seq.push(b);
                        self.state = State::Csi;
                    }
                    _ if self.seq.len() == 1 && matches!(b, b']' | b'P' | b'X' | b'^' | b'_') => {
                        self.out.append(&mut self.seq);
                        self.out.push(b);
                        self.state = State::Text {
                            bell_ends: b == b']',
                        };
                    }
                    0x20..=0x2f => {
                        self.seq.push(b);
                        self.bound(0x30);
                    }
                    0x30..=0x7e => {
                        self.seq.push(b);
                        self.state = State::Ground;
                        self.escape(parser, index);
                    }
                    // DEL and bytes above ASCII: the parser ignores them here.
                    _ => {}
                }
                i + 1
            }
            State::Csi => {
                // Parameters and intermediates, up to the final byte, in one go.
                let rest = &bytes[i..];
                let run = rest
                    .iter()
                    .position(|b| !(0x20..=0x3f).contains(b))
                    .unwrap_or(rest.len());
                if run > 0 {
                    self.seq.extend_from_slice(&rest[..run]);
                    self.bound(0x40);
                    return i + run;
                }
                match b {
                    ESC => self.restart_sequence(),
                    CAN | SUB => self.abandon_sequence(b),
                    0x00..=0x1f => self.control(parser, b),
                    0x40..=0x7e => {
                        self.seq.push(b);
                        self.state = State::Ground;
                        self.csi(parser);
                    }
                    // DEL and bytes above ASCII: the parser ignores them here.
                    _ => {}
                }
                i + 1
            }
            State::Passing { final_from } => {
                match b {
                    ESC => self.restart_sequence(),
                    CAN | SUB => self.abandon_sequence(b),
                    0x00..=0x1f => self.control(parser, b),
                    _ => {
                        if !self.discard {
                            self.out.push(b);
                        }
                        if (final_from..=0x7e).contains(&b) {
                            self.state = State::Ground;
                            self.discard = false;
                        }
                    }
                }
                i + 1
            }
            State::Text { bell_ends } => {
                let rest = &bytes[i..];
                let end = rest
                    .iter()
                    .position(|&b| matches!(b, ESC | CAN | SUB) || (bell_ends && b == BEL));
                let Some(at) = end else {
                    if !self.discard {
                        self.out.extend_from_slice(rest);
                    }
                    return bytes.len();
                };
                if !std::mem::take(&mut self.discard) {
                    self.out.extend_from_slice(&rest[..at]);
                    if rest[at] != ESC {
                        self.out.push(rest[at]);
                    }
                }
                match rest[at] {
                    ESC => self.restart_sequence(),
                    _ => self.state = State::Ground,
                }
                i + at + 1
            }
        }
    }

    /// The length of the CSI sequence that `bytes` starts with, if it is
    /// complete and goes to the parser unchanged: the common case (colours,
    /// cursor moves, erasing) checked in place, without the state machine.
    fn csi_unchanged(&self, bytes: &[u8]) -> Option<usize> {
        let [ESC, b'[', rest @ ..] = bytes else {
            return None;
        };
        let end = rest.iter().position(|b| !(0x20..=0x3f).contains(b))?;
        let len = end + 3;
        let unchanged = match rest[end] {
            b'm' => self.sgr_unchanged(&rest[..end]),
            b'h' | b'l' | b'g' | b'I' | b'Z' | b'r' | b's' | b'u' | b'p' => false,
            b'J' => {
                let params = &rest[..end];
                Erase::of_ed(params.strip_prefix(b"?").unwrap_or(params)).is_none()
            }
            f => (0x40..=0x7e).contains(&f),
        };
        (unchanged && len <= SEQUENCE_LIMIT).then_some(len)
    }

    /// Whether an SGR with these parameters needs no rewriting, checked
    /// without allocating. Without conceal on, a reset (even one misread in
    /// a colour's arguments) changes nothing here either.
    fn sgr_unchanged(&self, params: &[u8]) -> bool {
        let changed = |n: u16| matches!(n, 5 | 6 | 8 | 9 | 21 | 25 | 28 | 29 | 53 | 55 | 58 | 59);
        let mut n = 0u16;
        !self.conceal
            && params.iter().all(|&b| match b {
                b'0'..=b'9' => {
                    n = n.saturating_mul(10).saturating_add(u16::from(b - b'0'));
                    true
                }
                b';' => !changed(std::mem::take(&mut n)),
                _ => false,
            })
            && !changed(n)
    }

    /// An ESC starts a sequence; what was held of an unfinished one goes on
    /// as it was, since the parser drops it the same way.
    fn restart_sequence(&mut self) {
        self.discard = false;
        self.out.append(&mut self.seq);
        self.seq.push(ESC);
        self.state = State::Escape;
    }

    /// CAN or SUB cancels the sequence held.
    fn abandon_sequence(&mut self, b: u8) {
        self.discard = false;
        self.out.append(&mut self.seq);
        self.out.push(b);
        self.state = State::Ground;
    }

    /// Passes on a sequence that grew too long to hold.
    fn bound(&mut self, final_from: u8) {
        if self.seq.len() >= SEQUENCE_LIMIT {
            self.out.append(&mut self.seq);
            self.state = State::Passing { final_from };
        }
    }

    /// A C0 control outside any sequence.
    fn ground_control<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, b: u8) {
        if b == ESC {
            self.restart_sequence();
        } else {
            self.control(parser, b);
        }
    }

    /// A C0 control other than ESC, CAN and SUB, which the parser carries
    /// out wherever it comes, even inside a sequence.
    fn control<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, b: u8) {
        match b {
            SO => self.charsets.gl = 1,
            SI => self.charsets.gl = 0,
            HT if self.stops.is_some() => self.tab_forward(parser, 1),
            _ => self.out.push(b),
        }
    }

    /// Prints `c` under the character set, conceal, insert mode and
    /// autowrap.
    fn print<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, c: char) {
        let c = self.charsets.map(c);
        let mut buf = [0; 4];
        let encoded = c.encode_utf8(&mut buf).as_bytes();
        // vt100 draws no C0 or C1 control, nor U+FFFD.
        let width = match c.width() {
            _ if c == '\u{fffd}' => None,
            None if u32::from(c) < 256 => None,
            w => Some(w.unwrap_or(1).min(2) as u16),
        };
        let Some(width) = width else {
            self.out.extend_from_slice(encoded);
            return;
        };
        if c == '\u{fe0f}' && self.widens_last_column(parser, c) {
            return;
        }
        if width > 0 && (self.insert || self.no_autowrap) {
            let (col, cols) = self.cursor(parser);
            let fits = col.saturating_add(width) <= cols;
            if self.no_autowrap && !fits {
                let _ = write!(self.out, "\x1b[{}G", cols.saturating_sub(width) + 1);
            }
            // While a wrap is pending the character goes to the next row,
            // which vt100 moves to only as it prints; it overwrites there.
            if self.insert && (fits || self.no_autowrap) {
                let _ = write!(self.out, "\x1b[{width}@");
            }
        }
        if self.conceal {
            self.out.extend_from_slice(&b"  "[..usize::from(width)]);
        } else {
            self.out.extend_from_slice(encoded);
        }
    }

    /// Whether `selector` printed now would make the character in the last
    /// column wide. vt100 then leaves a wide cell there with no room for
    /// its second half, and panics on a later write over it; xterm never
    /// widens a cell after the fact, so the selector is dropped instead.
    fn widens_last_column<C: Erasing>(
        &mut self,
        parser: &mut vt100::Parser<C>,
        selector: char,
    ) -> bool {
        self.flush(parser);
        let vt = parser.screen();
        let ((row, col), cols) = (vt.cursor_position(), vt.size().1.get());
        // The selector joins the character left of the cursor, which is in
        // the last column only while a wrap is pending.
        if col < cols {
            return false;
        }
        vt.cell(row, cols - 1).is_some_and(|cell| {
            !cell.is_wide_continuation()
                && !cell.is_wide()
                && unicode_width::UnicodeWidthStr::width(
                    format!("{}{selector}", cell.contents()).as_str(),
                ) > 1
        })
    }

    /// A complete escape sequence (not CSI) in `seq`.
    fn escape<C: Erasing>(
        &mut self,
        parser: &mut vt100::Parser<C>,
        index: fn(&mut vt100::Parser<C>),
    ) {
        let seq = std::mem::take(&mut self.seq);
        match &seq[1..] {
            [b'(', f] => self.charsets.g[0] = Charset::designated(*f),
            [b')', f] => self.charsets.g[1] = Charset::designated(*f),
            [b'#', b'8'] => self.align(parser),
            [b'7'] => {
                self.save(parser);
                self.out.extend_from_slice(&seq);
            }
            [b'8'] => {
                self.restore(parser);
                self.out.extend_from_slice(&seq);
            }
            [b'c'] => {
                self.reset();
                self.out.extend_from_slice(&seq);
                self.erased(parser, Erase::Reset);
            }
            // vt100's line feed is an index: down a row, scrolling at the
            // bottom of the region, column kept.
            [b'D'] => {
                self.flush(parser);
                index(parser);
            }
            [b'E'] => {
                self.out.push(b'\r');
                self.flush(parser);
                index(parser);
            }
            [b'H'] => {
                let (col, cols) = self.cursor(parser);
                self.set_stop(col.min(cols - 1), cols, true);
            }
            _ => self.out.extend_from_slice(&seq),
        }
        self.seq = seq;
        self.seq.clear();
    }

    /// Tells the parser's callbacks of `erase`, once the parser has
    /// everything before it.
    fn erased<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, erase: Erase) {
        self.flush(parser);
        parser.callbacks_mut().erased(erase);
    }

    /// DECSC: the character sets and conceal, beside what vt100 saves.
    fn save<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        let screen = self.screen_index(parser);
        self.saved[screen] = Saved {
            charsets: self.charsets,
            conceal: self.conceal,
        };
        self.cursor_saved[screen] = true;
    }

    /// DECRC: the counterpart of [`Rewriter::save`].
    fn restore<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        let screen = self.screen_index(parser);
        let saved = self.saved[screen];
        self.charsets = saved.charsets;
        self.conceal = saved.conceal;
    }

    /// RIS: every mode back to its default; the parser resets itself.
    fn reset(&mut self) {
        *self = Self {
            out: std::mem::take(&mut self.out),
            seq: std::mem::take(&mut self.seq),
            ..Self::default()
        };
    }

    /// DECALN: the screen filled with `E` in the default rendition, the
    /// scroll region reset, the cursor home.
    fn align<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        self.flush(parser);
        let vt = parser.screen();
        let (rows, cols) = vt.size();
        let attributes = vt.attributes_formatted();
        self.out.extend_from_slice(b"\x1b[r\x1b[0m");
        for row in 1..=rows.get() {
            let _ = write!(self.out, "\x1b[{row};1H");
            self.out
                .extend(std::iter::repeat_n(b'E', usize::from(cols.get())));
        }
        self.out.extend_from_slice(attributes.as_bytes());
        self.out.extend_from_slice(b"\x1b[H");
    }

    /// A complete CSI sequence in `seq`.
    fn csi<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        let seq = std::mem::take(&mut self.seq);
        let (body, end) = (&seq[2..seq.len() - 1], seq[seq.len() - 1]);
        let (private, params) = match body.first() {
            Some(&p @ (b'<' | b'=' | b'>' | b'?')) => (Some(p), &body[1..]),
            _ => (None, body),
        };
        let simple = params
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b';' || b == b':');
        if body == b"!" && end == b'p' {
            self.soft_reset(parser);
            self.seq = seq;
            self.seq.clear();
            return;
        }
        match (simple, private, end) {
            (true, None, b'm') => self.sgr(params, &seq),
            (true, None, b'h' | b'l') => self.ansi_modes(params, end, &seq),
            (true, Some(b'?'), b'h' | b'l') => self.dec_modes(parser, params, end, &seq),
            (true, None, b'g') => {
                let (col, cols) = self.cursor(parser);
                match number(params) {
                    0 => self.set_stop(col.min(cols - 1), cols, false),
                    3 => self.stops = Some(vec![false; usize::from(cols)]),
                    _ => {}
                }
            }
            (true, None, b'r') => self.margins(parser, params, &seq),
            (true, None | Some(b'?'), b'J') => {
                self.out.extend_from_slice(&seq);
                if let Some(erase) = Erase::of_ed(params) {
                    self.erased(parser, erase);
                }
            }
            (true, None, b'I') => self.tab_forward(parser, number(params).max(1)),
            (true, None, b'Z') => self.tab_backward(parser, number(params).max(1)),
            (true, None, b's') if params.is_empty() => {
                self.save(parser);
                self.out.extend_from_slice(b"\x1b7");
            }
            (true, None, b'u') if params.is_empty() => {
                self.restore(parser);
                self.out.extend_from_slice(b"\x1b8");
            }
            _ => self.out.extend_from_slice(&seq),
        }
        self.seq = seq;
        self.seq.clear();
    }

    /// DECSTBM as xterm does it: a region of fewer than two rows is
    /// ignored, where vt100 would reset the region, and the cursor goes
    /// home (the region's top only in origin mode), where vt100 always puts
    /// it on the region's top.
    fn margins<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, params: &[u8], seq: &[u8]) {
        let rows = parser.screen().size().0.get();
        let mut groups = params.split(|&b| b == b';').map(number);
        let top = groups.next().unwrap_or(0).max(1);
        let bottom = match groups.next().unwrap_or(0) {
            0 => rows,
            n => n.min(rows),
        };
        if bottom > top {
            self.out.extend_from_slice(seq);
            self.out.extend_from_slice(b"\x1b[H");
        }
    }

    /// SGR, in the semicolon form vt100 parses, without what its cells
    /// cannot hold; conceal is tracked here.
    fn sgr(&mut self, params: &[u8], seq: &[u8]) {
        if self.sgr_unchanged(params) || params.is_empty() {
            self.conceal &= !params.is_empty();
            self.out.extend_from_slice(seq);
            return;
        }
        let groups: Vec<&[u8]> = params.split(|&b| b == b';').collect();
        let mut kept: Vec<u8> = Vec::new();
        let keep = |kept: &mut Vec<u8>, text: &[u8]| {
            if !kept.is_empty() {
                kept.push(b';');
            }
            kept.extend_from_slice(text);
        };
        let mut i = 0;
        while i < groups.len() {
            let group = groups[i];
            i += 1;
            if !is_number(group) {
                let sub: Vec<u16> = group.split(|&b| b == b':').map(number).collect();
                match sub[..] {
                    [4, 0] => keep(&mut kept, b"24"),
                    [4, 1..=5] => keep(&mut kept, b"4"),
                    [c @ (38 | 48), 2, _, r, g, b] | [c @ (38 | 48), 2, r, g, b] => {
                        keep(&mut kept, format!("{c};2;{r};{g};{b}").as_bytes())
                    }
                    [c @ (38 | 48), 5, n] => keep(&mut kept, format!("{c};5;{n}").as_bytes()),
                    _ => {}
                }
                continue;
            }
            // The arguments of an extended colour, in the semicolon form.
            let arguments = |i: usize| match groups.get(i).map(|g| number(g)) {
                Some(5) => 2,
                Some(2) => 4,
                _ => 0,
            };
            match number(group) {
                0 => {
                    self.conceal = false;
                    keep(&mut kept, b"0");
                }
                8 => self.conceal = true,
                28 => self.conceal = false,
                // Strikethrough, blink, overline: vt100 cells cannot hold
                // them, and it would skip the rest of the SGR after them.
                5 | 6 | 9 | 25 | 29 | 53 | 55 | 59 => {}
                21 => keep(&mut kept, b"4"),
                58 => i += arguments(i),
                38 | 48 => {
                    let end = (i + arguments(i)).min(groups.len());
                    keep(&mut kept, group);
                    for argument in &groups[i..end] {
                        keep(&mut kept, argument);
                    }
                    i = end;
                }
                _ => keep(&mut kept, group),
            }
        }
        if !kept.is_empty() {
            self.out.extend_from_slice(b"\x1b[");
            self.out.extend_from_slice(&kept);
            self.out.push(b'm');
        }
    }

    /// SM/RM: insert mode is kept here. The sequence goes on whole: vt100
    /// ignores insert mode, and the screen's hooks follow it to answer
    /// DECRQM at the right point of the output.
    fn ansi_modes(&mut self, params: &[u8], end: u8, seq: &[u8]) {
        for group in params.split(|&b| b == b';') {
            if is_number(group) && number(group) == 4 {
                self.insert = end == b'h';
            }
        }
        self.out.extend_from_slice(seq);
    }

    /// DECSTR, as xterm's soft reset: insert mode and autowrap back to
    /// their defaults, the character sets to ASCII, the rendition (with
    /// conceal) normal, origin mode off, the margins the whole screen, the
    /// cursor shown, cursor keys and keypad normal, and the DECSC slot at
    /// home with all of that. The cursor stays where it is (a wrap pending
    /// at the right edge is lost), the screen and the tab stops are kept.
    fn soft_reset<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>) {
        self.flush(parser);
        let vt = parser.screen();
        let ((row, col), cols) = (vt.cursor_position(), vt.size().1.get());
        let screen = usize::from(vt.alternate_screen());
        self.insert = false;
        self.no_autowrap = false;
        self.charsets = Charsets::default();
        self.conceal = false;
        self.saved[screen] = Saved::default();
        // Origin mode and the margins home the cursor in vt100: the DECSC
        // slot is filled there, and the cursor put back after. Insert mode
        // and autowrap go on for the screen's hooks.
        let _ = write!(
            self.out,
            "\x1b[0m\x1b[?6l\x1b[r\x1b7\x1b[?25h\x1b[?1l\x1b>\x1b[4l\x1b[?7h\x1b[{};{}H",
            row + 1,
            col.min(cols - 1) + 1
        );
    }

    /// DECSET/DECRST: autowrap and mode 40 are kept here (autowrap goes
    /// on too, for the screen's hooks to answer DECRQM), DECCOLM, 1047 and
    /// 1048 become what vt100 knows, 1049 saves the character sets too;
    /// other modes go on, in order.
    fn dec_modes<C: Erasing>(
        &mut self,
        parser: &mut vt100::Parser<C>,
        params: &[u8],
        end: u8,
        seq: &[u8],
    ) {
        let ours = |g: &[u8]| is_number(g) && matches!(number(g), 3 | 7 | 40 | 1047 | 1048 | 1049);
        let groups = params.split(|&b| b == b';');
        if !groups.clone().any(ours) {
            self.out.extend_from_slice(seq);
            return;
        }
        let set = end == b'h';
        let mut kept: Vec<&[u8]> = Vec::new();
        let flush_kept = |out: &mut Vec<u8>, kept: &mut Vec<&[u8]>| {
            if !kept.is_empty() {
                out.extend_from_slice(b"\x1b[?");
                out.extend_from_slice(&kept.join(&b';'));
                out.push(end);
                kept.clear();
            }
        };
        for group in groups {
            if !ours(group) {
                kept.push(group);
                continue;
            }
            flush_kept(&mut self.out, &mut kept);
            match (number(group), set) {
                // DECCOLM: the pane keeps its width, but the rest of what
                // xterm does on the switch happens: margins reset, screen
                // cleared, cursor home, so that a program's screens look
                // as they would at the width it asked for.
                (3, _) if self.allow_columns => self.out.extend_from_slice(b"\x1b[r\x1b[2J\x1b[H"),
                (3, _) => {}
                (40, _) => self.allow_columns = set,
                (7, _) => {
                    // Printing at the edge left vt100 waiting to wrap, where
                    // xterm stays on the last column: the next character
                    // overwrites it.
                    if set && self.no_autowrap {
                        let (col, cols) = self.cursor(parser);
                        if col >= cols {
                            let _ = write!(self.out, "\x1b[{cols}G");
                        }
                    }
                    self.no_autowrap = !set;
                    kept.push(group);
                }
                (1047, true) => self.out.extend_from_slice(b"\x1b[?47h"),
                (1047, false) => {
                    if self.screen_index(parser) == 1 {
                        self.out.extend_from_slice(b"\x1b[2J");
                    }
                    self.out.extend_from_slice(b"\x1b[?47l");
                }
                (1048, true) => {
                    self.save(parser);
                    self.out.extend_from_slice(b"\x1b7");
                }
                (1048, false) => {
                    self.restore(parser);
                    self.out.extend_from_slice(b"\x1b8");
                }
                (_, true) => {
                    self.save(parser);
                    self.out.extend_from_slice(b"\x1b[?1049h");
                }
                (_, false) => {
                    self.out.extend_from_slice(b"\x1b[?1049l");
                    self.restore(parser);
                }
            }
        }
        flush_kept(&mut self.out, &mut kept);
    }

    /// Sets or clears the stop at `col` on a screen `cols` wide.
    fn set_stop(&mut self, col: u16, cols: u16, on: bool) {
        let col = usize::from(col);
        if self.stops.is_none() && default_stop(col) == on {
            return;
        }
        self.resize(cols);
        let stops = self
            .stops
            .get_or_insert_with(|| (0..usize::from(cols)).map(default_stop).collect());
        if let Some(stop) = stops.get_mut(col) {
            *stop = on;
        }
        if stops.iter().enumerate().all(|(c, &s)| s == default_stop(c)) {
            self.stops = None;
        }
    }

    fn is_stop(&self, col: u16) -> bool {
        let col = usize::from(col);
        match &self.stops {
            None => default_stop(col),
            Some(stops) => stops.get(col).copied().unwrap_or(false),
        }
    }

    /// HT and CHT: `count` stops on, or the right edge.
    fn tab_forward<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, count: u16) {
        let (col, cols) = self.cursor(parser);
        self.resize(cols);
        let mut col = col.min(cols - 1);
        for _ in 0..count {
            match (col + 1..cols).find(|&c| self.is_stop(c)) {
                Some(stop) => col = stop,
                None => {
                    col = cols - 1;
                    break;
                }
            }
        }
        let _ = write!(self.out, "\x1b[{}G", col + 1);
    }

    /// CBT: `count` stops back, or the left edge.
    fn tab_backward<C: Erasing>(&mut self, parser: &mut vt100::Parser<C>, count: u16) {
        let (col, cols) = self.cursor(parser);
        self.resize(cols);
        let mut col = col.min(cols - 1);
        for _ in 0..count {
            match (0..col).rev().find(|&c| self.is_stop(c)) {
                Some(stop) => col = stop,
                None => {
                    col = 0;
                    break;
                }
            }
        }
        let _ = write!(self.out, "\x1b[{}G", col + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Size;
    use crate::pane::screen::Screen;

    /// A screen `rows` by `cols` after `bytes`.
    fn screen_after(rows: u16, cols: u16, bytes: &[u8]) -> Screen {
        let mut screen = Screen::new(Size::new(rows, cols));
        screen.process(bytes);
        screen
    }

    /// Each row's text, trailing blanks left out.
    fn rows(screen: &Screen) -> Vec<String> {
        let vt = screen.vt();
        vt.rows(0, vt.size().1.get()).collect()
    }

    /// The text of one cell.
    fn cell(screen: &Screen, row: u16, col: u16) -> String {
        screen.vt().cell(row, col).unwrap().contents().to_string()
    }

    /// Everything a cut could change: every cell with its attributes, the
    /// cursor, the screen shown and its modes.
    fn state(screen: &Screen) -> String {
        let vt = screen.vt();
        let (rows, cols) = vt.size();
        let mut text = format!(
            "{:?} {} {} {:?}\n",
            vt.cursor_position(),
            vt.alternate_screen(),
            vt.hide_cursor(),
            vt.attributes_formatted(),
        );
        for row in 0..rows.get() {
            for col in 0..cols.get() {
                let c = vt.cell(row, col).unwrap();
                text.push_str(&format!(
                    "{}{:?}{:?}{}{}{}{}|",
                    c.contents(),
                    c.fgcolor(),
                    c.bgcolor(),
                    c.bold(),
                    c.italic(),
                    c.underline(),
                    c.inverse()
                ));
            }
            text.push_str(&format!("{}\n", vt.row_wrapped(row)));
        }
        text
    }

    #[test]
    fn dec_special_graphics_draws_lines_and_boxes() {
        let screen = screen_after(4, 10, b"\x1b(0lqwk\r\nx x\r\nmqvj\x1b(Bq");
        assert_eq!(rows(&screen)[..3], ["┌─┬┐", "│ │", "└─┴┘q"]);
        let all: String = (0x5f..=0x7e).map(char::from).collect();
        let screen = screen_after(1, 40, format!("\x1b(0{all}").as_bytes());
        assert_eq!(screen.vt().contents(), " ◆▒␉␌␍␊°±␤␋┘┐┌└┼⎺⎻─⎼⎽├┤┴┬│≤≥π≠£·");
        assert_eq!(cell(&screen, 0, 0), " ", "`_` is a blank");
        // Other bytes and characters are left alone.
        let screen = screen_after(1, 10, "\x1b(0AZ^é".as_bytes());
        assert_eq!(screen.vt().contents(), "AZ^é");
    }

    #[test]
    fn shift_out_and_in_switch_between_g1_and_g0() {
        let screen = screen_after(1, 10, b"\x1b)0q\x0eq\x0fq\x0e\x1b)Bq");
        assert_eq!(screen.vt().contents(), "q─qq");
    }

    #[test]
    fn the_uk_set_has_a_pound_sign_for_the_hash() {
        let screen = screen_after(1, 10, b"\x1b(A#a\x1b(B#");
        assert_eq!(screen.vt().contents(), "£a#");
    }

    #[test]
    fn cursor_save_and_restore_keep_the_character_sets() {
        // Saved with DEC graphics in GL (through SO), restored after a reset
        // to ASCII.
        let screen = screen_after(1, 10, b"\x1b)0\x0e\x1b7\x0f\x1b)Bq\x1b8q");
        assert_eq!(screen.vt().contents(), "─");
        // And the other way round.
        let screen = screen_after(1, 10, b"\x1b7\x1b(0q\x1b8q");
        assert_eq!(screen.vt().contents(), "q");
        // SCOSC/SCORC and 1048 save them too.
        let screen = screen_after(
            1,
            10,
            b"\x1b(0\x1b[s\x1b(B\x1b[uq\x1b[?1048h\x1b(B\x1b[?1048lq",
        );
        assert_eq!(screen.vt().contents(), "──");
    }

    #[test]
    fn a_reset_goes_back_to_ascii() {
        let screen = screen_after(1, 10, b"\x1b(0\x1bcq");
        assert_eq!(screen.vt().contents(), "q");
    }

    #[test]
    fn index_goes_down_a_line_and_next_line_to_its_start() {
        let screen = screen_after(3, 10, b"ab\x1bDc\x1bEd");
        assert_eq!(rows(&screen), ["ab", "  c", "d"]);
        // At the bottom of the scroll region, index scrolls it.
        let screen = screen_after(3, 10, b"top\x1b[2;3r\x1b[2;1Hmid\x1b[3;1Hlow\x1bD\x1bDx");
        assert_eq!(rows(&screen), ["top", "", "   x"]);
        assert_eq!(screen.vt().cursor_position(), (2, 4));
    }

    #[test]
    fn with_autowrap_off_the_last_column_is_overwritten() {
        let screen = screen_after(3, 5, b"\x1b[2H\x1b[?7labcdefg");
        assert_eq!(rows(&screen), ["", "abcdg", ""]);
        assert!(!screen.vt().row_wrapped(1));
        // Wide characters end at the edge too.
        let screen = screen_after(2, 5, "\x1b[?7labcd\u{4e16}".as_bytes());
        assert_eq!(rows(&screen), ["abc\u{4e16}", ""]);
        // Back on, the next character still overwrites the last column,
        // and the one after wraps.
        let screen = screen_after(2, 5, b"\x1b[?7labcdefg\x1b[?7hhi");
        assert_eq!(rows(&screen), ["abcdh", "i"]);
    }

    #[test]
    fn insert_mode_shifts_the_rest_of_the_row() {
        let screen = screen_after(2, 6, b"abcdef\r\x1b[4hXY\x1b[4lZ");
        assert_eq!(rows(&screen), ["XYZbcd", ""]);
        assert_eq!(screen.vt().cursor_position(), (0, 3));
        let screen = screen_after(1, 6, "abc\r\x1b[4h\u{4e16}".as_bytes());
        assert_eq!(screen.vt().contents(), "\u{4e16}abc");
        // Other modes in the same sequence still reach the parser.
        let screen = screen_after(1, 6, b"\x1b[?25l\x1b[4;20hab\rX");
        assert_eq!(screen.vt().contents(), "Xab");
    }

    #[test]
    fn tab_stops_are_set_cleared_and_followed() {
        // Default stops every 8 columns.
        let screen = screen_after(1, 20, b"a\tb\tc\td");
        assert_eq!(screen.vt().contents(), "a       b       c  d");
        // HTS at column 3, HT goes there, then on to the default at 8.
        let screen = screen_after(1, 20, b"\x1b[4G\x1bH\r\tx\ty");
        assert_eq!(screen.vt().contents(), "   x    y");
        // TBC at the cursor.
        let screen = screen_after(1, 20, b"\x1b[9G\x1b[g\r\tx");
        assert_eq!(screen.vt().contents(), "                x");
        let screen = screen_after(1, 20, b"\x1b[9G\x1b[0g\r\tx");
        assert_eq!(screen.vt().contents(), "                x");
        // TBC 3: none left, HT goes to the right edge.
        let screen = screen_after(1, 20, b"\x1b[3g\tx");
        assert_eq!(screen.vt().cursor_position(), (0, 20));
        assert_eq!(cell(&screen, 0, 19), "x");
        // CBT and CHT, with default and custom stops.
        let screen = screen_after(1, 30, b"\x1b[20G\x1b[2Zx\x1b[2Iy");
        assert_eq!(cell(&screen, 0, 8), "x");
        assert_eq!(cell(&screen, 0, 24), "y");
        let screen = screen_after(1, 30, b"\x1b[3G\x1bH\x1b[20G\x1b[3Zx\r\x1b[2Iy");
        assert_eq!(cell(&screen, 0, 2), "x");
        assert_eq!(cell(&screen, 0, 8), "y");
        let screen = screen_after(1, 30, b"\x1b[3g\x1b[20G\x1b[Zx");
        assert_eq!(
            cell(&screen, 0, 0),
            "x",
            "back past the first stop: column 0"
        );
    }

    #[test]
    fn tab_stops_outlive_a_resize_and_new_columns_get_the_default() {
        let mut screen = Screen::new(Size::new(1, 10));
        screen.process(b"\x1b[3g\x1b[4G\x1bH\r");
        screen.resize(Size::new(1, 30));
        screen.process(b"\ta\tb\tc");
        assert_eq!(screen.vt().contents(), "   a            b       c");
    }

    #[test]
    fn decaln_fills_the_screen_with_e() {
        let mut screen = screen_after(3, 4, b"\x1b[31mab\x1b[2;3r\x1b#8");
        assert_eq!(rows(&screen), ["EEEE", "EEEE", "EEEE"]);
        assert_eq!(screen.vt().cursor_position(), (0, 0));
        assert_eq!(
            screen.vt().cell(1, 1).unwrap().fgcolor(),
            vt100::Color::Default
        );
        // The rendition is kept for what follows; the region is the screen.
        screen.process(b"x");
        assert_eq!(
            screen.vt().cell(0, 0).unwrap().fgcolor(),
            vt100::Color::Idx(1)
        );
        screen.process(b"\x1b[3;1H\n");
        assert_eq!(rows(&screen), ["EEEE", "EEEE", ""]);
    }

    #[test]
    fn deccolm_once_allowed_clears_the_screen_resets_the_margins_and_homes() {
        let mut screen = screen_after(3, 4, b"ab\r\ncd\x1b[2;3r\x1b[?6h\x1b[2;2H");
        // Not allowed (mode 40 reset, as xterm starts): nothing happens.
        screen.process(b"\x1b[?3h");
        assert_eq!(rows(&screen), ["ab", "cd", ""]);
        assert_eq!(screen.vt().cursor_position(), (2, 1));
        screen.process(b"\x1b[?40h\x1b[?3;25h");
        assert_eq!(rows(&screen), ["", "", ""]);
        assert_eq!(screen.vt().cursor_position(), (0, 0));
        // The region is the whole screen again: a line feed at the bottom
        // scrolls the top row away.
        screen.process(b"x\x1b[3;1H\ny");
        assert_eq!(rows(&screen), ["", "", "y"]);
        // Resetting DECCOLM does the same; mode 40 reset stops it again.
        screen.process(b"\x1b[?3l");
        assert_eq!(rows(&screen), ["", "", ""]);
        screen.process(b"z\x1b[?40l\x1b[?3l");
        assert_eq!(rows(&screen), ["z", "", ""]);
    }

    #[test]
    fn decstbm_homes_the_cursor_as_origin_mode_says_and_ignores_one_row() {
        let mut screen = screen_after(4, 4, b"ab\r\ncd\x1b[2;3r");
        assert_eq!(screen.vt().cursor_position(), (0, 0));
        screen.process(b"\x1b[?6h\x1b[3;4r");
        assert_eq!(screen.vt().cursor_position(), (2, 0));
        // A region of one row is refused: region and cursor stay.
        screen.process(b"\x1b[2;2H\x1b[2;2r");
        assert_eq!(screen.vt().cursor_position(), (3, 1));
        screen.process(b"\x1b[?6l\x1b[4;1H\nx");
        assert_eq!(rows(&screen), ["ab", "cd", "", "x"]);
    }

    #[test]
    fn vttest_origin_mode_line_lands_on_the_bottom_row() {
        // What vttest writes for its origin mode test, origin mode being on
        // since its scrolling tests: the region's top is home, so the first
        // line ends up on the bottom row and the second above it (tmux puts
        // the first on row 2, as it homes the cursor to the screen's top).
        let screen = screen_after(
            24,
            80,
            b"\x1b[?6h\x1b[2J\x1b[23;24r\r\nOrigin mode test.\x1b[1;1HAbove the bottom.",
        );
        let rows = rows(&screen);
        assert_eq!(rows[23], "Origin mode test.");
        assert_eq!(rows[22], "Above the bottom.");
        assert!(rows[..22].iter().all(String::is_empty), "{rows:?}");
    }

    #[test]
    fn alternate_screen_1047_is_cleared_when_left() {
        let mut screen = screen_after(2, 10, b"main\x1b[?1047h");
        assert!(screen.vt().alternate_screen());
        assert_eq!(screen.vt().contents(), "");
        screen.process(b"\x1b[Halt");
        assert_eq!(screen.vt().contents(), "alt");
        screen.process(b"\x1b[?1047l");
        assert!(!screen.vt().alternate_screen());
        assert_eq!(screen.vt().contents(), "main");
        screen.process(b"\x1b[?1047h");
        assert_eq!(screen.vt().contents(), "", "left cleared");
        // Leaving while on the main screen clears nothing.
        screen.process(b"\x1b[?1047l\x1b[?1047l");
        assert_eq!(screen.vt().contents(), "main");
    }

    #[test]
    fn mode_1048_saves_and_restores_the_cursor() {
        let screen = screen_after(4, 10, b"\x1b[2;3H\x1b[?1048h\x1b[H\x1b[4;4H\x1b[?1048l");
        assert_eq!(screen.vt().cursor_position(), (1, 2));
    }

    #[test]
    fn other_modes_in_a_rewritten_set_are_kept_in_order() {
        let screen = screen_after(2, 10, b"\x1b[?25l\x1b[?1047;25h");
        assert!(screen.vt().alternate_screen());
        assert!(!screen.vt().hide_cursor());
        let screen = screen_after(2, 10, b"\x1b[?1;7;1048;2004hab");
        assert!(screen.vt().application_cursor());
        assert!(screen.vt().bracketed_paste());
        let screen = screen_after(2, 10, b"x\x1b[?2004;1047;1049h");
        assert!(screen.vt().alternate_screen());
        assert!(screen.vt().bracketed_paste());
    }

    #[test]
    fn colon_colours_and_underline_styles_reach_the_cells() {
        let cases: &[(&[u8], vt100::Color, vt100::Color, bool)] = &[
            (
                b"38:2::1:2:3",
                vt100::Color::Rgb(1, 2, 3),
                vt100::Color::Default,
                false,
            ),
            (
                b"38:2:0:4:5:6",
                vt100::Color::Rgb(4, 5, 6),
                vt100::Color::Default,
                false,
            ),
            (
                b"38:2:7:8:9",
                vt100::Color::Rgb(7, 8, 9),
                vt100::Color::Default,
                false,
            ),
            (
                b"38:5:100",
                vt100::Color::Idx(100),
                vt100::Color::Default,
                false,
            ),
            (
                b"48:2::1:2:3",
                vt100::Color::Default,
                vt100::Color::Rgb(1, 2, 3),
                false,
            ),
            (
                b"48:5:7;4:3",
                vt100::Color::Default,
                vt100::Color::Idx(7),
                true,
            ),
            (
                b"4:1;4:0",
                vt100::Color::Default,
                vt100::Color::Default,
                false,
            ),
            (b"4:5", vt100::Color::Default, vt100::Color::Default, true),
            (b"21", vt100::Color::Default, vt100::Color::Default, true),
            // The semicolon forms, whose arguments are no attributes.
            (
                b"38;5;9;48;2;1;2;3",
                vt100::Color::Idx(9),
                vt100::Color::Rgb(1, 2, 3),
                false,
            ),
            // Underline colour in every form, its arguments skipped.
            (
                b"58;5;31;4",
                vt100::Color::Default,
                vt100::Color::Default,
                true,
            ),
            (
                b"58;2;1;2;31",
                vt100::Color::Default,
                vt100::Color::Default,
                false,
            ),
            (
                b"58:2::1:2:3;32",
                vt100::Color::Idx(2),
                vt100::Color::Default,
                false,
            ),
            (b"59;32", vt100::Color::Idx(2), vt100::Color::Default, false),
            // Dropped attributes leave the rest, in order.
            (
                b"9;5;6;53;31;55;25;29;4",
                vt100::Color::Idx(1),
                vt100::Color::Default,
                true,
            ),
        ];
        for &(sgr, fg, bg, underline) in cases {
            let mut bytes = b"\x1b[".to_vec();
            bytes.extend_from_slice(sgr);
            bytes.extend_from_slice(b"mA");
            let screen = screen_after(1, 10, &bytes);
            let cell = screen.vt().cell(0, 0).unwrap();
            let what = String::from_utf8_lossy(sgr);
            assert_eq!(cell.contents(), "A", "{what}");
            assert_eq!(cell.fgcolor(), fg, "{what}");
            assert_eq!(cell.bgcolor(), bg, "{what}");
            assert_eq!(cell.underline(), underline, "{what}");
        }
        // Only dropped attributes: nothing is reset.
        let screen = screen_after(1, 10, b"\x1b[1m\x1b[9;53mA");
        assert!(screen.vt().cell(0, 0).unwrap().bold());
        let screen = screen_after(1, 10, b"\x1b[1;3;58:5:1;7mA");
        let cell = screen.vt().cell(0, 0).unwrap();
        assert!(cell.bold() && cell.italic() && cell.inverse());
    }

    #[test]
    fn concealed_characters_print_as_blanks_of_their_width() {
        let screen = screen_after(1, 10, "a\x1b[8mb\u{4e16}c\x1b[28md".as_bytes());
        assert_eq!(
            (0..6).map(|c| cell(&screen, 0, c)).collect::<Vec<_>>(),
            ["a", " ", " ", " ", " ", "d"]
        );
        assert_eq!(screen.vt().cursor_position(), (0, 6));
        // SGR 0, an empty SGR and a reset end it; the cursor keeps it.
        for end in [
            &b"\x1b[0m"[..],
            b"\x1b[m",
            b"\x1b[1;0;4m",
            b"\x1b[;1m",
            b"\x1bc",
        ] {
            let mut bytes = b"\x1b[8m".to_vec();
            bytes.extend_from_slice(end);
            bytes.push(b'x');
            let screen = screen_after(1, 10, &bytes);
            assert_eq!(
                screen.vt().contents(),
                "x",
                "{:?}",
                end.escape_ascii().to_string()
            );
        }
        let screen = screen_after(1, 10, b"\x1b[8m\x1b7\x1b[28m\x1b8x");
        assert_eq!(cell(&screen, 0, 0), " ");
    }

    #[test]
    fn scosc_and_scorc_save_and_restore_the_cursor_but_kitty_keys_do_not() {
        let screen = screen_after(4, 10, b"\x1b[2;3H\x1b[s\x1b[H\x1b[u");
        assert_eq!(screen.vt().cursor_position(), (1, 2));
        for kitty in [&b"\x1b[>1u"[..], b"\x1b[<u", b"\x1b[=1;1u", b"\x1b[?u"] {
            let mut bytes = b"\x1b[2;3H\x1b[s\x1b[H".to_vec();
            bytes.extend_from_slice(kitty);
            let screen = screen_after(4, 10, &bytes);
            assert_eq!(screen.vt().cursor_position(), (0, 0));
        }
    }

    #[test]
    fn a_plain_chunk_is_handed_over_without_a_copy() {
        let mut parser =
            vt100::Parser::new(vt100::Parser::DEFAULT_ROWS, vt100::Parser::DEFAULT_COLS, 0);
        let mut rewriter = Rewriter::default();
        rewriter.feed(&mut parser, "plain text, \u{4e16}\r\n\x08\x07".as_bytes());
        assert_eq!(rewriter.out.capacity(), 0);
        assert!(rewriter.passes_plain_text());
        // Tabs too, while the stops are the default ones.
        rewriter.feed(&mut parser, b"a\tb\r\n");
        assert_eq!(rewriter.out.capacity(), 0);
        rewriter.feed(&mut parser, b"\x1b(0q\x1b(B");
        assert_ne!(rewriter.out.capacity(), 0);
        assert!(rewriter.passes_plain_text());
        rewriter.feed(&mut parser, b"\x1b[4h");
        assert!(!rewriter.passes_plain_text());
    }

    #[test]
    fn plain_lines_skip_the_emulator_only_while_nothing_rewrites_them() {
        let mut screen = Screen::new(Size::new(1, 20));
        screen.set_scrollback(0);
        screen.collect_lines(false);
        screen.process(b"\x1b(0");
        screen.process(b"lqk\r\nx x\r\nmqj\r\n");
        screen.process(b"\x1b(B\x1b[8m");
        screen.process(b"secret\r\n");
        screen.process(b"\x1b[0m\x1b[?7l");
        screen.process(b"0123456789abcdefghijklmnopqrstuvwxyz\r\n");
        screen.process(b"\x1b[?7h");
        screen.process(b"plain\r\n");
        assert_eq!(
            screen.take_lines(),
            [
                "┌─┐",
                "│ │",
                "└─┘",
                "      ",
                "0123456789abcdefghiz",
                "plain"
            ]
        );
    }

    #[test]
    fn bytes_the_parser_skips_inside_a_sequence_are_skipped_here_too() {
        let screen = screen_after(1, 10, b"\x1b(0\x1b\x80[\xff1\x7fmq");
        let cell = screen.vt().cell(0, 0).unwrap();
        assert_eq!(cell.contents(), "─");
        assert!(cell.bold());
    }

    #[test]
    fn index_and_next_line_end_a_headless_line() {
        let mut screen = Screen::new(Size::new(1, 20));
        screen.set_scrollback(0);
        screen.collect_lines(false);
        screen.process(b"a\x1bDb\x1bEc\r\nd\r\n");
        assert_eq!(screen.take_lines(), ["a", " b", "c", "d"]);
    }

    #[test]
    fn an_overlong_sequence_is_passed_on_unchanged() {
        let mut bytes = b"\x1b[".to_vec();
        bytes.extend(std::iter::repeat_n(b"1;", 300).flatten());
        bytes.extend_from_slice(b"8mA");
        assert!(bytes.len() > SEQUENCE_LIMIT);
        let screen = screen_after(1, 10, &bytes);
        let cell = screen.vt().cell(0, 0).unwrap();
        assert!(cell.bold());
        assert_eq!(cell.contents(), "A", "not concealed: the SGR was not read");
    }

    /// Output that exercises every rewrite, in pieces.
    const PIECES: &[&[u8]] = &[
        b"a",
        b"word ",
        b"lqk",
        b"\r\n",
        b"\x08",
        b"\t",
        "\u{4e16}".as_bytes(),
        "\u{301}".as_bytes(),
        b"\x1b(0",
        b"\x1b)0",
        b"\x1b(B",
        b"\x1b(A#",
        b"\x0e",
        b"\x0f",
        b"\x1b7",
        b"\x1b8",
        b"\x1bD",
        b"\x1bE",
        b"\x1bH",
        b"\x1b[3g",
        b"\x1b[g",
        b"\x1b[2Z",
        b"\x1b[I",
        b"\x1b[4h",
        b"\x1b[4l",
        b"\x1b[?7l",
        b"\x1b[?7h",
        b"\x1b#8",
        b"\x1b[?1047h",
        b"\x1b[?1047l",
        b"\x1b[?1048h",
        b"\x1b[?1048l",
        b"\x1b[?1049h",
        b"\x1b[?1049l",
        b"\x1b[s",
        b"\x1b[u",
        b"\x1b[8m",
        b"\x1b[28m",
        b"\x1b[0m",
        b"\x1b[38:2::1:2:3;4:3m",
        b"\x1b[58;5;31;9;1m",
        b"\x1b[2;5r",
        b"\x1b[3;3r",
        b"\x1b[?6h",
        b"\x1b[?6l",
        b"\x1b[?40h",
        b"\x1b[?3;40l",
        b"\x1b[?3h",
        b"\x1b[5;3H",
        b"\x1b]0;title\x07",
        b"\x1bP1$r\x1b\\",
        b"\x1b[1\n;31m",
        b"\x1b\x80[\xff4\x7fh",
        b"\x1b[99C",
        b"\x1bc",
        "\u{4e16}".as_bytes(),
        "0\u{fe0f}".as_bytes(),
        "\u{2764}\u{fe0f}".as_bytes(),
        b"\x1b[!p",
        b"\x1b[4$p",
        b"\x1b[?7$p",
    ];

    #[test]
    fn output_cut_anywhere_gives_the_same_screen() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut roll = |sides: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % sides as u64) as usize
        };
        for round in 0..150 {
            let mut bytes = Vec::new();
            for _ in 0..40 {
                bytes.extend_from_slice(PIECES[roll(PIECES.len())]);
            }
            let whole = state(&screen_after(5, 12, &bytes));
            // Every single cut for the first rounds, random cuts after.
            let cuts: Vec<Vec<usize>> = if round < 10 {
                (1..bytes.len()).map(|cut| vec![cut]).collect()
            } else {
                (0..20)
                    .map(|_| {
                        let mut cuts: Vec<usize> =
                            (0..1 + roll(8)).map(|_| roll(bytes.len())).collect();
                        cuts.sort_unstable();
                        cuts
                    })
                    .collect()
            };
            for cuts in cuts {
                let mut screen = Screen::new(Size::new(5, 12));
                let mut from = 0;
                for &cut in cuts.iter().chain([bytes.len()].iter()) {
                    screen.process(&bytes[from..cut]);
                    from = cut;
                }
                assert_eq!(
                    state(&screen),
                    whole,
                    "cut at {cuts:?} in {:?}",
                    bytes.escape_ascii().to_string()
                );
            }
        }
    }

    #[test]
    fn a_selector_that_would_widen_the_last_column_is_dropped() {
        // The review's repros: VS16 after a digit in the bottom-right cell,
        // then DECALN, or a write over that cell.
        let screen = screen_after(6, 5, b"\x1b[6;5H0\xef\xb8\x8f\x1b#8");
        assert_eq!(rows(&screen), vec!["EEEEE"; 6]);
        let screen = screen_after(6, 5, b"\x1b[6;5H0\xef\xb8\x8f\x1b[5;5Hx\x1b[6;5Hy");
        assert_eq!(cell(&screen, 5, 4), "y");
        assert_eq!(cell(&screen, 4, 4), "x");
        // Every way of getting the selector there: cut from its character,
        // cut inside, in a long chunk, under a character set, with autowrap
        // off, with custom tab stops (the byte-by-byte scan).
        let vs16 = "\u{2764}\u{fe0f}";
        for (before, after) in [
            ("\x1b[1;5H", vs16.to_string()),
            ("\x1b[1;5H\u{2764}", "\u{fe0f}".to_string()),
            ("\x1b[1;5H\u{2764}\u{fe0f}", String::new()),
            ("", format!("{}\x1b[1;5H{vs16}", "y".repeat(40))),
            ("\x1b(0", format!("\x1b[1;5H{vs16}")),
            ("\x1b[?7l", format!("\x1b[1;5H{vs16}")),
            ("\x1b[3g\x1bH", format!("\x1b[1;5H{vs16}\tz")),
        ] {
            let bytes = [before.as_bytes(), after.as_bytes()].concat();
            // And cut inside the selector.
            let inside = bytes.windows(2).rposition(|w| w == [0xef, 0xb8]).unwrap() + 2;
            let mut screen = Screen::new(Size::new(2, 5));
            screen.process(before.as_bytes());
            screen.process(after.as_bytes());
            let mut cut = Screen::new(Size::new(2, 5));
            cut.process(&bytes[..inside]);
            cut.process(&bytes[inside..]);
            assert_eq!(state(&cut), state(&screen), "{before:?} {after:?}");
            screen.process(b"\x1b(B\x1b[1;5Hx\x1b[1;4Hw");
            assert_eq!(cell(&screen, 0, 4), "x", "{before:?} {after:?}");
            assert_eq!(cell(&screen, 0, 3), "w", "{before:?} {after:?}");
        }
        // Away from the edge the selector widens the character, as before.
        let screen = screen_after(2, 5, "\u{2764}\u{fe0f}x".as_bytes());
        assert_eq!(cell(&screen, 0, 0), "\u{2764}\u{fe0f}");
        assert_eq!(cell(&screen, 0, 2), "x");
        // vt100 widens on VS16 only: VS2 after a curly quote (wide to
        // unicode-width) goes on as it came.
        let screen = screen_after(2, 5, "\x1b[1;5H\u{2018}\u{fe01}".as_bytes());
        assert_eq!(cell(&screen, 0, 4), "\u{2018}\u{fe01}");
        // A selector that leaves its character narrow is kept.
        let screen = screen_after(2, 5, "\x1b[1;5Ha\u{fe0f}".as_bytes());
        assert_eq!(cell(&screen, 0, 4), "a\u{fe0f}");
    }

    #[test]
    fn a_character_cut_by_a_resize_between_reads_is_kept() {
        for (first, second) in [
            (&b"ab\xe4\xb8"[..], &b"\x96cd"[..]),
            (b"ab\xe4", b"\xb8\x96cd"),
            (b"ab\xf0\x9f\x98", b"\x80cd"),
            (b"ab\xc3", b"\xa9cd"),
        ] {
            let mut screen = Screen::new(Size::new(4, 10));
            screen.process(first);
            screen.resize(Size::new(4, 12));
            screen.process(second);
            let mut whole = first.to_vec();
            whole.extend_from_slice(second);
            let text = String::from_utf8(whole).unwrap();
            assert_eq!(rows(&screen)[0], text, "{first:?}");
        }
        // Bytes that cannot start a character go on at once.
        let screen = screen_after(2, 10, b"ab\xb8");
        assert_eq!(screen.vt().cursor_position(), (0, 2));
    }

    #[test]
    fn a_soft_reset_resets_what_xterm_resets_and_keeps_the_cursor() {
        let mut screen = Screen::new(Size::new(6, 10));
        // Insert mode, autowrap off, DEC graphics in G1 shifted in,
        // conceal, bold, origin mode with margins, the cursor hidden,
        // application cursor keys, a DECSC slot.
        screen.process(b"abc\x1b[4h\x1b[?7l\x1b)0\x0e\x1b[1;8m\x1b[2;4r\x1b[?6h\x1b[2;3H");
        screen.process(b"\x1b7\x1b[?25l\x1b[?1h\x1b=");
        screen.process(b"\x1b[!p");
        let vt = screen.vt();
        assert_eq!(vt.cursor_position(), (2, 2));
        assert!(!vt.hide_cursor() && !vt.application_cursor() && !vt.application_keypad());
        // Plain, shown, overwriting, ASCII, wrapping.
        screen.process(b"\x1b[1;1Hxq\x1b[1;9H12345");
        assert_eq!(rows(&screen)[..2], ["xqc     12", "345"]);
        assert!(!screen.vt().cell(0, 0).unwrap().bold());
        // Margins gone: a line feed at the bottom scrolls the whole screen.
        screen.process(b"\x1b[6;1H\n");
        assert_eq!(rows(&screen)[0], "345");
        // The DECSC slot went home with origin mode off.
        screen.process(b"\x1b8y");
        assert_eq!(rows(&screen)[0], "y45");
    }
}
