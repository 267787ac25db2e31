//! [`Arrivals`]: what comes in on one stream, as acknowledged delivery
//! sees it — each message's number (a duplicate skipped), what to
//! acknowledge, the history the peer announced. Shared by both
//! directions' read loops.

use std::sync::Arc;

use crate::delivery::{self, Counters, HistoryArrivals, Receiving};

/// One stream's arrivals.
pub(crate) struct Arrivals {
    receiving: Option<Receiving>,
    history: HistoryArrivals,
}

/// What to do with a message just read.
pub(crate) enum Arrival {
    /// A resend of what is stored: dropped (counted).
    Duplicate,
    /// Handle it; acknowledge it as its number, when numbered.
    Handle(Option<u64>),
}

impl Arrivals {
    /// A stream numbered as `numbering` says (`(base, incarnation)`, or
    /// plain), in `inbox`, its first `history` messages announced as history.
    pub(crate) fn new(
        numbering: Option<(u64, u64)>,
        inbox: impl FnOnce() -> Arc<delivery::Inbox>,
        history: u64,
        counters: Arc<Counters>,
    ) -> Self {
        Arrivals {
            receiving: numbering
                .map(|(base, incarnation)| Receiving::open(inbox(), incarnation, base)),
            history: HistoryArrivals::new(history, counters),
        }
    }

    /// Reads `message`'s place: its number when numbered (a malformed one
    /// has its number too: refused, counted and acknowledged, since a
    /// resend would fail the same way).
    pub(crate) fn next<T>(
        &mut self,
        message: &std::result::Result<Option<T>, tonic::Status>,
    ) -> Arrival {
        let numbered = match message {
            Ok(Some(_)) => true,
            Err(status) => super::malformed(status).is_some(),
            Ok(None) => false,
        };
        let seq = match self.receiving.as_mut().filter(|_| numbered) {
            Some(r) => match r.admit() {
                Some(seq) => Some(seq),
                None if message.is_ok() => return Arrival::Duplicate,
                None => None,
            },
            None => None,
        };
        if matches!(message, Ok(Some(_))) {
            self.history.arrived();
        }
        Arrival::Handle(seq)
    }

    /// Message `seq` is dealt with (stored, or refused and counted):
    /// acknowledged.
    pub(crate) fn handled(&self, seq: Option<u64>) {
        if let (Some(seq), Some(r)) = (seq, self.receiving.as_ref()) {
            r.stored(seq);
        }
    }

    /// Message `seq` was pushed into the store, or could not be (then a
    /// resend of it is new again).
    pub(crate) fn pushed(&self, seq: Option<u64>, stored: bool) {
        if let (Some(seq), Some(r)) = (seq, self.receiving.as_ref()) {
            if stored {
                r.stored(seq);
            } else {
                r.not_stored(seq);
            }
        }
    }
}
