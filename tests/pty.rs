//! The PTY layer on its own: a real program on a real PTY, its output parsed
//! into the pane's screen, and its exit reaped by opmux's one reaper.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::wait::{Id, WaitPidFlag, waitid};
use opmux::config::PaneSpec;
use opmux::event::Event;
use opmux::pane::pty::{Pty, Wiring};
use opmux::pane::screen::Screen;
use opmux::process::{self, ExitStatus};
use opmux::{PaneId, Size};
use parking_lot::Mutex;
use tokio::sync::mpsc::unbounded_channel;

/// Held by every test that starts a child. `process::reap` reaps any child
/// of this test process (`waitpid(-1)`), so tests running in parallel could
/// reap each other's programs, and a `waitid` on a pid already reaped fails.
static CHILDREN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Takes [`CHILDREN`] for the rest of a test. A test that failed while
/// holding it leaves no child behind that matters to the next.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn spec(script: &str) -> PaneSpec {
    PaneSpec::new("test", vec!["/bin/sh".into(), "-c".into(), script.into()])
}

/// The wiring of pane `id`'s first run onto `screen`, and where its events
/// arrive.
fn wiring(
    id: usize,
    screen: &Arc<Mutex<Screen>>,
) -> (Wiring, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let (tx, events) = unbounded_channel();
    let wiring = Wiring {
        id: PaneId(id),
        run: 1,
        live_run: Arc::new(std::sync::atomic::AtomicU32::new(1)),
        screen: screen.clone(),
        dirty: Arc::new(AtomicBool::new(false)),
        events: tx,
        ready: None,
        attention: None,
        flood_nice: 0,
    };
    (wiring, events)
}

/// Waits for the next event, with a deadline instead of a sleep.
fn next(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Event {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), events.recv()).await })
        .expect("no event from the pane within 20 s")
        .expect("event channel closed")
}

