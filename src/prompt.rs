//! A one-line editor with history, for the prompts opmux shows on its status
//! line: a command line to run as a new pane (`C-b c`), a pane's new name
//! (`C-b ,`) and a search in scroll mode (`/` and `?`). Pure, with no I/O.
//!
//! It owns the text being edited, the cursor, the editing keys (readline-like)
//! and browsing a [`History`] with Up and Down. Left to the caller: drawing the
//! label and text and placing the terminal cursor (from
//! [`Prompt::cursor_column`]), what a submitted line does, and keeping one
//! history per kind of prompt for as long as opmux runs.
//!
//! The cursor moves by `char`, never inside one; a base letter and a combining
//! mark after it are two steps, as in most line editors without grapheme
//! segmentation.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::buffer::CellWidth;
use ratatui::style::Style;
use ratatui::text::Span;

/// How many lines a [`History`] keeps; pushing more drops the oldest.
pub const HISTORY_CAP: usize = 100;

/// Lines submitted earlier, newest last, at most [`HISTORY_CAP`] of them.
/// A line equal to the newest one is not added again, and blank lines are not
/// kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    entries: Vec<String>,
}

impl History {
    /// Adds `line` as the newest entry, unless it is blank or equal to the
    /// newest entry, dropping the oldest entry when the history is full.
    pub fn push(&mut self, line: &str) {
        if line.trim().is_empty() || self.entries.last().is_some_and(|last| last == line) {
            return;
        }
        if self.entries.len() >= HISTORY_CAP {
            let excess = self.entries.len() + 1 - HISTORY_CAP;
            self.entries.drain(..excess);
        }
        self.entries.push(line.to_owned());
    }

    /// The entries, oldest first and newest last.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }
}

/// What a key left the prompt in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The prompt is still open.
    Editing,
    /// Enter was pressed; this is the text. It has already been pushed to the
    /// history passed to [`Prompt::handle`] (unless blank).
    Submit(String),
    /// Esc, Ctrl-c or Ctrl-g was pressed; the prompt should close and nothing
    /// should happen.
    Cancel,
}

/// A one-line editor: a label, the text being typed and a cursor in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    label: String,
    text: String,
    /// A byte index into `text`, always on a char boundary.
    cursor: usize,
    /// Set while Up and Down show history entries instead of the typed line.
    browsing: Option<Browsing>,
}

/// Where history browsing stands, and the line it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Browsing {
    /// The index in [`History::entries`] of the entry shown.
    index: usize,
    /// What was typed before Up was first pressed, restored by Down past the
    /// newest entry.
    draft: String,
}

impl Prompt {
    /// Creates a prompt showing `label` with `initial` already typed (cleaned
    /// as [`Prompt::insert_str`] cleans pastes) and the cursor at its end.
    pub fn new(label: impl Into<String>, initial: &str) -> Self {
        let mut prompt = Self {
            label: label.into(),
            text: String::new(),
            cursor: 0,
            browsing: None,
        };
        prompt.insert_str(initial);
        prompt
    }

    /// The label shown before the text, such as `run:`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The text typed so far; it never holds control characters.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The number of terminal columns the text before the cursor takes, so the
    /// caller can place the cursor after the label.
    ///
    /// It is measured as ratatui measures it when drawing a span, grapheme by
    /// grapheme with [`CellWidth`] (wide characters such as 漢 count two,
    /// combining marks none), so the cursor lands where the text was drawn.
    pub fn cursor_column(&self) -> usize {
        Span::raw(&self.text[..self.cursor])
            .styled_graphemes(Style::default())
            .map(|grapheme| usize::from(grapheme.symbol.cell_width()))
            .sum()
    }

