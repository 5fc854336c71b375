//! The prefixed-line front end, for CI, containers and pipes: no screen is
//! drawn; each line a pane renders is printed as `name | line`, with lines
//! of its own for lifecycle events. The panes run exactly as in a session's
//! server (PTYs, stop signals and timeouts, restart policies, dependencies),
//! since the same session supervises them on the same loop (`driver`); this
//! module decides what is printed, when opmux is done, and with which exit
//! status. The session has a name and a socket as a server's does, and takes
//! the control verbs on it (`control`); each pane's last printed lines are
//! kept for them (`pane::recent`), and `attach` is refused, there being
//! nothing to draw.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::app::{App, Effect};
use crate::config::Settings;
use crate::control::{self, About, Controlled, Controls};
use crate::driver::{self, End};
use crate::event::Event;
use crate::link::{FromClient, Listening, Writers};
use crate::pane::recent::Recent;
use crate::pane::{Pane, PaneState};
use crate::process::{self, ExitStatus};
use crate::protocol::{Control, Want};
use crate::registry::Claimed;
use crate::runtime::{self, Signals, apply, log_event};
use crate::ui::{duration_label, exit_label};
use crate::{PaneId, Size};

/// The terminal every program sees without the TUI.
pub const PTY_SIZE: Size = Size::new(24, 160);
/// An unfinished line is printed once it has stood this long.
pub const PARTIAL_AFTER: Duration = Duration::from_secs(1);
/// The rendered lines each pane keeps for `opmux screen`, `logs` and `wait
/// match:`, which have no history to read here.
pub const KEPT_LINES: usize = 1000;

/// When every pane is stopped because one ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOthers {
    Never,
    /// When any pane ends, as concurrently's `--kill-others`.
    OnExit,
    /// When a pane fails (ends with a status other than 0), as
    /// concurrently's `--kill-others-on-fail`.
    OnFailure,
}

/// How the prefixed-line front end behaves.
#[derive(Clone, Debug)]
pub struct Options {
    pub color: bool,
    pub raw: bool,
    pub kill_others: KillOthers,
    /// The pane opmux's standard input goes to, by name.
    pub stdin: Option<String>,
}

/// The colours the prefixes cycle through, as SGR parameters.
const PALETTE: &[&str] = &["36", "33", "32", "35", "34", "31", "96", "93", "92", "95"];

/// The session's socket, claimed before anything starts, and what `opmux
/// ls` says of the session.
pub struct Socket {
    pub claimed: Claimed,
    /// The folder it was started in.
    pub folder: PathBuf,
    /// The opmux.toml or Procfile the panes came from.
    pub config: Option<PathBuf>,
}

/// Checks that the options fit the panes, before anything starts.
pub fn check(settings: &Settings, options: &Options) -> Result<()> {
    if let Some(name) = &options.stdin
        && !settings.panes.iter().any(|p| &p.name == name)
    {
        let names: Vec<&str> = settings.panes.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "--stdin {name}: there is no pane named {name}; the panes are {}",
            names.join(", ")
        );
    }
    Ok(())
}

/// Runs the panes without drawing until every one has ended for good,
/// taking control verbs on `socket` if there is one; returns opmux's exit
/// status. The options must have passed [`check`].
pub fn run(settings: Settings, options: Options, socket: Option<Socket>) -> Result<i32> {
    // Until the loop has removed it, the socket goes with a failure or a
    // panic: no session answers it.
    let mut claimed = Unclaim(socket.as_ref().map(|s| s.claimed.path.clone()));
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|runtime| runtime.block_on(event_loop(settings, options, socket)));
    if outcome.is_ok() {
        claimed.0 = None;
    }
    outcome
}

/// Removes a claimed socket when dropped.
struct Unclaim(Option<PathBuf>);

