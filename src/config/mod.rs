//! Turns what the user asked for (command line, opmux.toml, Procfile) into
//! [`Settings`]: the panes to run and how. Every mistake is reported here,
//! naming the file, line and field, before the terminal is touched, so a bad
//! invocation never leaves the screen in raw mode.
//!
//! `file` reads opmux.toml, `procfile` reads Procfiles; this module merges them
//! with the command line and checks what spans panes (names, dependencies).

pub mod file;
pub mod ports;
pub mod probe;
pub mod procfile;
pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, bail};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nix::sys::signal::Signal;

use crate::clean_text;
use crate::cli::Cli;

/// Everything needed to start and supervise one pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneSpec {
    /// Shown in the pane's title and the status line; free of control characters.
    pub name: String,
    /// Whether the user chose the name. A pane named after its command shows
    /// the title its program sets, if it sets one.
    pub named: bool,
    /// The program and its arguments. A shell command line becomes
    /// `["/bin/sh", "-c", line]`.
    pub argv: Vec<String>,
    /// The folder the program starts in; `None` means opmux's own.
    pub cwd: Option<PathBuf>,
    /// Variables to set (`Some`) or unset (`None`) in the program's environment.
    pub env: Vec<(String, Option<String>)>,
    /// Sent to every process of the pane to stop it.
    pub stop_signal: Signal,
    /// Time between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
    /// Whether the pane starts with opmux, or waits for `C-b s`.
    pub autostart: bool,
    pub restart: RestartPolicy,
    /// Automatic restarts allowed before giving up; `None` for no limit.
    pub max_restarts: Option<u32>,
    /// Panes that must reach a condition before this one starts.
    pub depends_on: Vec<Dependency>,
    /// The pane counts as ready once a rendered line of its output matches.
    pub ready: Option<ReadyPattern>,
    /// A rendered line that matches raises the pane's attention.
    pub attention: Option<ReadyPattern>,
    /// Quiet this long after printing raises the pane's attention.
    pub idle_after: Option<Duration>,
    /// Its TCP port, chosen when the file loaded: in its environment as
    /// `PORT`, and checked free before each run when `port_checked`.
    pub port: Option<u16>,
    /// Whether a run fails when something else holds `port` as it starts:
    /// so for a port the pane asked for, not for the one a Procfile hands
    /// every process, as foreman does, whether it listens or not.
    pub port_checked: bool,
    /// The group it belongs to (`group`): the control verbs take `@group`
    /// for all of its panes, and `C-b R` restarts them together.
    pub group: Option<String>,
    /// Checked after each start until it first succeeds: the pane is ready
    /// then (and once its `ready` line shows, if it has one too).
    pub ready_probe: Option<probe::Probe>,
    /// Checked while the pane runs: failing `failure_threshold` times in a
    /// row stops the run as a failure.
    pub live_probe: Option<probe::Probe>,
    /// Files whose changes restart it (`watch`).
    pub watch: Option<watch::Watch>,
    /// A restart on change restarts the panes that depend on it too.
    pub restart_dependents: bool,
}

/// When a pane whose program ended is started again by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    #[default]
    Never,
    OnFailure,
    Always,
}

impl RestartPolicy {
    /// The name the config file uses.
    pub fn label(self) -> &'static str {
        match self {
            Self::Never => "never",
            Self::OnFailure => "on-failure",
            Self::Always => "always",
        }
    }
}

/// What a dependency must have reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Started,
    Ready,
    /// Exited with status 0.
    Succeeded,
}

impl Condition {
    /// The name the config file uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Ready => "ready",
            Self::Succeeded => "succeeded",
        }
    }

    /// The condition a config file names, if it names one.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Started, Self::Ready, Self::Succeeded]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The index of the pane depended on.
    pub pane: usize,
    pub condition: Condition,
}

/// A compiled `ready` pattern; compared by its text.
#[derive(Clone, Debug)]
pub struct ReadyPattern(pub regex::Regex);

impl PartialEq for ReadyPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for ReadyPattern {}

/// The stop timeout when none is given.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest stop timeout accepted, in seconds: a day.
pub const MAX_STOP_TIMEOUT_SECS: f64 = 86_400.0;

/// The absolute folder `path` is in, where commands from that file run.
pub fn folder_of(path: &Path) -> std::io::Result<PathBuf> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Absolute, so a pane's folder and a relative program in it cannot be
    // joined twice when the program starts there.
    std::path::absolute(folder)
}

/// The largest config, Procfile or env file opmux reads.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a text file the user named: a folder, a device, a pipe or a file
/// too large to be a config is refused with a reason, where reading it
/// would fail late, never end (`/dev/zero`), or wait for a writer (a FIFO).
pub fn read_text_file(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(Error::new(ErrorKind::InvalidInput, "it is a folder"));
    }
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it is not a regular file",
        ));
    }
    let mut text = String::new();
    // Read no more than the limit, even from a file that grows meanwhile.
    std::fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("it is larger than {} MiB", MAX_FILE_BYTES >> 20),
        ));
    }
    Ok(text)
}

/// Lines of history a pane keeps when none is given.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

/// How much lower a flooding pane's programs run than the rest, as a nice
/// value, when none is given (see [`Settings::flood_nice`]).
pub const DEFAULT_FLOOD_NICE: u8 = 15;

