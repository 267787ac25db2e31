//! [`BoundedQueue`]: the queue itself — pushes from blocking and async
//! code under each policy, pops, hand-overs, close.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::policy::{DropCounter, OverflowPolicy, QueueConfig, QueueStats};
use crate::error::{Error, Result};

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

    /// Counts this queue's drops in `counter` too (the first call wins).
    pub(crate) fn export_drops_as(&self, counter: metrics::Counter) {
        self.drops.export_as(counter);
    }

    /// Items queued now.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
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

    /// Takes up to `max` queued items, in order, into `out` (one lock for
    /// all of them); returns how many.
    pub(crate) fn try_pop_many(
        &self,
        max: usize,
        out: &mut std::collections::VecDeque<T>,
    ) -> usize {
        let mut state = self.lock();
        let before = state.items.len();
        let n = before.min(max);
        out.extend(state.items.drain(..n));
        // Passing the low-water mark wakes pushers, as a single pop
        // reaching it does.
        let wake = n > 0 && before > self.low_water() && before - n <= self.low_water();
        drop(state);
        if wake {
            self.took();
        }
        n
    }

    /// Puts an item taken but not delivered back at the head, ahead of
    /// everything queued (it may exceed the capacity by that one item, as
    /// a hand-over ([`adopt`](Self::adopt)) can); `false` when the queue
    /// is closed (the item is then not taken; the caller counts it).
    pub(crate) fn requeue_front(&self, item: T) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.items.push_front(item);
        drop(state);
        self.items.notify_one();
        true
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