impl Drop for Unclaim {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Prints lines with their pane's prefix, and remembers what it printed of
/// each pane's unfinished line.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    color: bool,
    /// Lines are the programs' bytes (`--raw`).
    raw: bool,
    width: usize,
    /// Each pane's prefix colour, by id.
    colors: HashMap<PaneId, &'static str>,
    /// What was printed of each pane's unfinished line, and when it is due
    /// to be printed if it stays unfinished.
    partial: HashMap<PaneId, (String, Option<Instant>)>,
    /// The last state each pane was seen in, to print what changed.
    seen: HashMap<PaneId, String>,
    /// What each pane's title said was wrong when last looked at (a log
    /// that could not be opened, a failed write, an unhealthy run), to
    /// print each once while it stands.
    errors: HashMap<PaneId, Vec<String>>,
    /// Writing to stdout failed (a closed pipe): nothing more is printed.
    broken: bool,
}

impl Printer {
    fn new(app: &App, color: bool, raw: bool) -> Self {
        let width = app
            .session
            .panes
            .iter()
            .map(|p| p.spec.name.chars().count())
            .max()
            .unwrap_or(0);
        let colors = app
            .session
            .panes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id, PALETTE[i % PALETTE.len()]))
            .collect();
        Self {
            out: std::io::BufWriter::new(std::io::stdout()),
            color,
            raw,
            width,
            colors,
            partial: HashMap::new(),
            seen: HashMap::new(),
            errors: HashMap::new(),
            broken: false,
        }
    }

    fn line(&mut self, id: PaneId, name: &str, text: &str, event: bool) {
        if self.broken {
            return;
        }
        let pad = self.width.saturating_sub(name.chars().count());
        let written = if self.color {
            let color = self.colors.get(&id).copied().unwrap_or("0");
            let body = if event {
                format!("\x1b[2m{text}\x1b[0m")
            } else {
                text.to_string()
            };
            writeln!(self.out, "\x1b[{color}m{name}{:pad$} |\x1b[0m {body}", "")
        } else {
            writeln!(self.out, "{name}{:pad$} | {text}", "")
        };
        if written.is_err() {
            self.broken = true;
        }
    }

    fn flush(&mut self) {
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }

    /// A pane added at runtime gets the next colour, and the prefixes
    /// widen for its name if need be.
    fn add(&mut self, pane: &Pane) {
        let next = PALETTE[self.colors.len() % PALETTE.len()];
        self.colors.entry(pane.id).or_insert(next);
        self.width = self.width.max(pane.spec.name.chars().count());
    }

    /// Prints the lines pane `id` finished, minus what was printed of the
    /// first one while it was unfinished, and notes when what it has
    /// started since is due. The lines are kept, as printed, for the
    /// control verbs.
    fn drain(&mut self, app: &mut App, id: PaneId, now: Instant) {
        let Some(pane) = app.session.pane(id) else {
            return;
        };
        let name = pane.spec.name.clone();
        let (lines, unfinished, redrawn) = {
            let mut screen = pane.screen();
            let redrawn = screen.first_line_redrawn();
            (screen.take_lines(), screen.unfinished_line(), redrawn)
        };
        for line in &lines {
            let printed = self.partial.remove(&id).map(|(p, _)| p).unwrap_or_default();
            // The rest of a line printed unfinished, unless it was redrawn
            // since (a progress bar): then all of it.
            match line.strip_prefix(printed.as_str()) {
                Some(rest) if !printed.is_empty() && !redrawn => {
                    if !rest.is_empty() {
                        self.line(id, &name, rest, false);
                    }
                }
                _ => self.line(id, &name, line, false),
            }
        }
        let raw = self.raw;
        if let Some(recent) = app.session.pane_mut(id).and_then(|p| p.recent.as_mut()) {
            for line in lines {
                // The verbs read text: a raw line's escape codes go.
                recent.push(if raw {
                    crate::pane::recent::plain(&line)
                } else {
                    line
                });
            }
        }
        // Due a second after it first stood unfinished, however often it
        // changes meanwhile.
        let entry = self.partial.entry(id).or_default();
        entry.1 = if unfinished.trim().is_empty() || unfinished == entry.0 {
            None
        } else {
            entry.1.or(Some(now + PARTIAL_AFTER))
        };
    }

    /// Prints what is left of pane `id`'s output once it has ended: the
    /// finished lines and, as a line of its own, an unfinished one.
    fn finish(&mut self, app: &mut App, id: PaneId, now: Instant) {
        self.drain(app, id, now);
        if let Some(pane) = app.session.pane(id) {
            self.print_unfinished(pane);
        }
    }

    /// Prints what `pane`'s unfinished line has beyond what was printed of
    /// it already, and remembers it as printed, so that a later look (or the
    /// next line, which finishes it) does not print it again.
    fn print_unfinished(&mut self, pane: &Pane) {
        let (id, name) = (pane.id, pane.spec.name.as_str());
        let unfinished = {
            let mut screen = pane.screen();
            // Printed now: a later redraw is measured from here.
            screen.clear_redrawn();
            screen.unfinished_line()
        };
        let (printed, due) = self.partial.entry(id).or_default();
        *due = None;
        if unfinished.trim().is_empty() || unfinished == *printed {
            return;
        }
        let new = unfinished
            .strip_prefix(printed.as_str())
            .unwrap_or(&unfinished)
            .to_string();
        *printed = unfinished;
        self.line(id, name, &new, false);
    }

    /// The earliest moment an unfinished line is due.
    fn next_partial(&self) -> Option<Instant> {
        self.partial.values().filter_map(|(_, due)| *due).min()
    }

    /// Prints the unfinished lines that are due.
    fn flush_partials(&mut self, app: &App, now: Instant) {
        let due: Vec<PaneId> = self
            .partial
            .iter()
            .filter(|(_, (_, at))| at.is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            match app.session.pane(id) {
                Some(pane) => self.print_unfinished(pane),
                None => _ = self.partial.remove(&id),
            }
        }
    }

    /// Prints a line for each pane whose state changed in a way worth
    /// telling: it exited, failed, is waiting, or will restart.
    fn lifecycle(&mut self, app: &mut App, now: Instant) {
        for index in 0..app.session.panes.len() {
            let pane = &app.session.panes[index];
            // A run's end is told after the last of its output.
            if pane.output_open && !pane.state.is_alive() {
                continue;
            }
            let label = match &pane.state {
                PaneState::Exited { status, .. } if pane.supervision.gave_up => format!(
                    "[{}, gave up after {} restarts]",
                    exit_label(*status),
                    pane.supervision.restarts
                ),
                PaneState::Exited { status, .. } => format!("[{}]", exit_label(*status)),
                PaneState::Failed(why) => format!("[failed: {why}]"),
                PaneState::Waiting { on } => format!("[waiting for {on}]"),
                PaneState::Restarting { at, status, .. } => format!(
                    "[{}, restarting in {}]",
                    exit_label(*status),
                    duration_label(at.saturating_duration_since(now))
                ),
                _ => String::new(),
            };
            if matches!(pane.state, PaneState::Failed(_)) && self.seen.get(&pane.id) != Some(&label)
            {
                // Why it could not start was written to its screen.
                self.finish(app, pane.id, now);
            }
            let pane = &app.session.panes[index];
            let before = self.seen.insert(pane.id, label.clone());
            // Restarting's countdown changes every moment: one line per wait.
            let same = before.as_deref().is_some_and(|b| {
                b == label || (b.contains("restarting in") && label.contains("restarting in"))
            });
            if !label.is_empty() && !same {
                self.line(pane.id, &pane.spec.name, &label, true);
            }
            // What the TUI shows in the title: a log that could not be
            // opened, an input or output error.
            // Each once, while it stands: two at a time are not printed
            // in turn for ever.
            let notices: Vec<String> = pane.notices().cloned().collect();
            let seen = self.errors.remove(&pane.id).unwrap_or_default();
            for notice in notices.iter().filter(|n| !seen.contains(n)) {
                let text = format!("[! {notice}]");
                self.line(pane.id, &pane.spec.name, &text, true);
            }
            self.errors.insert(pane.id, notices);
        }
    }
}