/// The highest nice value there is.
pub const MAX_NICE: u8 = 19;

impl PaneSpec {
    /// A pane with every setting at its default, started in opmux's folder.
    pub fn new(name: impl Into<String>, argv: Vec<String>) -> Self {
        Self {
            name: name.into(),
            named: true,
            argv,
            cwd: None,
            env: Vec::new(),
            stop_signal: Signal::SIGTERM,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            autostart: true,
            restart: RestartPolicy::Never,
            max_restarts: None,
            depends_on: Vec::new(),
            ready: None,
            attention: None,
            idle_after: None,
            port: None,
            port_checked: true,
            group: None,
            ready_probe: None,
            live_probe: None,
            watch: None,
            restart_dependents: false,
        }
    }

    /// A pane running `argv`, a program and its arguments, named after the
    /// program.
    pub fn program(argv: Vec<String>) -> Self {
        Self {
            named: false,
            ..Self::new(default_name(&argv[0]), argv)
        }
    }

    /// A pane running `line` with `/bin/sh -c`, named after its first word.
    pub fn shell(line: &str) -> Self {
        Self {
            named: false,
            ..Self::new(
                default_name(line),
                vec!["/bin/sh".into(), "-c".into(), line.into()],
            )
        }
    }
}

/// How panes share the screen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// A grid of ceil(sqrt(n)) columns.
    #[default]
    Tiled,
    /// One above the other, full width.
    Rows,
    /// Side by side, full height.
    Columns,
}

impl LayoutKind {
    /// The layout `C-b Space` switches to from this one.
    pub fn next(self) -> Self {
        match self {
            Self::Tiled => Self::Rows,
            Self::Rows => Self::Columns,
            Self::Columns => Self::Tiled,
        }
    }
}

/// Settings that apply to the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub panes: Vec<PaneSpec>,
    /// The stop timeout of panes added at runtime: the command line's,
    /// else the file's top-level one, else the default.
    pub stop_timeout: Duration,
    /// The key that starts a command (`C-b` by default).
    pub prefix: KeyEvent,
    pub layout: LayoutKind,
    /// Lines of history each pane keeps.
    pub scrollback: usize,
    /// Where each pane's output is logged, if anywhere.
    pub log_dir: Option<PathBuf>,
    /// Whether each logged line starts with an ISO 8601 timestamp.
    pub log_time: bool,
    /// The files the panes came from, for `--check`.
    pub sources: Vec<PathBuf>,
    /// How many nice steps lower a flooding run's programs go once there
    /// are as many floods as CPUs; 0 leaves them as they are.
    pub flood_nice: u8,
    /// Whether a pane's program may put text on the system clipboard (OSC
    /// 52), which opmux then passes on to the outer terminal.
    pub clipboard: Clipboard,
    /// Whether panes' bells ring the attached terminals' (`bell`).
    pub bell: Bell,
    /// Whether panes' desktop notifications reach the attached terminals
    /// (`notify`).
    pub notify: Notify,
    /// Losing the terminal only detaches it (`persist = true`, `--persist`).
    pub persist: bool,
}

/// Whether a pane's bell rings the attached terminals' bells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bell {
    #[default]
    On,
    Off,
}

/// Whether panes' desktop notifications reach the attached terminals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    #[default]
    Deny,
    Allow,
}

/// Reads a time written as `5s`, `500ms`, `2m` or a number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: f64 = number.trim().parse().ok()?;
    let secs = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Who may use the system clipboard besides the user's own copies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clipboard {
    /// Panes' requests are dropped (and logged).
    #[default]
    Deny,
    /// Panes' requests are passed on.
    Allow,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            panes: Vec::new(),
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            prefix: crate::keys::DEFAULT_PREFIX,
            layout: LayoutKind::Tiled,
            scrollback: DEFAULT_SCROLLBACK,
            log_dir: None,
            log_time: false,
            sources: Vec::new(),
            flood_nice: DEFAULT_FLOOD_NICE,
            clipboard: Clipboard::Deny,
            bell: Bell::On,
            notify: Notify::Deny,
            persist: false,
        }
    }
}

/// Gives the panes at `indices`, a Procfile's, the ports foreman gives its
/// processes: `base`, then on in steps of 100, in the Procfile's order,
/// passing over ports the other panes have. Each gets its own as `PORT`.
/// As with foreman, nothing checks whether a port is free: a Procfile does
/// not say which processes listen, so neither does a held port fail a run
/// (a process that wants it says so itself).
fn give_procfile_ports(panes: &mut [PaneSpec], indices: &[usize], base: u16) -> Result<()> {
    let taken: Vec<u16> = (panes.iter().enumerate())
        .filter(|(i, _)| !indices.contains(i))
        .filter_map(|(_, pane)| pane.port)
        .collect();
    let wanted = vec![Some(ports::Wanted::Auto); indices.len()];
    let step = ports::DEFAULT_STEP;
    let ports =
        ports::assign(&wanted, base, step, |port| !taken.contains(&port)).map_err(|ran_out| {
            anyhow::anyhow!(
                "the Procfile's process `{}` gets no port: from {base} in steps of {step} \
             they run past 65535; set PORT lower to start below",
                panes[indices[ran_out.pane]].name
            )
        })?;
    for (&i, port) in indices.iter().zip(ports) {
        let pane = &mut panes[i];
        pane.port = port;
        pane.port_checked = false;
        if let Some(port) = port {
            pane.env.push(("PORT".into(), Some(port.to_string())));
        }
    }
    Ok(())
}

