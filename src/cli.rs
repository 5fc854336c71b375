//! The command line, as clap definitions only. Checking that the pieces fit
//! together is `config`'s job.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Run several long-lived commands side by side, each in its own terminal
/// pane, and stop all of their processes when you quit.
#[derive(Debug, Parser)]
#[command(
    name = "opmux",
    version,
    long_about = None,
    after_help = SHORT_EXAMPLES,
    after_long_help = LONG_EXAMPLES
)]
pub struct Cli {
    /// Shell command lines, one pane each.
    ///
    /// Each runs with `/bin/sh -c`. With none, opmux opens one pane running
    /// $SHELL.
    #[arg(value_name = "COMMAND")]
    pub commands: Vec<String>,

    /// Names the panes in order, once per pane.
    ///
    /// Repeat it once per pane. A pane without a name is named after its
    /// command's first word.
    #[arg(
        short = 'n',
        long = "name",
        value_name = "NAME",
        help_heading = "Panes"
    )]
    pub names: Vec<String>,

    /// Seconds a pane's processes get between the stop signal and SIGKILL
    /// [default: 5, or the config file's `stop_timeout`].
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, help_heading = "Panes", hide_short_help = true)]
    pub stop_timeout: Option<Duration>,

    /// Loads panes and settings from this opmux.toml.
    ///
    /// Without it, and with no COMMAND, ./opmux.toml is loaded if it exists.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        help_heading = "Panes"
    )]
    pub config: Option<PathBuf>,

    /// Appends each pane's rendered output lines to DIR/NAME.log
    /// [default: the config file's `log_dir`].
    #[arg(
        long,
        value_name = "DIR",
        help_heading = "Logging",
        hide_short_help = true
    )]
    pub log_dir: Option<PathBuf>,

    /// How the panes share the screen; `C-b Space` cycles through the three
    /// [default: the config file's `layout`, else tiled].
    #[arg(
        long,
        value_enum,
        value_name = "LAYOUT",
        help_heading = "Panes",
        hide_short_help = true
    )]
    pub layout: Option<crate::config::LayoutKind>,

    /// Lines of history each pane keeps for scroll mode
    /// [default: the config file's `scrollback`, else 10000].
    #[arg(
        long,
        value_name = "LINES",
        help_heading = "Panes",
        hide_short_help = true
    )]
    pub scrollback: Option<usize>,

    /// How many nice steps lower the programs of panes flooding with
    /// output run once there are as many floods as CPUs, so the keyboard
    /// and quieter panes stay quick; 0 leaves them alone [default: the
    /// config file's `flood_nice`, else 15].
    #[arg(long, value_name = "0-19", value_parser = clap::value_parser!(u8).range(0..=19), help_heading = "Panes", hide_short_help = true)]
    pub flood_nice: Option<u8>,

    /// Starts each line of the --log-dir logs with an ISO 8601 timestamp.
    #[arg(long, help_heading = "Logging", hide_short_help = true)]
    pub log_time: bool,

    /// Prints `name | line` lines instead of drawing panes.
    ///
    /// Also when stdout is not a terminal.
    #[arg(long, help_heading = "Without a terminal")]
    pub no_tui: bool,

    /// Colours the `name |` prefixes without the TUI; auto leaves them
    /// plain under NO_COLOR or when stdout is not a terminal.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        default_value = "auto",
        help_heading = "Without a terminal",
        hide_short_help = true
    )]
    pub color: ColorChoice,

    /// Without the TUI: prints the programs' bytes split at line feeds,
    /// escape codes and all, instead of the lines they render.
    #[arg(long, help_heading = "Without a terminal", hide_short_help = true)]
    pub raw: bool,

    /// Without the TUI: stops every pane when any pane ends.
    #[arg(long, help_heading = "Without a terminal", hide_short_help = true)]
    pub kill_others: bool,

    /// Without the TUI: stops every pane when any pane fails.
    #[arg(long, help_heading = "Without a terminal", hide_short_help = true)]
    pub kill_others_on_fail: bool,

    /// Without the TUI: forwards opmux's standard input to the pane NAME.
    #[arg(
        long,
        value_name = "NAME",
        help_heading = "Without a terminal",
        hide_short_help = true
    )]
    pub stdin: Option<String>,

    /// Adds a pane for each `name: command` line of this Procfile, with the
    /// .env beside it, each with its own PORT as foreman gives them (from
    /// the .env's or opmux's PORT, else 5000, in steps of 100).
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Panes",
        hide_short_help = true
    )]
    pub procfile: Option<PathBuf>,

    /// Prints the panes the configuration would run, checked.
    ///
    /// FILE, or what -c, --procfile or ./opmux.toml name; the panes are
    /// printed in start order, then opmux exits.
    #[arg(long, value_name = "FILE", num_args = 0..=1, help_heading = "Panes")]
    pub check: Option<Option<PathBuf>>,

    /// Names the session.
    ///
    /// [default: the folder of the opmux.toml, else of the current folder,
    /// numbered if taken]
    #[arg(
        short = 's',
        long = "session",
        value_name = "NAME",
        help_heading = "Sessions"
    )]
    pub session: Option<String>,

    /// Starts the session detached, and prints its name.
    ///
    /// The name is printed once its panes are launched, and opmux exits;
    /// `opmux attach` shows it.
    #[arg(
        short = 'd',
        long = "detached",
        conflicts_with = "no_tui",
        help_heading = "Sessions"
    )]
    pub detached: bool,

    /// Keeps the session running when its terminal goes away: losing the
    /// terminal then only detaches it, as `C-b d` does.
    #[arg(long, help_heading = "Sessions", hide_short_help = true)]
    pub persist: bool,

    /// The panes' size until a client attaches, as COLSxROWS.
    #[arg(long, value_name = "COLSxROWS", value_parser = parse_size, default_value = "80x24", help_heading = "Sessions", hide_short_help = true)]
    pub size: crate::Size,
}

