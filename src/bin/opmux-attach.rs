//! The attached client alone, for `opmux` to hand the terminal to once the
//! session runs: a program of its own maps only the client's code, where
//! the process that parsed the configuration and started the server would
//! keep all of its pages for as long as it stays attached.
//! `opmux-attach SOCKET NAME`; not meant to be run by hand.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // opmux asks first, so that a program left from another build is
    // never run in its place.
    if args.get(1).is_some_and(|a| a == "--identity") {
        println!("{}", opmux::client::identity());
        return ExitCode::SUCCESS;
    }
    let [_, socket, name] = args.as_slice() else {
        eprintln!("opmux-attach: run by opmux as `opmux-attach SOCKET NAME`");
        return ExitCode::from(2);
    };
    let name = name.to_string_lossy();
    // A refusal exits 2, as opmux's own verbs do.
    opmux::client::exit_with(opmux::client::attach(std::path::Path::new(socket), &name))
}
