//! A snapshot of the process table read from `/proc`, for finding a pane's
//! session members and descendants. On systems without `/proc` it is empty, and
//! signalling falls back to process groups alone.

use std::collections::{HashMap, HashSet};

use nix::unistd::Pid;

/// The fields of `/proc/PID/stat` that lifecycle decisions, and the tests and
/// benchmarks that watch opmux, need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: Pid,
    pub state: char,
    pub ppid: Pid,
    pub pgrp: Pid,
    pub session: Pid,
    /// Clock ticks after boot at which the process started; with the pid, it
    /// names one process even when the pid is later reused.
    pub start_time: u64,
    /// CPU time in user and in kernel mode, in clock ticks.
    pub utime: u64,
    pub stime: u64,
    /// The nice value.
    pub nice: i64,
}

#[derive(Debug, Default)]
pub struct ProcessTable {
    processes: HashMap<Pid, ProcessInfo>,
    children: HashMap<Pid, Vec<Pid>>,
    /// Each process's pane tag, read from its environment on first asking:
    /// finding the processes of every pane asks for each process once per
    /// pane.
    tags: std::cell::RefCell<HashMap<Pid, Option<String>>>,
}

impl ProcessTable {
    /// Reads every process's stat file. Processes that vanish while being read
    /// are simply left out.
    pub fn read() -> Self {
        let mut processes = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<i32>().ok())
                else {
                    continue;
                };
                if let Some(info) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|text| parse_stat(&text))
                {
                    processes.insert(Pid::from_raw(pid), info);
                }
            }
        }
        Self::from_processes(processes)
    }

    /// A table of `processes`, as if read from /proc; tests build one to
    /// make the process table disagree with what is really running.
    pub(crate) fn from_processes(processes: HashMap<Pid, ProcessInfo>) -> Self {
        let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
        for p in processes.values() {
            children.entry(p.ppid).or_default().push(p.pid);
        }
        Self {
            processes,
            children,
            tags: Default::default(),
        }
    }

    /// The pane tag (`OPMUX_PANE_ID`) in `pid`'s environment, if it has one.
    pub fn pane_tag(&self, pid: Pid) -> Option<String> {
        self.tags
            .borrow_mut()
            .entry(pid)
            .or_insert_with(|| environ_value(pid, super::PANE_TAG_VAR))
            .clone()
    }

    /// Every pid in the table.
    pub fn pids(&self) -> impl Iterator<Item = Pid> + '_ {
        self.processes.keys().copied()
    }

    pub fn get(&self, pid: Pid) -> Option<&ProcessInfo> {
        self.processes.get(&pid)
    }

    /// Whether `pid` was alive when the table was read (a zombie is not).
    pub fn alive(&self, pid: Pid) -> bool {
        self.get(pid).is_some_and(|p| p.state != 'Z')
    }

    /// Every process below `roots` in the parent tree, the roots excluded
    /// unless one descends from another.
    pub fn descendants_of_all(&self, roots: &[Pid]) -> Vec<Pid> {
        let mut seen: HashSet<Pid> = HashSet::new();
        let mut found = Vec::new();
        let mut stack = roots.to_vec();
        while let Some(pid) = stack.pop() {
            for &child in self.children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
                // The set also guards the walk against a cycle in a torn read.
                if seen.insert(child) {
                    found.push(child);
                    stack.push(child);
                }
            }
        }
        found
    }

    /// Every process below `root` in the parent tree, `root` excluded.
    pub fn descendants(&self, root: Pid) -> Vec<Pid> {
        self.descendants_of_all(&[root])
            .into_iter()
            .filter(|&pid| pid != root)
            .collect()
    }
}

/// The value of variable `key` in the environment `pid` started with. A
/// process that is gone, or not ours to read, has none.
pub fn environ_value(pid: Pid, key: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|var| {
        let value = var.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(value).into_owned())
    })
}

/// The process listening on TCP `port`, as `pid (name)`, where /proc can
/// tell: the listening socket's inode from /proc/net/tcp or tcp6, then the
/// process holding it among those this user may look into.
pub fn tcp_listener(port: u16) -> Option<String> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            listening_inode(&text, port)
        })?;
    let wanted = format!("socket:[{inode}]");
    let pids = std::fs::read_dir("/proc").ok()?;
    pids.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == &*wanted)
                })
            })
        })
        .map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            format!("{pid} ({})", crate::clean_text(name.trim()))
        })
}

/// The inode of the socket listening on `port` in a /proc/net/tcp table.
fn listening_inode(table: &str, port: u16) -> Option<u64> {
    const LISTEN: &str = "0A";
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (_, local_port) = fields.get(1)?.rsplit_once(':')?;
        let listening = *fields.get(3)? == LISTEN;
        (listening && u16::from_str_radix(local_port, 16).ok()? == port)
            .then(|| fields.get(9)?.parse().ok())
            .flatten()
    })
}

