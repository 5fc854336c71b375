//! Supervision at the App layer: restart policies with their backoff and
//! limit, the pane keys that turn automatic restarts off and on, `depends_on`
//! with its three conditions, `autostart = false`, and how a shutdown stops
//! all of it. Panes have no PTY; a test plays the runtime, feeding
//! `PaneStarted` after each `Effect::Start` and `PaneExited` when a run ends,
//! at instants it picks itself, so nothing sleeps.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use opmux::app::{App, Effect};
use opmux::config::{Condition, Dependency, PaneSpec, ReadyPattern, RestartPolicy};
use opmux::event::Event;
use opmux::pane::{PaneState, Supervision};
use opmux::process::ExitStatus;
use opmux::session::Command;
use opmux::ui::state_label;
use opmux::{PaneId, Size};

const SIZE: Size = Size::new(24, 80);

/// How long a quick failure runs: far below the 10 s that reset the backoff.
const QUICK: Duration = Duration::from_millis(100);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn spec(name: &str) -> PaneSpec {
    PaneSpec::new(name, vec!["/bin/false".into()])
}

/// A pane restarted by `policy` at most `max` times (`None`: no limit).
fn supervised(name: &str, policy: RestartPolicy, max: Option<u32>) -> PaneSpec {
    let mut spec = spec(name);
    spec.restart = policy;
    spec.max_restarts = max;
    spec
}

/// `spec`, waiting for pane `on` to reach `condition`.
fn after(mut spec: PaneSpec, on: usize, condition: Condition) -> PaneSpec {
    spec.depends_on.push(Dependency {
        pane: on,
        condition,
    });
    spec
}

/// A pane that counts as ready once it prints `pattern`.
fn announcing(name: &str, pattern: &str) -> PaneSpec {
    let mut spec = spec(name);
    spec.ready = Some(ReadyPattern(regex::Regex::new(pattern).unwrap()));
    spec
}

fn manual(mut spec: PaneSpec) -> PaneSpec {
    spec.autostart = false;
    spec
}

/// A pid no test ever signals: `App` only names it in states.
fn fake_pid(pane: usize) -> Pid {
    Pid::from_raw(999_001 + pane as i32)
}

fn start(pane: usize) -> Effect {
    Effect::Start(PaneId(pane))
}

fn signal(pane: usize, signal: Signal) -> Effect {
    Effect::Signal(PaneId(pane), signal)
}

fn failed(code: i32) -> ExitStatus {
    ExitStatus::Exited(code)
}

/// The runtime reporting that the run it was asked for is up.
fn started(app: &mut App, pane: usize, now: Instant) -> Vec<Effect> {
    let event = Event::PaneStarted {
        pane: PaneId(pane),
        pid: fake_pid(pane),
    };
    app.update(event, now)
}

/// The runtime reporting that run `run` printed its `ready` line.
fn ready(app: &mut App, pane: usize, run: u32, now: Instant) -> Vec<Effect> {
    let event = Event::PaneReady {
        pane: PaneId(pane),
        run,
    };
    app.update(event, now)
}

/// The run's main process was reaped and nothing of the run is left.
fn exit(app: &mut App, pane: usize, status: ExitStatus, now: Instant) -> Vec<Effect> {
    let event = Event::PaneExited {
        pane: PaneId(pane),
        status,
        left: 0,
    };
    app.update(event, now)
}

fn tick(app: &mut App, now: Instant) -> Vec<Effect> {
    app.update(Event::Tick, now)
}

fn key(c: char) -> Event {
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Event::Key(KeyEvent::new(KeyCode::Char(c), modifiers))
}

/// Presses C-b, then `c` at `now`; returns what the second key asked for.
fn command_at(app: &mut App, c: char, now: Instant) -> Vec<Effect> {
    let prefix = Event::Key(KeyEvent::new(KeyCode::Char('b'), KeyModifiers::CONTROL));
    assert_eq!(app.update(prefix, now), vec![], "the prefix alone");
    app.update(key(c), now)
}

/// Focuses pane `pane` (0-based) with C-b and its number.
fn focus(app: &mut App, pane: usize, now: Instant) {
    let digit = char::from_digit(pane as u32 + 1, 10).unwrap();
    assert_eq!(command_at(app, digit, now), vec![]);
    assert_eq!(app.view.focus, pane);
}

fn title(app: &App, pane: usize, now: Instant) -> String {
    state_label(&app.session.panes[pane], now)
}

/// When the pending automatic restart of `pane` is due.
fn restart_at(app: &App, pane: usize) -> Instant {
    match app.session.panes[pane].state {
        PaneState::Restarting { at, .. } => at,
        ref other => panic!("pane {pane} is not restarting but {other:?}"),
    }
}

/// Carries out `effects` the way the runtime does (`apply` in src/tui.rs):
/// each `Start` is followed at once by its `PaneStarted`, whose own effects
/// are carried out before the next effect of the list. Returns the panes
/// started, in order.
fn settle(app: &mut App, effects: Vec<Effect>, now: Instant) -> Vec<usize> {
    let mut panes = Vec::new();
    for effect in effects {
        if let Effect::Start(PaneId(pane)) = effect {
            panes.push(pane);
            let more = started(app, pane, now);
            panes.extend(settle(app, more, now));
        }
    }
    panes
}

/// An app of `specs` after `App::start`, every pane it started running since `t0`.
fn booted(specs: Vec<PaneSpec>, t0: Instant) -> App {
    let mut app = App::new(specs, SIZE);
    let effects = app.start();
    settle(&mut app, effects, t0);
    app
}

