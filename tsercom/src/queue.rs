//! Bounded queues with an explicit overflow policy and counted drops.
//!
//! Every queue in tsercom (events to a caller, data into the aggregator, IPC
//! frames) is bounded; what happens when it is full is an
//! [`OverflowPolicy`], and every item dropped is counted and logged once
//! per burst, never silently lost.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::{Error, Result};

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
    /// The send fails with [`Error::QueueFull`] (counted as dropped).
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
}

impl DropCounter {
    pub(crate) fn dropped(&self, what: &str, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
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

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// A bounded multi-producer queue, usable from blocking code (the user's
/// thread) and from async code (the runtime) alike.
pub(crate) struct BoundedQueue<T> {
    name: String,
    config: QueueConfig,
    state: Mutex<State<T>>,
    space_cv: Condvar,
    space: Notify,
    items: Notify,
    pushed: AtomicU64,
    drops: DropCounter,
    /// Set when a bounded push gave up on this queue (a slow or dead
    /// consumer); further bounded pushes drop at once (counted) until the
    /// consumer drains it to its low-water mark.
    stalled: std::sync::atomic::AtomicBool,
}

impl<T> std::fmt::Debug for BoundedQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedQueue")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish()
    }
}

enum TryPush<T> {
    Done,
    Full(T),
}

