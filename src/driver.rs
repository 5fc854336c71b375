//! The one event loop every front end runs on: the server, which draws for
//! terminals attached over a socket, and the prefixed-line front end. The
//! loop owns what they share: the panes' events, opmux's signals, reaping,
//! recounting a stopping pane's processes, the session's deadlines, and
//! following a shutdown to its end. A [`FrontEnd`] adds what it shows, what
//! else it listens to (clients, a socket) and its own timers (frames,
//! unfinished lines).

use std::future::Future;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::time::sleep_until;

use crate::event::Event;
use crate::runtime::{self, Host, Progress, Recount, ShutdownWatch, Signals};

/// How often, while a countdown runs, a stopping pane's processes are
/// counted again in case their end went unnoticed, and the countdown shown
/// again.
const COUNTDOWN: Duration = Duration::from_millis(250);

/// A front end: a session's host with what it shows and listens to.
pub trait FrontEnd: Host {
    /// What the front end listens to besides the panes and the signals,
    /// kept apart from it so the loop can wait on both.
    type Sources;
    /// Something from the sources.
    type Wake;

    /// The next thing from `sources`; never, for a front end with none.
    fn next(sources: &mut Self::Sources) -> impl Future<Output = Self::Wake>;

    /// Acts on something from the sources.
    fn woke(&mut self, wake: Self::Wake, events: &UnboundedSender<Event>);

    /// At the top of each turn, before the loop checks the shutdown: show
    /// what changed and act on it.
    fn turn(&mut self, events: &UnboundedSender<Event>, now: Instant);

    /// An event for the session, and whatever the front end makes of it.
    fn handle(&mut self, event: Event, events: &UnboundedSender<Event>);

    /// A signal reached opmux.
    fn signal(&mut self, signal: Signal, events: &UnboundedSender<Event>) {
        self.handle(Event::Signal(signal), events);
    }

    /// After each wake-up: plan what it calls for (the next frame).
    fn after_wake(&mut self) {}

    /// The front end's own next timer, if it has one running.
    fn due_at(&self) -> Option<Instant>;

    /// That timer ran out.
    fn due(&mut self, events: &UnboundedSender<Event>, now: Instant);

    /// Whether this front end shows countdowns (a restart's delay, a stop's
    /// deadline), which then wake it every `COUNTDOWN`.
    fn shows_countdowns(&self) -> bool {
        false
    }

    /// A countdown on screen changed: it is shown again.
    fn countdown(&mut self) {}
}

/// How a run of the loop ended.
pub enum End {
    /// Every pane's run is over and nothing descended from opmux is left.
    Done,
    /// These processes outlived SIGKILL by a second; opmux gives up on them.
    Survivors(Vec<Pid>),
}

/// Runs `front` until its session's shutdown is over.
pub async fn run<F: FrontEnd>(
    front: &mut F,
    sources: &mut F::Sources,
    signals: &mut Signals,
    events: &UnboundedSender<Event>,
    inbox: &mut UnboundedReceiver<Event>,
) -> End {
    let mut recount = Recount::default();
    let mut watch = ShutdownWatch::default();
    let mut countdown_at: Option<Instant> = None;
    let mut handle = |front: &mut F, event: Event| front.handle(event, events);
    loop {
        let now = Instant::now();
        front.turn(events, now);
        match watch.progress(front.session(), &mut recount) {
            Progress::Waiting => {}
            Progress::Done => return End::Done,
            Progress::Survivors(left) => {
                tracing::warn!(
                    survivors = ?left,
                    "processes still alive one second after SIGKILL; exiting anyway"
                );
                return End::Survivors(left);
            }
        }
        let ticking = if front.shows_countdowns() {
            front.session().counting_down()
        } else {
            front.session().stopping()
        };
        if ticking && countdown_at.is_none() {
            countdown_at = Some(now + COUNTDOWN);
        }
        let deadline = front.session().next_deadline();
        let due_at = front.due_at();
        tokio::select! {
            Some(event) = inbox.recv() => {
                handle(front, event);
                runtime::drain(front, inbox, &mut handle);
            }
            wake = F::next(sources) => front.woke(wake, events),
            Some(()) = signals.child.recv() => {
                runtime::reap(front, &mut handle);
                recount.request();
            }
            Some(()) = signals.term.recv() => front.signal(Signal::SIGTERM, events),
            Some(()) = signals.int.recv() => front.signal(Signal::SIGINT, events),
            Some(()) = signals.hup.recv() => front.signal(Signal::SIGHUP, events),
            () = sleep_until(deadline.unwrap_or(now).into()), if deadline.is_some() => {
                handle(front, Event::Tick);
            }
            () = sleep_until(due_at.unwrap_or(now).into()), if due_at.is_some() => {
                front.due(events, Instant::now());
            }
            () = sleep_until(watch.give_up_at.unwrap_or(now).into()), if watch.give_up_at.is_some() => {}
            () = sleep_until(countdown_at.unwrap_or(now).into()), if countdown_at.is_some() => {
                countdown_at = None;
                recount.request();
                front.countdown();
            }
            () = sleep_until(recount.at.unwrap_or(now).into()), if recount.at.is_some() => {
                recount.done();
                runtime::recount(front, &mut watch, &mut handle);
            }
        }
        front.after_wake();
    }
}
