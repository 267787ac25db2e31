//! `RemoteDataAggregator`: every caller's samples, shared between the
//! runtime (which pushes) and the user's code (which reads).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

use super::interpolate::Interpolate;
use super::store::{CallerStore, EqualTimestamps, Retention};
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::queue::{DropCounter, OverflowPolicy};
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

/// A caller known to the aggregator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerInfo {
    /// Its id.
    pub id: CallerId,
    /// Its connection state.
    pub state: ConnectionState,
    /// The peer's address, when known.
    pub peer: Option<String>,
    /// Samples stored.
    pub stored: usize,
    /// Samples not yet taken.
    pub unread: usize,
    /// The caller's clock relative to ours (offset and the round trip it
    /// was measured with), when the runtime measures it.
    pub clock: Option<Estimate>,
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
    /// [`EqualTimestamps::Replace`]; by default both are kept).
    pub replaced: u64,
}

struct Entry<D> {
    /// The newest registration's generation (0 before any).
    generation: u64,
    store: CallerStore<D>,
    state: ConnectionState,
    peer: Option<String>,
    deregistered_at: Option<Instant>,
    clock: Option<Estimate>,
}

struct State<D> {
    callers: HashMap<CallerId, Entry<D>>,
    /// How many callers have unread samples: readers wait only while it is
    /// 0, so only its 0 → 1 step needs to wake them.
    callers_unread: usize,
    closed: bool,
    /// Bumped on every change of the caller list or a caller's state
    /// ([`RemoteDataAggregator::wait_callers`]).
    callers_generation: u64,
}

