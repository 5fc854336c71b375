//! The App layer: an `App` whose panes have no PTY, driven by `Event`s through
//! `App::update`, checked by the `Effect`s it asks for and the state it keeps.
//! Nothing here starts a process or touches a terminal; time is whatever
//! `Instant` a test passes to `update`, so no test sleeps.

use std::time::{Duration, Instant};

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use opmux::app::{App, Effect, Shutdown};
use opmux::config::PaneSpec;
use opmux::event::Event;
use opmux::keys::KEY_HELP;
use opmux::pane::PaneState;
use opmux::process::ExitStatus;
use opmux::scroll::Lines;
use opmux::{PaneId, Size};

/// The default stop timeout of a `PaneSpec`.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn spec(name: &str) -> PaneSpec {
    PaneSpec::new(name, vec!["/bin/true".into()])
}

/// A pane stopped with `signal`, SIGKILLed `timeout` later.
fn spec_stopping_with(name: &str, signal: Signal, timeout: Duration) -> PaneSpec {
    let mut spec = spec(name);
    spec.stop_signal = signal;
    spec.stop_timeout = timeout;
    spec
}

/// A pid no test ever signals: `App` does no I/O, it only names it in states.
fn fake_pid(index: usize) -> Pid {
    Pid::from_raw(999_001 + index as i32)
}

/// An app of `specs` on a terminal of `size`, started the way the runtime
/// starts it: `App::start`, then a `PaneStarted` for each pane at `t0`.
fn started(specs: Vec<PaneSpec>, size: Size, t0: Instant) -> App {
    let mut app = App::new(specs, size);
    let n = app.session.panes.len();
    let starts: Vec<Effect> = (0..n).map(|i| Effect::Start(PaneId(i))).collect();
    assert_eq!(app.start(), starts);
    for pane in &app.session.panes {
        assert!(pane.pty.is_none(), "test panes have no PTY");
        assert_eq!(pane.run, 1, "start numbers the first run");
    }
    for i in 0..n {
        let event = Event::PaneStarted {
            pane: PaneId(i),
            pid: fake_pid(i),
        };
        assert_eq!(app.update(event, t0), vec![]);
    }
    app
}

/// An app of `n` panes with default specs on a `rows` × `cols` terminal,
/// every pane running.
fn app(n: usize, rows: u16, cols: u16) -> App {
    let specs = (0..n).map(|i| spec(&format!("p{}", i + 1))).collect();
    started(specs, Size::new(rows, cols), Instant::now())
}

/// An app of `specs` on 24 × 80, every pane running since `t0`.
fn app_at(t0: Instant, specs: Vec<PaneSpec>) -> App {
    started(specs, Size::new(24, 80), t0)
}

fn key(code: KeyCode, modifiers: KeyModifiers) -> Event {
    Event::Key(KeyEvent::new(code, modifiers))
}

fn plain(code: KeyCode) -> Event {
    key(code, KeyModifiers::NONE)
}

fn ch(c: char) -> Event {
    plain(KeyCode::Char(c))
}

fn ctrl_b() -> Event {
    key(KeyCode::Char('b'), KeyModifiers::CONTROL)
}

fn send(app: &mut App, event: Event) -> Vec<Effect> {
    app.update(event, Instant::now())
}

/// Presses C-b, then `code`; returns what the second key asked for.
fn prefix(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let armed = send(app, ctrl_b());
    assert_eq!(armed, vec![], "the prefix alone reaches no pane");
    send(app, plain(code))
}

/// Presses C-b, then the character `c` at `now`, with Shift for a capital as
/// a terminal reports it; returns what the second key asked for.
fn command_at(app: &mut App, c: char, now: Instant) -> Vec<Effect> {
    assert_eq!(app.update(ctrl_b(), now), vec![], "the prefix alone");
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    app.update(key(KeyCode::Char(c), modifiers), now)
}

fn write(pane: usize, bytes: &[u8]) -> Vec<Effect> {
    vec![Effect::Write(PaneId(pane), bytes.to_vec())]
}

fn resize(pane: usize, rows: u16, cols: u16) -> Effect {
    Effect::ResizePty(PaneId(pane), Size::new(rows, cols))
}

fn signal(pane: usize, signal: Signal) -> Effect {
    Effect::Signal(PaneId(pane), signal)
}

/// What stopping a pane asks for: its stop signal, and SIGCONT to wake
/// stopped jobs so they can act on it.
fn stop_effects(pane: usize, stop_signal: Signal) -> Vec<Effect> {
    vec![signal(pane, stop_signal), signal(pane, Signal::SIGCONT)]
}

fn exited_event(pane: usize, status: ExitStatus, left: usize) -> Event {
    Event::PaneExited {
        pane: PaneId(pane),
        status,
        left,
    }
}

fn left_event(pane: usize, left: usize) -> Event {
    Event::PaneProcessesLeft {
        pane: PaneId(pane),
        left,
    }
}

fn running(pane: usize, since: Instant) -> PaneState {
    PaneState::Running {
        pid: fake_pid(pane),
        since,
    }
}

/// The fields of a `PaneState::Stopping`, so a test can spell out the one
/// that matters and take the rest from `Stopping::new`.
#[derive(Clone, Copy)]
struct Stopping {
    since: Instant,
    deadline: Instant,
    killed: bool,
    exit: Option<ExitStatus>,
    restart: bool,
}

impl Stopping {
    /// Stop signal sent, nothing reaped yet, no restart asked for.
    fn new(since: Instant, deadline: Instant) -> Self {
        Self {
            since,
            deadline,
            killed: false,
            exit: None,
            restart: false,
        }
    }

    /// The state of pane `pane`, with that pane's fake pid.
    fn state(self, pane: usize) -> PaneState {
        PaneState::Stopping {
            pid: fake_pid(pane),
            since: self.since,
            deadline: self.deadline,
            killed: self.killed,
            exit: self.exit,
            restart: self.restart,
        }
    }
}

fn screen_size(app: &App, pane: usize) -> Size {
    app.session.panes[pane].screen().size()
}