/// Whether a pane is over for good: nothing of it runs and nothing will
/// start it again.
fn ended(state: &PaneState) -> bool {
    matches!(
        state,
        PaneState::Exited { .. }
            | PaneState::Failed(_)
            | PaneState::NotStarted
            | PaneState::Waiting { .. }
    )
}

/// How a pane's run ended, if it failed, as the exit status it stands for.
fn failure(state: &PaneState) -> Option<i32> {
    match state {
        PaneState::Exited { status, .. } if *status != ExitStatus::Exited(0) => Some(status.code()),
        PaneState::Failed(_) => Some(127),
        _ => None,
    }
}

/// Sets pane `pane` up for this front end: a one-row screen whose every
/// line feed scrolls the line off into the line sink, no history, and the
/// last lines kept for the control verbs.
fn set_up(pane: &mut Pane, raw: bool) {
    {
        let mut screen = pane.screen();
        screen.resize(Size::new(1, PTY_SIZE.cols));
        screen.collect_lines(raw);
        // Nothing scrolls back without a screen: no history to keep.
        screen.set_scrollback(0);
    }
    pane.recent = Some(Recent::new(KEPT_LINES));
    // Nothing is drawn: the first output must announce itself.
    pane.dirty
        .store(false, std::sync::atomic::Ordering::Release);
}

