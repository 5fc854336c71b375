//! The only user of portable-pty. Spawns a pane's program on a PTY that already
//! has the pane's size, and runs the three threads that connect it to opmux:
//!
//! - the reader blocks on the PTY and passes chunks on at once, so the program
//!   is only ever held back by a full pipeline, never by drawing;
//! - the parser feeds the chunks to the pane's [`Screen`], forwards the replies
//!   to terminal queries, and wakes the main task once per frame at most;
//! - the writer owns the PTY's input side, so a program that stops reading its
//!   input can never block the main task.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use anyhow::{Context, Result};
use nix::unistd::Pid;
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::mpsc::UnboundedSender;

use super::screen::Screen;
use crate::config::PaneSpec;
use crate::event::Event;
use crate::{PaneId, Size};

/// How many chunks may wait between the reader and the parser. Past that the
/// reader stops reading and the kernel holds the program back, as a real
/// terminal would; it bounds memory under a flood.
const PIPELINE_CHUNKS: usize = 32;
const READ_CHUNK: usize = 64 * 1024;
/// The parser releases the screen lock after this much input, so a flood never
/// keeps the renderer waiting for long.
const PARSE_BUDGET: usize = 256 * 1024;

/// What connects a pane's threads to the rest of opmux.
#[derive(Clone)]
pub struct Wiring {
    pub id: PaneId,
    pub screen: Arc<Mutex<Screen>>,
    /// Set by the parser when the screen changed, cleared by the renderer. The
    /// parser only wakes the main task when it flips this from false to true.
    pub dirty: Arc<AtomicBool>,
    pub events: UnboundedSender<Event>,
}

/// A running pane's PTY. Dropping it closes opmux's side of the terminal.
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    input: mpsc::Sender<Vec<u8>>,
    pub pid: Pid,
}

impl Pty {
    /// Starts `spec` on a new PTY of `size` and its three threads.
    pub fn spawn(spec: &PaneSpec, size: Size, wiring: Wiring) -> Result<Self> {
        let size = size.at_least_one();
        let pair = native_pty_system()
            .openpty(pty_size(size))
            .context("opening a pseudo-terminal")?;
        let mut cmd = CommandBuilder::from_argv(spec.argv.iter().map(Into::into).collect());
        cmd.env("TERM", "xterm-256color");
        // portable-pty falls back to the home folder for a missing cwd; a pane
        // must rather fail visibly, so the folder is checked and always given.
        let cwd = match &spec.cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("reading the current folder")?,
        };
        if !cwd.is_dir() {
            anyhow::bail!("working folder {} does not exist", cwd.display());
        }
        cmd.cwd(cwd);
        let child = pair
            .slave
            .spawn_command(cmd)
            .with_context(|| format!("starting {:?}", spec.argv))?;
        // Our copy of the slave must go, or reads would never see the end of output.
        drop(pair.slave);
        let pid = child
            .process_id()
            .map(|p| Pid::from_raw(p as i32))
            .context("the spawned program has no pid")?;
        // The one reaper owns waitpid; portable-pty's handle is not used to wait.
        drop(child);

        let reader = pair
            .master
            .try_clone_reader()
            .context("cloning the PTY reader")?;
        let writer = pair.master.take_writer().context("taking the PTY writer")?;
        let (input, input_rx) = mpsc::channel::<Vec<u8>>();
        let (chunks, chunks_rx) = mpsc::sync_channel::<Chunk>(PIPELINE_CHUNKS);

        let name = |role: &str| format!("pane{}-{role}", wiring.id.0);
        thread::Builder::new()
            .name(name("reader"))
            .spawn(move || read_loop(reader, chunks))
            .context("starting the reader thread")?;
        let parser_wiring = wiring.clone();
        let replies = input.clone();
        thread::Builder::new()
            .name(name("parser"))
            .spawn(move || parse_loop(chunks_rx, parser_wiring, replies))
            .context("starting the parser thread")?;
        thread::Builder::new()
            .name(name("writer"))
            .spawn(move || write_loop(writer, input_rx, wiring))
            .context("starting the writer thread")?;

        Ok(Self {
            master: pair.master,
            input,
            pid,
        })
    }

    /// Queues bytes for the program's input. Never blocks.
    pub fn write(&self, bytes: Vec<u8>) {
        // The writer thread only ends once this handle is gone or after it
        // reported a write error, so a failed send has already been reported.
        let _ = self.input.send(bytes);
    }

    /// Tells the kernel the terminal's new size, which sends SIGWINCH to the
    /// program's foreground group.
    pub fn resize(&self, size: Size) -> Result<()> {
        self.master.resize(pty_size(size.at_least_one()))
    }

    /// The PTY's foreground process group, which an interactive shell moves
    /// its jobs into.
    pub fn foreground_group(&self) -> Option<Pid> {
        self.master.process_group_leader().map(Pid::from_raw)
    }
}

fn pty_size(size: Size) -> PtySize {
    PtySize {
        rows: size.rows,
        cols: size.cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

enum Chunk {
    Data(Vec<u8>),
    End(Option<String>),
}

fn read_loop(mut reader: Box<dyn Read + Send>, chunks: SyncSender<Chunk>) {
    let mut buf = vec![0u8; READ_CHUNK];
    let end = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                if chunks.send(Chunk::Data(buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Linux reports the end of a PTY's output as EIO once every
            // process has closed the terminal.
            Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break None,
            Err(e) => break Some(format!("reading output: {e}")),
        }
    };
    let _ = chunks.send(Chunk::End(end));
}

fn parse_loop(chunks: Receiver<Chunk>, wiring: Wiring, replies: mpsc::Sender<Vec<u8>>) {
    let mut pending = chunks.recv().ok();
    while let Some(chunk) = pending.take() {
        let Chunk::Data(first) = chunk else {
            if let Chunk::End(error) = chunk {
                let _ = wiring
                    .events
                    .send(Event::PaneOutputClosed(wiring.id, error));
            }
            return;
        };
        let answer = {
            let mut screen = wiring.screen.lock().unwrap_or_else(|p| p.into_inner());
            screen.process(&first);
            let mut parsed = first.len();
            // Parse what else is already waiting in the same lock, up to a budget.
            while parsed < PARSE_BUDGET {
                match chunks.try_recv() {
                    Ok(Chunk::Data(more)) => {
                        screen.process(&more);
                        parsed += more.len();
                    }
                    Ok(end) => {
                        pending = Some(end);
                        break;
                    }
                    Err(_) => break,
                }
            }
            screen.take_replies()
        };
        if !answer.is_empty() {
            let _ = replies.send(answer);
        }
        if !wiring.dirty.swap(true, Ordering::AcqRel) {
            let _ = wiring.events.send(Event::PaneOutput(wiring.id));
        }
        if pending.is_none() {
            pending = chunks.recv().ok();
        }
    }
}

fn write_loop(mut writer: Box<dyn Write + Send>, input: Receiver<Vec<u8>>, wiring: Wiring) {
    for bytes in input {
        if let Err(e) = writer.write_all(&bytes).and_then(|()| writer.flush()) {
            let _ = wiring
                .events
                .send(Event::PaneInputFailed(wiring.id, e.to_string()));
            // Keep the writer: dropping it would type a newline and EOF into
            // a terminal that may still have readers.
            std::mem::forget(writer);
            return;
        }
    }
    // Every sender is gone, which happens only after the pane's process was
    // reaped, so the newline and EOF portable-pty types on drop reach no one.
}
