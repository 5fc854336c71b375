//! Restart on file change: one watcher (inotify on Linux, through notify)
//! for every pane that watches files, on the fewest folders that hold all
//! their roots, recursively. Changes some pane wants go to the loop as
//! events; which pane they restart, and when, is the session's to decide.

use std::path::PathBuf;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use crate::event::Event;
use crate::session::Session;

/// Starts watching every folder the panes watch; returns the watcher,
/// which watches for as long as it is kept. A folder that cannot be
/// watched (too many folders for inotify, say) is said in the title of
/// each pane that watches it; those panes still run.
pub fn start(
    session: &mut Session,
    events: &UnboundedSender<Event>,
) -> Option<notify::RecommendedWatcher> {
    let mut roots: Vec<PathBuf> = (session.panes.iter())
        .filter_map(|p| Some(p.spec.watch.as_ref()?.root.clone()))
        .collect();
    if roots.is_empty() {
        return None;
    }
    // A folder inside another is watched with it.
    roots.sort();
    roots.dedup();
    let outer: Vec<PathBuf> = (roots.iter())
        .filter(|root| {
            !roots
                .iter()
                .any(|other| other != *root && root.starts_with(other))
        })
        .cloned()
        .collect();
    // The panes' own logs change as they run: never a change to restart
    // for. Resolved once, as the watcher names paths.
    let logs = (session.log_dir.as_ref())
        .map(|logs| std::fs::canonicalize(logs).unwrap_or_else(|_| logs.clone()));
    // Only a path some pane wants reaches the loop: a build writing under
    // the watched folders (target/, .git/) does not wake it for nothing.
    // Which pane it restarts, and when, stays the session's to decide.
    let watches: Vec<crate::config::watch::Watch> = (session.panes.iter())
        .filter_map(|p| p.spec.watch.clone())
        .collect();
    let to_loop = events.clone();
    let made = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let event = match result {
            Ok(event) => event,
            Err(e) => {
                let _ = to_loop.send(Event::WatchFailed(e.to_string()));
                return;
            }
        };
        // Reading a file changes nothing.
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        let mut paths = event.paths;
        paths.retain(|path| {
            !logs.as_ref().is_some_and(|logs| path.starts_with(logs))
                && watches.iter().any(|watch| watch.wants(path))
        });
        if !paths.is_empty() {
            let _ = to_loop.send(Event::FilesChanged(paths));
        }
    });
    let mut watcher = match made {
        Ok(watcher) => watcher,
        Err(e) => {
            not_watching(session, None, &e.to_string());
            return None;
        }
    };
    for root in &outer {
        if let Err(e) = watcher.watch(root, RecursiveMode::Recursive) {
            tracing::warn!(root = %root.display(), error = %e, "cannot watch");
            not_watching(session, Some(root), &e.to_string());
        }
    }
    Some(watcher)
}

/// Says in the title of each pane watching below `root` (every watching
/// pane, for `None`) that its files are not watched, and why.
pub fn not_watching(session: &mut Session, root: Option<&PathBuf>, why: &str) {
    for pane in &mut session.panes {
        let Some(watch) = &pane.spec.watch else {
            continue;
        };
        if root.is_none_or(|root| watch.root.starts_with(root)) {
            pane.unwatched = Some(format!("not watching files: {}", crate::clean_text(why)));
        }
    }
}