async fn event_loop(settings: Settings, options: Options, socket: Option<Socket>) -> Result<i32> {
    let mut signals = Signals::listen()?;
    if let Err(e) = process::become_subreaper() {
        eprintln!("opmux: not a subreaper ({e}): escaped processes may outlive opmux");
    }
    if let Err(e) = crate::log::init() {
        eprintln!("opmux: no log: {e:#}");
    }
    let (events, mut inbox) = unbounded_channel();
    let mut app = App::from_settings(settings, PTY_SIZE);
    app.session.pty_size = Some(PTY_SIZE);
    for pane in &mut app.session.panes {
        set_up(pane, options.raw);
    }
    let mut listening = None;
    let mut named = None;
    if let Some(Socket {
        claimed,
        folder,
        config,
    }) = socket
    {
        listening = Some(Listening::from_std(claimed.listener)?);
        app.session.reachable_at(&claimed.path);
        named = Some(Named {
            about: About::new(claimed.name, folder, config),
            socket: claimed.path,
        });
    }
    let printer = Printer::new(&app, options.color, options.raw);
    let stdin = options
        .stdin
        .as_ref()
        .and_then(|name| app.session.panes.iter().find(|p| &p.spec.name == name))
        .map(|p| Stdin {
            pane: p.id,
            queue: Vec::new(),
            last: None,
            ended: false,
            ended_for_run: 0,
        });
    let effects = app.start();
    apply(&mut app, effects, &events);
    let _watcher = crate::watch::start(&mut app.session, &events);
    if stdin.is_some() {
        spawn_stdin_thread(events.clone());
    }

    let mut front = Headless {
        app,
        printer,
        stdin,
        raw: options.raw,
        kill_others: options.kill_others,
        first_failure: None,
        stopped_by_us: false,
        counted: HashMap::new(),
        added: Default::default(),
        signalled: None,
        controls: Controls::default(),
        writers: Writers::default(),
        to_loop: listening.as_ref().map(Listening::to_loop),
        named,
    };
    let end = driver::run(
        &mut front,
        &mut listening,
        &mut signals,
        &events,
        &mut inbox,
    )
    .await;
    let survived = match end {
        End::Done => false,
        End::Survivors(survivors) => {
            eprintln!(
                "opmux: {} process(es) survived SIGKILL and were left running: {survivors:?}",
                survivors.len()
            );
            true
        }
    };
    // Whatever the programs still wrote reaches the logs and stdout.
    let mut on_event =
        |front: &mut Headless, event: Event| driver::FrontEnd::handle(front, event, &events);
    runtime::finish_output(&mut front, &mut inbox, &mut on_event).await;
    let Headless {
        mut app,
        mut printer,
        first_failure,
        signalled,
        mut controls,
        writers,
        named,
        ..
    } = front;
    runtime::close_logs(&app.session);
    let ids: Vec<PaneId> = app.session.panes.iter().map(|p| p.id).collect();
    for id in ids {
        printer.finish(&mut app, id, Instant::now());
    }
    printer.lifecycle(&mut app, Instant::now());
    printer.flush();
    process::reap();
    // The last lines and events, then the end.
    controls.answer(&mut app.session);
    controls.end();
    if let (Some(listening), Some(named)) = (listening, named) {
        let limit = crate::server::FAREWELL_LIMIT;
        listening.close(writers, &named.socket, limit).await;
    }
    if survived {
        return Ok(1);
    }
    Ok(signalled.or(first_failure).unwrap_or(0))
}

