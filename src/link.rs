//! A session's socket and the connections on it, for every front end that
//! listens (the server, and the prefixed-line front end): accepting only
//! the same user, reading each connection's hello and then its messages for
//! the loop, and the [`Link`] a front end answers through, which never makes
//! the loop wait on a slow reader. A client whose terminal the server opened
//! also has that terminal read and written here.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::{self, UnboundedSender, unbounded_channel};

use crate::protocol::{self, Control, Decoder, Hello, Message, ProtocolError};

/// How long a new connection has to say what it wants.
const HELLO_LIMIT: Duration = Duration::from_secs(5);
/// How many messages from connections may wait for the loop before their
/// readers wait too.
const CLIENT_QUEUE: usize = 64;
/// How long accepting waits after it failed.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A session's socket: new connections of the same user are accepted and
/// read on tasks of their own; what they say comes out of
/// [`Listening::next`] in the order it came.
pub struct Listening {
    listener: tokio::net::UnixListener,
    inbox: mpsc::Receiver<FromClient>,
    to_loop: mpsc::Sender<FromClient>,
    /// The id the last connection got.
    last_id: u64,
}

impl Listening {
    pub fn new(listener: tokio::net::UnixListener) -> Self {
        let (to_loop, inbox) = mpsc::channel(CLIENT_QUEUE);
        Self {
            listener,
            inbox,
            to_loop,
            last_id: 0,
        }
    }

    /// Listens on a socket bound (blocking) by `registry::claim`.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> anyhow::Result<Self> {
        use anyhow::Context;
        listener
            .set_nonblocking(true)
            .context("making the socket non-blocking")?;
        let listener =
            tokio::net::UnixListener::from_std(listener).context("listening on the socket")?;
        Ok(Self::new(listener))
    }

    /// Where a connection's tasks tell the loop what happened.
    pub fn to_loop(&self) -> mpsc::Sender<FromClient> {
        self.to_loop.clone()
    }

    /// The next thing a connection says. Connections are accepted
    /// meanwhile; one from another user is dropped unread. Safe to cancel:
    /// nothing is lost when another branch of a `select!` wins.
    pub async fn next(&mut self) -> FromClient {
        loop {
            tokio::select! {
                Some(message) = self.inbox.recv() => return message,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => match crate::registry::peer_is_us(&stream) {
                        Ok(true) => {
                            self.last_id += 1;
                            tokio::spawn(read_connection(stream, self.last_id, self.to_loop.clone()));
                        }
                        _ => tracing::warn!("a connection from another user was dropped"),
                    },
                    Err(e) => {
                        // Out of fds, say: trying again at once would spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(ACCEPT_PAUSE).await;
                    }
                },
            }
        }
    }

    /// Ends the session's socket: nothing more is read; the writers get
    /// up to `limit` to hand over their last words (a client's `Ended`, a
    /// `kill-session`'s `Stopped`); then the socket goes. It is removed
    /// while the listener still holds its name, so a new session can only
    /// claim the name once this one is gone.
    pub async fn close(self, writers: Writers, socket: &std::path::Path, limit: Duration) {
        // Writers may still tell the loop a frame is out: nobody listens now.
        drop(self.inbox);
        let farewell = async {
            for writer in writers.0 {
                let _ = writer.await;
            }
        };
        let _ = tokio::time::timeout(limit, farewell).await;
        let _ = std::fs::remove_file(socket);
        drop(self.listener);
    }
}

/// The writer tasks of a front end's connections, waited for at exit.
#[derive(Default)]
pub struct Writers(Vec<tokio::task::JoinHandle<()>>);

impl Writers {
    /// The link to connection `id`, as `link` makes it; its writer is
    /// kept, and those that ended are forgotten.
    pub fn link(
        &mut self,
        id: u64,
        writer: OwnedWriteHalf,
        terminal: Option<AsyncFd<std::fs::File>>,
        to_loop: mpsc::Sender<FromClient>,
    ) -> Link {
        let (link, task) = link(id, writer, terminal, to_loop);
        self.0.retain(|writer| !writer.is_finished());
        self.0.push(task);
        link
    }
}

