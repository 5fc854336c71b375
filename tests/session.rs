//! The session core on its own: a `Session` whose panes have no PTY, driven
//! by `Command`s addressed to panes and by process events, with no view, no
//! terminal and no client. What it asks for comes back as `Effect`s; time
//! is whatever `Instant` a test passes, so nothing sleeps.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use opmux::config::{LayoutKind, PaneSpec};
use opmux::event::Event;
use opmux::pane::PaneState;
use opmux::process::ExitStatus;
use opmux::session::{Command, Effect, Session};
use opmux::{PaneId, Size};

const SIZE: Size = Size::new(24, 80);

fn spec(name: &str) -> PaneSpec {
    PaneSpec::new(name, vec!["/bin/true".into()])
}

/// Pane `pane`'s main process ended with `status`, nothing of the run left.
fn exited(pane: usize, status: ExitStatus) -> Event {
    Event::PaneExited {
        pane: PaneId(pane),
        status,
        left: 0,
    }
}

/// A session of `n` panes, each started and reported running at `t0`.
fn running(n: usize, t0: Instant) -> Session {
    let specs = (0..n).map(|i| spec(&format!("p{}", i + 1))).collect();
    let mut session = Session::new(specs, SIZE, LayoutKind::Tiled);
    let starts: Vec<Effect> = (0..n).map(|i| Effect::Start(PaneId(i))).collect();
    assert_eq!(session.start(), starts);
    for i in 0..n {
        let event = Event::PaneStarted {
            pane: PaneId(i),
            pid: Pid::from_raw(999_001 + i as i32),
        };
        assert_eq!(session.handle(event, t0), vec![]);
    }
    session
}

fn state(session: &Session, id: usize) -> &PaneState {
    &session.pane(PaneId(id)).expect("the pane is there").state
}

#[test]
fn a_write_reaches_a_running_pane_and_nothing_else() {
    let t0 = Instant::now();
    let mut session = running(2, t0);
    assert_eq!(
        session.command(Command::Write(PaneId(1), b"ls\r".to_vec()), t0),
        vec![Effect::Write(PaneId(1), b"ls\r".to_vec())]
    );
    // A pane that is gone, and one that no longer runs, take nothing.
    assert_eq!(
        session.command(Command::Write(PaneId(7), b"x".to_vec()), t0),
        vec![]
    );
    session.handle(exited(0, ExitStatus::Exited(0)), t0);
    assert_eq!(
        session.command(Command::Write(PaneId(0), b"x".to_vec()), t0),
        vec![]
    );
}

#[test]
fn stop_sends_the_stop_signal_and_a_second_stop_kills() {
    let t0 = Instant::now();
    let mut session = running(2, t0);
    assert_eq!(
        session.command(Command::Stop(PaneId(1)), t0),
        vec![
            Effect::Signal(PaneId(1), Signal::SIGTERM),
            Effect::Signal(PaneId(1), Signal::SIGCONT)
        ]
    );
    assert!(matches!(
        state(&session, 1),
        PaneState::Stopping { killed: false, .. }
    ));
    assert_eq!(
        session.command(Command::Stop(PaneId(1)), t0),
        vec![Effect::Signal(PaneId(1), Signal::SIGKILL)]
    );
    // The other pane was never addressed.
    assert!(state(&session, 0).is_running());
}

#[test]
fn kill_restart_and_start_act_on_the_pane_they_name() {
    let t0 = Instant::now();
    let mut session = running(3, t0);
    assert_eq!(
        session.command(Command::Kill(PaneId(2)), t0),
        vec![Effect::Signal(PaneId(2), Signal::SIGKILL)]
    );
    session.handle(exited(2, ExitStatus::Signaled(Signal::SIGKILL)), t0);
    assert!(matches!(state(&session, 2), PaneState::Exited { .. }));
    assert_eq!(
        session.command(Command::Start(PaneId(2)), t0),
        vec![Effect::Start(PaneId(2))]
    );
    assert_eq!(session.pane(PaneId(2)).unwrap().run, 2);
    // Restarting a running pane stops it first; it starts again once its
    // run is over.
    assert_eq!(
        session.command(Command::Restart(PaneId(0)), t0),
        vec![
            Effect::Signal(PaneId(0), Signal::SIGTERM),
            Effect::Signal(PaneId(0), Signal::SIGCONT)
        ]
    );
    let ended = exited(0, ExitStatus::Signaled(Signal::SIGTERM));
    assert_eq!(session.handle(ended, t0), vec![Effect::Start(PaneId(0))]);
    assert!(state(&session, 1).is_running(), "pane 2 was never named");
}

