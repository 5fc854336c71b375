//! A pane's terminal state: the vt100 parser, plus the replies to terminal
//! queries that vt100 parses but does not answer, and the modes it ignores
//! (focus events, synchronized output). Drawing is left to `ui`, which reads
//! the screen through [`Screen::vt`].

use std::collections::VecDeque;
use std::num::NonZeroU16;
use std::sync::Arc;

use super::history::{History, Pen, RowCapture};
use super::published::{InputModes, Published, ScreenCopy};
use super::reflow::{self, Place, Snapshot};
use super::rewrite::{Erase, Erasing, Rewriter};
use crate::{Size, clean_text};

/// Collects what the parser meets that needs an action outside the screen:
/// replies owed to the program, the window title it set, and the rows that
/// scroll off (for the history, the log and the `ready` watcher).
struct Hooks {
    replies: Vec<u8>,
    title: Option<String>,
    /// Texts the program asked to put on the clipboard with OSC 52, decoded;
    /// whether they get there is the app's decision.
    copies: Vec<String>,
    /// Bells and desktop notifications not taken yet.
    alerts: Vec<Alert>,
    /// Rows pushed off the top while a `ready` or `attention` pattern is
    /// looked for, as text with formatting codes; wrapped rows join into
    /// one line.
    scrolled: Option<String>,
    /// The number (as `rows_scrolled` counts) of the first row of each line
    /// in `scrolled`.
    scrolled_starts: VecDeque<u64>,
    /// Reads each row that scrolls off once, for all of the above and below.
    capture: RowCapture,
    /// Where every rendered line goes once it scrolls off, if anywhere.
    log: Option<LineLog>,
    /// The rows that scrolled off, kept compactly for scroll mode.
    history: History,
    /// Finished lines for the prefixed-line front end, while it runs.
    sink: Option<LineSink>,
    /// The output being parsed is followed by more lines than the history
    /// keeps, so the rows it scrolls off need not be read for the history.
    doomed: bool,
    /// The output being parsed holds no line feed, so a row it scrolls off
    /// wrapped into the next (see [`Screen::process`]).
    wrapping: bool,
    /// The emulator was last given part of a line, which may have ended
    /// inside an escape sequence or a character: what follows must go to it.
    carry: bool,
    /// Output since [`Screen::clear_redrawn`], or since the last line
    /// ended, moved the cursor back over the line being written (a carriage
    /// return, backspace or control sequence other than SGR).
    redrawn: bool,
    /// The program's modes that vt100 does not know: focus events (1004)
    /// and synchronized output (2026).
    modes: ExtraModes,
    /// The parser is being resized: the rows it pushes off were read
    /// beforehand and are printed again (see [`Screen::resize`]).
    resizing: bool,
    /// The last row went off a one-row screen by wrapping, so the next row
    /// goes on with its line.
    after_wrap: bool,
    /// While a resize prints the screen again: how many of the rows it
    /// scrolls off first came back from the history, so were logged before.
    returning_rows: usize,
    /// Every row the main screen scrolled off, so a resize can tell where
    /// the rows it prints end up.
    rows_scrolled: u64,
    /// The text of the rows at the top of the screen that came back from
    /// the history, top first: when they scroll off again unchanged, they go
    /// back to the history alone, and the log, the line sink and the `ready`
    /// watcher, which saw them once, do not see them again.
    returned: VecDeque<String>,
    /// Rows a resize printed where a wide character did not fit at the end
    /// and went on in the next row, leaving the last cell blank, numbered
    /// as `rows_scrolled` counts (the top row's number is `rows_scrolled`),
    /// in order. vt100 marks no wrap there, as for a line that ended there;
    /// these rows are known to go on. Forgotten when output with an escape
    /// comes, which may move rows around.
    gap_rows: VecDeque<u64>,
}

/// The modes opmux tracks itself, since vt100 ignores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ExtraModes {
    /// Mode 1004: report focus changes to the program.
    focus_events: bool,
    /// Mode 2026, and when it was set: the program is in the middle of an
    /// update that it wants shown whole.
    synchronized: Option<std::time::Instant>,
    /// ANSI mode 4, insert mode, and DEC mode 7 reset, autowrap off: the
    /// rewriter carries them out, and passes the sequences on so that
    /// DECRQM finds them here, in the order of the output.
    insert: bool,
    no_autowrap: bool,
}

/// Focus events: `CSI I` and `CSI O` when the pane gains or loses the focus.
const MODE_FOCUS_EVENTS: u16 = 1004;
/// Synchronized output: hold the drawing until the update is done.
const MODE_SYNCHRONIZED: u16 = 2026;
/// DECAWM: wrap at the right edge.
const MODE_AUTOWRAP: u16 = 7;
/// IRM, an ANSI mode: printing shifts the rest of the row right.
const MODE_INSERT: u16 = 4;

impl Default for Hooks {
    fn default() -> Self {
        Self {
            replies: Vec::new(),
            title: None,
            copies: Vec::new(),
            alerts: Vec::new(),
            scrolled: None,
            scrolled_starts: VecDeque::new(),
            capture: RowCapture::default(),
            log: None,
            history: History::new(crate::config::DEFAULT_SCROLLBACK),
            sink: None,
            doomed: false,
            wrapping: false,
            carry: false,
            redrawn: false,
            modes: ExtraModes::default(),
            resizing: false,
            after_wrap: false,
            returning_rows: 0,
            rows_scrolled: 0,
            returned: VecDeque::new(),
            gap_rows: VecDeque::new(),
        }
    }
}

/// Rows that scrolled off, joined into lines: the log and the line sink
/// each keep one.
struct RowLines {
    /// Rows with formatting codes, up to an unfinished (wrapped) line.
    pending: String,
    /// Whether the last row ended its line (or none has come yet): then
    /// `pending` holds no part of a line.
    line_ended: bool,
}

impl Default for RowLines {
    fn default() -> Self {
        Self {
            pending: String::new(),
            line_ended: true,
        }
    }
}

impl RowLines {
    /// Adds a row (without the newline vt100 writes before it) that did or
    /// did not end its line; returns the lines it finished as plain text,
    /// each ending in a newline.
    fn push(&mut self, row: &str, ended: bool) -> Option<String> {
        self.pending.push_str(row);
        if ended {
            self.pending.push('\n');
        }
        self.line_ended = ended;
        let end = self.pending.rfind('\n')?;
        let rest = self.pending.split_off(end + 1);
        let done = std::mem::replace(&mut self.pending, rest);
        Some(vt100::capture::basic_formatted_to_plain(&done).collect())
    }

    /// What there is of an unfinished line, as plain text, taken out.
    fn take_unfinished(&mut self) -> String {
        vt100::capture::basic_formatted_to_plain(&std::mem::take(&mut self.pending)).collect()
    }
}

/// A pane's log file: the text lines the pane rendered, in order, every one
/// of them, however long ago the screen let go of it.
struct LineLog {
    out: std::io::BufWriter<std::fs::File>,
    rows: RowLines,
    /// Each line starts with the time it was written.
    timestamps: bool,
    error: Option<String>,
}

/// The current time as the log writes it: ISO 8601 in UTC, to the
/// millisecond.
fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

impl LineLog {
    /// Writes `text`, whole lines, each after a timestamp if asked for.
    fn write_lines(&mut self, text: &str) {
        if !self.timestamps {
            return self.write_text(text);
        }
        let stamp = timestamp();
        let stamped: String = text
            .split_inclusive('\n')
            .map(|line| format!("{stamp} {line}"))
            .collect();
        self.write_text(&stamped);
    }

    fn write_text(&mut self, text: &str) {
        use std::io::Write;
        if self.error.is_none()
            && let Err(e) = self.out.write_all(text.as_bytes())
        {
            self.error = Some(e.to_string());
        }
    }
}

impl Hooks {
    /// DECSET or DECRST of the modes vt100 leaves alone. vt100 calls
    /// [`vt100::Callbacks::unhandled_csi`] once for every parameter it does
    /// not know, each time with all of them; setting each known one every
    /// time comes to the same.
    fn set_modes(&mut self, params: &[&[u16]], set: bool) {
        for param in params {
            match param.first().copied() {
                Some(MODE_FOCUS_EVENTS) => self.modes.focus_events = set,
                Some(MODE_AUTOWRAP) => self.modes.no_autowrap = !set,
                Some(MODE_SYNCHRONIZED) if set => {
                    self.modes
                        .synchronized
                        .get_or_insert_with(std::time::Instant::now);
                }
                Some(MODE_SYNCHRONIZED) => self.modes.synchronized = None,
                _ => {}
            }
        }
    }

    /// The answer to DECRQM for DEC private mode `mode`: 1 set, 2 reset,
    /// 0 not recognised. Programs such as neovim ask for 2026 this way
    /// before they use it.
    fn mode_report(&self, screen: &vt100::Screen, mode: u16) -> u8 {
        use vt100::{MouseProtocolEncoding as Encoding, MouseProtocolMode as Mouse};
        let set = match mode {
            1 => screen.application_cursor(),
            25 => !screen.hide_cursor(),
            47 | 1047 | 1049 => screen.alternate_screen(),
            9 => screen.mouse_protocol_mode() == Mouse::Press,
            1000 => screen.mouse_protocol_mode() == Mouse::PressRelease,
            1002 => screen.mouse_protocol_mode() == Mouse::ButtonMotion,
            1003 => screen.mouse_protocol_mode() == Mouse::AnyMotion,
            1005 => screen.mouse_protocol_encoding() == Encoding::Utf8,
            1006 => screen.mouse_protocol_encoding() == Encoding::Sgr,
            2004 => screen.bracketed_paste(),
            MODE_AUTOWRAP => !self.modes.no_autowrap,
            MODE_FOCUS_EVENTS => self.modes.focus_events,
            MODE_SYNCHRONIZED => self.modes.synchronized.is_some(),
            _ => return 0,
        };
        if set { 1 } else { 2 }
    }
}

impl vt100::Callbacks for Hooks {
    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (i1, i2, c) {
            (Some(b'?'), None, 'h' | 'l') => return self.set_modes(params, c == 'h'),
            (None, None, 'h' | 'l') => {
                if params.iter().any(|p| p.first() == Some(&MODE_INSERT)) {
                    self.modes.insert = c == 'h';
                }
                return;
            }
            // DECRQM for a DEC private mode.
            (Some(b'?'), Some(b'$'), 'p') => {
                let report = self.mode_report(screen, first);
                return self
                    .replies
                    .extend_from_slice(format!("\x1b[?{first};{report}$y").as_bytes());
            }
            // DECRQM for an ANSI mode: only insert mode is supported.
            (Some(b'$'), None, 'p') => {
                let report = match (first, self.modes.insert) {
                    (MODE_INSERT, true) => 1,
                    (MODE_INSERT, false) => 2,
                    _ => 0,
                };
                return self
                    .replies
                    .extend_from_slice(format!("\x1b[{first};{report}$y").as_bytes());
            }
            _ => {}
        }
        let (row, col) = cursor_for_report(screen);
        match (i1, c, first) {
            // DSR: device status, "terminal OK".
            (None, 'n', 5) => self.replies.extend_from_slice(b"\x1b[0n"),
            // DSR: cursor position report, 1-based.
            (None, 'n', 6) => self
                .replies
                .extend_from_slice(format!("\x1b[{row};{col}R").as_bytes()),
            // DECXCPR: the DEC form of the cursor position report.
            (Some(b'?'), 'n', 6) => self
                .replies
                .extend_from_slice(format!("\x1b[?{row};{col}R").as_bytes()),
            // Primary DA: a VT100 with advanced video, as tmux and screen answer.
            (None, 'c', 0) => self.replies.extend_from_slice(b"\x1b[?1;2c"),
            // Secondary DA: terminal type 0 (VT100), version 0.
            (Some(b'>'), 'c', 0) => self.replies.extend_from_slice(b"\x1b[>0;0;0c"),
            _ => {}
        }
    }

    fn audible_bell(&mut self, _: &mut vt100::Screen) {
        // A burst of bells is one.
        if self.alerts.last() != Some(&Alert::Bell) && self.alerts.len() < MAX_ALERTS {
            self.alerts.push(Alert::Bell);
        }
    }

    /// OSC 9 (a desktop notification; `9;4` is a progress report) and
    /// OSC 777 `notify`.
    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        let text = |parts: &[&[u8]]| {
            let joined: Vec<String> = parts
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let clean = clean_text(&joined.join(": "));
            clean.chars().take(MAX_NOTIFICATION).collect::<String>()
        };
        let message = match params {
            [b"9", b"4", ..] => return,
            [b"9", rest @ ..] => text(rest),
            [b"777", b"notify", rest @ ..] => text(rest),
            _ => return,
        };
        if self.alerts.len() < MAX_ALERTS {
            self.alerts.push(Alert::Notify(message));
        }
    }

    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = Some(clean_text(&String::from_utf8_lossy(title)));
    }

    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        use base64::Engine;
        // Undecodable, or cut short: vt100 keeps at most OSC_LIMIT bytes of
        // an OSC (which bounds the memory an unterminated one can take, and
        // so what a program can copy), and a cut copy is not the one asked
        // for.
        if data.len() + b"52;c;".len() >= OSC_LIMIT || self.copies.len() >= MAX_COPIES {
            return;
        }
        if let Ok(text) = base64::engine::general_purpose::STANDARD.decode(data) {
            self.copies
                .push(String::from_utf8_lossy(&text).into_owned());
        }
    }

    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        // A full-screen program's alternate screen is no log of lines.
        if alternate_screen || self.resizing {
            return;
        }
        let number = self.rows_scrolled;
        self.rows_scrolled += 1;
        while self.gap_rows.front().is_some_and(|&n| n < number) {
            self.gap_rows.pop_front();
        }
        let gap = self.gap_rows.front() == Some(&number);
        // Reading a row walks all of its cells: skip it when nothing keeps it.
        // Whether the row came back from the history, once it is known:
        // asking consumes the row's entry.
        let mut back = None;
        if self.scrolled.is_none() && self.log.is_none() && self.sink.is_none() {
            back = Some(came_back(
                &mut self.returning_rows,
                &mut self.returned,
                None,
            ));
            if self.history.capacity() == 0 {
                self.after_wrap = false;
                return;
            }
            if self.doomed {
                self.after_wrap = false;
                self.history.skip_row();
                return;
            }
        }
        let (text, ended) = self.capture.capture(&row);
        // On a one-row screen vt100 never marks a row as wrapped; the
        // screen knows when a scroll came from wrapping instead.
        let ended = ended && !self.wrapping && !gap;
        let joined = std::mem::replace(&mut self.after_wrap, !ended);
        let own = if joined {
            text.strip_prefix('\n').unwrap_or(text)
        } else {
            text
        };
        self.history.push_captured(own, ended);
        let back = back
            .unwrap_or_else(|| came_back(&mut self.returning_rows, &mut self.returned, Some(text)));
        if back {
            return;
        }
        // A row that ended its line finishes it at once (below), so the
        // newline vt100 writes before the next row is already there.
        let text = text.strip_prefix('\n').unwrap_or(text);
        if let Some(scrolled) = &mut self.scrolled {
            if scrolled.is_empty() || scrolled.ends_with('\n') {
                self.scrolled_starts.push_back(number);
            }
            scrolled.push_str(text);
            if ended {
                scrolled.push('\n');
            }
        }
        if let Some(log) = &mut self.log
            && let Some(plain) = log.rows.push(text, ended)
        {
            log.write_lines(&plain);
        }
        if let Some(sink) = &mut self.sink
            && !sink.raw
            && let Some(plain) = sink.rows.push(text, ended)
        {
            // Whether a line went back over itself is the line's own: the
            // first one waiting keeps it, and the next line starts afresh.
            if sink.lines.is_empty() {
                sink.first_redrawn = self.redrawn;
            }
            self.redrawn = false;
            sink.lines.extend(plain.lines().map(str::to_string));
        }
    }
}

