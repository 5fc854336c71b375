//! What the control verbs ask of a session: the bytes `send` types, the
//! screen `screen` shows, and when what `start`, `stop`, `restart` and
//! `kill` asked for has happened. No socket here: the server carries the
//! requests and answers.

use super::Session;
use crate::PaneId;
use crate::keys::{encode_key, encode_paste};
use crate::pane::PaneState;
use crate::pane::history::Pen;
use crate::protocol::{PaneAction, ScreenDump};

/// When a pane verb's change has happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// A run after run `.1` has started (or waits on a dependency, or
    /// could not start).
    Started(PaneId, u32),
    /// Run `.1` is over.
    Over(PaneId, u32),
}

impl Session {
    /// The pane `name` stands for, or a message saying none does.
    pub fn find_named(&self, name: &str) -> Result<PaneId, String> {
        self.find(name).ok_or_else(|| {
            let panes: Vec<String> = (self.panes.iter().enumerate())
                .map(|(i, p)| format!("{} {}", i + 1, crate::clean_text(&p.spec.name)))
                .collect();
            format!(
                "no pane is named or numbered `{}`; the panes are {}",
                crate::clean_text(name),
                panes.join(", ")
            )
        })
    }

    /// The panes `names` stand for, each once, or a message naming the
    /// first that stands for none. `@group` stands for every pane of the
    /// group, in dependency order.
    pub fn find_all(&self, names: &[String]) -> Result<Vec<PaneId>, String> {
        let mut ids = Vec::new();
        for name in names {
            let found = match name.strip_prefix('@') {
                Some(group) => self.group(group)?,
                None => vec![self.find_named(name)?],
            };
            for id in found {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// The panes of group `group`, in dependency order, or a message naming
    /// the groups there are.
    pub fn group(&self, group: &str) -> Result<Vec<PaneId>, String> {
        let members: Vec<PaneId> = (self.panes.iter())
            .filter(|p| p.spec.group.as_deref() == Some(group))
            .map(|p| p.id)
            .collect();
        if members.is_empty() {
            let mut groups: Vec<&str> = (self.panes.iter())
                .filter_map(|p| p.spec.group.as_deref())
                .collect();
            groups.sort_unstable();
            groups.dedup();
            let there = match groups.is_empty() {
                true => "no pane has a group".to_string(),
                false => format!("the groups are @{}", groups.join(", @")),
            };
            return Err(format!(
                "no pane is in group `@{}`; {there}",
                crate::clean_text(group)
            ));
        }
        Ok(self.dependency_order(&members))
    }

    /// `ids` with every pane after the panes among them it depends on,
    /// otherwise in their order.
    pub fn dependency_order(&self, ids: &[PaneId]) -> Vec<PaneId> {
        let depends = |id: PaneId, on: PaneId| {
            self.pane(id)
                .is_some_and(|p| p.spec.depends_on.iter().any(|d| PaneId(d.pane) == on))
        };
        let mut left: Vec<PaneId> = ids.to_vec();
        let mut order = Vec::with_capacity(ids.len());
        while !left.is_empty() {
            let ready = (left.iter())
                .position(|&id| !left.iter().any(|&other| other != id && depends(id, other)))
                // A cycle cannot load; whatever is left keeps its order.
                .unwrap_or(0);
            order.push(left.remove(ready));
        }
        order
    }

    /// What to wait for once `action` was asked of pane `id`, or `None`
    /// when it needs no waiting (a start of a pane that runs).
    pub fn until(&self, action: PaneAction, id: PaneId) -> Option<Until> {
        let pane = self.pane(id)?;
        match action {
            PaneAction::Start if pane.state.is_alive() => None,
            PaneAction::Start | PaneAction::Restart => Some(Until::Started(id, pane.run)),
            PaneAction::Stop | PaneAction::Kill => Some(Until::Over(id, pane.run)),
        }
    }

    /// Whether `until` holds now. A pane that is gone holds nothing back.
    pub fn holds(&self, until: Until) -> bool {
        let (Until::Started(id, _) | Until::Over(id, _)) = until;
        let Some(pane) = self.pane(id) else {
            return true;
        };
        match until {
            Until::Started(_, run) => {
                matches!(pane.state, PaneState::Waiting { .. } | PaneState::Failed(_))
                    || pane.run > run
                        && !matches!(pane.state, PaneState::Starting | PaneState::NotStarted)
            }
            Until::Over(_, run) => {
                pane.run > run
                    || !matches!(
                        pane.state,
                        PaneState::Starting
                            | PaneState::Running { .. }
                            | PaneState::Stopping { .. }
                    )
            }
        }
    }

    /// The bytes that type `text` into pane `id`: as it is; as tmux key
    /// names separated by blanks (`keys`), a word that names no key typed
    /// as it is, as tmux's `send-keys` does; or as a paste (`paste`),
    /// bracketed if the program asked for that.
    pub fn typed(&self, id: PaneId, text: &str, keys: bool, paste: bool) -> Vec<u8> {
        let Some(pane) = self.pane(id) else {
            return Vec::new();
        };
        if paste {
            return encode_paste(text, pane.published.modes().bracketed_paste);
        }
        if !keys {
            return text.as_bytes().to_vec();
        }
        let key_modes = pane.key_modes();
        let mut out = Vec::new();
        for word in text.split_whitespace() {
            match crate::keys::parse_key_name(word).and_then(|key| encode_key(key, key_modes)) {
                Some(bytes) => out.extend(bytes),
                None => out.extend_from_slice(word.as_bytes()),
            }
        }
        out
    }

    /// What pane `id` shows, with the last `history` lines of its
    /// scrollback: plain text, or with its colours and attributes as SGR
    /// (`ansi`), and nothing else a program printed.
    pub fn screen_dump(&self, id: PaneId, ansi: bool, history: usize) -> Option<ScreenDump> {
        let index = self.index_of(id)?;
        let pane = &self.panes[index];
        if pane.recent.is_some() {
            return self.recent_dump(index, history);
        }
        let screen = pane.screen();
        let vt = screen.vt();
        let (rows, cols) = vt.size();
        let (rows, cols) = (rows.get(), cols.get());
        let kept = screen.history();
        let lines: Vec<String> = kept
            .iter()
            .skip(kept.len().saturating_sub(history))
            .map(|line| {
                if !ansi {
                    return crate::clean_text(line.text());
                }
                let mut out = Vec::new();
                for (range, pen) in line.spans() {
                    pen.write_sgr(&mut out);
                    out.extend(crate::clean_text(&line.text()[range]).bytes());
                }
                finish_sgr(out)
            })
            .collect();
        let shown = (0..rows)
            .map(|row| {
                let mut out = Vec::new();
                let mut pen = Pen::default();
                let mut blanks = 0;
                for col in 0..cols {
                    let Some(cell) = vt.cell(row, col) else {
                        break;
                    };
                    if cell.is_wide_continuation() {
                        continue;
                    }
                    let here = if ansi { Pen::of_cell(cell) } else { pen };
                    if !cell.has_contents() && here.is_default() {
                        blanks += 1;
                        continue;
                    }
                    out.extend(std::iter::repeat_n(b' ', blanks));
                    blanks = 0;
                    if here != pen {
                        here.write_sgr(&mut out);
                        pen = here;
                    }
                    match cell.has_contents() {
                        true => out.extend(crate::clean_text(cell.contents()).bytes()),
                        false => out.push(b' '),
                    }
                }
                if ansi {
                    finish_sgr(out)
                } else {
                    String::from_utf8_lossy(&out).into_owned()
                }
            })
            .collect();
        let (row, col) = vt.cursor_position();
        Some(ScreenDump {
            number: index as u32 + 1,
            name: pane.spec.name.clone(),
            title: screen.title().map(crate::clean_text).unwrap_or_default(),
            size: [rows, cols],
            cursor: [row, col],
            history: lines,
            rows: shown,
        })
    }
}

impl Session {
    /// What the pane at `index` shows where its screen keeps one row and
    /// no history (the prefixed-line front end): its last rendered lines
    /// as a terminal of its PTY's size would show them, the line being
    /// written last, where the cursor is; as plain text, since only text
    /// is kept. `history` more lines come before them.
    fn recent_dump(&self, index: usize, history: usize) -> Option<ScreenDump> {
        let pane = &self.panes[index];
        let recent = pane.recent.as_ref()?;
        let screen = pane.screen();
        let size = self.pty_size.unwrap_or_else(|| screen.size());
        let above = usize::from(size.rows).saturating_sub(1);
        let kept: Vec<String> = recent
            .last(above + history)
            .map(crate::clean_text)
            .collect();
        let (earlier, shown) = kept.split_at(kept.len().saturating_sub(above));
        let mut current = crate::pane::recent::plain(&screen.unfinished_line());
        current.truncate(current.trim_end().len());
        let cursor = [shown.len() as u16, screen.vt().cursor_position().1];
        let mut rows = shown.to_vec();
        rows.push(current);
        rows.resize(usize::from(size.rows).max(rows.len()), String::new());
        Some(ScreenDump {
            number: index as u32 + 1,
            name: pane.spec.name.clone(),
            title: screen.title().map(crate::clean_text).unwrap_or_default(),
            size: [size.rows, size.cols],
            cursor,
            history: earlier.to_vec(),
            rows,
        })
    }
}

/// A line of SGR and text, its attributes reset at the end if it set any.
fn finish_sgr(mut out: Vec<u8>) -> String {
    if out.contains(&0x1b) {
        out.extend_from_slice(b"\x1b[m");
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `opmux wait` waits for.
#[derive(Clone, Debug)]
pub enum Condition {
    /// The pane's program runs.
    Running,
    /// The current run printed its `ready` line.
    Ready,
    /// The pane's run is over, or could not start, and no restart is
    /// coming.
    Exited,
    /// The pane's run exited with 0.
    Succeeded,
    /// A line the pane shows now, or any line it prints after, matches.
    Match(regex::Regex),
    /// The pane wants the user.
    Attention,
    /// It printed, then stayed quiet for its `idle_after`.
    Idle,
}

impl Condition {
    /// The conditions named by a word alone; `match:REGEX` is the other.
    pub const WORDS: [&str; 6] = [
        "running",
        "ready",
        "exited",
        "succeeded",
        "attention",
        "idle",
    ];

    /// Reads one of [`Condition::WORDS`] or `match:REGEX`.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "running" => Self::Running,
            "ready" => Self::Ready,
            "exited" => Self::Exited,
            "succeeded" => Self::Succeeded,
            "attention" => Self::Attention,
            "idle" => Self::Idle,
            _ => match text.strip_prefix("match:") {
                Some(pattern) => Self::Match(
                    regex::Regex::new(pattern)
                        .map_err(|e| format!("`{pattern}` is not a regular expression: {e}"))?,
                ),
                None => {
                    let words = Self::WORDS.join(", ");
                    return Err(format!(
                        "`{text}` is not a condition: {words} or match:REGEX"
                    ));
                }
            },
        })
    }
}

/// Where a wait stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    /// It can no longer hold: the pane ended for good without it (no
    /// restart is coming), or failed when success was waited for.
    Never,
    Pending,
}

/// One `opmux wait`: a pane, a condition, and for a match the first line
/// of the pane's history it has not looked at.
#[derive(Debug)]
pub struct Watch {
    pub pane: PaneId,
    condition: Condition,
    next_line: u64,
}

impl Watch {
    pub fn new(session: &Session, pane: PaneId, condition: Condition) -> Self {
        let next_line = session.pane(pane).map_or(0, |p| match &p.recent {
            // The lines a terminal of the PTY's size would show now.
            Some(recent) => {
                let rows = session.pty_size.map_or(1, |size| u64::from(size.rows));
                recent.end().saturating_sub(rows - 1).max(recent.first())
            }
            None => {
                let screen = p.screen();
                let history = screen.history();
                history.first_number() + history.len() as u64
            }
        });
        Self {
            pane,
            condition,
            next_line,
        }
    }

