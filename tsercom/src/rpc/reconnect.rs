//! Keeping a logical connection to a peer alive across failures.
//!
//! ```text
//!  loop:  connect (TLS) ─▶ handshake ─▶ Connected ─▶ session(channel, outbox) ─┐
//!           ▲ fail                                       ends or fails         │
//!           └──── sleep(backoff(attempt)) ◀── Disconnected ◀──────────────────┘
//!  send(item) ─▶ Outbox (bounded, overflow policy) ─▶ drained in order by each session
//! ```
//!
//! Each attempt walks the targets in order, resolving each `host:port`
//! afresh (a DNS name may move between attempts) and trying every address
//! it resolves to, IPv6 and IPv4, in the resolver's order; a connect or
//! handshake failure moves on to the next address. The attempt fails
//! only when every address of every target failed, with an error naming
//! each one.
//!
//! Backoff defaults: 100 ms initial, ×2 per failed attempt, capped at 2 s
//! (a peer back after any outage is retried within 2 s), ±20 % jitter; the
//! attempt counter resets after a successful handshake, and
//! [`Connection::retry_now`] cuts a wait short (discovery announced the
//! peer again).
//! The sleeper is injectable, so tests check the delays without wall time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::mpsc;

use super::tls::ClientTls;
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::queue::{BoundedQueue, QueueConfig, QueueStats};

/// Capped exponential backoff with jitter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Growth per further failure.
    pub multiplier: f64,
    /// Upper bound of the delay (before jitter).
    pub max: Duration,
    /// Relative jitter: the delay is scaled by a factor in `1 ± jitter`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_secs(2),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), with `unit` in
    /// `[0, 1)` choosing the jitter (0.5: none).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        let capped = base.min(self.max.as_secs_f64());
        let factor = 1.0 + self.jitter.clamp(0.0, 1.0) * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::from_secs_f64((capped * factor).max(0.0))
    }
}

/// The future a [`Sleeper`] returns.
pub type BoxFutureUnit = BoxFuture<'static, ()>;

/// Waits; injectable so tests need no wall time.
pub trait Sleeper: Send + Sync + 'static {
    /// Sleeps for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFutureUnit;
}

/// Sleeps with tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// What happened to the logical connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// Connected and handshaken with `peer`.
    Connected {
        /// The peer's id, from the handshake.
        peer: CallerId,
        /// The address actually connected to.
        addr: SocketAddr,
    },
    /// The peer refused us for who we are (e.g. `ALREADY_EXISTS`: another
    /// live process holds our CallerId); a retry follows after `retry_in`.
    Refused {
        /// The peer's status code.
        code: tonic::Code,
        /// Its message.
        reason: String,
        /// The backoff delay before the next attempt.
        retry_in: Duration,
    },
    /// The connection failed or ended; a retry follows after `retry_in`.
    Disconnected {
        /// Why.
        reason: String,
        /// The backoff delay before the next attempt.
        retry_in: Duration,
    },
}

/// Where to connect and how.
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    /// Where the peer may be, tried in order on each attempt: `host:port`
    /// (a DNS name, resolved at each attempt), `1.2.3.4:port` or
    /// `[v6]:port`.
    pub targets: Vec<String>,
    /// TLS settings.
    pub tls: ClientTls,
    /// Our id, sent in the handshake.
    pub id: CallerId,
    /// The peer id we expect (e.g. from discovery), if any.
    pub expected_peer: Option<CallerId>,
    /// Retry delays.
    pub backoff: Backoff,
    /// Bound and policy of the outbox (data sent while disconnected waits
    /// here).
    pub outbox: QueueConfig,
    /// HTTP/2 keepalive of each connection.
    pub keepalive: super::Keepalive,
}

/// Items waiting to be sent; a session drains it in order.
pub struct Outbox<T> {
    queue: Arc<BoundedQueue<T>>,
}

impl<T> std::fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("stats", &self.queue.stats())
            .finish()
    }
}

impl<T: Send + 'static> Outbox<T> {
    /// The next item (waits); `None` once the connection is closed.
    pub async fn next(&self) -> Option<T> {
        self.queue.pop().await
    }

    /// The outbox as a stream for a client-streaming or bidi RPC, polled
    /// in place: an item leaves the outbox only when the stream yields it,
    /// so what is still queued when the stream breaks stays for the next
    /// session.
    pub fn stream(&self) -> crate::queue::QueueStream<T> {
        crate::queue::QueueStream::new(Arc::clone(&self.queue))
    }
}

