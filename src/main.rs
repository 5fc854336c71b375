//! The thin binary: parse the command line, load and check the configuration,
//! then print it (`--check`), run the TUI, or without a terminal on stdout
//! (or with `--no-tui`) print prefixed lines; exit with the run's status.
//! Mistakes are reported before the terminal is touched.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use opmux::cli::{Cli, ColorChoice};
use opmux::config::{Env, Settings};
use opmux::headless::{KillOthers, Options};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let shell = std::env::var("SHELL").ok();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let env = Env {
        shell: shell.as_deref(),
        cwd: &cwd,
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
        opmux::headless::run(settings, options)
    } else {
        opmux::tui::run(settings)
    };
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("opmux: {e:#}");
            ExitCode::FAILURE
        }
    }
}
