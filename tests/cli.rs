//! The command line as a user meets it before any pane starts: help, version,
//! and mistakes reported with a clear message and a non-zero status, without
//! the terminal being touched.

use std::process::{Command, Output};

fn opmux(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_opmux"))
        .args(args)
        .output()
        .expect("running opmux")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_and_help_describe_the_command_line() {
    let out = opmux(&["-V"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("opmux {}", env!("CARGO_PKG_VERSION"))
    );
    let out = opmux(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "[COMMAND]...",
        "-n, --name <NAME>",
        "--stop-timeout <SECS>",
        "[default: 5",
        "-V, --version",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
}

#[test]
fn mistakes_exit_non_zero_with_a_message_and_no_escape_sequences() {
    let cases: &[(&[&str], &str)] = &[
        (&["-n", "a", "-n", "b", "true"], "2 names"),
        (&["--stop-timeout", "soon", "true"], "soon"),
        (&["--no-such-flag"], "--no-such-flag"),
        (&[""], "empty COMMAND"),
        (&["--flood-nice", "20", "true"], "0..=19"),
    ];
    for (args, expected) in cases {
        let out = opmux(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        assert!(
            !err.contains('\x1b'),
            "{args:?} touched the terminal: {err:?}"
        );
    }
}