/// Adds a Procfile's panes to `panes`, with their ports: from its `.env`'s
/// `PORT`, else `port` (opmux's own), as foreman takes them.
fn add_procfile(
    panes: &mut Vec<PaneSpec>,
    procfile: procfile::Procfile,
    port: Option<&str>,
) -> Result<()> {
    let first = panes.len();
    panes.extend(procfile.panes);
    let indices: Vec<usize> = (first..panes.len()).collect();
    let base = procfile_base([procfile.port.as_deref(), port]);
    give_procfile_ports(panes, &indices, base)
}

/// Where a Procfile's ports start: the first of `candidates` that is a
/// port number, else 5000.
fn procfile_base<'a>(candidates: impl IntoIterator<Item = Option<&'a str>>) -> u16 {
    (candidates.into_iter().flatten())
        .find_map(|text| text.trim().parse().ok().and_then(ports::number))
        .unwrap_or(ports::DEFAULT_BASE)
}

/// What the environment contributes: `$SHELL`, `$PORT` and the current folder, passed
/// in so tests need not touch the process's own.
pub struct Env<'a> {
    pub shell: Option<&'a str>,
    pub cwd: &'a Path,
    /// `$PORT`: where a Procfile's ports start.
    pub port: Option<&'a str>,
}

impl Settings {
    /// Builds the run's settings from the command line and the files it names
    /// (or `./opmux.toml` when it names none and gives no COMMAND).
    pub fn load(cli: &Cli, env: &Env<'_>) -> Result<Self> {
        let config = match (&cli.check, &cli.config) {
            (Some(Some(file)), _) => Some(file.clone()),
            (_, Some(file)) => Some(file.clone()),
            _ if cli.commands.is_empty() && cli.procfile.is_none() => {
                Some(env.cwd.join("opmux.toml")).filter(|p| p.is_file())
            }
            _ => None,
        };
        let mut settings = Settings::default();
        let mut top_stop_timeout = None;
        let mut from_file = 0;
        if let Some(path) = &config {
            // A file given to --check may be a Procfile too.
            let is_procfile = cli.check.as_ref().is_some_and(Option::is_some)
                && path.file_name().is_some_and(|n| {
                    n.to_string_lossy()
                        .to_ascii_lowercase()
                        .contains("procfile")
                });
            if is_procfile {
                add_procfile(&mut settings.panes, procfile::load(path)?, env.port)?;
            } else {
                let loaded = file::load(path, cli.stop_timeout)?;
                top_stop_timeout = loaded.stop_timeout;
                settings = loaded.settings;
                from_file = settings.panes.len();
                if from_file == 0 && cli.commands.is_empty() && cli.procfile.is_none() {
                    bail!(
                        "{}: defines no panes: add a [[pane]] table with a `cmd` for each command to run",
                        path.display()
                    );
                }
            }
            settings.sources.push(path.clone());
        }
        if let Some(path) = &cli.procfile {
            add_procfile(&mut settings.panes, procfile::load(path)?, env.port)?;
            settings.sources.push(path.clone());
        }
        let first_command = settings.panes.len();
        for line in &cli.commands {
            if line.trim().is_empty() {
                bail!("an empty COMMAND was given: each COMMAND must be a shell command line");
            }
            settings.panes.push(PaneSpec::shell(line));
        }
        let shell_fallback = settings.panes.is_empty();
        if shell_fallback {
            let shell = env
                .shell
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("/bin/sh");
            let mut pane = PaneSpec::new(default_name(shell), vec![shell.to_string()]);
            pane.named = false;
            // An interactive shell ignores SIGTERM; a hang-up is how a
            // terminal closes it, and lets it save its history.
            pane.stop_signal = Signal::SIGHUP;
            settings.panes.push(pane);
        }
        // -n names the COMMAND panes, or the shell pane opened without any;
        // panes from files keep the names the files give them.
        let first_named = if shell_fallback { 0 } else { first_command };
        let named = &mut settings.panes[first_named..];
        if cli.names.len() > named.len() {
            bail!(
                "{} names given with -n/--name but only {} COMMAND pane(s): give one name per COMMAND",
                cli.names.len(),
                named.len()
            );
        }
        for (pane, name) in named.iter_mut().zip(&cli.names) {
            let name = clean_text(name);
            if name.is_empty() {
                bail!("a pane name given with -n/--name is empty");
            }
            pane.name = name;
            pane.named = true;
        }
        if let Some(dir) = &cli.log_dir {
            settings.log_dir = Some(dir.clone());
        }
        if let Some(layout) = cli.layout {
            settings.layout = layout;
        }
        if let Some(lines) = cli.scrollback {
            settings.scrollback = lines;
        }
        if let Some(nice) = cli.flood_nice {
            settings.flood_nice = nice;
        }
        settings.log_time = cli.log_time;
        settings.persist |= cli.persist;
        // Panes not from opmux.toml: the command line's timeout, else the
        // file's top-level one, else the default.
        let timeout = cli
            .stop_timeout
            .or(top_stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        for pane in &mut settings.panes[from_file..] {
            pane.stop_timeout = timeout;
        }
        // Panes added at runtime (C-b c, opmux run) take the same.
        settings.stop_timeout = timeout;
        // Names given in different places (opmux.toml, a Procfile, -n) may
        // clash too; each place checks its own with line numbers.
        let mut given = std::collections::HashSet::new();
        if let Some(name) = settings
            .panes
            .iter()
            .filter(|p| p.named)
            .map(|p| p.name.as_str())
            .find(|name| !given.insert(*name))
        {
            bail!("two panes are named `{name}`: give each pane a name of its own");
        }
        Ok(settings)
    }

    /// The panes in the order they can start: every pane after the panes it
    /// depends on. Load-time checks rule out cycles, so this always succeeds.
    pub fn start_order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.panes.len());
        let mut placed = vec![false; self.panes.len()];
        while order.len() < self.panes.len() {
            let before = order.len();
            for (i, pane) in self.panes.iter().enumerate() {
                if !placed[i] && pane.depends_on.iter().all(|d| placed[d.pane]) {
                    placed[i] = true;
                    order.push(i);
                }
            }
            if order.len() == before {
                // Unreachable after the cycle check; keep the rest in file order.
                order.extend((0..self.panes.len()).filter(|&i| !placed[i]));
                break;
            }
        }
        order
    }
}