/// Whether `pid` has the terminal `tty` as its standard input, output or error.
pub fn uses_tty(pid: Pid, tty: &std::path::Path) -> bool {
    (0..3).any(|fd| {
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).is_ok_and(|target| target == tty)
    })
}

/// Parses `/proc/PID/stat`. The command name sits in parentheses and may itself
/// contain spaces and parentheses, so the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcessInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid: i32 = text[..open].trim().parse().ok()?;
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid: i32 = rest.next()?.parse().ok()?;
    let pgrp: i32 = rest.next()?.parse().ok()?;
    let session: i32 = rest.next()?.parse().ok()?;
    // Fields 7 to 13 lie between the session and utime (14), stime (15);
    // 16 to 18 before nice (19); 20 and 21 before the start time (22).
    let utime: u64 = rest.nth(7)?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    let nice: i64 = rest.nth(3)?.parse().ok()?;
    let start_time: u64 = rest.nth(2)?.parse().ok()?;
    Some(ProcessInfo {
        pid: Pid::from_raw(pid),
        state,
        ppid: Pid::from_raw(ppid),
        pgrp: Pid::from_raw(pgrp),
        session: Pid::from_raw(session),
        start_time,
        utime,
        stime,
        nice,
    })
}

/// Reads one process's stat file.
pub fn stat(pid: Pid) -> Option<ProcessInfo> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_on_a_port_is_found_with_its_process() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
             0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1\n   \
             1: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 4343 1\n";
        assert_eq!(listening_inode(table, 8080), Some(4242));
        assert_eq!(
            listening_inode(table, 8081),
            None,
            "an established one is no listener"
        );
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = tcp_listener(port).expect("this test's own listener");
        assert!(
            held.starts_with(&format!("{} (", std::process::id())),
            "{held}"
        );
    }

    #[test]
    fn stat_with_spaces_and_parens_in_the_name_parses() {
        let line = "4242 (my (odd) name) S 1 4242 4242 34816 4242 4194560 0 0 0 0 1 2 0 0 20 0 1 0 987654 1000";
        let info = parse_stat(line).unwrap();
        assert_eq!(info.pid, Pid::from_raw(4242));
        assert_eq!(info.state, 'S');
        assert_eq!(info.ppid, Pid::from_raw(1));
        assert_eq!(info.session, Pid::from_raw(4242));
        assert_eq!(info.start_time, 987654);
        assert_eq!((info.utime, info.stime, info.nice), (1, 2, 0));
    }

    #[test]
    fn truncated_stat_is_rejected() {
        assert_eq!(parse_stat("12 (x) S 1"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn descendants_follow_the_parent_chain() {
        let mut processes = HashMap::new();
        for (pid, ppid) in [(10, 1), (11, 10), (12, 11), (13, 1), (14, 12)] {
            processes.insert(
                Pid::from_raw(pid),
                ProcessInfo {
                    pid: Pid::from_raw(pid),
                    state: 'S',
                    ppid: Pid::from_raw(ppid),
                    pgrp: Pid::from_raw(pid),
                    session: Pid::from_raw(pid),
                    start_time: 0,
                    utime: 0,
                    stime: 0,
                    nice: 0,
                },
            );
        }
        let table = ProcessTable::from_processes(processes);
        let mut found: Vec<i32> = table
            .descendants(Pid::from_raw(10))
            .into_iter()
            .map(Pid::as_raw)
            .collect();
        found.sort();
        assert_eq!(found, [11, 12, 14]);
    }

    #[test]
    fn a_zombie_is_in_the_table_but_not_alive() {
        let info = |pid: i32, state| ProcessInfo {
            pid: Pid::from_raw(pid),
            state,
            ppid: Pid::from_raw(1),
            pgrp: Pid::from_raw(pid),
            session: Pid::from_raw(pid),
            start_time: 0,
            utime: 0,
            stime: 0,
            nice: 0,
        };
        let table = ProcessTable::from_processes(
            [
                (Pid::from_raw(20), info(20, 'Z')),
                (Pid::from_raw(21), info(21, 'S')),
            ]
            .into(),
        );
        assert!(table.get(Pid::from_raw(20)).is_some());
        assert!(!table.alive(Pid::from_raw(20)), "a zombie counted as alive");
        assert!(table.alive(Pid::from_raw(21)));
        assert!(!table.alive(Pid::from_raw(22)), "a pid not in the table");
    }

    #[test]
    fn this_process_is_in_the_live_table() {
        let table = ProcessTable::read();
        let me = table.get(nix::unistd::getpid()).expect("own stat readable");
        assert_eq!(me.ppid, nix::unistd::getppid());
        assert_eq!(stat(me.pid).map(|p| p.start_time), Some(me.start_time));
    }
}
