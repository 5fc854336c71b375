//! opmux.toml: top-level settings and `[[pane]]` tables, read with serde and
//! checked field by field. Every error names the file, the line and column,
//! and the field, with a hint for a mistyped field name.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::Signal;
use serde::Deserialize;
use toml::Spanned;

use super::ports::{self, Wanted};
use super::probe::{self, Check, Probe};
use super::{
    Condition, LayoutKind, PaneSpec, ReadyPattern, RestartPolicy, Settings, check_dependencies,
    closest, default_name, parse_key, parse_signal,
};
use crate::clean_text;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    prefix: Option<Spanned<String>>,
    layout: Option<LayoutKind>,
    scrollback: Option<usize>,
    flood_nice: Option<Spanned<i64>>,
    clipboard: Option<super::Clipboard>,
    bell: Option<super::Bell>,
    notify: Option<super::Notify>,
    persist: Option<bool>,
    stop_timeout: Option<Spanned<f64>>,
    log_dir: Option<String>,
    env: Option<BTreeMap<String, Spanned<EnvValue>>>,
    env_file: Option<Spanned<String>>,
    port_base: Option<Spanned<i64>>,
    port_step: Option<Spanned<i64>>,
    #[serde(default)]
    pane: Vec<Spanned<RawPane>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPane {
    name: Option<Spanned<String>>,
    cmd: Option<Spanned<Cmd>>,
    cwd: Option<Spanned<String>>,
    env: Option<BTreeMap<String, Spanned<EnvValue>>>,
    autostart: Option<bool>,
    restart: Option<RestartPolicy>,
    max_restarts: Option<u32>,
    stop_signal: Option<Spanned<String>>,
    stop_timeout: Option<Spanned<f64>>,
    depends_on: Option<Spanned<DependsOn>>,
    ready: Option<Spanned<String>>,
    attention: Option<Spanned<String>>,
    idle_after: Option<Spanned<String>>,
    port: Option<Spanned<PortValue>>,
    group: Option<Spanned<String>>,
    ready_probe: Option<Spanned<RawProbe>>,
    live_probe: Option<Spanned<RawProbe>>,
    watch: Option<Spanned<Vec<String>>>,
    watch_ignore: Option<Spanned<Vec<String>>>,
    watch_debounce: Option<Spanned<String>>,
    restart_dependents: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    http: Option<String>,
    tcp: Option<PortValue>,
    exec: Option<String>,
    interval: Option<String>,
    timeout: Option<String>,
    initial_delay: Option<String>,
    failure_threshold: Option<i64>,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "expected a port number, or \"auto\"")]
enum PortValue {
    Number(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a command line string, or an array of program and arguments"
)]
enum Cmd {
    Shell(String),
    Argv(Vec<String>),
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a string, a number, or false to unset the variable"
)]
enum EnvValue {
    Text(String),
    Flag(bool),
    Integer(i64),
    Float(f64),
}

enum DependsOn {
    List(Vec<String>),
    Table(BTreeMap<String, Condition>),
}

/// Written by hand rather than as an untagged enum, whose one error for
/// every mistake would hide which name or condition is wrong.
impl<'de> Deserialize<'de> for DependsOn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Forms;
        impl<'de> serde::de::Visitor<'de> for Forms {
            type Value = DependsOn;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of pane names, or a table from pane name to \"started\", \"ready\" or \"succeeded\"")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<DependsOn, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(DependsOn::List(names))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<DependsOn, A::Error> {
                let mut table = BTreeMap::new();
                while let Some(name) = map.next_key::<String>()? {
                    let condition: String = map.next_value()?;
                    let Some(parsed) = Condition::from_name(&condition) else {
                        return Err(serde::de::Error::custom(format!(
                            "`{name}` has no condition `{condition}`: use \"started\", \"ready\" or \"succeeded\""
                        )));
                    };
                    table.insert(name, parsed);
                }
                Ok(DependsOn::Table(table))
            }
        }
        deserializer.deserialize_any(Forms)
    }
}

/// A loaded file: its settings, and its top-level `stop_timeout` for panes
/// that come from elsewhere.
pub struct Loaded {
    pub settings: Settings,
    pub stop_timeout: Option<Duration>,
}

/// Reads and checks the opmux.toml at `path`. `cli_stop_timeout` is the
/// command line's `--stop-timeout`, which beats the file's top-level one but
/// not a pane's own.
pub fn load(path: &Path, cli_stop_timeout: Option<Duration>) -> Result<Loaded> {
    let file = path.display().to_string();
    if path.is_dir() {
        bail!("{file}: is a folder, not a config file");
    }
    let text = super::read_text_file(path).with_context(|| format!("{file}: cannot be read"))?;
    let base =
        super::folder_of(path).with_context(|| format!("{file}: cannot resolve its folder"))?;
    parse(&text, &file, &base, cli_stop_timeout)
}