fn click(column: u16, row: u16, button: MouseButton) -> Event {
    Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(button),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

// 24 × 80 with two panes: the panes share 80 × 23 above the status line, each
// 40 wide; inside its border a pane is 21 × 38, and zoomed 21 × 78.
const TILED: Size = Size::new(21, 38);
const ZOOMED: Size = Size::new(21, 78);

#[test]
fn a_typed_key_is_written_to_the_focused_pane_as_xterm_bytes() {
    let cases: &[(KeyCode, KeyModifiers, &[u8])] = &[
        (KeyCode::Char('a'), KeyModifiers::NONE, b"a"),
        (KeyCode::Char('c'), KeyModifiers::CONTROL, b"\x03"),
        (KeyCode::Char('x'), KeyModifiers::ALT, b"\x1bx"),
        (KeyCode::Enter, KeyModifiers::NONE, b"\r"),
        (KeyCode::Backspace, KeyModifiers::NONE, b"\x7f"),
        (KeyCode::F(5), KeyModifiers::NONE, b"\x1b[15~"),
        (KeyCode::Left, KeyModifiers::CONTROL, b"\x1b[1;5D"),
    ];
    for &(code, modifiers, bytes) in cases {
        let mut app = app(2, 24, 80);
        assert_eq!(
            send(&mut app, key(code, modifiers)),
            write(0, bytes),
            "{code:?} {modifiers:?}"
        );
    }
}

#[test]
fn key_releases_are_not_typed() {
    let mut app = app(1, 24, 80);
    let mut release = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert_eq!(send(&mut app, Event::Key(release)), vec![]);
}

#[test]
fn keys_go_only_to_a_pane_whose_main_process_runs() {
    let t0 = Instant::now();
    let later = t0 + secs(5);
    // (state of the focused pane, whether it takes typed keys and pastes)
    let cases = [
        (running(0, t0), true),
        (Stopping::new(t0, later).state(0), true),
        (
            Stopping {
                killed: true,
                ..Stopping::new(t0, later)
            }
            .state(0),
            true,
        ),
        (
            Stopping {
                exit: Some(ExitStatus::Exited(0)),
                ..Stopping::new(t0, later)
            }
            .state(0),
            false,
        ),
        (PaneState::NotStarted, false),
        (
            PaneState::Exited {
                status: ExitStatus::Exited(0),
                ran: secs(1),
            },
            false,
        ),
        (
            PaneState::Exited {
                status: ExitStatus::Signaled(Signal::SIGKILL),
                ran: secs(1),
            },
            false,
        ),
        (PaneState::Failed("no such file".into()), false),
    ];
    for (state, takes_input) in cases {
        let mut app = app(2, 24, 80);
        app.session.panes[0].state = state.clone();
        assert_eq!(state.is_running(), takes_input, "{state:?}");
        let (typed, pasted) = if takes_input {
            (write(0, b"a"), write(0, b"text"))
        } else {
            (vec![], vec![])
        };
        assert_eq!(send(&mut app, ch('a')), typed, "{state:?}");
        assert_eq!(
            send(&mut app, Event::Paste("text".into())),
            pasted,
            "{state:?}"
        );
        // The other pane still takes input once focused.
        assert_eq!(prefix(&mut app, KeyCode::Char('o')), vec![]);
        assert_eq!(send(&mut app, ch('a')), write(1, b"a"), "{state:?}");
    }
}

#[test]
fn alt_right_moves_the_focus_and_keys_follow_it() {
    let mut app = app(2, 24, 80);
    assert_eq!(
        send(&mut app, key(KeyCode::Right, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.view.focus, 1);
    assert_eq!(send(&mut app, ch('x')), write(1, b"x"));
    // There is nothing further right: the focus stays and nothing is typed.
    assert_eq!(
        send(&mut app, key(KeyCode::Right, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.view.focus, 1);
    assert_eq!(
        send(&mut app, key(KeyCode::Left, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.view.focus, 0);
    assert_eq!(send(&mut app, ch('y')), write(0, b"y"));
}

#[test]
fn prefix_commands_move_the_focus() {
    // (command key, focus before, focus after) in a 2-pane layout.
    let cases: &[(KeyCode, usize, usize)] = &[
        (KeyCode::Char('o'), 0, 1),
        (KeyCode::Char('o'), 1, 0),
        (KeyCode::Char('2'), 0, 1),
        (KeyCode::Char('1'), 1, 0),
        (KeyCode::Char('9'), 0, 0),
        (KeyCode::Char('l'), 0, 1),
        (KeyCode::Char('h'), 1, 0),
        (KeyCode::Char('h'), 0, 0),
        (KeyCode::Char('j'), 0, 0),
        (KeyCode::Right, 0, 1),
        (KeyCode::Left, 1, 0),
    ];
    for &(code, before, after) in cases {
        let mut app = app(2, 24, 80);
        app.view.focus = before;
        assert_eq!(prefix(&mut app, code), vec![], "C-b {code:?} is not typed");
        assert_eq!(
            app.view.focus,
            after,
            "C-b {code:?} from pane {}",
            before + 1
        );
        assert_eq!(
            send(&mut app, ch('k')),
            write(after, b"k"),
            "the key after C-b {code:?} is typed again"
        );
    }
}

#[test]
fn prefix_twice_sends_a_literal_ctrl_b() {
    let mut app = app(1, 24, 80);
    let ctrl_b = || key(KeyCode::Char('b'), KeyModifiers::CONTROL);
    assert_eq!(send(&mut app, ctrl_b()), vec![]);
    assert_eq!(send(&mut app, ctrl_b()), write(0, b"\x02"));
    // Back to normal afterwards: the next C-b is a prefix again.
    assert_eq!(send(&mut app, ctrl_b()), vec![]);
    assert_eq!(send(&mut app, ch('o')), vec![], "C-b o is a command");
}

#[test]
fn unbound_keys_after_the_prefix_do_nothing() {
    let mut app = app(2, 24, 80);
    for code in [KeyCode::Char('y'), KeyCode::Char('b'), KeyCode::Enter] {
        assert_eq!(prefix(&mut app, code), vec![], "C-b {code:?}");
        assert_eq!(app.view.focus, 0);
        assert!(
            app.session.zoom.is_none() && !app.view.show_help && app.session.shutdown.is_none()
        );
    }
}

#[test]
fn zoom_gives_the_focused_pane_the_whole_inner_area_and_unzoom_restores_it() {
    let mut app = app(2, 24, 80);
    assert_eq!(screen_size(&app, 0), TILED);
    assert_eq!(app.session.pane_size(PaneId(0)), TILED);

    assert_eq!(
        prefix(&mut app, KeyCode::Char('z')),
        vec![resize(0, ZOOMED.rows, ZOOMED.cols)]
    );
    assert!(app.session.zoom.is_some());
    assert_eq!(screen_size(&app, 0), ZOOMED);
    assert_eq!(app.session.pane_size(PaneId(0)), ZOOMED);
    assert_eq!(
        app.session.pane_rects()[1],
        None,
        "the other pane is hidden"
    );
    assert_eq!(screen_size(&app, 1), TILED, "a hidden pane keeps its size");

    assert_eq!(
        prefix(&mut app, KeyCode::Char('z')),
        vec![resize(0, TILED.rows, TILED.cols)]
    );
    assert!(app.session.zoom.is_none());
    assert_eq!(screen_size(&app, 0), TILED);
    assert!(app.session.pane_rects().iter().all(Option::is_some));
}

#[test]
fn moving_the_focus_while_zoomed_moves_the_zoom() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('z'));

    assert_eq!(
        prefix(&mut app, KeyCode::Char('o')),
        vec![resize(1, ZOOMED.rows, ZOOMED.cols)]
    );
    assert_eq!(app.view.focus, 1);
    assert!(app.session.zoom.is_some());
    assert_eq!(app.session.pane_rects()[0], None);
    assert_eq!(app.session.pane_rects()[1], Some(app.session.panes_area()));
    assert_eq!(send(&mut app, ch('x')), write(1, b"x"));

    // Alt+Left follows the tiled layout to panes[0], hidden as it is. It kept
    // its zoomed size while hidden, so nothing needs resizing.
    assert_eq!(
        send(&mut app, key(KeyCode::Left, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.view.focus, 0);

    // Unzooming gives both their tiled size back.
    assert_eq!(
        prefix(&mut app, KeyCode::Char('z')),
        vec![
            resize(0, TILED.rows, TILED.cols),
            resize(1, TILED.rows, TILED.cols)
        ]
    );
}

#[test]
fn a_click_on_a_hidden_pane_while_zoomed_does_not_unzoom_it() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('z'));
    // (50, 5) is inside pane 2's tiled rectangle, but pane 1 covers it now.
    assert_eq!(send(&mut app, click(50, 5, MouseButton::Left)), vec![]);
    assert_eq!(app.view.focus, 0);
    assert!(app.session.zoom.is_some());
}

#[test]
fn a_terminal_resize_resizes_only_the_panes_whose_size_changed() {
    // Three panes on 24 × 80: two of 40 × 12 on top, one of 80 × 11 below.
    let mut app = app(3, 24, 80);
    assert_eq!(screen_size(&app, 0), Size::new(10, 38));
    assert_eq!(screen_size(&app, 1), Size::new(10, 38));
    assert_eq!(screen_size(&app, 2), Size::new(9, 78));

    // One more column goes to the first pane of each row.
    let effects = send(&mut app, Event::Resize(Size::new(24, 81)));
    assert_eq!(effects, vec![resize(0, 10, 39), resize(2, 9, 79)]);
    assert_eq!(app.session.size, Size::new(24, 81));
    assert_eq!(screen_size(&app, 0), Size::new(10, 39));
    assert_eq!(screen_size(&app, 1), Size::new(10, 38));
    assert_eq!(screen_size(&app, 2), Size::new(9, 79));

    // The same size again changes nothing.
    assert_eq!(send(&mut app, Event::Resize(Size::new(24, 81))), vec![]);

    // Taller: every pane grows.
    let effects = send(&mut app, Event::Resize(Size::new(31, 81)));
    assert_eq!(
        effects,
        vec![resize(0, 13, 39), resize(1, 13, 38), resize(2, 13, 79)]
    );
}

#[test]
fn a_terminal_resize_while_zoomed_leaves_hidden_panes_until_unzoom() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('z'));
    let effects = send(&mut app, Event::Resize(Size::new(30, 100)));
    assert_eq!(effects, vec![resize(0, 27, 98)]);
    assert_eq!(screen_size(&app, 1), TILED, "hidden, so not resized yet");

    let effects = prefix(&mut app, KeyCode::Char('z'));
    assert_eq!(effects, vec![resize(0, 27, 48), resize(1, 27, 48)]);
}

#[test]
fn quit_stops_every_running_pane_then_escalates_to_sigkill() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("p1"), spec("p2"), spec("p3")]);
    let exited = PaneState::Exited {
        status: ExitStatus::Exited(7),
        ran: secs(2),
    };
    app.session.panes[2].state = exited.clone();
    let now = t0 + secs(60);

    assert_eq!(app.update(ctrl_b(), now), vec![]);
    let mut expected = vec![Effect::SignalStrays(Signal::SIGTERM)];
    expected.extend(stop_effects(0, Signal::SIGTERM));
    expected.extend(stop_effects(1, Signal::SIGTERM));
    assert_eq!(app.update(ch('q'), now), expected);
    let deadline = now + STOP_TIMEOUT;
    assert_eq!(
        app.session.shutdown,
        Some(Shutdown {
            deadline,
            killed: false,
            exit_code: 0
        })
    );
    for i in 0..2 {
        assert_eq!(
            app.session.panes[i].state,
            Stopping::new(t0, deadline).state(i)
        );
    }
    assert_eq!(
        app.session.panes[2].state, exited,
        "an exited pane stays exited"
    );
    assert!(!app.session.all_exited());

    // While stopping, nothing more is typed into the panes.
    assert_eq!(app.update(ch('x'), now), vec![]);
    assert_eq!(app.update(Event::Paste("y".into()), now), vec![]);

    assert_eq!(
        command_at(&mut app, 'q', now + secs(1)),
        vec![
            Effect::SignalStrays(Signal::SIGKILL),
            signal(0, Signal::SIGKILL),
            signal(1, Signal::SIGKILL),
        ]
    );
    assert!(app.session.shutdown.unwrap().killed);
    assert_eq!(app.session.shutdown.unwrap().exit_code, 0);
    for i in 0..2 {
        let killed = Stopping {
            killed: true,
            deadline: now + secs(1),
            ..Stopping::new(t0, deadline)
        };
        assert_eq!(app.session.panes[i].state, killed.state(i));
    }
    assert_eq!(app.session.panes[2].state, exited);
    // Nothing is left to escalate to, now or when the deadline passes.
    assert_eq!(command_at(&mut app, 'q', now + secs(2)), vec![]);
    assert_eq!(app.update(Event::Tick, deadline), vec![]);
    assert_eq!(app.session.next_deadline(), None);
}

#[test]
fn a_signal_or_a_lost_terminal_starts_the_shutdown_with_its_exit_code() {
    type MakeEvent = fn() -> Event;
    let cases: &[(MakeEvent, i32)] = &[
        (|| Event::Signal(Signal::SIGTERM), 143),
        (|| Event::Signal(Signal::SIGINT), 130),
        (|| Event::Signal(Signal::SIGHUP), 129),
        (|| Event::InputClosed("gone".into()), 129),
    ];
    for (event, code) in cases {
        let mut app = app(2, 24, 80);
        let now = Instant::now();
        let event = event();
        let label = format!("{event:?}");
        let mut expected = vec![Effect::SignalStrays(Signal::SIGTERM)];
        expected.extend(stop_effects(0, Signal::SIGTERM));
        expected.extend(stop_effects(1, Signal::SIGTERM));
        assert_eq!(app.update(event, now), expected, "{label}");
        let shutdown = app.session.shutdown.expect("shutting down");
        assert_eq!(shutdown.exit_code, *code, "{label}");
        assert_eq!(shutdown.deadline, now + STOP_TIMEOUT, "{label}");
        assert!(!shutdown.killed, "{label}");
        assert!(
            app.session
                .panes
                .iter()
                .all(|p| matches!(p.state, PaneState::Stopping { .. })),
            "{label}"
        );
    }
}

#[test]
fn a_second_signal_escalates_and_keeps_the_first_exit_code() {
    let mut app = app(1, 24, 80);
    send(&mut app, Event::Signal(Signal::SIGTERM));
    assert_eq!(
        send(&mut app, Event::Signal(Signal::SIGINT)),
        vec![
            Effect::SignalStrays(Signal::SIGKILL),
            signal(0, Signal::SIGKILL)
        ]
    );
    assert_eq!(app.session.shutdown.unwrap().exit_code, 143);
    assert!(app.session.shutdown.unwrap().killed);
    assert_eq!(send(&mut app, Event::Signal(Signal::SIGHUP)), vec![]);
}