/// One pane with `policy` and `max`, running since `t0`.
fn one(policy: RestartPolicy, max: Option<u32>, t0: Instant) -> App {
    let app = booted(vec![supervised("api", policy, max)], t0);
    assert_eq!(app.session.panes[0].run, 1);
    app
}

/// Runs of pane 0 that each fail after `QUICK`, starting with the one running
/// since `now`: each is restarted when due. Returns the restart delays seen
/// and when the last restarted run started.
fn quick_failures(app: &mut App, mut now: Instant, n: usize) -> (Vec<Duration>, Instant) {
    let mut delays = Vec::new();
    for _ in 0..n {
        now += QUICK;
        assert_eq!(exit(app, 0, failed(1), now), vec![]);
        let at = restart_at(app, 0);
        delays.push(at - now);
        assert_eq!(tick(app, at), vec![start(0)]);
        assert_eq!(started(app, 0, at), vec![]);
        now = at;
    }
    (delays, now)
}

// ---------------------------------------------------------------------------
// Restart policies and their limit

#[test]
fn on_failure_with_three_restarts_runs_a_failing_command_four_times_then_gives_up() {
    let t0 = Instant::now();
    let mut app = App::new(
        vec![supervised("api", RestartPolicy::OnFailure, Some(3))],
        SIZE,
    );
    let first = app.start();
    assert_eq!(first, vec![start(0)]);
    let mut starts = first.len();
    let mut now = t0;
    assert_eq!(started(&mut app, 0, now), vec![]);
    let mut titles = Vec::new();
    // Bounded, so a pane that never gives up fails the test instead of hanging it.
    for _ in 0..10 {
        now += QUICK;
        assert_eq!(exit(&mut app, 0, failed(1), now), vec![]);
        titles.push(title(&app, 0, now));
        let PaneState::Restarting { at, .. } = app.session.panes[0].state else {
            break;
        };
        now = at;
        let effects = tick(&mut app, now);
        assert_eq!(effects, vec![start(0)]);
        starts += effects.len();
        assert_eq!(started(&mut app, 0, now), vec![]);
    }
    assert_eq!(starts, 4, "the first run and three restarts");
    assert_eq!(app.session.panes[0].run, 4);
    assert_eq!(
        titles,
        [
            "exited 1 · restarting in 1s (1/3)",
            "exited 1 · restarting in 1s (2/3)",
            "exited 1 · restarting in 2s (3/3)",
            "exited 1 after 0.1s · gave up after 3 restarts",
        ]
    );
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status: failed(1),
            ran: QUICK
        }
    );
    assert!(app.session.panes[0].supervision.gave_up);
    assert_eq!(app.session.next_deadline(), None);
    assert!(!app.session.counting_down());
    assert_eq!(tick(&mut app, now + secs(3600)), vec![]);
    assert_eq!(app.session.panes[0].run, 4);
}

#[test]
fn the_restart_policy_decides_which_exits_start_the_pane_again() {
    use RestartPolicy::{Always, Never, OnFailure};
    let killed = ExitStatus::Signaled(Signal::SIGKILL);
    // (policy, how the run ended, whether it is started again)
    let cases = [
        (Never, failed(0), false),
        (Never, failed(1), false),
        (Never, killed, false),
        (OnFailure, failed(0), false),
        (OnFailure, failed(1), true),
        (OnFailure, failed(127), true),
        (OnFailure, killed, true),
        (Always, failed(0), true),
        (Always, failed(1), true),
        (Always, killed, true),
    ];
    for (policy, status, again) in cases {
        let label = format!("{} after {status:?}", policy.label());
        let t0 = Instant::now();
        let mut app = one(policy, None, t0);
        let now = t0 + secs(2);
        assert_eq!(exit(&mut app, 0, status, now), vec![], "{label}");
        let expected = if again {
            PaneState::Restarting {
                at: now + millis(500),
                attempt: 1,
                status,
                ran: secs(2),
            }
        } else {
            PaneState::Exited {
                status,
                ran: secs(2),
            }
        };
        assert_eq!(app.session.panes[0].state, expected, "{label}");
        assert!(!app.session.panes[0].supervision.gave_up, "{label}");
        let later = tick(&mut app, now + secs(60));
        let expected = if again { vec![start(0)] } else { vec![] };
        assert_eq!(later, expected, "{label}");
        assert_eq!(app.session.panes[0].run, 1 + u32::from(again), "{label}");
    }
}

#[test]
fn restart_titles_count_attempts_against_the_limit_if_there_is_one() {
    // (max_restarts, title after the first quick failure, after the second)
    let cases = [
        (Some(5), "(1/5)", "(2/5)"),
        (Some(1), "(1/1)", "gave up after 1 restarts"),
        (None, "(1)", "(2)"),
    ];
    for (max, first, second) in cases {
        let t0 = Instant::now();
        let mut app = one(RestartPolicy::Always, max, t0);
        let now = t0 + QUICK;
        exit(&mut app, 0, failed(1), now);
        let shown = title(&app, 0, now);
        assert_eq!(
            shown,
            format!("exited 1 · restarting in 1s {first}"),
            "{max:?}"
        );
        let at = restart_at(&app, 0);
        assert_eq!(tick(&mut app, at), vec![start(0)], "{max:?}");
        started(&mut app, 0, at);
        exit(&mut app, 0, failed(1), at + QUICK);
        let shown = title(&app, 0, at + QUICK);
        assert!(shown.ends_with(second), "{max:?}: {shown}");
    }
}

