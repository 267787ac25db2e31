//! [`SntpClock`]: a [`Clock`] that follows an SNTP server, queried in the
//! background, usable as a runtime's clock
//! ([`RuntimeConfig::with_clock`](crate::RuntimeConfig::with_clock)).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::super::Timestamp;
use super::super::clock::{Clock, Estimate, OffsetEstimator, SyncState, SynchronizedClock};
use super::client::query_with;
use super::packet::{SntpMode, SntpRejection};
use crate::error::{Error, Result};

/// Where and how an [`SntpClock`] queries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SntpConfig {
    /// The server (any port: tsercom's server defaults to
    /// [`DEFAULT_SNTP_PORT`](super::DEFAULT_SNTP_PORT), Python tsercom's to
    /// 123).
    pub server: SocketAddr,
    /// How replies are read.
    pub mode: SntpMode,
    /// Time between queries (after a success or a failure).
    pub interval: Duration,
    /// How long one query waits for its reply.
    pub timeout: Duration,
    /// Exchanges the min-delay estimate is taken over.
    pub window: usize,
}

impl SntpConfig {
    /// Strict mode, a query every 16 s, 3 s per query, an estimate over the
    /// last 8 exchanges.
    pub fn new(server: SocketAddr) -> Self {
        SntpConfig {
            server,
            mode: SntpMode::Strict,
            interval: Duration::from_secs(16),
            timeout: Duration::from_secs(3),
            window: 8,
        }
    }

    /// With this mode.
    pub fn with_mode(mut self, mode: SntpMode) -> Self {
        self.mode = mode;
        self
    }

    /// With this interval between queries.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// With this timeout per query.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With this estimator window (at least 1).
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }
}

/// What an [`SntpClock`] has done so far.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SntpStatus {
    /// The server queried.
    pub server: SocketAddr,
    /// The estimate in use (server clock minus local clock); `None` until
    /// the first accepted exchange, while `now()` is the local clock.
    pub estimate: Option<Estimate>,
    /// Exchanges accepted.
    pub exchanges: u64,
    /// Queries that failed (no reply, a rejected reply, a socket error).
    pub failures: u64,
    /// The error of the last failed query (kept after later successes).
    pub last_error: Option<Arc<Error>>,
    /// The server sent a `DENY` or `RSTR` Kiss-o'-Death: it is no longer
    /// queried (RFC 4330 §8); the last estimate, if any, stays in use.
    pub denied: bool,
}

/// Stops the query thread when the last [`SntpClock`] clone is dropped.
#[derive(Debug)]
struct Worker {
    _stop: oneshot::Sender<()>,
}

/// A [`Clock`] on an SNTP server's timebase: the local clock plus the
/// min-delay offset estimate of its recent exchanges with the server.
///
/// A thread of its own (`tsercom-sntp`) queries the server at once and
/// then every [`SntpConfig::interval`], each query bounded by
/// [`SntpConfig::timeout`]; nothing ever waits for it. Until the first
/// exchange is accepted `now()` is the local clock (see [`state`] and
/// [`status`]); after that, the last estimate stays in use while the
/// server is unreachable. A `RATE` kiss doubles the interval (up to 64
/// times the configured one); `DENY` or `RSTR` stops the queries. The
/// thread ends when the last clone is dropped.
///
/// As a runtime's clock (what it stamps data with and answers clock sync
/// from):
///
/// ```no_run
/// use tsercom::time::sntp::{SntpClock, SntpConfig, SntpMode};
/// use tsercom::{RuntimeConfig, runtime::Role};
///
/// # fn main() -> tsercom::Result<()> {
/// let server = "192.0.2.10:12123".parse().expect("address");
/// let clock = SntpClock::spawn(SntpConfig::new(server).with_mode(SntpMode::PythonTsercom))?;
/// let config = RuntimeConfig::new(Role::Producer).with_clock(clock.clone());
/// // `clock.status()` reports how synchronization goes.
/// # Ok(()) }
/// ```
///
/// [`state`]: SntpClock::state
/// [`status`]: SntpClock::status
#[derive(Clone, Debug)]
pub struct SntpClock {
    sync: SynchronizedClock,
    status: Arc<watch::Sender<SntpStatus>>,
    _worker: Arc<Worker>,
}

impl SntpClock {
    /// Starts following `config.server`, over the system clock. Needs no
    /// tokio runtime.
    ///
    /// # Errors
    /// [`Error::Thread`] when the query thread or its runtime cannot be
    /// created.
    pub fn spawn(config: SntpConfig) -> Result<Self> {
        Self::spawn_over(config, Arc::new(super::super::SystemClock))
    }

