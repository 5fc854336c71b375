//! opmux's own log: what happened to each pane and to opmux itself (starts,
//! exits, signals sent, reader and writer errors, panics), one line each, for
//! finding out afterwards why a pane died. Pane output does not go here.
//!
//! The file is `$OPMUX_LOG` if set (`off` turns logging off), else
//! `$XDG_STATE_HOME/opmux/opmux.log`, else `~/.local/state/opmux/opmux.log`.
//! A log past [`MAX_BYTES`] is moved to `opmux.log.1` at start-up, so it
//! never grows without bound.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};

/// The size at which the log is rotated when opmux starts.
pub const MAX_BYTES: u64 = 10 * 1024 * 1024;

/// Where the log goes, from the environment; `None` when logging is off.
pub fn path_from(
    opmux_log: Option<&str>,
    state_home: Option<&str>,
    home: Option<&str>,
) -> Option<PathBuf> {
    match opmux_log {
        Some("off") => return None,
        Some(path) if !path.is_empty() => return Some(PathBuf::from(path)),
        _ => {}
    }
    let state = match (
        state_home.filter(|s| !s.is_empty()),
        home.filter(|h| !h.is_empty()),
    ) {
        (Some(state), _) => PathBuf::from(state),
        (None, Some(home)) => PathBuf::from(home).join(".local/state"),
        (None, None) => return None,
    };
    Some(state.join("opmux").join("opmux.log"))
}

/// Starts logging to the file the environment names. Returns the path, or an
/// error saying why the log could not be opened; opmux runs on either way.
pub fn init() -> Result<Option<PathBuf>> {
    let var = |name| std::env::var(name).ok();
    let Some(path) = path_from(
        var("OPMUX_LOG").as_deref(),
        var("XDG_STATE_HOME").as_deref(),
        var("HOME").as_deref(),
    ) else {
        return Ok(None);
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
        let _ = std::fs::rename(&path, path.with_extension("log.1"));
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening the log {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .try_init()
        .map_err(|e| anyhow::anyhow!("starting the log: {e}"))?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_path_follows_the_environment() {
        // ($OPMUX_LOG, $XDG_STATE_HOME, $HOME, expected path)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (
                Some("/tmp/x.log"),
                Some("/s"),
                Some("/h"),
                Some("/tmp/x.log"),
            ),
            (Some("off"), Some("/s"), Some("/h"), None),
            (None, Some("/s"), Some("/h"), Some("/s/opmux/opmux.log")),
            (
                Some(""),
                None,
                Some("/h"),
                Some("/h/.local/state/opmux/opmux.log"),
            ),
            (
                None,
                Some(""),
                Some("/h"),
                Some("/h/.local/state/opmux/opmux.log"),
            ),
            (None, None, None, None),
        ];
        for (log, state, home, expected) in cases {
            assert_eq!(
                path_from(*log, *state, *home),
                expected.map(PathBuf::from),
                "{log:?} {state:?} {home:?}"
            );
        }
    }
}
