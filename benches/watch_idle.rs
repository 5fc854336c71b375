//! What restart on file change costs while nothing changes: a detached
//! session of 100 panes, each watching the same tree of 10,000 files
//! (`watch = ["src/**/*.rs"]`), left idle for 10 s. Prints the server's CPU
//! time over that window, from /proc, and how many inotify watches it
//! holds. Run with `cargo bench --bench watch_idle`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

const PANES: usize = 100;
const FOLDERS: usize = 100;
const FILES_EACH: usize = 100;
const WINDOW: Duration = Duration::from_secs(10);

/// utime + stime of `pid`, in clock ticks.
fn ticks(pid: u32) -> u64 {
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    let info = opmux::process::proc::stat(pid).expect("the server's stat");
    info.utime + info.stime
}

/// The inotify watches `pid` holds, from its fds' info.
fn inotify_watches(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_to_string(fd.path()).ok())
        .map(|info| {
            info.lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count()
        })
        .sum()
}

fn main() {
    let scratch = std::env::temp_dir().join(format!("opmux-watch-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let runtime = scratch.join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let tree = scratch.join("tree");
    for folder in 0..FOLDERS {
        let dir = tree.join(format!("src/m{folder}"));
        std::fs::create_dir_all(&dir).unwrap();
        for file in 0..FILES_EACH {
            std::fs::write(dir.join(format!("f{file}.rs")), "// x\n").unwrap();
        }
    }
    let config: String = (0..PANES)
        .map(|i| format!("[[pane]]\nname = \"p{i}\"\ncmd = \"exec sleep 1000\"\nwatch = [\"src/**/*.rs\"]\n\n"))
        .collect();
    std::fs::write(tree.join("opmux.toml"), config).unwrap();
    let opmux = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_opmux"));
        cmd.args(args)
            .current_dir(&tree)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("OPMUX_LOG", "off")
            .env_remove("OPMUX");
        cmd.output().expect("running opmux")
    };
    let started = opmux(&["-d", "-s", "watch-bench", "-c", "opmux.toml"]);
    assert!(started.status.success(), "{started:?}");
    let listed: serde_json::Value =
        serde_json::from_slice(&opmux(&["ls", "--json"]).stdout).expect("ls --json");
    let pid = listed[0]["pid"].as_u64().expect("the server's pid") as u32;
    // Settle: the panes start and the tree is watched.
    std::thread::sleep(Duration::from_secs(2));
    let before = ticks(pid);
    std::thread::sleep(WINDOW);
    let used = ticks(pid) - before;
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) }.max(1) as f64;
    println!(
        "{PANES} panes watching {} files, idle for {WINDOW:?}: server CPU {:.3} s ({used} ticks), {} inotify watches",
        FOLDERS * FILES_EACH,
        used as f64 / hz,
        inotify_watches(pid)
    );
    let _ = opmux(&["kill-session", "watch-bench"]);
    let _ = std::fs::remove_dir_all(&scratch);
}
