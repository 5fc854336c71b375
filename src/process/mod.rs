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
    // Holding the list while reaping means the panic hook never sees a pid
    // that was reaped but still listed, which could have been reused.
    let mut live = live_panes();
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
    live.retain(|pid| !reaped.iter().any(|(gone, _)| gone == pid));
    // A probe's command goes back to the probe that waits for it.
    let mut probes = probes();
    reaped.retain(
        |&(pid, status)| match probes.iter().position(|(p, _)| *p == pid) {
            Some(at) => {
                let (_, to) = probes.swap_remove(at);
                let _ = to.send(status);
                false
            }
            None => true,
        },
    );
    reaped
}

/// The commands probes started and not reaped yet, each with where its
/// status goes.
type ProbeWaiters = Vec<(Pid, tokio::sync::oneshot::Sender<ExitStatus>)>;
static PROBES: Mutex<ProbeWaiters> = Mutex::new(Vec::new());

fn probes() -> std::sync::MutexGuard<'static, ProbeWaiters> {
    PROBES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts a probe's `command` with `sh -c`, in a process group of its own
/// (so a timeout can kill all of it), with no input or output, and returns
/// its pid and where its status comes once [`reap`] collects it.
pub fn spawn_probe(
    command: &str,
    cwd: Option<&std::path::Path>,
    env: &[(String, Option<String>)],
) -> std::io::Result<(Pid, tokio::sync::oneshot::Receiver<ExitStatus>)> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    for (key, value) in env {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    // Listed before the reaper can see it end.
    let mut waiting = probes();
    let child = cmd.spawn()?;
    let pid = Pid::from_raw(child.id() as i32);
    let (to, from) = tokio::sync::oneshot::channel();
    waiting.push((pid, to));
    Ok((pid, from))
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

/// The environment variable that marks every process a pane starts, so one
/// that leaves the pane's session and process tree can still be told apart
/// from other panes' processes.
pub const PANE_TAG_VAR: &str = "OPMUX_PANE_ID";

/// The value of [`PANE_TAG_VAR`] for pane `index` of this opmux.
pub fn pane_tag(index: usize) -> String {
    format!("{}:{}", std::process::id(), index + 1)
}

/// What identifies one pane's processes.
#[derive(Clone, Debug)]
pub struct PaneProcesses<'a> {
    /// The run's main process, which leads its session and process group.
    pub sid: Pid,
    /// The PTY's foreground process group, where shells put their jobs.
    pub foreground: Option<Pid>,
    /// The pane's [`PANE_TAG_VAR`] value.
    pub tag: &'a str,
    /// The pane's terminal (`/dev/pts/N`) while opmux holds it open, so the
    /// number cannot have passed to another pane.
    pub tty: Option<&'a std::path::Path>,
}

impl PaneProcesses<'_> {
    /// Every live process of the pane, among opmux's descendants (so a reused
    /// id never points at a stranger's process): those carrying the pane's
    /// tag; untagged ones in its session or foreground group, or with its
    /// terminal as standard input or output (an escapee that cleared its
    /// environment); and all their descendants. A process carrying another
    /// pane's tag is never claimed, even in a session whose id was reused.
    pub fn find(&self, table: &proc::ProcessTable) -> Vec<Pid> {
        let ours = table.descendants(nix::unistd::getpid());
        let seeds: Vec<Pid> = ours
            .into_iter()
            .filter(|&pid| {
                let Some(p) = table.get(pid) else {
                    return false;
                };
                match table.pane_tag(pid) {
                    Some(tag) => tag == self.tag,
                    None => {
                        p.session == self.sid
                            || Some(p.pgrp) == self.foreground
                            || self.tty.is_some_and(|tty| proc::uses_tty(pid, tty))
                    }
                }
            })
            .collect();
        let mut found = table.descendants_of_all(&seeds);
        found.extend(seeds);
        found.sort();
        found.dedup();
        found.retain(|&pid| table.alive(pid));
        found
    }

    /// Sends `signal` to every process of the pane; returns how many there
    /// were. SIGKILL is sent until a fresh look finds nothing alive, since a
    /// process may fork between the look and the kill.
    pub fn signal(&self, signal: Signal) -> usize {
        let table = proc::ProcessTable::read();
        let found = self.find(&table);
        for &pid in &found {
            signal_process(&table, pid, signal);
        }
        if signal == Signal::SIGKILL {
            kill_until_gone(|table| self.find(table));
        }
        found.len()
    }
}