impl<T> BoundedQueue<T> {
    pub(crate) fn new(name: impl Into<String>, config: QueueConfig) -> Self {
        BoundedQueue {
            name: name.into(),
            config: QueueConfig {
                capacity: config.capacity.max(1),
                policy: config.policy,
            },
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            space_cv: Condvar::new(),
            space: Notify::new(),
            items: Notify::new(),
            pushed: AtomicU64::new(0),
            drops: DropCounter::default(),
            stalled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock cannot leave the deque inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> QueueStats {
        QueueStats {
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.drops.total(),
        }
    }

    /// Counts an accepted item; wakes a consumer when it made the queue
    /// non-empty. A consumer waits only on an empty queue (checked under the
    /// lock, its wake-up registered before), and one that takes an item
    /// with more behind it passes the wake-up on, so a push onto a
    /// non-empty queue has nobody to wake — and skipping it saves a
    /// cross-thread wake-up per item in a burst.
    fn accepted(&self, now_len: usize) {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        self.drops.accepted(&self.name);
        if now_len == 1 {
            self.items.notify_one();
        }
    }

    /// Applies every policy but `Block`; `Full` means "wait for room".
    fn try_push(&self, item: T) -> Result<TryPush<T>> {
        let mut state = self.lock();
        if state.closed {
            return Err(Error::Closed(self.name.clone()));
        }
        if state.items.len() < self.config.capacity {
            state.items.push_back(item);
            let len = state.items.len();
            drop(state);
            self.accepted(len);
            return Ok(TryPush::Done);
        }
        match self.config.policy {
            OverflowPolicy::Block => Ok(TryPush::Full(item)),
            OverflowPolicy::DropOldest => {
                state.items.pop_front();
                state.items.push_back(item);
                let len = state.items.len();
                drop(state);
                self.drops.dropped(&self.name, 1);
                self.accepted(len);
                Ok(TryPush::Done)
            }
            OverflowPolicy::DropNewest => {
                drop(state);
                self.drops.dropped(&self.name, 1);
                Ok(TryPush::Done)
            }
            OverflowPolicy::Error => {
                drop(state);
                self.drops.dropped(&self.name, 1);
                Err(Error::QueueFull {
                    queue: self.name.clone(),
                    capacity: self.config.capacity,
                })
            }
        }
    }

    /// Pushes from blocking code; under `Block` waits for room.
    pub(crate) fn push_blocking(&self, mut item: T) -> Result<()> {
        loop {
            match self.try_push(item)? {
                TryPush::Done => return Ok(()),
                TryPush::Full(back) => item = back,
            }
            let state = self.lock();
            if state.closed {
                return Err(Error::Closed(self.name.clone()));
            }
            if state.items.len() >= self.config.capacity {
                // Bounded wait: re-check periodically so a missed wake-up
                // can only delay, never hang.
                let _unused = self
                    .space_cv
                    .wait_timeout(state, Duration::from_millis(100))
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Pushes from blocking code, waiting under `Block` at most until
    /// `deadline` (one of several peers of a broadcast must not stall the
    /// others). `Ok(false)`: not pushed — the wait ran out, or an earlier
    /// one did and the consumer has not caught up since — counted as a
    /// drop of this queue.
    pub(crate) fn push_blocking_until(&self, mut item: T, deadline: Instant) -> Result<bool> {
        if self.config.policy != OverflowPolicy::Block {
            return self.push_blocking(item).map(|()| true);
        }
        loop {
            let stalled = self.stalled.load(Ordering::Acquire);
            match self.try_push(item)? {
                TryPush::Done => return Ok(true),
                TryPush::Full(back) => item = back,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if stalled || left.is_zero() {
                self.stalled.store(true, Ordering::Release);
                self.drops.dropped(&self.name, 1);
                drop(item);
                return Ok(false);
            }
            let state = self.lock();
            if state.closed {
                return Err(Error::Closed(self.name.clone()));
            }
            if state.items.len() >= self.config.capacity {
                let _unused = self
                    .space_cv
                    .wait_timeout(state, left.min(Duration::from_millis(100)))
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Pushes a batch from blocking code under one lock per wait (one
    /// consumer wake-up for the batch); under `Block` waits for room as
    /// often as needed, under the other policies applies them per item.
    pub(crate) fn push_many_blocking(&self, items: Vec<T>) -> Result<()> {
        let mut items: VecDeque<T> = items.into();
        while !items.is_empty() {
            let mut state = self.lock();
            if state.closed {
                return Err(Error::Closed(self.name.clone()));
            }
            let was_empty = state.items.is_empty();
            let mut accepted = 0u64;
            let mut dropped = 0u64;
            let mut full = false;
            while let Some(item) = items.pop_front() {
                if state.items.len() < self.config.capacity {
                    state.items.push_back(item);
                    accepted += 1;
                    continue;
                }
                match self.config.policy {
                    OverflowPolicy::Block => {
                        // Back at the head of what is left: waits below.
                        items.push_front(item);
                        full = true;
                        break;
                    }
                    OverflowPolicy::DropOldest => {
                        state.items.pop_front();
                        state.items.push_back(item);
                        accepted += 1;
                        dropped += 1;
                    }
                    OverflowPolicy::DropNewest => dropped += 1,
                    OverflowPolicy::Error => {
                        dropped += 1 + items.len() as u64;
                        drop(state);
                        self.batch_done(was_empty && accepted > 0, accepted, dropped);
                        return Err(Error::QueueFull {
                            queue: self.name.clone(),
                            capacity: self.config.capacity,
                        });
                    }
                }
            }
            if full {
                self.pushed.fetch_add(accepted, Ordering::Relaxed);
                if accepted > 0 {
                    self.drops.accepted(&self.name);
                }
                if was_empty && accepted > 0 {
                    self.items.notify_one();
                }
                // Bounded wait, re-checked, as in `push_blocking`.
                if state.items.len() >= self.config.capacity {
                    let _unused = self
                        .space_cv
                        .wait_timeout(state, Duration::from_millis(100))
                        .unwrap_or_else(|e| e.into_inner());
                }
                continue;
            }
            drop(state);
            self.batch_done(was_empty && accepted > 0, accepted, dropped);
        }
        Ok(())
    }

    fn batch_done(&self, wake: bool, accepted: u64, dropped: u64) {
        self.pushed.fetch_add(accepted, Ordering::Relaxed);
        if dropped > 0 {
            self.drops.dropped(&self.name, dropped);
        } else if accepted > 0 {
            self.drops.accepted(&self.name);
        }
        if wake {
            self.items.notify_one();
        }
    }

    /// Pushes from async code; under `Block` waits for room.
    pub(crate) async fn push(&self, mut item: T) -> Result<()> {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_push(item)? {
                TryPush::Done => return Ok(()),
                TryPush::Full(back) => item = back,
            }
            notified.await;
        }
    }

    /// The length at which blocked pushers are woken: half the capacity.
    /// Pushers wait only on a full queue (checked under the lock); pops
    /// take one item at a time, so a queue that was full passes through
    /// this length before it can be empty, and the pop that reaches it
    /// wakes them. Waking at half rather than at the first free slot lets
    /// a pusher refill half a queue per wake-up instead of ping-ponging one
    /// item per wake-up (a condvar `notify_all` is a system call).
    fn low_water(&self) -> usize {
        self.config.capacity / 2
    }

    /// Wakes pushers waiting for room (see [`low_water`](Self::low_water)).
    fn took(&self) {
        self.stalled.store(false, Ordering::Release);
        self.space_cv.notify_all();
        self.space.notify_waiters();
    }

    pub(crate) fn try_pop(&self) -> Option<T> {
        let mut state = self.lock();
        let item = state.items.pop_front();
        let wake = item.is_some() && state.items.len() == self.low_water();
        drop(state);
        if wake {
            self.took();
        }
        item
    }

    /// Puts an item taken but not delivered back at the head, ahead of
    /// everything queued (it may exceed the capacity by that one item).
    pub(crate) fn requeue_front(&self, item: T) {
        self.lock().items.push_front(item);
        self.items.notify_one();
    }

    /// Appends items another queue already accepted (a caller's backlog
    /// handed to its reconnection, what waited for a peer), in order,
    /// without blocking or dropping: they were counted once, and a
    /// hand-over must neither stall the runtime (under `Block` nobody drains
    /// this queue before its stream opens) nor lose them. Bounded by the
    /// source queues' capacities. `false` when this queue is closed (the
    /// items are then not taken; the caller counts them).
    pub(crate) fn adopt(&self, items: Vec<T>) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        let was_empty = state.items.is_empty();
        let n = items.len() as u64;
        state.items.extend(items);
        drop(state);
        self.pushed.fetch_add(n, Ordering::Relaxed);
        if was_empty && n > 0 {
            self.items.notify_one();
        }
        true
    }

    /// Waits for the next item; `None` once closed and drained.
    pub(crate) async fn pop(&self) -> Option<T> {
        loop {
            let notified = self.items.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some(item) = state.items.pop_front() {
                    let more = !state.items.is_empty();
                    let wake = state.items.len() == self.low_water();
                    drop(state);
                    if wake {
                        self.took();
                    }
                    if more {
                        // Pass the baton: another consumer may be waiting.
                        self.items.notify_one();
                    }
                    return Some(item);
                }
                if state.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Refuses further pushes; queued items can still be popped. Wakes
    /// every waiter.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.space_cv.notify_all();
        self.space.notify_waiters();
        self.items.notify_waiters();
        self.items.notify_one();
    }
}

/// `queue` as a stream for a client-streaming or bidi RPC: a task moves
/// items, through `map`, into a one-slot channel, so at most one item is in
/// flight when the stream breaks; an item taken when the stream ended goes
/// back to the head of the queue for the next stream. The task ends with
/// the stream, or when the queue is closed and drained.
pub(crate) fn queue_stream<T, U>(
    queue: Arc<BoundedQueue<T>>,
    mut map: impl FnMut(T) -> U + Send + 'static,
) -> tokio_stream::wrappers::ReceiverStream<U>
where
    T: Send + 'static,
    U: Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        loop {
            let Ok(permit) = tx.reserve().await else {
                break;
            };
            let item = tokio::select! {
                item = queue.pop() => item,
                () = tx.closed() => break,
            };
            let Some(item) = item else { break };
            if tx.is_closed() {
                queue.requeue_front(item);
                break;
            }
            permit.send(map(item));
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// `queue` as a stream polled in place by its consumer (tonic's encoder):
/// while items are queued each poll takes one without a task hop, so a
/// burst is encoded and written together; when empty, it waits on the
/// queue. An item leaves the queue only when this stream yields it, so
/// dropping the stream loses nothing still queued. Ends once the queue is
/// closed and drained.
pub(crate) struct QueueStream<T> {
    queue: Arc<BoundedQueue<T>>,
    waiting: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Option<T>> + Send>>>,
}

impl<T: Send + 'static> QueueStream<T> {
    pub(crate) fn new(queue: Arc<BoundedQueue<T>>) -> Self {
        QueueStream {
            queue,
            waiting: None,
        }
    }
}

impl<T: Send + 'static> tokio_stream::Stream for QueueStream<T> {
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        let this = &mut *self;
        if this.waiting.is_none() {
            if let Some(item) = this.queue.try_pop() {
                return std::task::Poll::Ready(Some(item));
            }
            let queue = Arc::clone(&this.queue);
            this.waiting = Some(Box::pin(async move { queue.pop().await }));
        }
        match this.waiting.as_mut().map(|w| w.as_mut().poll(cx)) {
            Some(std::task::Poll::Ready(item)) => {
                this.waiting = None;
                std::task::Poll::Ready(item)
            }
            _ => std::task::Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn queue(capacity: usize, policy: OverflowPolicy) -> BoundedQueue<u32> {
        BoundedQueue::new("test", QueueConfig::new(capacity, policy))
    }

    fn drain(q: &BoundedQueue<u32>) -> Vec<u32> {
        std::iter::from_fn(|| q.try_pop()).collect()
    }

    #[test]
    fn a_batch_follows_each_policy_like_single_pushes() {
        let q = queue(3, OverflowPolicy::DropOldest);
        q.push_many_blocking((0..10).collect()).expect("push");
        assert_eq!(drain(&q), [7, 8, 9]);
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 10,
                dropped: 7
            }
        );

        let q = queue(3, OverflowPolicy::DropNewest);
        q.push_many_blocking((0..10).collect()).expect("push");
        assert_eq!(drain(&q), [0, 1, 2]);
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 3,
                dropped: 7
            }
        );

        let q = queue(3, OverflowPolicy::Error);
        assert!(matches!(
            q.push_many_blocking((0..5).collect()),
            Err(Error::QueueFull { capacity: 3, .. })
        ));
        assert_eq!(drain(&q), [0, 1, 2]);
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 3,
                dropped: 2
            }
        );

        let q = queue(3, OverflowPolicy::Block);
        q.close();
        assert!(matches!(
            q.push_many_blocking(vec![1]),
            Err(Error::Closed(_))
        ));
    }

    #[test]
    fn a_blocking_batch_larger_than_the_queue_waits_and_keeps_order() {
        let q = Arc::new(queue(4, OverflowPolicy::Block));
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || q.push_many_blocking((0..1000).collect()))
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        let got: Vec<u32> = rt.block_on(async {
            let mut got = Vec::new();
            while got.len() < 1000 {
                got.push(q.pop().await.expect("item"));
            }
            got
        });
        producer.join().expect("join").expect("pushed");
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 1000,
                dropped: 0
            }
        );
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let q = queue(3, OverflowPolicy::DropOldest);
        for i in 0..10 {
            q.push_blocking(i).expect("push");
        }
        assert_eq!(drain(&q), [7, 8, 9]);
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 10,
                dropped: 7
            }
        );
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts() {
        let q = queue(3, OverflowPolicy::DropNewest);
        for i in 0..10 {
            q.push_blocking(i).expect("push");
        }
        assert_eq!(drain(&q), [0, 1, 2]);
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 3,
                dropped: 7
            }
        );
    }

    #[test]
    fn error_policy_refuses_and_counts() {
        let q = queue(2, OverflowPolicy::Error);
        q.push_blocking(1).expect("push");
        q.push_blocking(2).expect("push");
        assert!(matches!(
            q.push_blocking(3),
            Err(Error::QueueFull { capacity: 2, .. })
        ));
        assert_eq!(q.stats().dropped, 1);
        assert_eq!(drain(&q), [1, 2]);
    }

    #[test]
    fn block_policy_waits_for_the_consumer_and_loses_nothing() {
        let q = Arc::new(queue(4, OverflowPolicy::Block));
        let producer = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..1000 {
                    q.push_blocking(i).expect("push");
                }
            })
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let got: Vec<u32> = rt.block_on(async {
            let mut got = Vec::new();
            while got.len() < 1000 {
                got.push(q.pop().await.expect("open"));
            }
            got
        });
        producer.join().expect("producer");
        assert_eq!(got, (0..1000).collect::<Vec<_>>());
        assert_eq!(
            q.stats(),
            QueueStats {
                pushed: 1000,
                dropped: 0
            }
        );
    }

    #[test]
    fn async_push_waits_for_room() {
        let q = Arc::new(queue(1, OverflowPolicy::Block));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let got = rt.block_on(async {
            let producer = {
                let q = Arc::clone(&q);
                tokio::spawn(async move {
                    for i in 0..100 {
                        q.push(i).await.expect("push");
                    }
                })
            };
            let mut got = Vec::new();
            while got.len() < 100 {
                got.push(q.pop().await.expect("open"));
            }
            producer.await.expect("producer");
            got
        });
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn queue_stream_delivers_every_item_in_order_from_a_blocking_pusher() {
        use tokio_stream::StreamExt;
        // A small Block queue filled from a plain thread while the stream
        // drains it: every wake-up path (empty → non-empty, full → room)
        // is taken many times; nothing is lost, the order holds, and the
        // stream ends once the queue is closed and drained.
        let q = Arc::new(queue(4, OverflowPolicy::Block));
        let pusher = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    q.push_blocking(i).expect("push");
                }
                q.close();
            })
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("runtime");
        let got: Vec<u32> = rt.block_on(QueueStream::new(Arc::clone(&q)).collect());
        pusher.join().expect("pusher");
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    }

    #[test]
    fn dropping_a_waiting_queue_stream_loses_nothing() {
        use tokio_stream::StreamExt;
        let q = Arc::new(queue(4, OverflowPolicy::Block));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut stream = QueueStream::new(Arc::clone(&q));
            // Waiting on the empty queue, then dropped.
            let waited =
                tokio::time::timeout(std::time::Duration::from_millis(10), stream.next()).await;
            assert!(waited.is_err(), "nothing queued yet");
            drop(stream);
        });
        q.push_blocking(7).expect("push");
        assert_eq!(
            drain(&q),
            [7],
            "the item is still queued for the next stream"
        );
    }

    #[test]
    fn close_wakes_blocked_senders_and_ends_the_consumer() {
        let q = Arc::new(queue(1, OverflowPolicy::Block));
        q.push_blocking(1).expect("push");
        let blocked = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || q.push_blocking(2))
        };
        q.close();
        assert!(matches!(
            blocked.join().expect("thread"),
            Err(Error::Closed(_))
        ));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(q.pop()), Some(1));
        assert_eq!(rt.block_on(q.pop()), None);
    }
}