#[test]
fn the_shutdown_deadline_escalates_once_and_only_during_a_shutdown() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("p1"), spec("p2")]);
    assert_eq!(
        app.update(Event::Tick, t0 + secs(3600)),
        vec![],
        "no shutdown and nothing stopping"
    );
    assert!(app.session.shutdown.is_none());
    assert_eq!(app.session.next_deadline(), None);

    let now = t0 + secs(10);
    command_at(&mut app, 'q', now);
    let deadline = now + STOP_TIMEOUT;
    assert_eq!(app.session.next_deadline(), Some(deadline));
    assert_eq!(app.update(Event::Tick, deadline - millis(1)), vec![]);
    assert!(!app.session.shutdown.unwrap().killed);
    assert_eq!(
        app.update(Event::Tick, deadline),
        vec![
            signal(0, Signal::SIGKILL),
            signal(1, Signal::SIGKILL),
            Effect::SignalStrays(Signal::SIGKILL),
        ]
    );
    assert!(app.session.shutdown.unwrap().killed);
    assert_eq!(app.session.next_deadline(), None);
    assert_eq!(app.update(Event::Tick, deadline + secs(1)), vec![]);
    assert_eq!(command_at(&mut app, 'q', deadline + secs(1)), vec![]);
}

#[test]
fn a_reaped_pane_is_marked_exited_and_takes_no_more_input() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("p1"), spec("p2")]);
    let status = ExitStatus::Signaled(Signal::SIGSEGV);
    let now = t0 + millis(12_300);
    assert_eq!(app.update(exited_event(0, status, 0), now), vec![]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status,
            ran: millis(12_300)
        }
    );
    assert!(app.session.panes[0].pty.is_none());
    assert_eq!(app.session.panes[0].run, 1, "no new run");
    assert!(
        app.session.panes[1].state.is_alive(),
        "the other pane is untouched"
    );
    assert!(!app.session.all_exited());
    assert_eq!(app.update(ch('a'), now), vec![]);
    assert!(!app.session.counting_down());

    app.update(exited_event(1, ExitStatus::Exited(0), 0), now);
    assert!(app.session.all_exited());
    // A second report, and an id past the end, are ignored rather than panicking.
    assert_eq!(
        app.update(exited_event(1, ExitStatus::Exited(1), 0), now),
        vec![]
    );
    assert_eq!(
        app.session.panes[1].state,
        PaneState::Exited {
            status: ExitStatus::Exited(0),
            ran: millis(12_300)
        }
    );
    assert_eq!(
        app.update(exited_event(9, ExitStatus::Exited(0), 0), now),
        vec![]
    );
    assert_eq!(app.update(left_event(9, 0), now), vec![]);
}

#[test]
fn a_pane_that_exits_during_the_shutdown_ends_it() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('q'));
    send(&mut app, exited_event(0, ExitStatus::Exited(0), 0));
    assert!(!app.session.all_exited());
    send(
        &mut app,
        exited_event(1, ExitStatus::Signaled(Signal::SIGTERM), 0),
    );
    assert!(app.session.all_exited());
    assert!(
        matches!(
            app.session.panes[1].state,
            PaneState::Exited {
                status: ExitStatus::Signaled(Signal::SIGTERM),
                ..
            }
        ),
        "{:?}",
        app.session.panes[1].state
    );
}

#[test]
fn pane_errors_are_kept_for_the_title() {
    let mut app = app(2, 24, 80);
    send(
        &mut app,
        Event::PaneInputFailed {
            pane: PaneId(1),
            run: 1,
            error: "broken pipe".into(),
        },
    );
    assert_eq!(
        app.session.panes[1].error.as_deref(),
        Some("writing input: broken pipe")
    );
    send(
        &mut app,
        Event::PaneOutputClosed {
            pane: PaneId(0),
            run: 1,
            error: Some("EIO".into()),
        },
    );
    assert_eq!(app.session.panes[0].error.as_deref(), Some("EIO"));
    // A clean end of output is no error, and does not hide an earlier one.
    send(
        &mut app,
        Event::PaneOutputClosed {
            pane: PaneId(1),
            run: 1,
            error: None,
        },
    );
    assert_eq!(
        app.session.panes[1].error.as_deref(),
        Some("writing input: broken pipe")
    );
    app.session.panes[1].error = None;
    send(
        &mut app,
        Event::PaneOutputClosed {
            pane: PaneId(1),
            run: 1,
            error: None,
        },
    );
    assert_eq!(app.session.panes[1].error, None);
}

#[test]
fn paste_is_bracketed_only_when_the_pane_asked_for_it() {
    let mut app = app(2, 24, 80);
    assert_eq!(
        send(&mut app, Event::Paste("ls\npwd\r\n".into())),
        write(0, b"ls\rpwd\r"),
        "line ends become CR, unbracketed by default"
    );

    app.session.panes[0].screen().process(b"\x1b[?2004h");
    assert_eq!(
        send(&mut app, Event::Paste("ls\nrm".into())),
        write(0, b"\x1b[200~ls\rrm\x1b[201~")
    );

    // The mode belongs to the pane: pane 2 never asked for it.
    prefix(&mut app, KeyCode::Char('o'));
    assert_eq!(
        send(&mut app, Event::Paste("a\nb".into())),
        write(1, b"a\rb")
    );

    prefix(&mut app, KeyCode::Char('o'));
    app.session.panes[0].screen().process(b"\x1b[?2004l");
    assert_eq!(send(&mut app, Event::Paste("x".into())), write(0, b"x"));
}

#[test]
fn arrows_follow_the_panes_cursor_key_mode() {
    let arrows: &[(KeyCode, &[u8], &[u8])] = &[
        (KeyCode::Up, b"\x1b[A", b"\x1bOA"),
        (KeyCode::Down, b"\x1b[B", b"\x1bOB"),
        (KeyCode::Right, b"\x1b[C", b"\x1bOC"),
        (KeyCode::Left, b"\x1b[D", b"\x1bOD"),
        (KeyCode::Home, b"\x1b[H", b"\x1bOH"),
        (KeyCode::End, b"\x1b[F", b"\x1bOF"),
    ];
    for &(code, normal, application) in arrows {
        let mut app = app(2, 24, 80);
        assert_eq!(send(&mut app, plain(code)), write(0, normal), "{code:?}");
        app.session.panes[0].screen().process(b"\x1b[?1h");
        assert_eq!(
            send(&mut app, plain(code)),
            write(0, application),
            "{code:?}"
        );
        // Pane 2 is still in normal mode.
        prefix(&mut app, KeyCode::Char('o'));
        assert_eq!(send(&mut app, plain(code)), write(1, normal), "{code:?}");
        prefix(&mut app, KeyCode::Char('o'));
        app.session.panes[0].screen().process(b"\x1b[?1l");
        assert_eq!(send(&mut app, plain(code)), write(0, normal), "{code:?}");
    }
}

#[test]
fn keys_paste_and_the_mouse_never_wait_for_a_parser_holding_the_screen() {
    let mut app = app(2, 24, 80);
    // Application cursor keys, bracketed paste, SGR mouse reports.
    app.session.panes[0]
        .screen()
        .process(b"\x1b[?1h\x1b[?2004h\x1b[?1000h\x1b[?1006h");
    // Another thread holds the screen, as a parser in a flood does; it lets
    // go when told, or after a while so that a regression fails, not hangs.
    let screen = app.session.panes[0].screen.clone();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = screen.lock();
        locked.send(()).unwrap();
        released.recv_timeout(Duration::from_secs(30)).is_ok()
    });
    is_locked.recv().unwrap();
    assert_eq!(send(&mut app, plain(KeyCode::Up)), write(0, b"\x1bOA"));
    assert_eq!(
        send(&mut app, Event::Paste("x".into())),
        write(0, b"\x1b[200~x\x1b[201~")
    );
    assert_eq!(
        send(&mut app, click(3, 2, MouseButton::Left)),
        write(0, b"\x1b[<0;3;2M")
    );
    // Gone already if the holder gave up waiting: the join says so.
    let _ = release.send(());
    assert!(holder.join().unwrap(), "input waited for the screen's lock");
}

#[test]
fn a_left_click_focuses_the_pane_under_the_pointer() {
    // (column, row, button, focus after), starting from pane 1 each time.
    let cases: &[(u16, u16, MouseButton, usize)] = &[
        (50, 5, MouseButton::Left, 1),
        (40, 0, MouseButton::Left, 1),  // pane 2's left border
        (79, 22, MouseButton::Left, 1), // pane 2's bottom-right corner
        (39, 22, MouseButton::Left, 0), // pane 1's bottom-right corner
        (50, 5, MouseButton::Right, 0),
        (50, 5, MouseButton::Middle, 0),
        (50, 23, MouseButton::Left, 0), // the status line
        (200, 5, MouseButton::Left, 0), // off the screen
    ];
    for &(column, row, button, focus) in cases {
        let mut app = app(2, 24, 80);
        assert_eq!(send(&mut app, click(column, row, button)), vec![]);
        assert_eq!(app.view.focus, focus, "{button:?} at ({column}, {row})");
    }
}

#[test]
fn mouse_moves_and_releases_do_not_focus() {
    let mut app = app(2, 24, 80);
    for kind in [
        MouseEventKind::Moved,
        MouseEventKind::Up(MouseButton::Left),
        MouseEventKind::Drag(MouseButton::Left),
        MouseEventKind::ScrollDown,
    ] {
        let event = Event::Mouse(MouseEvent {
            kind,
            column: 50,
            row: 5,
            modifiers: KeyModifiers::NONE,
        });
        assert_eq!(send(&mut app, event), vec![]);
        assert_eq!(app.view.focus, 0, "{kind:?}");
    }
}

#[test]
fn the_help_overlay_swallows_the_key_that_closes_it() {
    let mut app = app(1, 24, 80);
    assert_eq!(prefix(&mut app, KeyCode::Char('?')), vec![]);
    assert!(app.view.show_help);
    assert_eq!(
        send(&mut app, ch('x')),
        vec![],
        "the closing key is not typed"
    );
    assert!(!app.view.show_help);
    assert_eq!(send(&mut app, ch('y')), write(0, b"y"));
}

