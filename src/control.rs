//! The control verbs' side of a running session, for every front end that
//! listens on a socket (the server, and the prefixed-line front end): a
//! request becomes commands for the session, and its connection is kept
//! until it is answered: a pane verb once its change has happened, a wait
//! once its condition holds or never will, an `events` or `logs -f` reader
//! for as long as it reads, a `kill-session` once the session has stopped.
//! What the verbs read of a session is in `session::control`; this module
//! owns the connections waiting for it.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::PaneId;
use crate::config::PaneSpec;
use crate::link::Link;
use crate::protocol::{Control, EventLine, PaneAction, SessionInfo, Want, unix_seconds};
use crate::runtime::Host;
use crate::session::control::{Condition, Until, Verdict, Watch};
use crate::session::{Command, Effect, Happened, Note, Session};

/// The most messages of lines an `opmux logs -f` reader may leave unread
/// (each up to [`LINES_A_MESSAGE`] lines) before it is behind: a few
/// hundred kilobytes at most wait for it here.
const FOLLOWER_BACKLOG: usize = 4;

/// How soon a follower that was behind is looked at again.
const FOLLOW_AGAIN: Duration = Duration::from_millis(50);

/// The most lines one message of `opmux logs` carries.
const LINES_A_MESSAGE: usize = 1024;

/// The most messages an `opmux events` reader may leave unread before it
/// misses events.
const READER_BACKLOG: usize = 1024;

/// A front end whose session takes control verbs.
pub trait Controlled: Host {
    /// The connections waiting for answers, and the session, apart.
    fn parts(&mut self) -> (&mut Controls, &mut Session);

    /// Carries out a command a control verb asked for, as the front end
    /// carries out its own.
    fn carry_out(&mut self, command: Command, now: Instant) -> Vec<Effect>;
}

/// The connections of control verbs not answered yet.
#[derive(Default)]
pub struct Controls {
    /// `kill-session`s waiting to hear that the session stopped.
    stoppers: Vec<Link>,
    /// Pane verbs waiting for their change to happen, each with what it
    /// waits for.
    acting: Vec<Acting>,
    /// `opmux wait`s not answered yet, each with a watch per pane it
    /// waits for (`@group`: every pane of the group).
    waiting: Vec<(Link, Vec<Watch>)>,
    /// `opmux events` readers, each with the events it missed while it
    /// read too slowly.
    readers: Vec<(Link, u64)>,
    /// Clients attached or detached since the readers were last told.
    client_events: Vec<EventLine>,
    /// `opmux logs -f` readers.
    followers: Vec<Follower>,
    /// When the followers are looked at again, while one is behind.
    follow_again: Option<Instant>,
}

/// An `opmux logs -f` reader: each pane it follows (`@group`: several),
/// with the number of the next line it is owed.
struct Follower {
    link: Link,
    panes: Vec<(PaneId, u64)>,
    /// Lines start with their pane's name, for a group.
    named: bool,
}

/// What `opmux ls` says of a session besides its panes and clients: its
/// name, the folder and file it was started from, and when.
pub struct About {
    pub name: String,
    pub folder: PathBuf,
    pub config: Option<PathBuf>,
    pub started: SystemTime,
}

impl About {
    /// A session named `name` starting now.
    pub fn new(name: String, folder: PathBuf, config: Option<PathBuf>) -> Self {
        Self {
            name,
            folder,
            config,
            started: SystemTime::now(),
        }
    }

    /// The answer to `info`: this, with `session`'s panes, `clients`
    /// attached, last `used` then, and whether it runs without a screen.
    pub fn info(
        &self,
        session: &Session,
        clients: usize,
        used: SystemTime,
        no_tui: bool,
    ) -> SessionInfo {
        let running = session.panes.iter().filter(|p| p.state.is_alive()).count();
        SessionInfo {
            name: self.name.clone(),
            folder: self.folder.display().to_string(),
            config: self.config.as_ref().map(|c| c.display().to_string()),
            panes_running: running as u32,
            panes_total: session.panes.len() as u32,
            clients: clients as u32,
            started_unix: unix_seconds(self.started),
            pid: std::process::id(),
            used_unix: unix_seconds(used),
            no_tui,
        }
    }
}

/// A pane verb waiting for its change to happen.
struct Acting {
    link: Link,
    until: Vec<Until>,
    /// The pane whose status is the answer (`run`); else the answer is
    /// [`Control::Done`].
    report: Option<PaneId>,
}