#[test]
fn a_manual_start_after_giving_up_grants_a_fresh_set_of_restarts() {
    let t0 = Instant::now();
    let mut app = one(RestartPolicy::OnFailure, Some(1), t0);
    let (_, now) = quick_failures(&mut app, t0, 1);
    let now = now + QUICK;
    exit(&mut app, 0, failed(1), now);
    assert!(app.session.panes[0].supervision.gave_up);

    assert_eq!(command_at(&mut app, 's', now), vec![start(0)]);
    assert_eq!(app.session.panes[0].supervision, Supervision::default());
    started(&mut app, 0, now);
    exit(&mut app, 0, failed(1), now + QUICK);
    assert_eq!(
        title(&app, 0, now + QUICK),
        "exited 1 · restarting in 1s (1/1)"
    );
}

// ---------------------------------------------------------------------------
// Backoff

#[test]
fn quick_failures_wait_twice_as_long_each_time_up_to_30_seconds() {
    let t0 = Instant::now();
    let mut app = one(RestartPolicy::OnFailure, None, t0);
    let expected = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    let mut now = t0;
    for (i, &delay) in expected.iter().enumerate() {
        let attempt = i as u32 + 1;
        now += QUICK;
        assert_eq!(
            exit(&mut app, 0, failed(1), now),
            vec![],
            "attempt {attempt}"
        );
        let at = restart_at(&app, 0);
        assert_eq!(at - now, millis(delay), "attempt {attempt}");
        let shown = delay.div_ceil(1_000);
        assert_eq!(
            title(&app, 0, now),
            format!("exited 1 · restarting in {shown}s ({attempt})")
        );
        // Nothing happens a moment before the restart is due, however often
        // the runtime ticks.
        assert_eq!(tick(&mut app, at - millis(1)), vec![], "attempt {attempt}");
        assert_eq!(tick(&mut app, at - millis(1)), vec![], "attempt {attempt}");
        assert_eq!(restart_at(&app, 0), at);
        assert_eq!(app.session.panes[0].run, attempt);
        assert_eq!(tick(&mut app, at), vec![start(0)], "attempt {attempt}");
        assert_eq!(app.session.panes[0].run, attempt + 1);
        assert_eq!(started(&mut app, 0, at), vec![]);
        assert_eq!(app.session.panes[0].supervision.restarts, attempt);
        now = at;
    }
}