/// The sockets of connected clients, for the panic hook, which can reach
/// nothing else, each with its count of messages queued: a socket with none
/// queued stands between two messages.
pub(crate) type Listed = (std::os::fd::RawFd, Arc<std::sync::atomic::AtomicUsize>);
pub(crate) static CLIENT_SOCKETS: std::sync::Mutex<Vec<Listed>> = std::sync::Mutex::new(Vec::new());

/// What a client's connection tells the loop.
pub enum FromClient {
    /// A connection said hello.
    Hello {
        id: u64,
        hello: Hello,
        writer: OwnedWriteHalf,
    },
    Message(u64, Control),
    /// The connection ended.
    Gone(u64),
    /// Client `id`'s last frame has been written.
    Drained(u64),
    /// What client `id`'s terminal sent, read by the server.
    Typed(u64, Vec<crossterm::event::Event>),
    /// Client `id`'s terminal hung up under the server's read.
    TerminalLost(u64),
}

/// Bytes for a connection's writer task.
struct Outgoing {
    bytes: Vec<u8>,
    /// A frame: the loop sends no other until this one is written.
    frame: bool,
    /// For the client's terminal, not its connection.
    terminal: bool,
}

/// The way to a connection, and to its client's terminal once the server
/// writes to it. While the writer task has nothing queued, bytes go
/// straight out without waiting; what is not taken at once goes to the
/// writer task, which waits for room. Both ways share the one queue, so a
/// goodbye on the connection never overtakes a frame still on its way to
/// the terminal, and the client restores its terminal after the last frame.
pub struct Link {
    /// The connection's id.
    pub id: u64,
    socket: Arc<OwnedWriteHalf>,
    /// The client's terminal, opened by the server, non-blocking.
    pub terminal: Option<Arc<AsyncFd<std::fs::File>>>,
    /// The client set its terminal up: frames may go to it.
    pub terminal_ready: bool,
    queue: UnboundedSender<Outgoing>,
    /// Messages handed to the writer task and not written yet.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    /// A frame is on its way: the next waits until it is written.
    in_flight: Arc<AtomicBool>,
    writer: tokio::task::AbortHandle,
    /// The task reading the client's terminal, once it runs.
    pub reader: Option<tokio::task::AbortHandle>,
}

impl Drop for Link {
    /// A client the session is done with has its terminal back at once:
    /// not one more key is read from it.
    fn drop(&mut self) {
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }
}

impl Link {
    pub fn control(&self, control: Control) {
        let mut bytes = Vec::new();
        protocol::encode(&Message::Control(control), &mut bytes);
        self.send(bytes, false, false);
    }

    /// Bytes for the client's terminal: written to it by the server, or
    /// sent for the client to write.
    pub fn raw(&self, raw: &[u8]) {
        if self.terminal.is_some() {
            self.send(raw.to_vec(), false, true);
        } else {
            let mut bytes = Vec::new();
            protocol::encode_bytes(raw, &mut bytes);
            self.send(bytes, false, false);
        }
    }

