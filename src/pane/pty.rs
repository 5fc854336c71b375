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
use std::sync::{Arc, mpsc};
use std::thread;

use anyhow::{Context, Result};
use nix::unistd::Pid;
use parking_lot::{Mutex, MutexGuard};
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
/// At most this much is read at once, which is also the most parsed under
/// one hold of the screen lock.
const READ_CHUNK: usize = PARSE_BUDGET;
/// The parser hands the screen lock over after this much input (a few
/// milliseconds of parsing, history capture included, on a wide pane), so a
/// flood never keeps the renderer waiting long.
const PARSE_BUDGET: usize = 8 * 1024;

/// What connects a pane's threads to the rest of opmux.
#[derive(Clone)]
pub struct Wiring {
    pub id: PaneId,
    /// The run these threads belong to, carried on their events.
    pub run: u32,
    /// The run whose output the screen takes; once it moves on, this run's
    /// late output is dropped instead of mixing into the next run's screen.
    pub live_run: Arc<std::sync::atomic::AtomicU32>,
    pub screen: Arc<Mutex<Screen>>,
    /// Set by the parser when the screen changed, cleared by the renderer. The
    /// parser only wakes the main task when it flips this from false to true.
    pub dirty: Arc<AtomicBool>,
    pub events: UnboundedSender<Event>,
    /// The pane's `ready` pattern; the parser reports the first rendered
    /// line that matches it.
    pub ready: Option<regex::Regex>,
}

/// A running pane's PTY. Dropping it closes opmux's side of the terminal.
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    input: mpsc::Sender<Vec<u8>>,
    pub pid: Pid,
    /// The terminal's device, `/dev/pts/N`.
    tty: Option<std::path::PathBuf>,
}

impl Pty {
    /// Starts `spec` on a new PTY of `size`, with `env` added to its
    /// environment, and its three threads.
    pub fn spawn(
        spec: &PaneSpec,
        size: Size,
        env: &[(&str, &str)],
        wiring: Wiring,
    ) -> Result<Self> {
        let size = size.at_least_one();
        let pair = native_pty_system()
            .openpty(pty_size(size))
            .context("opening a pseudo-terminal")?;
        let mut cmd = CommandBuilder::from_argv(spec.argv.iter().map(Into::into).collect());
        for (key, value) in &spec.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            }
        }
        cmd.env("TERM", "xterm-256color");
        for (key, value) in env {
            cmd.env(key, value);
        }
        // portable-pty falls back to the home folder for a missing cwd; a pane
        // must rather fail visibly, so the folder is checked and always given.
        let cwd = match &spec.cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("reading the current folder")?,
        };
        if !cwd.is_dir() {
            anyhow::bail!("working folder {} does not exist", cwd.display());
        }
        // portable-pty closes every inherited descriptor in the child, std's
        // exec-error pipe included, so a failed exec could not be reported:
        // the program is looked up here instead.
        find_program(&spec.argv[0], &cwd, spec)?;
        cmd.cwd(cwd);
        // The threads start first: once the program runs, nothing may fail
        // and leave it running behind a pane that says it failed. If the
        // spawn fails, dropping the slave ends the reader, and with it the rest.
        let reader = pair
            .master
            .try_clone_reader()
            .context("cloning the PTY reader")?;
        let writer = pair.master.take_writer().context("taking the PTY writer")?;
        let (input, input_rx) = mpsc::channel::<Vec<u8>>();
        let (chunks, chunks_rx) = mpsc::sync_channel::<Chunk>(PIPELINE_CHUNKS);
        let name = |role: &str| format!("pane{}-{role}", wiring.id.0 + 1);
        thread::Builder::new()
            .name(name("reader"))
            .spawn(move || read_loop(reader, chunks))
            .context("starting the reader thread")?;
        let (parser_wiring, replies) = (wiring.clone(), input.clone());
        thread::Builder::new()
            .name(name("parser"))
            .spawn(move || parse_loop(chunks_rx, parser_wiring, replies))
            .context("starting the parser thread")?;
        thread::Builder::new()
            .name(name("writer"))
            .spawn(move || write_loop(writer, input_rx, wiring))
            .context("starting the writer thread")?;

        let child = pair
            .slave
            .spawn_command(cmd)
            .with_context(|| format!("starting {:?}", spec.argv))?;
        // Our copy of the slave must go, or reads would never see the end of output.
        drop(pair.slave);
        // std's Command always yields a pid for a spawned child.
        let pid = child.process_id().map(|p| Pid::from_raw(p as i32));
        // The one reaper owns waitpid; portable-pty's handle is not used to wait.
        drop(child);
        let pid = pid.context("the spawned program has no pid")?;
        let tty = pair.master.tty_name();
        Ok(Self {
            master: pair.master,
            input,
            pid,
            tty,
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

    /// The terminal's device, `/dev/pts/N`.
    pub fn tty(&self) -> Option<&std::path::Path> {
        self.tty.as_deref()
    }

    /// The PTY's foreground process group, which an interactive shell moves
    /// its jobs into.
    pub fn foreground_group(&self) -> Option<Pid> {
        self.master.process_group_leader().map(Pid::from_raw)
    }
}

/// Checks that `program` can be executed, as exec would find it: a path with
/// a `/` relative to `cwd`, anything else on `$PATH` (the pane's own if it
/// sets one).
fn find_program(program: &str, cwd: &std::path::Path, spec: &PaneSpec) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |path: &std::path::Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = cwd.join(program);
        if runnable(&path) {
            return Ok(());
        }
        anyhow::bail!(
            "program {} does not exist or is not executable",
            path.display()
        );
    }
    let path_var = match spec.env.iter().rev().find(|(k, _)| k == "PATH") {
        Some((_, value)) => value.clone().unwrap_or_default(),
        None => std::env::var("PATH").unwrap_or_default(),
    };
    if path_var
        .split(':')
        .any(|dir| runnable(&cwd.join(dir).join(program)))
    {
        return Ok(());
    }
    anyhow::bail!("program `{program}` is not on $PATH")
}

