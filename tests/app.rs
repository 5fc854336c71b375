//! The App layer: an `App` whose panes have no PTY, driven by `Event`s through
//! `App::update`, checked by the `Effect`s it asks for and the state it keeps.
//! Nothing here starts a process or touches a terminal.

use std::time::{Duration, Instant};

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use opmux::app::{App, Effect, Shutdown};
use opmux::config::PaneSpec;
use opmux::event::Event;
use opmux::pane::PaneState;
use opmux::process::ExitStatus;
use opmux::{PaneId, Size};

const STOP_TIMEOUT: Duration = Duration::from_secs(5);

fn spec(name: &str) -> PaneSpec {
    PaneSpec {
        name: name.into(),
        argv: vec!["/bin/true".into()],
        cwd: None,
    }
}

/// A pid no test ever signals: `App` does no I/O, it only names it in states.
fn fake_pid(index: usize) -> Pid {
    Pid::from_raw(999_001 + index as i32)
}

/// An app of `n` panes on a `rows` × `cols` terminal, every pane running.
fn app(n: usize, rows: u16, cols: u16) -> App {
    let specs = (0..n).map(|i| spec(&format!("p{}", i + 1))).collect();
    let mut app = App::new(specs, Size::new(rows, cols), STOP_TIMEOUT);
    for (i, pane) in app.panes.iter_mut().enumerate() {
        assert!(pane.pty.is_none(), "test panes have no PTY");
        pane.state = PaneState::Running {
            pid: fake_pid(i),
            since: Instant::now(),
        };
    }
    app
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

fn send(app: &mut App, event: Event) -> Vec<Effect> {
    app.update(event, Instant::now())
}

/// Presses C-b, then `code`; returns what the second key asked for.
fn prefix(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let armed = send(app, key(KeyCode::Char('b'), KeyModifiers::CONTROL));
    assert_eq!(armed, vec![], "the prefix alone reaches no pane");
    send(app, plain(code))
}

fn write(pane: usize, bytes: &[u8]) -> Vec<Effect> {
    vec![Effect::Write(PaneId(pane), bytes.to_vec())]
}

fn resize(pane: usize, rows: u16, cols: u16) -> Effect {
    Effect::ResizePty(PaneId(pane), Size::new(rows, cols))
}

fn screen_size(app: &App, pane: usize) -> Size {
    app.panes[pane].screen().size()
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
fn keys_to_a_pane_that_is_not_running_are_dropped() {
    let states = [
        PaneState::Exited(ExitStatus::Exited(0)),
        PaneState::Exited(ExitStatus::Signaled(Signal::SIGKILL)),
        PaneState::Failed("no such file".into()),
    ];
    for state in states {
        let mut app = app(2, 24, 80);
        app.panes[0].state = state.clone();
        assert_eq!(send(&mut app, ch('a')), vec![], "{state:?}");
        assert_eq!(
            send(&mut app, Event::Paste("text".into())),
            vec![],
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
    assert_eq!(app.focus, 1);
    assert_eq!(send(&mut app, ch('x')), write(1, b"x"));
    // There is nothing further right: the focus stays and nothing is typed.
    assert_eq!(
        send(&mut app, key(KeyCode::Right, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.focus, 1);
    assert_eq!(
        send(&mut app, key(KeyCode::Left, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.focus, 0);
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
        app.focus = before;
        assert_eq!(prefix(&mut app, code), vec![], "C-b {code:?} is not typed");
        assert_eq!(app.focus, after, "C-b {code:?} from pane {}", before + 1);
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
        assert_eq!(app.focus, 0);
        assert!(!app.zoomed && !app.show_help && app.shutdown.is_none());
    }
}

#[test]
fn zoom_gives_the_focused_pane_the_whole_inner_area_and_unzoom_restores_it() {
    let mut app = app(2, 24, 80);
    assert_eq!(screen_size(&app, 0), TILED);
    assert_eq!(app.pane_size(PaneId(0)), TILED);

    assert_eq!(
        prefix(&mut app, KeyCode::Char('z')),
        vec![resize(0, ZOOMED.rows, ZOOMED.cols)]
    );
    assert!(app.zoomed);
    assert_eq!(screen_size(&app, 0), ZOOMED);
    assert_eq!(app.pane_size(PaneId(0)), ZOOMED);
    assert_eq!(app.pane_rects()[1], None, "the other pane is hidden");
    assert_eq!(screen_size(&app, 1), TILED, "a hidden pane keeps its size");

    assert_eq!(
        prefix(&mut app, KeyCode::Char('z')),
        vec![resize(0, TILED.rows, TILED.cols)]
    );
    assert!(!app.zoomed);
    assert_eq!(screen_size(&app, 0), TILED);
    assert!(app.pane_rects().iter().all(Option::is_some));
}

#[test]
fn moving_the_focus_while_zoomed_moves_the_zoom() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('z'));

    assert_eq!(
        prefix(&mut app, KeyCode::Char('o')),
        vec![resize(1, ZOOMED.rows, ZOOMED.cols)]
    );
    assert_eq!(app.focus, 1);
    assert!(app.zoomed);
    assert_eq!(app.pane_rects()[0], None);
    assert_eq!(app.pane_rects()[1], Some(app.panes_area()));
    assert_eq!(send(&mut app, ch('x')), write(1, b"x"));

    // Alt+Left follows the tiled layout to panes[0], hidden as it is. It kept
    // its zoomed size while hidden, so nothing needs resizing.
    assert_eq!(
        send(&mut app, key(KeyCode::Left, KeyModifiers::ALT)),
        vec![]
    );
    assert_eq!(app.focus, 0);

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
    assert_eq!(app.focus, 0);
    assert!(app.zoomed);
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
    assert_eq!(app.size, Size::new(24, 81));
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
    let mut app = app(3, 24, 80);
    app.panes[2].state = PaneState::Exited(ExitStatus::Exited(7));
    let now = Instant::now();
    let b = key(KeyCode::Char('b'), KeyModifiers::CONTROL);

    assert_eq!(app.update(b, now), vec![]);
    assert_eq!(
        app.update(ch('q'), now),
        vec![Effect::SignalAll(Signal::SIGTERM)]
    );
    let deadline = now + STOP_TIMEOUT;
    assert_eq!(
        app.shutdown,
        Some(Shutdown {
            deadline,
            killed: false,
            exit_code: 0
        })
    );
    for i in 0..2 {
        assert_eq!(
            app.panes[i].state,
            PaneState::Stopping {
                pid: fake_pid(i),
                deadline
            }
        );
    }
    assert_eq!(
        app.panes[2].state,
        PaneState::Exited(ExitStatus::Exited(7)),
        "an exited pane stays exited"
    );
    assert!(!app.all_exited());

    // While stopping, nothing more is typed into the panes.
    assert_eq!(send(&mut app, ch('x')), vec![]);
    assert_eq!(send(&mut app, Event::Paste("y".into())), vec![]);

    assert_eq!(
        prefix(&mut app, KeyCode::Char('q')),
        vec![Effect::SignalAll(Signal::SIGKILL)]
    );
    assert!(app.shutdown.unwrap().killed);
    assert_eq!(app.shutdown.unwrap().exit_code, 0);
    // Nothing is left to escalate to.
    assert_eq!(prefix(&mut app, KeyCode::Char('q')), vec![]);
    assert_eq!(send(&mut app, Event::StopDeadline), vec![]);
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
        assert_eq!(
            app.update(event, now),
            vec![Effect::SignalAll(Signal::SIGTERM)],
            "{label}"
        );
        let shutdown = app.shutdown.expect("shutting down");
        assert_eq!(shutdown.exit_code, *code, "{label}");
        assert_eq!(shutdown.deadline, now + STOP_TIMEOUT, "{label}");
        assert!(!shutdown.killed, "{label}");
        assert!(
            app.panes
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
        vec![Effect::SignalAll(Signal::SIGKILL)]
    );
    assert_eq!(app.shutdown.unwrap().exit_code, 143);
}

#[test]
fn the_stop_deadline_escalates_once_and_only_during_a_shutdown() {
    let mut app = app(2, 24, 80);
    assert_eq!(
        send(&mut app, Event::StopDeadline),
        vec![],
        "no shutdown yet"
    );
    assert!(app.shutdown.is_none());

    prefix(&mut app, KeyCode::Char('q'));
    assert_eq!(
        send(&mut app, Event::StopDeadline),
        vec![Effect::SignalAll(Signal::SIGKILL)]
    );
    assert!(app.shutdown.unwrap().killed);
    assert_eq!(send(&mut app, Event::StopDeadline), vec![]);
    assert_eq!(prefix(&mut app, KeyCode::Char('q')), vec![]);
}

#[test]
fn a_reaped_pane_is_marked_exited_and_takes_no_more_input() {
    let mut app = app(2, 24, 80);
    let status = ExitStatus::Signaled(Signal::SIGSEGV);
    assert_eq!(send(&mut app, Event::PaneExited(PaneId(0), status)), vec![]);
    assert_eq!(app.panes[0].state, PaneState::Exited(status));
    assert!(app.panes[1].state.is_alive(), "the other pane is untouched");
    assert!(!app.all_exited());
    assert_eq!(send(&mut app, ch('a')), vec![]);

    send(
        &mut app,
        Event::PaneExited(PaneId(1), ExitStatus::Exited(0)),
    );
    assert!(app.all_exited());
    // An id past the end is ignored rather than panicking.
    send(
        &mut app,
        Event::PaneExited(PaneId(9), ExitStatus::Exited(0)),
    );
}

#[test]
fn a_pane_that_exits_during_the_shutdown_ends_it() {
    let mut app = app(2, 24, 80);
    prefix(&mut app, KeyCode::Char('q'));
    send(
        &mut app,
        Event::PaneExited(PaneId(0), ExitStatus::Exited(0)),
    );
    assert!(!app.all_exited());
    send(
        &mut app,
        Event::PaneExited(PaneId(1), ExitStatus::Signaled(Signal::SIGTERM)),
    );
    assert!(app.all_exited());
}

#[test]
fn pane_errors_are_kept_for_the_title() {
    let mut app = app(2, 24, 80);
    send(
        &mut app,
        Event::PaneInputFailed(PaneId(1), "broken pipe".into()),
    );
    assert_eq!(
        app.panes[1].error.as_deref(),
        Some("writing input: broken pipe")
    );
    send(
        &mut app,
        Event::PaneOutputClosed(PaneId(0), Some("EIO".into())),
    );
    assert_eq!(app.panes[0].error.as_deref(), Some("EIO"));
    // A clean end of output is no error.
    app.panes[1].error = None;
    send(&mut app, Event::PaneOutputClosed(PaneId(1), None));
    assert_eq!(app.panes[1].error, None);
}

#[test]
fn paste_is_bracketed_only_when_the_pane_asked_for_it() {
    let mut app = app(2, 24, 80);
    assert_eq!(
        send(&mut app, Event::Paste("ls\npwd\r\n".into())),
        write(0, b"ls\rpwd\r"),
        "line ends become CR, unbracketed by default"
    );

    app.panes[0].screen().process(b"\x1b[?2004h");
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
    app.panes[0].screen().process(b"\x1b[?2004l");
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
        app.panes[0].screen().process(b"\x1b[?1h");
        assert_eq!(
            send(&mut app, plain(code)),
            write(0, application),
            "{code:?}"
        );
        // Pane 2 is still in normal mode.
        prefix(&mut app, KeyCode::Char('o'));
        assert_eq!(send(&mut app, plain(code)), write(1, normal), "{code:?}");
        prefix(&mut app, KeyCode::Char('o'));
        app.panes[0].screen().process(b"\x1b[?1l");
        assert_eq!(send(&mut app, plain(code)), write(0, normal), "{code:?}");
    }
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
        assert_eq!(app.focus, focus, "{button:?} at ({column}, {row})");
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
        assert_eq!(app.focus, 0, "{kind:?}");
    }
}

#[test]
fn the_help_overlay_swallows_the_key_that_closes_it() {
    let mut app = app(1, 24, 80);
    assert_eq!(prefix(&mut app, KeyCode::Char('?')), vec![]);
    assert!(app.show_help);
    assert_eq!(
        send(&mut app, ch('x')),
        vec![],
        "the closing key is not typed"
    );
    assert!(!app.show_help);
    assert_eq!(send(&mut app, ch('y')), write(0, b"y"));
}

#[test]
fn prefix_question_mark_hides_the_help_without_typing_into_the_pane() {
    // KEY_HELP says `C-b ?` shows *or hides* the help.
    let mut app = app(1, 24, 80);
    prefix(&mut app, KeyCode::Char('?'));
    assert!(app.show_help);
    let closing = send(&mut app, key(KeyCode::Char('b'), KeyModifiers::CONTROL));
    let after = send(&mut app, ch('?'));
    assert!(!app.show_help);
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
                    let p = app.pane_size(PaneId(i));
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
            app.panes[0].screen().process("漢字 wide 😀".as_bytes());
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
