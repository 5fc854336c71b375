//! The thin binary: parse the command line, or a verb (`attach`, `ls`,
//! `kill-session`); load and check the configuration, then print it
//! (`--check`), start a session in a server and attach this terminal to it
//! (or only start it, `-d`), or without a terminal on stdout (or with
//! `--no-tui`) print prefixed lines; exit with the run's status. Mistakes
//! are reported before the terminal is touched.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use opmux::cli::{Cli, ColorChoice, PaneVerb, VERBS, Verb, VerbCli};
use opmux::config::{Env, Settings};
use opmux::headless::{KillOthers, Options};
use opmux::protocol::{Control, PaneAction, SessionInfo, Want};
use opmux::{client, registry, server};

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .and_then(|a| a.to_str())
        .is_some_and(|a| VERBS.contains(&a))
    {
        let verb = VerbCli::parse_from(&args).verb;
        return client::exit_with(run_verb(verb));
    }
    let cli = Cli::parse();
    let shell = std::env::var("SHELL").ok();
    let port = std::env::var("PORT").ok();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let env = Env {
        shell: shell.as_deref(),
        cwd: &cwd,
        port: port.as_deref(),
    };
    let settings = match Settings::load(&cli, &env) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("opmux: {e:#}");
            return ExitCode::from(2);
        }
    };
    if cli.check.is_some() {
        print!("{}", opmux::config::describe(&settings));
        return ExitCode::SUCCESS;
    }
    if cli.detached {
        return client::exit_with(start_detached(&cli, settings, &cwd).map(|()| 0));
    }
    let headless = cli.no_tui || !std::io::stdout().is_terminal();
    let outcome = if headless {
        let color = match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                // NO_COLOR counts when it is set to anything but nothing.
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        let kill_others = if cli.kill_others {
            KillOthers::OnExit
        } else if cli.kill_others_on_fail {
            KillOthers::OnFailure
        } else {
            KillOthers::Never
        };
        let options = Options {
            color,
            raw: cli.raw,
            kill_others,
            stdin: cli.stdin.clone(),
        };
        if let Err(e) = opmux::headless::check(&settings, &options) {
            eprintln!("opmux: {e:#}");
            return ExitCode::from(2);
        }
        // A socket for the control verbs, as a session with a screen has;
        // without a folder for it the panes still run.
        let socket = match registry::socket_dir() {
            Err(e) => {
                eprintln!("opmux: no control socket: {e:#}");
                None
            }
            Ok(dir) => match claim(&cli, &settings, &cwd, &dir) {
                Ok((claimed, config)) => Some(opmux::headless::Socket {
                    claimed,
                    folder: cwd.clone(),
                    config,
                }),
                Err(e) => {
                    eprintln!("opmux: {e:#}");
                    return ExitCode::from(2);
                }
            },
        };
        opmux::headless::run(settings, options, socket)
    } else {
        start_attached(&cli, settings, &cwd)
    };
    client::exit_with(outcome)
}

/// The sessions there are, for an error about one that is not.
fn session_names(dir: &std::path::Path) -> String {
    let names: Vec<String> = registry::live_sessions(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    match names.is_empty() {
        true => "there are no sessions".into(),
        false => format!("the sessions are {}", names.join(", ")),
    }
}

/// The opmux.toml or Procfile the panes came from, made absolute.
fn config_of(settings: &Settings) -> Option<std::path::PathBuf> {
    let file = settings.sources.first()?;
    Some(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone()))
}

/// Starts a session in a server of its own, tied to this terminal, and
/// attaches this terminal to it.
fn start_attached(cli: &Cli, settings: Settings, cwd: &std::path::Path) -> Result<i32> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!("opmux needs a terminal: stdin and stdout must both be a TTY");
    }
    let (cols, rows) = crossterm::terminal::size().context("reading the terminal size")?;
    let size = opmux::Size::new(rows, cols).at_least_one();
    let persistent = settings.persist;
    let (name, socket) = launch(cli, settings, cwd, size, persistent)?;
    attach(&socket, &name)
}

