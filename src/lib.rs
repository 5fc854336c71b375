//! opmux runs several long-lived commands side by side, each under its own
//! pseudo-terminal, and stops every one of their processes when it quits.
//!
//! Layout, one line per module; data flows from the panes to the task that owns
//! the session (the server's, or the headless front end's), which draws it:
//!
//! - `cli`: the clap definitions of the command line, nothing else (and the whole of
//!   it as one clap command, for completions and the man page).
//! - `manual`: `opmux man`, the roff page: clap's sections, then the keys and the
//!   opmux.toml reference.
//! - `config`: turns the command line, an opmux.toml (`config::file`) and Procfiles
//!   (`config::procfile`) into `Settings` and `PaneSpec`s, checking them before the
//!   terminal is touched; errors name file, line, column and field. `config::ports`
//!   chooses opmux.toml panes' ports and expands `${port}` and `${NAME.port}`
//!   (a Procfile's processes get foreman's in `config`, counted from the `PORT`
//!   of the `.env` beside it or of opmux);
//!   `config::probe` describes health probes and `config::watch` the files whose
//!   changes restart a pane.
//! - `pane`: one pane is a process plus its screen. `pane::pty` is the only user of
//!   portable-pty (sized spawn with `iutf8`, resize, reader/parser/writer threads, the
//!   parser's lookahead that spares history reads of rows a flood will evict);
//!   `pane::screen` wraps the vt100 parser, answers the terminal queries it leaves
//!   unanswered (DECRQM included), tracks the modes it ignores (focus events 1004,
//!   synchronized output 2026), matches `ready` patterns, writes the pane's log of
//!   rendered lines and collects finished lines for the headless front end;
//!   `pane::recent` keeps the last of those lines where no history does, for the
//!   control verbs;
//!   `pane::rewrite` turns the sequences and modes vt100 lacks (DEC graphics, insert
//!   mode, autowrap off, tab stops, SGR forms, conceal, DECCOLM, ...) into ones it
//!   knows on their way to the parser; `pane::history` keeps the rows that scrolled off
//!   as compact lines (text plus style runs); `pane::reflow` lays the screen's lines
//!   out again when the pane is resized; `pane::published` is what the main task reads
//!   without the screen's lock: the input modes, when a synchronized update began, and
//!   a copy of a busy screen for drawing.
//! - `process`: process lifecycle: subreaper, the one reaper (`waitpid`), finding a pane's
//!   processes (session, foreground group, tagged escapees) and signalling them by pidfd;
//!   probes' commands are started here so that their ends reach them;
//!   `process::proc` reads the process table, and who listens on a port, from /proc.
//! - `probe`: a run's health probes (HTTP with ureq on blocking threads, TCP, a
//!   command started and reaped through `process`), tasks beside the loop that send
//!   each try's result as an event; the session decides readiness and health.
//! - `watch`: one file watcher (notify) for every pane that watches files; changes
//!   go to the session as events, which restarts panes once a burst is over.
//! - `event`: the `Event` enum every producer sends to the main task.
//! - `keys`: the prefix state machine and xterm encoding of keys (pure).
//! - `input`: what a terminal sends (keys, mouse, pastes, focus) parsed into the events
//!   crossterm gives, for the server, which reads its clients' terminals (pure).
//! - `mouse`: mouse reports in the encoding a pane's program asked for, and OSC 52 (pure).
//! - `prompt`: the one-line editor with history behind `C-b c`, `C-b ,` and search (pure).
//! - `scroll`: scroll mode: history and screen as one run of lines, the view anchored on
//!   them, cursor, search and selection (pure).
//! - `layout`: pane rectangles and neighbour search (pure).
//! - `session`: the panes, each pane's lifecycle and supervision (dependencies,
//!   restart policies with backoff), zoom and layout, panes added and closed at
//!   runtime, and the shutdown; driven by `Command`s addressed to a pane and by
//!   process events, answering with `Effect`s; it knows no terminal and no client.
//!   It also keeps each pane's attention (a bell, a notification, a line matching
//!   `attention`, quiet after output for `idle_after`, a run ended unwatched) until
//!   a view focuses the pane or something is typed into it, and notes what happens
//!   to the panes while someone reads `opmux events`.
//!   `session::control` answers the control verbs: panes found by name or number,
//!   the bytes `send` types, the screen `screen` prints (cleaned, or SGR alone; the
//!   last lines kept, for a pane without a screen), when a `start`, `stop`,
//!   `restart` or `kill` has happened, and whether what `wait` waits for holds, or
//!   never will.
//! - `view`: one client's view of the session: focus, the prefix state, help, the
//!   prompt, scroll mode and selections, mouse routing, focus reports; it reads the
//!   session and turns input into commands.
//! - `app`: one session with one view, the unit both front ends drive:
//!   `update(Event) -> Vec<Effect>` routes input to the view and everything else to
//!   the session; no I/O, so tests drive it directly.
//! - `log`: opmux's own log file of pane starts, exits, signals and errors (tracing).
//! - `ui`: `render_cached(&Session, &View)` into a ratatui frame: panes or their scroll views, titles, status
//!   line or prompt, help overlay; a pane whose parser holds its screen is drawn from its
//!   copy or as last seen, never waited for, and one in the middle of a synchronized
//!   update as last seen, for 150 ms at most. Each frame is drawn over the last,
//!   redrawing only the rows a pane's screen reports changed (`pane::screen::Damage`).
//!   - `ui::paint`: keeps what the terminal shows and sends only the rows a frame touched,
//!     each frame as one synchronized update.
//! - `runtime`: what every front end needs once panes run: signals, carrying out
//!   effects (spawning, writing, signalling, removing) on any `Host`, routing reaped
//!   children, counting a stopping pane's processes, closing the logs.
//! - `driver`: the one event loop both front ends run on: panes' events, signals,
//!   reaping, recounts, deadlines and the shutdown's end, with a `FrontEnd` adding
//!   what it shows, its own sources (clients) and its own timers (frames, lines).
//! - `headless`: the prefixed-line front end (`--no-tui`, or stdout not a terminal): each
//!   rendered line as `name | line`, lifecycle lines, the exit status from the panes';
//!   its session has a socket too and takes the control verbs; a `FrontEnd` on the
//!   driver.
//! - `link`: a session's socket, for both front ends: accepting only the same user,
//!   each connection's hello and messages read for the loop, and the `Link` that
//!   writes to a connection (and to a client's terminal the server opened) without
//!   ever making the loop wait.
//! - `control`: the control verbs' requests, for both front ends: turned into the
//!   session's commands, each connection kept until its answer is due (a pane verb's
//!   change happened, a wait's condition holds, the session stopped), and the
//!   `events` and `logs -f` readers told as things happen, dropping rather than
//!   queueing for a slow one.
//! - `registry`: where sessions' sockets live (a private folder per user), session
//!   names, claiming a name under a lock, finding live sessions and clearing stale
//!   sockets, and checking that a peer is the same user.
//! - `protocol`: the versioned messages between a session's server and its clients,
//!   framed as length, kind and body; control messages are JSON, terminal output raw;
//!   the report `status` prints, and JSON with every control character escaped.
//! - `server`: every session with a terminal runs here, in a process of its own,
//!   detached from any terminal: the subreaper and reaper of its panes, listening on
//!   its socket (`link`, `control`), frame pacing, one view and one painter per attached client, at most
//!   one frame on its way to each; where it can open a client's terminal, it reads
//!   the input from it and writes the frames to it itself, else both go on the
//!   connection; a `FrontEnd` on the driver.
//! - `client`: the attached terminal: raw mode, signals and size changes sent to the
//!   server (and the input and frames when the server cannot open the terminal), the
//!   terminal restored on every way out; also the one-shot requests behind `ls`,
//!   `status`, `kill-session` and the control verbs (`send`, `screen`, `wait`, `events`,
//!   `logs`, `run`, `start`, `stop`, `restart`, `kill`), which wait for their answer.
//!   The attached client runs as its own program, `opmux-attach`
//!   (`src/bin/opmux-attach.rs`), where it is installed beside `opmux`.

