//! The recorder's queue: bounded, never blocking the side that feeds it
//! (the tap on the ingest path), drained in batches by the writer thread.
//!
//! Unlike the runtime's `BoundedQueue`, a push never wakes the writer by
//! itself: the writer wakes on its own tick (what bounds the delay to the
//! file) or when the queue is half full, so a fast ingest path pays a
//! mutex and a push per sample, not a cross-thread wake-up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::queue::{DropCounter, OverflowPolicy, QueueConfig, QueueStats};

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    /// The writer waits on `ready`.
    waiting: bool,
}

pub(crate) struct RecordQueue<T> {
    name: String,
    config: QueueConfig,
    state: Mutex<State<T>>,
    ready: Condvar,
    pushed: AtomicU64,
    drops: DropCounter,
}

impl<T> RecordQueue<T> {
    /// `config.policy` must be `DropNewest` or `DropOldest`
    /// (`RecordConfig::check`); anything else drops the newest.
    pub(crate) fn new(name: impl Into<String>, config: QueueConfig) -> Self {
        RecordQueue {
            name: name.into(),
            config,
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
                waiting: false,
            }),
            ready: Condvar::new(),
            pushed: AtomicU64::new(0),
            drops: DropCounter::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queue length that wakes a waiting writer before its tick.
    fn wake_at(&self) -> usize {
        (self.config.capacity / 2).clamp(1, 4096)
    }

    /// Queues `item`, or drops by the policy (counted); never waits.
    /// Refused quietly once closed.
    pub(crate) fn push(&self, item: T) {
        let mut state = self.lock();
        if state.closed {
            return;
        }
        if state.items.len() >= self.config.capacity {
            if self.config.policy == OverflowPolicy::DropOldest {
                state.items.pop_front();
                state.items.push_back(item);
            }
            drop(state);
            self.drops.dropped(&self.name, 1);
            return;
        }
        state.items.push_back(item);
        let wake = state.waiting && state.items.len() >= self.wake_at();
        if wake {
            state.waiting = false;
        }
        drop(state);
        self.pushed.fetch_add(1, Ordering::Relaxed);
        self.drops.accepted(&self.name);
        if wake {
            self.ready.notify_one();
        }
    }

    /// Moves everything queued into `out`, first waiting up to `tick`
    /// when nothing is. `false` once closed and drained.
    pub(crate) fn take(&self, out: &mut VecDeque<T>, tick: Duration) -> bool {
        let mut state = self.lock();
        if state.items.is_empty() && !state.closed {
            state.waiting = true;
            state = self
                .ready
                .wait_timeout(state, tick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiting = false;
        }
        std::mem::swap(&mut state.items, out);
        !(state.closed && out.is_empty())
    }

    /// Refuses further items; wakes the writer to drain what is queued.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub(crate) fn stats(&self) -> QueueStats {
        QueueStats {
            pushed: self.pushed.load(Ordering::Relaxed),
            dropped: self.drops.total(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_by_policy_and_drains_after_close() {
        let newest = RecordQueue::new("t", QueueConfig::new(2, OverflowPolicy::DropNewest));
        let oldest = RecordQueue::new("t", QueueConfig::new(2, OverflowPolicy::DropOldest));
        for i in 0..5 {
            newest.push(i);
            oldest.push(i);
        }
        let mut out = VecDeque::new();
        assert!(newest.take(&mut out, Duration::ZERO));
        assert_eq!(Vec::from(std::mem::take(&mut out)), [0, 1]);
        assert!(oldest.take(&mut out, Duration::ZERO));
        assert_eq!(Vec::from(std::mem::take(&mut out)), [3, 4]);
        assert_eq!(
            newest.stats(),
            QueueStats {
                pushed: 2,
                dropped: 3
            }
        );
        newest.push(9);
        newest.close();
        newest.push(10);
        assert!(
            newest.take(&mut out, Duration::from_secs(60)),
            "drained first"
        );
        assert_eq!(Vec::from(std::mem::take(&mut out)), [9]);
        assert!(!newest.take(&mut out, Duration::from_secs(60)), "then done");
    }
}
