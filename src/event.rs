//! The one enum every producer sends to the main task: the input thread, each
//! pane's parser and writer threads, and the runtime's signal handlers.

use crossterm::event::{KeyEvent, MouseEvent};

use crate::process::ExitStatus;
use crate::{PaneId, Size};

#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The outer terminal's new size.
    Resize(Size),
    /// The outer terminal can no longer be read (it went away).
    InputClosed(String),
    /// New output was parsed into the pane's screen. Sent once per draw at most:
    /// the pane's dirty flag suppresses repeats until the next frame clears it.
    PaneOutput(PaneId),
    /// The pane's output reached its end, with the error that ended it, if any.
    PaneOutputClosed(PaneId, Option<String>),
    /// Writing input to the pane failed.
    PaneInputFailed(PaneId, String),
    /// The pane's main process was reaped.
    PaneExited(PaneId, ExitStatus),
    /// SIGTERM, SIGINT or SIGHUP reached opmux.
    Signal(nix::sys::signal::Signal),
    /// The stop timeout of a shutdown has run out.
    StopDeadline,
}
