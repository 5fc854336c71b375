//! The last lines a pane rendered, kept where nothing else keeps them: the
//! prefixed-line front end gives each pane a one-row screen with no history
//! (a flood then costs no more than printing it), so the lines it prints
//! are kept here once printed, numbered, for `opmux screen`, `logs` and
//! `wait match:`. Taking a printed line costs no copy.

use std::collections::VecDeque;

/// The last rendered lines of a pane, numbered from its first.
#[derive(Debug, Default)]
pub struct Recent {
    lines: VecDeque<String>,
    /// The number of the first line kept.
    first: u64,
    /// The most lines kept.
    limit: usize,
}

impl Recent {
    pub fn new(limit: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(limit.min(64)),
            first: 0,
            limit,
        }
    }

    /// Keeps `line`, the pane's next finished line, dropping the oldest
    /// past the limit.
    pub fn push(&mut self, line: String) {
        if self.limit == 0 {
            self.first += 1;
            return;
        }
        if self.lines.len() == self.limit {
            self.lines.pop_front();
            self.first += 1;
        }
        self.lines.push_back(line);
    }

    /// The number of the first line kept.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The number the next line will have.
    pub fn end(&self) -> u64 {
        self.first + self.lines.len() as u64
    }

    /// The lines from number `from` on, at most `max`: the lines, the
    /// number of the next, and how many before them were dropped unread
    /// (as `Screen::finished_lines` counts them).
    pub fn from(&self, from: u64, max: usize) -> (Vec<String>, u64, u64) {
        let missed = self.first.saturating_sub(from);
        let start = from.max(self.first);
        let lines: Vec<String> = self
            .lines
            .iter()
            .skip((start - self.first) as usize)
            .take(max)
            .cloned()
            .collect();
        let next = start + lines.len() as u64;
        (lines, next, missed)
    }

    /// The last `n` lines kept, oldest first.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .skip(self.lines.len().saturating_sub(n))
            .map(String::as_str)
    }
}

/// The text of a line as a program wrote it (`--raw`): escape sequences
/// (CSI, OSC, DCS and the like, and two-byte ones) and other control
/// characters left out, and what a carriage return went back over
/// dropped, as a terminal would have overwritten it.
pub fn plain(raw: &str) -> String {
    let raw = raw.rsplit('\r').find(|part| !part.is_empty()).unwrap_or("");
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                // Strings, up to BEL or ST (ESC \\).
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                // Intermediates, then a final byte (ESC ( B); or a final
                // byte alone (ESC =).
                Some(' '..='/') => {
                    while chars.next_if(|c| (' '..='/').contains(c)).is_some() {}
                    chars.next();
                }
                _ => {}
            },
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_line_loses_its_escapes_and_what_a_carriage_return_overwrote() {
        assert_eq!(plain("\x1b[32mready\x1b[0m now"), "ready now");
        assert_eq!(plain("\x1b]0;title\x07text\x1b]8;;u\x1b\\link"), "textlink");
        assert_eq!(plain("50%\r100%\r"), "100%");
        assert_eq!(plain("a\x1b(Bb\x1b=c\x08\u{9b}d"), "abcd");
        assert_eq!(plain("\x1b[1"), "");
    }

    #[test]
    fn lines_are_numbered_and_the_oldest_dropped_and_counted() {
        let mut recent = Recent::new(3);
        for n in 0..5 {
            recent.push(format!("line {n}"));
        }
        assert_eq!((recent.first(), recent.end()), (2, 5));
        let (lines, next, missed) = recent.from(0, usize::MAX);
        assert_eq!(lines, ["line 2", "line 3", "line 4"]);
        assert_eq!((next, missed), (5, 2));
        let (lines, next, missed) = recent.from(3, 1);
        assert_eq!((lines, next, missed), (vec!["line 3".to_string()], 4, 0));
        assert_eq!(recent.from(5, 10), (Vec::new(), 5, 0));
        assert_eq!(recent.last(2).collect::<Vec<_>>(), ["line 3", "line 4"]);
        assert_eq!(recent.last(9).count(), 3);
    }

    #[test]
    fn a_limit_of_nothing_keeps_nothing_but_counts() {
        let mut recent = Recent::new(0);
        recent.push("a".into());
        assert_eq!(recent.from(0, 9), (Vec::new(), 1, 1));
    }
}