/// Attaches this terminal to session `name`. The client runs as
/// `opmux-attach`, installed beside this program, when it is there: a
/// program of its own maps only the client's code, about 2 MiB less than
/// this process, which parsed the configuration and started the server,
/// would keep mapped for as long as it stays attached. Without it, this
/// process is the client.
fn attach(socket: &std::path::Path, name: &str) -> Result<i32> {
    use std::os::unix::process::CommandExt;
    if let Some(lean) = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("opmux-attach"))
        .filter(|lean| lean.is_file())
        // One left from another build (`cargo run` builds opmux alone) is
        // not used: this process attaches itself.
        .filter(|lean| {
            let said = std::process::Command::new(lean).arg("--identity").output();
            said.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == client::identity())
        })
    {
        // exec returns only if the program could not be started; this
        // process is the client then.
        let _ = std::process::Command::new(&lean)
            .arg(socket)
            .arg(name)
            .exec();
    }
    client::attach(socket, name)
}

/// Starts a session in a server of its own and prints its name.
fn start_detached(cli: &Cli, settings: Settings, cwd: &std::path::Path) -> Result<()> {
    let (name, _) = launch(cli, settings, cwd, cli.size, true)?;
    println!("{name}");
    Ok(())
}

/// Claims the session's name and socket in `dir`; returns them with the
/// configuration file the panes came from. A second session of one
/// opmux.toml is refused: two copies of a stack fight over its ports.
fn claim(
    cli: &Cli,
    settings: &Settings,
    cwd: &std::path::Path,
    dir: &std::path::Path,
) -> Result<(registry::Claimed, Option<std::path::PathBuf>)> {
    let config = config_of(settings);
    if let Some(config) = &config {
        for (_, info) in sessions(dir)? {
            if info.config.as_deref() == Some(&*config.to_string_lossy()) {
                let name = info.name;
                let hint = match info.no_tui {
                    true => format!("stop it with `opmux kill-session {name}`"),
                    false => format!("attach to it with `opmux attach {name}`"),
                };
                bail!("session {name} already runs {}; {hint}", config.display());
            }
        }
    }
    let base = registry::default_name(config.as_deref().and_then(|c| c.parent()).unwrap_or(cwd));
    let wanted = match &cli.session {
        Some(name) => registry::Wanted::Exact(name),
        None => registry::Wanted::Default(&base),
    };
    Ok((registry::claim(dir, wanted)?, config))
}

/// Claims the session's name and starts its server; returns the name and
/// the socket once its panes are launched.
fn launch(
    cli: &Cli,
    settings: Settings,
    cwd: &std::path::Path,
    size: opmux::Size,
    persistent: bool,
) -> Result<(String, std::path::PathBuf)> {
    let dir = registry::socket_dir()?;
    let (claimed, config) = claim(cli, &settings, cwd, &dir)?;
    let name = claimed.name.clone();
    let socket = claimed.path.clone();
    server::spawn(server::Start {
        settings,
        claimed,
        size,
        persistent,
        folder: cwd.to_path_buf(),
        config,
    })?;
    Ok((name, socket))
}

/// The live sessions with what each says of itself.
fn sessions(dir: &std::path::Path) -> Result<Vec<(std::path::PathBuf, SessionInfo)>> {
    let mut found = Vec::new();
    for (name, socket) in registry::live_sessions(dir)? {
        if let Ok(info) = client::info(&socket, &name) {
            found.push((socket, info));
        }
    }
    Ok(found)
}

/// The session of the pane this runs in, as `OPMUX` names its socket: its
/// name and socket.
fn own_session() -> Option<(String, std::path::PathBuf)> {
    let socket = std::env::var_os(opmux::protocol::SESSION_VAR).filter(|v| !v.is_empty())?;
    let socket = std::path::PathBuf::from(socket);
    let name = registry::name_of(&socket)?;
    Some((name, socket))
}

/// The session a verb without a name acts on: the one of the pane it runs
/// in, else the current folder's, else the one used last (attached to or
/// typed into), else started last.
fn pick(dir: &std::path::Path, name: Option<String>) -> Result<(String, std::path::PathBuf)> {
    pick_among(dir, name, |_| true)
}

