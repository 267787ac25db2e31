//! `EventRouter`: a runtime's outbound queues, one per registered caller,
//! shared by the handle (which sends) and the endpoints (which receive):
//! fan-out to one caller or all, bounded waits per peer, and what is sent
//! while nobody is connected; [`To`], the address of a send.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::queue::{BoundedQueue, OverflowPolicy, QueueConfig, QueueStats};

/// Where an event (or a published sample) goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum To {
    /// Every connected peer.
    All,
    /// One peer.
    Caller(CallerId),
}

/// Per-caller event queues; shared by the handle (which sends) and the
/// endpoints (which receive).
pub(crate) struct EventRouter<E> {
    inner: Arc<RouterInner<E>>,
}

struct RouterInner<E> {
    queues: Mutex<HashMap<CallerId, Arc<BoundedQueue<E>>>>,
    /// What is sent to all while nobody is connected: kept (bounded,
    /// drop-oldest, counted) and handed to the first caller to register.
    waiting: BoundedQueue<E>,
    has_waiting: AtomicBool,
    /// How long a broadcast under `Block` waits for each peer's room (then
    /// that peer's copy is dropped, counted, and the peer is skipped until
    /// it catches up).
    broadcast_wait: std::time::Duration,
    config: QueueConfig,
    closed: AtomicBool,
    // Totals of queues already removed, so stats survive deregistration.
    retired_pushed: AtomicU64,
    retired_dropped: AtomicU64,
    /// The metrics drops are counted in, once the runtime named them:
    /// (a peer's queue full, items waiting for a peer whose queue closed).
    metrics: std::sync::OnceLock<(metrics::Counter, metrics::Counter)>,
    /// What acknowledged delivery did (shared with the runtime, in process).
    delivery: Arc<crate::delivery::Counters>,
    /// What is kept of what is sent to all, for callers that connect later.
    history: Option<crate::delivery::History>,
    kept: Mutex<std::collections::VecDeque<(std::time::Instant, E)>>,
    /// Every caller that ever registered (history goes to newcomers only).
    seen: Mutex<std::collections::HashSet<CallerId>>,
}