#[test]
fn close_stops_the_pane_and_asks_for_its_removal_once_its_run_is_over() {
    let t0 = Instant::now();
    let mut session = running(3, t0);
    let effects = session.command(Command::Close(PaneId(1)), t0);
    assert_eq!(effects[0], Effect::Signal(PaneId(1), Signal::SIGTERM));
    let ended = exited(1, ExitStatus::Signaled(Signal::SIGTERM));
    assert_eq!(session.handle(ended, t0), vec![Effect::Remove(PaneId(1))]);
    let (index, pane, effects) = session.remove_pane(PaneId(1), t0).expect("it was there");
    assert_eq!((index, pane.id), (1, PaneId(1)));
    // Two panes left, re-tiled side by side at full height.
    let resized: Vec<PaneId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::ResizePty(id, size) => {
                assert_eq!(
                    size.rows,
                    SIZE.rows - 3,
                    "full height less borders and status"
                );
                Some(*id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(resized, vec![PaneId(0), PaneId(2)]);
    assert_eq!(session.index_of(PaneId(2)), Some(1));
}

#[test]
fn the_last_pane_removed_ends_the_session() {
    let t0 = Instant::now();
    let mut session = running(1, t0);
    session.command(Command::Kill(PaneId(0)), t0);
    let ended = exited(0, ExitStatus::Signaled(Signal::SIGKILL));
    session.handle(ended, t0);
    session.command(Command::Close(PaneId(0)), t0);
    let (_, _, effects) = session.remove_pane(PaneId(0), t0).expect("it was there");
    assert_eq!(effects, vec![Effect::SignalStrays(Signal::SIGTERM)]);
    assert_eq!(session.shutdown.map(|s| s.exit_code), Some(0));
}

#[test]
fn an_added_pane_goes_last_starts_at_its_place_and_takes_a_zoom() {
    let t0 = Instant::now();
    let mut session = running(2, t0);
    let effects = session.command(Command::Add(Box::new(spec("new"))), t0);
    // The two old panes shrink to make room; the new one starts at its size.
    assert_eq!(effects.last(), Some(&Effect::Start(PaneId(2))));
    assert!(
        !effects.contains(&Effect::ResizePty(PaneId(2), session.pane_size(PaneId(2)))),
        "the new pane's size goes with its start, it has no PTY to resize"
    );
    assert_eq!(session.last_pane(), Some(PaneId(2)));
    session.command(Command::Zoom(Some(PaneId(0))), t0);
    session.command(Command::Add(Box::new(spec("newer"))), t0);
    assert_eq!(session.zoom, Some(PaneId(3)));
    let rects = session.pane_rects();
    assert_eq!(rects.iter().filter(|r| r.is_some()).count(), 1);
    assert!(rects[3].is_some(), "the new pane is the one shown");
}

#[test]
fn zoom_shows_one_pane_at_the_whole_size_and_unzoom_brings_the_layout_back() {
    let t0 = Instant::now();
    let mut session = running(3, t0);
    let tiled = session.pane_size(PaneId(1));
    let effects = session.command(Command::Zoom(Some(PaneId(1))), t0);
    let whole = Size::new(SIZE.rows - 3, SIZE.cols - 2);
    assert_eq!(effects, vec![Effect::ResizePty(PaneId(1), whole)]);
    assert_eq!(session.pane_size(PaneId(1)), whole);
    assert_eq!(
        session.command(Command::Zoom(None), t0),
        vec![Effect::ResizePty(PaneId(1), tiled)]
    );
    // A zoom on a pane that is not there is no zoom.
    session.command(Command::Zoom(Some(PaneId(9))), t0);
    assert_eq!(session.zoom, None);
}

#[test]
fn a_zoomed_pane_closed_passes_the_zoom_to_the_pane_in_its_place() {
    let t0 = Instant::now();
    let mut session = running(3, t0);
    session.command(Command::Zoom(Some(PaneId(2))), t0);
    session.command(Command::Kill(PaneId(2)), t0);
    let ended = exited(2, ExitStatus::Signaled(Signal::SIGKILL));
    session.handle(ended, t0);
    session.command(Command::Close(PaneId(2)), t0);
    session.remove_pane(PaneId(2), t0);
    assert_eq!(session.zoom, Some(PaneId(1)));
}

#[test]
fn resize_and_layout_give_each_visible_pane_its_new_size() {
    let t0 = Instant::now();
    let mut session = running(2, t0);
    let effects = session.command(Command::Resize(Size::new(30, 100)), t0);
    assert_eq!(
        effects,
        vec![
            Effect::ResizePty(PaneId(0), Size::new(27, 48)),
            Effect::ResizePty(PaneId(1), Size::new(27, 48)),
        ]
    );
    assert_eq!(session.size, Size::new(30, 100));
    // Even-horizontal stacks them: full width, half height each.
    let effects = session.command(Command::NextLayout, t0);
    assert_ne!(session.layout, LayoutKind::Tiled);
    assert_eq!(effects.len(), 2, "both panes changed size: {effects:?}");
}

#[test]
fn rename_keeps_only_printable_text_and_ignores_an_empty_name() {
    let t0 = Instant::now();
    let mut session = running(1, t0);
    session.command(Command::Rename(PaneId(0), " we\x1b[31mb\x07 ".into()), t0);
    assert_eq!(session.panes[0].spec.name, "we[31mb");
    assert!(session.panes[0].spec.named);
    session.command(Command::Rename(PaneId(0), " \x1b ".into()), t0);
    assert_eq!(session.panes[0].spec.name, "we[31mb");
}

#[test]
fn quit_stops_every_pane_and_ignores_pane_commands_from_then_on() {
    let t0 = Instant::now();
    let mut session = running(2, t0);
    let quit = Command::Quit {
        exit_code: 0,
        escalate: true,
    };
    let effects = session.command(quit.clone(), t0);
    assert_eq!(effects[0], Effect::SignalStrays(Signal::SIGTERM));
    assert!(effects.contains(&Effect::Signal(PaneId(0), Signal::SIGTERM)));
    assert!(effects.contains(&Effect::Signal(PaneId(1), Signal::SIGTERM)));
    for command in [
        Command::Start(PaneId(0)),
        Command::Restart(PaneId(1)),
        Command::Add(Box::new(spec("late"))),
        Command::NextLayout,
        Command::Write(PaneId(0), b"x".to_vec()),
    ] {
        assert_eq!(session.command(command.clone(), t0), vec![], "{command:?}");
    }
    assert_eq!(session.panes.len(), 2);
    // A second quit escalates to SIGKILL at once.
    let effects = session.command(quit, t0 + Duration::from_millis(10));
    assert_eq!(effects[0], Effect::SignalStrays(Signal::SIGKILL));
    assert!(effects.contains(&Effect::Signal(PaneId(1), Signal::SIGKILL)));
}

#[test]
fn input_from_a_terminal_is_not_the_sessions_to_act_on() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let t0 = Instant::now();
    let mut session = running(1, t0);
    let key = Event::Key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE));
    assert_eq!(session.handle(key, t0), vec![]);
    assert_eq!(session.handle(Event::Paste("x".into()), t0), vec![]);
    assert!(session.shutdown.is_none());
}