/// What `--check` prints: where the panes come from, then each pane in start
/// order with its command and supervision settings.
pub fn describe(settings: &Settings) -> String {
    use std::fmt::Write as _;
    let sources: Vec<String> = settings
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let from = if sources.is_empty() {
        "the command line".to_string()
    } else {
        sources.join(" and ")
    };
    let mut out = format!(
        "{from}: {} pane(s), in start order:\n",
        settings.panes.len()
    );
    let width = settings
        .panes
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0);
    for (n, &i) in settings.start_order().iter().enumerate() {
        let pane = &settings.panes[i];
        let command = match pane.argv.as_slice() {
            [sh, c, line] if sh == "/bin/sh" && c == "-c" => line.clone(),
            argv => format!("{argv:?}"),
        };
        let _ = write!(out, "  {}. {:<width$}  {command}", n + 1, pane.name);
        let mut notes = Vec::new();
        if !pane.depends_on.is_empty() {
            let deps: Vec<String> = pane
                .depends_on
                .iter()
                .map(|d| format!("{} {}", settings.panes[d.pane].name, d.condition.name()))
                .collect();
            notes.push(format!("after {}", deps.join(", ")));
        }
        if let Some(group) = &pane.group {
            notes.push(format!("group @{group}"));
        }
        if let Some(port) = pane.port {
            notes.push(format!("port {port}"));
        }
        if let Some(ready) = &pane.ready {
            notes.push(format!("ready at /{}/", ready.0.as_str()));
        }
        if let Some(probe) = &pane.ready_probe {
            notes.push(format!("ready when {}", probe.describe()));
        }
        if let Some(probe) = &pane.live_probe {
            notes.push(format!("live while {}", probe.describe()));
        }
        if let Some(watch) = &pane.watch {
            let mut note = format!("restarts on changes to {}", watch.patterns.join(", "));
            if !watch.ignore.is_empty() {
                note.push_str(&format!(" but {}", watch.ignore.join(", ")));
            }
            if pane.restart_dependents {
                note.push_str(", with its dependents");
            }
            notes.push(note);
        }
        match (pane.restart, pane.max_restarts) {
            (RestartPolicy::Never, _) => {}
            (policy, None) => notes.push(format!("restart {}", policy.label())),
            (policy, Some(max)) => {
                notes.push(format!("restart {} at most {max} times", policy.label()))
            }
        }
        if !pane.autostart {
            notes.push("starts on C-b s".into());
        }
        if pane.stop_signal != Signal::SIGTERM {
            notes.push(format!("stops with {}", pane.stop_signal.as_str()));
        }
        if !notes.is_empty() {
            let _ = write!(out, "  ({})", notes.join("; "));
        }
        out.push('\n');
        // The port went in last: a PORT from `env` or `env_file` is lost.
        let ports_set = pane.env.iter().filter(|(key, _)| key == "PORT").count();
        if let Some(port) = pane.port.filter(|_| ports_set > 1) {
            let _ = writeln!(
                out,
                "     warning: PORT from its env is replaced by its port, {port}"
            );
        }
    }
    out
}

/// Parses a prefix key written as `C-b`, `C-a`, `C-Space` or `M-x`.
pub fn parse_key(text: &str) -> Option<KeyEvent> {
    let (mods, key) = match text.split_once('-') {
        Some(("C", key)) => (KeyModifiers::CONTROL, key),
        Some(("M", key)) => (KeyModifiers::ALT, key),
        _ => return None,
    };
    let code = match key {
        "Space" => KeyCode::Char(' '),
        _ => {
            let mut chars = key.chars();
            let c = chars.next()?;
            if chars.next().is_some() || !c.is_ascii_graphic() {
                return None;
            }
            KeyCode::Char(c.to_ascii_lowercase())
        }
    };
    Some(KeyEvent::new(code, mods))
}

