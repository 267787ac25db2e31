//! A server's live connections and what each one's handshake established.
//!
//! ```text
//!  accept ─▶ admit (cap: evict the oldest connection without a handshake,
//!            │      else refuse)
//!            ▼
//!  connection ── no handshake within the deadline ──▶ closed
//!            │
//!  Handshake(id, incarnation) ─▶ bind: id free ─────────────▶ bound
//!                                id held, same incarnation ─▶ the old
//!                                   connection is closed (the process redialed)
//!                                id held, other incarnation ─▶ liveness check of
//!                                   the holder: it read within the window →
//!                                   ALREADY_EXISTS; silent → closed, rebound
//!  every request ─▶ PeerConnection { binding } in its extensions
//! ```
//!
//! A stream is then accepted only for the CallerId its connection's
//! handshake established (see [`PeerConnection::authenticate`](super::PeerConnection::authenticate)): a client
//! that skips the handshake, or claims another id than it handshook with,
//! is refused and counted, and the id's live holder is unaffected.
//!
//! The liveness check needs no extra message: with HTTP/2 keepalive on
//! (every tsercom peer), a live connection reads something — data or a PING
//! answer — at least every keepalive interval, so the holder is alive if it
//! read anything within `interval + 500 ms` of the newcomer's handshake.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tonic::Status;

use crate::caller_id::CallerId;
use crate::metrics::ServerMetrics;

/// A connection's identity: its local and remote addresses (unique while
/// it is open).
pub(crate) type ConnKey = (SocketAddr, SocketAddr);

/// What a connection's handshake established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The dialer's CallerId.
    pub caller: CallerId,
    /// The dialer process's incarnation (a random number per process
    /// start; 0 when the peer sent none).
    pub incarnation: u64,
}

/// Bounds on a server's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Connections open at once; past it the oldest connection without a
    /// handshake is closed to make room, or, when every one has
    /// handshaken, the newcomer is closed at once.
    pub max_connections: usize,
    /// How long a new connection may stay without a handshake (`None`:
    /// forever, for servers whose clients are not tsercom peers).
    pub handshake_deadline: Option<Duration>,
}

impl Default for ConnectionLimits {
    /// 1 024 connections; 10 s to handshake.
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            handshake_deadline: Some(Duration::from_secs(10)),
        }
    }
}

impl ConnectionLimits {
    /// With this many connections at most.
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// With this handshake deadline.
    pub fn with_handshake_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.handshake_deadline = deadline;
        self
    }
}

/// A server's connection counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections open now.
    pub open: u64,
    /// Connections accepted in all.
    pub accepted: u64,
    /// New connections closed at once: the limit was reached and every
    /// open connection had handshaken.
    pub refused_full: u64,
    /// Connections without a handshake closed to make room for a new one.
    pub evicted_without_handshake: u64,
    /// Connections closed because no handshake came within the deadline.
    pub handshake_timeouts: u64,
    /// Handshakes refused because their CallerId is held by a live
    /// connection of another process (`ALREADY_EXISTS`).
    pub duplicates_refused: u64,
    /// Connections closed because their CallerId's new handshake came from
    /// a restart (or a redial) while they no longer answered.
    pub replaced: u64,
    /// Streams refused: no handshake on their connection
    /// (`UNAUTHENTICATED`).
    pub streams_unauthenticated: u64,
    /// Streams refused: they claimed another CallerId than their
    /// connection's handshake (`PERMISSION_DENIED`).
    pub streams_forbidden: u64,
    /// Errors accepting connections (e.g. out of file descriptors).
    pub accept_errors: u64,
    /// Streams accepted without a handshake, identified by their first
    /// message (legacy peers, when the runtime allows them).
    pub streams_legacy: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused_full: AtomicU64,
    evicted_without_handshake: AtomicU64,
    handshake_timeouts: AtomicU64,
    duplicates_refused: AtomicU64,
    replaced: AtomicU64,
    streams_unauthenticated: AtomicU64,
    streams_forbidden: AtomicU64,
    accept_errors: AtomicU64,
    streams_legacy: AtomicU64,
}

/// One open connection.
pub(crate) struct ConnState {
    pub(crate) key: ConnKey,
    opened: Instant,
    /// Nanoseconds since the table's epoch of the last read that returned
    /// bytes.
    last_read: AtomicU64,
    handshaken: AtomicBool,
    binding: Mutex<Option<Binding>>,
    /// Set (with a reason) to close the connection.
    pub(crate) kill: watch::Sender<Option<&'static str>>,
    epoch: Instant,
}

impl ConnState {
    /// Records a read (called by the socket wrapper).
    pub(crate) fn read_now(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_read.store(nanos, Ordering::Relaxed);
    }

    fn last_read(&self) -> Duration {
        Duration::from_nanos(self.last_read.load(Ordering::Relaxed))
    }

    pub(crate) fn handshaken(&self) -> bool {
        self.handshaken.load(Ordering::Acquire)
    }