#[test]
fn a_run_that_lasted_10_seconds_resets_the_delay_to_half_a_second() {
    // (how long the run after three quick failures lasted, the delay after
    // it, the delay after the quick failure that follows)
    let cases = [
        (secs(10) - millis(1), secs(4), secs(8)),
        (secs(10), millis(500), secs(1)),
        (secs(3600), millis(500), secs(1)),
    ];
    for (ran, delay, next) in cases {
        let t0 = Instant::now();
        let mut app = one(RestartPolicy::Always, None, t0);
        let (delays, since) = quick_failures(&mut app, t0, 3);
        assert_eq!(delays, [millis(500), secs(1), secs(2)]);

        let now = since + ran;
        exit(&mut app, 0, failed(1), now);
        assert_eq!(restart_at(&app, 0) - now, delay, "after {ran:?}");
        let at = restart_at(&app, 0);
        assert_eq!(tick(&mut app, at), vec![start(0)]);
        started(&mut app, 0, at);
        exit(&mut app, 0, failed(1), at + QUICK);
        assert_eq!(restart_at(&app, 0) - (at + QUICK), next, "after {ran:?}");
        // The streak's count goes on: only a manual start resets it.
        assert_eq!(
            app.session.panes[0].supervision.restarts, 5,
            "after {ran:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Pane keys and automatic restarts

#[test]
fn a_manual_stop_is_never_undone_by_the_restart_policy() {
    use RestartPolicy::{Always, OnFailure};
    let statuses = [failed(0), failed(1), ExitStatus::Signaled(Signal::SIGTERM)];
    for policy in [OnFailure, Always] {
        for status in statuses {
            let label = format!("{} after {status:?}", policy.label());
            let t0 = Instant::now();
            let mut app = one(policy, None, t0);
            let stop = command_at(&mut app, 'x', t0 + secs(5));
            assert_eq!(
                stop,
                [signal(0, Signal::SIGTERM), signal(0, Signal::SIGCONT)],
                "{label}"
            );
            let now = t0 + secs(6);
            assert_eq!(exit(&mut app, 0, status, now), vec![], "{label}");
            let ran = secs(6);
            assert_eq!(
                app.session.panes[0].state,
                PaneState::Exited { status, ran },
                "{label}"
            );
            assert!(!app.session.panes[0].supervision.auto_restart, "{label}");
            assert!(!app.session.panes[0].supervision.gave_up, "{label}");
            assert_eq!(app.session.next_deadline(), None, "{label}");
            assert_eq!(tick(&mut app, now + secs(3600)), vec![], "{label}");
            assert_eq!(app.session.panes[0].run, 1, "{label}");
        }
    }
    // The title says how the run ended and nothing about restarts.
    let t0 = Instant::now();
    let mut app = one(Always, Some(3), t0);
    command_at(&mut app, 'x', t0);
    exit(
        &mut app,
        0,
        ExitStatus::Signaled(Signal::SIGTERM),
        t0 + secs(5),
    );
    assert_eq!(title(&app, 0, t0 + secs(5)), "killed SIGTERM after 5.0s");
}

#[test]
fn stop_on_a_restarting_pane_cancels_the_pending_restart() {
    let t0 = Instant::now();
    let mut app = one(RestartPolicy::Always, Some(5), t0);
    let (_, since) = quick_failures(&mut app, t0, 1);
    let now = since + QUICK;
    exit(&mut app, 0, failed(3), now);
    let at = restart_at(&app, 0);
    assert!(app.session.counting_down());
    assert_eq!(app.session.next_deadline(), Some(at));

    assert_eq!(command_at(&mut app, 'x', now), vec![]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status: failed(3),
            ran: QUICK
        }
    );
    assert_eq!(title(&app, 0, now), "exited 3 after 0.1s");
    assert_eq!(app.session.next_deadline(), None);
    assert!(!app.session.counting_down());
    assert_eq!(tick(&mut app, at), vec![]);
    assert_eq!(tick(&mut app, at + secs(60)), vec![]);
    assert_eq!(app.session.panes[0].run, 2);
}

#[test]
fn a_manual_start_after_a_stop_turns_restarts_back_on_with_the_count_reset() {
    for key in ['s', 'r'] {
        let t0 = Instant::now();
        let mut app = one(RestartPolicy::OnFailure, Some(3), t0);
        let (_, since) = quick_failures(&mut app, t0, 2);
        let now = since + QUICK;
        exit(&mut app, 0, failed(1), now);
        assert_eq!(title(&app, 0, now), "exited 1 · restarting in 2s (3/3)");
        command_at(&mut app, 'x', now);

        assert_eq!(command_at(&mut app, key, now), vec![start(0)], "C-b {key}");
        assert_eq!(
            app.session.panes[0].supervision,
            Supervision::default(),
            "C-b {key}"
        );
        started(&mut app, 0, now);
        let end = now + QUICK;
        exit(&mut app, 0, failed(1), end);
        assert_eq!(
            app.session.panes[0].state,
            PaneState::Restarting {
                at: end + millis(500),
                attempt: 1,
                status: failed(1),
                ran: QUICK,
            },
            "C-b {key}"
        );
        assert_eq!(title(&app, 0, end), "exited 1 · restarting in 1s (1/3)");
    }
}

#[test]
fn kill_turns_automatic_restarts_off_until_a_manual_start() {
    let t0 = Instant::now();
    let mut app = one(RestartPolicy::Always, None, t0);
    assert_eq!(
        command_at(&mut app, 'X', t0 + secs(1)),
        [signal(0, Signal::SIGKILL)]
    );
    let now = t0 + secs(1);
    let killed = ExitStatus::Signaled(Signal::SIGKILL);
    assert_eq!(exit(&mut app, 0, killed, now), vec![]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status: killed,
            ran: secs(1)
        }
    );
    assert_eq!(tick(&mut app, now + secs(60)), vec![]);
    assert_eq!(app.session.panes[0].run, 1);

    assert_eq!(command_at(&mut app, 's', now), vec![start(0)]);
    started(&mut app, 0, now);
    exit(&mut app, 0, failed(0), now + QUICK);
    assert_eq!(restart_at(&app, 0), now + QUICK + millis(500));
}

#[test]
fn kill_on_a_restarting_pane_cancels_the_pending_restart() {
    let t0 = Instant::now();
    let mut app = one(RestartPolicy::Always, None, t0);
    let now = t0 + QUICK;
    exit(&mut app, 0, failed(1), now);
    let at = restart_at(&app, 0);

    assert_eq!(command_at(&mut app, 'X', now), vec![]);
    assert!(!app.session.panes[0].supervision.auto_restart);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status: failed(1),
            ran: QUICK
        }
    );
    assert_eq!(tick(&mut app, at), vec![]);
    assert_eq!(app.session.panes[0].run, 1);
}

// ---------------------------------------------------------------------------
// Dependencies

#[test]
fn a_pane_waits_for_a_started_dependency_until_it_has_started() {
    let t0 = Instant::now();
    let specs = vec![after(spec("web"), 1, Condition::Started), spec("db")];
    let mut app = App::new(specs, SIZE);
    assert_eq!(app.start(), vec![start(1)]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Waiting { on: "db".into() }
    );
    assert_eq!(title(&app, 0, t0), "waiting for db");
    assert_eq!(app.session.panes[0].run, 0);
    // Waiting is no countdown and no deadline.
    assert!(!app.session.counting_down());
    assert_eq!(app.session.next_deadline(), None);
    assert_eq!(tick(&mut app, t0 + secs(60)), vec![]);

    assert_eq!(started(&mut app, 1, t0), vec![start(0)]);
    assert_eq!(started(&mut app, 0, t0), vec![]);
    assert!(app.session.panes[0].state.is_running());
    assert_eq!(app.session.panes[0].run, 1);
}