#[test]
fn prefix_question_mark_hides_the_help_without_typing_into_the_pane() {
    // KEY_HELP says `C-b ?` shows *or hides* the help.
    let mut app = app(1, 24, 80);
    prefix(&mut app, KeyCode::Char('?'));
    assert!(app.view.show_help);
    let closing = send(&mut app, key(KeyCode::Char('b'), KeyModifiers::CONTROL));
    let after = send(&mut app, ch('?'));
    assert!(!app.view.show_help);
    assert_eq!((closing, after), (vec![], vec![]), "nothing is typed");
}

#[test]
fn tiny_terminals_never_give_a_pane_less_than_one_cell() {
    for size in [
        Size::new(0, 0),
        Size::new(1, 1),
        Size::new(2, 1),
        Size::new(1, 5),
    ] {
        for n in [1, 2, 5] {
            let mut app = app(n, size.rows, size.cols);
            let label = format!("{n} panes on {size:?}");
            let check = |app: &App, effects: &[Effect]| {
                for i in 0..n {
                    let s = screen_size(app, i);
                    assert!(s.rows >= 1 && s.cols >= 1, "{label}: screen {s:?}");
                    let p = app.session.pane_size(PaneId(i));
                    assert!(p.rows >= 1 && p.cols >= 1, "{label}: pane {p:?}");
                }
                for effect in effects {
                    if let Effect::ResizePty(_, s) = effect {
                        assert!(s.rows >= 1 && s.cols >= 1, "{label}: {effect:?}");
                    }
                }
            };
            check(&app, &[]);
            let effects = prefix(&mut app, KeyCode::Char('z'));
            check(&app, &effects);
            let effects = prefix(&mut app, KeyCode::Char('o'));
            check(&app, &effects);
            let effects = send(&mut app, key(KeyCode::Left, KeyModifiers::ALT));
            check(&app, &effects);
            let effects = send(&mut app, click(0, 0, MouseButton::Left));
            check(&app, &effects);
            let effects = prefix(&mut app, KeyCode::Char('z'));
            check(&app, &effects);
            let effects = send(&mut app, Event::Resize(Size::new(0, 0)));
            check(&app, &effects);
            let effects = send(&mut app, Event::Resize(Size::new(1, 1)));
            check(&app, &effects);
            app.session.panes[0]
                .screen()
                .process("漢字 wide 😀".as_bytes());
        }
    }
}

#[test]
fn shrinking_to_nothing_resizes_every_pane_to_one_cell() {
    let mut app = app(2, 24, 80);
    let effects = send(&mut app, Event::Resize(Size::new(0, 0)));
    assert_eq!(effects, vec![resize(0, 1, 1), resize(1, 1, 1)]);
    let effects = send(&mut app, Event::Resize(Size::new(24, 80)));
    assert_eq!(
        effects,
        vec![
            resize(0, TILED.rows, TILED.cols),
            resize(1, TILED.rows, TILED.cols)
        ]
    );
}

// --- the life of a pane --------------------------------------------------------

#[test]
fn start_numbers_a_run_per_pane_and_pane_started_makes_it_running() {
    let mut app = App::new(vec![spec("web"), spec("db")], Size::new(24, 80));
    for pane in &app.session.panes {
        assert_eq!((&pane.state, pane.run), (&PaneState::NotStarted, 0));
    }
    assert!(!app.session.counting_down());
    assert_eq!(app.session.next_deadline(), None);
    // Keys to a pane that has not started yet go nowhere.
    assert_eq!(send(&mut app, ch('a')), vec![]);

    assert_eq!(
        app.start(),
        vec![Effect::Start(PaneId(0)), Effect::Start(PaneId(1))]
    );
    assert_eq!((app.session.panes[0].run, app.session.panes[1].run), (1, 1));

    let t0 = Instant::now();
    app.session.panes[0].error = Some("from before".into());
    let started = Event::PaneStarted {
        pane: PaneId(0),
        pid: fake_pid(0),
    };
    assert_eq!(app.update(started, t0), vec![]);
    assert_eq!(app.session.panes[0].state, running(0, t0));
    assert_eq!(
        app.session.panes[0].error, None,
        "a new run starts without an error"
    );
    assert_eq!(app.update(ch('a'), t0), write(0, b"a"));

    let failed = Event::PaneFailed {
        pane: PaneId(1),
        error: "no such file".into(),
    };
    assert_eq!(app.update(failed, t0), vec![]);
    assert_eq!(
        app.session.panes[1].state,
        PaneState::Failed("no such file".into())
    );
    assert!(!app.session.panes[1].state.is_alive());
    assert!(app.session.panes[1].pty.is_none());
    // Events for a pane that does not exist are ignored.
    let stray = Event::PaneStarted {
        pane: PaneId(7),
        pid: fake_pid(7),
    };
    assert_eq!(app.update(stray, t0), vec![]);
    let stray = Event::PaneFailed {
        pane: PaneId(7),
        error: "x".into(),
    };
    assert_eq!(app.update(stray, t0), vec![]);
}

#[test]
fn pane_keys_x_s_r_and_shift_x_in_every_state() {
    // Pane 2 is focused; it stops with SIGINT and is killed 2 s later. Pane 1,
    // with the defaults, must never be touched.
    let t0 = Instant::now();
    let now = t0 + secs(30);
    let (sig, timeout) = (Signal::SIGINT, secs(2));
    let pending = Stopping::new(t0, now + secs(1));
    let killing = Stopping {
        killed: true,
        deadline: now - secs(1),
        ..pending
    };
    let leftovers = Stopping {
        exit: Some(ExitStatus::Exited(0)),
        ..pending
    };
    let exited = PaneState::Exited {
        status: ExitStatus::Exited(1),
        ran: secs(3),
    };
    let failed = PaneState::Failed("no such file".into());
    let stop = || stop_effects(1, sig);
    let kill = || vec![signal(1, Signal::SIGKILL)];
    let start = || vec![Effect::Start(PaneId(1))];
    let restart = |s: Stopping| Stopping { restart: true, ..s }.state(1);
    let kill_now = |s: Stopping| {
        Stopping {
            killed: true,
            deadline: now,
            ..s
        }
        .state(1)
    };
    let stopped_now = Stopping::new(t0, now + timeout);
    let not_alive = [PaneState::NotStarted, exited.clone(), failed.clone()];

    // (key, state before, effects, state after, whether a new run is numbered)
    let mut cases: Vec<(char, PaneState, Vec<Effect>, PaneState, bool)> = vec![
        // x stops; x again kills at once.
        ('x', running(1, t0), stop(), stopped_now.state(1), false),
        ('x', pending.state(1), kill(), kill_now(pending), false),
        ('x', killing.state(1), vec![], killing.state(1), false),
        ('x', leftovers.state(1), kill(), kill_now(leftovers), false),
        // s starts a pane that is not alive, or asks a stopping one to start again.
        ('s', running(1, t0), vec![], running(1, t0), false),
        ('s', pending.state(1), vec![], restart(pending), false),
        ('s', killing.state(1), vec![], restart(killing), false),
        ('s', leftovers.state(1), vec![], restart(leftovers), false),
        // r stops a live pane to start it again, or starts one that is not.
        ('r', running(1, t0), stop(), restart(stopped_now), false),
        ('r', pending.state(1), vec![], restart(pending), false),
        ('r', killing.state(1), vec![], restart(killing), false),
        ('r', leftovers.state(1), vec![], restart(leftovers), false),
        // X kills at once, whatever the pane was doing.
        ('X', running(1, t0), kill(), kill_now(stopped_now), false),
        ('X', pending.state(1), kill(), kill_now(pending), false),
        ('X', killing.state(1), vec![], killing.state(1), false),
        ('X', leftovers.state(1), kill(), kill_now(leftovers), false),
    ];
    for state in not_alive {
        cases.push(('x', state.clone(), vec![], state.clone(), false));
        // The start is asked for: the pane is starting until the runtime reports.
        cases.push(('s', state.clone(), start(), PaneState::Starting, true));
        cases.push(('r', state.clone(), start(), PaneState::Starting, true));
        cases.push(('X', state.clone(), vec![], state, false));
    }
    for (key, before, effects, after, new_run) in cases {
        let specs = vec![spec("web"), spec_stopping_with("db", sig, timeout)];
        let mut app = app_at(t0, specs);
        app.view.focus = 1;
        app.session.panes[1].state = before.clone();
        let label = format!("C-b {key} on {before:?}");
        assert_eq!(command_at(&mut app, key, now), effects, "{label}");
        assert_eq!(app.session.panes[1].state, after, "{label}");
        assert_eq!(app.session.panes[1].run, 1 + u32::from(new_run), "{label}");
        assert_eq!(
            app.session.panes[0].state,
            running(0, t0),
            "{label}: pane 1"
        );
        assert!(app.session.shutdown.is_none(), "{label}");
    }
}

#[test]
fn pane_keys_do_nothing_during_a_shutdown() {
    let t0 = Instant::now();
    let now = t0 + secs(1);
    let mut app = app_at(t0, vec![spec("web"), spec("db")]);
    app.session.panes[1].state = PaneState::Exited {
        status: ExitStatus::Exited(0),
        ran: secs(1),
    };
    command_at(&mut app, 'q', t0);
    for focus in [0, 1] {
        app.view.focus = focus;
        for key in ['x', 's', 'r', 'X'] {
            let before: Vec<_> = app
                .session
                .panes
                .iter()
                .map(|p| (p.state.clone(), p.run))
                .collect();
            let shutdown = app.session.shutdown;
            assert_eq!(command_at(&mut app, key, now), vec![], "C-b {key}");
            let after: Vec<_> = app
                .session
                .panes
                .iter()
                .map(|p| (p.state.clone(), p.run))
                .collect();
            assert_eq!(after, before, "C-b {key} on pane {}", focus + 1);
            assert_eq!(app.session.shutdown, shutdown, "C-b {key}");
        }
    }
}

