//! A view on its own: one client's focus, prefix, prompt and scroll mode,
//! reading a `Session` and turning input into `Command`s, which a test checks
//! before it carries any of them out. Several views on one session show that
//! what belongs to a client stays with it.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nix::unistd::Pid;
use opmux::config::{LayoutKind, PaneSpec};
use opmux::event::Event;
use opmux::keys::Keymap;
use opmux::session::{Command, Effect, Session};
use opmux::view::View;
use opmux::{PaneId, Size};

fn running(n: usize) -> Session {
    let specs = (0..n)
        .map(|i| PaneSpec::new(format!("p{}", i + 1), vec!["/bin/true".into()]))
        .collect();
    let mut session = Session::new(specs, Size::new(24, 80), LayoutKind::Tiled);
    session.start();
    for i in 0..n {
        let event = Event::PaneStarted {
            pane: PaneId(i),
            pid: Pid::from_raw(999_001 + i as i32),
        };
        session.handle(event, Instant::now());
    }
    session
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl_b() -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL))
}

/// The commands `view` sends for the prefix followed by `code`.
fn prefixed(view: &mut View, session: &Session, code: KeyCode) -> Vec<Command> {
    assert_eq!(view.input(session, ctrl_b()), vec![]);
    view.input(session, key(code))
}

/// Carries out `commands` as a front end would, for the tests that need
/// the session to move on.
fn apply(session: &mut Session, commands: Vec<Command>) -> Vec<Effect> {
    let mut effects = Vec::new();
    for command in commands {
        effects.extend(session.command(command, Instant::now()));
    }
    effects
}

#[test]
fn typing_becomes_a_write_to_the_focused_pane_without_touching_the_session() {
    let session = running(2);
    let mut view = View::new(&session, Keymap::default());
    assert_eq!(
        view.input(&session, key(KeyCode::Char('a'))),
        vec![Command::Write(PaneId(0), b"a".to_vec())]
    );
    prefixed(&mut view, &session, KeyCode::Right);
    assert_eq!(view.focus, 1);
    assert_eq!(
        view.input(&session, key(KeyCode::Enter)),
        vec![Command::Write(PaneId(1), b"\r".to_vec())]
    );
}

#[test]
fn pane_keys_become_commands_naming_the_focused_pane() {
    let session = running(3);
    let mut view = View::new(&session, Keymap::default());
    prefixed(&mut view, &session, KeyCode::Char('3'));
    let table = [
        ('x', Command::Stop(PaneId(2))),
        ('s', Command::Start(PaneId(2))),
        ('r', Command::Restart(PaneId(2))),
        ('X', Command::Kill(PaneId(2))),
        ('&', Command::Close(PaneId(2))),
        ('z', Command::Zoom(Some(PaneId(2)))),
        (' ', Command::NextLayout),
        (
            'q',
            Command::Quit {
                exit_code: 0,
                escalate: true,
            },
        ),
    ];
    for (c, command) in table {
        assert_eq!(
            prefixed(&mut view, &session, KeyCode::Char(c)),
            vec![command],
            "C-b {c}"
        );
    }
}

#[test]
fn two_views_keep_their_own_focus_prefix_and_help() {
    let session = running(3);
    let mut one = View::new(&session, Keymap::default());
    let mut two = View::new(&session, Keymap::default());
    prefixed(&mut one, &session, KeyCode::Char('2'));
    prefixed(&mut two, &session, KeyCode::Char('3'));
    assert_eq!((one.focus, two.focus), (1, 2));
    // A prefix typed in one view arms nothing in the other.
    assert_eq!(one.input(&session, ctrl_b()), vec![]);
    assert_eq!(
        two.input(&session, key(KeyCode::Char('z'))),
        vec![Command::Write(PaneId(2), b"z".to_vec())]
    );
    assert_eq!(
        one.input(&session, key(KeyCode::Char('?'))),
        vec![],
        "C-b ? in the first view"
    );
    assert!(one.show_help && !two.show_help);
}

#[test]
fn moving_the_focus_while_zoomed_moves_the_zoom() {
    let mut session = running(3);
    let mut view = View::new(&session, Keymap::default());
    let zoom = prefixed(&mut view, &session, KeyCode::Char('z'));
    apply(&mut session, zoom);
    assert_eq!(session.zoom, Some(PaneId(0)));
    assert_eq!(
        prefixed(&mut view, &session, KeyCode::Char('o')),
        vec![Command::Zoom(Some(PaneId(1)))]
    );
    assert_eq!(
        prefixed(&mut view, &session, KeyCode::Char('z')),
        vec![Command::Zoom(None)]
    );
}

