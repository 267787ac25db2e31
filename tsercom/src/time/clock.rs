//! Clock offsets between peers: the NTP four-timestamp exchange, min-RTT
//! filtering over a window, and the [`SynchronizedClock`].
//!
//! ```text
//!   client (producer)            server (aggregator: the timebase)
//!   t1 ── request ─────────────▶ t2
//!   t4 ◀───────────── reply ──── t3
//!   offset = ((t2 - t1) + (t3 - t4)) / 2     (server clock - client clock)
//!   delay  = (t4 - t1) - (t3 - t2)           (round trip minus server time)
//! ```
//!
//! With asymmetric paths the true offset lies within `offset ± delay / 2`;
//! the sample with the smallest delay in the window has the tightest bound,
//! so that is the estimate (not a mean, which a single slow sample skews).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::Timestamp;

/// A source of local time; injectable so tests can skew clocks.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current local time.
    fn now(&self) -> Timestamp;
}

/// The machine's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock running `offset_nanos` ahead of another (for tests and
/// benchmarks of clock sync).
#[derive(Debug)]
pub struct OffsetClock<C> {
    /// The clock it follows.
    pub base: C,
    /// How far ahead it runs (negative: behind).
    pub offset_nanos: i128,
}

impl<C: Clock> Clock for OffsetClock<C> {
    fn now(&self) -> Timestamp {
        let now = self.base.now();
        now.offset_by_nanos(self.offset_nanos).unwrap_or(now)
    }
}

/// One four-timestamp exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Client clock, request sent.
    pub t1: Timestamp,
    /// Server clock, request received.
    pub t2: Timestamp,
    /// Server clock, reply sent.
    pub t3: Timestamp,
    /// Client clock, reply received.
    pub t4: Timestamp,
}

impl Exchange {
    /// Server clock minus client clock, in nanoseconds.
    pub fn offset_nanos(&self) -> i128 {
        (self.t2.nanos_since(&self.t1) + self.t3.nanos_since(&self.t4)) / 2
    }

    /// Round trip minus the server's processing time, in nanoseconds
    /// (never negative).
    pub fn delay_nanos(&self) -> i128 {
        (self.t4.nanos_since(&self.t1) - self.t3.nanos_since(&self.t2)).max(0)
    }
}

/// The current estimate of a peer's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    /// Peer clock minus local clock, in nanoseconds.
    pub offset_nanos: i128,
    /// Round-trip delay of the exchange behind it; the true offset is within
    /// `offset_nanos ± delay_nanos / 2`.
    pub delay_nanos: i128,
    /// Exchanges in the window.
    pub samples: usize,
}

/// Keeps the last `window` exchanges and estimates from the one with the
/// smallest delay.
#[derive(Clone, Debug)]
pub struct OffsetEstimator {
    window: usize,
    exchanges: VecDeque<Exchange>,
}

impl OffsetEstimator {
    /// An estimator over the last `window` (at least 1) exchanges.
    pub fn new(window: usize) -> Self {
        OffsetEstimator {
            window: window.max(1),
            exchanges: VecDeque::new(),
        }
    }

    /// Adds an exchange; returns the new estimate.
    pub fn add(&mut self, exchange: Exchange) -> Estimate {
        if self.exchanges.len() == self.window {
            self.exchanges.pop_front();
        }
        self.exchanges.push_back(exchange);
        self.estimate().unwrap_or(Estimate {
            offset_nanos: exchange.offset_nanos(),
            delay_nanos: exchange.delay_nanos(),
            samples: 1,
        })
    }

    /// The estimate from the minimum-delay exchange, if any.
    pub fn estimate(&self) -> Option<Estimate> {
        let best = self.exchanges.iter().min_by_key(|e| e.delay_nanos())?;
        Some(Estimate {
            offset_nanos: best.offset_nanos(),
            delay_nanos: best.delay_nanos(),
            samples: self.exchanges.len(),
        })
    }
}

/// Whether a [`SynchronizedClock`] has an offset yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncState {
    /// No exchange has completed yet: `now()` is the local clock.
    NotSynchronized,
    /// An estimate is in use.
    Synchronized(Estimate),
}

/// Time on the common timebase (the aggregator's clock).
///
/// Before the first exchange it is **not synchronized**: [`now`] then
/// returns the local clock unchanged (offset 0) and [`try_now`] returns
/// `None`; nothing ever blocks waiting for a server. The aggregator's own
/// clock is synchronized by definition ([`SynchronizedClock::timebase`]).
///
/// [`now`]: SynchronizedClock::now
/// [`try_now`]: SynchronizedClock::try_now
#[derive(Clone, Debug)]
pub struct SynchronizedClock {
    local: Arc<dyn Clock>,
    state: Arc<tokio::sync::watch::Sender<SyncState>>,
}

impl SynchronizedClock {
    /// A clock over `local`, not yet synchronized.
    pub fn new(local: Arc<dyn Clock>) -> Self {
        SynchronizedClock {
            local,
            state: Arc::new(tokio::sync::watch::Sender::new(SyncState::NotSynchronized)),
        }
    }

    /// The timebase itself (the aggregator): synchronized, offset 0.
    pub fn timebase(local: Arc<dyn Clock>) -> Self {
        let clock = SynchronizedClock::new(local);
        clock.set_estimate(Estimate {
            offset_nanos: 0,
            delay_nanos: 0,
            samples: 0,
        });
        clock
    }