/// What `opmux -h` ends with: a few runs to start from.
const SHORT_EXAMPLES: &str = "\
Examples:
  opmux 'npm run dev' 'cargo watch -x run'   two panes, side by side
  opmux -c opmux.toml -d                     a session in the background
  opmux --no-tui -n web 'npm start'          prefixed lines, for CI";

/// What `opmux --help` ends with: the verbs and the examples.
const LONG_EXAMPLES: &str = "\
Verbs (each with its own --help):
  attach, ls, kill-session                   sessions
  status, send, screen, wait, events, logs   read and drive a session's panes
  run, start, stop, restart, kill            add and control panes
  completions, man                           shell completions, the manual page

Examples:
  opmux 'npm run dev' 'cargo watch -x run'   two panes, side by side
  opmux -c opmux.toml -d                     a session in the background
  opmux wait api --until ready               wait for a pane's ready line
  opmux --no-tui -n web 'npm start'          prefixed lines, for CI";

/// The verbs that act on sessions instead of starting one. Their names are
/// reserved: `opmux -- ls` runs `ls` in a pane.
#[derive(Debug, Parser)]
#[command(name = "opmux")]
pub struct VerbCli {
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Debug, clap::Subcommand)]
pub enum Verb {
    /// Attaches this terminal to a session [default: the one of the pane
    /// this runs in, else the current folder's, else the one used most
    /// recently].
    #[command(visible_alias = "a")]
    Attach { name: Option<String> },
    /// Prints a completion script for the shell: bash, zsh or fish.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Prints the manual page (roff): options, verbs, keys and opmux.toml.
    Man,
    /// Lists the sessions: name, folder, panes running, clients, age.
    Ls {
        /// Prints a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Lists a session's panes: number, name, state, pid, restarts,
    /// readiness, how the last run ended, and the command.
    Status {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// Prints one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Types TEXT into a pane, its words joined with spaces as `echo` joins
    /// them; no Enter is added.
    Send {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// The pane: its name, or its number as its border shows it.
        pane: String,
        #[arg(required = true, allow_hyphen_values = true)]
        text: Vec<String>,
        /// Reads TEXT as tmux key names: Enter, Escape, Tab, BSpace, Up,
        /// PageDown, F5, C-c, M-x; a word that names no key is typed as it is.
        #[arg(long, conflicts_with = "paste")]
        keys: bool,
        /// Sends TEXT as a paste, bracketed if the pane's program asked for
        /// that.
        #[arg(long)]
        paste: bool,
    },
    /// Prints what a pane shows, as text.
    Screen {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// The pane: its name, or its number as its border shows it.
        pane: String,
        /// Keeps colours and attributes, as SGR sequences only.
        #[arg(long)]
        ansi: bool,
        /// Adds the last N lines of the pane's scrollback, before the screen.
        #[arg(long, value_name = "N", default_value_t = 0)]
        history: u32,
        /// Prints one JSON object: rows, history, cursor, size and title.
        #[arg(long)]
        json: bool,
    },
    /// Waits until a pane's condition holds: exits 0 then, 1 on timeout, 3
    /// once it can no longer hold (the pane ended for good without it).
    Wait {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// The pane: its name, or its number as its border shows it.
        pane: String,
        /// running, ready, exited, succeeded, attention, idle, or
        /// match:REGEX on the lines the pane shows and prints.
        #[arg(long, value_name = "COND", value_parser = Conditions, hide_possible_values = true)]
        until: String,
        /// Gives up after SECS seconds [default: never]; a session named
        /// with -s that is not there yet is waited for meanwhile.
        #[arg(long, value_name = "SECS", value_parser = parse_wait)]
        timeout: Option<Duration>,
    },
    /// Prints one line per event as it happens (started, ready, exited,
    /// restarting, gave_up, attention, attention_cleared, idle, added,
    /// removed, attached, detached) until the session ends.
    Events {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// One JSON object per line, with a `v` field.
        #[arg(long)]
        json: bool,
    },
    /// Prints a pane's rendered lines: colours stripped, progress redraws
    /// in their final form, wrapped rows joined.
    Logs {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// The pane: its name, or its number as its border shows it.
        pane: String,
        /// Only the last N lines [default: every line it keeps].
        #[arg(short = 'n', long = "lines", value_name = "N")]
        lines: Option<u32>,
        /// Goes on printing each line as the pane finishes it, until the
        /// pane or the session is gone.
        #[arg(short, long)]
        follow: bool,
    },
    /// Adds a pane running CMD, as `C-b c` does, and prints its name once
    /// it runs. One CMD argument runs with `sh -c`; several are a program
    /// and its arguments.
    Run {
        /// The session [default: as for attach].
        #[arg(short, long = "session")]
        session: Option<String>,
        /// The pane's name [default: its program's]; a taken one gets -2.
        #[arg(short = 'n', long = "name")]
        name: Option<String>,
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// Starts panes, as `C-b s` does; returns once each runs.
    Start(PaneVerb),
    /// Stops panes, as `C-b x` does; returns once each has stopped.
    Stop(PaneVerb),
    /// Restarts panes, as `C-b r` does; returns once each new run runs.
    Restart(PaneVerb),
    /// SIGKILLs panes, as `C-b X` does; returns once each run is over.
    Kill(PaneVerb),
    /// Stops a session as `C-b q` does and waits until nothing of it is left.
    KillSession {
        name: Option<String>,
        /// SIGKILL at once instead of each pane's stop signal.
        #[arg(long)]
        now: bool,
    },
}

/// The panes a pane verb acts on.
#[derive(Debug, clap::Args)]
pub struct PaneVerb {
    /// The session [default: as for attach].
    #[arg(short, long = "session")]
    pub session: Option<String>,
    /// Each pane: its name, or its number as its border shows it.
    #[arg(required = true)]
    pub panes: Vec<String>,
}

/// The verbs' names, as a first argument that is one of them reads.
pub const VERBS: &[&str] = &[
    "attach",
    "a",
    "completions",
    "man",
    "ls",
    "status",
    "kill-session",
    "send",
    "screen",
    "wait",
    "events",
    "logs",
    "run",
    "start",
    "stop",
    "restart",
    "kill",
];

/// The shells `opmux completions` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// The whole command line as one clap command: the options and COMMANDs of
/// a start, with the verbs as subcommands, for completions and the man page.
pub fn full_command() -> clap::Command {
    use clap::CommandFactory;
    let verbs = VerbCli::command();
    // A verb stands only first (`opmux -s dev attach` runs `attach` in a
    // pane): a verb and the start's arguments exclude each other.
    let mut all = Cli::command()
        .subcommand_negates_reqs(true)
        .args_conflicts_with_subcommands(true)
        .disable_help_subcommand(true);
    for verb in verbs.get_subcommands() {
        all = all.subcommand(verb.clone());
    }
    all
}

/// The command line as the completion scripts see it: COMMANDs are free
/// text with nothing to complete, so the first word completes the verbs.
pub fn completion_command() -> clap::Command {
    let full = full_command();
    let mut command = clap::Command::new("opmux")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_negates_reqs(true)
        .args_conflicts_with_subcommands(true)
        .disable_help_subcommand(true);
    for arg in full.get_arguments().filter(|a| a.get_id() != "commands") {
        command = command.arg(arg.clone());
    }
    for verb in full.get_subcommands() {
        command = command.subcommand(verb.clone());
    }
    command
}

fn parse_size(text: &str) -> Result<crate::Size, String> {
    let bad = || format!("`{text}` is not COLSxROWS, such as 80x24");
    let (cols, rows) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let cols: u16 = cols.trim().parse().map_err(|_| bad())?;
    let rows: u16 = rows.trim().parse().map_err(|_| bad())?;
    if cols < 2 || rows < 2 {
        return Err(format!("`{text}` is too small: at least 2x2"));
    }
    Ok(crate::Size::new(rows, cols))
}

/// When the prefixed-line front end colours its prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `wait --until`'s value, checked as the session will read it; its words
/// are what the shells' completions offer. (`match:` is left out: bash
/// would add a space after it, and splits words at a colon.)
#[derive(Clone)]
struct Conditions;

impl clap::builder::TypedValueParser for Conditions {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        // A function's error is reported as clap reports any bad value.
        let check = |text: &str| -> Result<String, String> {
            crate::session::control::Condition::parse(text).map(|_| text.to_string())
        };
        check.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let words = crate::session::control::Condition::WORDS;
        Some(Box::new(
            words.into_iter().map(clap::builder::PossibleValue::new),
        ))
    }
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    match Duration::try_from_secs_f64(secs) {
        Ok(timeout) if !timeout.is_zero() => Ok(timeout),
        _ => Err(format!("`{text}` is not a number of seconds above 0")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || !(0.0..=crate::config::MAX_STOP_TIMEOUT_SECS).contains(&secs) {
        return Err(format!(
            "`{text}` must be between 0 and {} seconds",
            crate::config::MAX_STOP_TIMEOUT_SECS
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}