    /// Where the wait stands now. A match looks at every row on the
    /// screen and at the lines that scrolled off since it last looked.
    pub fn check(&mut self, session: &Session) -> Verdict {
        let Some(pane) = session.pane(self.pane) else {
            return Verdict::Never;
        };
        let over = matches!(pane.state, PaneState::Exited { .. } | PaneState::Failed(_));
        let holds = match &self.condition {
            Condition::Running => pane.state.is_running(),
            Condition::Attention => pane.attention.is_some(),
            Condition::Idle => pane.idle,
            // A pane with nothing to be ready by is ready once it runs.
            Condition::Ready => {
                pane.supervision.ready
                    || (pane.spec.ready.is_none()
                        && pane.spec.ready_probe.is_none()
                        && pane.state.is_running())
            }
            Condition::Exited => over,
            Condition::Succeeded => match pane.state {
                PaneState::Exited { status, .. } => {
                    if status.code() != 0 {
                        return Verdict::Never;
                    }
                    true
                }
                PaneState::Failed(_) => return Verdict::Never,
                _ => false,
            },
            Condition::Match(pattern) if pane.recent.is_some() => {
                // Lines printed, then the line still being written.
                let (lines, next, _) = pane.finished_lines(self.next_line, usize::MAX);
                self.next_line = next;
                lines.iter().any(|line| pattern.is_match(line))
                    || pattern.is_match(&crate::pane::recent::plain(
                        &pane.screen().unfinished_line(),
                    ))
            }
            Condition::Match(pattern) => {
                let screen = pane.screen();
                let history = screen.history();
                let first = history.first_number();
                let from = self.next_line.saturating_sub(first) as usize;
                let scrolled = (from..history.len())
                    .filter_map(|i| history.get(i))
                    .any(|line| pattern.is_match(line.text()));
                // The last line may be open and still grow: it is looked at
                // again next time.
                self.next_line = first + history.len().saturating_sub(1) as u64;
                let vt = screen.vt();
                let (_, cols) = vt.size();
                scrolled || vt.rows(0, cols.get()).any(|row| pattern.is_match(&row))
            }
        };
        match (holds, over) {
            (true, _) => Verdict::Holds,
            (false, true) => Verdict::Never,
            (false, false) => Verdict::Pending,
        }
    }
}