    /// Installs a new estimate (from the estimator of the peer that is the
    /// timebase).
    pub fn set_estimate(&self, estimate: Estimate) {
        self.state.send_replace(SyncState::Synchronized(estimate));
    }

    /// The local clock's time (no offset applied).
    pub fn local_now(&self) -> Timestamp {
        self.local.now()
    }

    /// Follows the state: the receiver sees every new estimate.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<SyncState> {
        self.state.subscribe()
    }

    /// The current state.
    pub fn state(&self) -> SyncState {
        *self.state.borrow()
    }

    fn offset(&self) -> Option<i128> {
        match self.state() {
            SyncState::Synchronized(e) => Some(e.offset_nanos),
            SyncState::NotSynchronized => None,
        }
    }

    /// Now on the common timebase, or `None` when not synchronized.
    pub fn try_now(&self) -> Option<Timestamp> {
        let offset = self.offset()?;
        self.local.now().offset_by_nanos(offset).ok()
    }

    /// Now on the common timebase; the local clock while not synchronized.
    pub fn now(&self) -> Timestamp {
        self.try_now().unwrap_or_else(|| self.local.now())
    }

    /// Converts a local time to the common timebase (unchanged while not
    /// synchronized, or if the result would leave the range).
    pub fn to_timebase(&self, local: Timestamp) -> Timestamp {
        self.offset()
            .and_then(|o| local.offset_by_nanos(o).ok())
            .unwrap_or(local)
    }

    /// Converts a common-timebase time to the local clock.
    pub fn to_local(&self, common: Timestamp) -> Timestamp {
        self.offset()
            .and_then(|o| common.offset_by_nanos(-o).ok())
            .unwrap_or(common)
    }

    /// Waits (async, bounded) until synchronized; returns whether it is.
    pub async fn wait_synchronized(&self, timeout: Duration) -> bool {
        let mut rx = self.state.subscribe();
        let synced = rx.wait_for(|s| matches!(s, SyncState::Synchronized(_)));
        matches!(tokio::time::timeout(timeout, synced).await, Ok(Ok(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(nanos: i128) -> Timestamp {
        Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + nanos).expect("in range")
    }

    /// An exchange with the server `offset` ahead, `up`/`down` one-way
    /// delays and `hold` server processing, starting at client time `start`.
    fn exchange(start: i128, offset: i128, up: i128, down: i128, hold: i128) -> Exchange {
        let t1 = start;
        let t2 = t1 + up + offset;
        let t3 = t2 + hold;
        let t4 = t3 - offset + down;
        Exchange {
            t1: at(t1),
            t2: at(t2),
            t3: at(t3),
            t4: at(t4),
        }
    }

    #[test]
    fn symmetric_exchange_is_exact() {
        let e = exchange(0, 2_500_000_000, 300_000, 300_000, 50_000);
        assert_eq!(e.offset_nanos(), 2_500_000_000);
        assert_eq!(e.delay_nanos(), 600_000);
    }

    #[test]
    fn asymmetric_delays_stay_within_half_the_round_trip() {
        let offset = 2_500_000_000; // +2.5 s
        let mut est = OffsetEstimator::new(8);
        // Synthetic asymmetric paths; one very slow outlier.
        let delays = [
            (900_000, 100_000),
            (50_000, 4_000_000),
            (200_000, 250_000),
            (30_000_000, 1_000_000),
        ];
        for (i, (up, down)) in delays.iter().enumerate() {
            let e = exchange(
                i128::try_from(i).expect("small") * 1_000_000_000,
                offset,
                *up,
                *down,
                20_000,
            );
            let estimate = est.add(e);
            let error = (estimate.offset_nanos - offset).abs();
            assert!(
                error <= estimate.delay_nanos / 2,
                "error {error} > bound {}",
                estimate.delay_nanos / 2
            );
        }
        // Min-RTT: the (200 µs, 250 µs) exchange wins, not a mean.
        let final_estimate = est.estimate().expect("estimate");
        assert_eq!(final_estimate.delay_nanos, 450_000);
        assert_eq!(final_estimate.offset_nanos, offset - 25_000);
    }

    #[test]
    fn window_forgets_old_exchanges() {
        let mut est = OffsetEstimator::new(2);
        est.add(exchange(0, 100, 10, 10, 0));
        est.add(exchange(1, 200, 50, 50, 0));
        let e = est.add(exchange(2, 300, 60, 60, 0));
        assert_eq!((e.offset_nanos, e.samples), (200, 2));
    }

    #[test]
    fn not_synchronized_uses_the_local_clock_and_never_blocks() {
        let clock = SynchronizedClock::new(Arc::new(SystemClock));
        assert_eq!(clock.state(), SyncState::NotSynchronized);
        assert!(clock.try_now().is_none());
        let t = at(0);
        assert_eq!(clock.to_timebase(t), t);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        assert!(!rt.block_on(clock.wait_synchronized(Duration::from_millis(1))));

        clock.set_estimate(Estimate {
            offset_nanos: 2_500_000_000,
            delay_nanos: 1,
            samples: 1,
        });
        assert_eq!(clock.to_timebase(t), at(2_500_000_000));
        assert_eq!(clock.to_local(at(2_500_000_000)), t);
        assert!(rt.block_on(clock.wait_synchronized(Duration::from_millis(1))));
    }
}