/// A session with a socket: what `opmux ls` says of it, and the socket.
struct Named {
    about: About,
    socket: PathBuf,
}

/// The prefixed-line front end's state for the loop.
struct Headless {
    app: App,
    printer: Printer,
    stdin: Option<Stdin>,
    /// Lines are printed as the programs wrote them (`--raw`).
    raw: bool,
    kill_others: KillOthers,
    /// The first pane that failed on its own.
    first_failure: Option<i32>,
    /// opmux stopped the panes itself (--kill-others, or everything ended),
    /// which makes their ends no failures.
    stopped_by_us: bool,
    /// The run each pane's end was counted for.
    counted: HashMap<PaneId, u32>,
    /// The panes `opmux run` added.
    added: std::collections::HashSet<PaneId>,
    /// The exit status a signal to opmux (or a closed stdout) stands for.
    signalled: Option<i32>,
    /// The control verbs' connections waiting for answers.
    controls: Controls,
    writers: Writers,
    /// Where the connections' tasks tell the loop what happened, with a
    /// socket.
    to_loop: Option<tokio::sync::mpsc::Sender<FromClient>>,
    /// The session's name and socket, with a socket.
    named: Option<Named>,
}

impl Headless {
    /// What a connection said: a control verb's request, or that it went.
    fn on_connection(&mut self, message: FromClient, now: Instant) -> Vec<Effect> {
        let FromClient::Hello { id, hello, writer } = message else {
            if let FromClient::Gone(id) = message {
                self.controls.forget(id);
            }
            return Vec::new();
        };
        let (Some(to_loop), Some(named)) = (self.to_loop.clone(), &self.named) else {
            return Vec::new();
        };
        let link = self.writers.link(id, writer, None, to_loop);
        match hello.want {
            Want::Info => {
                let info = (named.about).info(&self.app.session, 0, SystemTime::UNIX_EPOCH, true);
                link.control(Control::Info(info));
                Vec::new()
            }
            Want::Attach { .. } => {
                let name = &named.about.name;
                link.control(Control::Refused {
                    reason: format!(
                        "session {name} runs without a screen (--no-tui): there is nothing to \
                         attach to; `opmux status`, `screen`, `logs` and the other verbs reach it"
                    ),
                    protocol: crate::protocol::PROTOCOL,
                });
                Vec::new()
            }
            want => control::request(self, link, want, now),
        }
    }
}

impl Controlled for Headless {
    fn parts(&mut self) -> (&mut Controls, &mut crate::session::Session) {
        (&mut self.controls, &mut self.app.session)
    }