    /// Messages queued and not written yet.
    pub fn backlog(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether frames go to the client's terminal, without a header.
    pub fn writes_terminal(&self) -> bool {
        self.terminal.is_some()
    }

    /// Whether a frame can be drawn for the client now.
    pub fn takes_frames(&self) -> bool {
        !self.in_flight.load(Ordering::Acquire) && (self.terminal.is_none() || self.terminal_ready)
    }

    pub fn send(&self, mut bytes: Vec<u8>, frame: bool, terminal: bool) {
        if self.queued.load(Ordering::Acquire) == 0 {
            let written = match &self.terminal {
                Some(tty) if terminal => crate::write_what_fits(tty.get_ref(), &bytes),
                _ => crate::write_what_fits(TryWrite(&self.socket), &bytes),
            };
            if written == bytes.len() {
                return;
            }
            bytes.drain(..written);
        }
        if frame {
            self.in_flight.store(true, Ordering::Release);
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        let out = Outgoing {
            bytes,
            frame,
            terminal,
        };
        if self.queue.send(out).is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.in_flight.store(false, Ordering::Release);
        }
    }

    /// The client is gone: nothing more goes to what was its terminal,
    /// which its shell has again.
    pub fn cut(&self) {
        self.writer.abort();
        if let Some(reader) = &self.reader {
            reader.abort();
        }
    }

    /// Starts reading the client's terminal for client `id`: its keys,
    /// mouse and pastes come to the loop as events, without a hop through
    /// the client.
    pub fn read_terminal(&mut self, id: u64, to_loop: mpsc::Sender<FromClient>) {
        let Some(tty) = self.terminal.clone() else {
            return;
        };
        if self.reader.is_some() {
            return;
        }
        let task = tokio::spawn(async move {
            let mut parser = crate::input::InputParser::default();
            let mut buf = vec![0u8; 4096];
            loop {
                // An escape that ended the last read is a key of its own
                // unless more follows at once, as a sequence's rest does.
                let ready = match parser.waiting_escape() {
                    true => tokio::time::timeout(ESCAPE_TIME, tty.readable()).await.ok(),
                    false => Some(tty.readable().await),
                };
                let events = match ready {
                    None => parser.flush(),
                    Some(Err(_)) => break,
                    Some(Ok(mut ready)) => {
                        match ready.try_io(|tty| std::io::Read::read(&mut tty.get_ref(), &mut buf))
                        {
                            Err(_would_block) => continue,
                            Ok(Ok(n)) if n > 0 => parser.feed(&buf[..n]),
                            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            // The end of input, or an error: the terminal hung up.
                            Ok(_) => break,
                        }
                    }
                };
                if !events.is_empty() && to_loop.send(FromClient::Typed(id, events)).await.is_err()
                {
                    return;
                }
            }
            let _ = to_loop.send(FromClient::TerminalLost(id)).await;
        });
        self.reader = Some(task.abort_handle());
    }
}

/// A connection's writing half, written without waiting.
struct TryWrite<'a>(&'a OwnedWriteHalf);

impl std::io::Write for TryWrite<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the terminal a client named, for the server to read its input
/// from and write its frames to: only a terminal of the server's own user,
/// never as a controlling terminal, non-blocking so a slow terminal holds
/// nothing up.
pub fn open_terminal(path: &std::path::Path) -> Option<AsyncFd<std::fs::File>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let refuse = || {
        tracing::warn!(path = %path.display(), "a client named a terminal that is not its own");
        None
    };
    // Looked at before it is opened, so nothing but a character device of
    // this user is ever opened, and checked again once open.
    let before = std::fs::symlink_metadata(path).ok()?;
    let uid = nix::unistd::getuid().as_raw();
    if !before.file_type().is_char_device() || before.uid() != uid {
        return refuse();
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK | nix::libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let after = file.metadata().ok()?;
    let same = after.dev() == before.dev() && after.ino() == before.ino();
    if !same || !nix::unistd::isatty(&file).unwrap_or(false) {
        return refuse();
    }
    // SAFETY: the File owns its descriptor, which stays open and the same
    // for as long as the AsyncFd holds it.
    unsafe { AsyncFd::register_with_interest(file, Interest::READABLE | Interest::WRITABLE) }.ok()
}

/// Takes a client's socket off the panic hook's list when its writer ends.
struct Unlist(std::os::fd::RawFd);

impl Drop for Unlist {
    fn drop(&mut self) {
        if let Ok(mut sockets) = CLIENT_SOCKETS.lock() {
            sockets.retain(|(fd, _)| *fd != self.0);
        }
    }
}

/// Reads a connection's hello, then its messages, for the loop.
async fn read_connection(stream: UnixStream, id: u64, to_loop: mpsc::Sender<FromClient>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut decoder = Decoder::new();
    let hello = tokio::time::timeout(HELLO_LIMIT, next_message(&mut reader, &mut decoder)).await;
    let hello = match hello {
        Ok(Some(Message::Control(Control::Hello(hello)))) => hello,
        Ok(_) => return,
        Err(_) => {
            tracing::info!(client = id, "no hello in time: dropped");
            return;
        }
    };
    if let Err(refusal) = protocol::check_hello(&hello) {
        let mut out = Vec::new();
        protocol::encode(&Message::Control(refusal), &mut out);
        let _ = writer.write_all(&out).await;
        return;
    }
    if to_loop
        .send(FromClient::Hello { id, hello, writer })
        .await
        .is_err()
    {
        return;
    }
    while let Some(message) = next_message(&mut reader, &mut decoder).await {
        if let Message::Control(control) = message
            && to_loop
                .send(FromClient::Message(id, control))
                .await
                .is_err()
        {
            return;
        }
    }
    let _ = to_loop.send(FromClient::Gone(id)).await;
}