#[test]
fn output_and_stderr_reach_the_screen_and_the_reaper_gets_the_status() {
    let _children = one_at_a_time();
    let screen = Arc::new(Mutex::new(Screen::new(Size::new(10, 40))));
    let (wiring, mut events) = wiring(7, &screen);
    let pty = Pty::spawn(
        &spec("printf 'hi '; stty size; echo \"tag=$OPMUX_TEST_TAG\"; echo oops >&2; exit 3"),
        Size::new(10, 40),
        &[("OPMUX_TEST_TAG", "seven")],
        wiring,
    )
    .unwrap();
    // Output ends when the program closes the terminal.
    loop {
        match next(&mut events) {
            Event::PaneOutput(PaneId(7)) => continue,
            Event::PaneOutputClosed {
                pane: PaneId(7),
                run: 1,
                error,
            } => {
                assert_eq!(error, None);
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    let text = screen.lock().vt().contents();
    assert!(
        text.contains("tag=seven"),
        "extra environment reached the program: {text}"
    );
    assert!(
        text.contains("hi 10 40"),
        "the PTY had the pane's size from the start: {text}"
    );
    assert!(text.contains("oops"), "stderr reached the screen: {text}");
    // Block until the child has ended, without reaping it, then let the one
    // reaper collect it.
    waitid(
        Id::Pid(pty.pid),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    )
    .unwrap();
    let reaped = process::reap();
    assert!(
        reaped.contains(&(pty.pid, ExitStatus::Exited(3))),
        "{reaped:?}"
    );
}

#[test]
fn a_missing_working_folder_fails_the_spawn_instead_of_using_another() {
    let _children = one_at_a_time();
    let (tx, _events) = unbounded_channel();
    let wiring = Wiring {
        id: PaneId(0),
        run: 1,
        live_run: Arc::new(std::sync::atomic::AtomicU32::new(1)),
        screen: Arc::new(Mutex::new(Screen::new(Size::new(5, 5)))),
        dirty: Arc::new(AtomicBool::new(false)),
        events: tx,
        ready: None,
        attention: None,
        flood_nice: 0,
    };
    let mut spec = spec("true");
    spec.cwd = Some("/nonexistent/opmux/folder".into());
    let err = Pty::spawn(&spec, Size::new(5, 5), &[], wiring).expect_err("spawn must fail");
    assert!(
        format!("{err:#}").contains("/nonexistent/opmux/folder"),
        "{err:#}"
    );
}

#[test]
fn input_a_program_does_not_read_yet_waits_in_order_without_blocking() {
    let _children = one_at_a_time();
    let screen = Arc::new(Mutex::new(Screen::new(Size::new(10, 60))));
    let (wiring, mut events) = wiring(3, &screen);
    let dirty = wiring.dirty.clone();
    let scratch = std::env::temp_dir().join(format!("opmux-pty-input-{}", std::process::id()));
    let _ = std::fs::remove_file(&scratch);
    // Reads nothing until the file exists, then checks every line came, in
    // order. The terminal holds about 4 KiB of unread input; this is 25 times
    // as much. The program starts reading halfway, while more is written.
    let lines = 20_000;
    let bytes: usize = (1..=lines).map(|n: usize| n.to_string().len() + 1).sum();
    let script = format!(
        "stty raw -echo; while [ ! -e {file} ]; do sleep 0.01; done; \
         head -c {bytes} | awk 'NR != $1 {{ bad = 1 }} END {{ print (bad ? \"DISORDER\" : \"ORDERED\"), NR }}'; \
         sleep 5",
        file = scratch.display()
    );
    let pty = Pty::spawn(&spec(&script), Size::new(10, 60), &[], wiring).unwrap();
    let pid = pty.pid;
    // On a thread of its own, so a write that blocks fails the test instead
    // of hanging it.
    let (done, written) = std::sync::mpsc::channel();
    let marker = scratch.clone();
    let writer = std::thread::spawn(move || {
        for n in 1..=lines {
            pty.write(format!("{n}\n").into_bytes());
            if n == lines / 2 {
                std::fs::write(&marker, b"").unwrap();
            }
        }
        done.send(()).unwrap();
        pty
    });
    written
        .recv_timeout(Duration::from_secs(20))
        .expect("writing to a program that does not read blocked");
    let pty = writer.join().unwrap();
    let expected = format!("ORDERED {lines}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !screen.lock().vt().contents().contains(&expected) {
        let text = screen.lock().vt().contents();
        assert!(
            std::time::Instant::now() < deadline && !text.contains("DISORDER"),
            "the program did not get its input in order:\n{text}"
        );
        dirty.store(false, std::sync::atomic::Ordering::Release);
        let _ = next(&mut events);
    }
    let _ = std::fs::remove_file(&scratch);
    nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).unwrap();
    process::reap();
    drop(pty);
}

#[test]
fn small_output_parsed_at_once_never_overtakes_larger_output_still_queued() {
    let _children = one_at_a_time();
    // How reads split the output varies from run to run: many runs make a
    // reader that parses out of turn all but sure to be caught. Each run
    // prints less than a flood's worth, so its threads keep their priority
    // and a loaded machine cannot starve them past the deadline.
    for _ in 0..12 {
        blocks_and_small_lines_arrive_in_order(None);
    }
}

#[test]
fn output_read_by_the_main_task_while_quiet_stays_in_order_with_the_readers() {
    let _children = one_at_a_time();
    // Spawned on a runtime, a quiet pane's output is read by a task of
    // that runtime until a read fills its buffer or a frame is still owed,
    // then by the reader again: the same output, the hand-over in between.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..12 {
        blocks_and_small_lines_arrive_in_order(Some(&runtime));
    }
}

/// Prints blocks of lines, each followed by a short line, and checks that
/// every line reaches the screen in order; with `runtime`, the pane is
/// spawned and its events awaited on it, and each wake-up clears the
/// pane's dirty flag, as drawing a frame does.
fn blocks_and_small_lines_arrive_in_order(runtime: Option<&tokio::runtime::Runtime>) {
    let screen = Arc::new(Mutex::new(Screen::new(Size::new(10, 60))));
    screen.lock().collect_lines(true);
    let (wiring, mut events) = wiring(4, &screen);
    // Blocks of 24 lines (1,128 bytes), too big for the reader to parse
    // itself, each followed by one short line, which it parses itself
    // whenever the parser has nothing queued, and every fifth round a line
    // after a pause, which goes to the main task when there is one; 57 kB
    // in all.
    let (rounds, block) = (50, 24);
    assert!(rounds * (block * 47 + 10) < opmux::pane::pty::FLOOD_BYTES);
    let script = format!(
        "blk=$(i=0; while [ $i -lt {block} ]; do i=$((i+1)); \
         echo \"big line $i of a block long enough to be queued\"; done); \
         n=0; while [ $n -lt {rounds} ]; do n=$((n+1)); \
         printf '%s\\n' \"$blk\"; echo \"small $n\"; \
         if [ $((n % 5)) -eq 0 ]; then sleep 0.03; echo \"after a pause $n\"; fi; done"
    );
    let dirty = wiring.dirty.clone();
    let pty = match runtime {
        None => {
            let pty = Pty::spawn(&spec(&script), Size::new(10, 60), &[], wiring).unwrap();
            loop {
                match next(&mut events) {
                    Event::PaneOutput(_) => continue,
                    Event::PaneOutputClosed { .. } => break,
                    other => panic!("unexpected event {other:?}"),
                }
            }
            pty
        }
        Some(runtime) => runtime.block_on(async {
            let pty = Pty::spawn(&spec(&script), Size::new(10, 60), &[], wiring).unwrap();
            loop {
                let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
                    .await
                    .expect("no event from the pane within 20 s")
                    .expect("event channel closed");
                match event {
                    Event::PaneOutput(_) => dirty.store(false, Ordering::Release),
                    Event::PaneOutputClosed { .. } => break,
                    other => panic!("unexpected event {other:?}"),
                }
            }
            pty
        }),
    };
    let lines = screen.lock().take_lines();
    let mut expected = Vec::new();
    for n in 1..=rounds {
        for i in 1..=block {
            expected.push(format!("big line {i} of a block long enough to be queued"));
        }
        expected.push(format!("small {n}"));
        if n % 5 == 0 {
            expected.push(format!("after a pause {n}"));
        }
    }
    if let Some(at) = (0..expected.len()).find(|&i| lines.get(i) != Some(&expected[i])) {
        panic!(
            "output out of order at line {at} of {}: got {:?}, expected {:?}",
            lines.len(),
            lines.get(at.saturating_sub(2)..(at + 3).min(lines.len())),
            expected.get(at.saturating_sub(2)..at + 3),
        );
    }
    waitid(
        Id::Pid(pty.pid),
        WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
    )
    .unwrap();
    process::reap();
}
