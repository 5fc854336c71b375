//! The command line as a user meets it before any pane starts: help, version,
//! and mistakes reported with a clear message and a non-zero status, without
//! the terminal being touched.

use std::process::{Command, Output};

/// opmux with a socket folder of this test binary's own and no `OPMUX`:
/// a run never names or reaches a session of whoever runs the tests.
fn command() -> Command {
    use std::os::unix::fs::PermissionsExt;
    let runtime = std::env::temp_dir().join(format!("opmux-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&runtime).expect("making a runtime folder");
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
        .expect("making the runtime folder private");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
    cmd.env("XDG_RUNTIME_DIR", runtime).env_remove("OPMUX");
    cmd
}

fn opmux(args: &[&str]) -> Output {
    command().args(args).output().expect("running opmux")
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
        (
            &["-n", "web", "-n", "web", "true", "true"],
            "two panes are named `web`",
        ),
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

/// Runs opmux with `args` in `dir`, killing it if it takes over 20 s: a
/// file that never ends must not hang the test when it regresses.
fn opmux_in(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut child = command()
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running opmux");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("waiting for opmux").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("opmux {args:?} still ran after 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("reading opmux's output")
}

#[test]
fn a_config_procfile_or_env_file_that_is_no_regular_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("opmux-cli-files-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("folder")).unwrap();
    let _ = std::fs::remove_file(dir.join("fifo"));
    nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::fs::write(
        dir.join("env-zero.toml"),
        "env_file = \"/dev/zero\"\n[[pane]]\ncmd = \"true\"\n",
    )
    .unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--check", "-c", "/dev/zero"],
            "/dev/zero: cannot be read: it is not a regular file",
        ),
        (
            &["--check", "--procfile", "/dev/zero"],
            "it is not a regular file",
        ),
        (
            &["--check", "-c", "folder"],
            "folder: is a folder, not a config file",
        ),
        (&["--check", "--procfile", "folder"], "it is a folder"),
        (
            &["--check", "-c", "fifo"],
            "fifo: cannot be read: it is not a regular file",
        ),
        (
            &["--check", "-c", "env-zero.toml"],
            "env-zero.toml:1:12: field `env_file`: cannot read /dev/zero: it is not a regular file",
        ),
    ];
    for (args, expected) in cases {
        let out = opmux_in(&dir, args);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let err = stderr(&out);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