#[test]
fn the_new_pane_prompt_gives_an_add_with_the_sessions_stop_timeout() {
    let mut session = running(1);
    session.default_stop_timeout = std::time::Duration::from_secs(9);
    let mut view = View::new(&session, Keymap::default());
    assert_eq!(prefixed(&mut view, &session, KeyCode::Char('c')), vec![]);
    assert!(view.prompt.is_some());
    for c in "top".chars() {
        assert_eq!(view.input(&session, key(KeyCode::Char(c))), vec![]);
    }
    let commands = view.input(&session, key(KeyCode::Enter));
    let [Command::Add(spec)] = commands.as_slice() else {
        panic!("expected one Add, got {commands:?}");
    };
    assert_eq!(spec.name, "top");
    assert_eq!(spec.stop_timeout, std::time::Duration::from_secs(9));
    assert!(view.prompt.is_none());
}

#[test]
fn scroll_mode_belongs_to_the_view_that_entered_it() {
    let session = running(1);
    session.panes[0].screen().process(b"one\r\ntwo\r\n");
    let mut one = View::new(&session, Keymap::default());
    let two = View::new(&session, Keymap::default());
    prefixed(&mut one, &session, KeyCode::Char('['));
    assert!(one.scroll(PaneId(0)).is_some());
    assert!(two.scroll(PaneId(0)).is_none());
    // In scroll mode keys move the view instead of reaching the program.
    assert_eq!(one.input(&session, key(KeyCode::Char('k'))), vec![]);
    assert_eq!(one.input(&session, key(KeyCode::Char('q'))), vec![]);
    assert!(one.scroll(PaneId(0)).is_none());
}

#[test]
fn a_pane_removed_elsewhere_moves_the_focus_onto_a_pane_that_exists() {
    let mut session = running(3);
    let mut view = View::new(&session, Keymap::default());
    prefixed(&mut view, &session, KeyCode::Char('3'));
    let t0 = Instant::now();
    // Another client closed the last pane.
    session.command(Command::Kill(PaneId(2)), t0);
    session.handle(
        Event::PaneExited {
            pane: PaneId(2),
            status: opmux::process::ExitStatus::Exited(0),
            left: 0,
        },
        t0,
    );
    session.command(Command::Close(PaneId(2)), t0);
    let (index, _, _) = session.remove_pane(PaneId(2), t0).unwrap();
    view.pane_removed(index, PaneId(2), session.panes.len());
    assert_eq!(view.focus, 1);
    assert_eq!(view.focused(&session), Some(PaneId(1)));
}

#[test]
fn nothing_is_sent_to_a_pane_once_the_session_stops() {
    let mut session = running(2);
    let mut view = View::new(&session, Keymap::default());
    apply(
        &mut session,
        vec![Command::Quit {
            exit_code: 0,
            escalate: false,
        }],
    );
    assert_eq!(view.input(&session, key(KeyCode::Char('a'))), vec![]);
    assert_eq!(view.input(&session, Event::Paste("x".into())), vec![]);
    assert_eq!(prefixed(&mut view, &session, KeyCode::Char('c')), vec![]);
    assert!(view.prompt.is_none(), "no new pane once stopping");
}

#[test]
fn c_b_capital_r_restarts_the_focused_panes_group_in_dependency_order() {
    use opmux::config::{Condition, Dependency};
    let mut specs: Vec<PaneSpec> = ["api", "web", "db"]
        .iter()
        .map(|name| PaneSpec::new(*name, vec!["/bin/true".into()]))
        .collect();
    specs[0].group = Some("backend".into());
    specs[2].group = Some("backend".into());
    // api waits for db: db restarts first.
    specs[0].depends_on = vec![Dependency {
        pane: 2,
        condition: Condition::Started,
    }];
    let mut session = Session::new(specs, Size::new(24, 80), LayoutKind::Tiled);
    session.start();
    let mut view = View::new(&session, Keymap::default());
    let upper_r = KeyCode::Char('R');
    assert_eq!(
        prefixed(&mut view, &session, upper_r),
        [Command::RestartAll(vec![PaneId(2), PaneId(0)])]
    );
    // A pane of no group restarts alone.
    view.focus_pane(&session, PaneId(1));
    assert_eq!(
        prefixed(&mut view, &session, upper_r),
        [Command::RestartAll(vec![PaneId(1)])]
    );
}
