//! Process lifecycle through nix: opmux as a child subreaper, the one reaper that
//! calls `waitpid`, and finding and signalling a pane's whole process tree.
//!
//! portable-pty starts each pane's program as a session leader (pid = pgid = sid)
//! with the PTY as its controlling terminal. A pane's processes are therefore its
//! session, the PTY's foreground process group, and anything that left the
//! session with `setsid` or a double fork. Because opmux is a subreaper, those
//! escapees are re-parented to opmux rather than to init, so every process a pane
//! ever started stays a descendant of opmux until it is reaped here.

pub mod proc;

use std::sync::Mutex;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How a pane's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Signaled(Signal),
}

impl ExitStatus {
    /// The shell convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Self::Exited(code) => code,
            Self::Signaled(sig) => 128 + sig as i32,
        }
    }
}

/// Makes re-parented orphans of our descendants come to opmux instead of init,
/// so a process that escaped its pane's session can still be found and reaped.
pub fn become_subreaper() -> nix::Result<()> {
    #[cfg(target_os = "linux")]
    return nix::sys::prctl::set_child_subreaper(true);
    #[cfg(not(target_os = "linux"))]
    Ok(())
}

/// Reaps every child that has ended, without blocking, and returns their pids
/// and statuses. This is the only `waitpid` in opmux: it reaps pane processes
/// and re-parented orphans alike, so no child stays a zombie.
pub fn reap() -> Vec<(Pid, ExitStatus)> {
    let mut reaped = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => reaped.push((pid, ExitStatus::Exited(code))),
            Ok(WaitStatus::Signaled(pid, sig, _)) => reaped.push((pid, ExitStatus::Signaled(sig))),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            // Stops and continues are not ends; keep draining.
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    reaped
}

/// Pids of the pane main processes that are still running. The panic hook reads
/// it to SIGKILL every pane when opmux cannot shut down in order.
static LIVE_PANES: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

fn live_panes() -> std::sync::MutexGuard<'static, Vec<Pid>> {
    // A panic while the lock was held leaves the list itself intact.
    LIVE_PANES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn register_pane(pid: Pid) {
    live_panes().push(pid);
}

pub fn forget_pane(pid: Pid) {
    live_panes().retain(|p| *p != pid);
}

/// Sends `signal` to every process of one pane: its process group and session
/// (pid = pgid = sid), the PTY's foreground group `foreground`, and every
/// descendant of the pane's process, including ones that left the session.
/// Call it only while `pid` has not been reaped, so the pid cannot have been reused.
pub fn signal_pane(pid: Pid, foreground: Option<Pid>, signal: Signal) {
    let _ = killpg(pid, signal);
    if let Some(group) = foreground.filter(|g| *g != pid) {
        let _ = killpg(group, signal);
    }
    let table = proc::ProcessTable::read();
    for member in table.session_members(pid) {
        let _ = kill(member, signal);
    }
    for child in table.descendants(pid) {
        let _ = kill(child, signal);
    }
}

/// Sends `signal` to every descendant of opmux. Since opmux is a subreaper this
/// covers every process any pane started, wherever it went.
pub fn signal_all_descendants(signal: Signal) {
    let me = nix::unistd::getpid();
    for pid in proc::ProcessTable::read().descendants(me) {
        let _ = kill(pid, signal);
    }
}

/// Whether any descendant of opmux is still alive (zombies do not count).
pub fn any_descendant_alive() -> bool {
    let me = nix::unistd::getpid();
    let table = proc::ProcessTable::read();
    table
        .descendants(me)
        .into_iter()
        .any(|pid| table.get(pid).is_some_and(|p| p.state != 'Z'))
}

/// The last resort for a panic: SIGKILL every pane's group and every descendant.
pub fn kill_everything_now() {
    let panes = live_panes().clone();
    for pid in panes {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    signal_all_descendants(Signal::SIGKILL);
}
