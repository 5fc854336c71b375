//! Runs a pane's health probes (`ready_probe`, `live_probe`) while a run
//! lasts: a task each on the loop's runtime, which sleeps between tries and
//! never holds up drawing or keys. A try's result goes to the session as an
//! event; the session decides what it means. HTTP tries run on tokio's
//! blocking threads with ureq; a command is started and reaped through
//! `process`, and killed at its timeout.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use tokio::sync::mpsc::UnboundedSender;

use crate::PaneId;
use crate::config::probe::{Check, Probe};
use crate::event::Event;

/// Where and with what a pane's probe commands run.
#[derive(Clone)]
pub struct Place {
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, Option<String>)>,
}

/// Starts run `run` of pane `pane`'s probes; returns their tasks.
pub fn start(
    pane: PaneId,
    run: u32,
    probes: [Option<&Probe>; 2],
    place: &Place,
    events: &UnboundedSender<Event>,
) -> Vec<tokio::task::AbortHandle> {
    let [ready, live] = probes;
    [(ready, false), (live, true)]
        .into_iter()
        .filter_map(|(probe, live)| {
            let task = tries(
                probe?.clone(),
                live,
                pane,
                run,
                place.clone(),
                events.clone(),
            );
            Some(tokio::spawn(task).abort_handle())
        })
        .collect()
}

/// Tries `probe` every interval after its initial delay, until a readiness
/// probe first succeeds (or the task is aborted at the run's end). The
/// session is told each result that can change something: a readiness
/// probe's success, and a liveness probe's failures and its first success
/// after a failure or at the start. A healthy pane's probe, or one still
/// waiting for its server, does not wake the loop.
async fn tries(
    probe: Probe,
    live: bool,
    pane: PaneId,
    run: u32,
    place: Place,
    events: UnboundedSender<Event>,
) {
    tokio::time::sleep(probe.initial_delay).await;
    // The last liveness result told was a success.
    let mut healthy = false;
    loop {
        let result = check(&probe.check, probe.timeout, &place).await;
        let ok = result.is_ok();
        let tell = if live { !(ok && healthy) } else { ok };
        healthy = live && ok;
        if tell {
            let event = Event::Probe {
                pane,
                run,
                live,
                result,
            };
            if events.send(event).is_err() || !live {
                return;
            }
        }
        tokio::time::sleep(probe.interval).await;
    }
}

/// One try: `Ok` on success, else a few words on why not.
pub async fn check(check: &Check, timeout: Duration, place: &Place) -> Result<(), String> {
    let late = || format!("no answer within {timeout:?}");
    match check {
        Check::Tcp(address) => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP {address}: {e}")),
                Err(_) => Err(late()),
            }
        }
        Check::Http(url) => {
            let url = url.clone();
            let get = tokio::task::spawn_blocking(move || http_get(&url, timeout));
            match tokio::time::timeout(timeout + Duration::from_millis(100), get).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(late()),
            }
        }
        Check::Exec(command) => {
            let (pid, status) =
                crate::process::spawn_probe(command, place.cwd.as_deref(), &place.env)
                    .map_err(|e| format!("`{command}` could not start: {e}"))?;
            // Killed if the try is given up on: at its timeout, or when the
            // run ends and its probes stop.
            let mut running = KillOnDrop(Some(pid));
            let answer = match tokio::time::timeout(timeout, status).await {
                Ok(Ok(status)) if status.code() == 0 => Ok(()),
                Ok(Ok(status)) => Err(format!("`{command}` exited {}", status.code())),
                Ok(Err(_)) => Err(format!("`{command}` was lost")),
                Err(_) => return Err(late()),
            };
            running.0 = None;
            answer
        }
    }
}

/// A probe's command, whose whole process group (a shell's children too)
/// is SIGKILLed when this is dropped while it still runs.
struct KillOnDrop(Option<nix::unistd::Pid>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }
}

/// A GET of `url`: `Ok` for a status from 200 to 399.
fn http_get(url: &str, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    match agent.get(url).call() {
        Ok(response) => match response.status().as_u16() {
            200..=399 => Ok(()),
            status => Err(format!("HTTP {status}")),
        },
        Err(e) => Err(format!("HTTP: {e}")),
    }
}