#[test]
fn a_started_dependency_counts_only_once_the_runtime_started_it_whatever_the_order() {
    // (index of db, index of web)
    for (db, web) in [(0, 1), (1, 0)] {
        let mut specs = vec![spec("db"), after(spec("web"), 0, Condition::Started)];
        if db == 1 {
            specs = vec![after(spec("web"), 1, Condition::Started), spec("db")];
        }
        let t0 = Instant::now();

        let mut app = App::new(specs.clone(), SIZE);
        assert_eq!(app.start(), vec![start(db)], "db at {db}");
        assert_eq!(title(&app, web, t0), "waiting for db", "db at {db}");
        assert_eq!(started(&mut app, db, t0), vec![start(web)], "db at {db}");

        // A dependency that could not be started keeps its dependents waiting.
        let mut app = App::new(specs, SIZE);
        assert_eq!(app.start(), vec![start(db)], "db at {db}");
        let failure = Event::PaneFailed {
            pane: PaneId(db),
            error: "no such file".into(),
        };
        assert_eq!(app.update(failure, t0), vec![], "db at {db}");
        assert_eq!(title(&app, web, t0), "waiting for db", "db at {db}");
        assert_eq!(app.session.panes[web].run, 0, "db at {db}");
    }
}

#[test]
fn a_ready_dependency_is_met_by_the_ready_line_of_its_current_run_only() {
    let t0 = Instant::now();
    let mut db = announcing("db", "ready to accept connections");
    db.restart = RestartPolicy::OnFailure;
    let specs = vec![db, after(spec("api"), 0, Condition::Ready)];
    let mut app = App::new(specs, SIZE);
    assert_eq!(app.start(), vec![start(0)]);
    assert_eq!(started(&mut app, 0, t0), vec![]);
    assert_eq!(title(&app, 1, t0), "waiting for db");

    // Run 1 dies before it is ready; run 2 starts.
    exit(&mut app, 0, failed(1), t0 + QUICK);
    let at = restart_at(&app, 0);
    assert_eq!(tick(&mut app, at), vec![start(0)]);
    assert_eq!(started(&mut app, 0, at), vec![]);
    assert_eq!(app.session.panes[0].run, 2);
    assert_eq!(title(&app, 0, at), format!("running · pid {}", fake_pid(0)));

    // A late line from run 1 proves nothing about run 2.
    assert_eq!(ready(&mut app, 0, 1, at), vec![]);
    assert!(!app.session.panes[0].supervision.ready);
    assert_eq!(title(&app, 1, at), "waiting for db");
    assert_eq!(app.session.panes[1].run, 0);

    assert_eq!(ready(&mut app, 0, 2, at), vec![start(1)]);
    assert_eq!(
        title(&app, 0, at),
        format!("running · pid {} · ready", fake_pid(0))
    );
    assert_eq!(started(&mut app, 1, at), vec![]);
    assert!(app.session.panes[1].state.is_running());
}

#[test]
fn a_succeeded_dependency_is_met_only_by_exit_status_0() {
    let t0 = Instant::now();
    let specs = vec![spec("migrate"), after(spec("web"), 0, Condition::Succeeded)];
    let mut app = booted(specs, t0);
    assert_eq!(app.session.panes[0].run, 1);
    assert_eq!(title(&app, 1, t0), "waiting for migrate");

    focus(&mut app, 0, t0);
    // (how a run of migrate ends, whether web starts)
    let runs = [
        (failed(1), false),
        (ExitStatus::Signaled(Signal::SIGTERM), false),
        (failed(0), true),
    ];
    for (status, starts) in runs {
        let now = t0 + secs(1);
        let effects = exit(&mut app, 0, status, now);
        let expected = if starts { vec![start(1)] } else { vec![] };
        assert_eq!(effects, expected, "{status:?}");
        if !starts {
            assert_eq!(title(&app, 1, now), "waiting for migrate", "{status:?}");
            assert_eq!(app.session.panes[1].run, 0, "{status:?}");
            // Run migrate again by hand.
            assert_eq!(command_at(&mut app, 's', now), vec![start(0)]);
            assert_eq!(started(&mut app, 0, now), vec![]);
        }
    }
}

#[test]
fn a_chain_of_dependencies_starts_in_order_however_the_panes_are_listed() {
    // a ← b ← c, each waiting for the one before to have started.
    // (the order a, b, c are listed in; for b, c, a see
    // a_waiting_pane_is_started_once_when_others_start_with_it)
    let orders: [[usize; 3]; 2] = [[0, 1, 2], [2, 1, 0]];
    for order in orders {
        // Where each of a, b, c is listed.
        let at = |pane: usize| order.iter().position(|&p| p == pane).unwrap();
        let names = ["a", "b", "c"];
        let mut specs: Vec<PaneSpec> = order.iter().map(|&p| spec(names[p])).collect();
        specs[at(1)] = after(spec("b"), at(0), Condition::Started);
        specs[at(2)] = after(spec("c"), at(1), Condition::Started);
        let t0 = Instant::now();
        let mut app = App::new(specs, SIZE);
        let effects = app.start();
        let started_panes = settle(&mut app, effects, t0);
        let names_started: Vec<&str> = started_panes
            .iter()
            .map(|&i| app.session.panes[i].spec.name.as_str())
            .collect();
        assert_eq!(names_started, ["a", "b", "c"], "listed as {order:?}");
        assert!(
            app.session.panes.iter().all(|p| p.run == 1),
            "listed as {order:?}"
        );
    }

    // Mixed conditions: migrate must succeed, then db must be ready, then
    // the api starts.
    let t0 = Instant::now();
    let specs = vec![
        after(spec("api"), 2, Condition::Ready),
        spec("migrate"),
        after(announcing("db", "ready"), 1, Condition::Succeeded),
    ];
    let mut app = App::new(specs, SIZE);
    assert_eq!(app.start(), vec![start(1)]);
    assert_eq!(started(&mut app, 1, t0), vec![]);
    assert_eq!(title(&app, 0, t0), "waiting for db");
    assert_eq!(title(&app, 2, t0), "waiting for migrate");
    let t1 = t0 + secs(1);
    assert_eq!(exit(&mut app, 1, failed(0), t1), vec![start(2)]);
    assert_eq!(started(&mut app, 2, t1), vec![]);
    assert_eq!(title(&app, 0, t1), "waiting for db");
    assert_eq!(ready(&mut app, 2, 1, t1), vec![start(0)]);
    assert_eq!(started(&mut app, 0, t1), vec![]);
    assert!(app.session.panes.iter().all(|p| p.run == 1));
}

