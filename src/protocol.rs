//! The messages a client and the server of a session exchange on its socket,
//! and how they are framed.
//!
//! Every message on the wire is `[u32 big-endian length of the rest][u8 kind][body]`.
//! Kind 0 is a control message whose body is JSON ([`Control`]); kind 1 is raw
//! bytes, the terminal output the server sends for the client to write as is, so
//! the hot path carries no encoding. [`Decoder`] turns bytes arriving in any
//! pieces into messages and is tested without sockets; [`read_message`] and
//! [`write_message`] are the blocking helpers for simple clients.
//!
//! Versions: a client opens with a [`Hello`] naming its [`PROTOCOL`]. The
//! server refuses to attach a client that speaks another protocol, but the
//! `info` and `stop` requests, the [`Hello`] that carries them and the answers
//! to them (`Refused`, `Info`, `Stopped`) are kept stable, so any opmux can ask
//! any server what it is and stop it. Unknown fields are ignored when decoding,
//! so a newer peer may add fields without breaking an older one. Sockets,
//! sessions and what the messages make happen are left to the server and the
//! client.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The protocol this build speaks. Raise it whenever a message other than the
/// stable handshake changes in a way an older peer would misread.
pub const PROTOCOL: u32 = 1;

/// The variable in every pane's environment that names its session's
/// socket. A verb run in a pane without a session name acts on that
/// session.
pub const SESSION_VAR: &str = "OPMUX";

/// The longest a message may claim to be (the length field's value). A longer
/// length is refused before anything is allocated for it, so a confused or
/// hostile peer cannot make us reserve gigabytes.
pub const MAX_MESSAGE: usize = 16 << 20;

/// The kind byte of a control message: JSON follows.
const KIND_CONTROL: u8 = 0;
/// The kind byte of raw bytes: terminal output, written as is.
const KIND_BYTES: u8 = 1;
/// Length field plus kind byte.
const HEADER: usize = 5;

/// One message on the socket.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A control message, sent as JSON.
    Control(Control),
    /// Raw bytes: from the server, terminal output for the client to write unchanged.
    Bytes(Vec<u8>),
}

/// The control messages, in both directions. Serialized externally tagged in
/// snake_case: `{"resize":{"cols":80,"rows":24}}`, `"detach"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Client → server, first message: who the client is and what it wants.
    /// Stable across protocol versions.
    Hello(Hello),
    /// Client → server: one event from the client's terminal. Kept as JSON
    /// until the event type is settled.
    Input(serde_json::Value),
    /// Client → server: the client's terminal changed size.
    Resize { cols: u16, rows: u16 },
    /// Client → server: the client leaves; the session goes on.
    Detach,
    /// Client → server: the client's terminal is set up (raw mode, the
    /// alternate screen, the input modes): the server may draw on it and
    /// read from it.
    Ready,
    /// Client → server: the client is being suspended (SIGTSTP); the server
    /// lets go of its terminal until it says [`Control::Ready`] again.
    Suspend,
    /// Server → client: the terminal is let go of, every frame before this
    /// written; the client may hand it back to the shell.
    Suspended,
    /// Client → server: the client got this signal (SIGTERM, SIGINT or
    /// SIGHUP); the server decides whether it quits the session or only
    /// detaches the client.
    Signal { signal: i32 },
    /// Server → client: the attach was accepted, by the server with this
    /// pid (the socket's peer credentials name the process that bound it,
    /// which started the server and is gone).
    Welcome {
        protocol: u32,
        session: String,
        #[serde(default)]
        pid: u32,
        /// The server reads the client's terminal itself, once the client
        /// says [`Control::Ready`]: the client then reads none of it.
        #[serde(default)]
        terminal: bool,
    },
    /// Server → client: the hello was refused; `protocol` is the server's, so
    /// the client can say which opmux to use. Stable across protocol versions.
    Refused { reason: String, protocol: u32 },
    /// Server → client: the answer to an `info` hello. Stable across protocol versions.
    Info(SessionInfo),
    /// Server → client: the client was detached (it asked, or another took over).
    Detached { session: String },
    /// Server → client: the session ended with this exit status.
    Ended {
        status: i32,
        message: Option<String>,
    },
    /// Server → client: the answer to a `stop` hello once the session has
    /// stopped. Stable across protocol versions.
    Stopped,
    /// Server → client: the answer to a `status` hello, every pane in order.
    Status { panes: Vec<PaneStatus> },
    /// Server → client: what a control verb asked for has happened.
    Done,
    /// Server → client: the answer to a `screen` hello.
    Screen(ScreenDump),
    /// Server → client: a control verb could not be done (an unknown pane).
    Failed { message: String },
    /// Server → client: what `wait` waits for can no longer happen.
    Never { reason: String },
    /// Server → client: something happened, for `opmux events`.
    Event(Box<EventLine>),
    /// Server → client: a pane's rendered lines, for `opmux logs`, cleaned.
    Lines { lines: Vec<String> },
}