#[test]
fn restart_stops_the_run_then_starts_a_new_one() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web"), spec("db")]);
    let t1 = t0 + secs(60);
    // An error of the first run, shown until the next run starts.
    let closed = Event::PaneOutputClosed {
        pane: PaneId(0),
        run: 1,
        error: Some("EIO".into()),
    };
    app.update(closed, t0);

    assert_eq!(
        command_at(&mut app, 'r', t1),
        stop_effects(0, Signal::SIGTERM)
    );
    let stopping = Stopping {
        restart: true,
        ..Stopping::new(t0, t1 + STOP_TIMEOUT)
    };
    assert_eq!(app.session.panes[0].state, stopping.state(0));
    assert_eq!(app.session.panes[0].run, 1);
    assert!(app.session.counting_down());
    assert_eq!(app.session.next_deadline(), Some(t1 + STOP_TIMEOUT));
    // Until its main process is gone the program still takes input.
    assert_eq!(app.update(ch('a'), t1), write(0, b"a"));

    let t2 = t1 + millis(300);
    let status = ExitStatus::Signaled(Signal::SIGTERM);
    assert_eq!(
        app.update(exited_event(0, status, 0), t2),
        vec![Effect::Start(PaneId(0))]
    );
    assert_eq!(app.session.panes[0].run, 2, "the new run is numbered");
    assert_eq!(app.session.panes[0].state, PaneState::Starting,);
    assert!(
        app.session.panes[0].pty.is_none(),
        "the old run's PTY is dropped"
    );
    assert!(!app.session.counting_down());
    assert_eq!(app.session.next_deadline(), None);

    // The runtime starts the new run and reports it.
    let pid = Pid::from_raw(999_100);
    let started = Event::PaneStarted {
        pane: PaneId(0),
        pid,
    };
    assert_eq!(app.update(started, t2), vec![]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Running { pid, since: t2 }
    );
    assert_eq!(app.session.panes[0].error, None);
    assert_eq!(app.update(ch('b'), t2), write(0, b"b"));

    // The end of the first run's output, arriving late, changes nothing.
    let late = Event::PaneOutputClosed {
        pane: PaneId(0),
        run: 1,
        error: Some("EIO".into()),
    };
    assert_eq!(app.update(late, t2), vec![]);
    assert_eq!(app.session.panes[0].error, None);
    assert_eq!(
        app.session.panes[1].state,
        running(1, t0),
        "pane 2 is untouched"
    );
    assert_eq!(app.session.panes[1].run, 1);
}

#[test]
fn a_restart_waits_for_the_runs_last_process() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    let t1 = t0 + secs(1);
    command_at(&mut app, 'r', t1);
    let status = ExitStatus::Exited(0);
    // The main process is gone but two of its children are not.
    assert_eq!(app.update(exited_event(0, status, 2), t1), vec![]);
    let stopping = Stopping {
        restart: true,
        exit: Some(status),
        ..Stopping::new(t0, t1 + STOP_TIMEOUT)
    };
    assert_eq!(app.session.panes[0].state, stopping.state(0));
    assert_eq!(
        app.update(ch('a'), t1),
        vec![],
        "no main process to type to"
    );
    assert_eq!(app.update(left_event(0, 1), t1), vec![]);
    assert_eq!(app.session.panes[0].state, stopping.state(0));

    // The last one ignores the stop signal, so it is killed at the deadline.
    let t2 = t1 + STOP_TIMEOUT;
    assert_eq!(
        app.update(Event::Tick, t2),
        vec![signal(0, Signal::SIGKILL)]
    );
    let t3 = t2 + millis(10);
    assert_eq!(
        app.update(left_event(0, 0), t3),
        vec![Effect::Start(PaneId(0))]
    );
    assert_eq!(app.session.panes[0].run, 2);
    assert_eq!(app.session.panes[0].state, PaneState::Starting,);
}

#[test]
fn a_killed_run_is_restarted_when_asked_to() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    let t1 = t0 + millis(400);
    // C-b X, then C-b s while it dies: start again once it is gone.
    assert_eq!(
        command_at(&mut app, 'X', t1),
        vec![signal(0, Signal::SIGKILL)]
    );
    assert_eq!(command_at(&mut app, 's', t1), vec![]);
    let killed = ExitStatus::Signaled(Signal::SIGKILL);
    assert_eq!(
        app.update(exited_event(0, killed, 0), t1),
        vec![Effect::Start(PaneId(0))]
    );
    assert_eq!(app.session.panes[0].state, PaneState::Starting,);
    assert_eq!(app.session.panes[0].run, 2);
}

#[test]
fn a_stop_without_restart_leaves_the_pane_exited() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    let t1 = t0 + secs(2);
    command_at(&mut app, 'x', t1);
    let status = ExitStatus::Signaled(Signal::SIGTERM);
    assert_eq!(app.update(exited_event(0, status, 0), t1), vec![]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status,
            ran: secs(2)
        }
    );
    assert_eq!(app.session.panes[0].run, 1);
    assert!(app.session.all_exited());
    assert!(
        app.session.shutdown.is_none(),
        "stopping a pane does not quit"
    );
    // C-b s starts it again.
    assert_eq!(
        command_at(&mut app, 's', t1),
        vec![Effect::Start(PaneId(0))]
    );
    assert_eq!(app.session.panes[0].run, 2);
}

#[test]
fn leftovers_of_a_run_whose_main_process_exited_are_stopped() {
    let t0 = Instant::now();
    let mut app = app_at(
        t0,
        vec![
            spec("web"),
            spec_stopping_with("db", Signal::SIGINT, secs(3)),
        ],
    );
    let t1 = t0 + secs(20);
    let status = ExitStatus::Exited(3);
    assert_eq!(
        app.update(exited_event(1, status, 2), t1),
        stop_effects(1, Signal::SIGINT)
    );
    let stopping = Stopping {
        exit: Some(status),
        ..Stopping::new(t0, t1 + secs(3))
    };
    assert_eq!(app.session.panes[1].state, stopping.state(1));
    assert!(app.session.panes[1].state.is_alive() && !app.session.panes[1].state.is_running());
    assert!(!app.session.all_exited());
    assert!(app.session.counting_down());
    assert_eq!(app.session.next_deadline(), Some(t1 + secs(3)));
    assert!(app.session.shutdown.is_none());

    // Counting fewer leftovers changes nothing; a count for a pane whose main
    // process still runs is no end either.
    assert_eq!(app.update(left_event(1, 1), t1), vec![]);
    assert_eq!(app.session.panes[1].state, stopping.state(1));
    assert_eq!(app.update(left_event(0, 0), t1), vec![]);
    assert_eq!(app.session.panes[0].state, running(0, t0));

    assert_eq!(app.update(Event::Tick, t1 + secs(3) - millis(1)), vec![]);
    assert_eq!(
        app.update(Event::Tick, t1 + secs(3)),
        vec![signal(1, Signal::SIGKILL)]
    );
    let killed = Stopping {
        killed: true,
        ..stopping
    };
    assert_eq!(app.session.panes[1].state, killed.state(1));
    assert_eq!(app.session.next_deadline(), None);

    // The run ends with the main process's own status, when nothing is left.
    let t2 = t1 + secs(4);
    assert_eq!(app.update(left_event(1, 0), t2), vec![]);
    assert_eq!(
        app.session.panes[1].state,
        PaneState::Exited {
            status,
            ran: t2 - t0
        }
    );
    assert_eq!(app.session.panes[1].run, 1, "no restart was asked for");
    assert!(!app.session.counting_down());
}

#[test]
fn a_stopping_pane_whose_main_process_exits_last_finishes_at_once() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    command_at(&mut app, 'x', t0);
    // A count while the main process still runs is no end.
    assert_eq!(app.update(left_event(0, 0), t0), vec![]);
    assert!(matches!(
        app.session.panes[0].state,
        PaneState::Stopping { .. }
    ));
    let status = ExitStatus::Exited(0);
    assert_eq!(app.update(exited_event(0, status, 0), t0 + secs(1)), vec![]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status,
            ran: secs(1)
        }
    );
}

#[test]
fn each_pane_is_stopped_with_its_own_signal() {
    let t0 = Instant::now();
    let specs = vec![
        spec_stopping_with("shell", Signal::SIGHUP, STOP_TIMEOUT),
        spec_stopping_with("dev", Signal::SIGINT, STOP_TIMEOUT),
        spec("web"),
    ];
    // C-b x on each.
    for (pane, sig) in [
        (0, Signal::SIGHUP),
        (1, Signal::SIGINT),
        (2, Signal::SIGTERM),
    ] {
        let mut app = app_at(t0, specs.clone());
        app.view.focus = pane;
        assert_eq!(command_at(&mut app, 'x', t0), stop_effects(pane, sig));
    }
    // Leftovers after an exit.
    let mut app = app_at(t0, specs.clone());
    assert_eq!(
        app.update(exited_event(1, ExitStatus::Exited(0), 1), t0),
        stop_effects(1, Signal::SIGINT)
    );
    // A quit.
    let mut app = app_at(t0, specs);
    let mut expected = vec![Effect::SignalStrays(Signal::SIGTERM)];
    expected.extend(stop_effects(0, Signal::SIGHUP));
    expected.extend(stop_effects(1, Signal::SIGINT));
    expected.extend(stop_effects(2, Signal::SIGTERM));
    assert_eq!(app.update(Event::Signal(Signal::SIGTERM), t0), expected);
}

#[test]
fn each_pane_is_killed_at_its_own_deadline_and_the_quit_waits_for_the_longest() {
    let t0 = Instant::now();
    let specs = vec![
        spec_stopping_with("fast", Signal::SIGTERM, secs(1)),
        spec_stopping_with("medium", Signal::SIGINT, secs(3)),
        spec_stopping_with("slow", Signal::SIGHUP, secs(10)),
        // Not alive, so its long timeout does not hold the quit up.
        spec_stopping_with("done", Signal::SIGTERM, secs(60)),
    ];
    let mut app = app_at(t0, specs);
    app.session.panes[3].state = PaneState::Exited {
        status: ExitStatus::Exited(0),
        ran: secs(1),
    };
    let q = t0 + secs(100);
    let mut expected = vec![Effect::SignalStrays(Signal::SIGTERM)];
    expected.extend(stop_effects(0, Signal::SIGTERM));
    expected.extend(stop_effects(1, Signal::SIGINT));
    expected.extend(stop_effects(2, Signal::SIGHUP));
    assert_eq!(command_at(&mut app, 'q', q), expected);
    assert_eq!(app.session.shutdown.unwrap().deadline, q + secs(10));
    for (pane, timeout) in [(0, secs(1)), (1, secs(3)), (2, secs(10))] {
        assert_eq!(
            app.session.panes[pane].state,
            Stopping::new(t0, q + timeout).state(pane)
        );
    }

    // (time after the quit, effects of a Tick then, next deadline after it)
    let ticks: Vec<(Duration, Vec<Effect>, Option<Instant>)> = vec![
        (millis(500), vec![], Some(q + secs(1))),
        (secs(1), vec![signal(0, Signal::SIGKILL)], Some(q + secs(3))),
        (secs(2), vec![], Some(q + secs(3))),
        (
            secs(5),
            vec![signal(1, Signal::SIGKILL)],
            Some(q + secs(10)),
        ),
        (
            secs(10),
            vec![
                signal(2, Signal::SIGKILL),
                Effect::SignalStrays(Signal::SIGKILL),
            ],
            None,
        ),
        (secs(11), vec![], None),
    ];
    for (after, effects, next) in ticks {
        assert_eq!(app.update(Event::Tick, q + after), effects, "{after:?}");
        assert_eq!(app.session.next_deadline(), next, "{after:?}");
        assert!(app.session.counting_down(), "{after:?}");
    }
    assert!(app.session.shutdown.unwrap().killed);
    assert!(matches!(
        app.session.panes[3].state,
        PaneState::Exited { .. }
    ));
}

