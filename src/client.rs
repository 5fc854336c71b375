//! The client: small on purpose. It puts this terminal in raw mode, passes
//! its signals and size changes on to the server, and restores the terminal
//! on every way out. The server reads the terminal's input and writes the
//! frames to it itself, as tmux's does; if it cannot open the terminal, the
//! client reads the input and sends it, and writes the frames it is sent. The session, its
//! panes and the drawing all live in the server (`crate::server`). Also the
//! one-shot requests that need no terminal: a session's info, and stop.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use crossterm::event::{
    DisableBracketedPaste, DisableFocusChange, DisableMouseCapture, EnableBracketedPaste,
    EnableFocusChange, EnableMouseCapture,
};
use crossterm::terminal::EnterAlternateScreen;
use nix::sys::signal::{SigSet, Signal};

use crate::protocol::{self, Control, Hello, Message, SessionInfo, Want};

/// How long an info request waits for its answer.
const INFO_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How a client's attach ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The client detached; the session goes on.
    Detached(String),
    /// The session ended with this status, and maybe a message for stderr.
    Ended(i32, Option<String>),
    /// The server went away without a word.
    ServerGone,
}

/// Connects to the session at `socket` with `want`, and returns the
/// connection once the server took the hello.
fn connect(socket: &Path, name: &str, want: Want) -> Result<UnixStream> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to session {name} ({})", socket.display()))?;
    stream.set_write_timeout(Some(INFO_LIMIT))?;
    protocol::write_message(
        &mut stream,
        &Message::Control(Control::Hello(Hello::new(want))),
    )
    .with_context(|| format!("greeting session {name}"))?;
    Ok(stream)
}

/// The next control message, or what went wrong.
fn read_control(stream: &mut UnixStream, name: &str) -> Result<Control> {
    match protocol::read_message(stream) {
        Ok(Some(Message::Control(control))) => Ok(control),
        Ok(Some(Message::Bytes(_))) => bail!("session {name} sent output before its answer"),
        Ok(None) => bail!("session {name} hung up"),
        Err(e) => bail!("reading from session {name}: {e}"),
    }
}

/// Asks the session at `socket` for `want` and returns its one answer; a
/// refusal is an error that gives the server's reason.
fn request(socket: &Path, name: &str, want: Want) -> Result<Control> {
    let mut stream = connect(socket, name, want)?;
    // A server that hangs must not hang `opmux ls` with it.
    stream.set_read_timeout(Some(INFO_LIMIT))?;
    answer(&mut stream, name)
}

/// Asks the session at `socket` for a control verb's `want` and waits as
/// long as it takes for the answer: a pane verb answers once its change has
/// happened. A refusal or a failure is an error that gives the reason.
pub fn control(socket: &Path, name: &str, want: Want) -> Result<Control> {
    answer(&mut connect(socket, name, want)?, name)
}

/// What `opmux-attach --identity` prints: the version and the protocol it
/// was built with. `opmux` hands the terminal only to a client of its own.
pub fn identity() -> String {
    format!(
        "{} protocol {}",
        env!("CARGO_PKG_VERSION"),
        protocol::PROTOCOL
    )
}

