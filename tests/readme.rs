//! The README is a contract with users: its key table must list every key the
//! help overlay lists, and its set-up commands must stay the ones that work.

use opmux::keys::{KEY_HELP, PROMPT_HELP, SCROLL_HELP};

mod common;

const README: &str = include_str!("../README.md");

#[test]
fn readme_key_table_lists_every_default_key() {
    for (key, _) in KEY_HELP.iter().chain(SCROLL_HELP).chain(PROMPT_HELP) {
        let row = format!("| `{key}` |");
        assert!(
            README.contains(&row),
            "README has no key table row for {key}"
        );
    }
}

#[test]
fn readme_names_the_demo_and_the_test_command() {
    assert!(README.contains("\ncargo run --release -- -c fixtures/opmux.toml\n"));
    assert!(README.contains("\ncargo test\n"));
    for fixture in ["fixtures/monitor", "fixtures/agent", "fixtures/opmux.toml"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert!(
            fixture.ends_with(".toml") || mode & 0o111 != 0,
            "{fixture} must be executable"
        );
    }
}

#[test]
fn the_readme_example_config_loads_as_written() {
    let start = README
        .find("```toml\nprefix")
        .expect("the complete example");
    let text = &README[start + "```toml\n".len()..];
    let text = &text[..text.find("```").expect("end of the example")];
    // Its folders and files are illustrations, so it is parsed with the
    // checks that touch the disk left out.
    let text = text
        .replace("cwd = \"server\"", "")
        .replace("env_file = \".env\"", "");
    let settings = opmux::config::file::parse_str(&text, "README example").unwrap();
    let names: Vec<&str> = settings.panes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["db", "api", "agent", "web", "migrate"]);
    // The automatic port reaches the command and the pane that refers to it.
    let (api, web) = (&settings.panes[1], &settings.panes[3]);
    let port = api.port.expect("api has a port").to_string();
    assert_eq!(api.argv.last(), Some(&port));
    assert_eq!(web.port, Some(3000));
    let url = format!("http://localhost:{port}");
    assert!(web.env.contains(&("API_URL".into(), Some(url))));
    let agent = &settings.panes[2];
    assert!(
        agent
            .attention
            .as_ref()
            .unwrap()
            .0
            .is_match("Apply it? (y/n)")
    );
    assert_eq!(agent.idle_after, Some(std::time::Duration::from_secs(5)));
}

#[test]
fn the_demo_config_checks_clean() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/opmux.toml");
    let loaded = opmux::config::file::load(&path, None).unwrap();
    let names: Vec<&str> = loaded
        .settings
        .panes
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["monitor", "agent"]);
    assert!(loaded.settings.panes[0].ready.is_some());
    assert!(!loaded.settings.panes[1].depends_on.is_empty());
}

#[test]
fn the_readme_keeps_its_promises_in_writing() {
    for heading in [
        "## Try it",
        "## Keys",
        "## opmux.toml",
        "### Moving from a Procfile",
        "### Moving from mprocs.yaml",
        "## Stopping, restarting and quitting",
        "## Log",
        "## What opmux guarantees about processes, and what it cannot",
        "## Benchmark",
    ] {
        assert!(
            README.contains(&format!("\n{heading}\n")),
            "README lost its section {heading:?}"
        );
    }
    assert!(
        README.contains("killed with SIGKILL"),
        "what survives a SIGKILLed opmux is documented"
    );
}

/// The mutation-testing table names the files to mutate and the test binaries
/// that should notice; a renamed file or test binary must not leave it stale.
#[test]
fn the_mutation_testing_table_names_files_and_tests_that_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let start = README
        .find("| files | the tests that should notice |")
        .expect("the mutation-testing table");
    let rows: Vec<&str> = README[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    assert!(rows.len() >= 6, "{rows:?}");
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (files, tests) = (cells[1], cells[2]);
        for file in files.split('`').skip(1).step_by(2) {
            let folder = file.strip_suffix("*.rs").unwrap_or(file);
            assert!(root.join(folder).exists(), "{file} in {row}");
        }
        let args = tests.split_whitespace().map(|a| a.trim_matches('`'));
        for arg in args.filter(|a| *a != "-C") {
            if let Some(name) = arg.strip_prefix("--test=") {
                let path = root.join("tests").join(format!("{name}.rs"));
                assert!(path.exists(), "no test binary {name} in {row}");
            } else {
                assert_eq!(arg, "--lib", "{row}");
            }
        }
    }
    assert!(root.join(".cargo/mutants.toml").exists());
}