fn pty_size(size: Size) -> PtySize {
    PtySize {
        rows: size.rows,
        cols: size.cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
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
    let mut awaiting_ready = wiring.ready.as_ref();
    if awaiting_ready.is_some() {
        wiring.screen.lock().watch_scrolled_lines();
    }
    let mut pending = chunks.recv().ok();
    while let Some(chunk) = pending.take() {
        let Chunk::Data(first) = chunk else {
            if let Chunk::End(error) = chunk {
                // The pane's output ended: what its log holds goes to disk now.
                let log_error = wiring.screen.lock().flush_log();
                let error = error.or(log_error.map(|e| format!("writing the log: {e}")));
                let _ = wiring.events.send(Event::PaneOutputClosed {
                    pane: wiring.id,
                    run: wiring.run,
                    error,
                });
            }
            return;
        };
        let answer = {
            let mut screen = wiring.screen.lock();
            let live = wiring.live_run.load(Ordering::Acquire) == wiring.run;
            if live {
                screen.process(&first);
            }
            let mut parsed = first.len();
            // Parse what else is already waiting in the same lock, up to a budget.
            while parsed < PARSE_BUDGET {
                match chunks.try_recv() {
                    Ok(Chunk::Data(more)) => {
                        if live {
                            screen.process(&more);
                        }
                        parsed += more.len();
                    }
                    Ok(end) => {
                        pending = Some(end);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let answer = screen.take_replies();
            if let Some(pattern) = awaiting_ready
                && screen.find_line(pattern)
            {
                awaiting_ready = None;
                let _ = wiring.events.send(Event::PaneReady {
                    pane: wiring.id,
                    run: wiring.run,
                });
            }
            // A fair unlock hands the lock to a waiting renderer instead of
            // letting this loop take it straight back under a flood.
            MutexGuard::unlock_fair(screen);
            answer
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
    let mut failed = false;
    for bytes in input {
        if failed {
            continue;
        }
        if let Err(e) = writer.write_all(&bytes).and_then(|()| writer.flush()) {
            failed = true;
            let _ = wiring.events.send(Event::PaneInputFailed {
                pane: wiring.id,
                run: wiring.run,
                error: e.to_string(),
            });
        }
    }
    // Every sender is gone: the `Pty`, dropped only once no process of the
    // run is left, and the parser, gone at the end of output. So the newline
    // and EOF portable-pty types into the terminal on drop reach no one.
}