/// How many fresh looks a SIGKILL gets to find late forks; bounded, since a
/// process stuck in the kernel may take a while to die.
const KILL_ROUNDS: usize = 50;

/// SIGKILLs whatever `find` returns until a look finds nothing alive. A killed
/// process cannot fork again, so this converges in a few rounds.
fn kill_until_gone(find: impl Fn(&proc::ProcessTable) -> Vec<Pid>) {
    for _ in 0..KILL_ROUNDS {
        let table = proc::ProcessTable::read();
        let alive: Vec<Pid> = find(&table)
            .into_iter()
            .filter(|&pid| table.alive(pid))
            .collect();
        if alive.is_empty() {
            return;
        }
        for pid in alive {
            signal_process(&table, pid, Signal::SIGKILL);
        }
        std::thread::yield_now();
    }
}

/// A pidfd for whichever process has `pid` now: it stays that process's
/// however long it lives, and turns readable when it ends.
#[cfg(target_os = "linux")]
pub fn pidfd(pid: Pid) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this fd, and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Signals the very process the table saw as `pid`, never one that took its
/// pid after it ended. A pidfd pins whichever process has the pid now; it is
/// only used if that process started when the table's did.
fn signal_process(table: &proc::ProcessTable, pid: Pid, signal: Signal) {
    let Some(seen) = table.get(pid) else { return };
    #[cfg(debug_assertions)]
    if signal == Signal::SIGKILL && spared_by_fault(pid) {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use nix::libc;
        use std::os::fd::AsRawFd;
        match pidfd(pid) {
            Ok(fd) => {
                if proc::stat(pid).is_some_and(|now| now.start_time == seen.start_time) {
                    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
                    let sent = unsafe {
                        libc::syscall(
                            libc::SYS_pidfd_send_signal,
                            fd.as_raw_fd(),
                            signal as libc::c_int,
                            std::ptr::null::<libc::siginfo_t>(),
                            0,
                        )
                    };
                    if sent != 0 && Errno::last() != Errno::ESRCH {
                        tracing::warn!(%pid, %signal, error = %Errno::last(), "could not signal");
                    }
                }
                return;
            }
            Err(Errno::ENOSYS) => {}
            Err(Errno::ESRCH) => return,
            Err(error) => {
                tracing::warn!(%pid, %signal, %error, "could not open a pidfd; signalling by pid");
            }
        }
    }
    // Without a pidfd (old kernels, other systems) the best left is a
    // last check of the start time, then kill.
    if proc::stat(pid).is_none_or(|now| now.start_time == seen.start_time) {
        let _ = kill(pid, signal);
    }
}

/// The environment variable that, in debug builds, makes every process with
/// an argument equal to its value outlive SIGKILL, as one stuck in the kernel
/// would: nothing else lets a test make a process survive the shutdown.
#[cfg(debug_assertions)]
pub const SURVIVE_SIGKILL_VAR: &str = "OPMUX_FAULT_SURVIVE_SIGKILL";

