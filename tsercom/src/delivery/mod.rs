//! Acknowledged delivery: every message of the stream method is delivered
//! into the receiver's store exactly once, or counted as lost with a
//! reason, across reconnections.
//!
//! ```text
//!  sender (per receiver CallerId)                  receiver (per sender CallerId)
//!  queue ──▶ Outbox: numbered, kept until acked    Inbox: (sender incarnation, received)
//!            │  stream k-th message = base + k       │  seq ≤ received → duplicate, dropped (counted)
//!            └──── stream method (user's msgs) ────▶ │  else stored, then acknowledged
//!  ack(received) ◀── tsercom.Delivery/Acknowledge ── every `ack_interval`, coalesced
//!  a new stream resends what is unacked first (same numbers)
//! ```
//!
//! - **Numbers** are implicit, so the user's messages are untouched: a
//!   stream's metadata carries `tsercom-seq` (the number of its first
//!   message) and `tsercom-incarnation` (the sender process's); the k-th
//!   message has `tsercom-seq + k`. They count per (sender incarnation,
//!   receiver CallerId), across reconnections.
//! - **Acknowledgments** go on `tsercom.Delivery/Acknowledge`, a stream the
//!   dialer opens on the connection its handshake bound (both directions'
//!   acknowledgments, one per direction of it). A peer without it (Python
//!   tsercom, an older peer) gets plain streams: nothing is numbered,
//!   kept or acknowledged.
//! - **The window**: a sender keeps at most
//!   [`window`](DeliveryConfig::window) unacknowledged messages per peer;
//!   when it is full, sending to that peer waits, so what the user sends
//!   waits in that peer's own queue under its overflow policy (counted) and
//!   never in an unbounded buffer. Other peers are not affected.
//! - **Lost, counted**: unacknowledged messages of a peer that stays away
//!   longer than [`keep_unacked`](DeliveryConfig::keep_unacked) (or when
//!   the runtime stops) are counted as lost (`DeliveryStats::lost`,
//!   `tsercom_samples_dropped_total{reason = "unacknowledged"}`); what a
//!   process held when it died is lost with it (its peers' counters show
//!   what they had acknowledged).
//! - **History** ([`History`], off by default): what a runtime sends to
//!   all is kept (the last N, or those of the last T), and a peer that
//!   connects for the first time gets it first, its stream's metadata
//!   saying how many (`tsercom-history`). In process only: out of process
//!   the parent keeps and hands it over, but the child's stream does not
//!   announce it.

pub(crate) mod acks;
mod inbox;
mod outbox;
mod sending;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) use inbox::{Inbox, Receiving};
pub(crate) use outbox::Outbox;
pub(crate) use sending::Sending;

use crate::caller_id::CallerId;

/// The stream metadata naming the sequence number of its first message.
pub const SEQ_METADATA: &str = "tsercom-seq";
/// The stream metadata naming the sender process's incarnation.
pub const INCARNATION_METADATA: &str = "tsercom-incarnation";

/// How a runtime delivers what it sends ([`RuntimeConfig::delivery`](crate::runtime::RuntimeConfig::delivery)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// Number, keep and resend until acknowledged (when the peer speaks
    /// it). Default on.
    pub acknowledged: bool,
    /// Unacknowledged messages kept per peer (default 65 536): sending to a
    /// peer waits while it has this many.
    pub window: usize,
    /// How often a receiver acknowledges at most (default 10 ms; what it
    /// received meanwhile is acknowledged at once).
    pub ack_interval: Duration,
    /// How long a peer that left may come back for its unacknowledged
    /// messages (default 60 s); then they are counted lost.
    pub keep_unacked: Duration,
    /// History for peers that connect later (default none).
    pub history: Option<History>,
    /// Where what is sent to all waits while no peer is connected, until
    /// the first one connects (default: the per-peer queue's capacity,
    /// dropping the oldest, counted). `Block` makes a send wait for a peer.
    pub no_peer: Option<crate::queue::QueueConfig>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            acknowledged: true,
            window: 65_536,
            ack_interval: Duration::from_millis(10),
            keep_unacked: Duration::from_secs(60),
            history: None,
            no_peer: None,
        }
    }
}

impl DeliveryConfig {
    /// Plain streams: nothing numbered, kept or acknowledged (what the
    /// transport had taken when a connection breaks is lost uncounted).
    pub fn unacknowledged() -> Self {
        DeliveryConfig {
            acknowledged: false,
            ..DeliveryConfig::default()
        }
    }

    /// With this window (at least 1).
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// With this acknowledgment interval.
    pub fn with_ack_interval(mut self, interval: Duration) -> Self {
        self.ack_interval = interval;
        self
    }

    /// With this queue for what is sent while no peer is connected.
    pub fn with_no_peer(mut self, queue: crate::queue::QueueConfig) -> Self {
        self.no_peer = Some(queue);
        self
    }

    /// Keeping `history` for peers that connect later.
    pub fn with_history(mut self, history: History) -> Self {
        self.history = Some(history);
        self
    }

    /// With this wait for a peer that left.
    pub fn with_keep_unacked(mut self, keep: Duration) -> Self {
        self.keep_unacked = keep;
        self
    }
}

