//! The runtime side of [`RemoteDataAggregator`]: callers registered and
//! deregistered (numbered registrations), samples stored under the
//! overflow policy, refusals and dialed peers recorded, closing.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::{ConnectionState, Entry, RemoteDataAggregator, State};
use crate::caller_id::CallerId;
use crate::data::store::CallerStore;
use crate::error::{Error, Result};
use crate::queue::OverflowPolicy;
use crate::time::{Estimate, Timestamp};

impl<D> RemoteDataAggregator<D> {
    /// Counts a sample of `caller` refused before storing.
    pub(crate) fn refused(&self, caller: CallerId) {
        self.shared.refused.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%caller, "sample refused");
    }

    /// Counts drops in `tsercom_samples_dropped_total{runtime}` from now
    /// on (the first call wins).
    pub(crate) fn export_metrics(&self, runtime: &str) {
        self.shared
            .drops
            .export_as(crate::metrics::dropped(runtime, "store_full"));
        let _ = self
            .shared
            .forgotten_metric
            .set(crate::metrics::dropped(runtime, "forgotten"));
    }

    /// Samples stored and not yet taken, over every caller.
    pub(crate) fn unread_total(&self) -> usize {
        self.lock().callers.values().map(|e| e.store.unread()).sum()
    }

    /// Counts a refused duplicate of `caller` (another process claimed its
    /// id while it was connected), in its caller info.
    pub(crate) fn duplicate_refused(&self, caller: CallerId) {
        if let Some(e) = self.lock().callers.get_mut(&caller) {
            e.duplicates_refused += 1;
        }
        tracing::debug!(%caller, "duplicate refused");
    }

    /// Records a dialed peer's state.
    pub(crate) fn set_peer(&self, info: crate::data::PeerInfo) {
        self.shared.peers.set(info);
    }

    /// Records the name `caller` gave (its runtime's name).
    pub(crate) fn set_name(&self, caller: CallerId, name: String) {
        let mut state = self.lock();
        if let Some(e) = state.callers.get_mut(&caller)
            && e.name.as_deref() != Some(name.as_str())
        {
            e.name = Some(name);
            self.callers_changed(&mut state);
        }
    }

    /// Records where the runtime listens.
    pub(crate) fn set_listening(&self, addrs: Vec<std::net::SocketAddr>) {
        *self
            .shared
            .listening
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = addrs;
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
            name: None,
            deregistered_at: None,
            clock: None,
            duplicates_refused: 0,
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

    pub(super) fn callers_changed(&self, state: &mut State<D>) {
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
        let size = self.size_of(&data);
        self.push_sized(caller, time, data, size).await
    }

    /// [`push`](Self::push) of a sample whose encoded size (what the
    /// runtime's measure gives) the caller has already computed.
    pub(crate) async fn push_sized(
        &self,
        caller: CallerId,
        time: Timestamp,
        data: D,
        size: usize,
    ) -> Result<()> {
        self.shared.taps.observe(caller, time, &data);
        let mut data = Some(data);
        // Room (the usual case): no wake-up registration.
        if self.try_push(caller, time, &mut data, size)? {
            return Ok(());
        }
        self.push_when_room(caller, time, &mut data, size).await
    }

    /// Stores `batch`, samples of `caller` in order (time, data, encoded
    /// size), as [`push_sized`](Self::push_sized) would one by one, but
    /// under one lock for as many as there is room for; `batch` is left
    /// empty. `progress` hears how many are done so far after each part
    /// stored under one lock, before any wait for room (so what is stored
    /// can be acknowledged while the rest waits). Returns how many were
    /// done (stored, or dropped by the policy) and the error that stopped
    /// the rest: the sample at that index was not stored (under the
    /// `Error` policy it was counted as dropped); those after it were not
    /// handled (nor shown to the taps).
    pub(crate) async fn push_batch_sized(
        &self,
        caller: CallerId,
        batch: &mut Vec<(Timestamp, D, usize)>,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> (usize, Result<()>) {
        let mut items = batch.drain(..);
        let mut done = 0;
        loop {
            let stored = self.store_many(caller, &mut items, &mut done);
            progress(done);
            match stored {
                Ok(None) => return (done, Ok(())),
                Err(e) => return (done, Err(e)),
                // Full under `Block`: this one waits for a take, then the
                // rest go on under the lock again.
                Ok(Some((time, mut data, size))) => {
                    if let Err(e) = self.push_when_room(caller, time, &mut data, size).await {
                        return (done, Err(e));
                    }
                    done += 1;
                }
            }
        }
    }

    /// Stores `items` under one lock until they run out (`Ok(None)`), one
    /// finds no room under `Block` (`Ok(Some(it))`) or one fails; counts
    /// the ones done in `done`. Each is shown to the taps as it is handled
    /// (a tap never waits: the recorder's queue drops by its policy).
    #[allow(clippy::type_complexity)]
    fn store_many(
        &self,
        caller: CallerId,
        items: &mut impl Iterator<Item = (Timestamp, D, usize)>,
        done: &mut usize,
    ) -> Result<Option<(Timestamp, Option<D>, usize)>> {
        let mut after = AfterStore::default();
        let mut state = self.lock();
        let mut outcome = Ok(None);
        for (time, data, size) in items {
            self.shared.taps.observe(caller, time, &data);
            let mut data = Some(data);
            match self.store_locked(&mut state, caller, time, &mut data, size, &mut after) {
                Ok(true) => *done += 1,
                Ok(false) => {
                    outcome = Ok(Some((time, data, size)));
                    break;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        drop(state);
        self.after_store(after);
        outcome
    }

    /// Stores one sample that found no room under `Block`: waits for a
    /// take (registered before each try, so none is missed), then stores.
    async fn push_when_room(
        &self,
        caller: CallerId,
        time: Timestamp,
        data: &mut Option<D>,
        size: usize,
    ) -> Result<()> {
        loop {
            let notified = self.shared.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.try_push(caller, time, data, size)? {
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
        let size = self.size_of(&data);
        let mut data = Some(data);
        loop {
            if self.try_push(caller, time, &mut data, size)? {
                return Ok(());
            }
            // Block policy and full: wait for a take. The check and the
            // wait hold the lock together, so a take cannot slip between.
            let retention = self.shared.retention;
            let state = self.lock();
            let per_caller = state.memory.per_caller;
            let full = !state.closed
                && state
                    .callers
                    .get(&caller)
                    .is_some_and(|e| !e.store.has_room(&retention, size, per_caller));
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
    /// the Block policy must wait. `size`: the sample's encoded bytes.
    fn try_push(
        &self,
        caller: CallerId,
        time: Timestamp,
        data: &mut Option<D>,
        size: usize,
    ) -> Result<bool> {
        let mut after = AfterStore::default();
        let mut state = self.lock();
        let done = self.store_locked(&mut state, caller, time, data, size, &mut after);
        drop(state);
        self.after_store(after);
        done
    }

    /// [`try_push`](Self::try_push)'s work under the lock; what is left for
    /// after it (drop counts, wake-ups) goes into `after`.
    fn store_locked(
        &self,
        state: &mut State<D>,
        caller: CallerId,
        time: Timestamp,
        data: &mut Option<D>,
        size: usize,
        after: &mut AfterStore,
    ) -> Result<bool> {
        let retention = self.shared.retention;
        let limits = state.memory;
        let equal = state.equal;
        if state.closed {
            return Err(Error::Closed("data aggregator".into()));
        }
        // The clock is read every 64 pushes, not per sample (the runtime
        // also sweeps every second).
        state.pushes = state.pushes.wrapping_add(1);
        if state.pushes.is_multiple_of(64) && state.last_sweep.elapsed() >= super::SWEEP_INTERVAL {
            self.sweep(state);
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
                name: None,
                deregistered_at: None,
                clock: None,
                duplicates_refused: 0,
            }
        });
        if !entry.store.has_room(&retention, size, limits.per_caller) {
            match self.shared.policy {
                OverflowPolicy::Block => return Ok(false),
                OverflowPolicy::DropOldest => {}
                OverflowPolicy::DropNewest => {
                    state.received += 1;
                    after.dropped(1);
                    return Ok(true);
                }
                _ => {
                    state.received += 1;
                    after.dropped(1);
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
        let inserted =
            entry
                .store
                .insert_sized(time, value, size, &retention, equal, limits.per_caller);
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
        if was_unread != now_unread {
            self.mirror_unread(state);
        }
        if created {
            self.callers_changed(state);
        }
        // Read under the lock: a reader about to block has counted itself.
        let wake_blocked = wake && state.blocked_readers > 0;
        let wake_async = wake && state.async_readers > 0;
        state.total_bytes = state
            .total_bytes
            .saturating_add_signed(inserted.bytes_delta);
        let over_memory = if state.total_bytes > limits.total {
            self.shed_memory(state, limits.total)
        } else {
            if state.memory_shedding && state.total_bytes < limits.total - limits.total / 10 {
                state.memory_shedding = false;
                tracing::info!("all stores back under 90 % of their memory cap");
            }
            0
        };
        state.received += 1;
        state.evicted += inserted.evicted;
        state.replaced += inserted.replaced;
        after.over_memory += over_memory;
        if inserted.dropped_unread > 0 {
            after.dropped(inserted.dropped_unread);
        } else {
            after.accepted = true;
        }
        after.wake_blocked |= wake_blocked;
        after.wake_async |= wake_async;
        Ok(true)
    }

    /// What stores under the lock left for after it.
    fn after_store(&self, after: AfterStore) {
        if after.over_memory > 0 {
            self.shared
                .over_memory
                .fetch_add(after.over_memory, Ordering::Relaxed);
        }
        if after.dropped > 0 {
            self.shared.drops.dropped("data", after.dropped);
        }
        if after.accepted {
            self.shared.drops.accepted("data");
        }
        // Readers wait only while nothing is unread, so only the first
        // caller with unread samples needs to wake them.
        if after.wake_blocked {
            self.shared.new_data_cv.notify_all();
        }
        if after.wake_async {
            self.shared.new_data.notify_waiters();
        }
    }

    /// A sample's encoded size (0 without a measure).
    fn size_of(&self, data: &D) -> usize {
        self.shared.size_of.get().map_or(0, |f| f(data))
    }

    /// Brings all stores under `total` bytes by evicting the oldest samples
    /// (read ones first) of the largest store; returns the unread ones
    /// dropped. Logged at WARN at the start of each episode.
    fn shed_memory(&self, state: &mut State<D>, total: usize) -> u64 {
        let mut out = crate::data::store::Inserted::default();
        while state.total_bytes > total {
            let Some((id, entry)) = state
                .callers
                .iter_mut()
                .max_by_key(|(_, e)| e.store.bytes())
            else {
                break;
            };
            let id = *id;
            let had = entry.store.bytes();
            let was_unread = entry.store.unread() > 0;
            if !entry.store.evict_one(&mut out) {
                break;
            }
            let now_unread = entry.store.unread() > 0;
            state.total_bytes -= had - entry.store.bytes();
            if was_unread && !now_unread {
                state.callers_unread = state.callers_unread.saturating_sub(1);
                self.mirror_unread(state);
            }
            if !state.memory_shedding {
                state.memory_shedding = true;
                tracing::warn!(caller = %id, total, "all stores together passed their memory cap: dropping the largest store's oldest samples (MemoryLimits::total)");
            }
        }
        state.evicted += out.evicted;
        out.dropped_unread
    }

    /// Observers of every arriving sample (see [`super::tap`]).
    #[cfg_attr(not(feature = "record"), allow(dead_code))] // attached by `record` only
    pub(crate) fn taps(&self) -> &crate::data::tap::Taps<D> {
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

/// What stores under the aggregator's lock leave for after it: drop counts
/// and wake-ups (for one sample or a batch).
#[derive(Default)]
struct AfterStore {
    /// Samples dropped (by the policy, or unread ones evicted).
    dropped: u64,
    /// The last sample was stored without dropping another: a drop burst
    /// (if any) ended.
    accepted: bool,
    /// Unread samples dropped by the total memory cap.
    over_memory: u64,
    wake_blocked: bool,
    wake_async: bool,
}

impl AfterStore {
    fn dropped(&mut self, n: u64) {
        self.dropped += n;
        self.accepted = false;
    }
}