    fn carry_out(&mut self, command: crate::session::Command, now: Instant) -> Vec<Effect> {
        let panes = self.app.session.panes.len();
        let effects = self.app.command(command, now);
        // A pane added at runtime is set up before its program starts.
        for pane in self.app.session.panes.iter_mut().skip(panes) {
            set_up(pane, self.raw);
            self.printer.add(pane);
            self.added.insert(pane.id);
        }
        effects
    }
}

impl runtime::Host for Headless {
    fn session(&self) -> &crate::session::Session {
        &self.app.session
    }

    fn session_mut(&mut self) -> &mut crate::session::Session {
        &mut self.app.session
    }

    fn update(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        self.app.update(event, now)
    }

    fn remove_pane(
        &mut self,
        id: PaneId,
        now: Instant,
    ) -> (Option<crate::pane::Pane>, Vec<Effect>) {
        self.app.remove_pane(id, now)
    }
}

impl driver::FrontEnd for Headless {
    type Sources = Option<Listening>;
    type Wake = FromClient;

    async fn next(sources: &mut Option<Listening>) -> FromClient {
        match sources {
            Some(listening) => listening.next().await,
            None => std::future::pending().await,
        }
    }

    fn woke(&mut self, message: FromClient, events: &UnboundedSender<Event>) {
        let effects = self.on_connection(message, Instant::now());
        apply(self, effects, events);
    }

    fn turn(&mut self, events: &UnboundedSender<Event>, now: Instant) {
        let app = &mut self.app;
        if let Some(stdin) = &mut self.stdin {
            stdin.forward(app, events);
        }
        self.printer.lifecycle(app, now);
        self.printer.flush();
        if self.printer.broken && app.session.shutdown.is_none() {
            // Nobody reads the output any more (a closed pipe): stop, as a
            // pipeline's writer ends on SIGPIPE.
            self.signalled = Some(128 + Signal::SIGPIPE as i32);
            let effects = app.update(Event::Signal(Signal::SIGPIPE), now);
            apply(app, effects, events);
        }
        // Failures, counted once per run, and --kill-others. A run someone
        // stopped or killed (`opmux stop`, `kill`) did not end on its own,
        // and a pane added by `opmux run` is no part of what was started.
        for pane in &app.session.panes {
            let over = ended(&pane.state) || matches!(pane.state, PaneState::Restarting { .. });
            if !over || self.counted.get(&pane.id) == Some(&pane.run) || pane.run == 0 {
                continue;
            }
            self.counted.insert(pane.id, pane.run);
            if !pane.supervision.auto_restart || self.added.contains(&pane.id) {
                continue;
            }
            let failed = failure(&pane.state);
            if app.session.shutdown.is_none() && self.first_failure.is_none() {
                self.first_failure = failed;
            }
            let trigger = match self.kill_others {
                KillOthers::Never => false,
                KillOthers::OnExit => ended(&pane.state),
                KillOthers::OnFailure => failed.is_some(),
            };
            if trigger && app.session.shutdown.is_none() {
                self.stopped_by_us = true;
            }
        }
        if self.stopped_by_us && app.session.shutdown.is_none() {
            let effects = app.update(Event::Signal(Signal::SIGTERM), now);
            apply(app, effects, events);
        }
        if app.session.shutdown.is_none() && app.session.panes.iter().all(|p| ended(&p.state)) {
            // A pane still waiting will never start: what it was to do was
            // not done, which is no success.
            for pane in &app.session.panes {
                if let PaneState::Waiting { on } = &pane.state {
                    let text = format!("[never started: {on} ended first]");
                    self.printer.line(pane.id, &pane.spec.name, &text, true);
                    self.first_failure.get_or_insert(1);
                }
            }
            // Everything ended by itself: stop whatever escaped the panes.
            self.stopped_by_us = true;
            let effects = app.update(Event::Signal(Signal::SIGTERM), now);
            apply(app, effects, events);
        }
    }

    fn handle(&mut self, event: Event, events: &UnboundedSender<Event>) {
        handle(
            &mut self.app,
            event,
            events,
            &mut self.printer,
            &mut self.stdin,
        );
    }