/// What the session would not do, or could not find: an unknown pane, a
/// pane not running, a refused attach. The verbs exit with 2 for it, as for
/// an unknown session.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Exits with `outcome`'s status; an error is printed, and exits with 2
/// when it names something that does not exist (a session, a pane) or
/// that the session would not do, 1 otherwise. Both programs, `opmux` and
/// `opmux-attach`, end through here.
pub fn exit_with(outcome: Result<i32>) -> std::process::ExitCode {
    use std::process::ExitCode;
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("opmux: {e:#}");
            match e.downcast_ref::<Refused>() {
                Some(_) => ExitCode::from(2),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// The next answer on `stream`; a refusal or a failure is a [`Refused`]
/// that gives the server's reason.
fn answer(stream: &mut UnixStream, name: &str) -> Result<Control> {
    match read_control(stream, name)? {
        Control::Refused { reason, .. } => Err(Refused(reason).into()),
        Control::Failed { message } => Err(Refused(crate::clean_text(&message)).into()),
        control => Ok(control),
    }
}

/// `opmux wait`: 0 once the condition holds, 1 after `timeout`, 3 once it
/// can no longer hold, 2 for a pane or condition that makes no sense.
pub fn wait(
    socket: &Path,
    name: &str,
    want: Want,
    timeout: Option<std::time::Duration>,
) -> Result<i32> {
    let mut stream = connect(socket, name, want)?;
    stream.set_read_timeout(timeout)?;
    let answer = match protocol::read_message(&mut stream) {
        Ok(Some(Message::Control(control))) => control,
        Ok(_) => bail!("session {name} hung up"),
        Err(protocol::ProtocolError::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            eprintln!("opmux: timed out");
            return Ok(1);
        }
        Err(e) => bail!("reading from session {name}: {e}"),
    };
    Ok(match answer {
        Control::Done => 0,
        Control::Never { reason } => {
            eprintln!("opmux: {}", crate::clean_text(&reason));
            3
        }
        Control::Failed { message }
        | Control::Refused {
            reason: message, ..
        } => {
            eprintln!("opmux: {}", crate::clean_text(&message));
            2
        }
        other => bail!("session {name} answered {other:?}"),
    })
}

/// `opmux events`: prints each event the session at `socket` sends, as a
/// line of text or JSON, until the session ends.
pub fn events(socket: &Path, name: &str, json: bool) -> Result<i32> {
    print_stream(socket, name, Want::Events, |control| {
        let Control::Event(line) = control else {
            return Ok(None);
        };
        let text = if json {
            protocol::json_line(&line)?
        } else {
            event_text(&line)
        };
        Ok(Some(text + "\n"))
    })
}

/// `opmux logs`: prints the pane's lines the session at `socket` sends
/// until it says it is done or hangs up.
pub fn logs(socket: &Path, name: &str, want: Want) -> Result<i32> {
    print_stream(socket, name, want, |control| {
        let Control::Lines { lines } = control else {
            return Ok(None);
        };
        let mut text = String::new();
        for line in &lines {
            text.push_str(&crate::clean_text(line));
            text.push('\n');
        }
        Ok(Some(text))
    })
}

/// Prints what `text` makes of each message the session at `socket` sends
/// for `want`, until it says it is done or hangs up, or standard output is
/// closed (a reader gone from the end of a pipe); a refusal or a failure is
/// an error.
fn print_stream(
    socket: &Path,
    name: &str,
    want: Want,
    mut text: impl FnMut(Control) -> Result<Option<String>>,
) -> Result<i32> {
    let mut stream = connect(socket, name, want)?;
    let mut out = std::io::stdout().lock();
    loop {
        let control = match protocol::read_message(&mut stream) {
            Ok(Some(Message::Control(control))) => control,
            Ok(Some(Message::Bytes(_))) => continue,
            Ok(None) | Err(_) => return Ok(0),
        };
        let printed = match control {
            Control::Done => return Ok(0),
            Control::Refused { reason, .. } => return Err(Refused(reason).into()),
            Control::Failed { message } => {
                return Err(Refused(crate::clean_text(&message)).into());
            }
            other => text(other)?,
        };
        if let Some(printed) = printed
            && out
                .write_all(printed.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
        {
            return Ok(0);
        }
    }
}

/// An event as a line of text: its time, its pane, what, and the details.
fn event_text(line: &protocol::EventLine) -> String {
    let seconds = line.time_ms / 1000;
    let (h, m, s) = ((seconds / 3600) % 24, (seconds / 60) % 60, seconds % 60);
    let mut text = format!("{h:02}:{m:02}:{s:02} UTC");
    if let (Some(pane), Some(number)) = (&line.pane, line.number) {
        text.push_str(&format!(" {number} {pane}"));
    }
    text.push(' ');
    text.push_str(&line.event);
    let details = [
        line.pid.map(|p| format!("pid {p}")),
        line.exit_code.map(|c| format!("status {c}")),
        line.exit_signal.clone(),
        line.delay_ms.map(|d| format!("in {} ms", d)),
        line.restart.map(|r| format!("restart {r}")),
        line.why.clone(),
        line.client.map(|c| format!("client {c}")),
        line.missed.map(|n| format!("{n} events")),
    ];
    for detail in details.into_iter().flatten() {
        text.push_str(", ");
        text.push_str(&detail);
    }
    crate::clean_text(&text)
}

/// What the session at `socket` is and does (`opmux ls`).
pub fn info(socket: &Path, name: &str) -> Result<SessionInfo> {
    match request(socket, name, Want::Info)? {
        Control::Info(info) => Ok(info),
        other => bail!("session {name} answered {other:?}"),
    }
}

/// Every pane of the session at `socket`, as `opmux status` reports it.
pub fn status(socket: &Path, name: &str) -> Result<Vec<protocol::PaneStatus>> {
    match request(socket, name, Want::Status)? {
        Control::Status { panes } => Ok(panes),
        other => bail!("session {name} answered {other:?}"),
    }
}

/// Stops the session at `socket` as `C-b q` does (with `now`, SIGKILL at
/// once) and waits until everything of it is gone.
pub fn stop(socket: &Path, name: &str, now: bool) -> Result<()> {
    // Which process to wait for: the server says in its info.
    let server = info(socket, name)
        .ok()
        .map(|info| nix::unistd::Pid::from_raw(info.pid as i32));
    let mut stream = connect(socket, name, Want::Stop { now })?;
    loop {
        match protocol::read_message(&mut stream) {
            Ok(Some(Message::Control(Control::Stopped))) => {
                wait_gone(&mut stream, server);
                return Ok(());
            }
            Ok(Some(Message::Control(Control::Refused { reason, .. }))) => bail!("{reason}"),
            Ok(Some(_)) => {}
            // The server is gone, which is what was asked.
            Ok(None) | Err(_) => return Ok(()),
        }
    }
}

/// Undoes raw mode and the alternate screen when dropped.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Raw mode, the alternate screen, and the input modes opmux reads.
fn set_terminal_up() -> Result<()> {
    crossterm::terminal::enable_raw_mode().context("switching the terminal to raw mode")?;
    crossterm::execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        EnableFocusChange
    )
    .context("setting the terminal up")
}

/// Leaves the terminal as the shell had it.
fn restore_terminal() {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        DisableFocusChange,
        DisableBracketedPaste,
        DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = out.flush();
    let _ = crossterm::terminal::disable_raw_mode();
}

/// Attaches this terminal to the session at `socket` until it detaches or
/// the session ends; returns the exit status for opmux.
pub fn attach(socket: &Path, name: &str) -> Result<i32> {
    let (cols, rows) = crossterm::terminal::size().context("reading the terminal size")?;
    let mut stream = connect(
        socket,
        name,
        Want::Attach {
            cols,
            rows,
            terminal_focused: true,
            // The server writes frames to this terminal itself, which
            // spares each frame a hop through this process.
            tty: nix::unistd::ttyname(std::io::stdout()).ok(),
        },
    )?;
    let (session, server, server_reads) = match read_control(&mut stream, name)? {
        // The server's pid, to wait for it to be gone when the session ends.
        Control::Welcome {
            session,
            pid,
            terminal,
            ..
        } => (
            session,
            Some(nix::unistd::Pid::from_raw(pid as i32)),
            terminal,
        ),
        Control::Refused { reason, .. } => return Err(Refused(reason).into()),
        other => bail!("session {name} answered {other:?}"),
    };
    // Attached, input waits for a busy server rather than being dropped.
    stream.set_write_timeout(None)?;
    // Signals are taken by a thread of their own and passed on; blocked
    // before any other thread starts, so every thread inherits the mask.
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGTSTP,
    ] {
        signals.add(signal);
    }
    // With the server reading the terminal, a size change is the one
    // thing about it the client still tells.
    if server_reads {
        signals.add(Signal::SIGWINCH);
    }
    signals.thread_block().context("blocking signals")?;
    let writer = Arc::new(Mutex::new(
        stream.try_clone().context("sharing the connection")?,
    ));
    install_panic_hook();
    let guard = TerminalGuard;
    set_terminal_up()?;
    // From here on the server may draw on the terminal and read it.
    send(&writer, Control::Ready);
    spawn_signal_thread(signals, writer.clone());
    if !server_reads {
        spawn_input_thread(writer.clone());
    }
    // What loading the configuration left free goes back to the system:
    // from here on the client holds little.
    crate::runtime::release_free_memory();
    let outcome = pump(&mut stream, &writer);
    if matches!(outcome, Outcome::Ended(..)) {
        // The session ended: once this client exits, nothing of it may be
        // left, the server included.
        wait_gone(&mut stream, server);
    }
    drop(guard);
    // The terminal may be gone by now: what cannot be said is not said.
    Ok(match outcome {
        Outcome::Detached(name) => {
            let _ = writeln!(std::io::stdout(), "[detached from {name}]");
            0
        }
        Outcome::Ended(status, message) => {
            if let Some(message) = message {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
            status
        }
        Outcome::ServerGone => {
            let _ = writeln!(
                std::io::stderr(),
                "opmux: the server of session {session} ended"
            );
            1
        }
    })
}

/// Writes what the server sends until it says the client is done.
fn pump(stream: &mut UnixStream, writer: &Mutex<UnixStream>) -> Outcome {
    let mut out = std::io::stdout().lock();
    let mut terminal_lost = false;
    // A frame, header and all, comes in one read.
    let mut input = std::io::BufReader::with_capacity(64 * 1024, Polled(stream));
    loop {
        match protocol::read_message(&mut input) {
            Ok(Some(Message::Bytes(bytes))) => {
                if terminal_lost {
                    continue;
                }
                if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
                    // The terminal is gone: the server decides what that means.
                    terminal_lost = true;
                    send(
                        writer,
                        Control::Signal {
                            signal: Signal::SIGHUP as i32,
                        },
                    );
                }
            }
            Ok(Some(Message::Control(Control::Detached { session }))) => {
                return Outcome::Detached(session);
            }
            Ok(Some(Message::Control(Control::Ended { status, message }))) => {
                return Outcome::Ended(status, message);
            }
            // SIGTSTP: the server has let go of the terminal; the shell gets
            // it back as it was, until this client is continued.
            Ok(Some(Message::Control(Control::Suspended))) => {
                restore_terminal();
                let _ = nix::sys::signal::raise(Signal::SIGSTOP);
                if set_terminal_up().is_ok() {
                    if let Ok((cols, rows)) = crossterm::terminal::size() {
                        send(writer, Control::Resize { cols, rows });
                    }
                    send(writer, Control::Ready);
                }
            }
            Ok(Some(Message::Control(_))) => {}
            Ok(None) | Err(_) => return Outcome::ServerGone,
        }
    }
}

/// A connection read only once poll says it is readable. A thread blocked
/// in a socket's read is also woken each time the server takes in what the
/// input thread sent on the same socket; a poll for input is not, so a
/// keystroke does not wake this thread for nothing.
struct Polled<'a>(&'a UnixStream);