/// A logical connection, re-established on failure until dropped.
pub struct Connection<T> {
    queue: Arc<BoundedQueue<T>>,
    retry: Arc<tokio::sync::Notify>,
    events: mpsc::Receiver<ConnectionEvent>,
    events_dropped: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> std::fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("outbox", &self.queue.stats())
            .finish_non_exhaustive()
    }
}

impl<T> Connection<T> {
    /// Queues `item` for the peer (sent now, or after reconnection, in
    /// order), under the outbox's overflow policy.
    ///
    /// # Errors
    /// [`Error::QueueFull`] under the `Error` policy; [`Error::Closed`].
    pub async fn send(&self, item: T) -> Result<()> {
        self.queue.push(item).await
    }

    /// The next connection event.
    pub async fn next_event(&mut self) -> Option<ConnectionEvent> {
        self.events.recv().await
    }

    /// Takes the event stream (to forward it elsewhere); `next_event` then
    /// returns `None`.
    pub fn take_events(&mut self) -> mpsc::Receiver<ConnectionEvent> {
        let (_, empty) = mpsc::channel(1);
        std::mem::replace(&mut self.events, empty)
    }

    /// Events dropped because the owner did not read them.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Ends the current backoff wait now (e.g. discovery announced the
    /// peer again): the next attempt starts at once.
    pub fn retry_now(&self) {
        self.retry.notify_one();
    }

    /// Outbox counters (pushed, dropped by policy).
    pub fn outbox_stats(&self) -> QueueStats {
        self.queue.stats()
    }
}

impl<T> Drop for Connection<T> {
    fn drop(&mut self) {
        self.queue.close();
        self.task.abort();
    }
}

/// Events buffered for the owner; when full, new events are dropped and
/// counted ([`Connection::events_dropped`]).
const EVENT_QUEUE: usize = 64;

