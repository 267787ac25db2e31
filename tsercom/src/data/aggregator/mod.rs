//! `RemoteDataAggregator`: every caller's samples, shared between the
//! runtime (which pushes) and the user's code (which reads).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::interpolate::Interpolate;
use super::store::{CallerStore, EqualTimestamps, Retention};
use crate::caller_id::CallerId;
use crate::queue::{DropCounter, OverflowPolicy};
use crate::time::{Estimate, Timestamp};

/// How often departed callers are swept (freed once read and past
/// retention, forgotten past the [`Forgetting`] bounds): on an arrival at
/// most this often, and by the runtime's timer when nothing arrives.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

pub use super::info::{CallerInfo, ConnectionState, DataStats, Forgetting, MemoryLimits, Sample};

mod ingest;
#[cfg(test)]
mod tests;

struct Entry<D> {
    /// The newest registration's generation (0 before any).
    generation: u64,
    store: CallerStore<D>,
    state: ConnectionState,
    peer: Option<String>,
    /// The runtime name the peer gave (`tsercom-name` stream metadata).
    name: Option<String>,
    deregistered_at: Option<Instant>,
    clock: Option<Estimate>,
    /// Connections of other processes refused for claiming this id.
    duplicates_refused: u64,
}

/// Yields of a reader in `wait_new` before it blocks.
const WAIT_YIELDS: u32 = 4;

struct State<D> {
    callers: HashMap<CallerId, Entry<D>, super::caller_hash::CallerHashing>,
    /// How many callers have unread samples: readers wait only while it is
    /// 0, so only its 0 → 1 step needs to wake them.
    callers_unread: usize,
    /// Pushes so far (the sweep check runs every 64).
    pushes: u64,
    /// Threads blocked in `wait_new` now: with none, a push skips the
    /// condvar (whose `notify_all` is a system call even with no waiter).
    blocked_readers: usize,
    /// Tasks waiting in `new_data` now: with none, a push skips the async
    /// wake-up (`Notify::notify_waiters` takes a lock even with no waiter).
    async_readers: usize,
    closed: bool,
    /// Bumped on every change of the caller list or a caller's state
    /// ([`RemoteDataAggregator::wait_callers`]).
    callers_generation: u64,
    /// Encoded bytes in all stores.
    total_bytes: usize,
    /// When disconnected callers were last swept (arrivals sweep at most
    /// once a second, so data nobody reads still expires).
    last_sweep: Instant,
    /// Whether stores are being shed for the total memory cap (logged once
    /// per episode).
    memory_shedding: bool,
    /// The memory caps (read on every push: under the lock already taken).
    memory: MemoryLimits,
    /// What an equal timestamp does (read on every push, likewise).
    equal: EqualTimestamps,
    /// Samples received, evicted by retention and replaced (equal
    /// timestamps): counted under the lock a push holds anyway, not in
    /// atomics every worker would bounce between its caches.
    received: u64,
    evicted: u64,
    replaced: u64,
}

/// Counts a task in `new_data` until it stops waiting (woken or dropped).
struct AsyncReader<'a, D>(&'a RemoteDataAggregator<D>);

impl<D> Drop for AsyncReader<'_, D> {
    fn drop(&mut self) {
        self.0.lock().async_readers -= 1;
    }
}

/// The state's lock on a cache line of its own: the read-only settings next
/// to it are read by every push without contending with the lock's writes.
#[repr(align(128))]
struct OwnLine<T>(T);

struct Shared<D> {
    state: OwnLine<Mutex<State<D>>>,
    callers_cv: Condvar,
    new_data_cv: Condvar,
    new_data: Notify,
    room_cv: Condvar,
    room: Notify,
    retention: Retention,
    policy: OverflowPolicy,
    forgotten: AtomicU64,
    callers_forgotten: AtomicU64,
    forgetting: Mutex<Forgetting>,
    /// `callers_unread > 0`, mirrored on every change (under the lock):
    /// a waiting reader polls it without taking the lock its pushers need.
    unread: std::sync::atomic::AtomicBool,
    /// A sample's encoded size (set by the runtime for protobuf messages;
    /// without it samples count 0 bytes and only `max_samples` bounds).
    size_of: std::sync::OnceLock<fn(&D) -> usize>,
    over_memory: AtomicU64,
    refused: AtomicU64,
    drops: DropCounter,
    /// `tsercom_samples_dropped_total{reason="forgotten"}`, once the
    /// runtime named it.
    forgotten_metric: std::sync::OnceLock<metrics::Counter>,
    peers: super::peers::PeerTable,
    /// Where the runtime listens (a hosting runtime), once it does.
    listening: Mutex<Vec<std::net::SocketAddr>>,
    /// Observers of every arriving sample (recorders).
    taps: super::tap::Taps<D>,
}

