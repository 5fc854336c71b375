//! Procfiles, as foreman, overmind and honcho read them: one `name: command`
//! per line, with blank lines and `#` comments allowed, and the `.env` beside
//! the file for the processes' environment.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::PaneSpec;

/// A Procfile's processes, read with the `.env` beside it.
pub struct Procfile {
    /// One pane per process line.
    pub panes: Vec<PaneSpec>,
    /// The `.env`'s `PORT`: where the processes' ports start.
    pub port: Option<String>,
}

/// Reads the Procfile at `path` into panes, one per process line, with the
/// variables of a `.env` beside it. (foreman reads the `.env` of the folder
/// it starts in, the same file when that is the Procfile's.)
pub fn load(path: &Path) -> Result<Procfile> {
    let text =
        super::read_text_file(path).with_context(|| format!("reading {}", path.display()))?;
    let mut panes = parse(&text, &path.display().to_string())?;
    // As foreman does, commands run from the Procfile's folder.
    let folder = super::folder_of(path)
        .with_context(|| format!("resolving the folder of {}", path.display()))?;
    for pane in &mut panes {
        pane.cwd = Some(folder.clone());
    }
    let mut port = None;
    let dotenv = folder.join(".env");
    if dotenv.is_file() {
        let shown = dotenv.display().to_string();
        let text = super::read_text_file(&dotenv).with_context(|| format!("reading {shown}"))?;
        for (key, value) in super::file::parse_dotenv(&text, &shown)? {
            // Its PORT is where the ports start; each process gets its own.
            if key == "PORT" {
                port = value;
                continue;
            }
            for pane in &mut panes {
                pane.env.push((key.clone(), value.clone()));
            }
        }
    }
    Ok(Procfile { panes, port })
}

/// Parses Procfile text; `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<Vec<PaneSpec>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut panes: Vec<PaneSpec> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, command)) = trimmed.split_once(':') else {
            bail!("{file}:{line_no}: expected `name: command`, found `{trimmed}`");
        };
        let name = name.trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            bail!(
                "{file}:{line_no}: `{name}` is not a process name: use letters, digits, `_` and `-` before the `:`"
            );
        }
        let command = command.trim();
        if command.is_empty() {
            bail!("{file}:{line_no}: process `{name}` has no command after the `:`");
        }
        if panes.iter().any(|p| p.name == name) {
            bail!("{file}:{line_no}: process `{name}` is defined twice");
        }
        let mut pane = PaneSpec::shell(command);
        pane.name = name.to_string();
        pane.named = true;
        panes.push(pane);
    }
    if panes.is_empty() {
        bail!("{file}: no `name: command` lines");
    }
    Ok(panes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_lines_become_named_shell_panes() {
        let text =
            "# dev\nweb: bundle exec rails s -p $PORT\n\nworker:   sidekiq -C config.yml  \n";
        let panes = parse(text, "Procfile").unwrap();
        let got: Vec<_> = panes
            .iter()
            .map(|p| (p.name.as_str(), p.argv[2].as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("web", "bundle exec rails s -p $PORT"),
                ("worker", "sidekiq -C config.yml")
            ]
        );
        assert_eq!(panes[0].argv[..2], ["/bin/sh", "-c"]);
        let names: Vec<String> = parse("web_1: a\nworker-2: b\n", "Procfile")
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["web_1", "worker-2"]);
    }

    #[test]
    fn bad_lines_are_named_with_their_line_number() {
        let cases = [
            (
                "web: ok\njust a command\n",
                "Procfile:2: expected `name: command`, found `just a command`",
            ),
            (
                "my web: rails s\n",
                "Procfile:1: `my web` is not a process name: use letters, digits, `_` and `-` before the `:`",
            ),
            (
                "web:\n",
                "Procfile:1: process `web` has no command after the `:`",
            ),
            ("a: x\na: y\n", "Procfile:2: process `a` is defined twice"),
            ("# nothing\n\n", "Procfile: no `name: command` lines"),
            (
                "\u{feff}web: ok\nx\n",
                "Procfile:2: expected `name: command`, found `x`",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse(text, "Procfile").unwrap_err().to_string(),
                expected,
                "{text:?}"
            );
        }
    }
}