#[test]
fn the_process_compose_example_loads_as_written() {
    let start = README
        .find("becomes\n\n```toml\n[[pane]]\nname = \"db\"\ncmd = \"postgres")
        .expect("the process-compose example");
    let text = &README[start + "becomes\n\n```toml\n".len()..];
    let text = &text[..text.find("```").expect("end of the example")];
    let settings = opmux::config::file::parse_str(text, "README example").unwrap();
    let api = &settings.panes[1];
    assert_eq!(api.port, Some(8080));
    assert!(api.ready_probe.is_some() && api.live_probe.is_some() && api.watch.is_some());
    assert_eq!(api.depends_on[0].condition, opmux::config::Condition::Ready);
}

/// The README's lines that install the completions and the manual page, run
/// as written for a user whose `~/.cargo/bin` holds opmux; then each shell,
/// started as that user's would be, loads its completions from where they
/// were put, and `man` finds the page.
#[test]
fn the_install_section_puts_completions_and_the_man_page_where_they_are_found() {
    use std::process::Command;
    let section = &README[README.find("## Install\n").expect("an Install section")..];
    let start = section
        .find("```sh\nmkdir -p")
        .expect("the completions block");
    let block = &section[start + "```sh\n".len()..];
    let block = &block[..block.find("```").expect("end of the block")];
    let scratch = common::Scratch::new("readme-home");
    let home = scratch.0.clone();
    let bin = home.join(".cargo/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_opmux"), bin.join("opmux")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    // A program run as the user: nothing of the caller's environment, so
    // neither its MANPATH nor its HOME decides the outcome.
    let run = |program: &str, args: &[&str]| -> String {
        let out = Command::new(program)
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", &path)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "`{program} {args:?}` failed: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        said
    };
    let has_man = common::installed_for("man", "where man finds the page");
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        match line {
            // Reading the page is for a person; where man finds it is
            // checked.
            "man opmux" if has_man => {
                let found = run("man", &["-w", "opmux"]);
                let page = home.join(".cargo/share/man/man1/opmux.1");
                assert_eq!(
                    found.trim(),
                    page.display().to_string(),
                    "man finds another page"
                );
            }
            "man opmux" => {}
            line => {
                run("sh", &["-c", line]);
            }
        }
    }
    let page = std::fs::read_to_string(home.join(".cargo/share/man/man1/opmux.1"))
        .expect("the README's lines made no manual page");
    assert!(
        page.contains(".TH opmux 1"),
        "not the manual page: {page:.200}"
    );

    // bash-completion, as a user's ~/.bashrc loads it, finds the script on
    // its first use of the command.
    let loader = "/usr/share/bash-completion/bash_completion";
    let has_loader = std::path::Path::new(loader).exists();
    assert!(
        has_loader || std::env::var_os("CI").is_none(),
        "bash-completion is not installed, and CI needs it"
    );
    if has_loader {
        let said = run(
            "bash",
            &[
                "-c",
                &format!(". {loader}; _completion_loader opmux; complete -p opmux"),
            ],
        );
        assert!(
            said.contains("-F _opmux opmux"),
            "bash loaded no completion: {said}"
        );
    } else {
        eprintln!("bash-completion is not installed: bash's loading is not checked");
    }
    // zsh with the line the README asks for in ~/.zshrc.
    if common::installed_for("zsh", "zsh's loading of its completions") {
        let said = run(
            "zsh",
            &[
                "-fc",
                "fpath+=(~/.zfunc); autoload -Uz compinit; compinit -u -d ~/.zcompdump; \
                 print -r -- ${_comps[opmux]}",
            ],
        );
        assert_eq!(said.trim(), "_opmux", "zsh loaded no completion");
    }
    // fish loads a command's completions from its folder by itself.
    if common::installed_for("fish", "fish's loading of its completions") {
        let said = run("fish", &["-c", "complete -C 'opmux --no-t'"]);
        assert!(said.starts_with("--no-tui"), "fish offers: {said}");
    }
}