/// One line of `opmux events`. Fields may be added, never renamed or
/// removed: scripts read them. Every string is cleaned of control
/// characters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// The schema's version: 1.
    pub v: u32,
    /// When it happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// `started`, `ready`, `exited`, `restarting`, `gave_up`, `attention`,
    /// `attention_cleared`, `idle`, `added`, `removed`, `attached`,
    /// `detached`, or `missed` (this reader fell behind).
    pub event: String,
    /// The pane's name and number, for a pane's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// `started`: the run's main process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// `exited`: the exit code (128 + the signal's number for a signal),
    /// and the signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_signal: Option<String>,
    /// `restarting`: after how long, and which restart this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<u32>,
    /// `attention`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// `attached`, `detached`: the client's number in this session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<u64>,
    /// `missed`: how many events this reader missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
}

impl EventLine {
    /// An `event` at `time_ms`, every detail left out.
    pub fn new(event: &str, time_ms: u64) -> Self {
        Self {
            v: 1,
            time_ms,
            event: event.into(),
            ..Self::default()
        }
    }
}

/// What a pane verb does, as `C-b s`, `C-b x`, `C-b r` and `C-b X` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaneAction {
    Start,
    Stop,
    Restart,
    Kill,
}

/// What a pane shows, for `opmux screen`. Every string is cleaned of
/// control sequences, or keeps SGR alone when colours were asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenDump {
    /// The pane's number, as its border shows it, from 1.
    pub number: u32,
    pub name: String,
    /// The title its program set, if any.
    pub title: String,
    /// The screen's size: rows, columns.
    pub size: [u16; 2],
    /// Where the cursor is: row, column, from 0.
    pub cursor: [u16; 2],
    /// The last lines of the scrollback, oldest first, as many as asked.
    pub history: Vec<String>,
    /// Every row of the screen, without trailing blanks.
    pub rows: Vec<String>,
}

/// One pane as `opmux status` reports it. Fields may be added, never
/// renamed or removed: scripts read them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneStatus {
    /// The pane's number, as its border shows it, from 1.
    pub number: u32,
    pub name: String,
    /// One of `not-started`, `starting`, `waiting`, `running`, `stopping`,
    /// `restarting`, `exited`, `failed`.
    pub state: String,
    /// The main process of the run, while the run is not over.
    pub pid: Option<u32>,
    /// Automatic restarts since the last manual start.
    pub restarts: u32,
    /// The current run printed a line matching the pane's `ready` pattern.
    pub ready: bool,
    /// How the last run ended, as a shell tells it: the exit code, or 128
    /// plus the signal's number.
    pub exit_code: Option<i32>,
    /// The signal that ended the last run, if one did: `SIGTERM`.
    pub exit_signal: Option<String>,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Why the pane wants the user (`bell`, `notified: …`, `asks: …`,
    /// `idle`, `ended`), until someone focuses it or types into it.
    #[serde(default)]
    pub attention: Option<String>,
    /// Its TCP port (`port` in opmux.toml), given to it as `PORT`.
    #[serde(default)]
    pub port: Option<u16>,
    /// Its group (`group` in opmux.toml), which `@group` names.
    #[serde(default)]
    pub group: Option<String>,
}

/// `value` as one line of JSON in which every control character is
/// escaped, C1 and DEL included (serde_json leaves those as they are), so
/// that text from a pane printed to a terminal cannot act on it.
pub fn json_line(value: &impl Serialize) -> serde_json::Result<String> {
    let text = serde_json::to_string(value)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            // Outside strings JSON has no control characters at all, and
            // serde_json escapes C0 ones itself.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Seconds since the Unix epoch at `time` (0 before it), as the `_unix`
/// fields of [`SessionInfo`] count.
pub fn unix_seconds(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The names [`Control`] is tagged with on the wire, to tell a message this
/// build does not know from one it knows but cannot read.
const CONTROL_NAMES: &[&str] = &[
    "hello",
    "input",
    "resize",
    "detach",
    "ready",
    "suspend",
    "suspended",
    "signal",
    "welcome",
    "refused",
    "info",
    "detached",
    "ended",
    "stopped",
    "status",
    "done",
    "screen",
    "failed",
    "never",
    "event",
    "lines",
];

/// The names [`Want`] is tagged with on the wire.
const WANT_NAMES: &[&str] = &[
    "attach", "info", "stop", "status", "act", "send", "screen", "wait", "events", "run", "logs",
];

/// A client's first message. Its fields are part of the stable handshake:
/// never rename or remove them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol the client speaks ([`PROTOCOL`] of its build).
    pub protocol: u32,
    /// The client's opmux version, for messages to the user.
    pub version: String,
    /// What the client came for.
    pub want: Want,
}

impl Hello {
    /// A hello from this build: its protocol and version.
    pub fn new(want: Want) -> Self {
        Self {
            protocol: PROTOCOL,
            version: env!("CARGO_PKG_VERSION").to_string(),
            want,
        }
    }
}

/// What a client asks for in its [`Hello`]. `Info` and `Stop` are stable
/// across protocol versions; `Attach` is only served to the same protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Want {
    /// Show the session in the client's terminal of this size.
    Attach {
        cols: u16,
        rows: u16,
        /// Whether the client's terminal has focus now, so focus reports
        /// start out right.
        terminal_focused: bool,
        /// The client's terminal device. The server reads the client's
        /// input from it and writes its frames to it itself, as tmux's
        /// server does, once the client says [`Control::Ready`]; without
        /// it, or if the server cannot open it, input and frames go on the
        /// connection.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tty: Option<std::path::PathBuf>,
    },
    /// Describe the session ([`Control::Info`]) and hang up.
    Info,
    /// Stop the session: gracefully, or at once when `now`.
    Stop { now: bool },
    /// Report every pane ([`Control::Status`]) and hang up.
    Status,
    /// Act on panes, each named by its name or number; [`Control::Done`]
    /// once every one has started, or stopped, as asked.
    Act {
        action: PaneAction,
        panes: Vec<String>,
    },
    /// Type `text` into a pane: as it is, as tmux key names (`keys`), or as
    /// a paste, bracketed if the program asked for that (`paste`).
    Send {
        pane: String,
        text: String,
        #[serde(default)]
        keys: bool,
        #[serde(default)]
        paste: bool,
    },
    /// Answer [`Control::Done`] once `until` holds for the pane (`running`,
    /// `ready`, `exited`, `succeeded`, `match:REGEX`), [`Control::Never`]
    /// once it cannot.
    Wait { pane: String, until: String },
    /// Every event from now on, one [`Control::Event`] each, until the
    /// session ends.
    Events,
    /// A pane's rendered lines ([`Control::Lines`]): its last `lines`, or
    /// all it keeps; with `follow`, then each line as it is finished,
    /// until the pane or the session is gone.
    Logs {
        pane: String,
        #[serde(default)]
        lines: Option<u32>,
        #[serde(default)]
        follow: bool,
    },
    /// Add a pane running `command` (one string runs with `sh -c`, several
    /// are a program and its arguments), named `name` or after its
    /// program, as `C-b c` does; answered with its [`Control::Status`]
    /// once it runs.
    Run {
        #[serde(default)]
        name: Option<String>,
        command: Vec<String>,
    },
    /// What a pane shows ([`Control::Screen`]), with `history` lines of
    /// its scrollback, and colours as SGR when `ansi`.
    Screen {
        pane: String,
        #[serde(default)]
        ansi: bool,
        #[serde(default)]
        history: u32,
    },
}