impl Controls {
    /// After every wake-up: answers each pane verb whose change has
    /// happened and each wait whose condition holds (or never will), and
    /// tells the readers and followers what happened.
    pub fn answer(&mut self, session: &mut Session) {
        self.answer_acts(session);
        self.tell_readers(session);
        self.tell_followers(session);
    }

    /// Connection `id` went away: whatever it waited for is forgotten.
    pub fn forget(&mut self, id: u64) {
        self.acting.retain(|acting| acting.link.id != id);
        self.waiting.retain(|(link, _)| link.id != id);
        self.readers.retain(|(link, _)| link.id != id);
        self.followers.retain(|follower| follower.link.id != id);
        self.stoppers.retain(|link| link.id != id);
    }

    /// Notes that client `id` attached or detached, for the readers.
    pub fn client_event(&mut self, id: u64, event: &str) {
        if !self.readers.is_empty() {
            self.client_events.push(EventLine {
                client: Some(id),
                ..EventLine::new(event, unix_millis())
            });
        }
    }

    /// When the followers are to be looked at again, if one is behind.
    pub fn due_at(&self) -> Option<Instant> {
        self.follow_again
    }

    /// The followers' timer ran out: they are looked at after this wake.
    pub fn due(&mut self, now: Instant) {
        if self.follow_again.is_some_and(|at| at <= now) {
            self.follow_again = None;
        }
    }

    /// The session has stopped: tells every `kill-session` so, and lets go
    /// of every other connection, whose writer then ends once it has
    /// written what it has: a reader or a wait sees the connection end
    /// rather than hold the session's exit up.
    pub fn end(&mut self) {
        for stopper in std::mem::take(&mut self.stoppers) {
            stopper.control(Control::Stopped);
        }
        *self = Self::default();
    }

    /// Tells each pane verb whose change has happened that it is done, and
    /// each wait whose condition holds, or never will, so.
    fn answer_acts(&mut self, session: &Session) {
        self.acting.retain_mut(|acting| {
            acting.until.retain(|u| !session.holds(*u));
            if !acting.until.is_empty() {
                return true;
            }
            let answer = match acting.report {
                Some(id) => Control::Status {
                    panes: session.pane_status(id).into_iter().collect(),
                },
                None => Control::Done,
            };
            acting.link.control(answer);
            false
        });
        self.waiting
            .retain_mut(|(link, watches)| !answer_wait(session, link, watches));
    }

    /// Sends what happened since the last wake to every `opmux events`
    /// reader. A reader that has fallen behind misses events rather than
    /// have them pile up here, and is told how many it missed.
    fn tell_readers(&mut self, session: &mut Session) {
        if self.readers.is_empty() {
            session.noting = false;
            session.notes.clear();
            self.client_events.clear();
            return;
        }
        let time_ms = unix_millis();
        let mut lines: Vec<EventLine> = session
            .notes
            .drain(..)
            .map(|note| event_line(note, time_ms))
            .collect();
        lines.append(&mut self.client_events);
        if lines.is_empty() {
            return;
        }
        for (link, missed) in &mut self.readers {
            if link.backlog() > READER_BACKLOG {
                *missed += lines.len() as u64;
                continue;
            }
            if *missed > 0 {
                let line = EventLine {
                    missed: Some(std::mem::take(missed)),
                    ..EventLine::new("missed", time_ms)
                };
                link.control(Control::Event(Box::new(line)));
            }
            for line in &lines {
                link.control(Control::Event(Box::new(line.clone())));
            }
        }
    }

    /// Sends each `opmux logs -f` reader the lines its pane finished since
    /// it last got some. A reader that has fallen behind gets nothing
    /// until it catches up: the pane is never held back and nothing piles
    /// up here; the lines evicted meanwhile are counted and said in a
    /// marker line.
    fn tell_followers(&mut self, session: &Session) {
        let mut behind = false;
        self.followers.retain_mut(|follower| {
            let link = &follower.link;
            // A pane gone is followed no more; a reader of none is done.
            follower
                .panes
                .retain(|(pane, _)| session.pane(*pane).is_some());
            if follower.panes.is_empty() {
                link.control(Control::Done);
                return false;
            }
            for (id, next) in &mut follower.panes {
                let Some(pane) = session.pane(*id) else {
                    continue;
                };
                // As much as it has room for, a message at a time.
                loop {
                    if link.backlog() > FOLLOWER_BACKLOG {
                        behind = true;
                        return true;
                    }
                    let (mut lines, after, missed) = pane.finished_lines(*next, LINES_A_MESSAGE);
                    *next = after;
                    if missed > 0 {
                        lines.insert(0, format!("[opmux: {missed} lines missed]"));
                    }
                    if lines.is_empty() {
                        break;
                    }
                    link.control(Control::Lines {
                        lines: logged(&pane.spec.name, &lines, follower.named),
                    });
                }
            }
            true
        });
        // A reader behind is looked at again soon, output or not: a
        // timer only while one is behind.
        self.follow_again = behind.then(|| Instant::now() + FOLLOW_AGAIN);
    }
}

