//! One pane: the program the user asked for, its PTY, and the screen it draws
//! on. `pty` runs the program; `screen` keeps its terminal state. The pane knows
//! nothing of how it is drawn.

pub mod history;
pub mod pty;
pub mod published;
pub mod recent;
mod reflow;
pub mod rewrite;
pub mod screen;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::time::{Duration, Instant};

use nix::unistd::Pid;
use parking_lot::{Mutex, MutexGuard};

use crate::config::PaneSpec;
use crate::process::ExitStatus;
use crate::{PaneId, Size};
use pty::Pty;
use published::Published;
use screen::Screen;

/// Where a pane's program is in its life. A run is over only when its main
/// process has been reaped and none of the pane's processes is left, so
/// "exited" in a title means nothing of that run is still running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaneState {
    /// Not started yet.
    NotStarted,
    /// Asked to start; the runtime has not reported the program running yet.
    Starting,
    Running {
        pid: Pid,
        since: Instant,
    },
    /// The stop signal went out; whatever is left gets SIGKILL at `deadline`.
    /// A run whose main process exited on its own while other processes of
    /// the pane were still alive passes through here too, to stop those.
    Stopping {
        pid: Pid,
        since: Instant,
        deadline: Instant,
        /// SIGKILL has been sent.
        killed: bool,
        /// The main process's status, once it has been reaped.
        exit: Option<ExitStatus>,
        /// Start a new run once this one is over.
        restart: bool,
    },
    Exited {
        status: ExitStatus,
        ran: Duration,
    },
    /// The program could not be started at all.
    Failed(String),
    /// Waiting for the dependency named `on` before starting.
    Waiting {
        on: String,
    },
    /// The last run ended with `status` after `ran`; the restart policy
    /// starts the next run, number `attempt` of this streak, at `at`.
    Restarting {
        at: Instant,
        attempt: u32,
        status: ExitStatus,
        ran: Duration,
    },
}

impl PaneState {
    /// The main process's pid, which is also the run's session id, while the
    /// run is not over.
    pub fn pid(&self) -> Option<Pid> {
        match self {
            Self::Running { pid, .. } | Self::Stopping { pid, .. } => Some(*pid),
            Self::NotStarted
            | Self::Starting
            | Self::Exited { .. }
            | Self::Failed(_)
            | Self::Waiting { .. }
            | Self::Restarting { .. } => None,
        }
    }

    /// Whether the run is not over: processes of it may still be alive.
    pub fn is_alive(&self) -> bool {
        self.pid().is_some()
    }

    /// Whether the main process still runs and can take input.
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            Self::Running { .. } | Self::Stopping { exit: None, .. }
        )
    }
}

pub struct Pane {
    pub id: PaneId,
    pub spec: PaneSpec,
    pub state: PaneState,
    pub screen: Arc<Mutex<Screen>>,
    /// What the screen publishes for the main thread to read without its
    /// lock: the input modes, and copies for drawing.
    pub published: Arc<Published>,
    pub dirty: Arc<AtomicBool>,
    /// The PTY while the program may still be running; `None` for a pane that
    /// never started, or in tests.
    pub pty: Option<Pty>,
    /// The last reader or writer error, shown in the title.
    pub error: Option<String>,
    /// Counts the runs; events from a run's threads carry its number, so a
    /// late event from an earlier run is not taken for the current one.
    pub run: u32,
    /// The run whose output may reach the screen, shared with the parser
    /// threads: output an earlier run's threads still hold is dropped.
    pub live_run: Arc<AtomicU32>,
    /// The current run's output has not reached its end yet.
    pub output_open: bool,
    pub supervision: Supervision,
    /// The user closed the pane: it is removed once its run is over.
    pub closing: bool,
    /// The pane wants the user, and why, until someone focuses it or types
    /// into it.
    pub attention: Option<Attention>,
    /// When its output was last seen, while no `idle_after` quiet has
    /// followed it: silence only counts after activity.
    pub active_at: Option<Instant>,
    /// It printed, then stayed quiet for its `idle_after`; until it prints
    /// again.
    pub idle: bool,
    /// The lines it rendered, kept by a front end whose screens keep no
    /// history (the prefixed-line one); `None` where the screen's history
    /// has them.
    pub recent: Option<recent::Recent>,
    /// The current run printed its `ready` line.
    pub ready_line: bool,
    /// The current run's readiness probe succeeded.
    pub ready_probed: bool,
    /// The current run's liveness probe failures in a row.
    pub live_failures: u32,
    /// Why a run was stopped as unhealthy (`liveness failed: …`), shown
    /// in the title until a later run is ready or passes its probe.
    pub health: Option<String>,
    /// The current run was stopped as unhealthy: its end is a failure.
    pub unhealthy: bool,
    /// The current run's probe tasks, stopped when it ends.
    pub probes: Vec<tokio::task::AbortHandle>,
    /// When a change to a file it watches restarts it, once the changes
    /// have paused for its `watch_debounce`.
    pub change_at: Option<Instant>,
    /// Why the files it watches are not watched, shown in its title.
    pub unwatched: Option<String>,
    /// The panes it was restarted together with that it depends on, each
    /// with its run then: its next run waits for their next.
    pub follows: Vec<(PaneId, u32)>,
}