#[test]
fn a_stopped_pane_is_killed_at_its_deadline_without_a_shutdown() {
    let t0 = Instant::now();
    let mut app = app_at(
        t0,
        vec![
            spec("web"),
            spec_stopping_with("db", Signal::SIGTERM, secs(2)),
        ],
    );
    app.view.focus = 1;
    command_at(&mut app, 'x', t0);
    assert_eq!(app.update(Event::Tick, t0 + millis(1_999)), vec![]);
    assert_eq!(
        app.update(Event::Tick, t0 + secs(2)),
        vec![signal(1, Signal::SIGKILL)]
    );
    assert_eq!(app.update(Event::Tick, t0 + secs(3)), vec![], "once");
    assert!(app.session.shutdown.is_none());
    assert_eq!(app.session.panes[0].state, running(0, t0));
}

#[test]
fn a_lost_terminal_during_a_shutdown_does_not_escalate_it() {
    let t0 = Instant::now();
    // A hang-up arrives as a signal, a read error and a write error at once.
    let mut app = app_at(t0, vec![spec("web"), spec("db")]);
    app.update(Event::Signal(Signal::SIGHUP), t0);
    let shutdown = app.session.shutdown;
    for error in ["read: EIO", "drawing failed"] {
        assert_eq!(
            app.update(Event::InputClosed(error.into()), t0),
            vec![],
            "{error}"
        );
        assert_eq!(app.session.shutdown, shutdown, "{error}");
    }
    assert_eq!(app.session.shutdown.unwrap().exit_code, 129);
    for pane in 0..2 {
        assert!(matches!(
            app.session.panes[pane].state,
            PaneState::Stopping { killed: false, .. }
        ));
    }

    // Nor after a quit: the quit's exit code is kept.
    let mut app = app_at(t0, vec![spec("web")]);
    command_at(&mut app, 'q', t0);
    assert_eq!(app.update(Event::InputClosed("gone".into()), t0), vec![]);
    assert_eq!(
        app.session.shutdown,
        Some(Shutdown {
            deadline: t0 + STOP_TIMEOUT,
            killed: false,
            exit_code: 0
        })
    );

    // Nor after a first lost terminal.
    let mut app = app_at(t0, vec![spec("web")]);
    app.update(Event::InputClosed("read: EIO".into()), t0);
    assert_eq!(app.update(Event::InputClosed("write".into()), t0), vec![]);
    assert!(!app.session.shutdown.unwrap().killed);
    assert_eq!(app.session.shutdown.unwrap().exit_code, 129);
}

#[test]
fn a_hang_up_whose_read_error_comes_first_does_not_escalate() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    app.update(Event::InputClosed("read: EIO".into()), t0);
    assert_eq!(app.update(Event::Signal(Signal::SIGHUP), t0), vec![]);
    assert!(!app.session.shutdown.unwrap().killed);
    assert_eq!(app.session.shutdown.unwrap().exit_code, 129);
}

#[test]
fn a_restart_asked_for_before_a_quit_is_dropped() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web"), spec("db")]);
    assert_eq!(
        command_at(&mut app, 'r', t0),
        stop_effects(0, Signal::SIGTERM)
    );
    let t1 = t0 + secs(1);
    // Pane 1 is already stopping, so only pane 2 is signalled; the quit still
    // allows pane 1 its full timeout.
    let mut expected = vec![Effect::SignalStrays(Signal::SIGTERM)];
    expected.extend(stop_effects(1, Signal::SIGTERM));
    assert_eq!(command_at(&mut app, 'q', t1), expected);
    assert_eq!(app.session.shutdown.unwrap().deadline, t1 + STOP_TIMEOUT);
    assert_eq!(
        app.session.panes[0].state,
        Stopping::new(t0, t0 + STOP_TIMEOUT).state(0),
        "no restart any more, and the first deadline stands"
    );
    assert_eq!(app.session.next_deadline(), Some(t0 + STOP_TIMEOUT));
    let status = ExitStatus::Signaled(Signal::SIGTERM);
    assert_eq!(app.update(exited_event(0, status, 0), t1), vec![]);
    assert_eq!(
        app.session.panes[0].run, 1,
        "nothing starts during a shutdown"
    );
    assert!(matches!(
        app.session.panes[0].state,
        PaneState::Exited { .. }
    ));
}

#[test]
fn late_events_from_an_earlier_run_are_ignored() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    // Run 1 ends; run 2 starts.
    app.update(exited_event(0, ExitStatus::Exited(0), 0), t0);
    assert_eq!(
        command_at(&mut app, 's', t0),
        vec![Effect::Start(PaneId(0))]
    );
    assert_eq!(app.session.panes[0].run, 2);
    let late: Vec<Event> = vec![
        Event::PaneOutputClosed {
            pane: PaneId(0),
            run: 1,
            error: Some("EIO".into()),
        },
        Event::PaneInputFailed {
            pane: PaneId(0),
            run: 1,
            error: "broken pipe".into(),
        },
    ];
    for event in late {
        let label = format!("{event:?}");
        assert_eq!(app.update(event, t0), vec![], "{label}");
        assert_eq!(app.session.panes[0].error, None, "{label}");
    }
    // The same events from the current run count, before and after it is
    // reported started.
    let current = Event::PaneInputFailed {
        pane: PaneId(0),
        run: 2,
        error: "broken pipe".into(),
    };
    app.update(current, t0);
    assert_eq!(
        app.session.panes[0].error.as_deref(),
        Some("writing input: broken pipe")
    );
    let started = Event::PaneStarted {
        pane: PaneId(0),
        pid: fake_pid(0),
    };
    app.update(started, t0);
    let current = Event::PaneOutputClosed {
        pane: PaneId(0),
        run: 2,
        error: Some("EIO".into()),
    };
    app.update(current, t0);
    assert_eq!(app.session.panes[0].error.as_deref(), Some("EIO"));
}

#[test]
fn only_input_that_changes_the_picture_asks_for_a_redraw() {
    let mut release = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    type Setup = fn(&mut App);
    let nothing: Setup = |_| {};
    let armed: Setup = |app| {
        send(app, ctrl_b());
    };
    let help: Setup = |app| {
        prefix(app, KeyCode::Char('?'));
    };
    let first_exited: Setup = |app| {
        app.session.panes[0].state = PaneState::Exited {
            status: ExitStatus::Exited(0),
            ran: secs(1),
        };
    };
    // (what happened before, the event, whether it asks for a redraw)
    let cases: Vec<(&str, Setup, Event, bool)> = vec![
        ("typed key", nothing, ch('a'), false),
        ("typed Enter", nothing, plain(KeyCode::Enter), false),
        ("paste", nothing, Event::Paste("ls".into()), false),
        ("key release", nothing, Event::Key(release), false),
        ("key to an exited pane", first_exited, ch('a'), false),
        (
            "click on the focused pane",
            nothing,
            click(5, 5, MouseButton::Left),
            false,
        ),
        (
            "mouse move",
            nothing,
            Event::Mouse(MouseEvent {
                kind: MouseEventKind::Moved,
                column: 50,
                row: 5,
                modifiers: KeyModifiers::NONE,
            }),
            false,
        ),
        (
            "Alt+Left with nothing to the left",
            nothing,
            key(KeyCode::Left, KeyModifiers::ALT),
            false,
        ),
        ("C-b", nothing, ctrl_b(), true),
        ("C-b o", armed, ch('o'), true),
        ("C-b z", armed, ch('z'), true),
        ("C-b ?", armed, ch('?'), true),
        ("C-b x", armed, ch('x'), true),
        ("C-b q", armed, ch('q'), true),
        ("an unbound key after C-b", armed, ch('y'), true),
        ("C-b C-b, a literal C-b", armed, ctrl_b(), true),
        ("the key that closes the help", help, ch('a'), true),
        (
            "Alt+Right",
            nothing,
            key(KeyCode::Right, KeyModifiers::ALT),
            true,
        ),
        (
            "click on the other pane",
            nothing,
            click(50, 5, MouseButton::Left),
            true,
        ),
        ("pane output", nothing, Event::PaneOutput(PaneId(1)), true),
        ("tick", nothing, Event::Tick, true),
        (
            "resize to the same size",
            nothing,
            Event::Resize(Size::new(24, 80)),
            true,
        ),
        ("resize", nothing, Event::Resize(Size::new(30, 100)), true),
        (
            "pane exit",
            nothing,
            exited_event(1, ExitStatus::Exited(0), 0),
            true,
        ),
        ("signal", nothing, Event::Signal(Signal::SIGTERM), true),
    ];
    for (label, setup, event, redraw) in cases {
        let mut app = app(2, 24, 80);
        setup(&mut app);
        app.needs_redraw = false;
        send(&mut app, event);
        assert_eq!(app.needs_redraw, redraw, "{label}");
    }
}

#[test]
fn a_typed_key_keeps_a_redraw_already_asked_for() {
    let mut app = app(1, 24, 80);
    app.needs_redraw = true;
    assert_eq!(send(&mut app, ch('a')), write(0, b"a"));
    assert!(app.needs_redraw, "only the frame loop clears it");
}

