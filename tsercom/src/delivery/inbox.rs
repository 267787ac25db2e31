//! [`Inbox`]: what one peer sent this runtime, by number: duplicates are
//! dropped, what was stored is acknowledged.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;

use super::Counters;

/// What one peer sent this runtime, across its streams.
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// The latest acknowledgment to send: (incarnation, received).
    acks: watch::Sender<(u64, u64)>,
    counters: Arc<Counters>,
}

struct State {
    /// The peer process whose numbers these are.
    incarnation: u64,
    /// Numbers up to this one were taken by a stream (some may still be
    /// on their way into the store).
    admitted: u64,
    /// Numbers up to this one are stored (or counted as refused): what is
    /// acknowledged.
    stored: u64,
    last_used: Instant,
}

impl Inbox {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Inbox {
            state: Mutex::new(State {
                incarnation: 0,
                admitted: 0,
                stored: 0,
                last_used: Instant::now(),
            }),
            acks: watch::Sender::new((0, 0)),
            counters,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn last_used(&self) -> Instant {
        self.lock().last_used
    }

    /// The acknowledgments to send, latest first: (incarnation, received).
    pub(crate) fn acks(&self) -> watch::Receiver<(u64, u64)> {
        self.acks.subscribe()
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
            let mut st = inbox.lock();
            st.last_used = Instant::now();
            if st.incarnation != incarnation {
                st.incarnation = incarnation;
                st.admitted = base.saturating_sub(1);
                st.stored = st.admitted;
            } else if base > st.admitted + 1 {
                let gap = base - st.admitted - 1;
                inbox.counters.gaps.fetch_add(gap, Ordering::Relaxed);
                tracing::warn!(gap, "the peer gave up messages before resending (counted)");
                st.admitted = base - 1;
                st.stored = st.stored.max(st.admitted);
            }
            inbox.acks.send_replace((st.incarnation, st.stored));
        }
        Receiving { inbox, next: base }
    }

    /// The next message's number when it is new (to store, then
    /// [`stored`](Self::stored)); `None` for a duplicate (counted), which
    /// is dropped.
    pub(crate) fn admit(&mut self) -> Option<u64> {
        let seq = self.next;
        self.next += 1;
        let mut st = self.inbox.lock();
        if seq <= st.admitted {
            drop(st);
            self.inbox
                .counters
                .duplicates
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        st.admitted = seq;
        Some(seq)
    }

    /// Message `seq` is stored (or was refused and counted): acknowledged
    /// with the next acknowledgment.
    pub(crate) fn stored(&self, seq: u64) {
        let mut st = self.inbox.lock();
        if seq > st.stored {
            st.stored = seq;
            st.last_used = Instant::now();
            let ack = (st.incarnation, seq);
            drop(st);
            self.inbox.acks.send_replace(ack);
        }
    }

    /// Message `seq` could not be stored (the stream ends): a resend of it
    /// is new again.
    pub(crate) fn not_stored(&self, seq: u64) {
        let mut st = self.inbox.lock();
        if st.admitted >= seq {
            st.admitted = seq - 1;
        }
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
        assert_eq!(*inbox.acks().borrow(), (7, 5));
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