/// A pane's default name: the last path component of its command's first word,
/// so `./fixtures/monitor --fast` is called `monitor`.
pub fn default_name(command_line: &str) -> String {
    let first = command_line.split_whitespace().next().unwrap_or("");
    let base = first
        .rsplit('/')
        .find(|part| !part.is_empty())
        .unwrap_or("");
    let name = clean_text(base);
    if name.is_empty() {
        "pane".to_string()
    } else {
        name
    }
}

/// Checks names and dependencies across panes: names must be unique, every
/// dependency must name a pane, and there must be no cycle. `at` gives each
/// pane's place in its file, for the messages.
pub fn check_dependencies(
    panes: &[PaneSpec],
    raw: &[Vec<(String, Option<Condition>)>],
    at: &dyn Fn(usize) -> String,
) -> Result<Vec<Vec<Dependency>>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, pane) in panes.iter().enumerate() {
        if let Some(first) = index.insert(&pane.name, i) {
            bail!(
                "{}: two panes are named `{}` (the other is at {}); give one a `name`",
                at(i),
                pane.name,
                at(first)
            );
        }
    }
    let mut resolved = Vec::with_capacity(panes.len());
    for (i, deps) in raw.iter().enumerate() {
        let mut list = Vec::new();
        for (name, condition) in deps {
            let Some(&pane) = index.get(name.as_str()) else {
                let names: Vec<&str> = panes.iter().map(|p| p.name.as_str()).collect();
                let hint = closest(name, &names)
                    .map(|n| format!(", did you mean `{n}`?"))
                    .unwrap_or_default();
                bail!(
                    "{}: field `depends_on`: no pane is named `{name}`{hint}",
                    at(i)
                );
            };
            if pane == i {
                bail!(
                    "{}: field `depends_on`: pane `{name}` depends on itself",
                    at(i)
                );
            }
            // The list form waits for readiness where the dependency defines it.
            let ready = panes[pane].ready.is_some() || panes[pane].ready_probe.is_some();
            let condition = condition.unwrap_or(if ready {
                Condition::Ready
            } else {
                Condition::Started
            });
            if condition == Condition::Ready && !ready {
                bail!(
                    "{}: field `depends_on`: `{name}` is awaited as \"ready\" but sets no `ready` pattern or `ready_probe`",
                    at(i)
                );
            }
            list.push(Dependency { pane, condition });
        }
        resolved.push(list);
    }
    if let Some(cycle) = find_cycle(&resolved) {
        let path: Vec<&str> = cycle.iter().map(|&i| panes[i].name.as_str()).collect();
        bail!(
            "{}: field `depends_on`: dependency cycle {}",
            at(cycle[0]),
            path.join(" → ")
        );
    }
    Ok(resolved)
}

/// A cycle in the dependency graph, as pane indices with the first repeated
/// at the end.
fn find_cycle(deps: &[Vec<Dependency>]) -> Option<Vec<usize>> {
    // 0 = unseen, 1 = on the current path, 2 = done.
    fn visit(
        i: usize,
        deps: &[Vec<Dependency>],
        mark: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        mark[i] = 1;
        path.push(i);
        for d in &deps[i] {
            if mark[d.pane] == 1 {
                let start = path.iter().position(|&p| p == d.pane).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(d.pane);
                return Some(cycle);
            }
            if mark[d.pane] == 0
                && let Some(cycle) = visit(d.pane, deps, mark, path)
            {
                return Some(cycle);
            }
        }
        path.pop();
        mark[i] = 2;
        None
    }
    let mut mark = vec![0u8; deps.len()];
    (0..deps.len()).find_map(|i| {
        if mark[i] == 0 {
            visit(i, deps, &mut mark, &mut Vec::new())
        } else {
            None
        }
    })
}