/// What a server tells about its session. Stable across protocol versions:
/// fields may be added, never renamed or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The session's name, as in `opmux attach NAME`.
    pub name: String,
    /// The folder the session was started in.
    pub folder: String,
    /// The configuration file it was started from, if any.
    pub config: Option<String>,
    pub panes_running: u32,
    pub panes_total: u32,
    /// How many clients are attached.
    pub clients: u32,
    /// When the server started, in seconds since the Unix epoch.
    pub started_unix: u64,
    /// The server's process id.
    pub pid: u32,
    /// When a client last attached or typed, in seconds since the Unix
    /// epoch; 0 from a server that does not say.
    #[serde(default)]
    pub used_unix: u64,
    /// The session runs without a screen (`--no-tui`): the verbs reach it,
    /// `attach` does not.
    #[serde(default)]
    pub no_tui: bool,
}

/// Why bytes from the socket could not be read as a message. The kinds are
/// apart so that a server can answer "unknown message" to a newer client
/// instead of dropping it, and tell a broken stream from one bad message.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("reading a message: {0}")]
    Io(#[from] io::Error),
    /// The connection ended inside a message.
    #[error("the connection ended in the middle of a message")]
    Truncated,
    /// The length field is zero: there is not even a kind byte. The stream
    /// cannot be trusted after this.
    #[error("a message of length 0 (no kind byte)")]
    Empty,
    /// The length field is over [`MAX_MESSAGE`]. The stream cannot be trusted
    /// after this.
    #[error("a message claims {0} bytes; at most {MAX_MESSAGE} are allowed")]
    TooLong(usize),
    /// The kind byte is neither control (0) nor bytes (1).
    #[error("a message of kind {0}; only 0 (control) and 1 (bytes) exist")]
    UnknownKind(u8),
    /// A well-formed control message this build does not know, probably from
    /// a newer opmux; holds its name.
    #[error("unknown message `{0}`")]
    Unknown(String),
    /// A control message that is not valid JSON or not the shape its name says.
    #[error("a control message that cannot be read: {0}")]
    Invalid(#[source] serde_json::Error),
}

/// Answers a client's hello: `Ok` to serve it, or the [`Control::Refused`] to
/// send back. A client of another protocol is refused an attach, since it would
/// misread the messages that follow, but its `info` and `stop` requests are
/// served: they are kept stable so that any opmux can see and stop a session.
pub fn check_hello(hello: &Hello) -> Result<(), Control> {
    if hello.protocol == PROTOCOL {
        return Ok(());
    }
    match hello.want {
        Want::Info | Want::Stop { .. } => Ok(()),
        Want::Attach { .. }
        | Want::Status
        | Want::Act { .. }
        | Want::Send { .. }
        | Want::Wait { .. }
        | Want::Events
        | Want::Logs { .. }
        | Want::Run { .. }
        | Want::Screen { .. } => Err(Control::Refused {
            reason: format!(
                "opmux {} speaks protocol {}; this server (version {}) speaks protocol {}: \
                 use the opmux that started the session, or stop it with `opmux kill-session`",
                hello.version,
                hello.protocol,
                env!("CARGO_PKG_VERSION"),
                PROTOCOL
            ),
            protocol: PROTOCOL,
        }),
    }
}

/// Appends `msg`, framed, to `out`. Bytes longer than a message may hold go out
/// as several messages, which the receiver writes one after the other as if
/// they were one. A control message's JSON is not split: one over
/// [`MAX_MESSAGE`] is refused by the receiver, and [`write_message`] refuses to
/// send it.
pub fn encode(msg: &Message, out: &mut Vec<u8>) {
    match msg {
        Message::Bytes(bytes) => encode_bytes(bytes, out),
        Message::Control(control) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            out.push(KIND_CONTROL);
            // Writing JSON into a Vec cannot fail for these types: every map in
            // them is keyed by strings and no Serialize of theirs returns errors.
            serde_json::to_writer(&mut *out, control).expect("control messages always serialize");
            let len = out.len() - start - 4;
            out[start..start + 4].copy_from_slice(&frame_len(len).to_be_bytes());
        }
    }
}