#[test]
fn a_waiting_pane_is_started_once_when_others_start_with_it() {
    let t0 = Instant::now();
    // Two panes wait for db and are woken by the same event: the runtime
    // starts the first, whose PaneStarted must not start the second again.
    let two_waiters = || {
        vec![
            after(spec("web"), 2, Condition::Started),
            after(spec("worker"), 2, Condition::Started),
            spec("db"),
        ]
    };
    let mut app = App::new(two_waiters(), SIZE);
    assert_eq!(app.start(), vec![start(2)]);
    assert_eq!(started(&mut app, 2, t0), vec![start(0), start(1)]);
    assert_eq!(
        started(&mut app, 0, t0),
        vec![],
        "worker's Start is out already"
    );

    // (the panes, listed, and the order the runtime must start them in)
    let chain = vec![
        after(spec("b"), 2, Condition::Started),
        after(spec("c"), 0, Condition::Started),
        spec("a"),
    ];
    let cases = [(two_waiters(), [2, 0, 1]), (chain, [2, 0, 1])];
    for (specs, order) in cases {
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let mut app = App::new(specs, SIZE);
        let effects = app.start();
        assert_eq!(settle(&mut app, effects, t0), order, "{names:?}");
        let runs: Vec<u32> = app.session.panes.iter().map(|p| p.run).collect();
        assert_eq!(runs, [1, 1, 1], "{names:?}");
    }

    // C-b s on a dependency that does not start by itself wakes its dependent.
    let specs = vec![
        after(spec("web"), 1, Condition::Started),
        manual(spec("tool")),
    ];
    let mut app = booted(specs, t0);
    focus(&mut app, 1, t0);
    let effects = command_at(&mut app, 's', t0);
    assert_eq!(settle(&mut app, effects, t0), [1, 0]);
    assert!(app.session.panes.iter().all(|p| p.run == 1));
}

#[test]
fn start_on_a_waiting_pane_starts_it_without_its_dependencies() {
    let t0 = Instant::now();
    let specs = vec![spec("migrate"), after(spec("web"), 0, Condition::Succeeded)];
    let mut app = booted(specs, t0);
    assert_eq!(title(&app, 1, t0), "waiting for migrate");
    focus(&mut app, 1, t0);
    assert_eq!(command_at(&mut app, 's', t0), vec![start(1)]);
    assert_eq!(started(&mut app, 1, t0), vec![]);
    assert!(app.session.panes[1].state.is_running());

    // The dependency's success later does not start it a second time.
    assert_eq!(exit(&mut app, 0, failed(0), t0 + secs(1)), vec![]);
    assert_eq!(app.session.panes[1].run, 1);
}

#[test]
fn stop_on_a_waiting_pane_makes_it_not_started_until_a_manual_start() {
    let t0 = Instant::now();
    let specs = vec![spec("migrate"), after(spec("web"), 0, Condition::Succeeded)];
    let mut app = booted(specs, t0);
    focus(&mut app, 1, t0);
    assert_eq!(command_at(&mut app, 'x', t0), vec![]);
    assert_eq!(app.session.panes[1].state, PaneState::NotStarted);
    assert_eq!(title(&app, 1, t0), "not started");

    // What it waited for happens: it stays where it is.
    let now = t0 + secs(1);
    assert_eq!(exit(&mut app, 0, failed(0), now), vec![]);
    assert_eq!(app.session.panes[1].state, PaneState::NotStarted);
    assert_eq!(app.session.panes[1].run, 0);

    // C-b s starts it, its dependency being met now.
    assert_eq!(command_at(&mut app, 's', now), vec![start(1)]);
}

// ---------------------------------------------------------------------------
// autostart = false

#[test]
fn a_pane_without_autostart_waits_for_c_b_s() {
    let t0 = Instant::now();
    let specs = vec![spec("web"), manual(spec("tool"))];
    let mut app = App::new(specs, SIZE);
    assert_eq!(app.start(), vec![start(0)]);
    assert_eq!(app.session.panes[1].state, PaneState::NotStarted);
    assert_eq!(app.session.panes[1].run, 0);
    assert_eq!(title(&app, 1, t0), "not started");
    assert_eq!(tick(&mut app, t0 + secs(60)), vec![]);

    focus(&mut app, 1, t0);
    assert_eq!(command_at(&mut app, 's', t0), vec![start(1)]);
    assert_eq!(started(&mut app, 1, t0), vec![]);
    assert!(app.session.panes[1].state.is_running());
}

#[test]
fn c_b_s_on_a_pane_without_autostart_still_waits_for_its_dependencies() {
    let t0 = Instant::now();
    let specs = vec![
        spec("migrate"),
        manual(after(spec("seed"), 0, Condition::Succeeded)),
    ];
    let mut app = booted(specs, t0);
    assert_eq!(app.session.panes[1].state, PaneState::NotStarted);

    focus(&mut app, 1, t0);
    assert_eq!(command_at(&mut app, 's', t0), vec![]);
    assert_eq!(title(&app, 1, t0), "waiting for migrate");
    assert_eq!(app.session.panes[1].run, 0);
    assert_eq!(exit(&mut app, 0, failed(0), t0 + secs(1)), vec![start(1)]);
}