/// The candidate nearest to `word` by edit distance, if near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min()
        .map(|(_, c)| c)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`,
/// so the common typo `nmae` is one edit from `name`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Parses a signal name: `SIGTERM`, `TERM` or `term`.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_procfiles_processes_get_foremans_ports_past_those_of_other_panes_and_unchecked() {
        let mut fixed = PaneSpec::shell("serve");
        fixed.port = Some(5100);
        let mut panes = vec![PaneSpec::shell("web"), fixed, PaneSpec::shell("worker")];
        // 5100 is the other pane's.
        give_procfile_ports(&mut panes, &[0, 2], 5000).unwrap();
        let ports: Vec<Option<u16>> = panes.iter().map(|p| p.port).collect();
        assert_eq!(ports, [Some(5000), Some(5100), Some(5200)]);
        let env = |pane: &PaneSpec| pane.env.clone();
        assert_eq!(
            env(&panes[0]),
            [("PORT".to_string(), Some("5000".to_string()))]
        );
        assert_eq!(
            env(&panes[2]),
            [("PORT".to_string(), Some("5200".to_string()))]
        );
        assert!(env(&panes[1]).is_empty());
        let checked: Vec<bool> = panes.iter().map(|p| p.port_checked).collect();
        assert_eq!(checked, [false, true, false]);
        // Past 65535: an error naming the process.
        let mut many = vec![PaneSpec::shell("a"), PaneSpec::shell("b")];
        let error = give_procfile_ports(&mut many, &[0, 1], 65500).unwrap_err();
        assert!(error.to_string().contains("`b` gets no port"), "{error}");
    }

    use clap::Parser;

    fn settings(args: &[&str], shell: Option<&str>) -> Result<Settings> {
        let cli = Cli::try_parse_from(std::iter::once("opmux").chain(args.iter().copied()))?;
        // A folder with no opmux.toml in it.
        Settings::load(
            &cli,
            &Env {
                shell,
                cwd: Path::new("/nonexistent-opmux-test"),
                port: None,
            },
        )
    }

    #[test]
    fn a_procfiles_ports_start_at_opmuxs_own_port_as_with_foreman() {
        assert_eq!(procfile_base([Some("3000")]), 3000);
        assert_eq!(procfile_base([None]), 5000);
        // The .env's before opmux's own, when it is a port.
        assert_eq!(procfile_base([Some("7000"), Some("3000")]), 7000);
        assert_eq!(procfile_base([Some("web"), Some("3000")]), 3000);
        for not_a_port in ["", "0", "70000", "web"] {
            assert_eq!(procfile_base([Some(not_a_port)]), 5000, "{not_a_port:?}");
        }
    }

    #[test]
    fn each_command_becomes_a_shell_pane_named_after_its_first_word() {
        let s = settings(&["./fixtures/monitor --fast", "python3 agent.py"], None).unwrap();
        let names: Vec<_> = s.panes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["monitor", "python3"]);
        assert_eq!(
            s.panes[0].argv,
            ["/bin/sh", "-c", "./fixtures/monitor --fast"]
        );
        assert_eq!(s.panes[1].stop_timeout, Duration::from_secs(5));
        assert_eq!(s.panes[1].stop_signal, Signal::SIGTERM);
    }

    #[test]
    fn names_apply_in_order_and_leave_the_rest_default() {
        let s = settings(&["-n", "web", "npm start", "cargo watch"], None).unwrap();
        assert_eq!(s.panes[0].name, "web");
        assert_eq!(s.panes[1].name, "cargo");
    }

    #[test]
    fn no_command_runs_the_users_shell_or_bin_sh() {
        let s = settings(&[], Some("/usr/bin/zsh")).unwrap();
        assert_eq!(s.panes[0].argv, ["/usr/bin/zsh"]);
        assert_eq!(s.panes[0].name, "zsh");
        assert_eq!(s.panes[0].stop_signal, Signal::SIGHUP);
        let s = settings(&[], None).unwrap();
        assert_eq!(s.panes[0].argv, ["/bin/sh"]);
    }

    #[test]
    fn more_names_than_panes_is_an_error() {
        let err = settings(&["-n", "a", "-n", "b", "true"], None).unwrap_err();
        assert!(err.to_string().contains("2 names"), "{err}");
    }

    #[test]
    fn stop_timeout_accepts_fractions_and_rejects_nonsense() {
        let s = settings(&["--stop-timeout", "0.5", "true"], None).unwrap();
        assert_eq!(s.panes[0].stop_timeout, Duration::from_millis(500));
        assert!(settings(&["--stop-timeout", "-1", "true"], None).is_err());
        assert!(settings(&["--stop-timeout", "soon", "true"], None).is_err());
    }

    #[test]
    fn control_characters_never_reach_a_name() {
        let s = settings(&["-n", "evil\x1b]0;pwned\x07", "true"], None).unwrap();
        assert_eq!(s.panes[0].name, "evil]0;pwned");
        assert_eq!(default_name("\x1b[31mred"), "[31mred");
    }

    #[test]
    fn empty_commands_and_names_are_errors() {
        assert!(settings(&["  "], None).is_err());
        assert!(settings(&["-n", "", "true"], None).is_err());
    }

    #[test]
    fn names_never_rename_panes_from_files_and_empty_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("opmux-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("opmux.toml");
        std::fs::write(&toml, "[[pane]]\nname = \"db\"\ncmd = \"x\"\n").unwrap();
        let empty = dir.join("empty.toml");
        std::fs::write(&empty, "prefix = \"C-a\"\n").unwrap();
        let load = |args: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("opmux").chain(args.iter().copied())).unwrap();
            Settings::load(
                &cli,
                &Env {
                    shell: None,
                    cwd: &dir,
                    port: None,
                },
            )
            .map(|s| s.panes.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
        };
        let toml_arg = toml.to_str().unwrap();
        assert_eq!(
            load(&["-c", toml_arg, "-n", "web", "npm start"]).unwrap(),
            ["db", "web"]
        );
        let err = load(&["-c", toml_arg, "-n", "web"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1 names given with -n/--name but only 0 COMMAND pane(s)"),
            "{err}"
        );
        let err = load(&["-c", empty.to_str().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(err.ends_with("empty.toml: defines no panes: add a [[pane]] table with a `cmd` for each command to run"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn prefix_keys_parse() {
        let ctrl = |c| Some(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
        assert_eq!(parse_key("C-b"), ctrl('b'));
        assert_eq!(parse_key("C-A"), ctrl('a'));
        assert_eq!(parse_key("C-Space"), ctrl(' '));
        assert_eq!(
            parse_key("M-x"),
            Some(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::ALT))
        );
        for bad in ["b", "C-", "C-bb", "S-b", "Ctrl-b", ""] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn signal_names_parse_with_or_without_sig() {
        assert_eq!(parse_signal("SIGINT"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("term"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("QUIT"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal("SIGNOPE"), None);
    }

    #[test]
    fn typos_find_their_nearest_name() {
        let fields = ["name", "cmd", "cwd", "env", "ready", "restart"];
        assert_eq!(closest("nmae", &fields), Some("name"));
        assert_eq!(closest("restrat", &fields), Some("restart"));
        assert_eq!(closest("colour", &fields), None);
    }

    #[test]
    fn start_order_puts_dependencies_first() {
        let mut s = Settings::default();
        for name in ["web", "db", "cache"] {
            s.panes.push(PaneSpec::shell(name));
        }
        s.panes[0].depends_on = vec![
            Dependency {
                pane: 1,
                condition: Condition::Started,
            },
            Dependency {
                pane: 2,
                condition: Condition::Started,
            },
        ];
        s.panes[2].depends_on = vec![Dependency {
            pane: 1,
            condition: Condition::Started,
        }];
        assert_eq!(s.start_order(), [1, 2, 0]);
    }

    /// A scratch folder for one test, removed at the end of it.
    struct Folder(PathBuf);

    impl Folder {
        fn new(test: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("opmux-config-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, text: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        }

        /// The names of the panes `args` would run, started in this folder.
        fn panes(&self, args: &[&str]) -> Result<Vec<String>> {
            let cli = Cli::try_parse_from(std::iter::once("opmux").chain(args.iter().copied()))?;
            let env = Env {
                shell: None,
                cwd: &self.0,
                port: None,
            };
            Settings::load(&cli, &env).map(|s| s.panes.into_iter().map(|p| p.name).collect())
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_local_opmux_toml_is_loaded_only_when_nothing_else_is_asked_for() {
        let dir = Folder::new("local");
        dir.write("opmux.toml", "[[pane]]\nname = \"local\"\ncmd = \"x\"\n");
        let procfile = dir.write("Procfile", "proc: y\n");
        assert_eq!(dir.panes(&[]).unwrap(), ["local"]);
        assert_eq!(dir.panes(&["echo hi"]).unwrap(), ["echo"]);
        assert_eq!(dir.panes(&["--procfile", &procfile]).unwrap(), ["proc"]);
        // --check alone checks the local file.
        assert_eq!(dir.panes(&["--check"]).unwrap(), ["local"]);
    }

    #[test]
    fn check_reads_the_file_it_is_given_as_a_config_or_a_procfile() {
        let dir = Folder::new("check-file");
        dir.write("opmux.toml", "[[pane]]\nname = \"local\"\ncmd = \"x\"\n");
        let other = dir.write("other.toml", "[[pane]]\nname = \"other\"\ncmd = \"x\"\n");
        let procfile = dir.write("Procfile.dev", "web: x\nworker: y\n");
        assert_eq!(dir.panes(&["--check", &other]).unwrap(), ["other"]);
        assert_eq!(
            dir.panes(&["--check", &procfile]).unwrap(),
            ["web", "worker"]
        );
        // Given with -c, a file is an opmux.toml whatever its name.
        let toml = dir.write("procfile.toml", "[[pane]]\nname = \"t\"\ncmd = \"x\"\n");
        assert_eq!(dir.panes(&["-c", &toml]).unwrap(), ["t"]);
    }

    #[test]
    fn a_config_without_panes_is_fine_when_commands_or_a_procfile_add_some() {
        let dir = Folder::new("no-panes");
        let empty = dir.write("empty.toml", "layout = \"rows\"\n");
        let procfile = dir.write("Procfile", "web: x\n");
        assert_eq!(dir.panes(&["-c", &empty, "echo hi"]).unwrap(), ["echo"]);
        assert_eq!(
            dir.panes(&["-c", &empty, "--procfile", &procfile]).unwrap(),
            ["web"]
        );
        assert!(dir.panes(&["-c", &empty]).is_err());
    }

    #[test]
    fn read_text_file_takes_16_mib_and_refuses_a_byte_more() {
        let dir = Folder::new("sizes");
        let path = dir.0.join("big");
        let largest = 16 << 20;
        std::fs::write(&path, vec![b'#'; largest]).unwrap();
        assert_eq!(read_text_file(&path).unwrap().len(), largest);
        std::fs::write(&path, vec![b'#'; largest + 1]).unwrap();
        let err = read_text_file(&path).unwrap_err();
        assert_eq!(err.to_string(), "it is larger than 16 MiB");
        std::fs::write(&path, "small\n").unwrap();
        assert_eq!(read_text_file(&path).unwrap(), "small\n");
    }

    #[test]
    fn ready_patterns_are_equal_when_their_text_is() {
        let pattern = |text| ReadyPattern(regex::Regex::new(text).unwrap());
        assert_eq!(pattern("^ready$"), pattern("^ready$"));
        assert_ne!(pattern("^ready$"), pattern("ready"));
    }

    #[test]
    fn a_shell_pane_is_named_after_its_command_and_shows_its_programs_title() {
        let pane = PaneSpec::shell("./bin/server --port 80");
        assert_eq!(pane.name, "server");
        assert!(!pane.named);
        assert!(PaneSpec::new("x", vec!["x".into()]).named);
    }

    #[test]
    fn layouts_cycle_tiled_rows_columns() {
        assert_eq!(LayoutKind::Tiled.next(), LayoutKind::Rows);
        assert_eq!(LayoutKind::Rows.next(), LayoutKind::Columns);
        assert_eq!(LayoutKind::Columns.next(), LayoutKind::Tiled);
    }

    fn after(pane: usize) -> Dependency {
        Dependency {
            pane,
            condition: Condition::Started,
        }
    }

    #[test]
    fn start_order_keeps_file_order_where_dependencies_allow() {
        // web → api → db, and cache on its own: db and cache can start at
        // once, in file order, then api, then web.
        let mut s = Settings::default();
        for name in ["web", "api", "db", "cache"] {
            s.panes.push(PaneSpec::shell(name));
        }
        s.panes[0].depends_on = vec![after(1)];
        s.panes[1].depends_on = vec![after(2)];
        assert_eq!(s.start_order(), [2, 3, 1, 0]);
        // A cycle (refused when loading) still gives every pane a place:
        // the rest in file order.
        s.panes[2].depends_on = vec![after(0)];
        assert_eq!(s.start_order(), [3, 0, 1, 2]);
    }

    #[test]
    fn describe_shows_sources_commands_and_supervision_in_start_order() {
        let mut s = Settings {
            sources: vec!["opmux.toml".into(), "Procfile".into()],
            ..Settings::default()
        };
        let mut api = PaneSpec::new("api", vec!["cargo".into(), "run".into()]);
        api.depends_on = vec![
            Dependency {
                pane: 1,
                condition: Condition::Ready,
            },
            Dependency {
                pane: 2,
                condition: Condition::Succeeded,
            },
        ];
        api.restart = RestartPolicy::OnFailure;
        api.max_restarts = Some(3);
        api.autostart = false;
        let mut database = PaneSpec::shell("postgres -D data");
        database.name = "database".into();
        database.ready = Some(ReadyPattern(regex::Regex::new("^ready$").unwrap()));
        database.restart = RestartPolicy::Always;
        database.stop_signal = Signal::SIGINT;
        let mut migrate = PaneSpec::shell("make migrate");
        migrate.name = "migrate".into();
        s.panes = vec![api, database, migrate];
        assert_eq!(
            describe(&s),
            "opmux.toml and Procfile: 3 pane(s), in start order:\n\
             \x20 1. database  postgres -D data  (ready at /^ready$/; restart always; stops with SIGINT)\n\
             \x20 2. migrate   make migrate\n\
             \x20 3. api       [\"cargo\", \"run\"]  (after database ready, migrate succeeded; restart on-failure at most 3 times; starts on C-b s)\n"
        );
        // Only `/bin/sh -c LINE`, as opmux builds it, shows as the line.
        let argv = |args: &[&str]| PaneSpec::new("p", args.iter().map(|a| a.to_string()).collect());
        let s = Settings {
            panes: vec![
                PaneSpec::shell("sh -c true"),
                argv(&["sh", "-c", "true"]),
                argv(&["/bin/sh", "-e", "true"]),
            ],
            ..Settings::default()
        };
        assert_eq!(
            describe(&s),
            "the command line: 3 pane(s), in start order:\n  \
             1. sh  sh -c true\n  \
             2. p   [\"sh\", \"-c\", \"true\"]\n  \
             3. p   [\"/bin/sh\", \"-e\", \"true\"]\n"
        );
    }

    #[test]
    fn edit_distance_counts_inserts_deletes_substitutions_and_swaps() {
        let cases = [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("name", "name", 0),
            ("nmae", "name", 1),
            ("nam", "name", 1),
            ("names", "name", 1),
            ("nane", "name", 1),
            ("kitten", "sitting", 3),
            ("ab", "ba", 1),
            ("abcd", "badc", 2),
            ("ca", "abc", 3),
            ("restart", "ready", 4),
        ];
        for (a, b, d) in cases {
            assert_eq!(edit_distance(a, b), d, "{a:?} → {b:?}");
        }
    }

    #[test]
    fn closest_allows_an_edit_per_three_letters() {
        let fields = ["max_restarts", "stop_timeout", "cwd"];
        // Two edits in twelve letters are a typo, three in six are not.
        assert_eq!(closest("mx_restrats", &fields), Some("max_restarts"));
        assert_eq!(closest("cdw", &fields), Some("cwd"));
        assert_eq!(closest("xyz", &fields), None);
        assert_eq!(closest("stop_time", &fields), Some("stop_timeout"));
        assert_eq!(closest("timeout", &fields), None);
    }

    #[test]
    fn a_files_folder_is_absolute() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(folder_of(Path::new("opmux.toml")).unwrap(), here);
        assert_eq!(
            folder_of(Path::new("project/opmux.toml")).unwrap(),
            here.join("project")
        );
        assert_eq!(
            folder_of(Path::new("/srv/app/Procfile")).unwrap(),
            Path::new("/srv/app")
        );
    }
}
