//! Health probes: `ready_probe` and `live_probe`, each an HTTP GET, a TCP
//! connection or a command, tried every `interval` after `initial_delay`,
//! given `timeout` each. The checks themselves run in `pane::probe`.

use std::time::Duration;

/// What a probe tries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A GET of this URL answered with a status from 200 to 399.
    Http(String),
    /// A TCP connection to this `host:port`.
    Tcp(String),
    /// This command, run with `sh -c` in the pane's folder and
    /// environment, exited 0.
    Exec(String),
}

/// One probe of a pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub check: Check,
    pub interval: Duration,
    pub timeout: Duration,
    pub initial_delay: Duration,
    /// Failures in a row that stop the run (`live_probe` only).
    pub failure_threshold: u32,
}

/// Between two tries of a readiness probe, by default.
pub const READY_INTERVAL: Duration = Duration::from_secs(1);
/// Between two tries of a liveness probe, by default.
pub const LIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long one try may take, by default.
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// Liveness failures in a row that stop the run, by default.
pub const FAILURE_THRESHOLD: u32 = 3;

impl Probe {
    /// A few words for `--check`.
    pub fn describe(&self) -> String {
        let what = match &self.check {
            Check::Http(url) => format!("GET {url} answers"),
            Check::Tcp(address) => format!("{address} takes a connection"),
            Check::Exec(command) => format!("`{command}` exits 0"),
        };
        format!("{what}, every {:?}", self.interval)
    }
}
