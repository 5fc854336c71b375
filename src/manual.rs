//! `opmux man`: the manual page in roff, from the clap definitions the
//! command line is parsed with (options and verbs, through clap_mangen),
//! then the keys, as the help overlay lists them, and the opmux.toml
//! reference.

use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::keys::{KEY_HELP, PROMPT_HELP, SCROLL_HELP};

/// Top-level settings of opmux.toml, each with what it does.
pub const FILE_FIELDS: &[(&str, &str)] = &[
    (
        "prefix",
        "the command key: \"C-b\" (the default), \"C-a\", \"C-Space\", \"M-x\"",
    ),
    ("layout", "\"tiled\" (the default), \"rows\" or \"columns\""),
    ("scrollback", "lines of history each pane keeps (10000)"),
    (
        "flood_nice",
        "nice steps lower for flooding panes' programs, 0 to 19 (15)",
    ),
    (
        "clipboard",
        "\"allow\" lets panes' programs set the clipboard (OSC 52); \"deny\" by default",
    ),
    (
        "bell",
        "\"on\" (the default) passes panes' bells to the terminal; \"off\" does not",
    ),
    (
        "notify",
        "\"allow\" passes panes' desktop notifications on; \"deny\" by default",
    ),
    ("persist", "true: losing the terminal only detaches it"),
    (
        "stop_timeout",
        "seconds from a pane's stop signal to SIGKILL (5)",
    ),
    ("log_dir", "a folder for each pane's output log, NAME.log"),
    ("env", "variables for every pane; false unsets one"),
    ("env_file", "a file of KEY=value lines for every pane"),
    ("port_base", "where port = \"auto\" starts looking (5000)"),
    ("port_step", "how far apart automatic ports are (100)"),
    ("pane", "one [[pane]] table per pane, with the fields below"),
];

/// The fields of a `[[pane]]` table, each with what it does.
pub const PANE_FIELDS: &[(&str, &str)] = &[
    (
        "name",
        "the pane's name (its command's first word by default)",
    ),
    (
        "cmd",
        "a command line run with sh -c, or an array run as it is; required",
    ),
    ("cwd", "the folder it runs in, relative to the file"),
    (
        "env",
        "its variables, over the top-level ones; false unsets one",
    ),
    ("autostart", "false: it waits for C-b s or opmux start"),
    (
        "restart",
        "\"never\" (the default), \"on-failure\" or \"always\", with backoff",
    ),
    ("max_restarts", "automatic restarts before giving up"),
    ("stop_signal", "its stop signal (SIGTERM)"),
    ("stop_timeout", "seconds from its stop signal to SIGKILL"),
    (
        "depends_on",
        "panes to wait for: a list, or a table of \"started\", \"ready\", \"succeeded\"",
    ),
    (
        "ready",
        "a regex over rendered lines: the run is ready once one matches",
    ),
    (
        "attention",
        "a regex over rendered lines: a match raises the pane's attention",
    ),
    (
        "idle_after",
        "quiet this long after output raises its attention (\"5s\")",
    ),
    (
        "port",
        "a port number, or \"auto\": given to it as PORT; ${port} and ${NAME.port} expand",
    ),
    (
        "group",
        "its group: @group names all of its panes in the verbs; C-b R restarts them",
    ),
    (
        "ready_probe",
        "{ http = URL } or { tcp = PORT } or { exec = COMMAND }, with interval, timeout, initial_delay",
    ),
    (
        "live_probe",
        "the same, with failure_threshold: failing that often stops the run as a failure",
    ),
    (
        "watch",
        "file patterns, relative to cwd, whose changes restart it",
    ),
    (
        "watch_ignore",
        "patterns left out of watch (.git and target always are)",
    ),
    (
        "watch_debounce",
        "the quiet after a burst of changes before the restart (\"500ms\")",
    ),
    (
        "restart_dependents",
        "true: a restart on change restarts the panes depending on it too",
    ),
];

