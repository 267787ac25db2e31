//! [`Inbox`]: what one peer sent this runtime, by number: duplicates are
//! dropped, what was stored is acknowledged. Lock-free per message: a
//! stream takes and stores numbers with atomics; the acknowledging task
//! is woken only when it waits for news.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use super::Counters;

/// What one peer sent this runtime, across its streams.
pub(crate) struct Inbox {
    /// Serializes streams opening (numbering changes).
    opening: Mutex<Instant>,
    /// The peer process whose numbers these are.
    incarnation: AtomicU64,
    /// Numbers up to this one were taken by a stream (some may still be
    /// on their way into the store).
    admitted: AtomicU64,
    /// Numbers up to this one are stored (or counted as refused): what is
    /// acknowledged.
    stored: AtomicU64,
    /// An acknowledging task waits for `stored` to move.
    waiting: AtomicBool,
    changed: Notify,
    counters: Arc<Counters>,
}

impl Inbox {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Inbox {
            opening: Mutex::new(Instant::now()),
            incarnation: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            waiting: AtomicBool::new(false),
            changed: Notify::new(),
            counters,
        }
    }

    /// When a stream last opened.
    pub(crate) fn last_used(&self) -> Instant {
        *self.opening.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The acknowledgment to send now: (incarnation, received).
    pub(crate) fn current(&self) -> (u64, u64) {
        (
            self.incarnation.load(Ordering::Acquire),
            self.stored.load(Ordering::Acquire),
        )
    }

    /// Returns once the acknowledgment differs from `sent`.
    pub(crate) async fn changed_from(&self, sent: (u64, u64)) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.store(true, Ordering::Release);
            if self.current() != sent {
                return;
            }
            notified.await;
        }
    }

    fn wake(&self) {
        if self.waiting.swap(false, Ordering::AcqRel) {
            self.changed.notify_waiters();
        }
    }
}

/// One numbered stream from the peer: tells each message's number and
/// whether it is new.
pub(crate) struct Receiving {
    inbox: Arc<Inbox>,
    next: u64,
}

impl Receiving {
    /// A stream of `incarnation` whose first message is numbered `base`.
    /// Another incarnation than before (the peer restarted) starts over;
    /// numbers skipped since what this inbox admitted (the peer gave them
    /// up) are counted as gaps.
    pub(crate) fn open(inbox: Arc<Inbox>, incarnation: u64, base: u64) -> Self {
        {
            let mut opened = inbox.opening.lock().unwrap_or_else(|e| e.into_inner());
            *opened = Instant::now();
            let before = base.saturating_sub(1);
            if inbox.incarnation.load(Ordering::Acquire) != incarnation {
                inbox.admitted.store(before, Ordering::Release);
                inbox.stored.store(before, Ordering::Release);
                inbox.incarnation.store(incarnation, Ordering::Release);
            } else {
                let admitted = inbox.admitted.load(Ordering::Acquire);
                if before > admitted {
                    let gap = before - admitted;
                    inbox.counters.gaps.fetch_add(gap, Ordering::Relaxed);
                    tracing::warn!(gap, "the peer gave up messages before resending (counted)");
                    inbox.admitted.store(before, Ordering::Release);
                    inbox.stored.fetch_max(before, Ordering::AcqRel);
                }
            }
        }
        inbox.wake();
        Receiving { inbox, next: base }
    }

    /// The next message's number when it is new (to store, then
    /// [`stored`](Self::stored)); `None` for a duplicate (counted), which
    /// is dropped.
    pub(crate) fn admit(&mut self) -> Option<u64> {
        let seq = self.next;
        self.next += 1;
        if self.inbox.admitted.fetch_max(seq, Ordering::AcqRel) >= seq {
            self.inbox
                .counters
                .duplicates
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(seq)
    }

    /// Message `seq` is stored (or was refused and counted): acknowledged
    /// with the next acknowledgment.
    pub(crate) fn stored(&self, seq: u64) {
        if self.inbox.stored.fetch_max(seq, Ordering::AcqRel) < seq {
            self.inbox.wake();
        }
    }

    /// Message `seq` could not be stored (the stream ends): a resend of it
    /// is new again.
    pub(crate) fn not_stored(&self, seq: u64) {
        self.inbox.admitted.fetch_min(seq - 1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resend_after_a_reconnection_is_stored_once() {
        let inbox = Arc::new(Inbox::new(Arc::default()));
        let mut first = Receiving::open(Arc::clone(&inbox), 7, 1);
        for _ in 0..5 {
            let seq = first.admit().expect("new");
            first.stored(seq);
        }
        assert_eq!(inbox.current(), (7, 5));
        // The sender had 4 and 5 unacknowledged: it sends them again.
        let mut second = Receiving::open(Arc::clone(&inbox), 7, 4);
        assert_eq!(second.admit(), None);
        assert_eq!(second.admit(), None);
        assert_eq!(second.admit(), Some(6));
        assert_eq!(inbox.counters.duplicates.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_restarted_peer_starts_over_and_a_refused_message_is_resent() {
        let inbox = Arc::new(Inbox::new(Arc::default()));
        let mut a = Receiving::open(Arc::clone(&inbox), 1, 1);
        let seq = a.admit().expect("new");
        a.stored(seq);
        let seq = a.admit().expect("new");
        a.not_stored(seq);
        let mut again = Receiving::open(Arc::clone(&inbox), 1, 2);
        assert_eq!(again.admit(), Some(2), "not stored: new again");
        let mut restarted = Receiving::open(Arc::clone(&inbox), 2, 1);
        assert_eq!(restarted.admit(), Some(1));
    }

    #[test]
    fn numbers_given_up_by_the_sender_are_counted_as_gaps() {
        let inbox = Arc::new(Inbox::new(Arc::default()));
        let mut a = Receiving::open(Arc::clone(&inbox), 1, 1);
        let seq = a.admit().expect("new");
        a.stored(seq);
        let _b = Receiving::open(Arc::clone(&inbox), 1, 5);
        assert_eq!(inbox.counters.gaps.load(Ordering::Relaxed), 3);
    }
}