impl std::io::Read for Polled<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Interrupted or not, the read below waits if need be.
        crate::pane::pty::wait_for(self.0.as_fd(), nix::poll::PollFlags::POLLIN);
        std::io::Read::read(&mut self.0, buf)
    }
}

/// How long a client waits for the server to be gone after it said the
/// session ended: the server has only its socket to close by then.
const SERVER_EXIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Waits for the server to close the connection and for its process to end.
fn wait_gone(stream: &mut UnixStream, server: Option<nix::unistd::Pid>) {
    let deadline = std::time::Instant::now() + SERVER_EXIT_LIMIT;
    let _ = stream.set_read_timeout(Some(SERVER_EXIT_LIMIT));
    while let Ok(Some(_)) = protocol::read_message(stream) {}
    let Some(pid) = server.filter(|p| p.as_raw() > 0) else {
        return;
    };
    let Ok(fd) = crate::process::pidfd(pid) else {
        return;
    };
    // A pidfd turns readable when its process has ended.
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let timeout = nix::poll::PollTimeout::try_from(left).unwrap_or(nix::poll::PollTimeout::ZERO);
    let _ = nix::poll::poll(&mut fds, timeout);
}

fn send(writer: &Mutex<UnixStream>, control: Control) {
    let mut stream = writer.lock().unwrap_or_else(|e| e.into_inner());
    let _ = protocol::write_message(&mut *stream, &Message::Control(control));
}

