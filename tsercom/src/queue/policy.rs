//! What a full queue does ([`OverflowPolicy`]), how big it is
//! ([`QueueConfig`]), what it counted ([`QueueStats`]), and the drop
//! counter that logs once per burst.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a full queue does with one more item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// The sender waits until there is room (back-pressure). Nothing is lost.
    Block,
    /// The oldest queued item is dropped to make room (counted).
    DropOldest,
    /// The new item is dropped (counted).
    DropNewest,
    /// The send fails with [`Error::QueueFull`](crate::Error::QueueFull)
    /// (counted as dropped).
    Error,
}

/// Capacity and overflow policy of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Most items held at once (at least 1).
    pub capacity: usize,
    /// What happens when full.
    pub policy: OverflowPolicy,
}

impl QueueConfig {
    /// A queue of `capacity` items with `policy`.
    pub const fn new(capacity: usize, policy: OverflowPolicy) -> Self {
        QueueConfig { capacity, policy }
    }
}

impl Default for QueueConfig {
    /// 1024 items, [`OverflowPolicy::Block`].
    fn default() -> Self {
        QueueConfig::new(1024, OverflowPolicy::Block)
    }
}

/// Counters of one queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Items accepted.
    pub pushed: u64,
    /// Items dropped by the overflow policy (including refused sends).
    pub dropped: u64,
}

/// Counts drops and logs once per burst: at the first drop, and with the
/// total when the next item is accepted.
#[derive(Debug, Default)]
pub(crate) struct DropCounter {
    total: AtomicU64,
    in_burst: AtomicU64,
    /// The metric drops are also counted in, once the runtime set it
    /// (`tsercom_samples_dropped_total{runtime, reason}`).
    metric: std::sync::OnceLock<metrics::Counter>,
}

impl DropCounter {
    /// Counts drops in `counter` too from now on (the first call wins).
    pub(crate) fn export_as(&self, counter: metrics::Counter) {
        let _ = self.metric.set(counter);
    }

    pub(crate) fn dropped(&self, what: &str, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
        if let Some(metric) = self.metric.get() {
            metric.increment(n);
        }
        if self.in_burst.fetch_add(n, Ordering::Relaxed) == 0 {
            tracing::warn!(queue = what, "queue full: dropping items (overflow policy)");
        }
    }

    pub(crate) fn accepted(&self, what: &str) {
        if self.in_burst.load(Ordering::Relaxed) == 0 {
            return; // the common case: no burst, no write to the shared line
        }
        let burst = self.in_burst.swap(0, Ordering::Relaxed);
        if burst > 0 {
            tracing::warn!(queue = what, dropped = burst, "queue drop burst ended");
        }
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}