fn attention(session: &Session, id: usize) -> Option<opmux::pane::Attention> {
    session
        .pane(PaneId(id))
        .expect("the pane")
        .attention
        .clone()
}

#[test]
fn idle_after_fires_once_output_has_gone_quiet_for_that_long_and_never_before_any() {
    use opmux::pane::Attention;
    let t0 = Instant::now();
    let mut specs = vec![spec("quiet"), spec("talker")];
    for spec in &mut specs {
        spec.idle_after = Some(Duration::from_secs(5));
    }
    let mut session = Session::new(specs, SIZE, LayoutKind::Tiled);
    session.start();
    for i in 0..2 {
        let started = Event::PaneStarted {
            pane: PaneId(i),
            pid: Pid::from_raw(999_101 + i as i32),
        };
        session.handle(started, t0);
    }
    // Nothing printed yet: no deadline, and no idle however long it waits.
    assert_eq!(session.next_deadline(), None);
    session.handle(Event::Tick, t0 + Duration::from_secs(60));
    assert_eq!(attention(&session, 0), None);
    // Output, then quiet: idle at output + 5 s, not a moment before.
    let t1 = t0 + Duration::from_secs(61);
    session.handle(Event::PaneOutput(PaneId(1)), t1);
    assert_eq!(session.next_deadline(), Some(t1 + Duration::from_secs(5)));
    session.handle(Event::Tick, t1 + Duration::from_millis(4_999));
    assert_eq!(attention(&session, 1), None);
    // More output pushes it back.
    let t2 = t1 + Duration::from_secs(4);
    session.handle(Event::PaneOutput(PaneId(1)), t2);
    session.handle(Event::Tick, t1 + Duration::from_secs(5));
    assert_eq!(attention(&session, 1), None);
    session.handle(Event::Tick, t2 + Duration::from_secs(5));
    assert_eq!(attention(&session, 1), Some(Attention::Idle));
    assert!(session.pane(PaneId(1)).unwrap().idle);
    // Once: no deadline until it prints again, and the quiet one never fired.
    assert_eq!(session.next_deadline(), None);
    assert_eq!(attention(&session, 0), None);
    session.handle(Event::PaneOutput(PaneId(1)), t2 + Duration::from_secs(6));
    assert!(!session.pane(PaneId(1)).unwrap().idle);
}