/// The whole page.
pub fn page() -> String {
    let command = crate::cli::full_command();
    let verbs: Vec<clap::Command> = command.get_subcommands().cloned().collect();
    let man = clap_mangen::Man::new(command);
    let mut out = Vec::new();
    // Clap's sections but its list of subcommands, which names pages of
    // their own that do not exist: the verbs come whole, below. Writing
    // to a Vec cannot fail.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let _ = man.render_options_section(&mut out);
    let mut extra = Roff::new();
    extra.control("SH", ["VERBS"]);
    extra.text([roman(
        "As the first argument, these act on a running session instead of starting one.",
    )]);
    for verb in &verbs {
        // A control line's arguments go out as written: its dash is
        // escaped here, so that it is a minus sign, not a hyphen.
        let heading = format!("opmux {}", verb.get_name().replace('-', "\\-"));
        extra.control("SS", [heading.as_str()]);
        if let Some(about) = verb.get_about() {
            extra.text([roman(about.to_string())]);
        }
        let aliases: Vec<String> = (verb.get_visible_aliases())
            .map(|alias| format!("opmux {alias}"))
            .collect();
        if !aliases.is_empty() {
            extra.text([roman(format!("Also written {}.", aliases.join(", ")))]);
        }
        for arg in verb.get_arguments().filter(|a| a.get_id() != "help") {
            let mut names = Vec::new();
            if let Some(short) = arg.get_short() {
                names.push(format!("-{short}"));
            }
            if let Some(long) = arg.get_long() {
                names.push(format!("--{long}"));
            }
            if names.is_empty() {
                let value = arg.get_value_names().and_then(|v| v.first().cloned());
                names.push(value.map_or_else(
                    || arg.get_id().to_string().to_uppercase(),
                    |v| v.to_string(),
                ));
            }
            extra.control("TP", []);
            extra.text([bold(names.join(", "))]);
            if let Some(help) = arg.get_help() {
                extra.text([roman(help.to_string())]);
            }
        }
    }
    extra.control("SH", ["KEYS"]);
    extra.text([roman(
        "Keys after the prefix (C-b unless the configuration names another) act on the \
         focused pane; other keys go to it.",
    )]);
    for (heading, keys) in [
        ("", KEY_HELP),
        ("Scroll mode", SCROLL_HELP),
        ("The prompt", PROMPT_HELP),
    ] {
        if !heading.is_empty() {
            extra.control("SS", [heading]);
        }
        for (key, what) in keys {
            extra.control("TP", []);
            extra.text([bold(*key)]);
            extra.text([roman(*what)]);
        }
    }
    extra.control("SH", ["FILES"]);
    extra.text([
        italic("opmux.toml"),
        roman(
            " in the current folder, or the file given to -c, holds the panes and \
             settings. Every field but a pane's cmd is optional, and an unknown one is an \
             error naming the file, line and field.",
        ),
    ]);
    for (heading, fields) in [("Settings", FILE_FIELDS), ("[[pane]]", PANE_FIELDS)] {
        extra.control("SS", [heading]);
        for (field, what) in fields {
            extra.control("TP", []);
            extra.text([bold(*field)]);
            extra.text([roman(*what)]);
        }
    }
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(&extra.render());
    let mut version = Vec::new();
    let _ = man.render_version_section(&mut version);
    page.push_str(&String::from_utf8_lossy(&version));
    ascii(&page)
}

/// `page` with every character beyond ASCII written as groff's `\[uXXXX]`:
/// roff is read as ASCII unless the reader converts it first.
fn ascii(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    for c in page.chars() {
        match c.is_ascii() {
            true => out.push(c),
            false => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field names an unknown field's error lists for `text`.
    fn listed(text: &str) -> Vec<String> {
        let error = crate::config::file::parse_str(text, "t.toml")
            .unwrap_err()
            .to_string();
        let (_, fields) = error.split_once("the fields here are ").expect(&error);
        fields.split(", ").map(str::to_string).collect()
    }

    #[test]
    fn the_page_names_every_field_opmux_toml_takes_and_every_key() {
        let page = page();
        let top = listed("nosuch = 1\n");
        let pane = listed("[[pane]]\ncmd = \"x\"\nnosuch = 1\n");
        for field in top.iter().chain(&pane) {
            let documented = FILE_FIELDS
                .iter()
                .chain(PANE_FIELDS)
                .any(|(f, _)| f == field);
            assert!(documented, "`{field}` is missing from the manual's tables");
            let bold = format!("\\fB{}\\fR", field.replace('-', "\\-"));
            assert!(page.contains(&bold), "`{field}` not on the page");
        }
        for (key, _) in KEY_HELP.iter().chain(SCROLL_HELP).chain(PROMPT_HELP) {
            let key = ascii(&key.replace('-', "\\-"));
            assert!(page.contains(&key), "the key `{key}` is not on the page");
        }
    }
}
