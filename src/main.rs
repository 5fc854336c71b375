//! The thin binary: parse the command line, load and check the configuration,
//! then either print it (`--check`) or run the TUI and exit with its status.
//! Mistakes are reported before the terminal is touched.

use std::process::ExitCode;

use clap::Parser;
use opmux::cli::Cli;
use opmux::config::{Env, Settings};

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
    match opmux::tui::run(settings) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("opmux: {e:#}");
            ExitCode::FAILURE
        }
    }
}