// ---------------------------------------------------------------------------
// Shutdown, deadlines

#[test]
fn nothing_is_restarted_or_started_for_a_dependency_during_a_shutdown() {
    let t0 = Instant::now();
    let specs = vec![
        supervised("crashy", RestartPolicy::Always, None),
        supervised("flaky", RestartPolicy::OnFailure, None),
        spec("migrate"),
        after(spec("web"), 2, Condition::Succeeded),
        announcing("db", "ready"),
        after(spec("api"), 4, Condition::Ready),
    ];
    let mut app = booted(specs, t0);
    let runs = |app: &App| app.session.panes.iter().map(|p| p.run).collect::<Vec<_>>();
    assert_eq!(runs(&app), [1, 1, 1, 0, 1, 0]);

    // flaky fails and is due to restart half a second later.
    let t1 = t0 + secs(1);
    exit(&mut app, 1, failed(1), t1);
    let at = restart_at(&app, 1);

    let quit = command_at(&mut app, 'q', t1);
    assert!(app.session.shutdown.is_some());
    assert!(
        !quit.iter().any(|e| matches!(e, Effect::Start(_))),
        "{quit:?}"
    );

    let mut later = Vec::new();
    later.extend(tick(&mut app, at));
    later.extend(exit(&mut app, 0, failed(0), t1 + QUICK));
    later.extend(exit(&mut app, 2, failed(0), t1 + QUICK));
    later.extend(ready(&mut app, 4, 1, t1 + QUICK));
    later.extend(tick(&mut app, t1 + secs(60)));
    assert!(
        !later.iter().any(|e| matches!(e, Effect::Start(_))),
        "{later:?}"
    );
    assert_eq!(runs(&app), [1, 1, 1, 0, 1, 0]);
    assert_eq!(
        app.session.panes[0].state,
        PaneState::Exited {
            status: failed(0),
            ran: secs(1) + QUICK
        }
    );
    // A shutdown drops pending starts: waiting panes go back to not started.
    assert_eq!(title(&app, 3, t1), "not started");
    assert_eq!(title(&app, 5, t1), "not started");
}

#[test]
fn next_deadline_and_counting_down_include_pending_restarts() {
    let t0 = Instant::now();
    let specs = vec![
        supervised("flaky", RestartPolicy::OnFailure, None),
        spec("web"),
    ];
    let mut app = booted(specs, t0);
    assert_eq!(app.session.next_deadline(), None);
    assert!(!app.session.counting_down());

    let t1 = t0 + QUICK;
    exit(&mut app, 0, failed(1), t1);
    assert_eq!(app.session.next_deadline(), Some(t1 + millis(500)));
    assert!(app.session.counting_down());

    // A stop whose deadline comes later does not hide the earlier restart,
    // and the restart does not hide it once done.
    focus(&mut app, 1, t1);
    command_at(&mut app, 'x', t1);
    assert_eq!(app.session.next_deadline(), Some(t1 + millis(500)));
    assert_eq!(tick(&mut app, t1 + millis(500)), vec![start(0)]);
    started(&mut app, 0, t1 + millis(500));
    assert_eq!(app.session.next_deadline(), Some(t1 + secs(5)));
    exit(
        &mut app,
        1,
        ExitStatus::Signaled(Signal::SIGTERM),
        t1 + secs(1),
    );
    assert_eq!(app.session.next_deadline(), None);
    assert!(!app.session.counting_down());

    // The next quick failure of the streak is due a second later.
    let t2 = t1 + secs(2);
    exit(&mut app, 0, failed(1), t2);
    assert_eq!(app.session.next_deadline(), Some(t2 + secs(1)));
    assert!(app.session.counting_down());
}

// ---------------------------------------------------------------------------
// Regressions from review

#[test]
fn a_pane_that_cannot_start_is_retried_by_its_policy_and_not_otherwise() {
    let t0 = Instant::now();
    for (policy, retried) in [
        (RestartPolicy::Always, true),
        (RestartPolicy::OnFailure, true),
        (RestartPolicy::Never, false),
    ] {
        let mut app = App::new(vec![supervised("api", policy, Some(2))], SIZE);
        assert_eq!(app.start(), vec![start(0)]);
        let failed_start = Event::PaneFailed {
            pane: PaneId(0),
            error: "program `api` is not on $PATH".into(),
        };
        assert_eq!(app.update(failed_start, t0), vec![]);
        let restarting = matches!(app.session.panes[0].state, PaneState::Restarting { .. });
        assert_eq!(
            restarting, retried,
            "{policy:?}: {:?}",
            app.session.panes[0].state
        );
        if retried {
            let at = restart_at(&app, 0);
            assert_eq!(tick(&mut app, at), vec![start(0)]);
        }
    }
}

#[test]
fn restart_on_a_pane_never_started_still_waits_for_its_dependencies() {
    let t0 = Instant::now();
    let db = announcing("db", "ready");
    let web = manual(after(spec("web"), 0, Condition::Ready));
    let mut app = booted(vec![db, web], t0);
    focus(&mut app, 1, t0);
    assert_eq!(command_at(&mut app, 'r', t0), vec![]);
    assert_eq!(
        app.session.panes[1].state,
        PaneState::Waiting { on: "db".into() }
    );
}