/// Every caller's samples, ordered by timestamp, bounded by [`Retention`]
/// and an [`OverflowPolicy`] (what happens when a caller's store is full of
/// unread samples). Cloning gives another view of the same data.
///
/// `take_new` returns each sample exactly once (late, out-of-order arrivals
/// included); the other queries do not consume.
pub struct RemoteDataAggregator<D> {
    shared: Arc<Shared<D>>,
}

impl<D> Clone for RemoteDataAggregator<D> {
    fn clone(&self) -> Self {
        RemoteDataAggregator {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<D> std::fmt::Debug for RemoteDataAggregator<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteDataAggregator")
            .field("retention", &self.shared.retention)
            .field("policy", &self.shared.policy)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<D> RemoteDataAggregator<D> {
    /// An empty aggregator.
    pub fn new(retention: Retention, policy: OverflowPolicy) -> Self {
        RemoteDataAggregator {
            shared: Arc::new(Shared {
                state: OwnLine(Mutex::new(State {
                    callers: HashMap::default(),
                    callers_unread: 0,
                    blocked_readers: 0,
                    async_readers: 0,
                    pushes: 0,
                    closed: false,
                    callers_generation: 0,
                    total_bytes: 0,
                    last_sweep: Instant::now(),
                    memory_shedding: false,
                    memory: MemoryLimits::default(),
                    equal: EqualTimestamps::default(),
                    received: 0,
                    evicted: 0,
                    replaced: 0,
                })),
                callers_cv: Condvar::new(),
                new_data_cv: Condvar::new(),
                new_data: Notify::new(),
                room_cv: Condvar::new(),
                room: Notify::new(),
                retention,
                policy,
                forgotten: AtomicU64::new(0),
                callers_forgotten: AtomicU64::new(0),
                forgetting: Mutex::new(Forgetting::default()),
                unread: std::sync::atomic::AtomicBool::new(false),
                size_of: std::sync::OnceLock::new(),
                over_memory: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                drops: DropCounter::default(),
                forgotten_metric: std::sync::OnceLock::new(),
                peers: super::peers::PeerTable::default(),
                listening: Mutex::new(Vec::new()),
                taps: super::tap::Taps::default(),
            }),
        }
    }

    fn made_room(&self) {
        self.shared.room_cv.notify_all();
        self.shared.room.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State<D>> {
        self.shared
            .state
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// With these bounds on disconnected callers' unread data (default
    /// [`Forgetting::default`]).
    pub fn set_forgetting(&self, forgetting: Forgetting) {
        *self
            .shared
            .forgetting
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = forgetting;
    }

    /// With these memory caps (default [`MemoryLimits::default`]), samples
    /// measured by `size_of` (e.g. `prost::Message::encoded_len`; the
    /// first measure set stays).
    pub fn set_memory_limits(&self, limits: MemoryLimits, size_of: fn(&D) -> usize) {
        self.lock().memory = limits;
        let _already_set = self.shared.size_of.set(size_of);
    }

    /// Mirrors `state.callers_unread > 0` for readers that poll without the
    /// lock; called under it after every change of the count.
    fn mirror_unread(&self, state: &State<D>) {
        self.shared
            .unread
            .store(state.callers_unread > 0, Ordering::Release);
    }

    /// What a sample with a timestamp equal to a stored one does (default:
    /// both kept, [`EqualTimestamps::KeepAll`]).
    pub fn set_equal_timestamps(&self, equal: EqualTimestamps) {
        self.lock().equal = equal;
    }

    /// Frees deregistered callers whose data is all read and whose retention
    /// (`max_age`, or nothing) has passed since they left; forgets those
    /// past the [`Forgetting`] bounds, read or not (counted).
    fn sweep(&self, state: &mut State<D>) {
        let before = state.callers.len();
        self.sweep_callers(state);
        if state.callers.len() != before {
            // Someone may wait for it (`wait_callers`).
            self.callers_changed(state);
        }
    }

    /// After a take: sweeps only when a caller has left (one may now be
    /// all read, and so freed); a take is frequent, a departure rare.
    fn sweep_departed(&self, state: &mut State<D>) {
        if state.callers.values().any(|e| e.deregistered_at.is_some()) {
            self.sweep(state);
        }
    }

    /// Sweeps (see [`sweep`](Self::sweep)) when the last sweep is a second
    /// old: the runtime calls it every second, so a caller is forgotten on
    /// time even when nothing arrives. `false` once closed.
    pub(crate) fn sweep_if_due(&self) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        if state.last_sweep.elapsed() >= SWEEP_INTERVAL {
            self.sweep(&mut state);
        }
        true
    }

    fn sweep_callers(&self, state: &mut State<D>) {
        let grace = self.shared.retention.max_age.unwrap_or(Duration::ZERO);
        let forgetting = *self
            .shared
            .forgetting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        state.last_sweep = Instant::now();
        let mut freed_bytes = 0;
        state.callers.retain(|_, e| match e.deregistered_at {
            Some(at) if e.store.unread() == 0 && at.elapsed() >= grace => {
                freed_bytes += e.store.bytes();
                false
            }
            _ => true,
        });
        state.total_bytes = state.total_bytes.saturating_sub(freed_bytes);
        // Left with unread data: the oldest past the count, and all past
        // the age.
        let mut left: Vec<(Instant, CallerId)> = state
            .callers
            .iter()
            .filter_map(|(id, e)| e.deregistered_at.map(|at| (at, *id)))
            .collect();
        left.sort();
        let excess = left.len().saturating_sub(forgetting.max_callers);
        let gone: Vec<(CallerId, Instant)> = left
            .into_iter()
            .enumerate()
            .filter(|(i, (at, _))| *i < excess || at.elapsed() >= forgetting.after)
            .map(|(_, (at, id))| (id, at))
            .collect();
        for (id, _) in &gone {
            if let Some(e) = state.callers.remove(id) {
                state.total_bytes = state.total_bytes.saturating_sub(e.store.bytes());
                let unread = e.store.unread();
                if unread > 0 {
                    state.callers_unread = state.callers_unread.saturating_sub(1);
                    self.mirror_unread(state);
                }
                self.shared
                    .forgotten
                    .fetch_add(unread as u64, Ordering::Relaxed);
                if let Some(metric) = self.shared.forgotten_metric.get() {
                    metric.increment(unread as u64);
                }
                self.shared
                    .callers_forgotten
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(caller = %id, unread, "forgot a disconnected caller's unread data (Forgetting bounds)");
            }
        }
    }

    // ---- user side ----

    /// Every caller's unread samples, oldest first per caller, marked read.
    /// Callers with nothing new are left out.
    pub fn take_new(&self) -> Vec<(CallerId, Vec<Sample<D>>)>
    where
        D: Clone,
    {
        let retention = self.shared.retention;
        let mut state = self.lock();
        let per_caller = state.memory.per_caller;
        let mut freed = false;
        if state.callers_unread > 0 {
            // Written only on a change: every push reads the line's
            // neighbours.
            state.callers_unread = 0;
            self.mirror_unread(&state);
        }
        let mut out: Vec<(CallerId, Vec<Sample<D>>)> = state
            .callers
            .iter_mut()
            .filter(|(_, e)| e.store.unread() > 0)
            .map(|(id, e)| {
                freed |= !e.store.has_room(&retention, 1, per_caller);
                (*id, e.store.take_new_with(to_sample))
            })
            .collect();
        self.sweep_departed(&mut state);
        drop(state);
        out.sort_by_key(|(id, _)| *id);
        if freed {
            self.made_room();
        }
        out
    }

    /// One caller's unread samples, oldest first, marked read.
    pub fn take_new_for(&self, caller: CallerId) -> Vec<Sample<D>>
    where
        D: Clone,
    {
        let retention = self.shared.retention;
        let mut state = self.lock();
        let per_caller = state.memory.per_caller;
        let mut freed = false;
        let out = state
            .callers
            .get_mut(&caller)
            .map(|e| {
                freed = !e.store.has_room(&retention, 1, per_caller);
                e.store.take_new_with(to_sample)
            })
            .unwrap_or_default();
        if !out.is_empty() {
            state.callers_unread = state.callers_unread.saturating_sub(1);
            self.mirror_unread(&state);
        }
        self.sweep_departed(&mut state);
        drop(state);
        // Pushers wait only for a store without room: wake them only when
        // this take gave one room (a condvar `notify_all` is a system call).
        if freed {
            self.made_room();
        }
        out
    }

    /// The newest sample of `caller`.
    pub fn most_recent(&self, caller: CallerId) -> Option<Sample<D>>
    where
        D: Clone,
    {
        let state = self.lock();
        let s = state.callers.get(&caller)?.store.most_recent()?;
        Some(Sample {
            timestamp: s.time,
            data: s.data.clone(),
        })
    }

    /// The newest sample of every caller that has one.
    pub fn most_recent_all(&self) -> Vec<(CallerId, Sample<D>)>
    where
        D: Clone,
    {
        self.for_all(|store| store.most_recent())
    }

    /// The latest sample of `caller` taken at or before `t`.
    pub fn at_or_before(&self, caller: CallerId, t: Timestamp) -> Option<Sample<D>>
    where
        D: Clone,
    {
        let state = self.lock();
        let s = state.callers.get(&caller)?.store.at_or_before(t)?;
        Some(Sample {
            timestamp: s.time,
            data: s.data.clone(),
        })
    }

    /// For every caller, its latest sample at or before `t`.
    pub fn at_or_before_all(&self, t: Timestamp) -> Vec<(CallerId, Sample<D>)>
    where
        D: Clone,
    {
        self.for_all(|store| store.at_or_before(t))
    }

    fn for_all(
        &self,
        pick: impl Fn(&CallerStore<D>) -> Option<&super::store::Sample<D>>,
    ) -> Vec<(CallerId, Sample<D>)>
    where
        D: Clone,
    {
        let state = self.lock();
        let mut out: Vec<_> = state
            .callers
            .iter()
            .filter_map(|(id, e)| {
                pick(&e.store).map(|s| {
                    (
                        *id,
                        Sample {
                            timestamp: s.time,
                            data: s.data.clone(),
                        },
                    )
                })
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// `caller`'s data at `t`, linearly interpolated between the samples
    /// around it; the exact sample when one is at `t`; `None` outside the
    /// stored range.
    pub fn interpolated(&self, caller: CallerId, t: Timestamp) -> Option<D>
    where
        D: Interpolate + Clone,
    {
        self.interpolated_with(caller, t, D::clone)
    }

    /// Like [`interpolated`](Self::interpolated) on a projection of the
    /// data, e.g. `|r: &Reading| r.celsius`.
    pub fn interpolated_with<V: Interpolate>(
        &self,
        caller: CallerId,
        t: Timestamp,
        project: impl Fn(&D) -> V,
    ) -> Option<V> {
        let state = self.lock();
        let store = &state.callers.get(&caller)?.store;
        match store.around(t) {
            (Some(before), _) if before.time == t => Some(project(&before.data)),
            (Some(before), Some(after)) => {
                let span = after.time.nanos_since(&before.time);
                let part = t.nanos_since(&before.time);
                #[allow(clippy::cast_precision_loss)] // a fraction in 0..1: f64 is precise enough
                let fraction = part as f64 / span as f64;
                V::interpolate(&project(&before.data), &project(&after.data), fraction)
            }
            _ => None,
        }
    }

    /// Blocks until some caller has unread data, or `timeout` passes.
    /// Returns whether there is unread data.
    pub fn wait_new(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // A few yields before blocking: under a stream, the next sample is
        // usually microseconds away, and a futex sleep and wake-up per
        // sample cost more than the sample. The yields poll the mirrored
        // flag, not the lock the pushers need.
        for _ in 0..WAIT_YIELDS {
            if self.shared.unread.load(Ordering::Acquire) {
                return true;
            }
            std::thread::yield_now();
        }
        let mut state = self.lock();
        loop {
            if state.callers_unread > 0 {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || state.closed {
                return false;
            }
            state.blocked_readers += 1;
            state = self
                .shared
                .new_data_cv
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.blocked_readers -= 1;
        }
    }

    /// Waits (async) until some caller has unread data. Returns `false` if
    /// the aggregator is closed with nothing unread.
    pub async fn new_data(&self) -> bool {
        loop {
            let notified = self.shared.new_data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _counted = {
                let mut state = self.lock();
                if state.callers_unread > 0 {
                    return true;
                }
                if state.closed {
                    return false;
                }
                // Counted under the lock a push reads it under.
                state.async_readers += 1;
                AsyncReader(self)
            };
            notified.await;
        }
    }

    /// Waits until `done` holds for the callers (checked now, then at
    /// every change: a caller added, connected, disconnected, moved to
    /// another address), or `timeout` passes. Returns the callers that
    /// satisfied it, or `None` on timeout (or shutdown). Use it instead of
    /// polling [`callers`](Self::callers), e.g. to wait until a peer shows
    /// `Disconnected`.
    pub fn wait_callers(
        &self,
        timeout: Duration,
        done: impl Fn(&[CallerInfo]) -> bool,
    ) -> Option<Vec<CallerInfo>> {
        let deadline = Instant::now() + timeout;
        loop {
            // The predicate runs on a snapshot, outside the lock (it may
            // call back into the handle); the generation tells whether
            // anything changed meanwhile.
            let (callers, seen) = {
                let mut state = self.lock();
                (self.callers_locked(&mut state), state.callers_generation)
            };
            if done(&callers) {
                return Some(callers);
            }
            let mut state = self.lock();
            while state.callers_generation == seen {
                let now = Instant::now();
                if now >= deadline || state.closed {
                    return None;
                }
                state = self
                    .shared
                    .callers_cv
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }

    /// Every caller known, sorted by id.
    pub fn callers(&self) -> Vec<CallerInfo> {
        let mut state = self.lock();
        self.callers_locked(&mut state)
    }

    fn callers_locked(&self, state: &mut State<D>) -> Vec<CallerInfo> {
        self.sweep(state);
        let mut out: Vec<CallerInfo> = state
            .callers
            .iter()
            .map(|(id, e)| CallerInfo {
                id: *id,
                state: e.state.clone(),
                peer: e.peer.clone(),
                name: e.name.clone(),
                stored: e.store.len(),
                unread: e.store.unread(),
                clock: e.clock,
                duplicates_refused: e.duplicates_refused,
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }

    /// The data path's counters.
    pub fn stats(&self) -> DataStats {
        let (received, evicted, replaced) = {
            let state = self.lock();
            (state.received, state.evicted, state.replaced)
        };
        DataStats {
            received,
            dropped: self.shared.drops.total(),
            evicted,
            forgotten: self.shared.forgotten.load(Ordering::Relaxed),
            callers_forgotten: self.shared.callers_forgotten.load(Ordering::Relaxed),
            replaced,
            refused: self.shared.refused.load(Ordering::Relaxed),
            over_memory: self.shared.over_memory.load(Ordering::Relaxed),
        }
    }

    /// The peers a dialing runtime tries to reach, reached or not (by
    /// target); empty for a runtime that only hosts.
    pub fn peers(&self) -> Vec<crate::data::PeerInfo> {
        self.shared.peers.all()
    }

    /// The addresses the runtime listens on, with the ports actually bound
    /// (ask for port 0 and read the port here); empty for a runtime that
    /// only dials, or before it started.
    pub fn listening(&self) -> Vec<std::net::SocketAddr> {
        self.shared
            .listening
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until `done` holds for [`peers`](Self::peers) (checked at
    /// every change), or `timeout`; the peers then, or `None`.
    pub fn wait_peers(
        &self,
        timeout: Duration,
        done: impl Fn(&[crate::data::PeerInfo]) -> bool,
    ) -> Option<Vec<crate::data::PeerInfo>> {
        self.shared.peers.wait(timeout, done)
    }
}

fn to_sample<D: Clone>(timestamp: Timestamp, data: &D) -> Sample<D> {
    Sample {
        timestamp,
        data: data.clone(),
    }
}