#[test]
fn next_deadline_and_counting_down_follow_stops_and_the_shutdown() {
    let t0 = Instant::now();
    let specs = vec![
        spec_stopping_with("slow", Signal::SIGTERM, secs(5)),
        spec_stopping_with("fast", Signal::SIGTERM, secs(2)),
        spec("third"),
    ];
    let mut app = app_at(t0, specs);
    assert_eq!(app.session.next_deadline(), None);
    assert!(!app.session.counting_down());

    // C-b x on "slow" at t0.
    command_at(&mut app, 'x', t0);
    assert_eq!(app.session.next_deadline(), Some(t0 + secs(5)));
    assert!(app.session.counting_down());
    // C-b X on "third": killed at once, so it has no deadline to wait for.
    app.view.focus = 2;
    command_at(&mut app, 'X', t0);
    assert_eq!(app.session.next_deadline(), Some(t0 + secs(5)));

    // A quit one second later stops "fast" until t0 + 3 s; the shutdown
    // allows the longest timeout of the live panes, 5 s, from the quit.
    let t1 = t0 + secs(1);
    command_at(&mut app, 'q', t1);
    assert_eq!(app.session.shutdown.unwrap().deadline, t1 + secs(5));
    // (tick at, next deadline after it)
    let steps = [
        (t0 + secs(3), Some(t0 + secs(5))),
        (t0 + secs(5), Some(t1 + secs(5))),
        (t1 + secs(5), None),
    ];
    for (at, next) in steps {
        app.update(Event::Tick, at);
        assert_eq!(app.session.next_deadline(), next, "{:?}", at - t0);
        assert!(app.session.counting_down());
    }

    // Without a shutdown, the count-down ends with the last stopping pane.
    let mut app = app_at(t0, vec![spec("web")]);
    command_at(&mut app, 'x', t0);
    assert!(app.session.counting_down());
    app.update(exited_event(0, ExitStatus::Exited(0), 0), t0);
    assert!(!app.session.counting_down());
    assert_eq!(app.session.next_deadline(), None);
}

#[test]
fn the_help_lists_the_pane_keys() {
    for key in ["C-b x", "C-b s", "C-b r", "C-b X"] {
        let what = KEY_HELP.iter().find(|(k, _)| *k == key).map(|(_, w)| *w);
        assert!(
            what.is_some_and(|w| !w.is_empty()),
            "{key} is not in KEY_HELP"
        );
    }
}

#[test]
fn nothing_starts_during_a_shutdown_even_a_run_marked_for_restart() {
    let t0 = Instant::now();
    let mut app = app_at(t0, vec![spec("web")]);
    command_at(&mut app, 'q', t0);
    // However the mark got there, a shutdown never starts a new run.
    if let PaneState::Stopping { restart, .. } = &mut app.session.panes[0].state {
        *restart = true;
    }
    let status = ExitStatus::Exited(0);
    assert_eq!(app.update(exited_event(0, status, 0), t0), vec![]);
    assert_eq!(app.session.panes[0].run, 1);
    assert!(app.session.all_exited());
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Event {
    Event::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        assert_eq!(send(app, ch(c)), vec![], "typing {c:?} at the prompt");
    }
}

#[test]
fn a_new_pane_gets_its_place_in_the_layout_before_it_starts() {
    let mut app = app(1, 24, 80);
    assert_eq!(prefix(&mut app, KeyCode::Char('c')), vec![]);
    assert!(app.view.prompt.is_some());
    type_text(&mut app, "echo hi");
    let effects = send(&mut app, plain(KeyCode::Enter));
    // The first pane shrinks to the left half; the new one starts at the
    // size of the right half, which its screen already has.
    assert_eq!(effects, vec![resize(0, 21, 38), Effect::Start(PaneId(1))]);
    assert!(app.view.prompt.is_none());
    assert_eq!(app.session.panes.len(), 2);
    assert_eq!(app.view.focus, 1, "the new pane has the focus");
    assert_eq!(screen_size(&app, 1), TILED);
    let spec = &app.session.panes[1].spec;
    assert_eq!(spec.argv, ["/bin/sh", "-c", "echo hi"]);
    assert_eq!(spec.name, "echo");
    assert!(!spec.named, "a title the program sets may show");
}

#[test]
fn escape_or_an_empty_line_opens_no_pane() {
    let mut app = app(1, 24, 80);
    prefix(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "sleep 1");
    assert_eq!(send(&mut app, plain(KeyCode::Esc)), vec![]);
    assert!(app.view.prompt.is_none());
    prefix(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "   ");
    assert_eq!(send(&mut app, plain(KeyCode::Enter)), vec![]);
    assert_eq!(app.session.panes.len(), 1);
}

#[test]
fn closing_a_pane_stops_it_first_and_removes_it_when_its_run_is_over() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('o'));
    let effects = prefix(&mut app, KeyCode::Char('&'));
    assert_eq!(
        effects,
        vec![signal(1, Signal::SIGTERM), signal(1, Signal::SIGCONT)]
    );
    assert_eq!(app.session.panes.len(), 2, "still there while it stops");
    let exited = send(
        &mut app,
        exited_event(1, ExitStatus::Signaled(Signal::SIGTERM), 0),
    );
    assert_eq!(exited, vec![Effect::Remove(PaneId(1))]);
    let (removed, effects) = app.remove_pane(PaneId(1), Instant::now());
    assert_eq!(removed.map(|p| p.spec.name), Some("p2".to_string()));
    assert_eq!(
        effects,
        vec![resize(0, 21, 78)],
        "the other pane takes the room"
    );
    assert_eq!(app.session.panes.len(), 1);
    assert_eq!(app.view.focus, 0);
    // Late events of the removed pane change nothing.
    assert_eq!(
        send(&mut app, exited_event(1, ExitStatus::Exited(0), 0)),
        vec![]
    );
    assert_eq!(app.session.panes[0].id, PaneId(0));
    assert!(app.session.shutdown.is_none());
}

#[test]
fn a_second_close_kills_and_a_pane_not_running_goes_at_once() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('&'));
    assert_eq!(
        prefix(&mut app, KeyCode::Char('&')),
        vec![signal(0, Signal::SIGKILL)]
    );
    send(&mut app, exited_event(1, ExitStatus::Exited(0), 0));
    prefix(&mut app, KeyCode::Char('o'));
    assert_eq!(
        prefix(&mut app, KeyCode::Char('&')),
        vec![Effect::Remove(PaneId(1))],
        "an exited pane has nothing to stop"
    );
}

#[test]
fn closing_the_last_pane_quits() {
    let mut app = app(1, 24, 80);
    prefix(&mut app, KeyCode::Char('&'));
    let exited = send(&mut app, exited_event(0, ExitStatus::Exited(0), 0));
    assert_eq!(exited, vec![Effect::Remove(PaneId(0))]);
    app.remove_pane(PaneId(0), Instant::now());
    assert!(app.session.panes.is_empty());
    assert!(app.session.shutdown.is_some());
    assert!(app.session.all_exited());
}

#[test]
fn panes_added_after_a_close_get_fresh_ids() {
    let mut app = app(2, 24, 80);
    send(&mut app, exited_event(1, ExitStatus::Exited(0), 0));
    prefix(&mut app, KeyCode::Char('o'));
    prefix(&mut app, KeyCode::Char('&'));
    app.remove_pane(PaneId(1), Instant::now());
    prefix(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "true");
    let effects = send(&mut app, plain(KeyCode::Enter));
    assert!(effects.contains(&Effect::Start(PaneId(2))), "{effects:?}");
    assert_eq!(app.session.index_of(PaneId(2)), Some(1));
    assert_eq!(app.session.index_of(PaneId(1)), None);
}

#[test]
fn prefix_comma_renames_and_the_name_is_cleaned() {
    let mut app = app(1, 24, 80);
    prefix(&mut app, KeyCode::Char(','));
    assert_eq!(
        app.view.prompt.as_ref().map(|p| p.editor.text()),
        Some("p1")
    );
    send(&mut app, key(KeyCode::Char('u'), KeyModifiers::CONTROL));
    send(&mut app, Event::Paste("web\x1b[31m".into()));
    send(&mut app, plain(KeyCode::Enter));
    assert_eq!(app.session.panes[0].spec.name, "web[31m");
    assert!(app.session.panes[0].spec.named);
}

#[test]
fn prefix_space_cycles_the_layouts_and_resizes_the_panes() {
    use opmux::config::LayoutKind;
    // Three panes, so that every layout gives every pane another size; each
    // size is inside a one-cell border, on the 23 rows above the status line.
    let mut app = app(3, 24, 80);
    let sizes = |app: &App| -> Vec<Size> {
        app.session
            .panes
            .iter()
            .map(|p| p.screen().size())
            .collect()
    };
    // Tiled: two side by side 40 wide and 12 high, the third 80 wide and
    // 11 high.
    assert_eq!(app.session.layout, LayoutKind::Tiled);
    assert_eq!(
        sizes(&app),
        [Size::new(10, 38), Size::new(10, 38), Size::new(9, 78)]
    );
    let steps = [
        // One above the other, 8, 8 and 7 high.
        (LayoutKind::Rows, [(6, 78), (6, 78), (5, 78)]),
        // Side by side, 27, 27 and 26 wide.
        (LayoutKind::Columns, [(21, 25), (21, 25), (21, 24)]),
        (LayoutKind::Tiled, [(10, 38), (10, 38), (9, 78)]),
        (LayoutKind::Rows, [(6, 78), (6, 78), (5, 78)]),
    ];
    for (layout, expected) in steps {
        let effects = prefix(&mut app, KeyCode::Char(' '));
        assert_eq!(app.session.layout, layout);
        let resizes: Vec<Effect> = expected
            .iter()
            .enumerate()
            .map(|(pane, &(rows, cols))| resize(pane, rows, cols))
            .collect();
        assert_eq!(effects, resizes, "{layout:?}");
        // Each pane's screen took its PTY's new size.
        let screens: Vec<Size> = expected.iter().map(|&(r, c)| Size::new(r, c)).collect();
        assert_eq!(sizes(&app), screens, "{layout:?}");
    }
}

#[test]
fn mouse_reports_go_to_a_program_that_asked_for_them() {
    let mut app = app(2, 24, 80);
    // Normal tracking, SGR encoding.
    app.session.panes[0]
        .screen()
        .process(b"\x1b[?1000h\x1b[?1006h");
    // Column 5, row 3 of the terminal is column 4, row 2 inside pane 1.
    let down = send(&mut app, click(5, 3, MouseButton::Left));
    assert_eq!(down, write(0, b"\x1b[<0;5;3M"));
    let up = send(&mut app, mouse(MouseEventKind::Up(MouseButton::Left), 5, 3));
    assert_eq!(up, write(0, b"\x1b[<0;5;3m"));
    let wheel = send(&mut app, mouse(MouseEventKind::ScrollUp, 5, 3));
    assert_eq!(wheel, write(0, b"\x1b[<64;5;3M"));
    // The other pane did not ask: a click there only focuses it.
    assert_eq!(send(&mut app, click(50, 3, MouseButton::Left)), vec![]);
    assert_eq!(app.view.focus, 1);
    assert!(app.view.clipboard.is_empty());
}