impl<E> Clone for EventRouter<E> {
    fn clone(&self) -> Self {
        EventRouter {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> std::fmt::Debug for EventRouter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRouter")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl<E> EventRouter<E> {
    pub(crate) fn new(config: QueueConfig, broadcast_wait: std::time::Duration) -> Self {
        Self::for_delivery(
            config,
            broadcast_wait,
            &crate::delivery::DeliveryConfig::default(),
        )
    }

    /// As [`new`](Self::new), with `delivery`'s queue for what is sent
    /// while nobody is connected (default: `config`'s capacity, dropping
    /// the oldest) and its history for callers that connect later.
    pub(crate) fn for_delivery(
        config: QueueConfig,
        broadcast_wait: std::time::Duration,
        delivery: &crate::delivery::DeliveryConfig,
    ) -> Self {
        EventRouter {
            inner: Arc::new(RouterInner {
                queues: Mutex::new(HashMap::new()),
                waiting: BoundedQueue::new(
                    "sent while no peer was connected",
                    delivery.no_peer.unwrap_or(QueueConfig {
                        capacity: config.capacity,
                        policy: OverflowPolicy::DropOldest,
                    }),
                ),
                has_waiting: AtomicBool::new(false),
                broadcast_wait,
                config,
                closed: AtomicBool::new(false),
                retired_pushed: AtomicU64::new(0),
                retired_dropped: AtomicU64::new(0),
                metrics: std::sync::OnceLock::new(),
                delivery: Arc::default(),
                history: delivery.history.filter(|h| h.last > 0),
                kept: Mutex::default(),
                seen: Mutex::default(),
            }),
        }
    }

    /// Keeps copies of `items`, just sent to all (with history on).
    fn remember<'a>(&self, items: impl IntoIterator<Item = &'a E>)
    where
        E: Clone + 'a,
    {
        let Some(history) = self.inner.history else {
            return;
        };
        let now = std::time::Instant::now();
        let mut kept = self.inner.kept.lock().unwrap_or_else(|e| e.into_inner());
        for item in items {
            if kept.len() == history.last {
                kept.pop_front();
            }
            kept.push_back((now, item.clone()));
        }
    }

    /// What history holds now (pruned by age), oldest first.
    fn history_now(&self) -> Vec<E>
    where
        E: Clone,
    {
        let Some(history) = self.inner.history else {
            return Vec::new();
        };
        let mut kept = self.inner.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(within) = history.within {
            let now = std::time::Instant::now();
            while kept
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > within)
            {
                kept.pop_front();
            }
        }
        kept.iter().map(|(_, item)| item.clone()).collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CallerId, Arc<BoundedQueue<E>>>> {
        self.inner.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts drops in `tsercom_samples_dropped_total{runtime}` from now
    /// on (queues registered later; the first call wins).
    pub(crate) fn export_metrics(&self, runtime: &str) {
        let full = crate::metrics::dropped(runtime, "send_queue_full");
        let closed = crate::metrics::dropped(runtime, "queue_closed");
        if self.inner.metrics.set((full, closed)).is_ok() {
            self.inner
                .waiting
                .export_drops_as(crate::metrics::dropped(runtime, "no_peer"));
        }
    }

    /// The delivery counters of the runtime this router feeds.
    pub(crate) fn delivery_counters(&self) -> Arc<crate::delivery::Counters> {
        Arc::clone(&self.inner.delivery)
    }

    /// Items queued now, for every peer and for the first to come.
    pub(crate) fn depth(&self) -> usize {
        let queued: usize = self.lock().values().map(|q| q.len()).sum();
        queued + self.inner.waiting.len()
    }

    pub(crate) fn register(&self, caller: CallerId) -> Arc<BoundedQueue<E>>
    where
        E: Clone,
    {
        self.register_with_history(caller).0
    }

    /// Registers `caller`; one that never registered before gets the
    /// history first (returned: how many items).
    pub(crate) fn register_with_history(&self, caller: CallerId) -> (Arc<BoundedQueue<E>>, u64)
    where
        E: Clone,
    {
        let first_time = self
            .inner
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(caller);
        let queue = Arc::new(BoundedQueue::new(
            format!("events to {caller}"),
            self.inner.config,
        ));
        if let Some((full, _)) = self.inner.metrics.get() {
            queue.export_drops_as(full.clone());
        }
        let old = self.lock().get(&caller).cloned();
        let mut moved = 0;
        if let Some(old) = &old {
            // The same caller again (a reconnect): what its previous queue
            // still held goes first, then what waited for a peer.
            old.close();
            let mut left = Vec::new();
            while let Some(item) = old.try_pop() {
                left.push(item);
            }
            moved = left.len() as u64;
            // A new queue is open: adopting cannot fail.
            queue.adopt(left);
        }
        let mut history = 0;
        if first_time {
            let items = self.history_now();
            history = items.len() as u64;
            if history > 0 {
                // A new queue is open: adopting cannot fail.
                queue.adopt(items);
                self.inner
                    .delivery
                    .history_sent
                    .fetch_add(history, Ordering::Relaxed);
                tracing::debug!(%caller, history, "history handed to a newcomer");
            }
        }
        self.hand_over_waiting(&queue);
        let replaced = self.lock().insert(caller, Arc::clone(&queue));
        if let Some(old) = replaced {
            self.retire(&old);
        }
        // Moved items count as pushed once (by the new queue).
        self.inner
            .retired_pushed
            .fetch_sub(moved, Ordering::Relaxed);
        (queue, history)
    }

    /// Moves what was sent while nobody was connected into `queue`, in
    /// order.
    fn hand_over_waiting(&self, queue: &BoundedQueue<E>) {
        if !self.inner.has_waiting.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut items = Vec::new();
        while let Some(item) = self.inner.waiting.try_pop() {
            items.push(item);
        }
        let n = items.len() as u64;
        if n > 0 && !queue.adopt(items) {
            // The peer's queue closed meanwhile: counted, not lost silently.
            tracing::warn!(
                lost = n,
                "items waiting for a peer dropped: its queue closed"
            );
            self.lost(n);
        }
    }

    /// Counts `n` items lost with a queue that closed (its peer left, or
    /// the runtime stopped).
    fn lost(&self, n: u64) {
        self.inner.retired_dropped.fetch_add(n, Ordering::Relaxed);
        if let Some((_, closed)) = self.inner.metrics.get() {
            closed.increment(n);
        }
    }

    /// Keeps `items` (sent to all) until a caller registers.
    fn keep_waiting(&self, items: Vec<E>) -> Result<()> {
        let n = items.len();
        self.inner.waiting.push_many_blocking(items)?;
        self.inner.has_waiting.store(true, Ordering::Release);
        if n > 0 {
            tracing::trace!(n, "sent while no peer is connected: kept for the first one");
        }
        // A caller may have registered meanwhile: hand it over now.
        let first = self.lock().values().next().cloned();
        if let Some(queue) = first {
            self.hand_over_waiting(&queue);
        }
        Ok(())
    }

    /// Closes a caller's queue. What it still held is not lost silently:
    /// with no other caller left it waits for the next one (a producer's
    /// aggregator reconnecting gets it), else it is counted as dropped.
    fn retire(&self, queue: &BoundedQueue<E>) {
        queue.close();
        let mut left = Vec::new();
        while let Some(item) = queue.try_pop() {
            left.push(item);
        }
        let stats = queue.stats();
        self.inner
            .retired_pushed
            .fetch_add(stats.pushed, Ordering::Relaxed);
        self.inner
            .retired_dropped
            .fetch_add(stats.dropped, Ordering::Relaxed);
        if left.is_empty() {
            return;
        }
        let alone = self.lock().is_empty() && !self.inner.closed.load(Ordering::Acquire);
        if alone {
            // Counted as pushed again when handed over.
            self.inner
                .retired_pushed
                .fetch_sub(left.len() as u64, Ordering::Relaxed);
            let n = left.len() as u64;
            if self.keep_waiting(left).is_err() {
                // Closed: the runtime is shutting down.
                self.lost(n);
            }
        } else {
            tracing::warn!(
                lost = left.len(),
                "items queued for a caller that left were dropped (counted)"
            );
            self.lost(left.len() as u64);
        }
    }

    pub(crate) fn deregister(&self, caller: CallerId, queue: &Arc<BoundedQueue<E>>) {
        let mut queues = self.lock();
        // Only if it is still this endpoint's queue (not a newer registration).
        if queues.get(&caller).is_some_and(|q| Arc::ptr_eq(q, queue)) {
            queues.remove(&caller);
            drop(queues);
            self.retire(queue);
        }
    }

    /// Sends `event` to one caller or all; under `Block` waits for room.
    pub(crate) fn send(&self, event: E, to: To) -> Result<()>
    where
        E: Clone,
    {
        if to == To::All && !self.inner.closed.load(Ordering::Acquire) {
            // One caller (a producer's usual case): no list to build.
            let (only, none) = {
                let callers = self.lock();
                (
                    (callers.len() == 1)
                        .then(|| callers.values().next().map(Arc::clone))
                        .flatten(),
                    callers.is_empty(),
                )
            };
            if let Some(queue) = only {
                self.hand_over_waiting(&queue);
                self.remember([&event]);
                return match queue.push_blocking(event) {
                    Ok(()) | Err(Error::Closed(_)) => Ok(()),
                    Err(e) => Err(e),
                };
            }
            if none {
                return self.keep_waiting(vec![event]);
            }
        }
        let targets = self.targets(to)?;
        if to == To::All && !targets.is_empty() {
            self.remember([&event]);
        }
        if to == To::All && targets.len() > 1 {
            // Each peer's wait is bounded; one that ran out is skipped at
            // once (counted) until it catches up, so a stalled peer costs
            // the others one bounded wait, not one per item.
            let wait = self.inner.broadcast_wait;
            return fan_out(targets, event, to, |queue, event| {
                queue
                    .push_blocking_until(event, std::time::Instant::now() + wait)
                    .map(|_| ())
            });
        }
        fan_out(targets, event, to, |queue, event| {
            queue.push_blocking(event)
        })
    }

    /// The queues of one caller or of all (sorted by CallerId).
    fn targets(&self, to: To) -> Result<Vec<Arc<BoundedQueue<E>>>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("runtime".into()));
        }
        match to {
            To::Caller(id) => Ok(vec![
                self.lock()
                    .get(&id)
                    .cloned()
                    .ok_or(Error::UnknownCaller(id))?,
            ]),
            To::All => {
                let mut targets: Vec<(CallerId, Arc<BoundedQueue<E>>)> = self
                    .lock()
                    .iter()
                    .map(|(id, q)| (*id, Arc::clone(q)))
                    .collect();
                targets.sort_by_key(|(id, _)| *id);
                Ok(targets.into_iter().map(|(_, q)| q).collect())
            }
        }
    }

    /// Sends a batch to one caller or all: one hand-off per queue.
    pub(crate) fn send_many(&self, items: Vec<E>, to: To) -> Result<()>
    where
        E: Clone,
    {
        let targets = self.targets(to)?;
        if to == To::All && targets.is_empty() {
            return self.keep_waiting(items);
        }
        if let Some(first) = targets.first() {
            self.hand_over_waiting(first);
        }
        if to == To::All {
            self.remember(&items);
        }
        if to == To::All && targets.len() > 1 && self.inner.config.policy == OverflowPolicy::Block {
            let wait = self.inner.broadcast_wait;
            return fan_out(targets, items, to, |queue, batch| {
                let deadline = std::time::Instant::now() + wait;
                for item in batch {
                    queue.push_blocking_until(item, deadline)?;
                }
                Ok(())
            });
        }
        fan_out(targets, items, to, |queue, batch| {
            queue.push_many_blocking(batch)
        })
    }

    /// Sends from async code: under `Block` waits (asynchronously) for room.
    pub(crate) async fn send_async(&self, event: E, to: To) -> Result<()>
    where
        E: Clone,
    {
        let targets = self.targets(to)?;
        if to == To::All && targets.is_empty() {
            return self.keep_waiting(vec![event]);
        }
        if let Some(first) = targets.first() {
            self.hand_over_waiting(first);
        }
        if to == To::All {
            self.remember([&event]);
        }
        let mut first_error = None;
        for (queue, item) in targets.iter().zip(copies(event, targets.len())) {
            note_error(to, &mut first_error, queue.push(item).await);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends to one caller from async code (the child's IPC reader).
    pub(crate) async fn send_to_async(&self, caller: CallerId, event: E) -> Result<()> {
        let queue = self
            .lock()
            .get(&caller)
            .cloned()
            .ok_or(Error::UnknownCaller(caller))?;
        queue.push(event).await
    }

    /// The queue of a caller, if registered.
    pub(crate) fn queue_of(&self, caller: CallerId) -> Option<Arc<BoundedQueue<E>>> {
        self.lock().get(&caller).cloned()
    }

    /// Each registered caller's queue counters, by CallerId.
    pub(crate) fn stats_by_peer(&self) -> Vec<(CallerId, QueueStats)> {
        let mut by_peer: Vec<(CallerId, QueueStats)> =
            self.lock().iter().map(|(id, q)| (*id, q.stats())).collect();
        by_peer.sort_by_key(|(id, _)| *id);
        by_peer
    }

    /// The counters of what was sent while no peer was connected (pushed
    /// there, dropped by its bound), and how many wait there now.
    pub(crate) fn no_peer_stats(&self) -> (QueueStats, usize) {
        (self.inner.waiting.stats(), self.inner.waiting.len())
    }

    pub(crate) fn stats(&self) -> QueueStats {
        let queues = self.lock();
        // What waits for a peer counts as pushed once handed over; what
        // its bound dropped counts now.
        let mut stats = QueueStats {
            pushed: self.inner.retired_pushed.load(Ordering::Relaxed),
            dropped: self.inner.retired_dropped.load(Ordering::Relaxed)
                + self.inner.waiting.stats().dropped,
        };
        for q in queues.values() {
            let s = q.stats();
            stats.pushed += s.pushed;
            stats.dropped += s.dropped;
        }
        stats
    }

    /// Whether the runtime closed it.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.waiting.close();
        for q in self.lock().values() {
            q.close();
        }
    }
}

/// Hands `item` to each queue with `push`; the first error is returned
/// after every queue had its turn.
fn fan_out<E, T: Clone>(
    targets: Vec<Arc<BoundedQueue<E>>>,
    item: T,
    to: To,
    mut push: impl FnMut(&BoundedQueue<E>, T) -> Result<()>,
) -> Result<()> {
    let mut first_error = None;
    for (queue, one) in targets.iter().zip(copies(item, targets.len())) {
        note_error(to, &mut first_error, push(queue, one));
    }
    first_error.map_or(Ok(()), Err)
}

/// `n` copies of `item`: clones, the last one `item` itself (no clone for
/// one target).
fn copies<T: Clone>(item: T, n: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    if n > 0 {
        out.extend(std::iter::repeat_n(&item, n - 1).cloned());
        out.push(item);
    }
    out
}

/// Keeps the first error of a send; a caller that left meanwhile
/// (`Closed`) is not an error of a broadcast.
fn note_error(to: To, first: &mut Option<Error>, result: Result<()>) {
    match result {
        Ok(()) => {}
        Err(Error::Closed(_)) if to == To::All => {}
        Err(e) => {
            first.get_or_insert(e);
        }
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