/// Starts keeping a connection per `config`. `session` runs on each
/// established, handshaken channel (with the peer's id from the handshake) and should return when the peer goes
/// away (an `Err` with the reason, or `Ok` when it ended cleanly); the next
/// attempt follows the backoff either way. Must be called within a tokio
/// runtime.
pub fn spawn_connection<T, S, F>(
    config: ConnectConfig,
    sleeper: Arc<dyn Sleeper>,
    session: S,
) -> Connection<T>
where
    T: Send + 'static,
    S: Fn(tonic::transport::Channel, Outbox<T>, CallerId, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Result<()>> + Send + 'static,
{
    let queue = Arc::new(BoundedQueue::new(
        format!("outbox to {}", config.targets.join(", ")),
        config.outbox,
    ));
    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    let events_dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let dropped = Arc::clone(&events_dropped);
    let emit = move |event| {
        if events_tx.try_send(event).is_err() {
            dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!("connection event dropped: the owner is not reading events");
        }
    };
    let task_queue = Arc::clone(&queue);
    let retry = Arc::new(tokio::sync::Notify::new());
    let task_retry = Arc::clone(&retry);
    let task = tokio::spawn(
        async move {
            let mut attempt: u32 = 0;
            loop {
                let mut refused = None;
                // Whether the peer could not be reached at all (then its
                // return is watched for during the backoff).
                let mut unreachable = false;
                // Connecting and probing are boxed: while the session runs
                // (most of a connection's life) the task holds only the
                // session's state, not room for theirs (a task's size is
                // its largest await's).
                let reason = match Box::pin(connect_any(&config)).await {
                    Ok((channel, peer, addr)) => {
                        attempt = 0;
                        let outbox = Outbox {
                            queue: Arc::clone(&task_queue),
                        };
                        // The session's synchronous part (what it registers
                        // before its future runs) is in place before anyone
                        // hears "Connected": a user who waits for that state
                        // and then sends finds the peer ready for it.
                        let session = session(channel, outbox, peer, addr);
                        emit(ConnectionEvent::Connected { peer, addr });
                        match session.await {
                            Ok(()) => "the session ended".to_owned(),
                            Err(e) => e.to_string(),
                        }
                    }
                    Err(e) => {
                        if e.is_refusal() {
                            refused = e.rpc_code();
                        } else {
                            unreachable = true;
                        }
                        e.to_string()
                    }
                };
                let retry_in = config.backoff.delay(attempt, jitter_unit());
                attempt = attempt.saturating_add(1);
                tracing::debug!(targets = ?config.targets, %reason, ?retry_in, "disconnected");
                let wait = sleeper.sleep(retry_in);
                emit(match refused {
                    Some(code) => ConnectionEvent::Refused {
                        code,
                        reason,
                        retry_in,
                    },
                    None => ConnectionEvent::Disconnected { reason, retry_in },
                });
                let returned = async {
                    if unreachable {
                        Box::pin(answers_again(&config.targets)).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    () = wait => {}
                    () = task_retry.notified() => {
                        tracing::debug!(targets = ?config.targets, "retrying now");
                    }
                    () = returned => {
                        tracing::debug!(targets = ?config.targets, "the peer answers again; retrying now");
                    }
                }
            }
        }
        .in_current_span(),
    );
    Connection {
        queue,
        retry,
        events,
        events_dropped,
        task,
    }
}

/// How often an unreachable peer's addresses are probed during the
/// backoff (a TCP connect, closed at once), and how long each probe may
/// take: data flows again within about this long of a peer's return,
/// whatever the backoff has grown to.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);

/// Returns once a TCP connection to one of `targets`' addresses succeeds
/// (probed every [`PROBE_INTERVAL`]).
async fn answers_again(targets: &[String]) {
    loop {
        tokio::time::sleep(PROBE_INTERVAL).await;
        for target in targets {
            let Ok(addrs) = tokio::net::lookup_host(target.as_str()).await else {
                continue;
            };
            for addr in addrs {
                if let Ok(Ok(_probe)) =
                    tokio::time::timeout(PROBE_INTERVAL, tokio::net::TcpStream::connect(addr)).await
                {
                    return;
                }
            }
        }
    }
}

/// How long one address may take to connect and complete the handshake
/// before the next is tried.
pub const ADDRESS_DEADLINE: Duration = Duration::from_secs(10);

/// One attempt: every address of every target in turn until one connects
/// and completes the handshake.
async fn connect_any(
    config: &ConnectConfig,
) -> Result<(tonic::transport::Channel, CallerId, SocketAddr)> {
    let mut failures: Vec<String> = Vec::new();
    for target in &config.targets {
        let addrs = match tokio::net::lookup_host(target.as_str()).await {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(e) => {
                failures.push(format!("{target}: resolving: {e}"));
                continue;
            }
        };
        if addrs.is_empty() {
            failures.push(format!("{target}: resolved to no address"));
        }
        for addr in addrs {
            let attempt = async {
                let channel =
                    super::connect_addr_with(target, addr, &config.tls, config.keepalive).await?;
                let peer = super::peer::handshake(channel.clone(), config.id, config.expected_peer)
                    .await?;
                Ok::<_, Error>((channel, peer))
            };
            // An address that accepts but never answers must not hold up
            // the others.
            let outcome = tokio::time::timeout(ADDRESS_DEADLINE, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Connect {
                        target: target.clone(),
                        reason: format!("no handshake within {ADDRESS_DEADLINE:?}"),
                    })
                });
            match outcome {
                Ok((channel, peer)) => return Ok((channel, peer, addr)),
                // The peer answered and refused us: definitive for this
                // attempt (its other addresses are the same peer).
                Err(e) if e.is_refusal() => return Err(e),
                Err(e) => {
                    tracing::debug!(%target, %addr, error = %e, "address failed; trying the next");
                    let reason = match e {
                        Error::Connect { reason, .. } => reason,
                        other => other.to_string(),
                    };
                    if *target == addr.to_string() {
                        failures.push(format!("{target}: {reason}"));
                    } else {
                        failures.push(format!("{target} ({addr}): {reason}"));
                    }
                }
            }
        }
    }
    if config.targets.is_empty() {
        failures.push("no target to connect to".to_owned());
    }
    Err(Error::Connect {
        target: config.targets.join(", "),
        reason: failures.join("; "),
    })
}

/// A jitter value in `[0, 1)` without a random-number dependency: the
/// sub-second nanoseconds of the clock, which vary between peers and
/// attempts (jitter only has to de-synchronize retries, not be secret).
fn jitter_unit() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let backoff = Backoff::default();
        let no_jitter: Vec<Duration> = (0..10).map(|a| backoff.delay(a, 0.5)).collect();
        assert_eq!(no_jitter[0], Duration::from_millis(100));
        assert_eq!(no_jitter[1], Duration::from_millis(200));
        assert_eq!(no_jitter[2], Duration::from_millis(400));
        assert!(no_jitter.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(no_jitter[9], Duration::from_secs(2), "capped");
        assert_eq!(backoff.delay(u32::MAX, 0.5), Duration::from_secs(2));
        // Jitter stays within ±20 %.
        assert_eq!(backoff.delay(0, 0.0), Duration::from_millis(80));
        assert_eq!(backoff.delay(0, 1.0), Duration::from_millis(120));
        assert!(backoff.delay(20, 1.0) <= Duration::from_millis(2400));
    }
}
