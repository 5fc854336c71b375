//! Writing to the outer terminal without ever blocking the event loop. A
//! frame is written at once through a non-blocking handle of its own on the
//! terminal while nothing is queued; what the terminal does not take goes to
//! a thread of its own, and so does every frame after it until that thread
//! has caught up. A terminal that stops reading (a stalled SSH link, a
//! suspended client) then blocks only that thread: the event loop goes on
//! handling signals, deadlines and panes, and simply draws nothing while too
//! much is still queued.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::event::Event;

/// Past this many bytes queued for the terminal, no new frame is drawn.
pub const MAX_BACKLOG: usize = 512 * 1024;

/// Bytes queued for the terminal but not written yet, with a signal for
/// when that reaches zero.
#[derive(Default)]
struct Backlog {
    bytes: Mutex<usize>,
    drained: Condvar,
}

/// A `Write` for the renderer: writes collect in a buffer, and each flush
/// hands the buffer to the writer thread without blocking.
pub struct Outbox {
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
    backlog: Arc<Backlog>,
    /// The terminal, opened anew so that only this handle is non-blocking.
    direct: Option<std::fs::File>,
}

/// Watches an [`Outbox`]'s queue from the event loop.
#[derive(Clone)]
pub struct Watch {
    backlog: Arc<Backlog>,
}

impl Watch {
    /// Bytes still waiting to be written.
    pub fn backlog(&self) -> usize {
        *self.backlog.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until everything queued is written, for at most `limit`;
    /// returns whether it was.
    pub fn wait_drained(&self, limit: Duration) -> bool {
        let bytes = self.backlog.bytes.lock().unwrap_or_else(|p| p.into_inner());
        let (bytes, _) = self
            .backlog
            .drained
            .wait_timeout_while(bytes, limit, |b| *b > 0)
            .unwrap_or_else(|p| p.into_inner());
        *bytes == 0
    }
}

/// Starts the writer thread for stdout. A write error (the terminal is gone)
/// is reported once as [`Event::InputClosed`].
pub fn spawn(events: UnboundedSender<Event>) -> std::io::Result<(Outbox, Watch)> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let backlog = Arc::new(Backlog::default());
    let shared = backlog.clone();
    std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            let mut failed = false;
            for chunk in rx {
                // Locked per chunk, never while waiting, so restoring the
                // terminal at exit can always write.
                let mut out = std::io::stdout().lock();
                if !failed && let Err(e) = out.write_all(&chunk).and_then(|()| out.flush()) {
                    failed = true;
                    let _ =
                        events.send(Event::InputClosed(format!("writing to the terminal: {e}")));
                }
                let mut bytes = shared.bytes.lock().unwrap_or_else(|p| p.into_inner());
                *bytes = bytes.saturating_sub(chunk.len());
                if *bytes == 0 {
                    shared.drained.notify_all();
                }
            }
        })?;
    let watch = Watch {
        backlog: backlog.clone(),
    };
    Ok((
        Outbox {
            tx,
            buf: Vec::with_capacity(1 << 16),
            backlog,
            direct: open_nonblocking_stdout(),
        },
        watch,
    ))
}

impl Write for Outbox {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut backlog = self.backlog.bytes.lock().unwrap_or_else(|p| p.into_inner());
        if *backlog == 0
            && let Some(direct) = &mut self.direct
        {
            let written = crate::write_what_fits(direct, &self.buf);
            self.buf.drain(..written);
            if self.buf.is_empty() {
                return Ok(());
            }
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(1 << 16));
        *backlog += chunk.len();
        drop(backlog);
        self.tx.send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the output thread ended")
        })
    }
}

/// A second, non-blocking handle on the terminal stdout writes to. Opening
/// the terminal again gives a handle of its own: making stdout itself
/// non-blocking would make the terminal non-blocking for every program that
/// shares it, the shell opmux runs in included.
fn open_nonblocking_stdout() -> Option<std::fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open("/proc/self/fd/1")
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}