#[test]
fn the_wheel_enters_scroll_mode_and_scrolling_back_down_leaves_it() {
    let mut app = app(1, 24, 80);
    for i in 0..100 {
        app.session.panes[0]
            .screen()
            .process(format!("{i}\r\n").as_bytes());
    }
    assert_eq!(
        send(&mut app, mouse(MouseEventKind::ScrollUp, 10, 10)),
        vec![]
    );
    assert!(app.view.scroll(app.session.panes[0].id).is_some());
    send(&mut app, mouse(MouseEventKind::ScrollUp, 10, 10));
    send(&mut app, mouse(MouseEventKind::ScrollDown, 10, 10));
    assert!(
        app.view.scroll(app.session.panes[0].id).is_some(),
        "still 3 rows up"
    );
    send(&mut app, mouse(MouseEventKind::ScrollDown, 10, 10));
    assert!(
        app.view.scroll(app.session.panes[0].id).is_none(),
        "back at the bottom"
    );
}

#[test]
fn the_wheel_over_a_full_screen_program_without_mouse_reports_sends_arrows() {
    let mut app = app(1, 24, 80);
    app.session.panes[0].screen().process(b"\x1b[?1049h");
    let effects = send(&mut app, mouse(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(effects, write(0, b"\x1b[B\x1b[B\x1b[B"));
    assert!(app.view.scroll(app.session.panes[0].id).is_none());
}

#[test]
fn keys_in_scroll_mode_move_the_view_and_never_reach_the_program() {
    let mut app = app(1, 24, 80);
    for i in 0..100 {
        app.session.panes[0]
            .screen()
            .process(format!("{i}\r\n").as_bytes());
    }
    prefix(&mut app, KeyCode::Char('['));
    assert!(app.view.scroll(app.session.panes[0].id).is_some());
    for event in [
        plain(KeyCode::PageUp),
        ch('k'),
        ch('g'),
        ch('j'),
        key(KeyCode::Char('d'), KeyModifiers::CONTROL),
        ch('x'),
    ] {
        assert_eq!(send(&mut app, event), vec![]);
    }
    // The prefix still works, and q goes back to the live view.
    prefix(&mut app, KeyCode::Char('z'));
    assert!(app.session.zoom.is_some());
    send(&mut app, ch('q'));
    assert!(app.view.scroll(app.session.panes[0].id).is_none());
    assert_eq!(send(&mut app, ch('x')), write(0, b"x"));
}

#[test]
fn a_resize_in_scroll_mode_keeps_the_cursor_and_the_selection_on_their_text() {
    let mut apps = [app(1, 24, 80), app(1, 24, 80)];
    for app in &mut apps {
        for i in 0..100 {
            let line = format!("L{i:02}{}\r\n", "-".repeat(50));
            app.session.panes[0].screen().process(line.as_bytes());
        }
        prefix(app, KeyCode::Char('['));
        send(app, plain(KeyCode::PageUp));
        for event in [ch('j'), ch('j'), ch('l'), ch('v')] {
            send(app, event);
        }
        for _ in 0..12 {
            send(app, ch('j'));
        }
    }
    let cursor = |app: &App| {
        let screen = app.session.panes[0].screen();
        let lines = Lines::new(screen.history(), screen.vt());
        let scroll = app
            .view
            .scroll(app.session.panes[0].id)
            .expect("in scroll mode");
        let text = lines.line(scroll.cursor.at.line).expect("a line").text();
        let height = usize::from(screen.size().rows);
        let bottom = lines.down(scroll.top, height - 1);
        let shown = scroll.top <= scroll.cursor.at && scroll.cursor.at <= bottom;
        (text[..3].to_string(), scroll.cursor.col, shown)
    };
    let before = cursor(&apps[1]);
    assert!(before.2);
    // Twenty columns: every line takes three rows, and the cursor's line
    // goes into the history; then a screen that holds them all again.
    for size in [Size::new(24, 22), Size::new(8, 22), Size::new(24, 80)] {
        send(&mut apps[1], Event::Resize(size));
        let (line, _, shown) = cursor(&apps[1]);
        assert_eq!(
            (line.as_str(), shown),
            (before.0.as_str(), true),
            "{size:?}"
        );
    }
    assert_eq!(cursor(&apps[1]), before);
    for app in &mut apps {
        send(app, ch('y'));
    }
    assert!(!apps[0].view.clipboard.is_empty());
    assert_eq!(apps[1].view.clipboard, apps[0].view.clipboard);
}

#[test]
fn a_drag_selects_and_copies_and_a_click_copies_nothing() {
    let mut app = app(1, 24, 80);
    app.session.panes[0].screen().process(b"hello world\r\n");
    send(&mut app, click(3, 1, MouseButton::Left));
    send(&mut app, mouse(MouseEventKind::Up(MouseButton::Left), 3, 1));
    assert!(app.view.clipboard.is_empty());
    assert!(app.view.scroll(app.session.panes[0].id).is_none());
    send(&mut app, click(7, 1, MouseButton::Left));
    send(
        &mut app,
        mouse(MouseEventKind::Drag(MouseButton::Left), 9, 1),
    );
    assert!(
        app.view
            .scroll(app.session.panes[0].id)
            .is_some_and(|s| s.anchor.is_some()),
        "a drag selects"
    );
    send(
        &mut app,
        mouse(MouseEventKind::Drag(MouseButton::Left), 11, 1),
    );
    send(
        &mut app,
        mouse(MouseEventKind::Up(MouseButton::Left), 11, 1),
    );
    assert_eq!(app.view.clipboard, ["world"]);
    assert!(
        app.view.scroll(app.session.panes[0].id).is_none(),
        "back to the live view"
    );
}

#[test]
fn closing_a_pane_others_wait_for_lets_them_start() {
    use opmux::config::{Condition, Dependency};
    let mut waiter = spec("web");
    waiter.depends_on = vec![Dependency {
        pane: 0,
        condition: Condition::Ready,
    }];
    let mut app = App::new(vec![spec("db"), waiter], Size::new(24, 80));
    assert_eq!(app.start(), vec![Effect::Start(PaneId(0))]);
    send(
        &mut app,
        Event::PaneStarted {
            pane: PaneId(0),
            pid: fake_pid(0),
        },
    );
    assert!(matches!(
        app.session.panes[1].state,
        PaneState::Waiting { .. }
    ));
    prefix(&mut app, KeyCode::Char('&'));
    let exited = send(&mut app, exited_event(0, ExitStatus::Exited(0), 0));
    assert_eq!(exited, vec![Effect::Remove(PaneId(0))]);
    let (_, effects) = app.remove_pane(PaneId(0), Instant::now());
    assert!(effects.contains(&Effect::Start(PaneId(1))), "{effects:?}");
}

#[test]
fn a_panes_copy_reaches_the_clipboard_only_when_allowed() {
    let copy = |run| Event::PaneCopy {
        pane: PaneId(1),
        run,
        text: "from the pane".into(),
    };
    let mut app = app(2, 24, 80);
    let run = app.session.panes[1].run;
    assert_eq!(send(&mut app, copy(run)), vec![]);
    assert!(app.view.clipboard.is_empty(), "dropped by default");
    app.session.clipboard_allowed = true;
    send(&mut app, copy(run + 1));
    assert!(
        app.view.clipboard.is_empty(),
        "a stale run's copy is dropped"
    );
    send(&mut app, copy(run));
    assert_eq!(app.view.clipboard, ["from the pane"]);
}

#[test]
fn programs_that_asked_for_focus_events_hear_every_focus_change() {
    let mut app = app(2, 24, 80);
    for pane in &app.session.panes {
        pane.screen().process(b"\x1b[?1004h");
    }
    let (focus_in, focus_out) = (b"\x1b[I", b"\x1b[O");
    let both =
        |lost: usize, gained: usize| [write(lost, focus_out), write(gained, focus_in)].concat();
    assert_eq!(
        send(&mut app, key(KeyCode::Right, KeyModifiers::ALT)),
        both(0, 1)
    );
    assert_eq!(prefix(&mut app, KeyCode::Char('o')), both(1, 0));
    assert_eq!(prefix(&mut app, KeyCode::Char('2')), both(0, 1));
    // A click in the left pane.
    assert_eq!(send(&mut app, click(5, 5, MouseButton::Left)), both(1, 0));
    // A click in the pane that has the focus changes nothing.
    assert_eq!(send(&mut app, click(6, 5, MouseButton::Left)), vec![]);
    // The outer terminal loses the focus, and with it the focused pane.
    assert_eq!(
        send(&mut app, Event::TerminalFocus(false)),
        write(0, focus_out)
    );
    assert_eq!(send(&mut app, Event::TerminalFocus(false)), vec![]);
    // The focus moves meanwhile: nobody has it until the terminal is back.
    assert_eq!(prefix(&mut app, KeyCode::Char('o')), vec![]);
    assert_eq!(
        send(&mut app, Event::TerminalFocus(true)),
        write(1, focus_in)
    );
    // A program that turned the reports off hears nothing.
    app.session.panes[1].screen().process(b"\x1b[?1004l");
    assert_eq!(prefix(&mut app, KeyCode::Char('o')), write(0, focus_in));
    app.session.panes[1].screen().process(b"\x1b[?1004h");
    // The focused pane closes: the other one gains the focus.
    let (_, effects) = app.remove_pane(PaneId(0), Instant::now());
    assert_eq!(app.view.focus, 0);
    assert!(effects.contains(&write(1, focus_in)[0]), "{effects:?}");
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Write(PaneId(0), _))),
        "{effects:?}"
    );
}

#[test]
fn a_new_pane_takes_the_focus_from_one_that_asked_for_focus_events() {
    let mut app = app(1, 24, 80);
    app.session.panes[0].screen().process(b"\x1b[?1004h");
    assert_eq!(command_at(&mut app, 'c', Instant::now()), vec![]);
    for c in "sleep 9".chars() {
        assert_eq!(send(&mut app, ch(c)), vec![]);
    }
    let effects = send(&mut app, plain(KeyCode::Enter));
    assert_eq!(app.view.focus, 1);
    assert!(effects.contains(&write(0, b"\x1b[O")[0]), "{effects:?}");
}