/// Passes SIGTERM, SIGINT and SIGHUP on to the server, the terminal's size
/// after a SIGWINCH, and asks it to let go of the terminal on SIGTSTP.
fn spawn_signal_thread(signals: SigSet, writer: Arc<Mutex<UnixStream>>) {
    let _ = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while let Ok(signal) = signals.wait() {
                let control = match signal {
                    // Suspended once the server let go of the terminal.
                    Signal::SIGTSTP => Control::Suspend,
                    Signal::SIGWINCH => match crossterm::terminal::size() {
                        Ok((cols, rows)) => Control::Resize { cols, rows },
                        Err(_) => continue,
                    },
                    signal => Control::Signal {
                        signal: signal as i32,
                    },
                };
                send(&writer, control);
            }
        });
}

/// Reads the terminal and sends each event to the server. A terminal that
/// cannot be read any more is a lost terminal.
fn spawn_input_thread(writer: Arc<Mutex<UnixStream>>) {
    let _ = std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            loop {
                let control = match crossterm::event::read() {
                    Ok(event) => match serde_json::to_value(event) {
                        Ok(value) => Control::Input(value),
                        Err(_) => continue,
                    },
                    Err(_) => {
                        send(
                            &writer,
                            Control::Signal {
                                signal: Signal::SIGHUP as i32,
                            },
                        );
                        return;
                    }
                };
                send(&writer, control);
            }
        });
}

/// On a panic: restore the terminal first, then report it.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
        std::process::exit(101);
    }));
}