/// The next message on a connection; `None` at its end or on garbage.
async fn next_message(reader: &mut OwnedReadHalf, decoder: &mut Decoder) -> Option<Message> {
    let mut buf = [0u8; 4096];
    loop {
        match decoder.next() {
            Ok(Some(message)) => return Some(message),
            Ok(None) => {}
            // One message this build cannot read (from a newer client, or
            // out of range) is skipped; the stream goes on.
            Err(
                e @ (ProtocolError::Unknown(_)
                | ProtocolError::Invalid(_)
                | ProtocolError::UnknownKind(_)),
            ) => {
                tracing::warn!(error = %e, "a client's message was skipped");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "a client's stream broke");
                return None;
            }
        }
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => decoder.push(&buf[..n]),
        }
    }
}

/// Makes the link to connection `id`, and to its client's `terminal` if
/// the server writes to it, and starts its writer task, which writes what
/// was not taken at once, in order, and tells the loop when a frame is out,
/// so it can send the next. While the task runs, the panic hook knows the
/// client's socket.
fn link(
    id: u64,
    writer: OwnedWriteHalf,
    terminal: Option<AsyncFd<std::fs::File>>,
    to_loop: mpsc::Sender<FromClient>,
) -> (Link, tokio::task::JoinHandle<()>) {
    let fd = writer.as_ref().as_raw_fd();
    let (queue, mut outbox) = unbounded_channel::<Outgoing>();
    let socket = Arc::new(writer);
    let terminal = terminal.map(Arc::new);
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicBool::new(false));
    if let Ok(mut sockets) = CLIENT_SOCKETS.lock() {
        sockets.push((fd, queued.clone()));
    }
    let task = tokio::spawn({
        let (socket, terminal) = (socket.clone(), terminal.clone());
        let (queued, in_flight) = (queued.clone(), in_flight.clone());
        async move {
            let _listed = Unlist(fd);
            // A terminal that failed (hung up) takes nothing more, and no
            // frame is drawn for it again; the connection still carries
            // what the client is told, its goodbye above all.
            let mut terminal_lost = false;
            while let Some(out) = outbox.recv().await {
                let written = match &terminal {
                    Some(tty) if out.terminal => {
                        !terminal_lost && write_to_terminal(tty, &out.bytes).await.is_ok()
                    }
                    _ => {
                        if write_to_socket(&socket, &out.bytes).await.is_err() {
                            return;
                        }
                        true
                    }
                };
                terminal_lost |= !written;
                queued.fetch_sub(1, Ordering::AcqRel);
                if out.frame && written {
                    in_flight.store(false, Ordering::Release);
                    let _ = to_loop.send(FromClient::Drained(id)).await;
                }
            }
        }
    });
    let link = Link {
        id,
        socket,
        terminal,
        terminal_ready: false,
        queue,
        queued,
        in_flight,
        writer: task.abort_handle(),
        reader: None,
    };
    (link, task)
}

async fn write_to_socket(socket: &OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        socket.writable().await?;
        match socket.try_write(&bytes[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// How long the rest of an escape sequence may take to come before the
/// escape is the Escape key (tmux's `escape-time`; terminals send a
/// sequence at once, a slow link may split it).
const ESCAPE_TIME: Duration = Duration::from_millis(25);

/// How long a terminal may take no output before the server gives up on
/// it (a terminal stopped with XOFF, a hung emulator): the client's
/// goodbye on the connection, queued behind, must not wait for ever.
const TERMINAL_STALL_LIMIT: Duration = Duration::from_secs(10);

async fn write_to_terminal(tty: &AsyncFd<std::fs::File>, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut written = 0;
    while written < bytes.len() {
        let Ok(ready) = tokio::time::timeout(TERMINAL_STALL_LIMIT, tty.writable()).await else {
            return Err(std::io::ErrorKind::TimedOut.into());
        };
        let mut ready = ready?;
        match ready.try_io(|tty| tty.get_ref().write(&bytes[written..])) {
            Ok(Ok(n)) => written += n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}
