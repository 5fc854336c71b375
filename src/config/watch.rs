//! Restart on file change: a pane's `watch` patterns, relative to its
//! folder, less its `watch_ignore` ones and the folders never worth
//! watching (`.git`, `target`), with the quiet that must follow a burst of
//! changes before the restart (`watch_debounce`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// The quiet after the last change before the restart, by default.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// Folders whose changes never restart a pane, wherever they are.
const ALWAYS_IGNORED: &[&str] = &[".git", "target"];

/// What a pane watches.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The folder the patterns are relative to, as the system resolves it.
    pub root: PathBuf,
    pub patterns: Vec<String>,
    pub ignore: Vec<String>,
    pub debounce: Duration,
    watched: GlobSet,
    ignored: GlobSet,
}

impl PartialEq for Watch {
    fn eq(&self, other: &Self) -> bool {
        (&self.root, &self.patterns, &self.ignore, self.debounce)
            == (&other.root, &other.patterns, &other.ignore, other.debounce)
    }
}

impl Eq for Watch {}

/// A pattern as `watch` reads it: `*` stays within a folder, `**` crosses
/// folders.
fn glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("`{pattern}` is not a pattern: {}", e.kind()))
}

fn set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        set.add(glob(pattern)?);
    }
    set.build().map_err(|e| e.to_string())
}

impl Watch {
    /// Watches `patterns` under `root`, but for `ignore`. A pattern that
    /// is not one is an error naming the field it is in (`watch` or
    /// `watch_ignore`) and why.
    pub fn new(
        root: &Path,
        patterns: Vec<String>,
        ignore: Vec<String>,
        debounce: Duration,
    ) -> Result<Self, (&'static str, String)> {
        let watched = set(&patterns).map_err(|why| ("watch", why))?;
        let ignored = set(&ignore).map_err(|why| ("watch_ignore", why))?;
        // The folder as the watcher will name it, symlinks resolved.
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(Self {
            root,
            patterns,
            ignore,
            debounce,
            watched,
            ignored,
        })
    }

    /// Whether a change to `path` (absolute, as the watcher reports it)
    /// restarts the pane.
    pub fn wants(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.root) else {
            return false;
        };
        let skipped = relative
            .components()
            .any(|c| ALWAYS_IGNORED.iter().any(|i| c.as_os_str() == *i));
        !skipped && !self.ignored.is_match(relative) && self.watched.is_match(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_below_the_root_less_the_ignored_and_the_never_watched() {
        let root = Path::new("/nowhere/project");
        let watch = Watch::new(
            root,
            vec!["src/**/*.rs".into(), "Cargo.toml".into(), "*.txt".into()],
            vec!["src/generated/**".into()],
            DEBOUNCE,
        )
        .unwrap();
        let wants = |path: &str| watch.wants(&root.join(path));
        assert!(wants("src/main.rs"));
        assert!(wants("src/a/b/c.rs"));
        assert!(wants("Cargo.toml"));
        assert!(wants("notes.txt"));
        assert!(!wants("docs/notes.txt"), "* stays within a folder");
        assert!(!wants("src/generated/x.rs"));
        assert!(!wants("src/main.py"));
        assert!(!wants("target/debug/x.rs"));
        assert!(!wants(".git/src/x.rs"));
        assert!(!watch.wants(Path::new("/elsewhere/src/main.rs")));
        let (_, bad) = Watch::new(root, vec!["src/[".into()], vec![], DEBOUNCE).unwrap_err();
        assert!(bad.contains("`src/[` is not a pattern"), "{bad}");
    }
}