struct Shared<D> {
    state: Mutex<State<D>>,
    callers_cv: Condvar,
    new_data_cv: Condvar,
    new_data: Notify,
    room_cv: Condvar,
    room: Notify,
    retention: Retention,
    policy: OverflowPolicy,
    received: AtomicU64,
    evicted: AtomicU64,
    forgotten: AtomicU64,
    callers_forgotten: AtomicU64,
    forgetting: Mutex<Forgetting>,
    equal: Mutex<EqualTimestamps>,
    replaced: AtomicU64,
    refused: AtomicU64,
    drops: DropCounter,
    peers: super::peers::PeerTable,
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
                state: Mutex::new(State {
                    callers: HashMap::new(),
                    callers_unread: 0,
                    closed: false,
                    callers_generation: 0,
                }),
                callers_cv: Condvar::new(),
                new_data_cv: Condvar::new(),
                new_data: Notify::new(),
                room_cv: Condvar::new(),
                room: Notify::new(),
                retention,
                policy,
                received: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
                forgotten: AtomicU64::new(0),
                callers_forgotten: AtomicU64::new(0),
                forgetting: Mutex::new(Forgetting::default()),
                equal: Mutex::new(EqualTimestamps::default()),
                replaced: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                drops: DropCounter::default(),
                peers: super::peers::PeerTable::default(),
                taps: super::tap::Taps::default(),
            }),
        }
    }

    fn made_room(&self) {
        self.shared.room_cv.notify_all();
        self.shared.room.notify_waiters();
    }

    fn lock(&self) -> MutexGuard<'_, State<D>> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
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

    /// What a sample with a timestamp equal to a stored one does (default:
    /// both kept, [`EqualTimestamps::KeepAll`]).
    pub fn set_equal_timestamps(&self, equal: EqualTimestamps) {
        *self.shared.equal.lock().unwrap_or_else(|e| e.into_inner()) = equal;
    }

    /// Frees deregistered callers whose data is all read and whose retention
    /// (`max_age`, or nothing) has passed since they left; forgets those
    /// past the [`Forgetting`] bounds, read or not (counted).
    fn sweep(&self, state: &mut State<D>) {
        let grace = self.shared.retention.max_age.unwrap_or(Duration::ZERO);
        let forgetting = *self
            .shared
            .forgetting
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        state.callers.retain(|_, e| match e.deregistered_at {
            Some(at) if e.store.unread() == 0 => at.elapsed() < grace,
            _ => true,
        });
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
                let unread = e.store.unread();
                if unread > 0 {
                    state.callers_unread = state.callers_unread.saturating_sub(1);
                }
                self.shared
                    .forgotten
                    .fetch_add(unread as u64, Ordering::Relaxed);
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
        let mut freed = false;
        state.callers_unread = 0;
        let mut out: Vec<(CallerId, Vec<Sample<D>>)> = state
            .callers
            .iter_mut()
            .filter(|(_, e)| e.store.unread() > 0)
            .map(|(id, e)| {
                freed |= !e.store.has_room(&retention);
                (*id, to_samples(e.store.take_new()))
            })
            .collect();
        self.sweep(&mut state);
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
        let mut freed = false;
        let out = state
            .callers
            .get_mut(&caller)
            .map(|e| {
                freed = !e.store.has_room(&retention);
                to_samples(e.store.take_new())
            })
            .unwrap_or_default();
        if !out.is_empty() {
            state.callers_unread = state.callers_unread.saturating_sub(1);
        }
        self.sweep(&mut state);
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
        let mut state = self.lock();
        loop {
            if state.callers.values().any(|e| e.store.unread() > 0) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline || state.closed {
                return false;
            }
            state = self
                .shared
                .new_data_cv
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits (async) until some caller has unread data. Returns `false` if
    /// the aggregator is closed with nothing unread.
    pub async fn new_data(&self) -> bool {
        loop {
            let notified = self.shared.new_data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.callers.values().any(|e| e.store.unread() > 0) {
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
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
                stored: e.store.len(),
                unread: e.store.unread(),
                clock: e.clock,
            })
            .collect();
        out.sort_by_key(|c| c.id);
        out
    }

    /// The data path's counters.
    pub fn stats(&self) -> DataStats {
        DataStats {
            received: self.shared.received.load(Ordering::Relaxed),
            dropped: self.shared.drops.total(),
            evicted: self.shared.evicted.load(Ordering::Relaxed),
            forgotten: self.shared.forgotten.load(Ordering::Relaxed),
            callers_forgotten: self.shared.callers_forgotten.load(Ordering::Relaxed),
            replaced: self.shared.replaced.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
        }
    }

    /// The peers a dialing runtime tries to reach, reached or not (by
    /// target); empty for a runtime that only hosts.
    pub fn peers(&self) -> Vec<super::PeerInfo> {
        self.shared.peers.all()
    }

    /// Waits until `done` holds for [`peers`](Self::peers) (checked at
    /// every change), or `timeout`; the peers then, or `None`.
    pub fn wait_peers(
        &self,
        timeout: Duration,
        done: impl Fn(&[super::PeerInfo]) -> bool,
    ) -> Option<Vec<super::PeerInfo>> {
        self.shared.peers.wait(timeout, done)
    }

    // ---- runtime side ----

    /// Counts a sample of `caller` refused before storing.
    pub(crate) fn refused(&self, caller: CallerId) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%caller, "sample refused");
    }

    /// Records a dialed peer's state.
    pub(crate) fn set_peer(&self, info: super::PeerInfo) {
        self.shared.peers.set(info);
    }

    /// Forgets a dialed peer.
    pub(crate) fn remove_peer(&self, target: &str) {
        self.shared.peers.remove(target);
    }

    /// Registers (or re-registers, after a reconnect) `caller` as its
    /// registration number `generation`; an older registration's news is
    /// ignored from then on.
    pub(crate) fn register(&self, caller: CallerId, peer: Option<String>, generation: u64) {
        let mut state = self.lock();
        if state
            .callers
            .get(&caller)
            .is_some_and(|e| e.generation > generation)
        {
            return;
        }
        let is_new = !state.callers.contains_key(&caller);
        let entry = state.callers.entry(caller).or_insert_with(|| Entry {
            generation: 0,
            store: CallerStore::new(),
            state: ConnectionState::Connected,
            peer: None,
            deregistered_at: None,
            clock: None,
        });
        let changed = entry.state != ConnectionState::Connected
            || (peer.is_some() && entry.peer != peer)
            || entry.deregistered_at.is_some();
        entry.state = ConnectionState::Connected;
        entry.generation = generation;
        entry.deregistered_at = None;
        if peer.is_some() {
            entry.peer = peer;
        }
        if changed || is_new {
            self.callers_changed(&mut state);
        }
    }

    fn callers_changed(&self, state: &mut State<D>) {
        state.callers_generation = state.callers_generation.wrapping_add(1);
        self.shared.callers_cv.notify_all();
    }

    /// Records `caller`'s current clock estimate (shown in
    /// [`CallerInfo::clock`]).
    pub(crate) fn set_clock(&self, caller: CallerId, estimate: Estimate) {
        if let Some(e) = self.lock().callers.get_mut(&caller) {
            e.clock = Some(estimate);
        }
    }

    /// Marks `caller` disconnected (when `generation` is still its
    /// registration); its store is freed once read and past retention.
    pub(crate) fn deregister(&self, caller: CallerId, generation: u64, reason: String) {
        let mut state = self.lock();
        if let Some(e) = state.callers.get_mut(&caller)
            && e.generation <= generation
        {
            e.state = ConnectionState::Disconnected {
                since: SystemTime::now(),
                reason,
            };
            e.deregistered_at = Some(Instant::now());
            self.callers_changed(&mut state);
        }
        self.sweep(&mut state);
    }

    /// Stores one sample of `caller` under the overflow policy; `Block`
    /// waits for the user to take data.
    pub(crate) async fn push(&self, caller: CallerId, time: Timestamp, data: D) -> Result<()> {
        self.shared.taps.observe(caller, time, &data);
        let mut data = Some(data);
        // Room (the usual case): no wake-up registration.
        if self.try_push(caller, time, &mut data)? {
            return Ok(());
        }
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.try_push(caller, time, &mut data)? {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Stores a sample for `caller` from blocking code (a custom source, a
    /// replay, a benchmark), with the aggregator's retention and overflow
    /// policy: under `Block`, waits for a take when the caller's store is
    /// full of unread samples.
    ///
    /// # Errors
    /// [`Error::Closed`] once the aggregator is closed;
    /// [`Error::QueueFull`] under the `Error` policy.
    pub fn push_blocking(&self, caller: CallerId, time: Timestamp, data: D) -> Result<()> {
        self.shared.taps.observe(caller, time, &data);
        let mut data = Some(data);
        loop {
            if self.try_push(caller, time, &mut data)? {
                return Ok(());
            }
            // Block policy and full: wait for a take. The check and the
            // wait hold the lock together, so a take cannot slip between.
            let retention = self.shared.retention;
            let state = self.lock();
            let full = !state.closed
                && state
                    .callers
                    .get(&caller)
                    .is_some_and(|e| !e.store.has_room(&retention));
            if full {
                let _unused = self
                    .shared
                    .room_cv
                    .wait_timeout(state, Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// `Ok(true)` when done (stored or dropped by policy), `Ok(false)` when
    /// the Block policy must wait.
    fn try_push(&self, caller: CallerId, time: Timestamp, data: &mut Option<D>) -> Result<bool> {
        let retention = self.shared.retention;
        let mut state = self.lock();
        if state.closed {
            return Err(Error::Closed("data aggregator".into()));
        }
        let mut created = false;
        let entry = state.callers.entry(caller).or_insert_with(|| {
            // Data before the caller's registration (out of process, the
            // registration frame may follow): a new caller all the same.
            created = true;
            Entry {
                generation: 0,
                store: CallerStore::new(),
                state: ConnectionState::Connected,
                peer: None,
                deregistered_at: None,
                clock: None,
            }
        });
        if !entry.store.has_room(&retention) {
            match self.shared.policy {
                OverflowPolicy::Block => return Ok(false),
                OverflowPolicy::DropOldest => {}
                OverflowPolicy::DropNewest => {
                    drop(state);
                    self.shared.received.fetch_add(1, Ordering::Relaxed);
                    self.shared.drops.dropped("data", 1);
                    return Ok(true);
                }
                _ => {
                    drop(state);
                    self.shared.received.fetch_add(1, Ordering::Relaxed);
                    self.shared.drops.dropped("data", 1);
                    return Err(Error::QueueFull {
                        queue: format!("data of caller {caller}"),
                        capacity: retention.max_samples,
                    });
                }
            }
        }
        let Some(value) = data.take() else {
            return Ok(true);
        };
        let was_unread = entry.store.unread() > 0;
        let equal = *self.shared.equal.lock().unwrap_or_else(|e| e.into_inner());
        let inserted = entry.store.insert(time, value, &retention, equal);
        let now_unread = entry.store.unread() > 0;
        let wake = match (was_unread, now_unread) {
            (false, true) => {
                state.callers_unread += 1;
                state.callers_unread == 1
            }
            (true, false) => {
                state.callers_unread = state.callers_unread.saturating_sub(1);
                false
            }
            _ => false,
        };
        if created {
            self.callers_changed(&mut state);
        }
        drop(state);
        self.shared.received.fetch_add(1, Ordering::Relaxed);
        self.shared
            .evicted
            .fetch_add(inserted.evicted, Ordering::Relaxed);
        if inserted.replaced > 0 {
            self.shared
                .replaced
                .fetch_add(inserted.replaced, Ordering::Relaxed);
        }
        if inserted.dropped_unread > 0 {
            self.shared.drops.dropped("data", inserted.dropped_unread);
        } else {
            self.shared.drops.accepted("data");
        }
        // Readers wait only while nothing is unread, so only the first
        // caller with unread samples needs to wake them.
        if wake {
            self.shared.new_data_cv.notify_all();
            self.shared.new_data.notify_waiters();
        }
        Ok(true)
    }

    /// Observers of every arriving sample (see [`super::tap`]).
    #[cfg_attr(not(feature = "record"), allow(dead_code))] // attached by `record` only
    pub(crate) fn taps(&self) -> &super::tap::Taps<D> {
        &self.shared.taps
    }

    /// Wakes every waiter for good (the runtime stopped).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.shared.callers_cv.notify_all();
        self.shared.new_data_cv.notify_all();
        self.shared.new_data.notify_waiters();
        self.made_room();
    }
}

fn to_samples<D>(v: Vec<(Timestamp, D)>) -> Vec<Sample<D>> {
    v.into_iter()
        .map(|(timestamp, data)| Sample { timestamp, data })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::new(s, 0).expect("in range")
    }

    fn agg(max: usize, policy: OverflowPolicy) -> RemoteDataAggregator<f64> {
        RemoteDataAggregator::new(
            Retention {
                max_samples: max,
                max_age: None,
            },
            policy,
        )
    }

    /// The count that gates reader wake-ups always equals the number of
    /// callers with unread samples, through every path that changes it
    /// (insert, in and out of order, an out-of-window sample evicted on
    /// arrival, take for one, take for all).
    #[test]
    fn the_unread_caller_count_follows_every_change() {
        let a: RemoteDataAggregator<f64> = RemoteDataAggregator::new(
            Retention {
                max_samples: 4,
                max_age: Some(Duration::from_secs(10)),
            },
            OverflowPolicy::DropOldest,
        );
        let check = |a: &RemoteDataAggregator<f64>, step: &str| {
            let state = a.lock();
            let actual = state
                .callers
                .values()
                .filter(|e| e.store.unread() > 0)
                .count();
            assert_eq!(state.callers_unread, actual, "after {step}");
        };
        let (x, y) = (CallerId::random(), CallerId::random());
        a.push_blocking(x, t(100), 1.0).expect("push");
        check(&a, "x's first");
        a.push_blocking(x, t(101), 2.0).expect("push");
        a.push_blocking(y, t(100), 3.0).expect("push");
        check(&a, "y's first");
        assert_eq!(a.take_new_for(x).len(), 2);
        check(&a, "take x");
        assert!(a.take_new_for(x).is_empty());
        check(&a, "take x again");
        // Older than the window behind x's newest: evicted on arrival.
        a.push_blocking(x, t(50), 4.0).expect("push");
        check(&a, "an out-of-window sample");
        for i in 0..10 {
            a.push_blocking(x, t(102 + i), 5.0).expect("push");
        }
        check(&a, "a full store dropping oldest");
        assert_eq!(a.take_new().len(), 2);
        check(&a, "take all");
        a.push_blocking(y, t(99), 6.0).expect("push");
        check(&a, "an out-of-order sample after a take");
    }

    #[test]
    fn queries_per_caller_and_for_all() {
        let a = agg(100, OverflowPolicy::DropOldest);
        let (x, y) = (CallerId::random(), CallerId::random());
        a.register(x, Some("127.0.0.1:1".into()), 1);
        for i in 0..5 {
            a.push_blocking(x, t(i * 10), i as f64).expect("push");
            a.push_blocking(y, t(i * 10 + 5), 100.0 + i as f64)
                .expect("push");
        }
        assert_eq!(a.most_recent(x).map(|s| s.data), Some(4.0));
        assert_eq!(a.at_or_before(x, t(25)).map(|s| s.data), Some(2.0));
        assert_eq!(a.at_or_before(x, t(-1)), None);
        assert_eq!(a.interpolated(x, t(15)), Some(1.5));
        assert_eq!(a.interpolated(x, t(20)), Some(2.0));
        assert_eq!(a.interpolated(x, t(41)), None);
        assert_eq!(a.interpolated_with(y, t(10), |v| v * 2.0), Some(201.0));
        assert_eq!(a.at_or_before_all(t(6)).len(), 2);
        let all = a.take_new();
        assert_eq!(all.iter().map(|(_, v)| v.len()).sum::<usize>(), 10);
        assert!(a.take_new().is_empty());
        assert_eq!(
            a.stats(),
            DataStats {
                received: 10,
                ..DataStats::default()
            }
        );
    }

    #[test]
    fn overflow_policies_count_drops() {
        let x = CallerId::random();
        let a = agg(3, OverflowPolicy::DropNewest);
        for i in 0..10 {
            a.push_blocking(x, t(i), i as f64).expect("push");
        }
        let kept: Vec<f64> = a.take_new_for(x).into_iter().map(|s| s.data).collect();
        assert_eq!(kept, [0.0, 1.0, 2.0]);
        assert_eq!(a.stats().dropped, 7);

        let a = agg(3, OverflowPolicy::DropOldest);
        for i in 0..10 {
            a.push_blocking(x, t(i), i as f64).expect("push");
        }
        let kept: Vec<f64> = a.take_new_for(x).into_iter().map(|s| s.data).collect();
        assert_eq!(kept, [7.0, 8.0, 9.0]);
        assert_eq!(a.stats().dropped, 7);

        let a = agg(2, OverflowPolicy::Error);
        a.push_blocking(x, t(0), 0.0).expect("push");
        a.push_blocking(x, t(1), 1.0).expect("push");
        assert!(matches!(
            a.push_blocking(x, t(2), 2.0),
            Err(Error::QueueFull { .. })
        ));
        assert_eq!(a.stats().dropped, 1);
        // Read data makes room: evicted, not dropped.
        a.take_new();
        a.push_blocking(x, t(3), 3.0).expect("room after take");
        assert_eq!(a.stats().evicted, 1);
    }

    #[test]
    fn disconnected_callers_unread_data_is_forgotten_within_bounds_and_counted() {
        let a = agg(10, OverflowPolicy::DropOldest);
        a.set_forgetting(Forgetting::default().max_callers(2));
        let ids: Vec<CallerId> = (0..4).map(|_| CallerId::random()).collect();
        for (i, id) in ids.iter().enumerate() {
            a.register(*id, None, 1);
            a.push_blocking(*id, t(1), 1.0).expect("push");
            a.push_blocking(*id, t(2), 2.0).expect("push");
            a.deregister(*id, 1, format!("left {i}"));
        }
        // Two kept (the last to leave), two forgotten with their data.
        let kept: Vec<CallerId> = a.callers().iter().map(|c| c.id).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.contains(&ids[2]) && kept.contains(&ids[3]), "{kept:?}");
        let stats = a.stats();
        assert_eq!((stats.callers_forgotten, stats.forgotten), (2, 4));
        // By age: gone once past `after`, read or not.
        a.set_forgetting(Forgetting::default().after(Duration::ZERO));
        assert!(a.callers().is_empty());
        assert_eq!(a.stats().forgotten, 8);
        assert!(a.take_new().is_empty());
    }

    #[test]
    fn deregistered_callers_are_freed_once_read() {
        let a = agg(10, OverflowPolicy::DropOldest);
        let x = CallerId::random();
        a.register(x, None, 1);
        a.push_blocking(x, t(0), 1.0).expect("push");
        a.deregister(x, 1, "gone".into());
        assert_eq!(a.callers().len(), 1, "unread data keeps the store");
        assert!(
            matches!(&a.callers()[0].state, ConnectionState::Disconnected { reason, .. } if reason == "gone")
        );
        assert_eq!(a.take_new().len(), 1);
        assert!(a.callers().is_empty(), "freed after the data was read");
    }

    #[test]
    fn wait_new_wakes_on_push_from_another_thread() {
        let a = agg(10, OverflowPolicy::Block);
        let x = CallerId::random();
        let pusher = {
            let a = a.clone();
            std::thread::spawn(move || a.push_blocking(x, t(1), 1.0))
        };
        assert!(a.wait_new(Duration::from_secs(30)));
        pusher.join().expect("thread").expect("push");
        assert_eq!(a.take_new_for(x).len(), 1);
        assert!(!a.wait_new(Duration::from_millis(1)));
    }
}