pub mod app;
pub mod cli;
pub mod client;
pub mod config;
pub mod control;
pub mod driver;
pub mod event;
pub mod headless;
pub mod input;
pub mod keys;
pub mod layout;
pub mod link;
pub mod log;
pub mod manual;
pub mod mouse;
pub mod pane;
pub mod probe;
pub mod process;
pub mod prompt;
pub mod protocol;
pub mod registry;
pub mod runtime;
pub mod scroll;
pub mod server;
pub mod session;
pub mod ui;
pub mod view;
pub mod watch;

/// A size in character cells. vt100 and ratatui order these as (rows, cols) and
/// crossterm as (cols, rows); naming the fields keeps the two from being swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Size {
    pub rows: u16,
    pub cols: u16,
}

impl Size {
    pub const fn new(rows: u16, cols: u16) -> Self {
        Self { rows, cols }
    }

    /// The same size with each side at least one cell, since neither a PTY nor
    /// the vt100 parser can be zero-sized.
    pub fn at_least_one(self) -> Self {
        Self::new(self.rows.max(1), self.cols.max(1))
    }

    /// A terminal's size as a client reports it, made safe to draw at: at
    /// least one cell and at most [`MAX_SIDE`] a side, so a confused or
    /// hostile client cannot make the server allocate gigabytes of cells.
    pub fn from_client(self) -> Self {
        Self::new(self.rows.clamp(1, MAX_SIDE), self.cols.clamp(1, MAX_SIDE))
    }
}

/// The most rows or columns a client's terminal is taken to have.
pub const MAX_SIDE: u16 = 2000;

/// Identifies a pane for as long as opmux runs. The panes from the
/// configuration get 0, 1, 2… in order; a pane added at runtime gets the next
/// number, and a closed pane's number is never given out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaneId(pub usize);

/// Removes control characters, so text from a user or a program can be drawn
/// without reaching the outer terminal as escape sequences.
pub fn clean_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// Writes what `to` takes of `bytes` without waiting, to a non-blocking
/// handle; returns how much that was. A full buffer or an error ends it:
/// the caller hands the rest to a thread that may wait and that reports
/// errors.
pub fn write_what_fits(mut to: impl std::io::Write, bytes: &[u8]) -> usize {
    let mut written = 0;
    while written < bytes.len() {
        match to.write(&bytes[written..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n,
        }
    }
    written
}
