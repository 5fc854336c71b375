//! The PTY layer on its own: a real program on a real PTY, its output parsed
//! into the pane's screen, and its exit reaped by opmux's one reaper.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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

fn spec(script: &str) -> PaneSpec {
    PaneSpec::new("test", vec!["/bin/sh".into(), "-c".into(), script.into()])
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
    let screen = Arc::new(Mutex::new(Screen::new(Size::new(10, 40))));
    let (tx, mut events) = unbounded_channel();
    let wiring = Wiring {
        id: PaneId(7),
        run: 1,
        live_run: Arc::new(std::sync::atomic::AtomicU32::new(1)),
        screen: screen.clone(),
        dirty: Arc::new(AtomicBool::new(false)),
        events: tx,
        ready: None,
    };
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
    let (tx, _events) = unbounded_channel();
    let wiring = Wiring {
        id: PaneId(0),
        run: 1,
        live_run: Arc::new(std::sync::atomic::AtomicU32::new(1)),
        screen: Arc::new(Mutex::new(Screen::new(Size::new(5, 5)))),
        dirty: Arc::new(AtomicBool::new(false)),
        events: tx,
        ready: None,
    };
    let mut spec = spec("true");
    spec.cwd = Some("/nonexistent/opmux/folder".into());
    let err = Pty::spawn(&spec, Size::new(5, 5), &[], wiring).expect_err("spawn must fail");
    assert!(
        format!("{err:#}").contains("/nonexistent/opmux/folder"),
        "{err:#}"
    );
}