/// Whether [`SURVIVE_SIGKILL_VAR`] spares `pid` from SIGKILL.
#[cfg(debug_assertions)]
fn spared_by_fault(pid: Pid) -> bool {
    static WORD: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();
    let Some(word) = WORD.get_or_init(|| std::env::var_os(SURVIVE_SIGKILL_VAR)) else {
        return false;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    cmdline
        .split(|b| *b == 0)
        .any(|arg| arg == word.as_encoded_bytes())
}

/// Sends `signal` to every descendant of opmux that belongs to none of
/// `panes`: a process that cleared its environment after escaping.
/// SIGKILL goes to every descendant instead: it comes last, when whatever
/// is still alive must go, whoever it belongs to.
pub fn signal_strays(panes: &[PaneProcesses<'_>], signal: Signal) {
    if signal == Signal::SIGKILL {
        signal_all_descendants(signal);
        return;
    }
    let table = proc::ProcessTable::read();
    let claimed: std::collections::HashSet<Pid> =
        panes.iter().flat_map(|p| p.find(&table)).collect();
    for pid in table.descendants(nix::unistd::getpid()) {
        if !claimed.contains(&pid) {
            signal_process(&table, pid, signal);
        }
    }
}

/// Sends `signal` to every descendant of opmux. Since opmux is a subreaper this
/// covers every process any pane started, wherever it went.
pub fn signal_all_descendants(signal: Signal) {
    let me = nix::unistd::getpid();
    let table = proc::ProcessTable::read();
    for pid in table.descendants(me) {
        signal_process(&table, pid, signal);
    }
    if signal == Signal::SIGKILL {
        kill_until_gone(|table| table.descendants(me));
    }
}

/// The descendants of opmux still alive (zombies do not count).
pub fn live_descendants() -> Vec<Pid> {
    live_descendants_in(&proc::ProcessTable::read())
}

/// [`live_descendants`], as `table` saw them.
pub fn live_descendants_in(table: &proc::ProcessTable) -> Vec<Pid> {
    table
        .descendants(nix::unistd::getpid())
        .into_iter()
        .filter(|&pid| table.alive(pid))
        .collect()
}

/// The last resort for a panic: SIGKILL every pane's group and every descendant.
pub fn kill_everything_now() {
    // try_lock: the panic may have struck inside `reap`, on this very thread.
    // The list is then skipped; the walk below still finds every descendant.
    if let Ok(live) = LIVE_PANES.try_lock() {
        for &pid in live.iter() {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
    signal_all_descendants(Signal::SIGKILL);
}

/// Lowers the CPU priority of the session `leader` leads (a pane's run) by
/// `by` nice steps, up to the lowest there is; returns the nice value it
/// now has. One way only: without privileges a priority cannot be raised
/// again, which a new run does not need, being a new session.
///
/// With autogroups (Linux's default on desktops), the scheduler first
/// shares the CPU fairly between sessions and only then between the
/// processes of one, so it is the session's autogroup that is lowered;
/// otherwise the session leader's process group.
pub fn lower_session_priority(leader: Pid, by: u8) -> std::io::Result<i32> {
    let lowered = |now: i32| (now + i32::from(by)).min(i32::from(crate::config::MAX_NICE));
    #[cfg(target_os = "linux")]
    {
        let enabled = std::fs::read_to_string("/proc/sys/kernel/sched_autogroup_enabled")
            .is_ok_and(|s| s.trim() == "1");
        let path = format!("/proc/{leader}/autogroup");
        if enabled && let Ok(group) = std::fs::read_to_string(&path) {
            // "/autogroup-42 nice 0"
            let now = group
                .rsplit(' ')
                .next()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            let nice = lowered(now);
            std::fs::write(&path, nice.to_string())?;
            return Ok(nice);
        }
    }
    let group = leader.as_raw() as nix::libc::id_t;
    // -1 is a valid priority, so errno tells an error apart.
    nix::errno::Errno::clear();
    // SAFETY: getpriority and setpriority take no pointers.
    let now = unsafe { nix::libc::getpriority(nix::libc::PRIO_PGRP, group) };
    if now == -1 && nix::errno::Errno::last_raw() != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let nice = lowered(now);
    // SAFETY: as above.
    if unsafe { nix::libc::setpriority(nix::libc::PRIO_PGRP, group, nice) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(nice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Child, Command, Stdio};

    /// A child of the test that is killed and reaped, by its own pid, when
    /// dropped: tests run in parallel, so none may reap another's children.
    struct Sleeper(Child);

    impl Sleeper {
        fn pid(&self) -> Pid {
            Pid::from_raw(self.0.id() as i32)
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Starts `/bin/sleep 30` with an empty environment but for `env`, and
    /// its standard output on `out` (a stand-in for a pane's terminal).
    fn sleeper(env: &[(&str, &str)], out: Option<&std::path::Path>) -> Sleeper {
        sleeper_with(env, out, |_| {})
    }

    fn sleeper_with(
        env: &[(&str, &str)],
        out: Option<&std::path::Path>,
        setup: impl FnOnce(&mut Command),
    ) -> Sleeper {
        let mut cmd = Command::new("/bin/sleep");
        cmd.arg("30").env_clear().envs(env.iter().copied());
        cmd.stdin(Stdio::null()).stderr(Stdio::null());
        match out {
            Some(path) => cmd.stdout(std::fs::File::create(path).expect("scratch file")),
            None => cmd.stdout(Stdio::null()),
        };
        setup(&mut cmd);
        // spawn returns once the program is executed, so its environment and
        // files are those /proc shows from now on.
        Sleeper(cmd.spawn().expect("starting /bin/sleep"))
    }

    /// A file that stands for a pane's terminal: `uses_tty` compares paths.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().canonicalize().expect("a temp folder");
        dir.join(format!("opmux-unit-{}-{name}", std::process::id()))
    }

    /// The pane that none of the test's processes belong to but by what the
    /// test gives it: its session and group are pids no test process has.
    fn pane<'a>(tag: &'a str, tty: Option<&'a std::path::Path>) -> PaneProcesses<'a> {
        PaneProcesses {
            sid: Pid::from_raw(i32::MAX),
            foreground: None,
            tag,
            tty,
        }
    }

    fn finds(pane: &PaneProcesses<'_>, pid: Pid) -> bool {
        pane.find(&proc::ProcessTable::read()).contains(&pid)
    }

    #[test]
    fn pane_tags_name_this_opmux_and_count_panes_from_one() {
        assert_eq!(pane_tag(0), format!("{}:1", std::process::id()));
        assert_eq!(pane_tag(4), format!("{}:5", std::process::id()));
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(ExitStatus::Exited(3).code(), 3);
        assert_eq!(ExitStatus::Signaled(Signal::SIGTERM).code(), 143);
    }

    #[test]
    fn an_untagged_process_is_found_by_the_terminal_it_writes_to() {
        let tty = scratch("tty-writer");
        let other = scratch("tty-other");
        let escapee = sleeper(&[], Some(&tty));
        let pid = escapee.pid();
        assert!(finds(&pane("me:1", Some(&tty)), pid));
        assert!(!finds(&pane("me:1", None), pid), "found without a terminal");
        assert!(
            !finds(&pane("me:1", Some(&other)), pid),
            "found by another pane's terminal"
        );
        drop(escapee);
        let _ = std::fs::remove_file(tty);
    }

    #[test]
    fn a_tag_decides_before_the_terminal_the_session_or_the_group() {
        let tty = scratch("tty-tagged");
        let mine = sleeper(&[(PANE_TAG_VAR, "me:1")], None);
        let theirs = sleeper_with(&[(PANE_TAG_VAR, "me:2")], Some(&tty), |cmd| {
            cmd.process_group(0);
        });
        let theirs_pid = theirs.pid();
        let pane = PaneProcesses {
            sid: nix::unistd::getsid(None).expect("own session"),
            foreground: Some(theirs_pid),
            ..pane("me:1", Some(&tty))
        };
        let found = pane.find(&proc::ProcessTable::read());
        assert!(found.contains(&mine.pid()), "the pane's own tag: {found:?}");
        assert!(
            !found.contains(&theirs_pid),
            "another pane's process was claimed: {found:?}"
        );
        drop(theirs);
        let _ = std::fs::remove_file(tty);
    }

    #[test]
    fn untagged_processes_are_found_by_session_and_by_foreground_group() {
        // SAFETY: setsid is async-signal-safe, and nothing else runs in the
        // child between fork and exec.
        let leader = sleeper_with(&[], None, |cmd| unsafe {
            cmd.pre_exec(|| nix::unistd::setsid().map(drop).map_err(Into::into));
        });
        let job = sleeper_with(&[], None, |cmd| {
            cmd.process_group(0);
        });
        let by_session = PaneProcesses {
            sid: leader.pid(),
            ..pane("me:1", None)
        };
        assert!(finds(&by_session, leader.pid()));
        assert!(!finds(&by_session, job.pid()));
        let by_group = PaneProcesses {
            foreground: Some(job.pid()),
            ..pane("me:1", None)
        };
        assert!(finds(&by_group, job.pid()));
        assert!(!finds(&by_group, leader.pid()));
    }

    #[test]
    fn descendants_of_a_pane_process_are_found_whatever_they_carry() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "env -i /bin/sleep 30 & wait"])
            .env_clear()
            .env(PANE_TAG_VAR, "me:1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let shell = Sleeper(cmd.spawn().expect("starting sh"));
        let pane = pane("me:1", None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let child = loop {
            let table = proc::ProcessTable::read();
            // The child counts once it runs sleep without the tag.
            let untagged = table.descendants(shell.pid()).into_iter().find(|&pid| {
                table.pane_tag(pid).is_none()
                    && std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| c.starts_with(b"/bin/sleep"))
            });
            if let Some(child) = untagged {
                break child;
            }
            assert!(std::time::Instant::now() < deadline, "sleep never started");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let found = pane.find(&proc::ProcessTable::read());
        assert!(found.contains(&shell.pid()), "{found:?}");
        assert!(found.contains(&child), "the untagged child: {found:?}");
        let _ = kill(child, Signal::SIGKILL);
    }

    #[test]
    fn a_pid_that_now_names_another_process_is_never_signalled() {
        let sleeper = sleeper(&[], None);
        let pid = sleeper.pid();
        let now = proc::stat(pid).expect("the sleeper's stat");
        let table_with = |start_time| {
            let info = proc::ProcessInfo {
                start_time,
                ..now.clone()
            };
            proc::ProcessTable::from_processes([(pid, info)].into())
        };
        // What was seen at this pid started at another time: the pid was
        // reused, and the process now holding it is a stranger.
        signal_process(&table_with(now.start_time + 1), pid, Signal::SIGKILL);
        signal_process(&table_with(now.start_time - 1), pid, Signal::SIGKILL);
        // The process seen is still there: it is signalled. Had a SIGKILL
        // gone out above, it would have ended the process first.
        signal_process(&table_with(now.start_time), pid, Signal::SIGTERM);
        let mut sleeper = sleeper;
        let status = sleeper.0.wait().expect("waiting for the sleeper");
        assert_eq!(
            status.signal(),
            Some(Signal::SIGTERM as i32),
            "the sleeper at a reused pid was signalled"
        );
    }

    #[test]
    fn a_process_already_reaped_is_skipped() {
        let mut gone = sleeper(&[], None);
        let pid = gone.pid();
        let seen = proc::stat(pid).expect("the sleeper's stat");
        gone.0.kill().expect("killing the sleeper");
        gone.0.wait().expect("reaping the sleeper");
        // The table still lists it, as one read just before it ended would.
        let table = proc::ProcessTable::from_processes([(pid, seen)].into());
        signal_process(&table, pid, Signal::SIGTERM);
    }

    /// Starts a sleeper carrying `tag` that ignores SIGTERM.
    fn deaf_to_sigterm(tag: &str) -> Sleeper {
        sleeper_with(&[(PANE_TAG_VAR, tag)], None, |cmd| {
            // SAFETY: sigaction is async-signal-safe, and nothing else runs
            // in the child between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    let ignore = nix::sys::signal::SigAction::new(
                        nix::sys::signal::SigHandler::SigIgn,
                        nix::sys::signal::SaFlags::empty(),
                        nix::sys::signal::SigSet::empty(),
                    );
                    nix::sys::signal::sigaction(Signal::SIGTERM, &ignore)
                        .map(drop)
                        .map_err(Into::into)
                });
            }
        })
    }

    /// Ends `sleeper` with SIGINT, which kills unless something killed it
    /// before, and returns the signal it died of.
    fn finish(mut sleeper: Sleeper) -> Option<i32> {
        let _ = kill(sleeper.pid(), Signal::SIGINT);
        sleeper.0.wait().expect("waiting for the sleeper").signal()
    }

    #[test]
    fn a_pane_signal_goes_to_each_of_its_processes_and_only_sigkill_insists() {
        let tag = format!("unit-{}:1", std::process::id());
        let pane = pane(&tag, None);
        let first = deaf_to_sigterm(&tag);
        let second = deaf_to_sigterm(&tag);
        assert_eq!(pane.signal(Signal::SIGTERM), 2);
        // Both ignored SIGTERM, and nothing followed it: SIGINT ends them.
        assert_eq!(finish(first), Some(Signal::SIGINT as i32));
        assert_eq!(finish(second), Some(Signal::SIGINT as i32));
        let third = deaf_to_sigterm(&tag);
        assert_eq!(pane.signal(Signal::SIGKILL), 1);
        assert_eq!(finish(third), Some(Signal::SIGKILL as i32));
    }

    #[test]
    fn sigkill_goes_out_again_until_a_fresh_look_finds_nothing_alive() {
        let early = sleeper(&[], None);
        let late = sleeper(&[], None);
        let looks = std::cell::Cell::new(0);
        // The second process shows up only at the second look, as one forked
        // just as the first SIGKILL went out would.
        kill_until_gone(|table| {
            looks.set(looks.get() + 1);
            let mut found = vec![early.pid()];
            if looks.get() > 1 {
                found.push(late.pid());
            }
            found.retain(|&pid| table.alive(pid));
            found
        });
        assert!(looks.get() >= 3, "stopped after {} looks", looks.get());
        assert_eq!(finish(early), Some(Signal::SIGKILL as i32));
        assert_eq!(finish(late), Some(Signal::SIGKILL as i32));
    }

    #[test]
    fn a_process_the_table_never_saw_is_not_signalled() {
        let sleeper = sleeper(&[], None);
        signal_process(
            &proc::ProcessTable::from_processes(Default::default()),
            sleeper.pid(),
            Signal::SIGKILL,
        );
        let mut sleeper = sleeper;
        assert_eq!(sleeper.0.try_wait().ok().flatten(), None);
        let _ = kill(sleeper.pid(), Signal::SIGTERM);
        let status = sleeper.0.wait().expect("waiting for the sleeper");
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
    }
}