/// What a runtime keeps of what it sends to all, for peers that connect
/// later (like DDS's transient-local durability): the last `last` items,
/// those of the last `within` only when set. Each peer that connects for
/// the first time gets them first, the stream's metadata saying how many
/// (`tsercom-history`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct History {
    /// Items kept at most.
    pub last: usize,
    /// Only items sent this recently (none: however old).
    pub within: Option<Duration>,
}

impl History {
    /// The last `last` items sent to all.
    pub fn last(last: usize) -> Self {
        History { last, within: None }
    }

    /// Of those, only the ones sent within `within`.
    pub fn within(mut self, within: Duration) -> Self {
        self.within = Some(within);
        self
    }
}

/// The stream metadata saying how many of its first messages are history
/// (sent before the receiver connected).
pub const HISTORY_METADATA: &str = "tsercom-history";

/// What acknowledged delivery did, for one runtime (both directions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Messages sent again after a reconnection (not yet acknowledged when
    /// the previous stream ended).
    pub resent: u64,
    /// Of those, the messages resent to a peer that had restarted (another
    /// process with its CallerId): its previous process may have stored
    /// them (and its user read them) before dying without acknowledging,
    /// so they may arrive twice. The only duplicates acknowledged delivery
    /// lets through; at most one window and usually one acknowledgment
    /// interval of data.
    pub possibly_duplicated: u64,
    /// Messages this runtime's peers acknowledged.
    pub acknowledged: u64,
    /// Messages sent and not yet acknowledged, now.
    pub unacknowledged: u64,
    /// Unacknowledged messages given up: their peer stayed away longer
    /// than `keep_unacked`, or the runtime stopped.
    pub lost: u64,
    /// Messages received twice (a resend of what had arrived): dropped.
    pub duplicates: u64,
    /// Messages a peer numbered but never sent (it gave them up): counted
    /// by the receiver when the numbers jump.
    pub gaps: u64,
    /// History items sent to peers that connected for the first time.
    pub history_sent: u64,
    /// History items received (the first messages of a peer's stream that
    /// its metadata marked as history).
    pub history_received: u64,
}

/// A runtime's delivery counters, shared with its handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) unacknowledged: AtomicU64,
    pub(crate) resent: AtomicU64,
    pub(crate) possibly_duplicated: AtomicU64,
    pub(crate) acknowledged: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) gaps: AtomicU64,
    pub(crate) history_sent: AtomicU64,
    pub(crate) history_received: AtomicU64,
    /// Woken when nothing is left unacknowledged (a stopping runtime
    /// waits for it).
    pub(crate) drained: tokio::sync::Notify,
}

/// A runtime's delivery state: an outbox per peer it sends to, an inbox
/// per peer it receives from; kept across reconnections.
pub(crate) struct Delivery<T> {
    pub(crate) config: DeliveryConfig,
    outboxes: Mutex<HashMap<CallerId, Arc<Outbox<T>>>>,
    inboxes: Mutex<HashMap<CallerId, Arc<Inbox>>>,
    pub(crate) counters: Arc<Counters>,
    /// `tsercom_samples_dropped_total{runtime, reason="unacknowledged"}`.
    lost_metric: metrics::Counter,
}

impl<T> std::fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Inboxes kept at most (the least recently used beyond it are forgotten:
/// a peer that comes back after that may see one window of duplicates).
const MAX_INBOXES: usize = 65_536;

impl<T: Clone + Send + 'static> Delivery<T> {
    pub(crate) fn new(runtime: &str, config: DeliveryConfig, counters: Arc<Counters>) -> Self {
        Delivery {
            config,
            outboxes: Mutex::default(),
            inboxes: Mutex::default(),
            counters,
            lost_metric: crate::metrics::dropped(runtime, "unacknowledged"),
        }
    }

    /// The outbox of what this runtime sends `peer` (created on first
    /// use). Outboxes of peers away longer than `keep_unacked` are given
    /// up on the way (their messages counted lost).
    pub(crate) fn outbox(&self, peer: CallerId) -> Arc<Outbox<T>> {
        let mut outboxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let keep = self.config.keep_unacked;
        outboxes.retain(|id, outbox| {
            if *id == peer || !outbox.idle_longer_than(now, keep) {
                return true;
            }
            let lost = outbox.give_up();
            self.count_lost(lost, *id, "it stayed away");
            false
        });
        Arc::clone(outboxes.entry(peer).or_insert_with(|| {
            Arc::new(Outbox::new(self.config.window, Arc::clone(&self.counters)))
        }))
    }

    /// The inbox of what `peer` sends this runtime (created on first use).
    pub(crate) fn inbox(&self, peer: CallerId) -> Arc<Inbox> {
        let mut inboxes = self.inboxes.lock().unwrap_or_else(|e| e.into_inner());
        if !inboxes.contains_key(&peer) && inboxes.len() >= MAX_INBOXES {
            let oldest = inboxes
                .iter()
                .min_by_key(|(_, inbox)| inbox.last_used())
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                inboxes.remove(&oldest);
            }
        }
        Arc::clone(
            inboxes
                .entry(peer)
                .or_insert_with(|| Arc::new(Inbox::new(Arc::clone(&self.counters)))),
        )
    }

    /// Waits (at most `timeout`) until every peer acknowledged what it was
    /// sent: a stopping runtime's last messages are not given up while
    /// their acknowledgment is on its way.
    pub(crate) async fn drained(&self, timeout: Duration) {
        let wait = async {
            loop {
                let drained = self.counters.drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                if self.counters.unacknowledged.load(Ordering::Acquire) == 0 {
                    return;
                }
                drained.await;
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            // What is left is counted lost (and logged) by `close`.
            tracing::debug!(?timeout, "not everything was acknowledged in time");
        }
    }

    /// Counts what is still unacknowledged as lost (the runtime stops).
    pub(crate) fn close(&self) {
        let outboxes =
            std::mem::take(&mut *self.outboxes.lock().unwrap_or_else(|e| e.into_inner()));
        for (peer, outbox) in outboxes {
            let lost = outbox.give_up();
            self.count_lost(lost, peer, "the runtime stopped");
        }
    }

    fn count_lost(&self, lost: u64, peer: CallerId, why: &str) {
        if lost == 0 {
            return;
        }
        self.counters.lost.fetch_add(lost, Ordering::Relaxed);
        self.lost_metric.increment(lost);
        tracing::warn!(%peer, lost, "unacknowledged messages given up: {why} (counted as lost)");
    }
}

