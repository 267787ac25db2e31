//! [`Outbox`]: what a runtime sent one peer and the peer has not yet
//! acknowledged, numbered, kept across reconnections and sent again first
//! on the next stream.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::Counters;

/// What a runtime sent one peer, not yet acknowledged.
pub(crate) struct Outbox<T> {
    state: Mutex<State<T>>,
    window: usize,
    counters: Arc<Counters>,
}

struct State<T> {
    /// The number of `unacked[0]` (the next number when it is empty);
    /// numbers start at 1.
    first: u64,
    unacked: VecDeque<T>,
    /// Which stream sends now: a newer stream ends the older.
    generation: u64,
    /// The sending stream waiting for room in the window.
    waker: Option<Waker>,
    /// Since when no stream sends (`None` while one does).
    idle_since: Option<Instant>,
    /// The receiving process, as its last stream named it.
    peer_incarnation: Option<u64>,
}

/// A stream's start: its generation, the number of its first message, and
/// what it sends first (the unacknowledged messages, in order).
pub(crate) struct Attachment<T> {
    pub(crate) generation: u64,
    pub(crate) base: u64,
    pub(crate) resend: VecDeque<T>,
}

impl<T> Outbox<T> {
    pub(crate) fn new(window: usize, counters: Arc<Counters>) -> Self {
        Outbox {
            state: Mutex::new(State {
                first: 1,
                unacked: VecDeque::new(),
                generation: 0,
                waker: None,
                idle_since: Some(Instant::now()),
                peer_incarnation: None,
            }),
            window: window.max(1),
            counters,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone> Outbox<T> {
    /// Starts a new stream (an older one ends at its next message): it
    /// first sends again what is unacknowledged, with the same numbers.
    pub(crate) fn attach(&self) -> Attachment<T> {
        let mut st = self.lock();
        st.generation += 1;
        st.idle_since = None;
        if let Some(waker) = st.waker.take() {
            // The older stream, if waiting for room, ends.
            waker.wake();
        }
        let resend = st.unacked.clone();
        self.counters
            .resent
            .fetch_add(resend.len() as u64, Ordering::Relaxed);
        Attachment {
            generation: st.generation,
            base: st.first,
            resend,
        }
    }

    /// Keeps `item`, sent now by stream `generation`, until acknowledged;
    /// `false` (nothing kept) when a newer stream replaced it.
    #[cfg(test)]
    pub(crate) fn record(&self, generation: u64, item: &T) -> bool {
        self.record_all(generation, std::slice::from_ref(item))
    }

    /// [`record`](Self::record) of several items sent in this order (one
    /// lock, one count for all of them).
    pub(crate) fn record_all<'a>(
        &self,
        generation: u64,
        items: impl IntoIterator<Item = &'a T, IntoIter: ExactSizeIterator>,
    ) -> bool
    where
        T: 'a,
    {
        let items = items.into_iter();
        let n = items.len() as u64;
        let mut st = self.lock();
        if st.generation != generation {
            return false;
        }
        st.unacked.extend(items.cloned());
        self.counters.unacknowledged.fetch_add(n, Ordering::Relaxed);
        true
    }
}

impl<T> Outbox<T> {
    /// The stream `generation` ended.
    pub(crate) fn detach(&self, generation: u64) {
        let mut st = self.lock();
        if st.generation == generation {
            st.idle_since = Some(Instant::now());
            st.waker = None;
        }
    }

    /// How many more stream `generation` may send: `Ready(Some(n))`, n ≥ 1,
    /// when the window has room, `Ready(None)` when a newer stream replaced
    /// it, else `Pending` (woken by an acknowledgment).
    pub(crate) fn poll_room(&self, generation: u64, cx: &Context<'_>) -> Poll<Option<usize>> {
        let mut st = self.lock();
        if st.generation != generation {
            return Poll::Ready(None);
        }
        if st.unacked.len() < self.window {
            return Poll::Ready(Some(self.window - st.unacked.len()));
        }
        st.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The peer received every message numbered up to `received`.
    pub(crate) fn ack(&self, received: u64) {
        let mut st = self.lock();
        let mut freed = 0u64;
        while st.first <= received && st.unacked.pop_front().is_some() {
            st.first += 1;
            freed += 1;
        }
        if freed > 0 {
            self.counters
                .acknowledged
                .fetch_add(freed, Ordering::Relaxed);
            self.counters.settled(freed);
            if let Some(waker) = st.waker.take() {
                waker.wake();
            }
        }
    }

    /// The receiver of the stream that resent `resent` messages is process
    /// `incarnation`. When that is another process than before (the peer
    /// restarted), the messages resent to it may have reached the previous
    /// one's user before it died: counted as possibly duplicated (returned).
    pub(crate) fn receiver_is(&self, incarnation: u64, resent: u64) -> u64 {
        let mut st = self.lock();
        let before = st.peer_incarnation.replace(incarnation);
        let possible = match before {
            Some(before) if before != incarnation => resent,
            _ => 0,
        };
        drop(st);
        if possible > 0 {
            self.counters
                .possibly_duplicated
                .fetch_add(possible, Ordering::Relaxed);
            tracing::warn!(
                possible,
                "the peer restarted: messages it had not acknowledged were resent to its new process; its previous process may have delivered them already (counted as possibly duplicated)"
            );
        }
        possible
    }

    /// Counts one message taken for a stream that could not send it nor
    /// give it back.
    pub(crate) fn lost_one(&self) {
        self.counters.lost.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "a message taken by a replaced stream could not be requeued (counted as lost)"
        );
    }

    pub(crate) fn idle_longer_than(&self, now: Instant, keep: Duration) -> bool {
        self.lock()
            .idle_since
            .is_some_and(|since| now.duration_since(since) > keep)
    }

    /// Drops what is unacknowledged (its numbers are skipped: a receiver
    /// sees a gap); returns how many.
    pub(crate) fn give_up(&self) -> u64 {
        let mut st = self.lock();
        let n = st.unacked.len() as u64;
        st.unacked.clear();
        st.first += n;
        self.counters.settled(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop_context() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn unacknowledged_messages_are_resent_with_their_numbers() {
        let outbox = Outbox::new(8, Arc::default());
        let first = outbox.attach();
        assert_eq!((first.base, first.resend.len()), (1, 0));
        for i in 0..5 {
            assert!(outbox.record(first.generation, &i));
        }
        outbox.ack(2);
        outbox.detach(first.generation);
        let second = outbox.attach();
        assert_eq!(second.base, 3, "numbers 1 and 2 were acknowledged");
        assert_eq!(Vec::from(second.resend), vec![2, 3, 4]);
        assert!(
            !outbox.record(first.generation, &9),
            "the older stream may not send"
        );
        assert_eq!(
            outbox.poll_room(first.generation, &noop_context()),
            Poll::Ready(None)
        );
        outbox.ack(5);
        assert_eq!(outbox.counters.unacknowledged.load(Ordering::Relaxed), 0);
        assert_eq!(outbox.counters.acknowledged.load(Ordering::Relaxed), 5);
        assert_eq!(outbox.counters.resent.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_full_window_waits_for_an_acknowledgment() {
        let outbox = Outbox::new(2, Arc::default());
        let a = outbox.attach();
        assert!(outbox.record(a.generation, &1));
        assert!(outbox.record(a.generation, &2));
        assert_eq!(
            outbox.poll_room(a.generation, &noop_context()),
            Poll::Pending
        );
        outbox.ack(1);
        assert_eq!(
            outbox.poll_room(a.generation, &noop_context()),
            Poll::Ready(Some(1))
        );
    }

    #[test]
    fn giving_up_skips_the_numbers() {
        let outbox = Outbox::new(8, Arc::default());
        let a = outbox.attach();
        for i in 0..3 {
            assert!(outbox.record(a.generation, &i));
        }
        assert_eq!(outbox.give_up(), 3);
        assert_eq!(outbox.attach().base, 4);
    }
}