    /// Starts following `config.server`, over `local` (e.g. a test's skewed
    /// clock).
    ///
    /// # Errors
    /// As [`SntpClock::spawn`].
    pub fn spawn_over(config: SntpConfig, local: Arc<dyn Clock>) -> Result<Self> {
        let io = |source| Error::Thread {
            what: format!("SNTP client thread for {}", config.server),
            source,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io)?;
        let sync = SynchronizedClock::new(Arc::clone(&local));
        let status = Arc::new(watch::Sender::new(SntpStatus {
            server: config.server,
            estimate: None,
            exchanges: 0,
            failures: 0,
            last_error: None,
            denied: false,
        }));
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = Task {
            config: config.clone(),
            local,
            sync: sync.clone(),
            status: Arc::clone(&status),
        };
        std::thread::Builder::new()
            .name("tsercom-sntp".into())
            .spawn(move || rt.block_on(task.run(stop_rx)))
            .map_err(io)?;
        Ok(SntpClock {
            sync,
            status,
            _worker: Arc::new(Worker { _stop: stop_tx }),
        })
    }

    /// Now on the server's timebase, or `None` before the first exchange.
    pub fn try_now(&self) -> Option<Timestamp> {
        self.sync.try_now()
    }

    /// Whether an estimate is in use, and which.
    pub fn state(&self) -> SyncState {
        self.sync.state()
    }

    /// Counters, the estimate and the last error.
    pub fn status(&self) -> SntpStatus {
        self.status.borrow().clone()
    }

    /// Follows the status: the receiver sees every query's outcome.
    pub fn watch(&self) -> watch::Receiver<SntpStatus> {
        self.status.subscribe()
    }

    /// The underlying synchronized clock (conversions between the local
    /// clock and the server's timebase).
    pub fn synchronized(&self) -> &SynchronizedClock {
        &self.sync
    }

    /// Waits (async, bounded) for the first estimate; returns whether there
    /// is one.
    pub async fn wait_synchronized(&self, timeout: Duration) -> bool {
        self.sync.wait_synchronized(timeout).await
    }
}

impl Clock for SntpClock {
    /// The server's time when synchronized, the local clock before.
    fn now(&self) -> Timestamp {
        self.sync.now()
    }
}

/// The query loop, on the `tsercom-sntp` thread.
struct Task {
    config: SntpConfig,
    local: Arc<dyn Clock>,
    sync: SynchronizedClock,
    status: Arc<watch::Sender<SntpStatus>>,
}

impl Task {
    async fn run(self, mut stop: oneshot::Receiver<()>) {
        let server = self.config.server;
        let mut estimator = OffsetEstimator::new(self.config.window);
        let mut interval = self.config.interval;
        let mut failing = false;
        let mut synchronized = false;
        loop {
            let query = query_with(server, &*self.local, self.config.timeout, self.config.mode);
            let result = tokio::select! {
                _ = &mut stop => return,
                result = query => result,
            };
            match result {
                Ok(exchange) => {
                    let estimate = estimator.add(exchange);
                    self.sync.set_estimate(estimate);
                    if failing || !synchronized {
                        tracing::info!(%server, offset_ns = %estimate.offset_nanos,
                            delay_ns = %estimate.delay_nanos, "SNTP clock synchronized");
                    }
                    failing = false;
                    synchronized = true;
                    interval = self.config.interval;
                    self.status.send_modify(|s| {
                        s.estimate = Some(estimate);
                        s.exchanges += 1;
                    });
                }
                Err(error) => {
                    let mut denied = false;
                    if let Error::SntpRejected {
                        reason: SntpRejection::KissOfDeath { code },
                        ..
                    } = &error
                    {
                        match code.as_str() {
                            "DENY" | "RSTR" => denied = true,
                            "RATE" => {
                                interval = (interval * 2).min(self.config.interval * 64);
                            }
                            _ => {}
                        }
                    }
                    if failing {
                        tracing::debug!(%server, %error, "SNTP query failed");
                    } else {
                        tracing::warn!(%server, %error,
                            "SNTP query failed; the clock keeps its last estimate (or the local clock)");
                    }
                    failing = true;
                    self.status.send_modify(|s| {
                        s.failures += 1;
                        s.last_error = Some(Arc::new(error));
                        s.denied = denied;
                    });
                    if denied {
                        tracing::warn!(%server, "SNTP server denied access; no more queries");
                        // Keep the thread (and the estimate) until dropped.
                        let _ = stop.await;
                        return;
                    }
                }
            }
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}