/// As [`pick`], choosing by default only among the sessions `fits` takes.
fn pick_among(
    dir: &std::path::Path,
    name: Option<String>,
    fits: impl Fn(&SessionInfo) -> bool,
) -> Result<(String, std::path::PathBuf)> {
    if let Some(name) = name {
        let socket = registry::socket_path(dir, &name)?;
        if !registry::is_live(&socket)? {
            let names = session_names(dir);
            return Err(client::Refused(format!("no session {name}; {names}")).into());
        }
        return Ok((name, socket));
    }
    if let Some((name, socket)) = own_session() {
        client::info(&socket, &name).with_context(|| {
            format!(
                "{} names session {name} ({}), which does not answer; \
                 give a session's name to use another",
                opmux::protocol::SESSION_VAR,
                socket.display()
            )
        })?;
        return Ok((name, socket));
    }
    let cwd = std::env::current_dir().context("reading the current folder")?;
    let mut found = sessions(dir)?;
    found.retain(|(_, info)| fits(info));
    let here = found
        .iter()
        .filter(|(_, info)| std::path::Path::new(&info.folder) == cwd)
        .max_by_key(|(_, info)| (info.used_unix, info.started_unix));
    let chosen = here.or_else(|| {
        found
            .iter()
            .max_by_key(|(_, info)| (info.used_unix, info.started_unix))
    });
    match chosen {
        Some((socket, info)) => Ok((info.name.clone(), socket.clone())),
        None => {
            let names = session_names(dir);
            Err(client::Refused(format!("no session to use; {names}")).into())
        }
    }
}

/// How often `opmux wait` looks for a session that is not there yet.
const SESSION_POLL: std::time::Duration = std::time::Duration::from_millis(50);

fn run_verb(verb: Verb) -> Result<i32> {
    // These two need no session, and no socket folder.
    let dir = match verb {
        Verb::Completions { .. } | Verb::Man => std::path::PathBuf::new(),
        _ => registry::socket_dir()?,
    };
    match verb {
        Verb::Attach { name } => {
            // Without a name, only a session with a screen.
            let (name, socket) = pick_among(&dir, name, |info| !info.no_tui)?;
            if own_session().is_some_and(|(_, own)| own == socket) {
                let why = format!("session {name} cannot be shown inside one of its own panes");
                return Err(client::Refused(why).into());
            }
            attach(&socket, &name)
        }
        Verb::KillSession { name, now } => {
            let (name, socket) = pick(&dir, name)?;
            client::stop(&socket, &name, now)?;
            Ok(0)
        }
        Verb::Status { session, json } => {
            let (name, socket) = pick(&dir, session)?;
            let panes = client::status(&socket, &name)?;
            if json {
                let report = serde_json::json!({ "v": 1, "session": name, "panes": panes });
                println!("{}", opmux::protocol::json_line(&report)?);
            } else {
                print!("{}", status_table(&panes));
            }
            Ok(0)
        }
        Verb::Send {
            session,
            pane,
            text,
            keys,
            paste,
        } => {
            let (name, socket) = pick(&dir, session)?;
            let text = text.join(" ");
            let want = Want::Send {
                pane,
                text,
                keys,
                paste,
            };
            client::control(&socket, &name, want)?;
            Ok(0)
        }
        Verb::Screen {
            session,
            pane,
            ansi,
            history,
            json,
        } => {
            let (name, socket) = pick(&dir, session)?;
            let want = Want::Screen {
                pane,
                ansi,
                history,
            };
            let Control::Screen(dump) = client::control(&socket, &name, want)? else {
                bail!("session {name} answered something else than a screen");
            };
            if json {
                let mut report = serde_json::to_value(&dump)?;
                report["v"] = 1.into();
                println!("{}", opmux::protocol::json_line(&report)?);
            } else {
                let mut out = String::new();
                for line in dump.history.iter().chain(&dump.rows) {
                    out.push_str(line);
                    out.push('\n');
                }
                print!("{out}");
            }
            Ok(0)
        }
        Verb::Wait {
            session,
            pane,
            until,
            timeout,
        } => {
            // A session named but not there yet (a `--no-tui` run just
            // started in the background) is waited for too, within the
            // timeout.
            let started = std::time::Instant::now();
            let (name, socket) = loop {
                match pick(&dir, session.clone()) {
                    Ok(found) => break found,
                    Err(e) => match (timeout, &session) {
                        (Some(limit), Some(_)) if started.elapsed() < limit => {
                            std::thread::sleep(SESSION_POLL);
                        }
                        _ => return Err(e),
                    },
                }
            };
            let left = timeout.map(|limit| {
                let left = limit.saturating_sub(started.elapsed());
                left.max(std::time::Duration::from_millis(1))
            });
            client::wait(&socket, &name, Want::Wait { pane, until }, left)
        }
        Verb::Logs {
            session,
            pane,
            lines,
            follow,
        } => {
            let (name, socket) = pick(&dir, session)?;
            let want = Want::Logs {
                pane,
                lines,
                follow,
            };
            client::logs(&socket, &name, want)
        }
        Verb::Events { session, json } => {
            let (name, socket) = pick(&dir, session)?;
            client::events(&socket, &name, json)
        }
        Verb::Run {
            session,
            name,
            command,
        } => {
            let (session, socket) = pick(&dir, session)?;
            let want = Want::Run { name, command };
            match client::control(&socket, &session, want)? {
                Control::Status { panes } if panes.len() == 1 => {
                    println!("{}", opmux::clean_text(&panes[0].name));
                    Ok(0)
                }
                _ => bail!("session {session} did not say which pane it added"),
            }
        }
        Verb::Start(panes) => act(&dir, PaneAction::Start, panes),
        Verb::Stop(panes) => act(&dir, PaneAction::Stop, panes),
        Verb::Restart(panes) => act(&dir, PaneAction::Restart, panes),
        Verb::Kill(panes) => act(&dir, PaneAction::Kill, panes),
        Verb::Completions { shell } => {
            use clap_complete::Shell;
            let shell = match shell {
                opmux::cli::CompletionShell::Bash => Shell::Bash,
                opmux::cli::CompletionShell::Zsh => Shell::Zsh,
                opmux::cli::CompletionShell::Fish => Shell::Fish,
            };
            let mut command = opmux::cli::completion_command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "opmux", &mut script);
            // A reader that stops early (`| head`) is no error.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(0)
        }
        Verb::Man => {
            let page = opmux::manual::page();
            let _ = std::io::Write::write_all(&mut std::io::stdout(), page.as_bytes());
            Ok(0)
        }
        Verb::Ls { json } => {
            let found: Vec<SessionInfo> = sessions(&dir)?.into_iter().map(|(_, i)| i).collect();
            if json {
                println!("{}", serde_json::to_string(&found)?);
            } else {
                print!("{}", table(&found));
            }
            Ok(0)
        }
    }
}