/// A control verb's request, answered on `link` now, or once a pane verb's
/// change has happened, a wait's condition holds or the session stopped;
/// an `events` or `logs -f` reader is kept and told as things happen.
/// `attach` and `info` are the front end's own.
pub fn request<H: Controlled>(host: &mut H, link: Link, want: Want, now: Instant) -> Vec<Effect> {
    let failed = |link: &Link, message: String| link.control(Control::Failed { message });
    match want {
        Want::Status => {
            link.control(Control::Status {
                panes: host.session().status(),
            });
            Vec::new()
        }
        Want::Stop { now: at_once } => {
            tracing::info!(at_once, "asked to stop");
            host.parts().0.stoppers.push(link);
            // With `now`, the second quit SIGKILLs at once, as a second
            // `C-b q` does.
            let quit = |escalate| Command::Quit {
                exit_code: 0,
                escalate,
            };
            let mut effects = host.carry_out(quit(false), now);
            if at_once {
                effects.extend(host.carry_out(quit(true), now));
            }
            effects
        }
        Want::Act { action, panes } => {
            let session = host.session();
            if session.shutdown.is_some() {
                failed(&link, "the session is stopping".into());
                return Vec::new();
            }
            let ids = match session.find_all(&panes) {
                Ok(ids) => ids,
                Err(message) => {
                    failed(&link, message);
                    return Vec::new();
                }
            };
            let mut effects = Vec::new();
            let mut until = Vec::new();
            for &id in &ids {
                until.extend(host.session().until(action, id));
                let command = match action {
                    PaneAction::Start => Command::Start(id),
                    PaneAction::Stop => Command::Stop(id),
                    // Several at once, together (below).
                    PaneAction::Restart => continue,
                    PaneAction::Kill => Command::Kill(id),
                };
                effects.extend(host.carry_out(command, now));
            }
            if action == PaneAction::Restart {
                effects.extend(host.carry_out(Command::RestartAll(ids), now));
            }
            host.parts().0.acting.push(Acting {
                link,
                until,
                report: None,
            });
            effects
        }
        Want::Send {
            pane,
            text,
            keys,
            paste,
        } => {
            let session = host.session();
            match session.find_named(&pane) {
                Ok(id) if !session.takes_input(id) => {
                    let name = crate::clean_text(&pane);
                    failed(&link, format!("pane {name} is not running"));
                    Vec::new()
                }
                Ok(id) => {
                    let bytes = session.typed(id, &text, keys, paste);
                    let effects = host.carry_out(Command::Write(id, bytes), now);
                    link.control(Control::Done);
                    effects
                }
                Err(message) => {
                    failed(&link, message);
                    Vec::new()
                }
            }
        }
        Want::Run { name, command } => {
            if command.is_empty() || host.session().shutdown.is_some() {
                let why = if command.is_empty() {
                    "no command to run"
                } else {
                    "the session is stopping"
                };
                failed(&link, why.into());
                return Vec::new();
            }
            let mut spec = match command.as_slice() {
                [line] => PaneSpec::shell(line),
                _ => PaneSpec::program(command),
            };
            if let Some(name) = name
                .map(|n| crate::clean_text(n.trim()))
                .filter(|n| !n.is_empty())
            {
                spec.name = name;
                spec.named = true;
            }
            spec.stop_timeout = host.session().default_stop_timeout;
            let effects = host.carry_out(Command::Add(Box::new(spec)), now);
            if let Some(id) = host.session().last_pane() {
                host.parts().0.acting.push(Acting {
                    link,
                    until: vec![Until::Started(id, 0)],
                    report: Some(id),
                });
            }
            effects
        }
        Want::Wait { pane, until } => {
            let session = host.session();
            let watches = session.find_all(&[pane]).and_then(|ids| {
                let condition = Condition::parse(&until)?;
                let watch = |id| Watch::new(session, id, condition.clone());
                Ok(ids.into_iter().map(watch).collect::<Vec<_>>())
            });
            match watches {
                Ok(mut watches) => {
                    if !answer_wait(session, &link, &mut watches) {
                        host.parts().0.waiting.push((link, watches));
                    }
                }
                Err(message) => failed(&link, message),
            }
            Vec::new()
        }
        Want::Screen {
            pane,
            ansi,
            history,
        } => {
            let session = host.session();
            let dump = session.find_named(&pane).and_then(|id| {
                let dump = session.screen_dump(id, ansi, history as usize);
                dump.ok_or_else(|| "the pane is gone".to_string())
            });
            match dump {
                Ok(dump) => link.control(Control::Screen(dump)),
                Err(message) => failed(&link, message),
            }
            Vec::new()
        }
        Want::Logs {
            pane,
            lines,
            follow,
        } => {
            let session = host.session();
            let named = pane.starts_with('@');
            let ids = match session.find_all(&[pane]) {
                Ok(ids) => ids,
                Err(message) => {
                    failed(&link, message);
                    return Vec::new();
                }
            };
            let panes: Vec<(PaneId, u64)> = (ids.iter())
                .filter_map(|&id| {
                    let pane = session.pane(id)?;
                    let from = match lines {
                        Some(n) => pane.finished_end().saturating_sub(u64::from(n)),
                        None => pane.first_line(),
                    };
                    Some((id, from))
                })
                .collect();
            if follow {
                let (controls, session) = host.parts();
                controls.followers.push(Follower { link, panes, named });
                controls.tell_followers(session);
            } else {
                for (id, from) in panes {
                    let Some(pane) = session.pane(id) else {
                        continue;
                    };
                    let (lines, _, _) = pane.finished_lines(from, usize::MAX);
                    let lines = logged(&pane.spec.name, &lines, named);
                    link.control(Control::Lines { lines });
                }
                link.control(Control::Done);
            }
            Vec::new()
        }
        Want::Events => {
            let (controls, session) = host.parts();
            session.noting = true;
            controls.readers.push((link, 0));
            Vec::new()
        }
        Want::Attach { .. } | Want::Info => Vec::new(),
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A session note as a line of `opmux events`, cleaned.
fn event_line(note: Note, time_ms: u64) -> EventLine {
    let mut line = EventLine {
        pane: Some(crate::clean_text(&note.name)),
        number: Some(note.number),
        ..EventLine::new("", time_ms)
    };
    line.event = match note.what {
        Happened::Started { pid } => {
            line.pid = Some(pid);
            "started"
        }
        Happened::Ready => "ready",
        Happened::Exited(status) => {
            line.exit_code = Some(status.code());
            if let crate::process::ExitStatus::Signaled(signal) = status {
                line.exit_signal = Some(signal.as_str().to_string());
            }
            "exited"
        }
        Happened::Restarting { delay, attempt } => {
            line.delay_ms = Some(delay.as_millis() as u64);
            line.restart = Some(attempt);
            "restarting"
        }
        Happened::GaveUp => "gave_up",
        Happened::Unhealthy(why) => {
            line.why = Some(crate::clean_text(&why));
            "unhealthy"
        }
        Happened::Attention(why) => {
            let idle = why == crate::pane::Attention::Idle;
            line.why = Some(crate::clean_text(&why.label()));
            if idle { "idle" } else { "attention" }
        }
        Happened::AttentionCleared => "attention_cleared",
        Happened::Added => "added",
        Happened::Removed => "removed",
    }
    .into();
    line
}

/// Lines of pane `name` for `opmux logs`, cleaned, and after the pane's
/// name when several panes' lines are mixed (`named`).
fn logged(name: &str, lines: &[String], named: bool) -> Vec<String> {
    let name = crate::clean_text(name);
    (lines.iter())
        .map(|line| match named {
            true => format!("{name} | {}", crate::clean_text(line)),
            false => crate::clean_text(line),
        })
        .collect()
}

/// Answers a wait on `link` once its condition has held for every pane it
/// waits for, or can no longer hold for one; returns whether it did.
fn answer_wait(session: &Session, link: &Link, watches: &mut Vec<Watch>) -> bool {
    let mut never = None;
    watches.retain_mut(|watch| match watch.check(session) {
        Verdict::Holds => false,
        Verdict::Never => {
            never.get_or_insert(watch.pane);
            true
        }
        Verdict::Pending => true,
    });
    if let Some(pane) = never {
        let name = session
            .pane(pane)
            .map_or_else(|| "the pane".into(), |p| crate::clean_text(&p.spec.name));
        link.control(Control::Never {
            reason: format!("pane {name} ended for good without it"),
        });
        return true;
    }
    if watches.is_empty() {
        link.control(Control::Done);
        return true;
    }
    false
}
