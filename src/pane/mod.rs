//! One pane: the program the user asked for, its PTY, and the screen it draws
//! on. `pty` runs the program; `screen` keeps its terminal state. The pane knows
//! nothing of how it is drawn.

pub mod pty;
pub mod screen;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use nix::unistd::Pid;

use crate::config::PaneSpec;
use crate::process::ExitStatus;
use crate::{PaneId, Size};
use pty::Pty;
use screen::Screen;

/// Where a pane's program is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaneState {
    Running {
        pid: Pid,
        since: Instant,
    },
    /// Sent the stop signal; SIGKILL follows at the deadline.
    Stopping {
        pid: Pid,
        deadline: Instant,
    },
    Exited(ExitStatus),
    /// The program could not be started at all.
    Failed(String),
}

impl PaneState {
    pub fn pid(&self) -> Option<Pid> {
        match self {
            Self::Running { pid, .. } | Self::Stopping { pid, .. } => Some(*pid),
            Self::Exited(_) | Self::Failed(_) => None,
        }
    }

    pub fn is_alive(&self) -> bool {
        self.pid().is_some()
    }
}

pub struct Pane {
    pub id: PaneId,
    pub spec: PaneSpec,
    pub state: PaneState,
    pub screen: Arc<Mutex<Screen>>,
    pub dirty: Arc<AtomicBool>,
    /// The PTY while the program may still be running; `None` for a pane that
    /// never started, or in tests.
    pub pty: Option<Pty>,
    /// The last reader or writer error, shown in the title.
    pub error: Option<String>,
}

impl Pane {
    pub fn new(id: PaneId, spec: PaneSpec, size: Size) -> Self {
        Self {
            id,
            spec,
            state: PaneState::Failed("not started".into()),
            screen: Arc::new(Mutex::new(Screen::new(size))),
            dirty: Arc::new(AtomicBool::new(true)),
            pty: None,
            error: None,
        }
    }

    pub fn screen(&self) -> MutexGuard<'_, Screen> {
        // A parser thread that panicked leaves a screen that is still drawable.
        self.screen.lock().unwrap_or_else(|p| p.into_inner())
    }
}