/// Why a pane wants the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attention {
    /// Its program rang the bell.
    Bell,
    /// Its program sent a desktop notification.
    Notified(String),
    /// A line it printed matched its `attention` pattern.
    Asked(String),
    /// It printed, then stayed quiet for its `idle_after`.
    Idle,
    /// Its run ended while no one had it focused.
    Ended,
}

impl Attention {
    /// A few words for a title, an event or `opmux status`.
    pub fn label(&self) -> String {
        match self {
            Self::Bell => "bell".into(),
            Self::Notified(text) => format!("notified: {text}"),
            Self::Asked(line) => format!("asks: {}", line.trim()),
            Self::Idle => "idle".into(),
            Self::Ended => "ended".into(),
        }
    }
}

/// What the restart policy and readiness need to remember across runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Supervision {
    /// Automatic restarts are on. A manual stop turns them off until a
    /// manual start.
    pub auto_restart: bool,
    /// Automatic restarts since the last manual start.
    pub restarts: u32,
    /// How many times the restart delay has doubled in this streak.
    pub backoff: u32,
    /// The policy wanted another run but `max_restarts` was used up.
    pub gave_up: bool,
    /// The current run printed a line matching the pane's `ready` pattern.
    pub ready: bool,
    /// A run has exited with status 0, which `succeeded` dependencies wait for.
    pub succeeded: bool,
}

impl Default for Supervision {
    fn default() -> Self {
        Self {
            auto_restart: true,
            restarts: 0,
            backoff: 0,
            gave_up: false,
            ready: false,
            succeeded: false,
        }
    }
}

impl Pane {
    pub fn new(id: PaneId, spec: PaneSpec, size: Size) -> Self {
        let screen = Screen::new(size);
        Self {
            id,
            spec,
            state: PaneState::NotStarted,
            published: screen.published(),
            screen: Arc::new(Mutex::new(screen)),
            dirty: Arc::new(AtomicBool::new(true)),
            pty: None,
            error: None,
            run: 0,
            live_run: Arc::new(AtomicU32::new(0)),
            output_open: false,
            supervision: Supervision::default(),
            closing: false,
            attention: None,
            active_at: None,
            idle: false,
            recent: None,
            ready_line: false,
            ready_probed: false,
            live_failures: 0,
            health: None,
            unhealthy: false,
            probes: Vec::new(),
            change_at: None,
            unwatched: None,
            follows: Vec::new(),
        }
    }

    /// What is wrong with it, as its title says: why a run was stopped as
    /// unhealthy, why its files are not watched, its last error.
    pub fn notices(&self) -> impl Iterator<Item = &String> {
        [&self.health, &self.unwatched, &self.error]
            .into_iter()
            .flatten()
    }

    /// Stops the current run's probes.
    pub fn stop_probes(&mut self) {
        for probe in self.probes.drain(..) {
            probe.abort();
        }
    }

    pub fn screen(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock()
    }

    /// Its finished rendered lines from number `from` on, at most `max`,
    /// from the history or from [`Pane::recent`]: the lines, the number
    /// of the next, and how many before them are gone unread.
    pub fn finished_lines(&self, from: u64, max: usize) -> (Vec<String>, u64, u64) {
        match &self.recent {
            Some(recent) => recent.from(from, max),
            None => self.screen().finished_lines(from, max),
        }
    }

    /// The number its next finished line will have.
    pub fn finished_end(&self) -> u64 {
        match &self.recent {
            Some(recent) => recent.end(),
            None => self.screen().finished_end(),
        }
    }

    /// The number of the first finished line it still has.
    pub fn first_line(&self) -> u64 {
        match &self.recent {
            Some(recent) => recent.first(),
            None => self.screen().history().first_number(),
        }
    }

    /// The input modes its program set that encoding a key depends on.
    pub fn key_modes(&self) -> crate::keys::Modes {
        crate::keys::Modes {
            application_cursor: self.published.modes().application_cursor,
        }
    }
}