/// Appends `bytes` framed as raw-bytes messages to `out`, without building a
/// [`Message`]: the server's path for terminal output.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    // Empty output still makes one (empty) message, so encoding is a faithful
    // round trip of every Message.
    if bytes.is_empty() {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.push(KIND_BYTES);
        return;
    }
    out.reserve(bytes.len() + HEADER * bytes.len().div_ceil(MAX_MESSAGE - 1));
    for chunk in bytes.chunks(MAX_MESSAGE - 1) {
        out.extend_from_slice(&frame_len(chunk.len() + 1).to_be_bytes());
        out.push(KIND_BYTES);
        out.extend_from_slice(chunk);
    }
}

/// Starts a raw-bytes message at the end of `out` for bytes written right
/// after it, such as a frame drawn there, so they need not be copied behind
/// a header; [`finish_bytes`] with what this returns completes it.
pub fn start_bytes(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(KIND_BYTES);
    start
}

/// Completes the message [`start_bytes`] began at `start`: its length, or,
/// when the bytes are too many for one message, several messages instead.
pub fn finish_bytes(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start - 4;
    if len > MAX_MESSAGE {
        let body = out.split_off(start + HEADER);
        out.truncate(start);
        encode_bytes(&body, out);
        return;
    }
    out[start..start + 4].copy_from_slice(&frame_len(len).to_be_bytes());
}

/// A frame length as the u32 of the wire. Lengths over `u32::MAX` only arise
/// from control messages far over [`MAX_MESSAGE`], which the receiver refuses
/// anyway; saturating keeps them refused instead of wrapping into a valid one.
fn frame_len(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Turns bytes arriving in arbitrary pieces into complete messages.
///
/// After [`ProtocolError::Empty`] or [`ProtocolError::TooLong`] the stream has
/// lost its framing: every later call returns the same error and the
/// connection should be closed. The other errors consume their message, so
/// the caller may answer and read on.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the unread bytes start in `buf`; what is before was handed out.
    start: usize,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes as they came from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, or `None` until enough bytes were pushed.
    #[allow(clippy::should_implement_trait)] // fallible and resumable, unlike Iterator::next
    pub fn next(&mut self) -> Result<Option<Message>, ProtocolError> {
        let unread = &self.buf[self.start..];
        let Some(header) = unread.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = check_len(u32::from_be_bytes(*header))?;
        let Some(frame) = unread.get(4..4 + len) else {
            return Ok(None);
        };
        let message = decode(frame[0], &frame[1..]);
        self.start += 4 + len;
        message.map(Some)
    }
}

/// The length field as a usize, refused when it cannot be a message.
fn check_len(len: u32) -> Result<usize, ProtocolError> {
    // u32 fits in usize on every platform opmux builds for (Unix, 32 or 64 bit).
    let len = usize::try_from(len).expect("u32 fits in usize");
    match len {
        0 => Err(ProtocolError::Empty),
        n if n > MAX_MESSAGE => Err(ProtocolError::TooLong(n)),
        n => Ok(n),
    }
}

/// One message from its kind byte and body.
fn decode(kind: u8, body: &[u8]) -> Result<Message, ProtocolError> {
    match kind {
        KIND_BYTES => Ok(Message::Bytes(body.to_vec())),
        KIND_CONTROL => decode_control(body).map(Message::Control),
        other => Err(ProtocolError::UnknownKind(other)),
    }
}

/// A control message from its JSON; one whose name (or whose hello's want)
/// this build does not know is [`ProtocolError::Unknown`].
fn decode_control(body: &[u8]) -> Result<Control, ProtocolError> {
    let error = match serde_json::from_slice(body) {
        Ok(control) => return Ok(control),
        Err(error) => error,
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Err(ProtocolError::Invalid(error));
    };
    match tag(&value) {
        Some((name, _)) if !CONTROL_NAMES.contains(&name) => {
            Err(ProtocolError::Unknown(name.to_string()))
        }
        Some(("hello", Some(hello))) => match hello.get("want").and_then(tag) {
            Some((want, _)) if !WANT_NAMES.contains(&want) => {
                Err(ProtocolError::Unknown(format!("hello wanting `{want}`")))
            }
            _ => Err(ProtocolError::Invalid(error)),
        },
        _ => Err(ProtocolError::Invalid(error)),
    }
}