/// Whether the row that just scrolled off, captured as `text` (`None`
/// when nothing needs it read), is one that came back from the history and
/// leaves again unchanged; a row that changed means the rest changed too.
fn came_back(returning: &mut usize, returned: &mut VecDeque<String>, text: Option<&str>) -> bool {
    if *returning > 0 {
        *returning -= 1;
        return true;
    }
    let Some(expected) = returned.pop_front() else {
        return false;
    };
    let Some(text) = text else {
        return true;
    };
    let plain: String = vt100::capture::basic_formatted_to_plain(text).collect();
    if plain.trim_start_matches('\n').trim_end() == expected {
        return true;
    }
    returned.clear();
    false
}

impl Erasing for Hooks {
    /// `CSI 3 J` (as `clear` sends) empties the history: vt100 takes it for
    /// its own scrollback, which is kept empty since opmux keeps the
    /// history. Where the screen is erased, rows that came back from the
    /// history are gone, and whatever is printed in their place is new.
    fn erased(&mut self, erase: Erase) {
        match erase {
            Erase::Saved => self.history.clear(),
            Erase::Screen => self.returned.clear(),
            Erase::Reset => {
                self.returned.clear();
                self.modes = ExtraModes::default();
            }
        }
    }
}

/// The most of an OSC's text vt100 keeps (vte's limit without its `std`
/// feature, which opmux leaves off so that an OSC that never ends cannot
/// take unbounded memory).
const OSC_LIMIT: usize = 1024;
/// The most clipboard requests kept between two takes.
const MAX_COPIES: usize = 8;
/// The most alerts kept between two looks: a program ringing in a loop
/// raises attention once a look anyway.
const MAX_ALERTS: usize = 16;
/// The asking lines remembered, so a line scrolling off is not taken for a
/// new one: more than a screen holds.
const MAX_SEEN: usize = 256;
/// The longest desktop notification kept, in characters.
pub const MAX_NOTIFICATION: usize = 200;

/// Something a pane's program did to ask for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alert {
    /// It rang the bell.
    Bell,
    /// A desktop notification (OSC 9 or OSC 777), cleaned and cut short.
    Notify(String),
    /// A rendered line matched the pane's `attention` pattern.
    Matched(String),
}

/// Whether `b` moves the cursor down a line, as LF, VT and FF do.
fn is_line_feed(b: u8) -> bool {
    matches!(b, b'\n' | 0x0b | 0x0c)
}

impl Hooks {
    /// Forgets the line that went off in part: the part kept by the log,
    /// the line sink and the `ready` watcher, which will see the whole line
    /// when it goes off again.
    fn forget_unfinished_line(&mut self) {
        if let Some(log) = &mut self.log {
            log.rows = RowLines::default();
        }
        if let Some(sink) = &mut self.sink {
            sink.rows = RowLines::default();
        }
        if let Some(scrolled) = &mut self.scrolled {
            let keep = scrolled.rfind('\n').map_or(0, |i| i + 1);
            if keep < scrolled.len() {
                self.scrolled_starts.pop_back();
            }
            scrolled.truncate(keep);
        }
    }
}

/// The lines a pane finished, as the prefixed-line front end prints them.
struct LineSink {
    rows: RowLines,
    /// Finished lines not taken yet.
    lines: Vec<String>,
    /// Whether the first of `lines` went back over itself after the last
    /// [`Screen::clear_redrawn`] (see [`Screen::first_line_redrawn`]).
    first_redrawn: bool,
    /// Lines are the program's bytes split at line feeds, not rendered.
    raw: bool,
    /// With `raw`: bytes after the last line feed.
    raw_tail: Vec<u8>,
}

/// The cursor as a 1-based (row, col) pair, clamped to the screen, since vt100
/// can leave the column one past the edge while a wrap is pending.
fn cursor_for_report(screen: &vt100::Screen) -> (u16, u16) {
    let (rows, cols) = screen.size();
    let (row, col) = screen.cursor_position();
    (row.min(rows.get() - 1) + 1, col.min(cols.get() - 1) + 1)
}

/// Whether `body`, a line's bytes before its line feed, may go back over
/// what the line already shows: a backspace, a carriage return with more
/// after it, or an escape sequence other than SGR, which only colours.
fn goes_back(body: &[u8]) -> bool {
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            0x08 => return true,
            b'\r' if i + 1 < body.len() => return true,
            0x1b => {
                // CSI: parameters and intermediates, then the final byte.
                if body.get(i + 1) != Some(&b'[') {
                    return true;
                }
                let end = (body[i + 2..].iter()).position(|b| (0x40..=0x7e).contains(b));
                match end {
                    Some(at) if body[i + 2 + at] == b'm' => i += 2 + at,
                    _ => return true,
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// How many bytes at the start of `bytes` are plain lines: printable
/// characters, no control sequence, tab or backspace, each line ended by
/// CR LF, as the terminal driver ends a line (a bare line feed keeps the
/// column, which only the emulator draws right).
fn plain_prefix(bytes: &[u8]) -> usize {
    let mut taken = 0;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(body) = line.strip_suffix(b"\r\n") else {
            break;
        };
        // 0xc2 starts the C1 controls in UTF-8.
        if body.iter().any(|&b| b < 0x20 || b == 0x7f || b == 0xc2) {
            break;
        }
        taken += line.len();
    }
    taken
}

/// The rows of a screen that may differ from an earlier drawing of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Damage {
    /// No row changed.
    None,
    /// Rows `.0` to `.1`, both included, may have changed; no other did.
    Rows(u16, u16),
    /// Anything may have changed.
    All,
}

impl Damage {
    /// Everything either may have changed.
    fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::None, d) | (d, Self::None) => d,
            (Self::Rows(a, b), Self::Rows(c, d)) => Self::Rows(a.min(c), b.max(d)),
            _ => Self::All,
        }
    }

    /// The rows `output` can have changed, given the cursor (row, column)
    /// before and after it on a screen `cols` wide.
    ///
    /// Exact knowledge would mean comparing every cell, which costs as much
    /// as drawing them. This is a bound read off the bytes instead, for the
    /// output that needs it most: a key's echo or a line of a log. Output of
    /// printable characters, CR, LF, backspace and BEL can only write on the
    /// cursor's row and move it down a row per LF. It scrolled nothing if
    /// the cursor went down by as many rows as there were LFs, and wrapped
    /// nothing if it cannot have reached the last column: no character is
    /// wider than its bytes in UTF-8, except that a character begun in the
    /// last output may take one column more. A combining character can
    /// change the cell before the cursor, so with non-ASCII output the row
    /// above counts too. Anything else (a control sequence, a tab, a C1
    /// control) may change any row, and so may any output that follows
    /// output left unfinished inside a control sequence.
    pub fn of_output(output: &[u8], before: (u16, u16), after: (u16, u16), cols: u16) -> Self {
        if output.is_empty() {
            return Self::None;
        }
        // The test that needs no scan first: a flood's chunks, longer than
        // a row, stop here.
        let no_wrap = usize::from(before.1) + output.len() + 2 < usize::from(cols);
        // 0xc2 starts the C1 controls in UTF-8.
        let simple = || {
            output.iter().all(|&b| {
                matches!(b, 0x20..=0x7e | b'\r' | b'\n' | 0x07 | 0x08) || (b >= 0x80 && b != 0xc2)
            })
        };
        let no_scroll = || {
            let feeds = output.iter().filter(|&&b| b == b'\n').count();
            usize::from(after.0) == usize::from(before.0) + feeds
        };
        if !(no_wrap && simple() && no_scroll()) {
            return Self::All;
        }
        let first = if output.is_ascii() {
            before.0
        } else {
            before.0.saturating_sub(1)
        };
        Self::Rows(first, after.0)
    }
}

/// Whether the parser is between control sequences after `output`, if it
/// was before: every sequence begun in it is complete. A bound again:
/// `false` when unsure.
fn ends_between_sequences(output: &[u8]) -> bool {
    // C1 controls (0xc2 0x80 to 0xc2 0x9f) are not followed, nor one that
    // may be cut off at the end.
    if output.windows(2).any(|w| w[0] == 0xc2 && w[1] < 0xa0) || output.last() == Some(&0xc2) {
        return false;
    }
    let Some(esc) = output.iter().rposition(|&b| b == 0x1b) else {
        return true;
    };
    let tail = &output[esc + 1..];
    match tail.first() {
        None => false,
        // CSI: parameters and intermediates, then a final byte.
        Some(b'[') => tail[1..].iter().any(|b| (0x40..=0x7e).contains(b)),
        // OSC ended by BEL; one ended by ESC \ left a two-byte tail.
        Some(b']') => tail.contains(&0x07),
        Some(b'P' | b'X' | b'^' | b'_') => false,
        // Intermediates, then a final byte.
        Some(_) => tail.iter().any(|b| (0x30..=0x7e).contains(b)),
    }
}

/// The width the emulator gets for a pane `cols` wide: at least 2. vt100
/// 0.18 panics when a character turns wide on a screen one column wide (a
/// digit followed by VS16, U+FE0F, found by fuzzing); a pane that narrow
/// shows one column of the two anyway. The same panic at the last column of
/// any width is kept off by the rewriter, which drops a VS16 that would
/// widen the character there; this guard stays as a second line.
fn parser_cols(cols: u16) -> NonZeroU16 {
    nonzero(cols.max(2))
}

fn nonzero(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n.max(1)).unwrap_or(NonZeroU16::MIN)
}

/// One pane's terminal: its vt100 parser and the replies it owes.
pub struct Screen {
    parser: vt100::Parser<Hooks>,
    /// What the main thread reads without this screen's lock.
    published: Arc<Published>,
    /// The rows changed since the generation `damage.0`, when the renderer
    /// last took them (see [`Screen::take_damage`]).
    damage: (u64, Damage),
    /// The parser is known to be between sequences, so [`Damage::of_output`]
    /// applies to the next output.
    between_sequences: bool,
    /// Rewrites the output into what vt100 understands, on its way in.
    rewriter: Rewriter,
    /// The lines on screen that matched the `attention` pattern already:
    /// the number of each one's first row, and what matched.
    attention_seen: Vec<(u64, String)>,
    /// The bytes being fed are opmux's own (a restart's banner), which
    /// redraw nothing of the program's line.
    own_bytes: bool,
}

impl Screen {
    pub fn new(size: Size) -> Self {
        Self {
            parser: vt100::Parser::new_with_callbacks(
                nonzero(size.rows),
                parser_cols(size.cols),
                0,
                Hooks::default(),
            ),
            published: Arc::default(),
            damage: (0, Damage::All),
            between_sequences: true,
            rewriter: Rewriter::default(),
            attention_seen: Vec::new(),
            own_bytes: false,
        }
    }

    /// The rows changed since the last call, with the generation that call
    /// saw (see [`Published::generation`]): a drawing of that generation
    /// needs only these rows drawn again to show the screen as it is now.
    pub fn take_damage(&mut self) -> (u64, Damage) {
        let now = (self.published.generation(), Damage::None);
        std::mem::replace(&mut self.damage, now)
    }

    fn damaged(&mut self, damage: Damage) {
        self.damage.1 = self.damage.1.and(damage);
    }

    /// What this screen publishes for readers that must not wait for it.
    pub fn published(&self) -> Arc<Published> {
        self.published.clone()
    }

    /// Publishes the input modes, and a copy of the screen if one was asked
    /// for. Called after every change the program or opmux makes.
    fn publish(&mut self) {
        let generation = self.published.changed();
        let vt = self.parser.screen();
        let modes = self.parser.callbacks().modes;
        self.published.set_modes(InputModes {
            focus_events: modes.focus_events,
            ..InputModes::of(vt)
        });
        self.published.set_synchronized(modes.synchronized);
        if self.published.copy_wanted() {
            self.published.put_copy(ScreenCopy {
                vt: vt.clone(),
                title: self.title().map(str::to_string),
                generation,
            });
        }
    }

    /// Starts taking a new run's output on this screen: whatever the last
    /// run left unfinished (a sequence, half a character) is dropped, the
    /// modes opmux and the rewriter track go back to their defaults, and
    /// `banner` (which resets the emulator's own modes and marks the new
    /// run) is printed.
    pub fn start_again(&mut self, banner: &[u8]) {
        self.rewriter.restart(&mut self.parser);
        self.between_sequences = true;
        self.parser.callbacks_mut().modes = ExtraModes::default();
        // The banner's escape codes are opmux's, not the program going back
        // over its line: the line the banner ends is not taken for redrawn,
        // so a part of it already printed unfinished is not printed again.
        self.own_bytes = true;
        self.process(banner);
        self.own_bytes = false;
    }

    /// Keeps at most `lines` lines of history.
    pub fn set_scrollback(&mut self, lines: usize) {
        self.parser.callbacks_mut().history.set_capacity(lines);
    }

    /// The lines that scrolled off the top, oldest first.
    pub fn history(&self) -> &History {
        &self.parser.callbacks().history
    }

