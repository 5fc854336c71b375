//! The command line as a user meets it before any pane starts: help, version,
//! and mistakes reported with a clear message and a non-zero status, without
//! the terminal being touched.

use std::process::{Command, Output};

mod common;

/// opmux with a socket folder of this test binary's own and no `OPMUX`:
/// a run never names or reaches a session of whoever runs the tests.
fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
    common::private_runtime(&mut cmd, &format!("cli-{}", std::process::id()));
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

/// Runs `program` with `args`, `input` on its standard input; returns its
/// status and what it printed on both outputs.
fn feed(program: &str, args: &[&str], input: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.success(), said)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The long options a help text lists.
fn long_options_in(help: &str) -> Vec<String> {
    let mut options: Vec<String> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| {
            word.trim_end_matches(|c: char| !c.is_alphanumeric())
                .to_string()
        })
        .filter(|word| word != "--help")
        .collect();
    options.sort();
    options.dedup();
    options
}

/// The long options `opmux --help` lists, up to its verbs and examples.
fn long_options() -> Vec<String> {
    let help = stdout(&opmux(&["--help"]));
    let options_part = &help[..help.find("\nVerbs").expect("no Verbs section in --help")];
    let options = long_options_in(options_part);
    assert!(options.len() > 15, "{options:?}");
    options
}

/// The verbs `opmux --help` lists, each with the long options its own
/// `--help` lists.
fn verbs() -> Vec<(String, Vec<String>)> {
    let help = stdout(&opmux(&["--help"]));
    let listed = help
        .split_once("\nVerbs")
        .and_then(|(_, rest)| rest.split_once("\n\n"))
        .map(|(section, _)| section)
        .expect("no Verbs section in --help");
    let verbs: Vec<(String, Vec<String>)> = (listed.lines().skip(1))
        .flat_map(|line| {
            let names = line.trim_start().split("  ").next().unwrap_or("");
            names.split(", ").map(str::to_string).collect::<Vec<_>>()
        })
        .map(|verb| {
            let own = opmux(&[&verb, "--help"]);
            let own = stdout(&own);
            assert!(
                own.contains(&format!("opmux {verb}")),
                "{verb} --help: {own}"
            );
            let options = long_options_in(&own);
            (verb, options)
        })
        .collect();
    assert!(verbs.len() >= 16, "{verbs:?}");
    verbs
}

/// What `shell` offers to complete `line` once it has loaded the
/// completion script at `script`: its candidates, without descriptions.
/// The last word of `line` is the one being completed.
fn offered(shell: &str, script: &std::path::Path, line: &str) -> Vec<String> {
    let mut cmd = Command::new(shell);
    match shell {
        // The function bash's `complete -F` would call, given the words as
        // bash splits them.
        "bash" => {
            cmd.arg("-c")
                .arg(
                    "source \"$1\"; shift; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); \
                     _opmux opmux \"${COMP_WORDS[COMP_CWORD]}\" \"${COMP_WORDS[COMP_CWORD-1]}\"; \
                     printf '%s\\n' \"${COMPREPLY[@]}\"",
                )
                .arg("bash")
                .arg(script)
                .args(line.split(' '));
        }
        "fish" => {
            cmd.arg("-c")
                .arg("source $argv[1]; complete -C $argv[2]")
                .arg(script)
                .arg(line);
        }
        _ => unreachable!("{shell}"),
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {shell}: {e}"));
    assert!(out.status.success(), "{shell}: {}", stderr(&out));
    (stdout(&out).lines())
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The part of the zsh script that completes `verb`'s arguments: from the
/// line `(verb)` to the `;;` that ends it.
fn zsh_part<'a>(script: &'a str, verb: &str) -> &'a str {
    let label = format!("({verb})");
    let part = (script.split_inclusive('\n'))
        .skip_while(|line| line.trim() != label)
        .take_while(|line| line.trim() != ";;")
        .map(str::len)
        .sum::<usize>();
    let start = (script.split_inclusive('\n'))
        .take_while(|line| line.trim() != label)
        .map(str::len)
        .sum::<usize>();
    assert!(part > 0, "no part for {verb} in the zsh script");
    &script[start..start + part]
}

/// Whether the zsh script lists `option` in `part`: a line such as
/// `'(--no-tui)--detached[…]'` or `'*--name=[…]:NAME:…'`, after what it
/// excludes and whether it repeats.
fn zsh_lists(part: &str, option: &str) -> bool {
    part.lines().any(|line| {
        let spec = line.trim_start().trim_start_matches('\'');
        let spec = match spec.strip_prefix('(') {
            Some(rest) => rest.split_once(')').map_or("", |(_, after)| after),
            None => spec,
        };
        let spec = spec.trim_start_matches('*');
        spec.strip_prefix(option)
            .is_some_and(|rest| rest.starts_with('=') || rest.starts_with('['))
    })
}

