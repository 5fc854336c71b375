//! The thin binary: parse the command line, check it, run the TUI, exit with
//! its status. Mistakes are reported before the terminal is touched.

use std::process::ExitCode;

use clap::Parser;
use opmux::cli::Cli;
use opmux::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let shell = std::env::var("SHELL").ok();
    let settings = match Settings::from_cli(&cli, shell.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("opmux: {e:#}");
            return ExitCode::from(2);
        }
    };
    match opmux::tui::run(settings) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("opmux: {e:#}");
            ExitCode::FAILURE
        }
    }
}