/// `opmux start|stop|restart|kill`: returns once every pane's change has
/// happened.
fn act(dir: &std::path::Path, action: PaneAction, verb: PaneVerb) -> Result<i32> {
    let (name, socket) = pick(dir, verb.session)?;
    let want = Want::Act {
        action,
        panes: verb.panes,
    };
    client::control(&socket, &name, want)?;
    Ok(0)
}

/// `opmux status`'s table: a header, then one pane a line, cleaned of
/// control characters.
fn status_table(panes: &[opmux::protocol::PaneStatus]) -> String {
    use opmux::clean_text;
    let mut rows = vec![
        [
            "#",
            "NAME",
            "STATE",
            "PID",
            "RESTARTS",
            "READY",
            "EXIT",
            "ATTENTION",
            "PORT",
            "COMMAND",
        ]
        .map(String::from),
    ];
    for pane in panes {
        let exit = match (&pane.exit_signal, pane.exit_code) {
            (Some(signal), _) => clean_text(signal),
            (None, Some(code)) => code.to_string(),
            (None, None) => "-".into(),
        };
        let command = match pane.command.as_slice() {
            [_, flag, script] if flag == "-c" => script.clone(),
            argv => argv.join(" "),
        };
        rows.push([
            pane.number.to_string(),
            clean_text(&pane.name),
            pane.state.clone(),
            pane.pid.map_or("-".into(), |pid| pid.to_string()),
            pane.restarts.to_string(),
            if pane.ready { "yes" } else { "no" }.into(),
            exit,
            pane.attention.as_deref().map_or("-".into(), clean_text),
            pane.port.map_or("-".into(), |port| port.to_string()),
            clean_text(&command),
        ]);
    }
    let widths: Vec<usize> = (0..10)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `opmux ls`'s table: one session a line.
fn table(found: &[SessionInfo]) -> String {
    let now = opmux::protocol::unix_seconds(std::time::SystemTime::now());
    let mut out = String::new();
    for info in found {
        let age = now.saturating_sub(info.started_unix);
        let age = match age {
            0..60 => format!("{age}s"),
            60..3600 => format!("{}m", age / 60),
            3600..86400 => format!("{}h", age / 3600),
            _ => format!("{}d", age / 86400),
        };
        let clients = match info.no_tui {
            true => "no screen".to_string(),
            false => format!("{} attached", info.clients),
        };
        out.push_str(&format!(
            "{}\t{}\t{}/{} panes running\t{clients}\t{}\n",
            info.name, info.folder, info.panes_running, info.panes_total, age
        ));
    }
    out
}