    /// Applies one key and says whether the prompt is still open.
    ///
    /// Keys (release events are ignored):
    /// - printable characters insert themselves;
    /// - Left, Right, Home, End, Ctrl-a and Ctrl-e move the cursor;
    ///   Ctrl-Left, Ctrl-Right, Alt-Left, Alt-Right, Alt-b and Alt-f move it by
    ///   word (letters, digits and `_`);
    /// - Backspace and Ctrl-h delete the character before the cursor, Delete
    ///   the one under it;
    /// - Ctrl-w deletes the whitespace-separated word before the cursor,
    ///   Alt-Backspace the alphanumeric word before it and Alt-d the one after;
    /// - Ctrl-k deletes to the end, Ctrl-u to the start;
    /// - Up and Ctrl-p show the previous history entry, Down and Ctrl-n the
    ///   next; Down past the newest entry restores what had been typed;
    /// - Enter submits the text and pushes it to `history`;
    /// - Esc, Ctrl-c and Ctrl-g cancel.
    pub fn handle(&mut self, key: KeyEvent, history: &mut History) -> Outcome {
        if key.kind == KeyEventKind::Release {
            return Outcome::Editing;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key
            .modifiers
            .intersects(KeyModifiers::ALT | KeyModifiers::META);
        match key.code {
            KeyCode::Enter => {
                history.push(&self.text);
                self.browsing = None;
                return Outcome::Submit(self.text.clone());
            }
            KeyCode::Esc => return Outcome::Cancel,
            KeyCode::Char('c' | 'g') if ctrl => return Outcome::Cancel,
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = self.text.len(),
            KeyCode::Char('h') if ctrl => self.delete(self.prev_char(), self.cursor),
            KeyCode::Char('k') if ctrl => self.delete(self.cursor, self.text.len()),
            KeyCode::Char('u') if ctrl => self.delete(0, self.cursor),
            KeyCode::Char('w') if ctrl => self.delete(self.blank_word_start(), self.cursor),
            KeyCode::Char('p') if ctrl => self.history_back(history),
            KeyCode::Char('n') if ctrl => self.history_forward(history),
            KeyCode::Char('b') if alt && !ctrl => self.cursor = self.word_start(),
            KeyCode::Char('f') if alt && !ctrl => self.cursor = self.word_end(),
            KeyCode::Char('d') if alt && !ctrl => self.delete(self.cursor, self.word_end()),
            KeyCode::Char(c) if !ctrl && !alt => self.insert_char(c),
            KeyCode::Left if ctrl || alt => self.cursor = self.word_start(),
            KeyCode::Right if ctrl || alt => self.cursor = self.word_end(),
            KeyCode::Left => self.cursor = self.prev_char(),
            KeyCode::Right => self.cursor = self.next_char(),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = self.text.len(),
            KeyCode::Backspace if alt || ctrl => self.delete(self.word_start(), self.cursor),
            KeyCode::Backspace => self.delete(self.prev_char(), self.cursor),
            KeyCode::Delete => self.delete(self.cursor, self.next_char()),
            KeyCode::Up => self.history_back(history),
            KeyCode::Down => self.history_forward(history),
            _ => {}
        }
        Outcome::Editing
    }

    /// Inserts pasted `text` at the cursor and moves the cursor past it.
    /// Line breaks (`\n`, `\r\n`, `\r` and Unicode's line and paragraph
    /// separators) and tabs become one space each; other control characters
    /// are dropped, since the text is a single line drawn on the screen.
    pub fn insert_str(&mut self, text: &str) {
        let mut clean = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' | '\r' | '\t' | '\u{85}' | '\u{2028}' | '\u{2029}' => clean.push(' '),
                c if c.is_control() => {}
                c => clean.push(c),
            }
        }
        self.text.insert_str(self.cursor, &clean);
        self.cursor += clean.len();
    }

    /// Inserts one typed character at the cursor, unless it is a control
    /// character.
    fn insert_char(&mut self, c: char) {
        if !c.is_control() {
            self.text.insert(self.cursor, c);
            self.cursor += c.len_utf8();
        }
    }

    /// Removes the bytes `start..end` (both on char boundaries, `start` not
    /// after the cursor) and puts the cursor at `start`.
    fn delete(&mut self, start: usize, end: usize) {
        self.text.replace_range(start..end, "");
        self.cursor = start;
    }

    /// The boundary of the char before the cursor, or the cursor at the start.
    fn prev_char(&self) -> usize {
        self.text[..self.cursor]
            .char_indices()
            .next_back()
            .map_or(self.cursor, |(i, _)| i)
    }

    /// The boundary after the char under the cursor, or the cursor at the end.
    fn next_char(&self) -> usize {
        self.text[self.cursor..]
            .chars()
            .next()
            .map_or(self.cursor, |c| self.cursor + c.len_utf8())
    }

    /// Where a backward word move from the cursor stops: past any non-word
    /// characters, then to the start of the word before them.
    fn word_start(&self) -> usize {
        self.back_while(self.back_while(self.cursor, |c| !is_word(c)), is_word)
    }

    /// Where Ctrl-w deletes back to: past any whitespace before the cursor,
    /// then to the start of the run of other characters before it.
    fn blank_word_start(&self) -> usize {
        let end = self.back_while(self.cursor, char::is_whitespace);
        self.back_while(end, |c| !c.is_whitespace())
    }

    /// Where a forward word move from the cursor stops: past any non-word
    /// characters, then to the end of the word after them.
    fn word_end(&self) -> usize {
        self.forward_while(self.forward_while(self.cursor, |c| !is_word(c)), is_word)
    }

    /// The smallest boundary at or before `from` such that every char between
    /// it and `from` satisfies `pred`.
    fn back_while(&self, from: usize, pred: impl Fn(char) -> bool) -> usize {
        let mut pos = from;
        for (i, c) in self.text[..from].char_indices().rev() {
            if !pred(c) {
                break;
            }
            pos = i;
        }
        pos
    }

    /// The largest boundary at or after `from` such that every char between
    /// `from` and it satisfies `pred`.
    fn forward_while(&self, from: usize, pred: impl Fn(char) -> bool) -> usize {
        let mut pos = from;
        for c in self.text[from..].chars() {
            if !pred(c) {
                break;
            }
            pos += c.len_utf8();
        }
        pos
    }

    /// Shows the entry before the one shown, starting from the newest and
    /// saving the typed line first; stays on the oldest.
    fn history_back(&mut self, history: &History) {
        let entries = history.entries();
        let Some(newest) = entries.len().checked_sub(1) else {
            return;
        };
        let index = match &mut self.browsing {
            None => {
                self.browsing = Some(Browsing {
                    index: newest,
                    draft: self.text.clone(),
                });
                newest
            }
            Some(browsing) => {
                // The history may have shrunk since the last key; clamp.
                browsing.index = browsing.index.min(entries.len()).saturating_sub(1);
                browsing.index
            }
        };
        self.replace_text(entries[index].clone());
    }

    /// Shows the entry after the one shown, or the saved typed line after the
    /// newest entry; does nothing unless browsing.
    fn history_forward(&mut self, history: &History) {
        let entries = history.entries();
        let Some(browsing) = &mut self.browsing else {
            return;
        };
        if browsing.index + 1 < entries.len() {
            browsing.index += 1;
            let entry = entries[browsing.index].clone();
            self.replace_text(entry);
        } else {
            let draft = std::mem::take(&mut browsing.draft);
            self.browsing = None;
            self.replace_text(draft);
        }
    }

    /// Replaces the whole text and puts the cursor at its end.
    fn replace_text(&mut self, text: String) {
        self.text = text;
        self.cursor = self.text.len();
    }
}