    pub(crate) fn binding(&self) -> Option<Binding> {
        *self.binding.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close(&self, reason: &'static str) {
        self.kill.send_replace(Some(reason));
    }
}

#[derive(Default)]
struct Table {
    by_key: HashMap<ConnKey, Arc<ConnState>>,
    by_caller: HashMap<CallerId, Arc<ConnState>>,
}

/// Every open connection of one server.
/// What a server calls when it refuses a duplicate of a connected id.
pub(crate) type OnDuplicate = Arc<dyn Fn(CallerId) + Send + Sync>;

pub(crate) struct Connections {
    on_duplicate: Option<OnDuplicate>,
    epoch: Instant,
    limits: ConnectionLimits,
    liveness_window: Duration,
    table: Mutex<Table>,
    counters: Counters,
    /// The same counts, for the metrics recorder.
    metrics: ServerMetrics,
    /// When the last "connection limit" warning was logged (one per
    /// second at most).
    last_full_warning: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Connections {
    pub(crate) fn new(
        limits: ConnectionLimits,
        keepalive_interval: Duration,
        metrics: ServerMetrics,
        on_duplicate: Option<OnDuplicate>,
    ) -> Self {
        Connections {
            on_duplicate,
            metrics,
            epoch: Instant::now(),
            limits,
            liveness_window: keepalive_interval + Duration::from_millis(500),
            table: Mutex::new(Table::default()),
            counters: Counters::default(),
            last_full_warning: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// Admits a new connection, or `None` when it must be closed at once.
    pub(crate) fn admit(&self, key: ConnKey) -> Option<Arc<ConnState>> {
        let mut table = self.lock();
        if table.by_key.len() >= self.limits.max_connections {
            let oldest = table
                .by_key
                .values()
                .filter(|c| !c.handshaken())
                .min_by_key(|c| c.opened)
                .cloned();
            match oldest {
                Some(victim) => {
                    table.by_key.remove(&victim.key);
                    victim.close("closed to make room: the connection limit was reached and it had not handshaken");
                    self.counters
                        .evicted_without_handshake
                        .fetch_add(1, Ordering::Relaxed);
                    self.metrics.closed_evicted.increment(1);
                    self.warn_full(&format!(
                        "connection limit ({}) reached: closed {}, which had not handshaken, for {}",
                        self.limits.max_connections, victim.key.1, key.1
                    ));
                }
                None => {
                    drop(table);
                    self.counters.refused_full.fetch_add(1, Ordering::Relaxed);
                    self.metrics.refused_full.increment(1);
                    self.warn_full(&format!(
                        "connection limit ({}) reached and every connection has handshaken: refused {}",
                        self.limits.max_connections, key.1
                    ));
                    return None;
                }
            }
        }
        let (kill, _) = watch::channel(None);
        let state = Arc::new(ConnState {
            key,
            opened: Instant::now(),
            last_read: AtomicU64::new(0),
            handshaken: AtomicBool::new(false),
            binding: Mutex::new(None),
            kill,
            epoch: self.epoch,
        });
        state.read_now();
        table.by_key.insert(key, Arc::clone(&state));
        self.metrics.open.set(table.by_key.len() as f64);
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        self.metrics.accepted.increment(1);
        Some(state)
    }

    fn warn_full(&self, message: &str) {
        let mut last = self
            .last_full_warning
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            tracing::warn!("{message}");
        }
    }

    /// The connection ended (its socket wrapper was dropped).
    pub(crate) fn remove(&self, state: &Arc<ConnState>) {
        let mut table = self.lock();
        if table
            .by_key
            .get(&state.key)
            .is_some_and(|c| Arc::ptr_eq(c, state))
        {
            table.by_key.remove(&state.key);
            self.metrics.open.set(table.by_key.len() as f64);
        }
        if let Some(binding) = state.binding()
            && table
                .by_caller
                .get(&binding.caller)
                .is_some_and(|c| Arc::ptr_eq(c, state))
        {
            table.by_caller.remove(&binding.caller);
        }
    }

    pub(crate) fn handshake_timed_out(&self) {
        self.counters
            .handshake_timeouts
            .fetch_add(1, Ordering::Relaxed);
        self.metrics.closed_handshake_timeout.increment(1);
    }

    pub(crate) fn stream_unauthenticated(&self) {
        self.counters
            .streams_unauthenticated
            .fetch_add(1, Ordering::Relaxed);
        self.metrics.refused_unauthenticated.increment(1);
    }

    pub(crate) fn stream_forbidden(&self) {
        self.counters
            .streams_forbidden
            .fetch_add(1, Ordering::Relaxed);
        self.metrics.refused_forbidden.increment(1);
    }

    pub(crate) fn stream_legacy(&self) {
        self.counters.streams_legacy.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn accept_error(&self) {
        self.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The open connection at `key`.
    pub(crate) fn get(&self, key: &ConnKey) -> Option<Arc<ConnState>> {
        self.lock().by_key.get(key).cloned()
    }

    /// Binds `binding` to the connection `state` (its handshake), refusing
    /// a duplicate of a live holder (see the module doc).
    pub(crate) async fn bind(
        &self,
        state: &Arc<ConnState>,
        binding: Binding,
    ) -> std::result::Result<(), Status> {
        if let Some(existing) = state.binding()
            && existing.caller != binding.caller
        {
            self.counters
                .streams_forbidden
                .fetch_add(1, Ordering::Relaxed);
            self.metrics.refused_forbidden.increment(1);
            tracing::warn!(remote = %state.key.1, bound = %existing.caller, claimed = %binding.caller, "a second handshake on one connection claimed another CallerId; refused");
            return Err(Status::permission_denied(format!(
                "handshake: this connection already handshook as {}",
                existing.caller
            )));
        }
        let mut checked_holder = false;
        loop {
            let holder = {
                let mut table = self.lock();
                match table.by_caller.get(&binding.caller).cloned() {
                    Some(holder) if !Arc::ptr_eq(&holder, state) => holder,
                    _ => {
                        table.by_caller.insert(binding.caller, Arc::clone(state));
                        *state.binding.lock().unwrap_or_else(|e| e.into_inner()) = Some(binding);
                        state.handshaken.store(true, Ordering::Release);
                        return Ok(());
                    }
                }
            };
            let holder_binding = holder.binding();
            let same_process = binding.incarnation != 0
                && holder_binding.is_some_and(|b| b.incarnation == binding.incarnation);
            if same_process {
                // The same process dialed again: its old connection is
                // abandoned.
                self.replace(
                    &holder,
                    "replaced by a newer connection of the same process",
                );
                continue;
            }
            if checked_holder || !self.alive(&holder).await {
                tracing::warn!(caller = %binding.caller, old = %holder.key.1, new = %state.key.1, "a new instance of a connected CallerId handshook and the old connection did not answer: replacing it (a restart)");
                self.replace(
                    &holder,
                    "replaced: a new instance with this CallerId connected and this connection did not answer",
                );
                checked_holder = true;
                continue;
            }
            self.counters
                .duplicates_refused
                .fetch_add(1, Ordering::Relaxed);
            self.metrics.refused_duplicate.increment(1);
            if let Some(f) = &self.on_duplicate {
                f(binding.caller);
            }
            tracing::warn!(caller = %binding.caller, holder = %holder.key.1, newcomer = %state.key.1, "duplicate CallerId refused: another live process holds it (two instances share one identity file or a cloned disk)");
            return Err(Status::already_exists(format!(
                "handshake: CallerId {} is already connected from {} by another live process; \
                 give each instance its own identity (TSERCOM_INSTANCE, TSERCOM_STATE_DIR, \
                 Identity::PersistentAt or Identity::Fixed)",
                binding.caller, holder.key.1
            )));
        }
    }

    fn replace(&self, holder: &Arc<ConnState>, reason: &'static str) {
        let mut table = self.lock();
        if let Some(binding) = holder.binding()
            && table
                .by_caller
                .get(&binding.caller)
                .is_some_and(|c| Arc::ptr_eq(c, holder))
        {
            table.by_caller.remove(&binding.caller);
        }
        drop(table);
        holder.close(reason);
        self.counters.replaced.fetch_add(1, Ordering::Relaxed);
        self.metrics.closed_replaced.increment(1);
    }

    /// Whether `holder` reads anything within the liveness window (or had
    /// just read when asked); `false` once it is closed.
    async fn alive(&self, holder: &Arc<ConnState>) -> bool {
        let since = self.epoch.elapsed();
        let deadline = Instant::now() + self.liveness_window;
        let mut closed = holder.kill.subscribe();
        loop {
            let gone = !self
                .lock()
                .by_key
                .get(&holder.key)
                .is_some_and(|c| Arc::ptr_eq(c, holder));
            if gone || closed.borrow().is_some() {
                return false;
            }
            if holder.last_read() > since {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = closed.changed() => {}
            }
        }
    }

    /// The counters, with the open connections now.
    pub(crate) fn stats(&self) -> ServerStats {
        let c = &self.counters;
        ServerStats {
            open: self.lock().by_key.len() as u64,
            accepted: c.accepted.load(Ordering::Relaxed),
            refused_full: c.refused_full.load(Ordering::Relaxed),
            evicted_without_handshake: c.evicted_without_handshake.load(Ordering::Relaxed),
            handshake_timeouts: c.handshake_timeouts.load(Ordering::Relaxed),
            duplicates_refused: c.duplicates_refused.load(Ordering::Relaxed),
            replaced: c.replaced.load(Ordering::Relaxed),
            streams_unauthenticated: c.streams_unauthenticated.load(Ordering::Relaxed),
            streams_forbidden: c.streams_forbidden.load(Ordering::Relaxed),
            accept_errors: c.accept_errors.load(Ordering::Relaxed),
            streams_legacy: c.streams_legacy.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;
