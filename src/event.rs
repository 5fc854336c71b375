//! The one enum every producer sends to the main task: a front end's input
//! (a client's terminal, the headless front end's stdin), each pane's reader,
//! parser and writer threads, and the runtime's signal handlers.

use crossterm::event::{KeyEvent, MouseEvent};

use nix::unistd::Pid;

use crate::process::ExitStatus;
use crate::{PaneId, Size};

#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The outer terminal gained (`true`) or lost the focus.
    TerminalFocus(bool),
    /// The outer terminal's new size.
    Resize(Size),
    /// The outer terminal can no longer be read (it went away).
    InputClosed(String),
    /// New output was parsed into the pane's screen. Sent once per draw at most:
    /// the pane's dirty flag suppresses repeats until the next frame clears it.
    PaneOutput(PaneId),
    /// Run `run` of the pane reached the end of its output, with the error
    /// that ended it, if any.
    PaneOutputClosed {
        pane: PaneId,
        run: u32,
        error: Option<String>,
    },
    /// Writing input to run `run` of the pane failed.
    PaneInputFailed {
        pane: PaneId,
        run: u32,
        error: String,
    },
    /// Run `run` of the pane asked to put `text` on the clipboard (OSC 52).
    PaneCopy {
        pane: PaneId,
        run: u32,
        text: String,
    },
    /// Run `run` of the pane printed a line matching its `ready` pattern.
    PaneReady {
        pane: PaneId,
        run: u32,
    },
    /// A try of run `run`'s readiness probe (`live`: its liveness probe):
    /// it succeeded, or why not.
    Probe {
        pane: PaneId,
        run: u32,
        live: bool,
        result: Result<(), String>,
    },
    /// Files changed under a folder some pane watches.
    FilesChanged(Vec<std::path::PathBuf>),
    /// The file watcher failed (too many folders for inotify, say).
    WatchFailed(String),
    /// The run's program asked for the user: a bell, a notification, a
    /// line matching its `attention` pattern.
    PaneAlert {
        pane: PaneId,
        run: u32,
        alert: crate::pane::screen::Alert,
    },
    PaneStarted {
        pane: PaneId,
        pid: Pid,
    },
    /// The pane's program could not be started.
    PaneFailed {
        pane: PaneId,
        error: String,
    },
    /// The pane's main process was reaped; `left` of the pane's other
    /// processes were still alive.
    PaneExited {
        pane: PaneId,
        status: ExitStatus,
        left: usize,
    },
    /// How many processes a stopping pane has left, counted after a child of
    /// opmux ended or while a countdown runs.
    PaneProcessesLeft {
        pane: PaneId,
        left: usize,
    },
    /// Bytes read from opmux's standard input for the pane named by
    /// `--stdin`; `None` at its end. Only the prefixed-line front end reads
    /// standard input this way.
    Stdin(Option<Vec<u8>>),
    /// SIGTERM, SIGINT or SIGHUP reached opmux.
    Signal(nix::sys::signal::Signal),
    /// Time passed; a deadline from `Session::next_deadline` may be due.
    Tick,
}
