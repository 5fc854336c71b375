//! Turns what the user asked for into a list of [`PaneSpec`]s. Every mistake is
//! reported here, before the terminal is touched, so a bad invocation never
//! leaves the screen in raw mode.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use nix::sys::signal::Signal;

use crate::clean_text;
use crate::cli::Cli;

/// Everything needed to start one pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneSpec {
    /// Shown in the pane's title and the status line; free of control characters.
    pub name: String,
    /// The program and its arguments. A shell command line becomes
    /// `["/bin/sh", "-c", line]`.
    pub argv: Vec<String>,
    /// The folder the program starts in; `None` means opmux's own.
    pub cwd: Option<PathBuf>,
    /// Sent to every process of the pane to stop it.
    pub stop_signal: Signal,
    /// Time between the stop signal and SIGKILL.
    pub stop_timeout: Duration,
}

/// The stop timeout when none is given.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

impl PaneSpec {
    /// A pane with the default stop signal and timeout, started in opmux's folder.
    pub fn new(name: impl Into<String>, argv: Vec<String>) -> Self {
        Self {
            name: name.into(),
            argv,
            cwd: None,
            stop_signal: Signal::SIGTERM,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }
}

/// Settings that apply to the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub panes: Vec<PaneSpec>,
}

impl Settings {
    /// Builds the run's settings from the parsed command line. `shell` is the
    /// value of `$SHELL`, passed in so tests need not touch the environment.
    pub fn from_cli(cli: &Cli, shell: Option<&str>) -> Result<Self> {
        if cli.names.len() > cli.commands.len().max(1) {
            bail!(
                "{} names given with -n/--name but only {} pane(s): give one name per COMMAND",
                cli.names.len(),
                cli.commands.len().max(1)
            );
        }
        for line in &cli.commands {
            if line.trim().is_empty() {
                bail!("an empty COMMAND was given: each COMMAND must be a shell command line");
            }
        }
        let mut panes: Vec<PaneSpec> = if cli.commands.is_empty() {
            let shell = shell.filter(|s| !s.trim().is_empty()).unwrap_or("/bin/sh");
            let mut pane = PaneSpec::new(default_name(shell), vec![shell.to_string()]);
            // An interactive shell ignores SIGTERM; a hang-up is how a
            // terminal closes it, and lets it save its history.
            pane.stop_signal = Signal::SIGHUP;
            vec![pane]
        } else {
            cli.commands
                .iter()
                .map(|line| {
                    let argv = vec!["/bin/sh".into(), "-c".into(), line.clone()];
                    PaneSpec::new(default_name(line), argv)
                })
                .collect()
        };
        for pane in &mut panes {
            pane.stop_timeout = cli.stop_timeout;
        }
        for (pane, name) in panes.iter_mut().zip(&cli.names) {
            let name = clean_text(name);
            if name.is_empty() {
                bail!("a pane name given with -n/--name is empty");
            }
            pane.name = name;
        }
        Ok(Self { panes })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str], shell: Option<&str>) -> Result<Settings> {
        let cli = Cli::try_parse_from(std::iter::once("opmux").chain(args.iter().copied()))?;
        Settings::from_cli(&cli, shell)
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
}