    /// Feeds program output into the terminal state.
    pub fn process(&mut self, bytes: &[u8]) {
        let before = self.parser.screen().cursor_position();
        let escapes = bytes.contains(&0x1b);
        if escapes {
            self.parser.callbacks_mut().gap_rows.clear();
        }
        self.feed(bytes);
        let vt = self.parser.screen();
        let damage = if self.between_sequences {
            Damage::of_output(bytes, before, vt.cursor_position(), vt.size().1.get())
        } else {
            Damage::All
        };
        self.damaged(damage);
        if escapes || self.between_sequences {
            self.between_sequences = ends_between_sequences(bytes);
        }
        self.publish();
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.keep_raw(bytes);
        // A one-row screen is fed a line at a time, so that it can tell a
        // row that wrapped from one that ended (see below).
        if self.parser.screen().size().0.get() != 1 {
            self.rewriter.feed(&mut self.parser, bytes);
            return;
        }
        let plain_wanted = self.plain_lines_wanted();
        let mut rest = bytes;
        while !rest.is_empty() {
            // The byte scan first: checking the screen is empty reads it.
            let plain = if plain_wanted && self.rewriter.passes_plain_text() {
                plain_prefix(rest)
            } else {
                0
            };
            if plain > 0 && self.at_line_start() {
                self.take_plain_lines(&rest[..plain]);
                rest = &rest[plain..];
            }
            // One line through the emulator. A one-row screen scrolls a row
            // off when a line wraps as when it ends, and vt100 marks neither:
            // parsing the line apart from its line feed tells the two apart.
            let (body, feed, after) = match rest.iter().position(|&b| is_line_feed(b)) {
                Some(i) => (&rest[..i], &rest[i..=i], &rest[i + 1..]),
                None => (rest, &[][..], &[][..]),
            };
            if !self.own_bytes && goes_back(body) {
                self.parser.callbacks_mut().redrawn = true;
            }
            let hooks = self.parser.callbacks_mut();
            hooks.wrapping = true;
            hooks.carry = feed.is_empty();
            self.rewriter.feed_with(&mut self.parser, body, |parser| {
                // IND and NEL end the row as a line feed does.
                parser.callbacks_mut().wrapping = false;
                parser.process(b"\n");
                parser.callbacks_mut().wrapping = true;
            });
            self.parser.callbacks_mut().wrapping = false;
            self.rewriter.feed(&mut self.parser, feed);
            rest = after;
        }
    }

    /// Whether plain lines may bypass the emulator (see
    /// [`Screen::take_plain_lines`]): only a rendered-line sink wants them,
    /// with nothing that needs every row read (history, a `ready` watcher).
    fn plain_lines_wanted(&self) -> bool {
        let hooks = self.parser.callbacks();
        self.one_row_line_sink() && hooks.scrolled.is_none() && hooks.history.capacity() == 0
    }

    /// Whether rendered lines are collected from a one-row screen, as the
    /// prefixed-line front end sets it up.
    fn one_row_line_sink(&self) -> bool {
        self.parser
            .callbacks()
            .sink
            .as_ref()
            .is_some_and(|s| !s.raw)
            && self.parser.screen().size().0.get() == 1
    }

    /// Whether the next byte starts a line on an empty screen, with nothing
    /// of an earlier line held back by the sink or the log.
    fn at_line_start(&self) -> bool {
        let vt = self.parser.screen();
        let hooks = self.parser.callbacks();
        hooks.sink.as_ref().is_some_and(|s| s.rows.line_ended)
            && !hooks.carry
            && hooks.log.as_ref().is_none_or(|l| l.rows.line_ended)
            && vt.cursor_position() == (0, 0)
            && !vt.alternate_screen()
            && vt.rows(0, vt.size().1.get()).all(|row| row.is_empty())
    }

    /// The fast path of the prefixed-line front end: `plain`, a run of
    /// [`plain_prefix`] lines that starts on an empty line, renders as
    /// exactly its own lines, so it goes to the line sink and the log as it
    /// is, without the terminal emulator. On a one-row screen every one of
    /// those lines would only have scrolled off, and reading each scrolled
    /// row back is most of the cost of a flood.
    fn take_plain_lines(&mut self, plain: &[u8]) {
        let text = String::from_utf8_lossy(plain);
        let lines = text.split_terminator("\r\n");
        let hooks = self.parser.callbacks_mut();
        if let Some(log) = &mut hooks.log {
            // Only whole CR LF lines were taken, with no other CR in them.
            log.write_lines(&text.replace("\r\n", "\n"));
        }
        if let Some(sink) = &mut hooks.sink {
            // Plain lines start where no line was begun: none went back.
            if sink.lines.is_empty() {
                sink.first_redrawn = false;
            }
            sink.lines.extend(lines.map(str::to_string));
        }
    }