#[test]
fn a_run_that_ends_unwatched_raises_attention_and_a_watched_one_does_not() {
    use opmux::pane::Attention;
    let t0 = Instant::now();
    let mut session = running(3, t0);
    session.watched = vec![PaneId(0)];
    session.handle(exited(0, ExitStatus::Exited(0)), t0);
    session.handle(exited(1, ExitStatus::Exited(1)), t0);
    assert_eq!(attention(&session, 0), None);
    assert_eq!(attention(&session, 1), Some(Attention::Ended));
    // Focusing it is seeing it.
    session.acknowledge(PaneId(1));
    assert_eq!(attention(&session, 1), None);
    // Nothing is asked of anyone while everything stops.
    session.command(
        Command::Quit {
            exit_code: 0,
            escalate: false,
        },
        t0,
    );
    session.handle(exited(2, ExitStatus::Signaled(Signal::SIGTERM)), t0);
    assert_eq!(attention(&session, 2), None);
}

#[test]
fn bells_notifications_and_asking_lines_raise_attention_and_typing_answers_it() {
    use opmux::pane::Attention;
    use opmux::pane::screen::Alert;
    let t0 = Instant::now();
    let mut session = running(2, t0);
    let run = session.pane(PaneId(0)).unwrap().run;
    let alert = |alert, run| Event::PaneAlert {
        pane: PaneId(0),
        run,
        alert,
    };
    session.handle(alert(Alert::Bell, run), t0);
    assert_eq!(attention(&session, 0), Some(Attention::Bell));
    assert_eq!(session.bells, 1, "a bell for the terminals");
    session.handle(alert(Alert::Notify("done".into()), run), t0);
    assert_eq!(
        attention(&session, 0),
        Some(Attention::Notified("done".into()))
    );
    session.handle(alert(Alert::Matched("Proceed? (y/n)".into()), run), t0);
    assert_eq!(
        attention(&session, 0).map(|a| a.label()),
        Some("asks: Proceed? (y/n)".into())
    );
    // Typing into it answers it.
    session.command(Command::Write(PaneId(0), b"y\r".to_vec()), t0);
    assert_eq!(attention(&session, 0), None);
    // A late alert from an earlier run is not this run's.
    session.handle(alert(Alert::Bell, run.wrapping_sub(1)), t0);
    assert_eq!(attention(&session, 0), None);
    assert_eq!(attention(&session, 1), None);
}