#[test]
fn the_completion_scripts_are_valid_and_offer_every_option_and_verb() {
    let verbs = verbs();
    let long_options = long_options();
    let folder = common::Scratch::new("cli-completions");
    for (shell, check) in [("bash", "-n"), ("zsh", "-n"), ("fish", "--no-execute")] {
        if !common::installed_for(shell, &format!("the {shell} completion script")) {
            continue;
        }
        let script = opmux(&["completions", shell]);
        assert!(script.status.success(), "{shell}: {}", stderr(&script));
        let (valid, said) = feed(shell, &[check], &script.stdout);
        assert!(valid && said.is_empty(), "{shell} {check}: {said}");
        let path = folder.0.join(shell);
        std::fs::write(&path, &script.stdout).unwrap();
        let script = stdout(&script);
        if shell == "zsh" {
            // zsh's completion system needs a terminal to be driven; its
            // script is read part by part instead.
            for option in &long_options {
                assert!(zsh_lists(&script, option), "{option} not in the zsh script");
            }
            let until = zsh_part(&script, "wait");
            assert!(
                until.contains("(running ready exited succeeded attention idle)"),
                "zsh: {until}"
            );
            for (verb, options) in &verbs {
                let listed = format!("\n'{verb}:");
                assert!(script.contains(&listed), "zsh does not offer {verb}");
                let part = zsh_part(&script, verb);
                for option in options {
                    assert!(
                        zsh_lists(part, option),
                        "zsh does not offer {option} after {verb}"
                    );
                }
            }
            continue;
        }
        let first = offered(shell, &path, "opmux ");
        for (verb, _) in &verbs {
            assert!(
                first.contains(verb),
                "{shell} does not offer {verb}: {first:?}"
            );
        }
        let options = offered(shell, &path, "opmux --");
        for option in &long_options {
            assert!(
                options.contains(option),
                "{shell} does not offer {option}: {options:?}"
            );
        }
        // A condition's words, after `wait --until`.
        let conditions = offered(shell, &path, "opmux wait api --until ");
        for word in ["running", "ready", "attention", "idle"] {
            assert!(
                conditions.iter().any(|c| c == word),
                "{shell} offers {conditions:?}"
            );
        }
        for (verb, own) in &verbs {
            let offered = offered(shell, &path, &format!("opmux {verb} --"));
            for option in own {
                assert!(
                    offered.contains(option),
                    "{shell} does not offer {option} after {verb}: {offered:?}"
                );
            }
        }
    }
}

/// The verbs `opmux --help` lists by hand are every verb the command line
/// takes: a new verb fails this until the help names it, and its short
/// names are on the man page.
#[test]
fn the_help_lists_every_verb_and_the_man_page_every_short_name() {
    let listed: Vec<String> = verbs().into_iter().map(|(verb, _)| verb).collect();
    let page = stdout(&opmux(&["man"]));
    for verb in opmux::cli::full_command().get_subcommands() {
        let name = verb.get_name().to_string();
        assert!(
            listed.contains(&name),
            "`opmux --help` does not list {name}"
        );
        for alias in verb.get_visible_aliases() {
            let written = format!("opmux {alias}.");
            assert!(
                page.contains(&written),
                "the man page does not name `opmux {alias}`"
            );
        }
    }
}

#[test]
fn the_man_page_is_clean_roff_and_names_every_option() {
    let page = opmux(&["man"]);
    assert!(page.status.success(), "{}", stderr(&page));
    if !common::installed_for("groff", "the man page's roff") {
        return;
    }
    let (clean, said) = feed("groff", &["-man", "-ww", "-z"], &page.stdout);
    assert!(clean && said.is_empty(), "groff warns: {said}");
    let page = stdout(&page);
    for option in long_options() {
        // roff writes a dash as \-.
        let written = option.replace('-', "\\-");
        assert!(page.contains(&written), "{option} not on the man page");
    }
    for (verb, options) in verbs() {
        // The verb's own section, up to the next heading.
        let heading = format!(".SS \"opmux {}\"\n", verb.replace('-', "\\-"));
        let start = (page.find(&heading))
            .unwrap_or_else(|| panic!("{verb} has no section on the man page"));
        let section = &page[start + heading.len()..];
        let section = &section[..section.find("\n.S").unwrap_or(section.len())];
        for option in options {
            let written = option.replace('-', "\\-");
            assert!(
                section.contains(&written),
                "{verb} {option} not on the man page"
            );
        }
    }
    for section in [".SH VERBS", ".SH KEYS", ".SH FILES"] {
        assert!(page.contains(section), "no {section}");
    }
    // The verbs come with their own options, and no page is named that
    // nothing installs.
    for verb_option in ["opmux wait", "\\-\\-until", "\\-\\-history", "\\-\\-follow"] {
        assert!(
            page.contains(verb_option),
            "{verb_option} not on the man page"
        );
    }
    assert!(
        !page.contains("opmux\\-ls(1)"),
        "a page that does not exist is named"
    );
}

#[test]
fn dash_h_fits_a_screen_with_examples_and_help_is_grouped() {
    let short = stdout(&opmux(&["-h"]));
    assert!(short.contains("Examples:"), "{short}");
    // Rows on an 80-column terminal, long lines wrapped.
    let rows: usize = (short.lines())
        .map(|l| l.chars().count().div_ceil(80).max(1))
        .sum();
    assert!(rows <= 30, "-h takes {rows} rows at 80 columns");
    assert!(
        !short.contains("--kill-others"),
        "-h lists every option:\n{short}"
    );
    let long = stdout(&opmux(&["--help"]));
    for heading in [
        "Panes:",
        "Sessions:",
        "Without a terminal:",
        "Logging:",
        "Verbs",
        "Examples:",
    ] {
        assert!(long.contains(heading), "--help has no {heading}");
    }
    assert!(long.contains("--kill-others"));
}

#[test]
fn a_wait_condition_that_cannot_be_read_is_refused_before_any_session_is_reached() {
    for (until, says) in [
        ("bogus", "`bogus` is not a condition"),
        ("match:(", "`(` is not a regular expression"),
    ] {
        // No session runs in this test's runtime folder: a refusal that
        // needed one would say so instead.
        let out = opmux(&["wait", "api", "--until", until]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let said = stderr(&out);
        assert!(said.contains(says), "{said}");
        assert!(
            said.contains("attention, idle or match:REGEX") || until != "bogus",
            "{said}"
        );
    }
}