impl Counters {
    /// `n` unacknowledged messages were acknowledged or given up.
    pub(crate) fn settled(&self, n: u64) {
        if n > 0 && self.unacknowledged.fetch_sub(n, Ordering::AcqRel) == n {
            self.drained.notify_waiters();
        }
    }

    /// Takes the values of another process's counters (the child's, out
    /// of process).
    pub(crate) fn set(&self, stats: &DeliveryStats) {
        let set = |counter: &AtomicU64, value: u64| counter.store(value, Ordering::Relaxed);
        set(&self.resent, stats.resent);
        set(&self.possibly_duplicated, stats.possibly_duplicated);
        set(&self.acknowledged, stats.acknowledged);
        set(&self.unacknowledged, stats.unacknowledged);
        set(&self.lost, stats.lost);
        set(&self.duplicates, stats.duplicates);
        set(&self.gaps, stats.gaps);
        set(&self.history_sent, stats.history_sent);
        set(&self.history_received, stats.history_received);
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            resent: self.resent.load(Ordering::Relaxed),
            possibly_duplicated: self.possibly_duplicated.load(Ordering::Relaxed),
            acknowledged: self.acknowledged.load(Ordering::Relaxed),
            unacknowledged: self.unacknowledged.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            history_sent: self.history_sent.load(Ordering::Relaxed),
            history_received: self.history_received.load(Ordering::Relaxed),
        }
    }
}

/// A stream's numbering from its metadata: (first number, incarnation),
/// when both are there and valid.
pub(crate) fn numbering(metadata: &tonic::metadata::MetadataMap) -> Option<(u64, u64)> {
    let read = |key: &str| -> Option<u64> { metadata.get(key)?.to_str().ok()?.parse().ok() };
    let base = read(SEQ_METADATA).filter(|b| *b > 0)?;
    let incarnation = read(INCARNATION_METADATA)?;
    Some((base, incarnation))
}

/// How many of a stream's first messages are history (its metadata).
pub(crate) fn history_of(metadata: &tonic::metadata::MetadataMap) -> u64 {
    metadata
        .get(HISTORY_METADATA)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0)
}

/// Writes how many of a stream's first messages are history.
pub(crate) fn set_history(metadata: &mut tonic::metadata::MetadataMap, n: u64) {
    if n > 0
        && let Ok(value) = tonic::metadata::MetadataValue::try_from(n.to_string())
    {
        metadata.insert(HISTORY_METADATA, value);
    }
}

/// Counts the history messages of one stream as they arrive.
pub(crate) struct HistoryArrivals {
    left: u64,
    counters: Arc<Counters>,
}

impl HistoryArrivals {
    pub(crate) fn new(announced: u64, counters: Arc<Counters>) -> Self {
        if announced > 0 {
            tracing::info!(announced, "the peer sends history first");
        }
        HistoryArrivals {
            left: announced,
            counters,
        }
    }

    /// One message arrived.
    pub(crate) fn arrived(&mut self) {
        if self.left > 0 {
            self.left -= 1;
            self.counters
                .history_received
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes a stream's numbering into its metadata.
pub(crate) fn set_numbering(
    metadata: &mut tonic::metadata::MetadataMap,
    base: u64,
    incarnation: u64,
) {
    // Decimal digits are always valid metadata values.
    if let (Ok(base), Ok(incarnation)) = (
        tonic::metadata::MetadataValue::try_from(base.to_string()),
        tonic::metadata::MetadataValue::try_from(incarnation.to_string()),
    ) {
        metadata.insert(SEQ_METADATA, base);
        metadata.insert(INCARNATION_METADATA, incarnation);
    }
}