    /// With a raw line sink, keeps the bytes as they came.
    fn keep_raw(&mut self, bytes: &[u8]) {
        let Some(sink) = self.parser.callbacks_mut().sink.as_mut().filter(|s| s.raw) else {
            return;
        };
        sink.raw_tail.extend_from_slice(bytes);
        if let Some(end) = sink.raw_tail.iter().rposition(|&b| b == b'\n') {
            let rest = sink.raw_tail.split_off(end + 1);
            let done = std::mem::replace(&mut sink.raw_tail, rest);
            sink.lines.extend(done.split(|&b| b == b'\n').map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                String::from_utf8_lossy(line).into_owned()
            }));
            // The split leaves an empty piece after the last line feed.
            sink.lines.pop();
        }
    }

    /// Collects the lines this screen finishes for [`Screen::take_lines`]:
    /// rendered lines as they scroll off (a one-row screen scrolls each one
    /// off at its line feed), or with `raw` the program's bytes split at
    /// line feeds, escape codes and all.
    pub fn collect_lines(&mut self, raw: bool) {
        self.parser.callbacks_mut().sink = Some(LineSink {
            rows: RowLines::default(),
            lines: Vec::new(),
            first_redrawn: false,
            raw,
            raw_tail: Vec::new(),
        });
    }

    /// Whether the first of the lines [`Screen::take_lines`] would give
    /// went back over itself after the last [`Screen::clear_redrawn`], so
    /// that what was printed of it while unfinished may have been
    /// overwritten rather than continued. Only the first can have been
    /// printed unfinished.
    pub fn first_line_redrawn(&self) -> bool {
        let hooks = self.parser.callbacks();
        hooks.sink.as_ref().is_some_and(|s| s.first_redrawn)
    }

    /// Starts watching for redraws afresh, as the line being written is
    /// printed unfinished (see [`Screen::first_line_redrawn`]).
    pub fn clear_redrawn(&mut self) {
        self.parser.callbacks_mut().redrawn = false;
    }

    /// Takes the lines finished since the last call.
    pub fn take_lines(&mut self) -> Vec<String> {
        self.parser
            .callbacks_mut()
            .sink
            .as_mut()
            .map(|s| std::mem::take(&mut s.lines))
            .unwrap_or_default()
    }

    /// The line still being written: what scrolled off of it (a long line
    /// that wrapped) and what is on screen, as plain text; the raw bytes
    /// after the last line feed with a raw sink.
    pub fn unfinished_line(&self) -> String {
        let Some(sink) = &self.parser.callbacks().sink else {
            return String::new();
        };
        if sink.raw {
            return String::from_utf8_lossy(&sink.raw_tail).into_owned();
        }
        let mut line: String =
            vt100::capture::basic_formatted_to_plain(&sink.rows.pending).collect();
        for row in self.screen_lines() {
            line.push_str(&row);
        }
        line
    }

    /// Feeds program output that the caller knows is followed by more lines
    /// than the history keeps (see [`Lookahead::dooms`]): the rows it
    /// scrolls off are counted, not read, unless a log or a `ready` pattern
    /// needs every line. Under a flood this is most of the rows, and
    /// reading a row is the dearest part of parsing it.
    ///
    /// [`Lookahead::dooms`]: super::pty::Lookahead::dooms
    pub fn process_doomed(&mut self, bytes: &[u8]) {
        self.parser.callbacks_mut().doomed = true;
        self.process(bytes);
        self.parser.callbacks_mut().doomed = false;
    }

    /// Takes what the program asked to put on the clipboard since the last
    /// call (OSC 52), decoded.
    pub fn take_copies(&mut self) -> Vec<String> {
        std::mem::take(&mut self.parser.callbacks_mut().copies)
    }

    /// Takes the bytes owed to the program in answer to its queries.
    pub fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.parser.callbacks_mut().replies)
    }

    /// The last window title the program set, cleaned of control characters.
    pub fn title(&self) -> Option<&str> {
        self.parser.callbacks().title.as_deref()
    }

    /// Appends every line this screen renders to the file at `path`, from
    /// now on: each line as it scrolls off, the rest at [`Screen::close_log`].
    pub fn open_log(&mut self, path: &std::path::Path, timestamps: bool) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        self.parser.callbacks_mut().log = Some(LineLog {
            out: std::io::BufWriter::with_capacity(1 << 16, file),
            rows: RowLines::default(),
            timestamps,
            error: None,
        });
        Ok(())
    }

    /// Whether a log file is open.
    pub fn has_log(&self) -> bool {
        self.parser.callbacks().log.is_some()
    }

    /// Writes what the log holds so far to its file.
    pub fn flush_log(&mut self) -> Option<String> {
        use std::io::Write;
        let log = self.parser.callbacks_mut().log.as_mut()?;
        if let Err(e) = log.out.flush() {
            log.error.get_or_insert(e.to_string());
        }
        log.error.clone()
    }

    /// Ends the log: the lines still on screen go to the file too, then it is
    /// flushed. Returns the first write error, if any.
    pub fn close_log(&mut self) -> Option<String> {
        self.parser.callbacks().log.as_ref()?;
        // A full-screen program's alternate screen is no log of lines: the
        // lines are those of the screen behind it. Rows back from the
        // history were logged when they went off.
        let lines =
            self.on_main_grid(|screen| screen.screen_lines_from(screen.returned_rows_unchanged()));
        let log = self.parser.callbacks_mut().log.as_mut()?;
        // An unfinished line that scrolled off goes on in the first row on
        // screen.
        let mut text = log.rows.take_unfinished();
        for line in &lines {
            text.push_str(line);
            text.push('\n');
        }
        log.write_lines(&text);
        let error = self.flush_log();
        self.parser.callbacks_mut().log = None;
        error
    }

    /// How many rows at the top of the screen came back from the history at
    /// a resize and still hold what they held then.
    fn returned_rows_unchanged(&self) -> usize {
        let vt = self.parser.screen();
        let returned = &self.parser.callbacks().returned;
        vt.rows(0, vt.size().1.get())
            .zip(returned)
            .take_while(|(text, expected)| text.trim_end() == expected.as_str())
            .count()
    }

    /// The lines on screen, wrapped rows joined, trailing blank rows left out.
    fn screen_lines(&self) -> Vec<String> {
        self.screen_lines_from(0)
    }

    /// [`Screen::screen_lines`] from row `first` on.
    fn screen_lines_from(&self, first: usize) -> Vec<String> {
        let mut lines: Vec<String> = self.rows_joined(first).map(|(_, line)| line).collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    }

    /// The lines on screen from row `first` on, wrapped rows joined and
    /// trailing blanks cut, each with the row it starts on.
    fn rows_joined(&self, first: usize) -> impl Iterator<Item = (usize, String)> + '_ {
        let vt = self.parser.screen();
        let (rows, cols) = vt.size();
        let mut line = String::new();
        let mut start = first;
        vt.rows(0, cols.get())
            .enumerate()
            .skip(first)
            .filter_map(move |(row, text)| {
                line.push_str(&text);
                let wrapped =
                    u16::try_from(row).is_ok_and(|r| r + 1 < rows.get() && vt.row_wrapped(r));
                if wrapped {
                    return None;
                }
                let joined = (start, std::mem::take(&mut line).trim_end().to_string());
                start = row + 1;
                Some(joined)
            })
    }

    /// The lines that scrolled off since the last call, rendered, each with
    /// the number of its first row; an unfinished last line, which may
    /// still grow, comes next time.
    fn take_scrolled_lines(&mut self) -> Vec<(u64, String)> {
        let hooks = self.parser.callbacks_mut();
        let Some(text) = &mut hooks.scrolled else {
            return Vec::new();
        };
        let done = match text.rfind('\n') {
            Some(end) => {
                let rest = text.split_off(end + 1);
                std::mem::replace(text, rest)
            }
            None => return Vec::new(),
        };
        let plain: String = vt100::capture::basic_formatted_to_plain(&done).collect();
        plain
            .lines()
            .map(|line| {
                let start = hooks.scrolled_starts.pop_front().unwrap_or_default();
                (start, line.to_string())
            })
            .collect()
    }

    /// The finished rendered lines from line `from` on, as `opmux logs`
    /// follows them, at most `max`: the history's lines, then the lines on
    /// screen above the cursor's. Lines are numbered from the first the
    /// pane ever kept; a line on screen keeps its number as it scrolls into
    /// the history. Returns the lines, the number of the next, and how
    /// many before them were evicted unread. The alternate screen adds
    /// nothing: a full-screen program's screen is no log of lines.
    pub fn finished_lines(&self, from: u64, max: usize) -> (Vec<String>, u64, u64) {
        let hooks = self.parser.callbacks();
        let history = &hooks.history;
        let first = history.first_number();
        let missed = first.saturating_sub(from);
        let mut at = from.max(first);
        let mut lines = Vec::new();
        // The history's last line stays open after its row scrolled off;
        // it is finished unless it goes on in the screen's top row.
        let open = history.len() > history.finished();
        let finished = first + history.finished() as u64 + u64::from(open && !hooks.after_wrap);
        while at < finished && lines.len() < max {
            if let Some(line) = history.get((at - first) as usize) {
                lines.push(line.text().to_string());
            }
            at += 1;
        }
        let vt = self.parser.screen();
        if at < finished || vt.alternate_screen() {
            return (lines, at, missed);
        }
        // The lines on screen that end above the cursor's row, the first
        // joined to the history's open line when it goes on with it.
        let cursor = usize::from(vt.cursor_position().0);
        let on_screen: Vec<(usize, String)> = self.rows_joined(0).collect();
        // A line ends on the row before the next one starts.
        let ends_above = |&i: &usize| on_screen.get(i + 1).is_some_and(|(row, _)| *row <= cursor);
        let finished_here = (0..on_screen.len()).take_while(ends_above).count();
        let mut visible: Vec<String> = on_screen
            .into_iter()
            .take(finished_here)
            .map(|(_, line)| line)
            .collect();
        if hooks.after_wrap
            && open
            && let Some(open) = history.get(history.len() - 1)
            && let Some(top) = visible.first_mut()
        {
            *top = format!("{}{top}", open.text());
        }
        for text in visible.into_iter().skip((at - finished) as usize) {
            if lines.len() >= max {
                break;
            }
            lines.push(text);
            at += 1;
        }
        (lines, at, missed)
    }

    /// The number the next finished line will have (see
    /// [`Screen::finished_lines`]).
    pub fn finished_end(&self) -> u64 {
        let history = self.history();
        // Past the history's finished lines, only those on screen are read.
        let kept = history.first_number() + history.finished() as u64;
        self.finished_lines(kept, usize::MAX).1
    }

    /// The lines on screen, wrapped rows joined, each with the number (as
    /// `rows_scrolled` counts) of its first row.
    fn numbered_screen_lines(&self) -> Vec<(u64, String)> {
        let top = self.parser.callbacks().rows_scrolled;
        self.rows_joined(0)
            .map(|(row, line)| (top + row as u64, line))
            .collect()
    }

    /// What the program's output asks of the user since the last call:
    /// bells, desktop notifications, and each line matching `attention`
    /// (`ready` is looked for in the same lines: returns whether it was
    /// found). A line counts once, however long it stays on screen and
    /// whatever is typed after the match, and not again as it scrolls
    /// off; that includes the line the cursor is on, which a `(y/n)`
    /// prompt never ends. A line that stops matching counts again when a
    /// match comes back to it, as a program redrawing a question in place
    /// asks again.
    pub fn take_alerts(
        &mut self,
        attention: Option<&regex::Regex>,
        ready: Option<&regex::Regex>,
    ) -> (Vec<Alert>, bool) {
        let mut alerts = std::mem::take(&mut self.parser.callbacks_mut().alerts);
        if attention.is_none() && ready.is_none() {
            return (alerts, false);
        }
        self.watch_scrolled_lines();
        let scrolled = self.take_scrolled_lines();
        let mut visible = self.numbered_screen_lines();
        // The top row goes on with a line whose start scrolled off: that
        // line is looked at whole once all of it has.
        if self.parser.callbacks().after_wrap && !visible.is_empty() {
            visible.remove(0);
        }
        let mut ready_found = false;
        if let Some(ready) = ready {
            ready_found = scrolled
                .iter()
                .chain(&visible)
                .any(|(_, l)| ready.is_match(l));
        }
        if let Some(pattern) = attention {
            let seen = &mut self.attention_seen;
            for (number, line) in &scrolled {
                let Some(found) = pattern.find(line) else {
                    continue;
                };
                if !seen.iter().any(|(n, m)| n == number && m == found.as_str()) {
                    alerts.push(Alert::Matched(line.clone()));
                }
            }
            for (number, line) in &visible {
                let found = pattern.find(line).map(|m| m.as_str().to_string());
                if found.is_some()
                    && seen
                        .iter()
                        .any(|(n, m)| n == number && Some(m) == found.as_ref())
                {
                    continue;
                }
                seen.retain(|(n, _)| n != number);
                if let Some(found) = found {
                    seen.push((*number, found));
                    alerts.push(Alert::Matched(line.clone()));
                }
            }
            // Lines long gone are forgotten, so the list stays short.
            if seen.len() > MAX_SEEN {
                seen.drain(..seen.len() - MAX_SEEN);
            }
        }
        (alerts, ready_found)
    }

    /// Stops keeping rows for [`Screen::take_alerts`], once nothing is
    /// looked for in them any more.
    pub fn stop_watching_lines(&mut self) {
        let hooks = self.parser.callbacks_mut();
        hooks.scrolled = None;
        hooks.scrolled_starts.clear();
    }

    /// Starts keeping the rows that scroll off, for [`Screen::take_alerts`].
    pub fn watch_scrolled_lines(&mut self) {
        let hooks = self.parser.callbacks_mut();
        if hooks.scrolled.is_none() {
            hooks.scrolled = Some(Default::default());
        }
    }

    /// Resizes the screen, keeping what the main screen shows. Its logical
    /// lines are laid out again at the new width: soft-wrapped rows re-wrap,
    /// hard line breaks stay, and the cursor stays on its character. Rows
    /// that no longer fit go to the history as if scrolled off (blank rows
    /// below the cursor are dropped first), and a taller screen takes the
    /// newest lines back from the history. The alternate screen is only cut
    /// or padded: the program on it redraws when told of the new size.
    pub fn resize(&mut self, size: Size) {
        let (rows, cols) = (nonzero(size.rows), parser_cols(size.cols));
        if self.parser.screen().size() != (rows, cols) {
            self.reflow(rows, cols);
        }
        self.rewriter.resize(cols.get());
        self.damaged(Damage::All);
        self.publish();
    }

    /// Resizes the parser and prints the main screen's lines again at the
    /// new size. The parser stays the same, so modes, the saved cursor, the
    /// alternate screen and the current attributes survive; the scroll
    /// region resets, as in xterm. Lines that no longer fit scroll off
    /// through `on_scroll`, so they reach the history, the log, the line
    /// sink and the `ready` watcher like any other, once.
    fn reflow(&mut self, rows: NonZeroU16, cols: NonZeroU16) {
        // A string or long sequence the program left unfinished is cut
        // short rather than finished by the bytes printed here; the rest of
        // it is dropped when it comes.
        self.rewriter.interrupt(&mut self.parser);
        self.on_main_grid(|screen| screen.reflow_main_grid(rows, cols));
    }

    /// Runs `f` with the main grid showing, behind a full-screen program's
    /// alternate screen if there is one. `CSI ? 47` only switches grids, and
    /// vt100 keeps a cursor for each, so switching back leaves the alternate
    /// screen as it was.
    fn on_main_grid<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let alternate = self.parser.screen().alternate_screen();
        if alternate {
            self.parser.process(b"\x1b[?47l");
        }
        let result = f(self);
        if alternate {
            self.parser.process(b"\x1b[?47h");
        }
        result
    }

    /// [`Screen::reflow`] of the main grid, which shows.
    fn reflow_main_grid(&mut self, rows: NonZeroU16, cols: NonZeroU16) {
        let attrs = Pen::of_screen(self.parser.screen());
        let cursor = self.parser.screen().cursor_position();
        // The saved cursor is not to be read but by restoring it, which
        // also restores the attributes and the origin mode saved with it;
        // the origin mode in effect is read first, to be set again after.
        // On one or two rows neither can be read (see `origin_mode`): vt100
        // keeps the saved cursor where it was, as far as the new size
        // allows, and no mode changes. Nor is it read when the program never
        // saved one: it stays in the top-left corner.
        let saved_once = self.rewriter.main_cursor_saved();
        let saved = saved_once
            .then(|| self.origin_mode())
            .flatten()
            .map(|origin| {
                self.parser.process(b"\x1b8");
                let at = self.parser.screen().cursor_position();
                (at, Pen::of_screen(self.parser.screen()), origin)
            });
        let hooks = self.parser.callbacks_mut();
        let returned_rows = std::mem::take(&mut hooks.returned).len();
        let first = hooks.rows_scrolled;
        let gaps: Vec<u64> = std::mem::take(&mut hooks.gap_rows)
            .into_iter()
            .filter_map(|n| n.checked_sub(first))
            .collect();
        let mut snapshot = Snapshot::read(
            self.parser.screen(),
            returned_rows,
            cursor,
            saved.map_or(cursor, |s| s.0),
            &gaps,
        );
        let (new_rows, new_cols) = (usize::from(rows.get()), cols.get());
        snapshot.drop_blank_tail(new_rows, new_cols);
        snapshot.drop_below_cursor(new_rows, new_cols);
        self.parser.callbacks_mut().resizing = true;
        self.parser.set_size(rows, cols);
        self.parser.callbacks_mut().resizing = false;
        let (rows, cols) = (new_rows, new_cols);
        self.take_back_lines(&mut snapshot, rows, cols);
        let saved = saved.map(|(_, pen, origin)| (pen, origin));
        self.print_lines(&snapshot, rows, cols, saved, attrs);
    }

    /// Whether origin mode (DECOM) is set on the main screen, which vt100
    /// does not tell: found by setting a scroll region that starts on the
    /// second row and homing the cursor, which lands there only in origin
    /// mode. `None` on a screen of fewer than three rows, where no such
    /// region exists. The cursor is moved and the region left set: the
    /// resize that follows resets the region, and places the cursor again.
    fn origin_mode(&mut self) -> Option<bool> {
        let rows = self.parser.screen().size().0.get();
        if rows < 3 {
            return None;
        }
        self.parser
            .process(format!("\x1b[2;{rows}r\x1b[H").as_bytes());
        Some(self.parser.screen().cursor_position().0 == 1)
    }

    /// Moves the newest lines of the history back to the top of
    /// `snapshot`, as many as fit above its lines in `rows` rows.
    fn take_back_lines(&mut self, snapshot: &mut Snapshot, rows: usize, cols: u16) {
        let needed: usize = snapshot.lines.iter().map(|l| l.rows(cols)).sum();
        let mut room = rows.saturating_sub(needed);
        if room == 0 {
            return;
        }
        let hooks = self.parser.callbacks_mut();
        let history = &mut hooks.history;
        // The newest line went on in the screen's first row: it comes back
        // joined with that row's line, or nothing comes back.
        let join = match (
            history.open_wraps(),
            snapshot.lines.first(),
            history.newest(),
        ) {
            (true, Some(first), Some(tail)) => Some((tail.joined(first), tail.width())),
            _ => None,
        };
        if let Some((joined, tail_width)) = join {
            let extra = joined
                .rows(cols)
                .saturating_sub(snapshot.lines[0].rows(cols));
            if extra > room {
                return;
            }
            room -= extra;
            for mark in [&mut snapshot.cursor, &mut snapshot.saved] {
                if mark.0 == 0 {
                    mark.1 += tail_width;
                }
            }
            snapshot.lines[0] = joined;
            history.take_newest();
            if snapshot.returned == 0 {
                // Its rows that went off reached the log and the rest
                // never did: all of it goes there when it leaves again.
                hooks.forget_unfinished_line();
            }
        }
        let history = &mut hooks.history;
        let mut back = Vec::new();
        while let Some(line) = history.newest() {
            let needs = line.rows(cols);
            if needs > room {
                break;
            }
            room -= needs;
            back.extend(history.take_newest());
        }
        back.reverse();
        let n = back.len();
        snapshot.lines.splice(0..0, back);
        snapshot.cursor.0 += n;
        snapshot.saved.0 += n;
        snapshot.returned += n;
    }

    /// Clears the screen and prints `snapshot`'s lines on it from the top,
    /// then puts the saved cursor, if `saved` gives its attributes and
    /// origin mode, and the cursor back on their characters, the cursor
    /// with `attrs`, the attributes in effect. Where rows land is read off
    /// the parser as it prints them, not worked out beforehand, so that it
    /// agrees with the parser's own idea of character widths.
    fn print_lines(
        &mut self,
        snapshot: &Snapshot,
        rows: usize,
        cols: u16,
        saved: Option<(Pen, bool)>,
        attrs: Pen,
    ) {
        let lines = &snapshot.lines;
        let marks = [snapshot.saved, snapshot.cursor];
        // On one row, vt100 marks no wrap: the hooks are told instead.
        let one_row = rows == 1;
        // Every row scrolled off before the first line that did not come
        // back is one that did.
        self.parser.callbacks_mut().returning_rows = usize::MAX;
        let mut out = b"\x1b[0m\x1b[H\x1b[2J".to_vec();
        let mut pen = Pen::default();
        // For each mark, the row its line starts on and the rows scrolled
        // off by then.
        let mut starts = [(0, 0); 2];
        for (i, line) in lines.iter().enumerate() {
            if i == snapshot.returned {
                self.returned_printed(&mut out, i > 0);
            }
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            let marked = marks.iter().any(|m| m.0 == i);
            if one_row || marked {
                self.parser.process(&out);
                out.clear();
            }
            if marked {
                let row = usize::from(self.parser.screen().cursor_position().0);
                let scrolled = self.parser.callbacks().rows_scrolled;
                for (mark, start) in marks.iter().zip(&mut starts) {
                    if mark.0 == i {
                        *start = (row, scrolled);
                    }
                }
            }
            let gaps = reflow::gap_rows(line, cols);
            if !gaps.is_empty() {
                self.parser.process(&out);
                out.clear();
                let hooks = self.parser.callbacks();
                let start =
                    hooks.rows_scrolled + u64::from(self.parser.screen().cursor_position().0);
                let numbers = gaps.into_iter().map(|g| start + g as u64);
                self.parser.callbacks_mut().gap_rows.extend(numbers);
            }
            self.parser.callbacks_mut().wrapping = one_row;
            reflow::write_line(line, &mut pen, &mut out);
            if one_row {
                self.parser.process(&out);
                out.clear();
            }
            self.parser.callbacks_mut().wrapping = false;
        }
        if snapshot.returned >= lines.len() {
            self.returned_printed(&mut out, !lines.is_empty());
        }
        self.parser.process(&out);
        out.clear();
        let now = self.parser.callbacks().rows_scrolled;
        // Where mark `k` goes: its row, column, and its line's last
        // character when a wrap is pending after it there and that row is
        // still on the screen.
        let position = |k: usize| {
            let (mark, start) = (marks[k], starts[k]);
            let line = lines.get(mark.0)?;
            let (row, col, again) = match reflow::place(line, mark.1, cols) {
                Place::At(row, col) => (row, col, false),
                Place::AfterLast(row, col) => (row, col, true),
            };
            let gone = usize::try_from(now - start.1).unwrap_or(usize::MAX);
            let on_screen = start.0 + row >= gone;
            let row = (start.0 + row).saturating_sub(gone).min(rows - 1);
            Some((row, col, (again && on_screen).then_some(line)))
        };
        if let Some((saved_attrs, origin)) = saved {
            // Nothing is printed for the saved cursor: its line may be gone
            // from the screen, and printing would land on another. A wrap
            // pending after a row that is not the last goes on at the start
            // of the next row, where restoring it and printing would write.
            if let Some((row, col, last)) = position(0) {
                let (row, col) = match last {
                    Some(_) if row + 1 < rows => (row + 1, 0),
                    _ => (row, col),
                };
                out.extend_from_slice(format!("\x1b[{};{}H", row + 1, col + 1).as_bytes());
            }
            saved_attrs.write_sgr(&mut out);
            // DECSC: the saved cursor is set as restoring it found it. Its
            // origin mode went with it, and the program's is set again
            // (on the whole screen, where it moves no cursor).
            out.extend_from_slice(b"\x1b7");
            out.extend_from_slice(if origin { b"\x1b[?6h" } else { b"\x1b[?6l" });
        }
        if !self.rewriter.main_cursor_saved() {
            // Never saved: the saved cursor stays in the top-left corner, with
            // the default attributes, however vt100 moved it when resizing.
            out.extend_from_slice(b"\x1b[H\x1b[0m\x1b7");
        }
        // The cursor's line is on the screen (see `drop_below_cursor`):
        // its last character can be printed again where it is.
        if let Some((row, col, last)) = position(1) {
            out.extend_from_slice(format!("\x1b[{};{}H", row + 1, col + 1).as_bytes());
            if let Some(line) = last {
                reflow::write_last_cell(line, &mut pen, &mut out);
            }
        }
        attrs.write_sgr(&mut out);
        self.parser.process(&out);
        let still_there = std::mem::take(&mut self.parser.callbacks_mut().returning_rows);
        let texts = self
            .parser
            .screen()
            .rows(0, cols)
            .take(still_there)
            .map(|text| text.trim_end().to_string())
            .collect();
        self.parser.callbacks_mut().returned = texts;
    }

    /// Prints `out`, the end of the lines that came back from the history,
    /// if `any` did: the rows down to the cursor's hold them, and are the
    /// first to scroll off when the rest is printed.
    fn returned_printed(&mut self, out: &mut Vec<u8>, any: bool) {
        self.parser.process(out);
        out.clear();
        let on_screen = if any {
            usize::from(self.parser.screen().cursor_position().0) + 1
        } else {
            0
        };
        self.parser.callbacks_mut().returning_rows = on_screen;
    }

    pub fn size(&self) -> Size {
        let (rows, cols) = self.parser.screen().size();
        Size::new(rows.get(), cols.get())
    }

    /// The vt100 screen, for drawing and for input modes.
    pub fn vt(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// Whether the program asked for focus events (mode 1004).
    pub fn focus_events(&self) -> bool {
        self.parser.callbacks().modes.focus_events
    }

    /// When the program began the synchronized update (mode 2026) it is in
    /// the middle of, if it is.
    pub fn synchronized_since(&self) -> Option<std::time::Instant> {
        self.parser.callbacks().modes.synchronized
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_do_not_go_back_over_a_line_and_other_moves_do() {
        for plain in [
            &b"abc"[..],
            b"\x1b[32mabc\x1b[0m",
            b"\x1b[1;38;5;208mx",
            b"done\r",
        ] {
            assert!(!goes_back(plain), "{:?}", String::from_utf8_lossy(plain));
        }
        for back in [
            &b"10%\r100%"[..],
            b"ab\x08c",
            b"\x1b[2K",
            b"\x1b[1G",
            b"\x1bM",
            b"\x1b[",
        ] {
            assert!(goes_back(back), "{:?}", String::from_utf8_lossy(back));
        }
    }

    /// Every cell of every row, as a terminal would show it.
    fn rows_of(screen: &Screen) -> Vec<Vec<u8>> {
        let vt = screen.vt();
        let (rows, cols) = vt.size();
        (0..rows.get())
            .map(|row| {
                let mut text = Vec::new();
                for col in 0..cols.get() {
                    let cell = vt.cell(row, col).unwrap();
                    text.extend_from_slice(cell.contents().as_bytes());
                    text.extend_from_slice(
                        format!("{:?}{:?}{}", cell.fgcolor(), cell.bgcolor(), cell.inverse())
                            .as_bytes(),
                    );
                }
                text
            })
            .collect()
    }

    #[test]
    fn bells_and_notifications_are_alerts_and_progress_reports_are_not() {
        let mut screen = Screen::new(Size::new(4, 30));
        screen.process(b"a\x07\x07b\x1b]9;build done\x07\x1b]9;4;1;50\x07");
        screen.process(b"\x1b]777;notify;CI;all \x01green\x1b\\");
        let (alerts, _) = screen.take_alerts(None, None);
        assert_eq!(
            alerts,
            vec![
                Alert::Bell,
                Alert::Notify("build done".into()),
                Alert::Notify("CI: all green".into()),
            ]
        );
        // Taken once.
        assert_eq!(screen.take_alerts(None, None).0, vec![]);
        let long = "x".repeat(MAX_NOTIFICATION * 2);
        screen.process(format!("\x1b]9;{long}\x07").as_bytes());
        let (alerts, _) = screen.take_alerts(None, None);
        assert_eq!(alerts, vec![Alert::Notify("x".repeat(MAX_NOTIFICATION))]);
    }

    /// Whether a line since the last look matches `ready`, as the parser
    /// looks for a pane's ready line.
    fn found(screen: &mut Screen, ready: &regex::Regex) -> bool {
        screen.take_alerts(None, Some(ready)).1
    }

    #[test]
    fn finished_lines_are_numbered_once_across_history_and_screen() {
        let mut screen = Screen::new(Size::new(3, 10));
        let mut got = Vec::new();
        let mut next = 0;
        // A line wider than the screen wraps, and its rows scroll off one
        // at a time; it is one line, finished once all of it is.
        for chunk in [
            &b"a\r\nb"[..],
            b"\r\n",
            b"c\r\nd\r\n",
            b"e",
            b"\r\nf\r\ng\r\nh",
            b"\r\n0123456789abcdefghijklmn",
            b"\r\ni\r\n",
            b"j\r\nk\r\n",
        ] {
            screen.process(chunk);
            let (lines, after, missed) = screen.finished_lines(next, usize::MAX);
            assert_eq!(missed, 0);
            got.extend(lines);
            next = after;
        }
        assert_eq!(
            got,
            [
                "a",
                "b",
                "c",
                "d",
                "e",
                "f",
                "g",
                "h",
                "0123456789abcdefghijklmn",
                "i",
                "j",
                "k"
            ]
        );
        assert_eq!(screen.finished_lines(0, usize::MAX).0, got);
        assert_eq!(screen.finished_lines(5, 1).0, ["f"]);
    }

    #[test]
    fn a_wrapped_asking_line_is_one_alert_as_it_scrolls_off_row_by_row() {
        let ask = regex::Regex::new(r"\(y/n\)").unwrap();
        let mut screen = Screen::new(Size::new(3, 10));
        // As a pane with an `attention` pattern starts.
        screen.watch_scrolled_lines();
        let mut alerts = Vec::new();
        // Two rows wide, then scrolled off one row at a time, looked at
        // after each row.
        for chunk in [
            &b"abcdefghijklmnop (y/n)\r\n"[..],
            b"1\r\n",
            b"2\r\n",
            b"3\r\n",
            b"4\r\n",
        ] {
            screen.process(chunk);
            alerts.extend(screen.take_alerts(Some(&ask), None).0);
        }
        assert_eq!(
            alerts,
            vec![Alert::Matched("abcdefghijklmnop (y/n)".into())]
        );
    }

    #[test]
    fn an_asking_line_is_an_alert_once_even_unended_and_while_it_stays_or_scrolls_off() {
        let ask = regex::Regex::new(r"\(y/n\)").unwrap();
        let mut screen = Screen::new(Size::new(3, 30));
        // A prompt never ends its line: it counts as it stands.
        screen.process(b"working\r\nProceed? (y/n) ");
        let asked = |alerts: Vec<Alert>| -> Vec<String> {
            alerts
                .into_iter()
                .filter_map(|a| match a {
                    Alert::Matched(line) => Some(line),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            asked(screen.take_alerts(Some(&ask), None).0),
            ["Proceed? (y/n)"]
        );
        // Still on screen, as more output comes: not again.
        screen.process(b"y\r\nok\r\n");
        assert_eq!(
            asked(screen.take_alerts(Some(&ask), None).0),
            Vec::<String>::new()
        );
        // Scrolled off: not again either; a new asking line is.
        screen.process(b"a\r\nb\r\nc\r\nOverwrite? (y/n)\r\n");
        assert_eq!(
            asked(screen.take_alerts(Some(&ask), None).0),
            ["Overwrite? (y/n)"]
        );
        // Lines that scrolled off between two looks are looked at too, and
        // `ready` is found among the same lines.
        let ready = regex::Regex::new("^listening").unwrap();
        screen.process(b"Delete? (y/n)\r\nlistening\r\n1\r\n2\r\n3\r\n4\r\n");
        let (alerts, found) = screen.take_alerts(Some(&ask), Some(&ready));
        assert_eq!(asked(alerts), ["Delete? (y/n)"]);
        assert!(found);
    }

    #[test]
    fn a_character_turning_wide_on_a_one_column_pane_does_not_panic() {
        for bytes in [
            "3\u{fe0f}",
            "\u{2764}\u{fe0f}x",
            "a\u{fe0f}\u{fe0f}\r\n\u{4e16}",
        ] {
            let mut screen = Screen::new(Size::new(3, 1));
            screen.process(bytes.as_bytes());
            screen.resize(Size::new(2, 1));
            screen.process(bytes.as_bytes());
            screen.process(b"\x1b[2J\x1b[Hok");
            assert_eq!(screen.vt().contents(), "ok", "after {bytes:?}");
        }
    }

    #[test]
    fn focus_events_and_synchronized_output_are_tracked_and_published() {
        let mut screen = Screen::new(Size::new(4, 20));
        let published = screen.published();
        screen.process(b"\x1b[?1004h");
        assert!(screen.focus_events());
        assert!(published.modes().focus_events);
        assert_eq!(published.synchronized_since(), None);
        screen.process(b"\x1b[?2026h");
        let since = screen.synchronized_since().expect("2026 set");
        assert!(published.synchronized_since().is_some());
        // Set again while held: the update began when it was first set.
        screen.process(b"\x1b[?2026h");
        assert_eq!(screen.synchronized_since(), Some(since));
        screen.process(b"\x1b[?2026l\x1b[?1004l");
        assert!(!screen.focus_events());
        assert!(!published.modes().focus_events);
        assert_eq!(published.synchronized_since(), None);
        // Both in one sequence, with a mode vt100 knows among them.
        screen.process(b"\x1b[?1004;25;2026h");
        assert!(screen.focus_events() && screen.synchronized_since().is_some());
        screen.process(b"\x1b[?2026;1004l");
        assert!(!screen.focus_events() && screen.synchronized_since().is_none());
    }

    #[test]
    fn a_reset_ends_the_modes_vt100_does_not_track() {
        let mut screen = Screen::new(Size::new(4, 20));
        screen.process(b"\x1b[?1004;2026h\x1bc");
        assert!(!screen.focus_events());
        assert_eq!(screen.synchronized_since(), None);
        // Set again after a reset in the same output: still set.
        screen.process(b"\x1bc\x1b[?1004h");
        assert!(screen.focus_events());
        // A reset cut between two reads.
        screen.process(b"x\x1b");
        screen.process(b"cy");
        assert!(!screen.focus_events());
        assert_eq!(screen.vt().contents(), "y");
    }

    #[test]
    fn a_new_run_starts_from_clean_modes() {
        let mut screen = Screen::new(Size::new(6, 20));
        // Every mode the last run could leave on, on the alternate screen,
        // and half a character.
        screen.process(b"old\x1b[?1049h\x1b[?1004h\x1b[?2026h\x1b[4h\x1b[?7l\x1b)0\x0e\x1b[1;8m");
        screen.process(b"\x1b[2;4r\x1b[?6h\x1b[?40h\x1b[3g\x1b[?1h\x1b[?25l\x1b7\xe4\xb8");
        screen.start_again(crate::runtime::RESTART_BANNER.as_bytes());
        assert!(!screen.focus_events());
        assert_eq!(screen.synchronized_since(), None);
        screen.process(b"\x1b[4$p\x1b[?7$p\x1b[?6$p");
        let replies = String::from_utf8(screen.take_replies()).unwrap();
        assert!(replies.starts_with("\x1b[4;2$y\x1b[?7;1$y"), "{replies:?}");
        let vt = screen.vt();
        assert!(!vt.alternate_screen() && !vt.hide_cursor() && !vt.application_cursor());
        assert_eq!(vt.cursor_position(), (2, 0));
        // Plain ASCII, default tab stops, overwriting, wrapping; DECCOLM
        // not allowed.
        screen.process(b"new\tqx\x1b[?3h\x1b[3;1HN\x1b[3;20Hab");
        let rows: Vec<String> = screen.vt().rows(0, 20).collect();
        assert_eq!(rows[0], "old");
        assert!(rows[1].contains("started again"), "{rows:?}");
        assert_eq!(rows[2], "New     qx         a");
        assert_eq!(rows[3], "b");
        assert!(!screen.vt().cell(2, 0).unwrap().bold());
        // Margins and origin mode gone: the bottom row is row 6, and a
        // line feed there scrolls the whole screen; the DECSC slot is home.
        screen.process(b"\x1b[6;1Hz\n");
        let top = || screen.vt().rows(0, 20).next().unwrap();
        assert!(top().contains("started again"), "{}", top());
        screen.process(b"\x1b8h");
        assert!(
            screen
                .vt()
                .rows(0, 20)
                .next()
                .unwrap()
                .starts_with("h\u{2500} started")
        );
    }

    #[test]
    fn mode_requests_are_answered() {
        let mut screen = Screen::new(Size::new(4, 20));
        let ask = |screen: &mut Screen, query: &str| {
            screen.process(query.as_bytes());
            String::from_utf8(screen.take_replies()).unwrap()
        };
        assert_eq!(ask(&mut screen, "\x1b[?2026$p"), "\x1b[?2026;2$y");
        assert_eq!(ask(&mut screen, "\x1b[?1004$p"), "\x1b[?1004;2$y");
        screen.process(b"\x1b[?2026h\x1b[?1004h\x1b[?1049h\x1b[?2004h\x1b[?1002h\x1b[?1006h");
        assert_eq!(ask(&mut screen, "\x1b[?2026$p"), "\x1b[?2026;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?1004$p"), "\x1b[?1004;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?1049$p"), "\x1b[?1049;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?2004$p"), "\x1b[?2004;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?1002$p"), "\x1b[?1002;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?1000$p"), "\x1b[?1000;2$y");
        assert_eq!(ask(&mut screen, "\x1b[?1006$p"), "\x1b[?1006;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?25$p"), "\x1b[?25;1$y");
        assert_eq!(ask(&mut screen, "\x1b[?1$p"), "\x1b[?1;2$y");
        assert_eq!(ask(&mut screen, "\x1b[?12345$p"), "\x1b[?12345;0$y");
        assert_eq!(ask(&mut screen, "\x1b[20$p"), "\x1b[20;0$y");
        // Insert mode and autowrap, which the rewriter carries out, in the
        // order of the output even within one read.
        assert_eq!(ask(&mut screen, "\x1b[4$p"), "\x1b[4;2$y");
        assert_eq!(ask(&mut screen, "\x1b[?7$p"), "\x1b[?7;1$y");
        assert_eq!(
            ask(
                &mut screen,
                "\x1b[4;20h\x1b[4$p\x1b[?25;7l\x1b[?7$p\x1b[4l\x1b[?7h"
            ),
            "\x1b[4;1$y\x1b[?7;2$y"
        );
        assert_eq!(
            ask(&mut screen, "\x1b[4$p\x1b[?7$p"),
            "\x1b[4;2$y\x1b[?7;1$y"
        );
        // DECSTR and RIS reset them.
        for reset in ["\x1b[!p", "\x1bc"] {
            let query = format!("\x1b[4h\x1b[?7l{reset}\x1b[4$p\x1b[?7$p");
            assert_eq!(
                ask(&mut screen, &query),
                "\x1b[4;2$y\x1b[?7;1$y",
                "{reset:?}"
            );
        }
    }

    #[test]
    fn clipboard_requests_are_decoded_and_bounded() {
        let mut screen = Screen::new(Size::new(4, 20));
        // "hi", a paste request, undecodable data, the longest copy that
        // fits an OSC, and one that does not.
        screen.process(b"\x1b]52;c;aGk=\x07\x1b]52;c;?\x07\x1b]52;c;!!\x07");
        let fits = "QUFB".repeat((OSC_LIMIT - 6) / 4);
        screen.process(format!("\x1b]52;c;{fits}\x07").as_bytes());
        let cut = "QUFB".repeat(OSC_LIMIT / 4 + 1);
        screen.process(format!("\x1b]52;c;{cut}\x07").as_bytes());
        let copies = screen.take_copies();
        assert_eq!(copies.len(), 2, "{copies:?}");
        assert_eq!(copies[0], "hi");
        assert_eq!(copies[1], "AAA".repeat((OSC_LIMIT - 6) / 4));
        assert!(screen.take_copies().is_empty(), "taken once");
        for _ in 0..MAX_COPIES + 3 {
            screen.process(b"\x1b]52;c;aGk=\x07");
        }
        assert_eq!(screen.take_copies().len(), MAX_COPIES);
    }

    #[test]
    fn rows_outside_the_damage_are_left_as_they_were() {
        let pieces: &[&[u8]] = &[
            b"a",
            b"word ",
            b"longer words",
            b"\r",
            b"\n",
            b"\r\n",
            b"\x08",
            b"\x07",
            b"\t",
            "\u{301}".as_bytes(),
            "\u{4e16}".as_bytes(),
            "\u{1f600}".as_bytes(),
            b"\x1b[31m",
            b"\x1b[2J",
            b"\x1b[H",
            b"\x1b[3;4r",
            b"\x1b[r",
            b"\x1b[99C",
            b"\x1b[99B",
            b"\x1b[A",
            b"\x1b]0;t\x07",
            b"\xc2\x9b",
            // What the rewriter supplies: character sets, index, tab stops,
            // alignment, alternate screens, and the modes in which plain
            // text is rewritten.
            b"lqqk",
            b"\x1b(0",
            b"\x1b)0",
            b"\x1b(B",
            b"\x0e",
            b"\x0f",
            b"\x1b7",
            b"\x1b8",
            b"\x1bD",
            b"\x1bE",
            b"\x1bH",
            b"\x1b[3g",
            b"\x1b[Z",
            b"\x1b[2I",
            b"\x1b#8",
            b"\x1b[?1047h",
            b"\x1b[?1047l",
            b"\x1b[?1048h",
            b"\x1b[s",
            b"\x1b[u",
            b"\x1b[4h",
            b"\x1b[4l",
            b"\x1b[?7l",
            b"\x1b[?7h",
            b"\x1b[8m",
            b"\x1b[28m",
            b"\x1b[38:2::1:2:3;58;5;1;9m",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut roll = |sides: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % sides as u64) as usize
        };
        for _ in 0..40 {
            let mut screen = Screen::new(Size::new(4, 10));
            screen.take_damage();
            let mut before = rows_of(&screen);
            let mut bytes = Vec::new();
            for _ in 0..300 {
                // Pieces run together and are cut anywhere, as reads cut them.
                while bytes.len() < 8 {
                    bytes.extend_from_slice(pieces[roll(pieces.len())]);
                }
                let cut = 1 + roll(bytes.len());
                let chunk: Vec<u8> = bytes.drain(..cut).collect();
                screen.process(&chunk);
                let (since, damage) = screen.take_damage();
                assert_eq!(since, screen.published.generation() - 1);
                let after = rows_of(&screen);
                for (row, (was, is)) in before.iter().zip(&after).enumerate() {
                    let row = row as u16;
                    let covered = match damage {
                        Damage::None => false,
                        Damage::Rows(first, last) => first <= row && row <= last,
                        Damage::All => true,
                    };
                    assert!(
                        covered || was == is,
                        "row {row} changed outside {damage:?} after {:?}",
                        chunk.escape_ascii().to_string()
                    );
                }
                before = after;
            }
        }
    }

    #[test]
    fn cursor_position_query_is_answered_one_based() {
        let mut screen = Screen::new(Size::new(24, 80));
        screen.process(b"\x1b[5;10Hx\x1b[6n");
        assert_eq!(screen.take_replies(), b"\x1b[5;11R");
        assert!(screen.take_replies().is_empty(), "replies are taken once");
    }

    #[test]
    fn device_attributes_and_status_are_answered() {
        let mut screen = Screen::new(Size::new(24, 80));
        screen.process(b"\x1b[c\x1b[0c\x1b[>c\x1b[5n\x1b[?6n");
        assert_eq!(
            screen.take_replies(),
            b"\x1b[?1;2c\x1b[?1;2c\x1b[>0;0;0c\x1b[0n\x1b[?1;1R"
        );
    }

    #[test]
    fn cursor_report_stays_on_screen_while_a_wrap_is_pending() {
        let mut screen = Screen::new(Size::new(2, 4));
        screen.process(b"abcd\x1b[6n");
        assert_eq!(screen.take_replies(), b"\x1b[1;4R");
    }

    #[test]
    fn unrelated_sequences_get_no_reply() {
        let mut screen = Screen::new(Size::new(24, 80));
        screen.process(b"\x1b[31mred\x1b[0m\x1b[2J\x1b[?25l\x1b[18t");
        assert!(screen.take_replies().is_empty());
    }

    #[test]
    fn window_title_is_kept_without_control_characters() {
        let mut screen = Screen::new(Size::new(24, 80));
        screen.process(b"\x1b]2;build \x1b[31m ok\x07");
        // The OSC ends at the first BEL or ST; what the title keeps is clean.
        assert!(screen.title().unwrap().chars().all(|c| !c.is_control()));
    }

    #[test]
    fn window_titles_lose_every_c0_and_c1_control() {
        // C0 controls that the parser keeps inside an OSC or drops itself,
        // DEL, and C1 controls as UTF-8 (U+0080 to U+009F: a CSI, an ST, a
        // NEL in one character each).
        let controls = [
            "\x01", "\x08", "\x1f", "\x7f", "\u{80}", "\u{85}", "\u{8d}", "\u{90}", "\u{9b}",
            "\u{9c}", "\u{9d}", "\u{9f}",
        ];
        let mut screen = Screen::new(Size::new(24, 80));
        let published = screen.published();
        for control in controls {
            for osc in ["0", "2"] {
                for end in ["\x07", "\x1b\\"] {
                    let set = format!("\x1b]{osc};left{control}right{end}");
                    published.want_copy();
                    screen.process(set.as_bytes());
                    let what = format!("OSC {osc} with {control:?} ended by {end:?}");
                    assert_eq!(screen.title(), Some("leftright"), "{what}");
                    // The copy drawn from while the parser is busy has it
                    // clean too.
                    let copy = published.take_copy().expect("a copy was asked for");
                    assert_eq!(copy.title.as_deref(), Some("leftright"), "{what}");
                    // Another title in between, so a title left unchanged
                    // is seen.
                    screen.process(b"\x1b]2;other\x07");
                    assert_eq!(screen.title(), Some("other"));
                }
            }
        }
    }

    #[test]
    fn ready_lines_match_rendered_text_not_bytes() {
        let ready = regex::Regex::new("^listening on port \\d+$").unwrap();
        let cases: &[(&[u8], bool)] = &[
            (b"listening on port 80\r\n", true),
            // Colours split the bytes but not the rendered line.
            (
                b"\x1b[32mlistening\x1b[0m on \x1b[1mport\x1b[0m 443\r\n",
                true,
            ),
            // A carriage-return progress redraw leaves only its final form.
            (b"starting 10%\rstarting 99%\rlistening on port 1\r\n", true),
            (b"not listening on port 80\r\n", false),
            (b"listening on port 80 soon\r\n", false),
        ];
        for (bytes, expected) in cases {
            let mut screen = Screen::new(Size::new(5, 40));
            screen.watch_scrolled_lines();
            screen.process(bytes);
            assert_eq!(
                found(&mut screen, &ready),
                *expected,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let mut narrow = Screen::new(Size::new(5, 20));
        narrow.process(b"listening on port 123456\r\n");
        assert!(found(&mut narrow, &ready), "a wrapped line is joined");
    }

    #[test]
    fn ready_lines_that_scrolled_off_still_count() {
        let ready = regex::Regex::new("^ready$").unwrap();
        let mut screen = Screen::new(Size::new(3, 20));
        screen.watch_scrolled_lines();
        screen.process(b"ready\r\n");
        for i in 0..10 {
            screen.process(format!("noise {i}\r\n").as_bytes());
        }
        assert!(found(&mut screen, &ready));
        assert!(
            !found(&mut screen, &ready),
            "scrolled lines are looked at once"
        );
    }

    #[test]
    fn the_log_holds_every_rendered_line_in_order() {
        let path =
            std::env::temp_dir().join(format!("opmux-screen-log-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = Screen::new(Size::new(4, 10));
        screen.open_log(&path, false).unwrap();
        // Colours, a progress redraw, a wrapped line, then enough to scroll.
        screen.process(b"\x1b[31mred\x1b[0m\r\n10%\r99%\rdone\r\n0123456789abc\r\n");
        for i in 0..20 {
            screen.process(format!("line {i}\r\n").as_bytes());
        }
        screen.process(b"last, unfinished");
        assert_eq!(screen.close_log(), None);
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut expected = vec!["red".to_string(), "done".into(), "0123456789abc".into()];
        expected.extend((0..20).map(|i| format!("line {i}")));
        expected.push("last, unfinished".into());
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn zero_sizes_are_clamped_instead_of_panicking() {
        let mut screen = Screen::new(Size::new(0, 0));
        // One row; two columns, the least vt100 can draw every character in.
        assert_eq!(screen.size(), Size::new(1, 2));
        screen.process("漢字 and more".as_bytes());
        screen.resize(Size::new(0, 3));
        assert_eq!(screen.size(), Size::new(1, 3));
    }

    #[test]
    fn rows_known_to_be_evicted_are_counted_not_kept() {
        let mut screen = Screen::new(Size::new(5, 20));
        screen.set_scrollback(100);
        let lines = |from: usize, to: usize| -> String {
            (from..to).map(|i| format!("line {i}\r\n")).collect()
        };
        screen.process(lines(0, 50).as_bytes());
        // The caller saw more than 100 lines coming after these.
        screen.process_doomed(lines(50, 1000).as_bytes());
        screen.process(lines(1000, 1200).as_bytes());
        let history = screen.history();
        assert_eq!(history.len(), 100);
        let kept: Vec<&str> = history.iter().map(|l| l.text()).collect();
        let expected: Vec<String> = (1096..1196).map(|i| format!("line {i}")).collect();
        assert_eq!(kept, expected);
        // Numbered as if every line had been kept and evicted in turn.
        assert_eq!(history.first_number(), 1096);
        assert_eq!(history.rows_pushed(), 1196);
    }

    #[test]
    fn a_log_still_gets_every_line_of_doomed_output() {
        let path = std::env::temp_dir().join(format!("opmux-doomed-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = Screen::new(Size::new(5, 20));
        screen.set_scrollback(10);
        screen.open_log(&path, false).unwrap();
        let text: String = (0..500).map(|i| format!("{i}\r\n")).collect();
        screen.process_doomed(text.as_bytes());
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let expected: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        assert_eq!(logged.lines().collect::<Vec<_>>(), expected);
    }

    /// A one-row screen collecting rendered lines, as the prefixed-line front
    /// end sets one up.
    fn line_screen(cols: u16) -> Screen {
        let mut screen = Screen::new(Size::new(1, cols));
        screen.set_scrollback(0);
        screen.collect_lines(false);
        screen
    }

    #[test]
    fn collected_lines_are_the_same_however_the_output_is_cut() {
        let mut output = String::new();
        let mut expected = Vec::new();
        for i in 0..200 {
            match i % 5 {
                0 => {
                    output.push_str(&format!("plain {i}\r\n"));
                    expected.push(format!("plain {i}"));
                }
                1 => {
                    output.push_str(&format!("\x1b[3{}mcolour {i}\x1b[0m\r\n", i % 8));
                    expected.push(format!("colour {i}"));
                }
                2 => {
                    // Longer than the screen is wide: one line all the same.
                    let long = format!("{i:0>50}");
                    output.push_str(&format!("{long}\r\n\x1b[1m{long}\x1b[0m\r\n"));
                    expected.push(long.clone());
                    expected.push(long);
                }
                3 => {
                    output.push_str(&format!("10%\r50%\rdone {i}\r\n"));
                    expected.push(format!("done {i}"));
                }
                _ => {
                    output.push_str(&format!("tab\t{i}\r\n"));
                    expected.push(format!("tab     {i}"));
                }
            }
        }
        for cut in [1, 7, 64, 4096, output.len()] {
            let mut screen = line_screen(20);
            let mut lines = Vec::new();
            for piece in output.as_bytes().chunks(cut) {
                screen.process(piece);
                lines.extend(screen.take_lines());
            }
            assert_eq!(lines, expected, "cut every {cut} bytes");
            assert_eq!(screen.unfinished_line(), "");
        }
    }

    #[test]
    fn an_unfinished_line_is_what_is_written_of_it_so_far() {
        let mut screen = line_screen(10);
        screen.process(b"done\r\nprogress 12345678");
        assert_eq!(screen.take_lines(), ["done"]);
        assert_eq!(screen.unfinished_line(), "progress 12345678");
        screen.process(b"9\r\n");
        assert_eq!(screen.take_lines(), ["progress 123456789"]);
    }

    #[test]
    fn plain_lines_reach_the_log_on_the_fast_path_too() {
        let path = std::env::temp_dir().join(format!("opmux-fast-log-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = line_screen(20);
        screen.open_log(&path, false).unwrap();
        let text: String = (0..1000).map(|i| format!("{i}\r\n")).collect();
        screen.process(b"\x1b[1mfirst\x1b[0m\r\n");
        screen.process(text.as_bytes());
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut expected = vec!["first".to_string()];
        expected.extend((0..1000).map(|i| i.to_string()));
        assert_eq!(logged.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_sequence_or_character_cut_by_a_read_is_not_taken_for_plain_text() {
        let mut screen = line_screen(20);
        screen.process(b"ok\r\n\x1b");
        screen.process(b"[1m[INFO] x\r\n");
        screen.process("done\r\n\u{2502}".as_bytes().split_last().unwrap().1);
        screen.process(b"\x82 row\r\n");
        assert_eq!(
            screen.take_lines(),
            ["ok", "[INFO] x", "done", "\u{2502} row"]
        );
    }

    #[test]
    fn a_ready_line_longer_than_a_one_row_screen_is_still_found() {
        let ready = regex::Regex::new("server listening on 8080").unwrap();
        let mut screen = line_screen(20);
        screen.watch_scrolled_lines();
        screen.process(b"{\"level\":\"info\",\"msg\":\"server listening on 8080\"}\r\nnext\r\n");
        assert!(found(&mut screen, &ready));
    }

    /// Every line the pane kept, the history's and then the screen's, as
    /// plain text.
    fn all_lines(screen: &Screen) -> Vec<String> {
        let mut lines: Vec<String> = screen.history().iter().map(|l| l.text().into()).collect();
        lines.extend(screen.screen_lines());
        lines
    }

    fn numbered(from: usize, to: usize) -> String {
        (from..=to).map(|i| format!("line {i}\r\n")).collect()
    }

    #[test]
    fn numbered_lines_survive_a_shrink_to_8x20_and_back() {
        let mut screen = Screen::new(Size::new(24, 80));
        screen.process(numbered(1, 30).as_bytes());
        let contents = screen.vt().contents();
        let lines = all_lines(&screen);
        let cursor = screen.vt().cursor_position();
        screen.resize(Size::new(8, 20));
        assert_eq!(all_lines(&screen), lines);
        assert_eq!(screen.vt().cursor_position(), (7, 0));
        screen.resize(Size::new(24, 80));
        assert_eq!(screen.vt().contents(), contents);
        assert_eq!(all_lines(&screen), lines);
        assert_eq!(screen.vt().cursor_position(), cursor);
        // And through a one-by-one terminal, which the parser sees as 1x2.
        screen.resize(Size::new(1, 1));
        screen.resize(Size::new(24, 80));
        assert_eq!(screen.vt().contents(), contents);
        assert_eq!(all_lines(&screen), lines);
    }

    #[test]
    fn a_line_printed_on_one_row_comes_back_whole() {
        let mut screen = Screen::new(Size::new(1, 1));
        screen.process(b"first line\r\nsecond\r\n");
        screen.resize(Size::new(24, 80));
        assert_eq!(screen.vt().contents(), "first line\nsecond");
    }

    #[test]
    fn a_string_cut_by_a_resize_is_not_printed() {
        let mut screen = Screen::new(Size::new(4, 20));
        // An OSC (a title), and an overlong CSI, each cut by a resize.
        for (start, end) in [
            (&b"one\r\n\x1b]2;tit"[..], &b"le\x07two"[..]),
            (b"one\r\n\x1b[", b"1;2;3;4;5m two"),
        ] {
            let mut start = start.to_vec();
            if start.ends_with(b"[") {
                start.extend(std::iter::repeat_n(b'1', 300));
            }
            screen.process(b"\x1bc");
            screen.process(&start);
            screen.resize(Size::new(6, 30));
            screen.process(end);
            let text = screen.vt().contents();
            assert!(
                text.starts_with("one\ntwo") || text.starts_with("one\n two"),
                "{text:?}"
            );
        }
    }

    /// The text of each row of the screen.
    fn row_texts(screen: &Screen) -> Vec<String> {
        let vt = screen.vt();
        vt.rows(0, vt.size().1.get()).collect()
    }

    #[test]
    fn a_soft_wrapped_line_rewraps_and_hard_breaks_stay() {
        let long: String = ('a'..='z').chain('A'..='X').collect();
        let mut screen = Screen::new(Size::new(10, 20));
        screen.process(format!("short\r\n{long}\r\n0123456789\r\nx").as_bytes());
        let before = row_texts(&screen);
        screen.resize(Size::new(10, 10));
        assert_eq!(
            row_texts(&screen)[..8],
            [
                "short",
                "abcdefghij",
                "klmnopqrst",
                "uvwxyzABCD",
                "EFGHIJKLMN",
                "OPQRSTUVWX",
                "0123456789",
                "x"
            ]
        );
        screen.resize(Size::new(10, 60));
        assert_eq!(
            row_texts(&screen)[..4],
            ["short", long.as_str(), "0123456789", "x"]
        );
        screen.resize(Size::new(10, 7));
        screen.resize(Size::new(10, 20));
        assert_eq!(row_texts(&screen), before);
        assert_eq!(screen.vt().cursor_position(), (5, 1));
        screen.process(b"y");
        assert_eq!(screen.screen_lines()[3], "xy");
    }

    #[test]
    fn styles_survive_a_rewrap() {
        let mut screen = Screen::new(Size::new(5, 20));
        screen.process(b"plain \x1b[31;1mred bold\x1b[m \x1b[44m  \x1b[m end\r\n");
        let cells = |screen: &Screen| {
            let vt = screen.vt();
            let (_, cols) = vt.size();
            (0..vt.size().0.get())
                .flat_map(|r| (0..cols.get()).map(move |c| (r, c)))
                .filter_map(|(r, c)| vt.cell(r, c))
                .filter(|c| c.has_contents())
                .map(Pen::of_cell)
                .collect::<Vec<_>>()
        };
        let before = cells(&screen);
        screen.resize(Size::new(10, 4));
        assert_eq!(cells(&screen), before);
        // Its first rows go into the history, and come back from it.
        screen.resize(Size::new(5, 4));
        screen.resize(Size::new(5, 20));
        assert_eq!(cells(&screen), before);
        assert_eq!(screen.screen_lines(), ["plain red bold    end"]);
        assert_eq!(
            screen.vt().cell(0, 15).unwrap().bgcolor(),
            vt100::Color::Idx(4)
        );
        // Cells erased in a colour, between two characters, keep it.
        screen.process(b"a\x1b[44m\x1b[3X\x1b[m\x1b[3Cb\r\n");
        screen.resize(Size::new(5, 3));
        screen.resize(Size::new(5, 20));
        assert_eq!(screen.screen_lines()[1], "a   b");
        // The first line takes two rows.
        assert_eq!(
            screen.vt().cell(2, 2).unwrap().bgcolor(),
            vt100::Color::Idx(4)
        );
    }

    #[test]
    fn the_cursor_stays_on_its_character() {
        let mut screen = Screen::new(Size::new(5, 20));
        screen.process(b"$ hello world\r\x1b[8C");
        let on = |screen: &Screen| {
            let (row, col) = screen.vt().cursor_position();
            screen.vt().cell(row, col).unwrap().contents().to_string()
        };
        assert_eq!(on(&screen), "w");
        for cols in [4, 9, 13, 3, 40, 20] {
            screen.resize(Size::new(5, cols));
            assert_eq!(on(&screen), "w", "at {cols} columns");
        }
        screen.process(b"W");
        screen.resize(Size::new(5, 6));
        screen.resize(Size::new(5, 30));
        assert_eq!(screen.screen_lines(), ["$ hello World"]);
        // With lines below it, those go first (as in tmux), then the
        // cursor's line moves up.
        let mut screen = Screen::new(Size::new(10, 20));
        let text: Vec<String> = (0..10).map(|i| format!("l{i}")).collect();
        screen.process(format!("{}\x1b[8;2H", text.join("\r\n")).as_bytes());
        assert_eq!(on(&screen), "7");
        screen.resize(Size::new(5, 20));
        assert_eq!(on(&screen), "7");
        assert_eq!(screen.vt().cursor_position(), (4, 1));
        screen.resize(Size::new(10, 20));
        assert_eq!(screen.vt().cursor_position(), (7, 1));
        // At the end of a line that fills its last row, a wrap is pending.
        let mut screen = Screen::new(Size::new(5, 20));
        screen.process(b"$ 1234");
        screen.resize(Size::new(5, 3));
        screen.process(b"5");
        assert_eq!(row_texts(&screen)[..3], ["$ 1", "234", "5"]);
    }

    #[test]
    fn a_wide_character_is_never_split() {
        let mut screen = Screen::new(Size::new(5, 10));
        screen.process("ab中cd\u{6587}".as_bytes());
        screen.resize(Size::new(5, 3));
        assert_eq!(row_texts(&screen)[..3], ["ab", "中c", "d文"]);
        // The resize printed "ab" with the last column blank, and knows
        // the line goes on.
        screen.resize(Size::new(5, 10));
        assert_eq!(screen.screen_lines(), ["ab中cd文"]);
        assert_eq!(screen.vt().cursor_position(), (0, 8));
        // Through more than one such width, and into the history.
        for cols in [3, 5, 3, 7] {
            screen.resize(Size::new(5, cols));
        }
        screen.resize(Size::new(2, 3));
        screen.resize(Size::new(5, 10));
        assert_eq!(screen.screen_lines(), ["ab中cd文"]);
        // Output that may move rows forgets it: a hard break looks the same.
        screen.resize(Size::new(5, 3));
        screen.process(b"\x1b[m");
        screen.resize(Size::new(5, 10));
        assert_eq!(screen.screen_lines(), ["ab", "中cd文"]);
    }

    #[test]
    fn a_row_of_wide_characters_with_no_room_for_another_stays_a_line() {
        // Seven columns hold three wide characters and leave one blank;
        // vt100 marks no wrap there, as for a line that ended: a line split
        // in two is less harm than two lines joined.
        let mut screen = Screen::new(Size::new(4, 7));
        screen.process("中文字符中文字符\r\nnext".as_bytes());
        assert_eq!(row_texts(&screen)[..3], ["中文字", "符中文", "字符"]);
        screen.resize(Size::new(4, 30));
        assert_eq!(screen.screen_lines(), ["中文字", "符中文", "字符", "next"]);
        // Printed so by a resize, the row is known to go on.
        let mut screen = Screen::new(Size::new(4, 30));
        screen.process("中文字符中文字符\r\nnext".as_bytes());
        screen.resize(Size::new(4, 7));
        assert_eq!(row_texts(&screen)[..3], ["中文字", "符中文", "字符"]);
        screen.resize(Size::new(4, 30));
        assert_eq!(screen.screen_lines(), ["中文字符中文字符", "next"]);
    }

    #[test]
    fn saved_cursor_attributes_and_modes_survive() {
        let mut screen = Screen::new(Size::new(10, 20));
        screen.process(b"one\r\ntwo\r\n\x1b[3;5H\x1b7\x1b[H\x1b[?1h\x1b[2;4r\x1b[2H\x1b[31;1m");
        screen.resize(Size::new(6, 10));
        screen.resize(Size::new(10, 20));
        assert!(screen.vt().application_cursor());
        screen.process(b"x");
        let cell = screen.vt().cell(1, 0).unwrap();
        assert_eq!(cell.contents(), "x");
        assert_eq!(cell.fgcolor(), vt100::Color::Idx(1));
        assert!(cell.bold());
        screen.process(b"\x1b8y");
        assert_eq!(screen.vt().cursor_position(), (2, 5));
        // The scroll region reset: a line feed at the bottom scrolls all.
        screen.process(b"\x1b[m\x1b[10;1H\n");
        assert_eq!(screen.screen_lines()[0], "xwo");
    }

    #[test]
    fn the_saved_cursor_stays_on_its_character() {
        let mut screen = Screen::new(Size::new(10, 20));
        // A line that wraps, then a prompt; a full-screen program saves the
        // cursor at the prompt as it starts (1049).
        screen.process(b"0123456789abcdefghij0123\r\n$ \x1b[?1049h\x1b[Hfull screen");
        screen.resize(Size::new(10, 8));
        screen.process(b"\x1b[?1049l");
        assert_eq!(screen.vt().cursor_position(), (3, 2));
        screen.process(b"ls");
        screen.resize(Size::new(10, 20));
        assert_eq!(screen.screen_lines()[1], "$ ls");
        // Saved on a character of a wrapped line, by DECSC.
        screen.process(b"\x1b[1;15H\x1b7\x1b[2;1H");
        for cols in [6, 30, 20] {
            screen.resize(Size::new(10, cols));
        }
        screen.process(b"\x1b8");
        let (row, col) = screen.vt().cursor_position();
        assert_eq!(screen.vt().cell(row, col).unwrap().contents(), "e");
    }

    #[test]
    fn a_saved_cursor_below_the_text_pushes_no_blank_lines_into_the_history() {
        let mut screen = Screen::new(Size::new(20, 30));
        // A full-screen program started at the bottom saved the cursor
        // there (1049); after it ended, the screen was cleared.
        screen.process(numbered(1, 19).as_bytes());
        screen.process(b"$ \x1b[?1049h\x1b[Hfull\x1b[?1049l\x1b[H\x1b[2J\x1b[3J$ ");
        screen.resize(Size::new(8, 30));
        assert!(screen.history().is_empty(), "{:?}", all_lines(&screen));
        assert_eq!(screen.screen_lines(), ["$"]);
        assert_eq!(screen.vt().cursor_position(), (0, 2));
        // Restoring it stays on the screen.
        screen.process(b"\x1b8x");
        assert_eq!(screen.vt().cursor_position().0, 7);
    }

    #[test]
    fn the_main_screen_behind_the_alternate_one_keeps_its_content() {
        let mut screen = Screen::new(Size::new(24, 80));
        screen.process(numbered(1, 30).as_bytes());
        let contents = screen.vt().contents();
        screen.process(b"\x1b[?1049h\x1b[Hfull screen");
        screen.resize(Size::new(8, 20));
        assert!(screen.vt().alternate_screen());
        assert_eq!(screen.vt().contents(), "full screen");
        screen.resize(Size::new(24, 80));
        screen.process(b"\x1b[?1049l");
        assert_eq!(screen.vt().contents(), contents);
        assert_eq!(screen.vt().cursor_position(), (23, 0));
    }

    #[test]
    fn erasing_the_saved_lines_empties_the_history() {
        let mut screen = Screen::new(Size::new(4, 20));
        screen.process(numbered(1, 10).as_bytes());
        assert!(!screen.history().is_empty());
        // Cut in two by a read, as `clear` may be.
        screen.process(b"\x1b[H\x1b[2J\x1b[");
        screen.process(b"3J");
        assert!(screen.history().is_empty());
        screen.process(numbered(11, 20).as_bytes());
        assert_eq!(screen.history().len(), 7);
        screen.process(b"\x1b[?3Jafter");
        assert!(screen.history().is_empty());
        // Nothing comes back from an emptied history.
        screen.resize(Size::new(20, 20));
        assert_eq!(screen.screen_lines()[0], "line 18");
    }

    #[test]
    fn a_line_that_comes_back_and_leaves_again_is_logged_and_matched_once() {
        let path = std::env::temp_dir().join(format!("opmux-reflow-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let ready = regex::Regex::new("^ready$").unwrap();
        let long = "0123456789".repeat(5);
        let mut screen = Screen::new(Size::new(4, 20));
        screen.open_log(&path, false).unwrap();
        screen.watch_scrolled_lines();
        let mut expected = vec!["ready".to_string(), long.clone()];
        screen.process(format!("ready\r\n{long}\r\n").as_bytes());
        assert!(found(&mut screen, &ready));
        // The long line went off in part: its first row is in the history.
        screen.process(b"noise\r\n");
        expected.push("noise".into());
        for size in [(12, 20), (4, 20), (20, 20), (3, 7), (30, 40), (4, 20)] {
            screen.resize(Size::new(size.0, size.1));
        }
        screen.resize(Size::new(30, 20));
        assert_eq!(
            screen.screen_lines()[..3],
            ["ready", long.as_str(), "noise"]
        );
        // Output pushes them off again.
        for i in 0..40 {
            screen.process(format!("more {i}\r\n").as_bytes());
            expected.push(format!("more {i}"));
        }
        assert!(!found(&mut screen, &ready), "ready was matched already");
        let history: Vec<&str> = screen.history().iter().map(|l| l.text()).collect();
        assert_eq!(history, expected[..history.len()]);
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(logged.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn the_same_lines_printed_again_after_a_clear_are_logged_again() {
        let path = std::env::temp_dir().join(format!("opmux-reflow-cl-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = Screen::new(Size::new(3, 20));
        screen.open_log(&path, false).unwrap();
        screen.process(numbered(1, 4).as_bytes());
        screen.resize(Size::new(6, 20));
        assert_eq!(screen.screen_lines()[0], "line 1");
        // What `clear` sends, cut in the middle of the erase, then the same
        // lines again.
        screen.process(b"\x1b[H\x1b[2");
        screen.process(format!("J{}", numbered(1, 6)).as_bytes());
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        // Lines 3 and 4 were erased before they could scroll off.
        let expected: Vec<String> = (1..=2).chain(1..=6).map(|i| format!("line {i}")).collect();
        assert_eq!(logged.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn lines_back_from_the_history_are_not_logged_again_at_the_end() {
        let path =
            std::env::temp_dir().join(format!("opmux-reflow-end-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = Screen::new(Size::new(3, 20));
        screen.open_log(&path, false).unwrap();
        screen.process(numbered(1, 4).as_bytes());
        // Lines 1 and 2 went off, were logged, and come back.
        screen.resize(Size::new(8, 20));
        assert_eq!(
            screen.screen_lines()[..4],
            ["line 1", "line 2", "line 3", "line 4"]
        );
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let expected: Vec<String> = (1..=4).map(|i| format!("line {i}")).collect();
        assert_eq!(logged.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_log_closed_under_a_full_screen_program_ends_with_the_lines_behind_it() {
        let path = std::env::temp_dir().join(format!("opmux-alt-end-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = Screen::new(Size::new(4, 20));
        screen.open_log(&path, false).unwrap();
        screen.process(b"zero\r\none\r\ntwo\r\n$ vim\x1b[?1049h\x1b[Hfull screen\r\n~\r\n~");
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            logged.lines().collect::<Vec<_>>(),
            ["zero", "one", "two", "$ vim"]
        );
        // The program's screen is still drawn.
        assert!(screen.vt().alternate_screen());
        assert_eq!(screen.screen_lines()[0], "full screen");
    }

    #[test]
    fn a_row_that_came_back_and_was_overwritten_is_logged() {
        let path = std::env::temp_dir().join(format!("opmux-reflow-ow-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut screen = Screen::new(Size::new(2, 20));
        screen.open_log(&path, false).unwrap();
        screen.process(b"old\r\nnext\r\n");
        screen.resize(Size::new(3, 20));
        assert_eq!(screen.screen_lines(), ["old", "next"]);
        screen.process(b"\x1b[Hnew\x1b[3;1H\r\n\r\n\r\n");
        assert_eq!(screen.close_log(), None);
        let logged = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            logged.lines().collect::<Vec<_>>(),
            ["old", "new", "next", ""]
        );
    }

    #[test]
    fn the_saved_cursor_prints_nothing_when_its_line_scrolled_off() {
        let mut screen = Screen::new(Size::new(4, 10));
        screen.process(b"abcd\x1b7\r\nL1\r\nL2\r\nL3");
        screen.resize(Size::new(2, 4));
        assert_eq!(row_texts(&screen), ["L2", "L3"]);
        screen.resize(Size::new(4, 10));
        assert_eq!(screen.screen_lines(), ["abcd", "L1", "L2", "L3"]);
    }

    #[test]
    fn a_cursor_never_saved_restores_to_the_top_left_after_resizes() {
        // Lines long enough to wrap, so that rows move on every resize.
        let mut screen = Screen::new(Size::new(6, 12));
        screen.process(b"first line here\r\nsecond line that wraps\r\nthird");
        for size in [(4, 7), (6, 20), (3, 5), (6, 12)] {
            screen.resize(Size::new(size.0, size.1));
        }
        screen.process(b"\x1b8X");
        assert_eq!(screen.vt().cursor_position(), (0, 1));
        assert_eq!(screen.vt().cell(0, 0).unwrap().contents(), "X");
    }

    #[test]
    fn origin_mode_is_the_program_s_after_a_resize() {
        // Set now, off when the (never set) saved cursor was taken.
        let mut screen = Screen::new(Size::new(10, 20));
        screen.process(b"\x1b[3;8r\x1b[?6h");
        screen.resize(Size::new(10, 30));
        screen.process(b"\x1b[3;8r\x1b[1;1HX");
        assert_eq!(screen.vt().cell(2, 0).unwrap().contents(), "X");
        // Off now, set when the cursor was saved: the saved one stays set.
        let mut screen = Screen::new(Size::new(10, 20));
        screen.process(b"\x1b[3;8r\x1b[?6h\x1b7\x1b[?6l");
        screen.resize(Size::new(10, 30));
        screen.process(b"\x1b[3;8r\x1b[1;1HX");
        assert_eq!(screen.vt().cell(0, 0).unwrap().contents(), "X");
        screen.process(b"\x1b8\x1b[3;8r\x1b[1;1HY");
        assert_eq!(screen.vt().cell(2, 0).unwrap().contents(), "Y");
        // And through more than one resize, shrinking too.
        let mut screen = Screen::new(Size::new(10, 20));
        screen.process(b"\x1b[?6h");
        for (rows, cols) in [(6, 10), (2, 5), (1, 3), (8, 40)] {
            screen.resize(Size::new(rows, cols));
        }
        screen.process(b"\x1b[3;8r\x1b[1;1HX");
        assert_eq!(screen.vt().cell(2, 0).unwrap().contents(), "X");
    }

    #[test]
    fn a_hard_break_before_a_wide_character_stays() {
        let mut screen = Screen::new(Size::new(4, 4));
        screen.process("abc\r\n世x\r\n".as_bytes());
        screen.resize(Size::new(4, 10));
        assert_eq!(screen.screen_lines(), ["abc", "世x"]);
    }

    #[test]
    fn shrinking_drops_the_rows_below_the_cursor_first() {
        let mut screen = Screen::new(Size::new(6, 10));
        screen.process(b"a\r\nb\r\nc\r\nd\r\ne\r\nf\x1b[1;1H");
        screen.resize(Size::new(3, 10));
        assert_eq!(row_texts(&screen), ["a", "b", "c"]);
        assert_eq!(screen.vt().cursor_position(), (0, 0));
        assert!(screen.history().is_empty());
        screen.process(b"X");
        assert_eq!(row_texts(&screen), ["X", "b", "c"]);
        // With the cursor lower, the rows above it go to the history.
        let mut screen = Screen::new(Size::new(6, 10));
        screen.process(b"a\r\nb\r\nc\r\nd\r\ne\r\nf\x1b[5;1H");
        screen.resize(Size::new(3, 10));
        assert_eq!(row_texts(&screen), ["c", "d", "e"]);
        assert_eq!(screen.vt().cursor_position(), (2, 0));
        assert_eq!(all_lines(&screen)[..2], ["a", "b"]);
    }

    #[test]
    fn a_returned_row_is_matched_once_without_a_log() {
        let mut screen = Screen::new(Size::new(3, 10));
        screen.process(b"L1\r\nL2\r\nL3\r\nL4\r\nL5\r\nL6");
        screen.resize(Size::new(6, 10));
        // L1, L2 and L3 came back; L1 leaves again with nothing watching.
        screen.resize(Size::new(5, 10));
        let path = std::env::temp_dir().join(format!("opmux-once-{}.log", std::process::id()));
        screen.open_log(&path, false).unwrap();
        // Rows that came back leave again: they are not logged again.
        screen.resize(Size::new(4, 10));
        screen.process(b"\r\nL7");
        screen.close_log();
        let log = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(log, "L4\nL5\nL6\nL7\n");
    }

    /// Whether `seen`, lines read back from a log or a screen, are
    /// `printed` in order, each whole or split where a wide character
    /// wrapped: vt100 marks no wrap where a wide character left the last
    /// column blank, so such a line is split, never joined with another.
    fn same_lines_split_at_wide(printed: &[String], seen: &[String]) -> bool {
        let mut seen = seen.iter();
        for line in printed {
            let mut joined = String::new();
            loop {
                let Some(part) = seen.next() else {
                    return false;
                };
                let wide_first = part.chars().next().is_some_and(|c| c > '\u{ff}');
                if !joined.is_empty() && !wide_first {
                    return false;
                }
                joined.push_str(part);
                if joined == *line {
                    break;
                }
                if !line.starts_with(&joined) {
                    return false;
                }
            }
        }
        seen.next().is_none()
    }

    #[test]
    fn lines_survive_random_resizes_once_each_in_the_log() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut roll = |sides: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % sides as u64) as usize
        };
        let path =
            std::env::temp_dir().join(format!("opmux-random-resizes-{}.log", std::process::id()));
        for case in 0..400 {
            let size = |roll: &mut dyn FnMut(usize) -> usize| match roll(4) {
                0 => Size::new(1, 1 + roll(30) as u16),
                1 => Size::new(1 + roll(12) as u16, 1),
                _ => Size::new(2 + roll(14) as u16, 2 + roll(40) as u16),
            };
            let mut screen = Screen::new(size(&mut roll));
            let _ = std::fs::remove_file(&path);
            screen.open_log(&path, false).unwrap();
            let mut printed = Vec::new();
            let mut steps = Vec::new();
            for _ in 0..12 {
                // A few lines, the last maybe cut short before the resize.
                let mut chunk = String::new();
                for _ in 0..roll(5) {
                    let len = match roll(4) {
                        0 => 0,
                        1 => 20 + roll(60),
                        _ => roll(12),
                    };
                    let line: String = (0..len)
                        .map(|_| match roll(8) {
                            0 => '世',
                            1 => '界',
                            _ => char::from(b'a' + roll(26) as u8),
                        })
                        .collect();
                    chunk.push_str(&line);
                    chunk.push_str("\r\n");
                    printed.push(line);
                }
                // Cut anywhere but inside a character or a CR LF: a resize
                // between the two leaves the cursor at the start of the
                // row it was on, which is inside the line once rewrapped.
                let chars = chunk.chars().count();
                let cut = chunk
                    .char_indices()
                    .nth(roll(chars + 1))
                    .map_or(chunk.len(), |(i, _)| i);
                let cut = if chunk[..cut].ends_with('\r') {
                    cut - 1
                } else {
                    cut
                };
                let (now, later) = chunk.split_at(cut);
                screen.process(now.as_bytes());
                let to = size(&mut roll);
                steps.push((now.to_string(), to));
                screen.resize(to);
                screen.process(later.as_bytes());
                steps.push((later.to_string(), to));
            }
            screen.process(b"end\r\n");
            printed.push("end".into());
            // The history's last line goes on in the screen's first row
            // if it wrapped there.
            let mut lines: Vec<String> = screen.history().iter().map(|l| l.text().into()).collect();
            let mut on_screen = screen.screen_lines().into_iter();
            if screen.history().open_wraps()
                && let (Some(last), Some(first)) = (lines.last_mut(), on_screen.next())
            {
                last.push_str(&first);
            }
            lines.extend(on_screen);
            assert_eq!(screen.close_log(), None);
            let log = std::fs::read_to_string(&path).unwrap();
            let logged: Vec<String> = log.lines().map(str::to_string).collect();
            assert!(
                same_lines_split_at_wide(&printed, &logged),
                "case {case}: printed {printed:?}\nlogged {logged:?}\nsteps {steps:?}"
            );
            assert!(
                same_lines_split_at_wide(&printed, &lines),
                "case {case}: printed {printed:?}\nkept {lines:?}\nsteps {steps:?}"
            );
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn origin_mode_set_after_a_resize_still_counts() {
        // A program that sets origin mode after a resize, with its own
        // scroll region: homing lands on the region's first row.
        let mut screen = Screen::new(Size::new(10, 20));
        screen.process(b"one\r\ntwo\r\n");
        screen.resize(Size::new(8, 12));
        screen.process(b"\x1b[3;6r\x1b[?6h\x1b[HX");
        assert_eq!(screen.vt().cell(2, 0).unwrap().contents(), "X");
        screen.resize(Size::new(12, 30));
        screen.process(b"\x1b[4;9r\x1b[HY\x1b[?6l\x1b[HZ");
        assert_eq!(screen.vt().cell(3, 0).unwrap().contents(), "Y");
        assert_eq!(screen.vt().cell(0, 0).unwrap().contents(), "Z");
        screen.resize(Size::new(10, 20));
        screen.process(b"\x1b[4;9r\x1b[HW");
        assert_eq!(screen.vt().cell(0, 0).unwrap().contents(), "W");
    }

    #[test]
    fn a_saved_cursor_with_a_wrap_pending_goes_on_at_the_next_row() {
        let mut screen = Screen::new(Size::new(4, 10));
        screen.process(b"abcdefghij\x1b7\r\nx");
        screen.resize(Size::new(4, 5));
        assert_eq!(row_texts(&screen)[..3], ["abcde", "fghij", "x"]);
        screen.process(b"\x1b8Z");
        assert_eq!(row_texts(&screen)[..3], ["abcde", "fghij", "Z"]);
        // Its line's first row scrolled off: the next row is still there.
        screen.resize(Size::new(2, 5));
        assert_eq!(row_texts(&screen), ["fghij", "Z"]);
        screen.process(b"\x1b8Y");
        assert_eq!(row_texts(&screen), ["fghij", "Y"]);
        // On the last row, it stays on the line's last character.
        let mut screen = Screen::new(Size::new(4, 10));
        screen.process(b"x\r\nabcdefghij\x1b7");
        screen.resize(Size::new(2, 5));
        assert_eq!(row_texts(&screen), ["abcde", "fghij"]);
        screen.process(b"\x1b8Z");
        assert_eq!(row_texts(&screen), ["abcde", "fghiZ"]);
    }

    #[test]
    #[ignore = "a timing to read, not a check"]
    fn resize_cost_of_a_full_200x60_screen() {
        let mut screen = Screen::new(Size::new(60, 200));
        let row: String = ('a'..='z').cycle().take(199).collect();
        for i in 0..2000 {
            screen.process(format!("\x1b[3{}m{i:05} {row}\x1b[m\r\n", i % 8).as_bytes());
        }
        let start = std::time::Instant::now();
        let n = 100;
        for i in 0..n {
            let size = if i % 2 == 0 {
                Size::new(50, 150)
            } else {
                Size::new(60, 200)
            };
            screen.resize(size);
        }
        eprintln!("{:?} per resize", start.elapsed() / n);
    }
}