/// The variant name of an externally tagged enum value and its content:
/// `"detach"` or `{"resize": {...}}`.
fn tag(value: &serde_json::Value) -> Option<(&str, Option<&serde_json::Value>)> {
    match value {
        serde_json::Value::String(name) => Some((name, None)),
        serde_json::Value::Object(map) if map.len() == 1 => map
            .iter()
            .next()
            .map(|(name, content)| (name.as_str(), Some(content))),
        _ => None,
    }
}

/// Writes one message and flushes. A control message too long for the peer
/// to accept is refused with `InvalidInput` before anything is written.
pub fn write_message(w: &mut impl Write, msg: &Message) -> io::Result<()> {
    let mut out = Vec::new();
    encode(msg, &mut out);
    if matches!(msg, Message::Control(_)) && out.len() - 4 > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a control message of {} bytes; at most {MAX_MESSAGE} are allowed",
                out.len() - 4
            ),
        ));
    }
    w.write_all(&out)?;
    w.flush()
}

/// Reads one message, blocking. `None` when the stream ends cleanly between
/// messages; [`ProtocolError::Truncated`] when it ends inside one. Nothing is
/// allocated for a length over [`MAX_MESSAGE`], and the body's buffer grows
/// with the bytes that actually arrive, not with what the length claims.
pub fn read_message(r: &mut impl Read) -> Result<Option<Message>, ProtocolError> {
    let mut header = [0; 4];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(ProtocolError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = check_len(u32::from_be_bytes(header))?;
    let mut kind = [0; 1];
    r.read_exact(&mut kind).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ProtocolError::Truncated,
        _ => e.into(),
    })?;
    // The body is read into the buffer it is handed out in: terminal
    // output is not copied again. `len` is at most MAX_MESSAGE.
    let mut body = Vec::with_capacity((len - 1).min(64 << 10));
    r.take(len as u64 - 1).read_to_end(&mut body)?;
    if body.len() < len - 1 {
        return Err(ProtocolError::Truncated);
    }
    match kind[0] {
        KIND_BYTES => Ok(Some(Message::Bytes(body))),
        kind => decode(kind, &body).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_control() -> Vec<Control> {
        vec![
            Control::Hello(Hello::new(Want::Attach {
                cols: 120,
                rows: 40,
                terminal_focused: true,
                tty: Some("/dev/pts/7".into()),
            })),
            Control::Hello(Hello::new(Want::Attach {
                cols: 80,
                rows: 24,
                terminal_focused: false,
                tty: None,
            })),
            Control::Hello(Hello::new(Want::Info)),
            Control::Hello(Hello::new(Want::Stop { now: true })),
            Control::Hello(Hello::new(Want::Status)),
            Control::Hello(Hello::new(Want::Act {
                action: PaneAction::Restart,
                panes: vec!["api".into(), "2".into()],
            })),
            Control::Hello(Hello::new(Want::Send {
                pane: "agent".into(),
                text: "C-c Enter".into(),
                keys: true,
                paste: false,
            })),
            Control::Hello(Hello::new(Want::Screen {
                pane: "1".into(),
                ansi: true,
                history: 20,
            })),
            Control::Done,
            Control::Hello(Hello::new(Want::Events)),
            Control::Hello(Hello::new(Want::Logs {
                pane: "api".into(),
                lines: Some(20),
                follow: true,
            })),
            Control::Lines {
                lines: vec!["GET /".into(), String::new()],
            },
            Control::Hello(Hello::new(Want::Run {
                name: Some("worker".into()),
                command: vec!["python3".into(), "-m".into(), "http.server".into()],
            })),
            Control::Event(Box::new(EventLine {
                v: 1,
                time_ms: 1_700_000_000_000,
                event: "exited".into(),
                pane: Some("api".into()),
                number: Some(1),
                exit_code: Some(143),
                exit_signal: Some("SIGTERM".into()),
                ..EventLine::default()
            })),
            Control::Never {
                reason: "api exited 1".into(),
            },
            Control::Hello(Hello::new(Want::Wait {
                pane: "api".into(),
                until: "match:listening on".into(),
            })),
            Control::Failed {
                message: "no pane `x`".into(),
            },
            Control::Screen(ScreenDump {
                number: 1,
                name: "api".into(),
                title: "t".into(),
                size: [24, 80],
                cursor: [3, 4],
                history: vec!["old".into()],
                rows: vec!["now".into(), String::new()],
            }),
            Control::Input(serde_json::json!({"key": {"code": "a", "mods": ["ctrl"]}})),
            Control::Resize { cols: 80, rows: 24 },
            Control::Detach,
            Control::Ready,
            Control::Suspend,
            Control::Suspended,
            Control::Signal { signal: 15 },
            Control::Welcome {
                protocol: PROTOCOL,
                session: "web".into(),
                pid: 4321,
                terminal: true,
            },
            Control::Refused {
                reason: "no".into(),
                protocol: PROTOCOL,
            },
            Control::Info(sample_info()),
            Control::Detached {
                session: "web".into(),
            },
            Control::Ended {
                status: 3,
                message: Some("db exited with status 3".into()),
            },
            Control::Ended {
                status: 0,
                message: None,
            },
            Control::Stopped,
            Control::Status {
                panes: vec![PaneStatus {
                    number: 1,
                    name: "api".into(),
                    state: "exited".into(),
                    pid: None,
                    restarts: 2,
                    ready: false,
                    exit_code: Some(143),
                    exit_signal: Some("SIGTERM".into()),
                    command: vec!["/bin/sh".into(), "-c".into(), "serve".into()],
                    attention: Some("asks: Proceed? (y/n)".into()),
                    port: Some(5000),
                    group: Some("backend".into()),
                }],
            },
        ]
    }

    #[test]
    fn json_lines_escape_every_control_character_and_read_back_the_same() {
        let text = "a\u{1b}[31m\u{7f}\u{85}\u{9b}2J\n\u{9c}z é";
        let value = serde_json::json!({ "text": text });
        let line = json_line(&value).unwrap();
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.contains("\\u009b") && line.contains("\\u007f"),
            "{line}"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
    }

    fn sample_info() -> SessionInfo {
        SessionInfo {
            name: "web".into(),
            folder: "/home/me/web".into(),
            config: Some("/home/me/web/opmux.toml".into()),
            panes_running: 2,
            panes_total: 3,
            clients: 1,
            started_unix: 1_700_000_000,
            pid: 4242,
            used_unix: 1_700_000_100,
            no_tui: false,
        }
    }

    fn every_message() -> Vec<Message> {
        let mut all: Vec<Message> = every_control().into_iter().map(Message::Control).collect();
        all.push(Message::Bytes(b"\x1b[2Jhello\r\n".to_vec()));
        all.push(Message::Bytes((0..=255).collect()));
        all.push(Message::Bytes(Vec::new()));
        all
    }

    fn encoded(messages: &[Message]) -> Vec<u8> {
        let mut out = Vec::new();
        for msg in messages {
            encode(msg, &mut out);
        }
        out
    }

    fn decode_all(decoder: &mut Decoder) -> Vec<Message> {
        let mut got = Vec::new();
        while let Some(msg) = decoder.next().expect("valid stream") {
            got.push(msg);
        }
        got
    }

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(body.len() + 1)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.push(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn bytes_written_behind_a_started_message_encode_as_encode_bytes_does() {
        let mut started = b"before".to_vec();
        let start = start_bytes(&mut started);
        started.extend_from_slice(b"\x1b[2Jframe");
        finish_bytes(&mut started, start);
        let mut encoded = b"before".to_vec();
        encode_bytes(b"\x1b[2Jframe", &mut encoded);
        assert_eq!(started, encoded);
    }

    #[test]
    fn every_message_survives_a_round_trip() {
        let all = every_message();
        let mut decoder = Decoder::new();
        decoder.push(&encoded(&all));
        assert_eq!(decode_all(&mut decoder), all);
    }

    #[test]
    fn every_control_is_tagged_with_a_name_the_decoder_knows() {
        for control in every_control() {
            let json = serde_json::to_value(&control).unwrap();
            let (name, _) = tag(&json).expect("externally tagged");
            assert!(
                CONTROL_NAMES.contains(&name),
                "{name} missing from CONTROL_NAMES"
            );
        }
        for want in [
            Want::Info,
            Want::Stop { now: false },
            Want::Attach {
                cols: 1,
                rows: 1,
                terminal_focused: false,
                tty: None,
            },
            Want::Act {
                action: PaneAction::Kill,
                panes: vec![],
            },
            Want::Send {
                pane: "1".into(),
                text: String::new(),
                keys: false,
                paste: true,
            },
            Want::Screen {
                pane: "1".into(),
                ansi: false,
                history: 0,
            },
            Want::Wait {
                pane: "1".into(),
                until: "ready".into(),
            },
            Want::Events,
            Want::Run {
                name: None,
                command: vec!["true".into()],
            },
            Want::Logs {
                pane: "1".into(),
                lines: None,
                follow: false,
            },
        ] {
            let json = serde_json::to_value(&want).unwrap();
            let (name, _) = tag(&json).expect("externally tagged");
            assert!(WANT_NAMES.contains(&name), "{name} missing from WANT_NAMES");
        }
    }

    #[test]
    fn bytes_arriving_one_at_a_time_decode_the_same() {
        let all = every_message();
        let wire = encoded(&all);
        let mut decoder = Decoder::new();
        let mut got = Vec::new();
        for byte in &wire {
            decoder.push(std::slice::from_ref(byte));
            got.extend(decode_all(&mut decoder));
        }
        assert_eq!(got, all);
    }

    #[test]
    fn a_truncated_message_yields_nothing_until_it_is_complete() {
        let msg = Message::Control(Control::Resize { cols: 80, rows: 24 });
        let wire = encoded(std::slice::from_ref(&msg));
        let mut decoder = Decoder::new();
        for cut in 0..wire.len() {
            decoder.push(&wire[cut..cut + 1]);
            if cut + 1 < wire.len() {
                assert_eq!(decoder.next().unwrap(), None, "after {} bytes", cut + 1);
            }
        }
        assert_eq!(decoder.next().unwrap(), Some(msg));
        assert_eq!(decoder.next().unwrap(), None);
    }

    #[test]
    fn a_length_over_the_limit_is_an_error_without_allocating_it() {
        for len in [MAX_MESSAGE + 1, u32::MAX as usize] {
            let mut wire = u32::try_from(len).unwrap().to_be_bytes().to_vec();
            wire.push(KIND_BYTES);
            let mut decoder = Decoder::new();
            decoder.push(&wire);
            assert!(matches!(decoder.next(), Err(ProtocolError::TooLong(n)) if n == len));
            assert!(
                decoder.buf.capacity() < 1024,
                "decoder reserved for the claim"
            );
            // The framing is lost: the error stays.
            assert!(matches!(decoder.next(), Err(ProtocolError::TooLong(_))));

            let mut reader = io::Cursor::new(wire.clone());
            assert!(
                matches!(read_message(&mut reader), Err(ProtocolError::TooLong(n)) if n == len)
            );
            assert_eq!(reader.position(), 4, "read past the length it refused");
        }
    }

    #[test]
    fn a_length_at_the_limit_is_accepted() {
        let body = vec![b'x'; MAX_MESSAGE - 1];
        let mut decoder = Decoder::new();
        decoder.push(&frame(KIND_BYTES, &body));
        assert_eq!(decoder.next().unwrap(), Some(Message::Bytes(body)));
    }

    #[test]
    fn bytes_longer_than_a_message_go_out_as_several() {
        let body: Vec<u8> = (0..MAX_MESSAGE + 10).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        encode_bytes(&body, &mut wire);
        let mut decoder = Decoder::new();
        decoder.push(&wire);
        let got = decode_all(&mut decoder);
        assert_eq!(got.len(), 2);
        let joined: Vec<u8> = got
            .into_iter()
            .flat_map(|m| match m {
                Message::Bytes(b) => b,
                Message::Control(c) => panic!("unexpected {c:?}"),
            })
            .collect();
        assert_eq!(joined, body);
    }

    #[test]
    fn a_zero_length_is_an_error() {
        let mut decoder = Decoder::new();
        decoder.push(&[0, 0, 0, 0]);
        assert!(matches!(decoder.next(), Err(ProtocolError::Empty)));
    }

    #[test]
    fn an_unknown_kind_byte_is_an_error_and_the_stream_reads_on() {
        let mut decoder = Decoder::new();
        decoder.push(&frame(7, b"whatever"));
        decoder.push(&frame(KIND_BYTES, b"ok"));
        let err = decoder.next().unwrap_err();
        assert!(matches!(err, ProtocolError::UnknownKind(7)));
        assert!(err.to_string().contains("kind 7"), "{err}");
        assert_eq!(
            decoder.next().unwrap(),
            Some(Message::Bytes(b"ok".to_vec()))
        );
    }

    #[test]
    fn json_that_is_not_a_control_message_is_invalid_not_a_panic() {
        for body in [
            &b"{not json"[..],
            b"",
            b"\xff\xfe",
            b"42",
            b"{\"resize\":{\"cols\":\"wide\",\"rows\":1}}",
            b"{\"resize\":{\"cols\":70000,\"rows\":1}}",
            b"{\"resize\":{},\"detach\":null}",
            b"{\"hello\":{\"protocol\":1}}",
        ] {
            let mut decoder = Decoder::new();
            decoder.push(&frame(KIND_CONTROL, body));
            let got = decoder.next();
            assert!(
                matches!(got, Err(ProtocolError::Invalid(_))),
                "{:?} gave {got:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_control_message_this_build_does_not_know_is_named() {
        let cases: [(&[u8], &str); 4] = [
            (b"{\"split_window\":{\"vertical\":true}}", "split_window"),
            (b"\"ping\"", "ping"),
            (
                b"{\"hello\":{\"protocol\":2,\"version\":\"9\",\"want\":{\"screenshot\":{}}}}",
                "hello wanting `screenshot`",
            ),
            (
                b"{\"hello\":{\"protocol\":2,\"version\":\"9\",\"want\":\"watch\"}}",
                "hello wanting `watch`",
            ),
        ];
        for (body, name) in cases {
            let mut decoder = Decoder::new();
            decoder.push(&frame(KIND_CONTROL, body));
            match decoder.next() {
                Err(ProtocolError::Unknown(got)) => assert_eq!(got, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_newer_hello_with_extra_fields_decodes() {
        let body = br#"{"hello":{"protocol":2,"version":"0.9.0","want":{"attach":{"cols":100,"rows":30,"terminal_focused":false,"true_colour":true}},"features":["zstd"]}}"#;
        let mut decoder = Decoder::new();
        decoder.push(&frame(KIND_CONTROL, body));
        let Some(Message::Control(Control::Hello(hello))) = decoder.next().unwrap() else {
            panic!("not a hello");
        };
        assert_eq!(hello.protocol, 2);
        assert_eq!(hello.version, "0.9.0");
        assert_eq!(
            hello.want,
            Want::Attach {
                cols: 100,
                rows: 30,
                terminal_focused: false,
                tty: None,
            }
        );
    }

    #[test]
    fn another_protocol_is_refused_an_attach_naming_both_protocols() {
        let hello = Hello {
            protocol: PROTOCOL + 1,
            version: "0.9.0".into(),
            want: Want::Attach {
                cols: 80,
                rows: 24,
                terminal_focused: true,
                tty: None,
            },
        };
        let Err(Control::Refused { reason, protocol }) = check_hello(&hello) else {
            panic!("attach from protocol {} accepted", PROTOCOL + 1);
        };
        assert_eq!(protocol, PROTOCOL);
        assert!(
            reason.starts_with(&format!("opmux 0.9.0 speaks protocol {}; ", PROTOCOL + 1)),
            "{reason}"
        );
        assert!(
            reason.contains(&format!(
                "this server (version {}) speaks protocol {PROTOCOL}",
                env!("CARGO_PKG_VERSION")
            )),
            "{reason}"
        );
        assert!(reason.contains("opmux kill-session"), "{reason}");
    }

    #[test]
    fn another_protocol_may_still_ask_for_info_and_stop() {
        for protocol in [0, PROTOCOL + 1, u32::MAX] {
            for want in [
                Want::Info,
                Want::Stop { now: false },
                Want::Stop { now: true },
            ] {
                let hello = Hello {
                    protocol,
                    version: "9.9.9".into(),
                    want: want.clone(),
                };
                assert_eq!(
                    check_hello(&hello),
                    Ok(()),
                    "{want:?} from protocol {protocol}"
                );
            }
        }
    }

    #[test]
    fn the_same_protocol_is_accepted_for_everything() {
        for want in [
            Want::Info,
            Want::Stop { now: true },
            Want::Status,
            Want::Attach {
                cols: 80,
                rows: 24,
                terminal_focused: false,
                tty: None,
            },
        ] {
            assert_eq!(check_hello(&Hello::new(want)), Ok(()));
        }
    }

    /// Guards the stable handshake: these strings are what every past and
    /// future opmux sends and expects. A failure here means old clients can
    /// no longer stop or inspect new servers (or the reverse).
    #[test]
    fn the_stable_handshake_json_does_not_change() {
        let json = |c: &Control| serde_json::to_string(c).unwrap();
        let hello = |want| {
            Control::Hello(Hello {
                protocol: 1,
                version: "0.1.0".into(),
                want,
            })
        };
        assert_eq!(
            json(&hello(Want::Stop { now: true })),
            r#"{"hello":{"protocol":1,"version":"0.1.0","want":{"stop":{"now":true}}}}"#
        );
        assert_eq!(
            json(&hello(Want::Info)),
            r#"{"hello":{"protocol":1,"version":"0.1.0","want":"info"}}"#
        );
        assert_eq!(
            serde_json::to_string(&Want::Stop { now: false }).unwrap(),
            r#"{"stop":{"now":false}}"#
        );
        assert_eq!(
            json(&Control::Refused {
                reason: "why".into(),
                protocol: 1
            }),
            r#"{"refused":{"reason":"why","protocol":1}}"#
        );
        assert_eq!(json(&Control::Stopped), r#""stopped""#);
        assert_eq!(
            json(&Control::Info(sample_info())),
            r#"{"info":{"name":"web","folder":"/home/me/web","config":"/home/me/web/opmux.toml","panes_running":2,"panes_total":3,"clients":1,"started_unix":1700000000,"pid":4242,"used_unix":1700000100,"no_tui":false}}"#
        );
    }

    #[test]
    fn the_frame_layout_is_length_kind_body() {
        let mut out = Vec::new();
        encode(&Message::Bytes(b"hi".to_vec()), &mut out);
        assert_eq!(out, [0, 0, 0, 3, 1, b'h', b'i']);
        out.clear();
        encode(&Message::Control(Control::Detach), &mut out);
        assert_eq!(out, [&[0, 0, 0, 9, 0][..], b"\"detach\""].concat());
    }

    #[test]
    fn read_message_reads_a_stream_and_ends_cleanly() {
        let all = every_message();
        let mut wire = Vec::new();
        for msg in &all {
            write_message(&mut wire, msg).unwrap();
        }
        assert_eq!(wire, encoded(&all));
        let mut reader = io::Cursor::new(wire);
        let mut got = Vec::new();
        while let Some(msg) = read_message(&mut reader).unwrap() {
            got.push(msg);
        }
        assert_eq!(got, all);
    }

    #[test]
    fn read_message_reports_a_stream_cut_inside_a_message() {
        let wire = encoded(&[Message::Bytes(b"hello".to_vec())]);
        for cut in 1..wire.len() {
            let mut reader = io::Cursor::new(&wire[..cut]);
            assert!(
                matches!(read_message(&mut reader), Err(ProtocolError::Truncated)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn write_message_refuses_a_control_message_too_long_to_be_read() {
        let huge = Control::Input(serde_json::Value::String("x".repeat(MAX_MESSAGE)));
        let mut wire = Vec::new();
        let err = write_message(&mut wire, &Message::Control(huge)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.is_empty());
    }
}