#[test]
fn readiness_ends_with_the_run_that_printed_it() {
    let t0 = Instant::now();
    let db = announcing("db", "ready");
    let web = manual(after(spec("web"), 0, Condition::Ready));
    let mut app = booted(vec![db, web], t0);
    ready(&mut app, 0, 1, t0);
    exit(&mut app, 0, failed(1), t0 + secs(1));
    focus(&mut app, 1, t0 + secs(1));
    // db is ready no more: web waits for its next run's ready line.
    assert_eq!(command_at(&mut app, 's', t0 + secs(1)), vec![]);
    assert_eq!(
        app.session.panes[1].state,
        PaneState::Waiting { on: "db".into() }
    );
}

#[test]
fn a_manual_restart_leaves_the_dependency_ready_until_its_run_ends() {
    let t0 = Instant::now();
    let db = announcing("db", "ready");
    let web = manual(after(spec("web"), 0, Condition::Ready));
    let mut app = booted(vec![db, web], t0);
    ready(&mut app, 0, 1, t0);
    focus(&mut app, 0, t0);
    // C-b r asks run 1 to stop; until it has ended, it is still the ready run.
    let stop = vec![signal(0, Signal::SIGTERM), signal(0, Signal::SIGCONT)];
    assert_eq!(command_at(&mut app, 'r', t0), stop);
    focus(&mut app, 1, t0);
    assert_eq!(command_at(&mut app, 's', t0), vec![start(1)]);
}

#[test]
fn a_manual_restart_leaves_a_succeeded_dependency_met() {
    let t0 = Instant::now();
    let specs = vec![
        spec("migrate"),
        manual(after(spec("seed"), 0, Condition::Succeeded)),
    ];
    let mut app = booted(specs, t0);
    let now = t0 + secs(1);
    assert_eq!(exit(&mut app, 0, failed(0), now), vec![]);
    // migrate runs again by hand: its earlier exit 0 still counts.
    focus(&mut app, 0, now);
    assert_eq!(command_at(&mut app, 'r', now), vec![start(0)]);
    assert_eq!(started(&mut app, 0, now), vec![]);
    focus(&mut app, 1, now);
    assert_eq!(command_at(&mut app, 's', now), vec![start(1)]);
}

#[test]
fn panes_restarted_together_start_again_in_dependency_order() {
    let t0 = Instant::now();
    // web (0) waits for db (1) to have started.
    let specs = vec![after(spec("web"), 1, Condition::Started), spec("db")];
    let mut app = booted(specs, t0);
    let both = vec![PaneId(0), PaneId(1)];
    let effects = app.command(Command::RestartAll(both), t0);
    // Stopped in dependency order: db first.
    let stops: Vec<Effect> = effects
        .into_iter()
        .filter(|e| matches!(e, Effect::Signal(_, Signal::SIGTERM)))
        .collect();
    assert_eq!(
        stops,
        [signal(1, Signal::SIGTERM), signal(0, Signal::SIGTERM)]
    );
    // web is gone first, but waits for db's next run, not its last.
    assert_eq!(
        exit(&mut app, 0, ExitStatus::Signaled(Signal::SIGTERM), t0),
        vec![]
    );
    assert!(
        title(&app, 0, t0).contains("waiting for db"),
        "{}",
        title(&app, 0, t0)
    );
    assert_eq!(
        exit(&mut app, 1, ExitStatus::Signaled(Signal::SIGTERM), t0),
        vec![start(1)]
    );
    assert_eq!(started(&mut app, 1, t0), vec![start(0)]);
    // A restart of web alone, later, starts it at once.
    assert_eq!(started(&mut app, 0, t0), vec![]);
    let effects = app.command(Command::RestartAll(vec![PaneId(0)]), t0);
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert_eq!(
        exit(&mut app, 0, ExitStatus::Signaled(Signal::SIGTERM), t0),
        vec![start(0)]
    );
}

#[test]
fn a_dependent_restarted_on_a_change_does_not_wait_for_a_dependency_left_stopped() {
    let t0 = Instant::now();
    let root = std::env::temp_dir();
    let watch =
        opmux::config::watch::Watch::new(&root, vec!["*.rs".into()], Vec::new(), millis(100))
            .unwrap();
    // db (0) watches files and restarts its dependents; web (1) waits for
    // db to have started.
    let mut db = spec("db");
    db.watch = Some(watch);
    db.restart_dependents = true;
    let specs = vec![db, after(spec("web"), 0, Condition::Started)];
    let mut app = booted(specs, t0);
    // db is stopped by hand: a change does not start it again.
    app.command(Command::Stop(PaneId(0)), t0);
    exit(&mut app, 0, ExitStatus::Signaled(Signal::SIGTERM), t0);
    let changed = Event::FilesChanged(vec![root.join("main.rs")]);
    assert_eq!(app.update(changed, t0), vec![]);
    // web alone is stopped.
    let effects = tick(&mut app, t0 + millis(100));
    assert!(effects.contains(&signal(1, Signal::SIGTERM)), "{effects:?}");
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Signal(PaneId(0), _) | Effect::Start(_))),
        "{effects:?}"
    );
    // web starts again at once: db has no next run to wait for.
    assert_eq!(
        exit(
            &mut app,
            1,
            ExitStatus::Signaled(Signal::SIGTERM),
            t0 + millis(100)
        ),
        vec![start(1)]
    );
}
