//! What a handle shows about its callers and its data path: samples,
//! connection states, caller info, counters, and the bounds on callers
//! that left.

use std::time::{Duration, SystemTime};

use crate::caller_id::CallerId;
use crate::time::{Estimate, Timestamp};

/// One sample and its time (in the local timebase).
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<D> {
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// The data.
    pub data: D,
}

/// Whether a caller is currently connected.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Registered and connected.
    Connected,
    /// Deregistered (disconnected); its data stays readable until read and
    /// past retention, or until it is forgotten
    /// ([`Forgetting`]), whichever comes first.
    Disconnected {
        /// When it disconnected.
        since: SystemTime,
        /// Why (the stream's end, a keepalive timeout, a replacement, ...).
        reason: String,
    },
}

impl ConnectionState {
    /// Whether this is [`ConnectionState::Connected`].
    pub fn is_connected(&self) -> bool {
        matches!(self, ConnectionState::Connected)
    }
}

/// How long the aggregator keeps callers that left with data nobody read,
/// and how many: past either bound their stores are dropped and counted
/// ([`DataStats::forgotten`]), so peers that come and go cannot grow it
/// without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Forgetting {
    /// A disconnected caller's unread data is dropped this long after it
    /// left.
    pub after: Duration,
    /// At most this many disconnected callers are kept; past it the one
    /// that left first is dropped.
    pub max_callers: usize,
}

impl Default for Forgetting {
    /// 10 minutes; 1 024 callers.
    fn default() -> Self {
        Forgetting {
            after: Duration::from_secs(600),
            max_callers: 1024,
        }
    }
}

impl Forgetting {
    /// Dropped this long after leaving.
    pub fn after(mut self, after: Duration) -> Self {
        self.after = after;
        self
    }

    /// At most this many kept.
    pub fn max_callers(mut self, max: usize) -> Self {
        self.max_callers = max;
        self
    }
}

/// Bounds on the memory an aggregator's stores take, in encoded bytes of
/// the samples (what a peer sent; the decoded size is of the same order).
/// A caller's store past `per_caller` behaves as full (its overflow policy
/// applies, as for `Retention::max_samples`); all stores together past
/// `total` lose the oldest samples of the largest store, whatever the
/// policy, counted in [`DataStats::over_memory`] (read ones first, counted
/// as evicted): one peer's flood never grows the process without bound nor
/// pushes the others' data out first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Bytes one caller's store may hold (at least one sample is kept).
    pub per_caller: usize,
    /// Bytes all stores may hold together.
    pub total: usize,
}

impl Default for MemoryLimits {
    /// 64 MiB per caller, 1 GiB in all.
    fn default() -> Self {
        MemoryLimits {
            per_caller: 64 << 20,
            total: 1 << 30,
        }
    }
}

/// A caller known to the aggregator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerInfo {
    /// Its id.
    pub id: CallerId,
    /// Its connection state.
    pub state: ConnectionState,
    /// The peer's address, when known.
    pub peer: Option<String>,
    /// The peer's runtime name (e.g. `Thermometer`, or the `name = ...` of
    /// its `#[tsercom::runtime]`), when it gave one: tsercom peers send it
    /// with each stream (`tsercom-name` metadata).
    pub name: Option<String>,
    /// Samples stored.
    pub stored: usize,
    /// Samples not yet taken.
    pub unread: usize,
    /// The caller's clock relative to ours (offset and the round trip it
    /// was measured with), when the runtime measures it.
    pub clock: Option<Estimate>,
    /// Connections of other processes refused (`ALREADY_EXISTS`) because
    /// they claimed this caller's id while it was connected: a clone of its
    /// identity is running somewhere.
    pub duplicates_refused: u64,
}

/// Counters of the data path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataStats {
    /// Samples received from runtimes.
    pub received: u64,
    /// Samples dropped by the overflow policy (unread data lost).
    pub dropped: u64,
    /// Samples removed by retention after they were read (or by age).
    pub evicted: u64,
    /// Unread samples dropped with a disconnected caller that was
    /// forgotten ([`Forgetting`]).
    pub forgotten: u64,
    /// Disconnected callers forgotten with unread data.
    pub callers_forgotten: u64,
    /// Samples refused before storing (a peer's invalid timestamp): the
    /// stream went on without them.
    pub refused: u64,
    /// Samples replaced by one with an equal timestamp (only under
    /// [`EqualTimestamps::Replace`](super::EqualTimestamps::Replace); by default both are kept).
    pub replaced: u64,
    /// Unread samples dropped because all stores together passed
    /// [`MemoryLimits::total`] (taken from the largest store).
    pub over_memory: u64,
}