/// Whether `c` belongs to a word for word moves: letters, digits and `_`.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: KeyModifiers = KeyModifiers::NONE;
    const CTRL: KeyModifiers = KeyModifiers::CONTROL;
    const ALT: KeyModifiers = KeyModifiers::ALT;
    const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    /// A prompt holding `marked` with the cursor at its `|`.
    fn at(marked: &str) -> Prompt {
        let cursor = marked.find('|').expect("a | marks the cursor");
        let mut prompt = Prompt::new("run:", &marked.replace('|', ""));
        prompt.cursor = cursor;
        prompt
    }

    /// The prompt's text with a `|` at the cursor.
    fn marked(prompt: &Prompt) -> String {
        let mut text = prompt.text().to_owned();
        text.insert(prompt.cursor, '|');
        text
    }

    #[test]
    fn new_puts_the_cursor_at_the_end() {
        let prompt = Prompt::new("name:", "web 漢字");
        assert_eq!(prompt.label(), "name:");
        assert_eq!(prompt.text(), "web 漢字");
        assert_eq!(marked(&prompt), "web 漢字|");
        assert_eq!(prompt.cursor_column(), 8);
    }

    #[test]
    fn editing_keys_change_text_and_cursor() {
        use KeyCode::*;
        let cases: &[(&str, KeyCode, KeyModifiers, &str)] = &[
            // Typing, ASCII and multibyte, anywhere in the line.
            ("|", Char('a'), NONE, "a|"),
            ("ab|", Char('C'), SHIFT, "abC|"),
            ("a|b", Char('é'), NONE, "aé|b"),
            ("漢|", Char('字'), NONE, "漢字|"),
            ("a|b", Char('x'), CTRL, "a|b"),
            ("a|b", Char('\u{7}'), NONE, "a|b"),
            ("a|b", Tab, NONE, "a|b"),
            // Moving by character.
            ("ab|", Left, NONE, "a|b"),
            ("|ab", Left, NONE, "|ab"),
            ("aé|", Left, NONE, "a|é"),
            ("a|漢字", Right, NONE, "a漢|字"),
            ("ab|", Right, NONE, "ab|"),
            ("ab|c", Home, NONE, "|abc"),
            ("ab|c", End, NONE, "abc|"),
            ("ab|c", Char('a'), CTRL, "|abc"),
            ("ab|c", Char('e'), CTRL, "abc|"),
            // Moving by word.
            ("foo bar|", Char('b'), ALT, "foo |bar"),
            ("foo bar|", Left, CTRL, "foo |bar"),
            ("foo bar|", Left, ALT, "foo |bar"),
            ("foo |bar", Char('b'), ALT, "|foo bar"),
            ("foo-bar  |", Left, CTRL, "foo-|bar  "),
            ("  |", Left, CTRL, "|  "),
            ("|foo bar", Char('f'), ALT, "foo| bar"),
            ("foo| bar", Right, CTRL, "foo bar|"),
            ("foo| bar", Right, ALT, "foo bar|"),
            ("|été 漢字", Right, CTRL, "été| 漢字"),
            ("été| 漢字", Char('f'), ALT, "été 漢字|"),
            // Deleting a character.
            ("ab|c", Backspace, NONE, "a|c"),
            ("|abc", Backspace, NONE, "|abc"),
            ("漢字|", Backspace, NONE, "漢|"),
            ("aé|b", Char('h'), CTRL, "a|b"),
            ("a|éb", Delete, NONE, "a|b"),
            ("ab|", Delete, NONE, "ab|"),
            // Deleting words and to either end.
            ("ab|cd", Char('k'), CTRL, "ab|"),
            ("ab|cd", Char('u'), CTRL, "|cd"),
            ("漢|字", Char('k'), CTRL, "漢|"),
            ("漢|字", Char('u'), CTRL, "|字"),
            ("ls -l src/main.rs|", Char('w'), CTRL, "ls -l |"),
            ("ls -l  |x", Char('w'), CTRL, "ls |x"),
            ("|ls", Char('w'), CTRL, "|ls"),
            ("echo été|", Char('w'), CTRL, "echo |"),
            ("src/main.rs|", Backspace, ALT, "src/main.|"),
            ("src/main.rs|", Backspace, CTRL, "src/main.|"),
            ("a |foo bar", Char('d'), ALT, "a | bar"),
        ];
        for &(before, code, mods, after) in cases {
            let mut prompt = at(before);
            let outcome = prompt.handle(key(code, mods), &mut History::default());
            assert_eq!(outcome, Outcome::Editing, "{before:?} {code:?} {mods:?}");
            assert_eq!(marked(&prompt), after, "{before:?} {code:?} {mods:?}");
        }
    }

    #[test]
    fn release_events_are_ignored() {
        let mut prompt = at("a|");
        let mut release = key(KeyCode::Char('b'), NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(
            prompt.handle(release, &mut History::default()),
            Outcome::Editing
        );
        assert_eq!(marked(&prompt), "a|");
        let mut repeat = key(KeyCode::Char('b'), NONE);
        repeat.kind = KeyEventKind::Repeat;
        prompt.handle(repeat, &mut History::default());
        assert_eq!(marked(&prompt), "ab|");
    }

    #[test]
    fn enter_submits_and_records_cancel_keys_do_not() {
        let mut history = History::default();
        let mut prompt = at("make| test");
        assert_eq!(
            prompt.handle(key(KeyCode::Enter, NONE), &mut history),
            Outcome::Submit("make test".into())
        );
        assert_eq!(history.entries(), ["make test"]);

        let mut prompt = at("|");
        assert_eq!(
            prompt.handle(key(KeyCode::Enter, NONE), &mut history),
            Outcome::Submit(String::new())
        );
        assert_eq!(history.entries(), ["make test"]);

        for (code, mods) in [
            (KeyCode::Esc, NONE),
            (KeyCode::Char('c'), CTRL),
            (KeyCode::Char('g'), CTRL),
        ] {
            let mut prompt = at("rm -rf|");
            assert_eq!(
                prompt.handle(key(code, mods), &mut history),
                Outcome::Cancel,
                "{code:?}"
            );
        }
        assert_eq!(history.entries(), ["make test"]);
    }

    #[test]
    fn history_browsing_restores_the_draft() {
        let mut history = History::default();
        for line in ["one", "two", "three"] {
            history.push(line);
        }
        let mut prompt = at("dra|ft");
        let mut press = |prompt: &mut Prompt, code: KeyCode, mods: KeyModifiers| {
            prompt.handle(key(code, mods), &mut history);
            marked(prompt)
        };
        use KeyCode::{Char, Down, Up};
        // (key, modifiers, text with cursor afterwards)
        let steps: &[(KeyCode, KeyModifiers, &str)] = &[
            (Up, NONE, "three|"),
            (Up, NONE, "two|"),
            (Char('p'), CTRL, "one|"),
            (Up, NONE, "one|"),
            (Down, NONE, "two|"),
            (Char('n'), CTRL, "three|"),
            (Down, NONE, "draft|"),
            (Down, NONE, "draft|"),
            (Up, NONE, "three|"),
            (Char('!'), NONE, "three!|"),
            (Up, NONE, "two|"),
            (Down, NONE, "three|"),
            (Down, NONE, "draft|"),
        ];
        for (i, &(code, mods, after)) in steps.iter().enumerate() {
            assert_eq!(press(&mut prompt, code, mods), after, "step {i}: {code:?}");
        }
    }

    #[test]
    fn history_browsing_with_an_empty_history_keeps_the_text() {
        let mut history = History::default();
        let mut prompt = at("ab|c");
        prompt.handle(key(KeyCode::Up, NONE), &mut history);
        assert_eq!(marked(&prompt), "ab|c");
        prompt.handle(key(KeyCode::Down, NONE), &mut history);
        assert_eq!(marked(&prompt), "ab|c");
    }

    #[test]
    fn history_browsing_survives_a_shrunk_history() {
        let mut long = History::default();
        for line in ["a", "b", "c"] {
            long.push(line);
        }
        let mut short = History::default();
        short.push("x");
        let mut prompt = at("|");
        prompt.handle(key(KeyCode::Up, NONE), &mut long);
        assert_eq!(prompt.text(), "c");
        prompt.handle(key(KeyCode::Up, NONE), &mut short);
        assert_eq!(prompt.text(), "x");
        prompt.handle(key(KeyCode::Down, NONE), &mut short);
        assert_eq!(prompt.text(), "");
    }

    #[test]
    fn history_skips_blank_lines_and_repeats() {
        let mut history = History::default();
        for line in ["a", "", "  ", "a", "b", "a", "a", "b"] {
            history.push(line);
        }
        assert_eq!(history.entries(), ["a", "b", "a", "b"]);
    }

    #[test]
    fn history_keeps_the_newest_lines_up_to_the_cap() {
        let mut history = History::default();
        for i in 0..HISTORY_CAP + 50 {
            history.push(&format!("line {i}"));
        }
        let entries = history.entries();
        assert_eq!(entries.len(), HISTORY_CAP);
        assert_eq!(entries[0], "line 50");
        assert_eq!(
            entries[HISTORY_CAP - 1],
            format!("line {}", HISTORY_CAP + 49)
        );
    }

    #[test]
    fn insert_str_cleans_pastes() {
        let cases: &[(&str, &str, &str)] = &[
            ("a|b", "xyz", "axyz|b"),
            ("|", "one\ntwo\r\nthree\rfour", "one two three four|"),
            ("|", "a\tb", "a b|"),
            ("|", "a\x1b[31mb\x07c", "a[31mbc|"),
            ("é|", "漢字\u{2028}ok", "é漢字 ok|"),
            ("|", "\r\n", " |"),
        ];
        for &(before, paste, after) in cases {
            let mut prompt = at(before);
            prompt.insert_str(paste);
            assert_eq!(marked(&prompt), after, "{paste:?}");
        }
        assert_eq!(Prompt::new("", "a\nb").text(), "a b");
    }

    #[test]
    fn cursor_column_counts_display_width() {
        let cases: &[(&str, usize)] = &[
            ("|", 0),
            ("abc|", 3),
            ("a|bc", 1),
            ("é|t", 1),
            ("e\u{301}|", 1),
            ("漢|字", 2),
            ("漢字|", 4),
            ("a漢b|", 4),
        ];
        for &(text, column) in cases {
            assert_eq!(at(text).cursor_column(), column, "{text:?}");
        }
    }
}