    fn signal(&mut self, signal: Signal, events: &UnboundedSender<Event>) {
        self.signalled.get_or_insert(128 + signal as i32);
        // No terminal hangs up here: a second SIGHUP is someone insisting,
        // and escalates as a second SIGTERM does.
        let signal = match signal {
            Signal::SIGHUP if self.app.session.shutdown.is_some() => Signal::SIGTERM,
            other => other,
        };
        self.handle(Event::Signal(signal), events);
    }

    fn after_wake(&mut self) {
        self.controls.answer(&mut self.app.session);
        // Bells and notifications go to no terminal here.
        self.app.session.bells = 0;
        self.app.session.notifications.clear();
    }

    fn due_at(&self) -> Option<Instant> {
        [self.printer.next_partial(), self.controls.due_at()]
            .into_iter()
            .flatten()
            .min()
    }

    fn due(&mut self, _: &UnboundedSender<Event>, now: Instant) {
        self.printer.flush_partials(&self.app, now);
        self.controls.due(now);
    }
}

fn handle(
    app: &mut App,
    event: Event,
    events: &UnboundedSender<Event>,
    printer: &mut Printer,
    stdin: &mut Option<Stdin>,
) {
    log_event(&app.session, &event);
    match &event {
        Event::PaneOutput(id) => {
            if let Some(pane) = app.session.pane(*id) {
                pane.dirty
                    .store(false, std::sync::atomic::Ordering::Release);
            }
            printer.drain(app, *id, Instant::now());
        }
        Event::PaneOutputClosed { pane, run, .. } => {
            let id = *pane;
            if app.session.pane(id).is_some_and(|p| p.run == *run) {
                printer.finish(app, id, Instant::now());
            }
        }
        Event::Stdin(data) => {
            if let Some(stdin) = stdin {
                match data {
                    Some(bytes) => stdin.queue.extend_from_slice(bytes),
                    None => stdin.ended = true,
                }
                stdin.forward(app, events);
            }
            return;
        }
        _ => {}
    }
    let effects = app.update(event, Instant::now());
    apply(app, effects, events);
}

/// What `--stdin` still owes its pane: input that came while the pane was
/// not running yet, and the end of input, once per run.
struct Stdin {
    pane: PaneId,
    queue: Vec<u8>,
    /// The last byte forwarded.
    last: Option<u8>,
    /// opmux's standard input has ended.
    ended: bool,
    /// The run the end was last forwarded to.
    ended_for_run: u32,
}

impl Stdin {
    /// Writes what is owed to the pane if its program runs.
    fn forward(&mut self, app: &mut App, events: &UnboundedSender<Event>) {
        let Some(pane) = app.session.pane(self.pane) else {
            return;
        };
        if !app.session.takes_input(self.pane) {
            return;
        }
        let run = pane.run;
        let mut bytes = std::mem::take(&mut self.queue);
        if let Some(&last) = bytes.last() {
            self.last = Some(last);
        }
        if self.ended && self.ended_for_run != run {
            // The terminal driver ends input at a ^D on an empty line; after
            // a partial line the first ^D only hands that line over.
            if self.last.is_some_and(|b| b != b'\n') {
                bytes.push(0x04);
            }
            bytes.push(0x04);
            self.ended_for_run = run;
        }
        if !bytes.is_empty() {
            apply(app, vec![Effect::Write(self.pane, bytes)], events);
        }
    }
}

/// Reads opmux's standard input on a thread of its own, for `--stdin`.
fn spawn_stdin_thread(events: UnboundedSender<Event>) {
    let _ = std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            use std::io::Read;
            let mut stdin = std::io::stdin();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = events.send(Event::Stdin(None));
                        return;
                    }
                    Ok(n) => {
                        if events.send(Event::Stdin(Some(buf[..n].to_vec()))).is_err() {
                            return;
                        }
                    }
                }
            }
        });
}