/// Places in the file, as `file:line:column`.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{column}", self.file)
    }

    fn error<T>(&self, offset: usize, field: &str, message: impl std::fmt::Display) -> Result<T> {
        Err(anyhow!("{}: field `{field}`: {message}", self.at(offset)))
    }

    /// Rewrites a serde/TOML error to name its place and field, with a hint
    /// for a mistyped field name.
    fn explain(&self, error: &toml::de::Error) -> anyhow::Error {
        let message = error.message().trim();
        let offset = error.span().map_or(0, |s| s.start);
        let at = self.at(offset);
        if let Some(rest) = message.strip_prefix("unknown field `") {
            let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
            let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            let hint = match closest(field, &known) {
                Some(near) => format!(", did you mean `{near}`?"),
                None => format!("; the fields here are {}", known.join(", ")),
            };
            return anyhow!("{at}: unknown field `{field}`{hint}");
        }
        if message.starts_with("invalid type: map, expected a sequence")
            && self.text[offset.min(self.text.len())..].starts_with("[pane")
        {
            return anyhow!("{at}: `[pane]` is one table; write `[[pane]]` for each pane");
        }
        match self.key_on_line(offset) {
            Some(key) => anyhow!("{at}: field `{key}`: {message}"),
            None => anyhow!("{at}: {message}"),
        }
    }

    /// The key assigned on the line holding `offset`, if any.
    fn key_on_line(&self, offset: usize) -> Option<&str> {
        let start = self.text[..offset.min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next()?;
        let (key, _) = line.split_once('=')?;
        let key = key.trim().trim_matches('"');
        (!key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .then_some(key)
    }
}

/// A `ready_probe` or `live_probe` table: one of `http`, `tcp` and `exec`,
/// and its timing.
fn read_probe(source: &Source<'_>, value: &Spanned<RawProbe>, field: &str) -> Result<Probe> {
    let at = value.span().start;
    let raw = value.get_ref();
    let check = match (&raw.http, &raw.tcp, &raw.exec) {
        (Some(url), None, None) => {
            if !url.starts_with("http://") {
                return source.error(
                    at,
                    field,
                    format_args!(
                        "`{}` is not an http:// URL (https is not supported)",
                        clean_text(url)
                    ),
                );
            }
            Check::Http(url.clone())
        }
        (None, Some(PortValue::Number(port)), None) => match ports::number(*port) {
            Some(port) => Check::Tcp(port.to_string()),
            None => return source.error(at, field, format_args!("{port} is not a port")),
        },
        (None, Some(PortValue::Text(address)), None) => Check::Tcp(address.clone()),
        (None, None, Some(command)) if !command.trim().is_empty() => Check::Exec(command.clone()),
        _ => {
            return source.error(
                at,
                field,
                "give exactly one of http = \"http://…\", tcp = PORT or exec = \"command\"",
            );
        }
    };
    let live = field == "live_probe";
    let time = |text: &Option<String>, what: &str, default: Duration, zero: bool| match text {
        None => Ok(default),
        Some(text) => match super::parse_duration(text).filter(|d| zero || !d.is_zero()) {
            Some(duration) => Ok(duration),
            None => source.error(
                at,
                field,
                format_args!(
                    "{what} `{}` is not a time such as \"2s\" or \"500ms\"",
                    clean_text(text)
                ),
            ),
        },
    };
    let default_interval = match live {
        true => probe::LIVE_INTERVAL,
        false => probe::READY_INTERVAL,
    };
    let failure_threshold = match (raw.failure_threshold, live) {
        (None, _) => probe::FAILURE_THRESHOLD,
        (Some(n), true) if (1..=1000).contains(&n) => n as u32,
        (Some(n), true) => {
            return source.error(
                at,
                field,
                format_args!("failure_threshold {n} is not from 1 to 1000"),
            );
        }
        (Some(_), false) => {
            return source.error(at, field, "failure_threshold is for live_probe");
        }
    };
    Ok(Probe {
        check,
        interval: time(&raw.interval, "interval", default_interval, false)?,
        timeout: time(&raw.timeout, "timeout", probe::TIMEOUT, false)?,
        initial_delay: time(&raw.initial_delay, "initial_delay", Duration::ZERO, true)?,
        failure_threshold,
    })
}

/// `port_base` or `port_step`: a port number above 0.
fn port_setting(source: &Source<'_>, value: Option<&Spanned<i64>>, field: &str) -> Result<u16> {
    let Some(value) = value else {
        return Ok(match field {
            "port_base" => ports::DEFAULT_BASE,
            _ => ports::DEFAULT_STEP,
        });
    };
    match ports::number(*value.get_ref()) {
        Some(n) => Ok(n),
        None => source.error(
            value.span().start,
            field,
            format_args!("{} is not a number from 1 to 65535", value.get_ref()),
        ),
    }
}

/// A pane's `port`: a number from 1 to 65535, or "auto".
fn wanted_port(source: &Source<'_>, value: &Spanned<PortValue>) -> Result<Wanted> {
    match value.get_ref() {
        PortValue::Number(n) => match ports::number(*n) {
            Some(port) => Ok(Wanted::Fixed(port)),
            None => source.error(
                value.span().start,
                "port",
                format_args!("{n} is not a port: give a number from 1 to 65535, or \"auto\""),
            ),
        },
        PortValue::Text(text) if text == "auto" => Ok(Wanted::Auto),
        PortValue::Text(text) => source.error(
            value.span().start,
            "port",
            format_args!(
                "`{}` is not a port: give a number from 1 to 65535, or \"auto\"",
                clean_text(text)
            ),
        ),
    }
}

/// A field's regular expression, or an error naming the field and place.
fn pattern(source: &Source<'_>, text: &Spanned<String>, field: &str) -> Result<regex::Regex> {
    regex::Regex::new(text.get_ref()).map_err(|e| {
        let why = e.to_string();
        let last = why.lines().last().unwrap_or("").trim().to_string();
        anyhow!(
            "{}: field `{field}`: not a valid pattern: {last}",
            source.at(text.span().start)
        )
    })
}

fn seconds(source: &Source<'_>, value: &Spanned<f64>) -> Result<Duration> {
    let secs = *value.get_ref();
    if !(0.0..=super::MAX_STOP_TIMEOUT_SECS).contains(&secs) {
        return source.error(
            value.span().start,
            "stop_timeout",
            format_args!(
                "{secs} is not between 0 and {} seconds",
                super::MAX_STOP_TIMEOUT_SECS
            ),
        );
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Environment entries, each with where it was written.
type Placed = Vec<((String, Option<String>), usize)>;

fn env_entries(
    source: &Source<'_>,
    table: Option<BTreeMap<String, Spanned<EnvValue>>>,
) -> Result<Placed> {
    let mut entries = Vec::new();
    for (key, value) in table.unwrap_or_default() {
        let set = match value.get_ref() {
            EnvValue::Text(text) => Some(text.clone()),
            EnvValue::Integer(n) => Some(n.to_string()),
            EnvValue::Float(x) => Some(x.to_string()),
            EnvValue::Flag(false) => None,
            EnvValue::Flag(true) => {
                return source.error(
                    value.span().start,
                    "env",
                    format_args!(
                        "`{key} = true` is not a value: write a string, or false to unset `{key}`"
                    ),
                );
            }
        };
        entries.push(((key, set), value.span().start));
    }
    Ok(entries)
}

/// Reads a dotenv file into environment entries.
fn env_file(
    source: &Source<'_>,
    base: &Path,
    value: &Spanned<String>,
) -> Result<Vec<(String, Option<String>)>> {
    let path = base.join(value.get_ref());
    let shown = path.display();
    let text = match super::read_text_file(&path) {
        Ok(text) => text,
        Err(e) => {
            return source.error(
                value.span().start,
                "env_file",
                format_args!("cannot read {shown}: {e}"),
            );
        }
    };
    parse_dotenv(&text, &shown.to_string())
}

/// Reads dotenv text into environment entries; `shown` names the file in
/// messages, which give the line a mistake is on.
pub(super) fn parse_dotenv(text: &str, shown: &str) -> Result<Vec<(String, Option<String>)>> {
    let mut entries = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok((key, val)) => entries.push((key, Some(val))),
            Err(dotenvy::Error::LineParse(fragment, _)) => {
                // dotenvy gives the whole line for a bad key, but only the
                // value for a bad value: the line is the first one, not a
                // comment, that is the fragment or holds it.
                let wanted = fragment.lines().next().unwrap_or("").trim();
                let lines = || {
                    text.lines()
                        .enumerate()
                        .filter(|(_, l)| !l.trim_start().starts_with('#'))
                };
                let found = lines()
                    .find(|(_, l)| l.trim() == wanted)
                    .or_else(|| lines().find(|(_, l)| !wanted.is_empty() && l.contains(wanted)));
                match found {
                    Some((i, line)) => bail!(
                        "{shown}:{}: not a `KEY=value` line: `{}`",
                        i + 1,
                        line.trim()
                    ),
                    None => bail!("{shown}: not a `KEY=value` line: `{}`", fragment.trim()),
                }
            }
            Err(e) => bail!("{shown}: {e}"),
        }
    }
    Ok(entries)
}

/// Parses opmux.toml text. `file` names it in messages; relative paths in it
/// are taken from `base`, the file's folder.
pub fn parse(
    text: &str,
    file: &str,
    base: &Path,
    cli_stop_timeout: Option<Duration>,
) -> Result<Loaded> {
    let source = Source { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| source.explain(&e))?;
    let mut settings = Settings::default();
    if let Some(prefix) = &raw.prefix {
        settings.prefix = parse_key(prefix.get_ref()).ok_or_else(|| {
            anyhow!(
                "{}: field `prefix`: `{}` is not a key: write it like \"C-b\", \"C-a\", \"C-Space\" or \"M-x\"",
                source.at(prefix.span().start),
                prefix.get_ref()
            )
        })?;
    }
    settings.layout = raw.layout.unwrap_or_default();
    if let Some(lines) = raw.scrollback {
        settings.scrollback = lines;
    }
    if let Some(nice) = &raw.flood_nice {
        settings.flood_nice = u8::try_from(*nice.get_ref())
            .ok()
            .filter(|n| *n <= super::MAX_NICE)
            .ok_or_else(|| {
                anyhow!(
                    "{}: field `flood_nice`: {} is not a nice value: give 0 (leave flooding panes alone) to 19",
                    source.at(nice.span().start),
                    nice.get_ref()
                )
            })?;
    }
    settings.clipboard = raw.clipboard.unwrap_or_default();
    settings.bell = raw.bell.unwrap_or_default();
    settings.notify = raw.notify.unwrap_or_default();
    settings.persist = raw.persist.unwrap_or(false);
    settings.log_dir = raw.log_dir.map(|dir| base.join(dir));
    let top_timeout = raw
        .stop_timeout
        .as_ref()
        .map(|t| seconds(&source, t))
        .transpose()?;
    let mut shared_env: Placed = match &raw.env_file {
        Some(value) => (env_file(&source, base, value)?.into_iter())
            .map(|entry| (entry, value.span().start))
            .collect(),
        None => Vec::new(),
    };
    shared_env.extend(env_entries(&source, raw.env)?);
    let port_base = port_setting(&source, raw.port_base.as_ref(), "port_base")?;
    let port_step = port_setting(&source, raw.port_step.as_ref(), "port_step")?;
    // Per pane: where its `cmd` and each of its variables were written, and
    // the port it asked for, with where.
    let mut cmd_places = Vec::new();
    let mut env_places: Vec<Vec<usize>> = Vec::new();
    let mut wanted_ports = Vec::new();
    let mut probe_places: Vec<[Option<usize>; 2]> = Vec::new();

    let mut raw_deps = Vec::new();
    let mut places = Vec::new();
    // Names given, with where: two panes may not share one, or their logs
    // and dependencies would mix.
    let mut given: Vec<(String, usize)> = Vec::new();
    for (number, spanned) in raw.pane.into_iter().enumerate() {
        let pane_at = spanned.span().start;
        let raw = spanned.into_inner();
        let name = match &raw.name {
            Some(name) => {
                let clean = clean_text(name.get_ref());
                if clean.trim().is_empty() {
                    return source.error(name.span().start, "name", "a pane name cannot be empty");
                }
                if let Some((_, at)) = given.iter().find(|(n, _)| *n == clean) {
                    let first = source.at(*at);
                    return source.error(
                        name.span().start,
                        "name",
                        format_args!("`{clean}` is already the name of the pane at {first}"),
                    );
                }
                given.push((clean.clone(), name.span().start));
                Some(clean)
            }
            None => None,
        };
        let Some(cmd) = raw.cmd else {
            let who = name.map_or_else(
                || format!("pane #{}", number + 1),
                |n| format!("pane `{n}`"),
            );
            bail!(
                "{}: {who} has no `cmd`: every [[pane]] needs the command it runs",
                source.at(pane_at)
            );
        };
        let cmd_at = cmd.span().start;
        let (argv, first_word) = match cmd.into_inner() {
            Cmd::Shell(line) if line.trim().is_empty() => {
                return source.error(cmd_at, "cmd", "the command is empty");
            }
            Cmd::Argv(argv) if argv.first().is_none_or(|p| p.trim().is_empty()) => {
                return source.error(
                    cmd_at,
                    "cmd",
                    "the array needs a program as its first element",
                );
            }
            Cmd::Shell(line) => (vec!["/bin/sh".into(), "-c".into(), line.clone()], line),
            Cmd::Argv(argv) => {
                let first = argv[0].clone();
                (argv, first)
            }
        };
        let named = name.is_some();
        let mut pane = PaneSpec::new(name.unwrap_or_else(|| default_name(&first_word)), argv);
        pane.named = named;
        // A file describes a project: its commands run from its folder.
        pane.cwd = Some(base.to_path_buf());
        if let Some(cwd) = &raw.cwd {
            let dir = base.join(cwd.get_ref());
            if !dir.is_dir() {
                return source.error(
                    cwd.span().start,
                    "cwd",
                    format_args!("folder {} does not exist", dir.display()),
                );
            }
            pane.cwd = Some(dir);
        }
        let mut env = shared_env.clone();
        env.extend(env_entries(&source, raw.env)?);
        env_places.push(env.iter().map(|(_, at)| *at).collect());
        pane.env = env.into_iter().map(|(entry, _)| entry).collect();
        cmd_places.push(cmd_at);
        wanted_ports.push(match &raw.port {
            Some(port) => Some((wanted_port(&source, port)?, port.span().start)),
            None => None,
        });
        if let Some(group) = &raw.group {
            let name = group.get_ref();
            let fits = |c: char| c.is_alphanumeric() || "-_.".contains(c);
            if name.is_empty() || !name.chars().all(fits) {
                return source.error(
                    group.span().start,
                    "group",
                    format_args!(
                        "`{}` is not a group name: letters, digits, `-`, `_` and `.` only",
                        clean_text(name)
                    ),
                );
            }
            pane.group = Some(name.clone());
        }
        let ready_probe = raw.ready_probe.as_ref();
        pane.ready_probe = ready_probe
            .map(|p| read_probe(&source, p, "ready_probe"))
            .transpose()?;
        let live_probe = raw.live_probe.as_ref();
        pane.live_probe = live_probe
            .map(|p| read_probe(&source, p, "live_probe"))
            .transpose()?;
        probe_places.push([ready_probe, live_probe].map(|p| p.map(|p| p.span().start)));
        if let Some(watch) = &raw.watch {
            let debounce = match &raw.watch_debounce {
                None => super::watch::DEBOUNCE,
                Some(text) => super::parse_duration(text.get_ref()).ok_or_else(|| {
                    anyhow!(
                        "{}: field `watch_debounce`: `{}` is not a time such as \"500ms\"",
                        source.at(text.span().start),
                        clean_text(text.get_ref())
                    )
                })?,
            };
            let ignore = raw.watch_ignore.as_ref().map(|i| i.get_ref().clone());
            let root = pane.cwd.clone().unwrap_or_else(|| base.to_path_buf());
            let patterns = watch.get_ref().clone();
            if patterns.is_empty() {
                return source.error(watch.span().start, "watch", "give at least one pattern");
            }
            let made =
                super::watch::Watch::new(&root, patterns, ignore.unwrap_or_default(), debounce);
            pane.watch = Some(made.or_else(|(field, why)| {
                let at = match (field, &raw.watch_ignore) {
                    ("watch_ignore", Some(ignore)) => ignore.span().start,
                    _ => watch.span().start,
                };
                source.error(at, field, why)
            })?);
        } else if let Some(ignore) = &raw.watch_ignore {
            return source.error(
                ignore.span().start,
                "watch_ignore",
                "it needs `watch` beside it",
            );
        }
        pane.restart_dependents = raw.restart_dependents.unwrap_or(false);
        pane.autostart = raw.autostart.unwrap_or(true);
        pane.restart = raw.restart.unwrap_or_default();
        pane.max_restarts = raw.max_restarts;
        if let Some(signal) = &raw.stop_signal {
            pane.stop_signal = match parse_signal(signal.get_ref()) {
                Some(Signal::SIGSTOP) | None => {
                    return source.error(
                        signal.span().start,
                        "stop_signal",
                        format_args!("`{}` is not a signal that stops a program (try \"SIGTERM\", \"SIGINT\" or \"SIGQUIT\")", signal.get_ref()),
                    );
                }
                Some(signal) => signal,
            };
        }
        let own_timeout = raw
            .stop_timeout
            .as_ref()
            .map(|t| seconds(&source, t))
            .transpose()?;
        pane.stop_timeout = own_timeout
            .or(cli_stop_timeout)
            .or(top_timeout)
            .unwrap_or(super::DEFAULT_STOP_TIMEOUT);
        if let Some(ready) = &raw.ready {
            pane.ready = Some(ReadyPattern(pattern(&source, ready, "ready")?));
        }
        if let Some(attention) = &raw.attention {
            pane.attention = Some(ReadyPattern(pattern(&source, attention, "attention")?));
        }
        if let Some(idle) = &raw.idle_after {
            let Some(after) = super::parse_duration(idle.get_ref()).filter(|d| !d.is_zero()) else {
                return source.error(
                    idle.span().start,
                    "idle_after",
                    format_args!(
                        "`{}` is not a time above 0, such as \"5s\" or \"500ms\"",
                        clean_text(idle.get_ref())
                    ),
                );
            };
            pane.idle_after = Some(after);
        }
        let deps: Vec<(String, Option<Condition>)> =
            match raw.depends_on.as_ref().map(Spanned::get_ref) {
                None => Vec::new(),
                Some(DependsOn::List(names)) => names.iter().map(|n| (n.clone(), None)).collect(),
                Some(DependsOn::Table(table)) => {
                    table.iter().map(|(n, c)| (n.clone(), Some(*c))).collect()
                }
            };
        places.push(raw.depends_on.as_ref().map_or(pane_at, |d| d.span().start));
        raw_deps.push(deps);
        settings.panes.push(pane);
    }
    let resolved = check_dependencies(&settings.panes, &raw_deps, &|i| source.at(places[i]))?;
    for (pane, deps) in settings.panes.iter_mut().zip(resolved) {
        pane.depends_on = deps;
    }
    let wanted: Vec<Option<Wanted>> = wanted_ports.iter().map(|w| w.map(|(w, _)| w)).collect();
    let ports =
        ports::assign(&wanted, port_base, port_step, ports::is_free).or_else(|ran_out| {
            let at = wanted_ports.iter().flatten().map(|(_, at)| *at).next();
            let why = format!("{ran_out}: give port_base or port_step other values");
            source.error(at.unwrap_or(0), "port", why)
        })?;
    let names: Vec<String> = settings.panes.iter().map(|p| p.name.clone()).collect();
    let port_of = |name: &str| names.iter().position(|n| n == name).map(|i| ports[i]);
    for (index, pane) in settings.panes.iter_mut().enumerate() {
        let own = ports[index];
        for arg in &mut pane.argv {
            *arg = ports::expand(arg, own, &port_of)
                .or_else(|why| source.error(cmd_places[index], "cmd", why))?;
        }
        for (i, (_, value)) in pane.env.iter_mut().enumerate() {
            if let Some(value) = value {
                *value = ports::expand(value, own, &port_of)
                    .or_else(|why| source.error(env_places[index][i], "env", why))?;
            }
        }
        let probes = [pane.ready_probe.as_mut(), pane.live_probe.as_mut()];
        for (probe, (at, field)) in probes
            .into_iter()
            .zip((probe_places[index].iter()).zip(["ready_probe", "live_probe"]))
        {
            let (Some(probe), Some(at)) = (probe, at) else {
                continue;
            };
            let text = match &mut probe.check {
                Check::Http(text) | Check::Tcp(text) | Check::Exec(text) => text,
            };
            *text =
                ports::expand(text, own, &port_of).or_else(|why| source.error(*at, field, why))?;
            // A bare port number is one on this machine.
            if let Check::Tcp(address) = &mut probe.check
                && address.parse::<u16>().is_ok()
            {
                *address = format!("localhost:{address}");
            }
        }
        pane.port = own;
        if let Some(port) = own {
            // Over any PORT from `env` or `env_file`; `--check` says so.
            pane.env.push(("PORT".into(), Some(port.to_string())));
        }
    }
    Ok(Loaded {
        settings,
        stop_timeout: top_timeout,
    })
}

/// For tests: parses text as if it were `file` in the current folder.
pub fn parse_str(text: &str, file: &str) -> Result<Settings> {
    parse(text, file, Path::new("."), None).map(|l| l.settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Condition, Dependency};

    fn error(text: &str) -> String {
        parse_str(text, "opmux.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn ports_are_given_as_port_and_expanded_where_referred_to() {
        let text = "port_base = 61000\nport_step = 7\n\
            env = { API = \"http://localhost:${api.port}\" }\n\
            [[pane]]\nname = \"api\"\nport = 6100\ncmd = \"serve ${port} $${port}\"\n\
            [[pane]]\nname = \"web\"\ncmd = \"web --api ${api.port} ${HOME}\"\n";
        let settings = parse_str(text, "opmux.toml").unwrap();
        let (api, web) = (&settings.panes[0], &settings.panes[1]);
        assert_eq!(api.port, Some(6100));
        assert_eq!(api.argv[2], "serve 6100 ${port}");
        let env = |pane: &PaneSpec, key: &str| {
            let found = pane.env.iter().rev().find(|(k, _)| k == key);
            found.and_then(|(_, v)| v.clone())
        };
        assert_eq!(env(api, "PORT").as_deref(), Some("6100"));
        assert_eq!(env(api, "API").as_deref(), Some("http://localhost:6100"));
        assert_eq!(web.port, None);
        assert_eq!(web.argv[2], "web --api 6100 ${HOME}");
        assert_eq!(env(web, "PORT"), None);
    }

    #[test]
    fn a_bad_port_or_reference_is_named_with_its_place_and_field() {
        let bad = error("[[pane]]\ncmd = \"x\"\nport = \"soon\"\n");
        assert!(bad.starts_with("opmux.toml:3:8: field `port`"), "{bad}");
        assert!(bad.contains("\"auto\""), "{bad}");
        let zero = error("[[pane]]\ncmd = \"x\"\nport = 70000\n");
        assert!(zero.contains("70000 is not a port"), "{zero}");
        let group = error("[[pane]]\ncmd = \"x\"\ngroup = \"back end\"\n");
        assert!(
            group.starts_with("opmux.toml:3:9: field `group`"),
            "{group}"
        );
        let base = error("port_base = 0\n[[pane]]\ncmd = \"x\"\n");
        assert!(
            base.starts_with("opmux.toml:1:13: field `port_base`"),
            "{base}"
        );
        let unknown = error("[[pane]]\ncmd = \"x ${db.port}\"\n");
        assert!(
            unknown.starts_with("opmux.toml:2:7: field `cmd`"),
            "{unknown}"
        );
        assert!(unknown.contains("no pane is named `db`"), "{unknown}");
        let none = error(
            "[[pane]]\nname = \"db\"\ncmd = \"x\"\n[[pane]]\ncmd = \"y\"\nenv = { U = \"${db.port}\" }\n",
        );
        assert!(none.starts_with("opmux.toml:6:13: field `env`"), "{none}");
        assert!(none.contains("pane `db` has no port"), "{none}");
    }

    #[test]
    fn probes_are_read_with_their_timing_and_ports() {
        let text = "[[pane]]\nname = \"api\"\nport = 6200\ncmd = \"x\"\n\
            ready_probe = { http = \"http://localhost:${port}/health\", initial_delay = \"2s\" }\n\
            live_probe = { tcp = \"${port}\", interval = \"5s\", timeout = \"300ms\", failure_threshold = 4 }\n";
        let settings = parse_str(text, "opmux.toml").unwrap();
        let api = &settings.panes[0];
        let ready = api.ready_probe.as_ref().unwrap();
        assert_eq!(
            ready.check,
            Check::Http("http://localhost:6200/health".into())
        );
        assert_eq!(ready.initial_delay, Duration::from_secs(2));
        assert_eq!(ready.interval, probe::READY_INTERVAL);
        let live = api.live_probe.as_ref().unwrap();
        assert_eq!(live.check, Check::Tcp("localhost:6200".into()));
        assert_eq!(
            (live.interval, live.timeout),
            (Duration::from_secs(5), Duration::from_millis(300))
        );
        assert_eq!(live.failure_threshold, 4);
    }

    #[test]
    fn a_bad_probe_is_named_with_its_place_and_field() {
        let two = error("[[pane]]\ncmd = \"x\"\nready_probe = { tcp = 1, exec = \"y\" }\n");
        assert!(
            two.starts_with("opmux.toml:3:15: field `ready_probe`: give exactly one"),
            "{two}"
        );
        let https = error("[[pane]]\ncmd = \"x\"\nlive_probe = { http = \"https://a\" }\n");
        assert!(https.contains("not an http:// URL"), "{https}");
        let time =
            error("[[pane]]\ncmd = \"x\"\nlive_probe = { exec = \"y\", interval = \"soon\" }\n");
        assert!(time.contains("interval `soon` is not a time"), "{time}");
        let threshold =
            error("[[pane]]\ncmd = \"x\"\nready_probe = { exec = \"y\", failure_threshold = 2 }\n");
        assert!(
            threshold.contains("failure_threshold is for live_probe"),
            "{threshold}"
        );
        let unknown = error("[[pane]]\ncmd = \"x\"\nlive_probe = { exec = \"y\", period = 2 }\n");
        assert!(unknown.contains("unknown field `period`"), "{unknown}");
    }

    #[test]
    fn a_bad_watch_is_named_with_its_place_and_field() {
        let bad = error("[[pane]]\ncmd = \"x\"\nwatch = [\"src/[\"]\n");
        assert!(
            bad.starts_with("opmux.toml:3:9: field `watch`: `src/[` is not a pattern"),
            "{bad}"
        );
        let ignore = error("[[pane]]\ncmd = \"x\"\nwatch = [\"a\"]\nwatch_ignore = [\"{\"]\n");
        assert!(
            ignore.starts_with("opmux.toml:4:16: field `watch_ignore`"),
            "{ignore}"
        );
        let alone = error("[[pane]]\ncmd = \"x\"\nwatch_ignore = [\"a\"]\n");
        assert!(alone.contains("needs `watch` beside it"), "{alone}");
        let time = error("[[pane]]\ncmd = \"x\"\nwatch = [\"a\"]\nwatch_debounce = \"soon\"\n");
        assert!(
            time.starts_with("opmux.toml:4:18: field `watch_debounce`"),
            "{time}"
        );
    }

    #[test]
    fn persist_is_read_and_off_by_default() {
        let on = parse_str("persist = true\n[[pane]]\ncmd = \"x\"\n", "opmux.toml").unwrap();
        assert!(on.persist);
        let off = parse_str("[[pane]]\ncmd = \"x\"\n", "opmux.toml").unwrap();
        assert!(!off.persist);
    }

    #[test]
    fn a_complete_file_loads_every_setting() {
        let text = r#"
prefix = "C-a"
layout = "rows"
scrollback = 5000
flood_nice = 4
clipboard = "allow"
stop_timeout = 2
log_dir = "logs"
env = { RUST_LOG = "info", DEBUG = false }

[[pane]]
name = "db"
cmd = "postgres -D data"
ready = "ready to accept connections"
stop_signal = "SIGINT"
stop_timeout = 9.5

[[pane]]
name = "api"
cmd = ["cargo", "run", "--bin", "api"]
ready = "listening"
depends_on = ["db"]
restart = "on-failure"
max_restarts = 3
env = { PORT = 8080, DEBUG = "1" }

[[pane]]
name = "migrate"
cmd = "make migrate"
autostart = false
depends_on = { db = "started", api = "ready" }
"#;
        let s = parse_str(text, "opmux.toml").unwrap();
        assert_eq!(s.prefix, parse_key("C-a").unwrap());
        assert_eq!(s.layout, LayoutKind::Rows);
        assert_eq!(s.scrollback, 5000);
        assert_eq!(s.flood_nice, 4);
        assert_eq!(s.clipboard, crate::config::Clipboard::Allow);
        assert_eq!(s.log_dir.as_deref(), Some(Path::new("./logs")));
        let [db, api, migrate] = &s.panes[..] else {
            panic!("three panes")
        };
        assert_eq!(db.argv, ["/bin/sh", "-c", "postgres -D data"]);
        assert_eq!(db.stop_signal, Signal::SIGINT);
        assert_eq!(db.stop_timeout, Duration::from_millis(9500));
        assert_eq!(
            db.ready.as_ref().map(|r| r.0.as_str()),
            Some("ready to accept connections")
        );
        assert_eq!(api.argv, ["cargo", "run", "--bin", "api"]);
        assert_eq!(
            api.stop_timeout,
            Duration::from_secs(2),
            "the top-level timeout applies"
        );
        assert_eq!(api.restart, RestartPolicy::OnFailure);
        assert_eq!(api.max_restarts, Some(3));
        // The list form waits for readiness where the dependency defines it.
        assert_eq!(
            api.depends_on,
            [Dependency {
                pane: 0,
                condition: Condition::Ready
            }]
        );
        let env: Vec<(&str, Option<&str>)> = api
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(
            env,
            [
                ("DEBUG", None),
                ("RUST_LOG", Some("info")),
                ("DEBUG", Some("1")),
                ("PORT", Some("8080"))
            ]
        );
        assert!(!migrate.autostart);
        assert_eq!(migrate.depends_on.len(), 2);
        let unnamed = parse_str(
            "[[pane]]\ncmd = [\"/usr/bin/cargo\", \"run\"]\n",
            "opmux.toml",
        )
        .unwrap();
        assert_eq!(
            unnamed.panes[0].name, "cargo",
            "an array command is named after its program"
        );
    }

    #[test]
    fn bad_files_name_the_place_and_the_field() {
        let cases = [
            (
                "[[pane]]\nnmae = \"web\"\ncmd = \"x\"\n",
                "opmux.toml:2:1: unknown field `nmae`, did you mean `name`?",
            ),
            (
                "colour = 1\n",
                "opmux.toml:1:1: unknown field `colour`; the fields here are prefix, layout, scrollback, flood_nice, clipboard, bell, notify, persist, stop_timeout, log_dir, env, env_file, port_base, port_step, pane",
            ),
            (
                "[[pane]]\nname = \"web\"\n",
                "opmux.toml:1:1: pane `web` has no `cmd`: every [[pane]] needs the command it runs",
            ),
            (
                "[[pane]]\ncmd = \"a\"\n[[pane]]\nready = \"x\"\n",
                "opmux.toml:3:1: pane #2 has no `cmd`: every [[pane]] needs the command it runs",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nstop_signal = \"SIGFOO\"\n",
                "opmux.toml:3:15: field `stop_signal`: `SIGFOO` is not a signal that stops a program (try \"SIGTERM\", \"SIGINT\" or \"SIGQUIT\")",
            ),
            (
                "[[pane]]\ncmd = \"x\"\ncwd = \"no/such/folder\"\n",
                "opmux.toml:3:7: field `cwd`: folder ./no/such/folder does not exist",
            ),
            (
                "[[pane]]\nname = \"web\"\ncmd = \"x\"\ndepends_on = [\"bd\"]\n[[pane]]\nname = \"db\"\ncmd = \"y\"\n",
                "opmux.toml:4:14: field `depends_on`: no pane is named `bd`, did you mean `db`?",
            ),
            (
                "[[pane]]\nname = \"a\"\ncmd = \"x\"\ndepends_on = [\"b\"]\n[[pane]]\nname = \"b\"\ncmd = \"y\"\ndepends_on = [\"a\"]\n",
                "opmux.toml:4:14: field `depends_on`: dependency cycle a → b → a",
            ),
            (
                "[[pane]]\nname = \"a\"\ncmd = \"x\"\ndepends_on = [\"a\"]\n",
                "opmux.toml:4:14: field `depends_on`: pane `a` depends on itself",
            ),
            (
                "[[pane]]\nname = \"db\"\ncmd = \"x\"\n[[pane]]\ncmd = \"y\"\ndepends_on = { db = \"ready\" }\n",
                "opmux.toml:6:14: field `depends_on`: `db` is awaited as \"ready\" but sets no `ready` pattern or `ready_probe`",
            ),
            (
                "[[pane]]\ncmd = \"x\"\n[[pane]]\ncmd = \"x y\"\n",
                "opmux.toml:3:1: two panes are named `x` (the other is at opmux.toml:1:1); give one a `name`",
            ),
            (
                "layout = \"grid\"\n",
                "opmux.toml:1:10: field `layout`: unknown variant `grid`, expected one of `tiled`, `rows`, `columns`",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nrestart = \"sometimes\"\n",
                "opmux.toml:3:11: field `restart`: unknown variant `sometimes`, expected one of `never`, `on-failure`, `always`",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nmax_restarts = \"three\"\n",
                "opmux.toml:3:16: field `max_restarts`: invalid type: string \"three\", expected u32",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nready = \"((\"\n",
                "opmux.toml:3:9: field `ready`: not a valid pattern: error: unclosed group",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nattention = \"(y/n\"\n",
                "opmux.toml:3:13: field `attention`: not a valid pattern: error: unclosed group",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nidle_after = \"soon\"\n",
                "opmux.toml:3:14: field `idle_after`: `soon` is not a time above 0, such as \"5s\" or \"500ms\"",
            ),
            (
                "bell = \"loud\"\n[[pane]]\ncmd = \"x\"\n",
                "opmux.toml:1:8: field `bell`: unknown variant `loud`, expected `on` or `off`",
            ),
            (
                "[[pane]]\ncmd = 5\n",
                "opmux.toml:2:7: field `cmd`: expected a command line string, or an array of program and arguments",
            ),
            (
                "[[pane]]\ncmd = []\n",
                "opmux.toml:2:7: field `cmd`: the array needs a program as its first element",
            ),
            (
                "[[pane]]\ncmd = \"  \"\n",
                "opmux.toml:2:7: field `cmd`: the command is empty",
            ),
            (
                "[[pane]]\nname = \"\"\ncmd = \"x\"\n",
                "opmux.toml:2:8: field `name`: a pane name cannot be empty",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nstop_timeout = -1\n",
                "opmux.toml:3:16: field `stop_timeout`: -1 is not between 0 and 86400 seconds",
            ),
            (
                "prefix = \"Ctrl-b\"\n",
                "opmux.toml:1:10: field `prefix`: `Ctrl-b` is not a key: write it like \"C-b\", \"C-a\", \"C-Space\" or \"M-x\"",
            ),
            (
                "env = { A = true }\n",
                "opmux.toml:1:13: field `env`: `A = true` is not a value: write a string, or false to unset `A`",
            ),
            (
                "env_file = \"no.env\"\n",
                "opmux.toml:1:12: field `env_file`: cannot read ./no.env: No such file or directory (os error 2)",
            ),
            (
                "[[pane]\ncmd = \"x\"\n",
                "opmux.toml:1:8: unclosed array table, expected `]`",
            ),
            (
                "[[pane]]\nname = \"db\"\ncmd = \"x\"\n[[pane]]\ncmd = \"y\"\ndepends_on = { db = \"healthy\" }\n",
                "opmux.toml:6:14: field `depends_on`: `db` has no condition `healthy`: use \"started\", \"ready\" or \"succeeded\"",
            ),
            (
                "[[pane]]\ncmd = \"y\"\ndepends_on = [\"db\", 3]\n",
                "opmux.toml:3:21: field `depends_on`: invalid type: integer `3`, expected a string",
            ),
            (
                "[pane]\ncmd = \"x\"\n",
                "opmux.toml:1:1: `[pane]` is one table; write `[[pane]]` for each pane",
            ),
            (
                "scrollback = 100\nflood_nice = 20\n",
                "opmux.toml:2:14: field `flood_nice`: 20 is not a nice value: give 0 (leave flooding panes alone) to 19",
            ),
            (
                "[[pane]]\nname = \"web\"\ncmd = \"x\"\n[[pane]]\nname = \"web\"\ncmd = \"y\"\n",
                "opmux.toml:5:8: field `name`: `web` is already the name of the pane at opmux.toml:2:8",
            ),
            (
                "persist = \"yes\"\n",
                "opmux.toml:1:11: field `persist`: invalid type: string \"yes\", expected a boolean",
            ),
            (
                "clipboard = \"maybe\"\n",
                "opmux.toml:1:13: field `clipboard`: unknown variant `maybe`, expected `deny` or `allow`",
            ),
            (
                "pane = { cmd = \"x\" }\n",
                "opmux.toml:1:8: field `pane`: invalid type: map, expected a sequence",
            ),
            (
                "[[pane]]\ncmd = \"x\"\ndepends_on = 3\n",
                "opmux.toml:3:14: field `depends_on`: invalid type: integer `3`, expected a list of pane names, or a table from pane name to \"started\", \"ready\" or \"succeeded\"",
            ),
            (
                // An `=` inside a value is no assignment to name a field by.
                "[[pane]]\ncmd = \"x\"\ndepends_on = [\n  \"x y=z\", 3,\n]\n",
                "opmux.toml:4:12: invalid type: integer `3`, expected a string",
            ),
            (
                "[[pane]]\ncmd = \"x\"\nstop-timeout = 1\n",
                "opmux.toml:3:1: unknown field `stop-timeout`, did you mean `stop_timeout`?",
            ),
            (
                "flood_nice = -1\n",
                "opmux.toml:1:14: field `flood_nice`: -1 is not a nice value: give 0 (leave flooding panes alone) to 19",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "for {text:?}");
        }
    }

    #[test]
    fn a_folder_and_a_missing_file_are_named() {
        let dir = std::env::temp_dir();
        let err = load(&dir, None).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("{}: is a folder, not a config file", dir.display())
        );
        let missing = dir.join("opmux-no-such-config.toml");
        let err = format!("{:#}", load(&missing, None).map(|_| ()).unwrap_err());
        assert!(
            err.starts_with(&format!("{}: cannot be read: ", missing.display())),
            "{err}"
        );
    }

    #[test]
    fn env_file_entries_come_first_so_env_tables_override_them() {
        let dir = std::env::temp_dir().join(format!("opmux-env-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "# shared\nA=from-file\nB=\"two words\"\n").unwrap();
        let text = "env_file = \".env\"\nenv = { B = \"top\" }\n[[pane]]\ncmd = \"x\"\nenv = { A = false }\n";
        let s = parse(text, "opmux.toml", &dir, None).unwrap().settings;
        let env: Vec<(&str, Option<&str>)> = s.panes[0]
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(
            env,
            [
                ("A", Some("from-file")),
                ("B", Some("two words")),
                ("B", Some("top")),
                ("A", None)
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_env_file_line_is_named_by_its_number() {
        let dir = std::env::temp_dir().join(format!("opmux-env-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "env_file = \".env\"\n";
        let cases = [
            // A bad value: dotenvy names only the value.
            ("A=1\n# hello world\n\nB=hello world\n", "B=hello world", 4),
            // A bad key: dotenvy names the line.
            ("A=1\nnot a line\n", "not a line", 2),
        ];
        for (file, line, n) in cases {
            std::fs::write(dir.join(".env"), file).unwrap();
            let err = parse(text, "opmux.toml", &dir, None)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            let shown = dir.join(".env");
            assert_eq!(
                err,
                format!("{}:{n}: not a `KEY=value` line: `{line}`", shown.display())
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shared_dependencies_are_checked_once_each() {
        // Each pane depends on every pane before it: following every path
        // instead of visiting each pane once would take 2^40 steps.
        let mut text = String::new();
        for i in 0..40 {
            let deps: Vec<String> = (0..i).map(|j| format!("\"p{j}\"")).collect();
            text += &format!(
                "[[pane]]\nname = \"p{i}\"\ncmd = \"x\"\ndepends_on = [{}]\n",
                deps.join(", ")
            );
        }
        let s = parse_str(&text, "opmux.toml").unwrap();
        assert_eq!(s.panes[39].depends_on.len(), 39);
        assert_eq!(s.start_order(), (0..40).collect::<Vec<_>>());
    }
}
