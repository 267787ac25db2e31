//! [`Pending`]: samples read from one stream, stored together. Shared by
//! both directions' read loops.

use super::arrivals::Arrivals;
use crate::error::Result;
use crate::runtime::Endpoint;
use crate::time::Timestamp;

/// Most samples stored together by one [`Pending::store`].
const MAX_PENDING: usize = 64;

/// Samples read from one stream and not yet stored. A read loop gathers
/// what its stream has ready (tonic decodes several messages from one
/// HTTP/2 frame) and stores them together, one lock of the store for the
/// lot: when the stream has nothing more ready, when [`MAX_PENDING`] are
/// gathered, and before it handles anything else (a refusal is
/// acknowledged, and an acknowledgment covers every number before it, so
/// what was read before it must be stored first).
pub(crate) struct Pending<D> {
    samples: Vec<(Timestamp, D, usize)>,
    /// Each sample's number (when numbered) and encoded size.
    read: Vec<(Option<u64>, usize)>,
}

impl<D: prost::Message> Pending<D> {
    pub(crate) fn new() -> Self {
        Pending {
            samples: Vec::new(),
            read: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, data: D, time: Timestamp, seq: Option<u64>) {
        let size = data.encoded_len();
        self.samples.push((time, data, size));
        self.read.push((seq, size));
    }

    pub(crate) fn is_full(&self) -> bool {
        self.samples.len() >= MAX_PENDING
    }

    /// Stores what is pending, in order. What is stored is acknowledged as
    /// it is stored (the last number covers the ones before it), also while
    /// the rest waits for room under `Block`. The first one not stored, if
    /// any, is new again for a resend, and so are those after it, which
    /// were not handled; likewise if this is cancelled mid-way (the
    /// session aborted). The handled ones are counted in the peer's
    /// metrics.
    pub(crate) async fn store<E>(
        &mut self,
        endpoint: &Endpoint<D, E>,
        arrivals: &Arrivals,
    ) -> Result<()> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let mut unstored = Unstored {
            arrivals,
            read: &self.read,
            done: 0,
            finished: false,
        };
        let (done, result) = endpoint
            .push_batch(&mut self.samples, &mut |done| unstored.stored(done))
            .await;
        // The failing one was handled (counted by the store) too.
        let handled = (done + usize::from(result.is_err())).min(self.read.len());
        let bytes = self.read[..handled].iter().map(|(_, size)| size).sum();
        endpoint.metrics().received_many(handled, bytes);
        unstored.finished = result.is_ok();
        drop(unstored);
        self.samples.clear();
        self.read.clear();
        result
    }
}

/// The acknowledgments of one [`Pending::store`]: each part stored is
/// acknowledged as the store reports it; unless the store finished, the
/// first sample not stored (and every one after it) is new again when this
/// is dropped — on an error, or when the store's future is dropped while
/// it waits for room.
struct Unstored<'a> {
    arrivals: &'a Arrivals,
    read: &'a [(Option<u64>, usize)],
    /// Stored so far.
    done: usize,
    finished: bool,
}

impl Unstored<'_> {
    fn stored(&mut self, done: usize) {
        if done > self.done {
            self.done = done;
            if let Some((seq, _)) = self.read.get(done - 1) {
                self.arrivals.pushed(*seq, true);
            }
        }
    }
}

impl Drop for Unstored<'_> {
    fn drop(&mut self) {
        if !self.finished
            && let Some((seq, _)) = self.read.get(self.done)
        {
            self.arrivals.pushed(*seq, false);
        }
    }
}

/// The stream's next message when it has one ready (decoded, or in the
/// bytes already received); `None` when reading it would wait.
pub(crate) async fn ready<T>(
    incoming: &mut tonic::Streaming<T>,
) -> Option<std::result::Result<Option<T>, tonic::Status>> {
    tokio::select! {
        biased;
        message = incoming.message() => Some(message),
        () = std::future::ready(()) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::caller_id::CallerId;
    use crate::data::{RemoteDataAggregator, Retention};
    use crate::delivery::{Counters, Inbox};
    use crate::proto::ServerTimestamp as Value;
    use crate::queue::OverflowPolicy;
    use crate::runtime::RuntimeContext;
    use crate::service::arrivals::Arrival;

    const INCARNATION: u64 = 7;

    /// A runtime context whose store keeps `room` unread samples under
    /// `Block`, one registered caller, and its inbox.
    struct Fixture {
        store: RemoteDataAggregator<Value>,
        endpoint: Endpoint<Value, Value>,
        inbox: Arc<Inbox>,
        counters: Arc<Counters>,
    }

    fn fixture(room: usize) -> Fixture {
        let store = RemoteDataAggregator::new(
            Retention {
                max_samples: room,
                max_age: None,
            },
            OverflowPolicy::Block,
        );
        let ctx: RuntimeContext<Value, Value> = RuntimeContext::for_test(store.clone());
        let caller = CallerId::random();
        let endpoint = ctx.register_caller(caller, None);
        let inbox = ctx.delivery.inbox(caller);
        Fixture {
            store,
            endpoint,
            inbox,
            counters: Arc::default(),
        }
    }

    fn numbered_from(f: &Fixture, base: u64) -> Arrivals {
        let inbox = Arc::clone(&f.inbox);
        Arrivals::new(
            Some((base, INCARNATION)),
            move || inbox,
            0,
            Arc::clone(&f.counters),
        )
    }

    fn value(n: i64) -> (Value, Timestamp) {
        let t = Timestamp::new(n, 0).expect("a valid time");
        (t.to_proto(), t)
    }

    /// Reads `n` samples (numbered as the stream goes) into `pending`.
    fn read(pending: &mut Pending<Value>, arrivals: &mut Arrivals, from: i64, n: i64) {
        for i in from..from + n {
            let (v, t) = value(i);
            let message = Ok(Some(v));
            let Arrival::Handle(seq) = arrivals.next(&message) else {
                panic!("sample {i} read as a duplicate");
            };
            pending.add(v, t, seq);
        }
    }

    #[tokio::test]
    async fn a_batch_is_stored_then_acknowledged_by_its_last_number() {
        let f = fixture(16);
        let mut arrivals = numbered_from(&f, 1);
        let mut pending = Pending::new();
        read(&mut pending, &mut arrivals, 1, 5);
        assert_eq!(f.inbox.current(), (INCARNATION, 0), "nothing stored yet");
        pending.store(&f.endpoint, &arrivals).await.expect("stored");
        assert_eq!(f.inbox.current(), (INCARNATION, 5));
        assert_eq!(f.store.stats().received, 5);
    }

    /// Under `Block`, what fitted is acknowledged while the rest waits for
    /// room; if the read loop is then cancelled (its connection dropped),
    /// the first sample not stored and those after it are new again: a
    /// resend of them is stored, not skipped as a duplicate.
    #[tokio::test]
    async fn a_waiting_batch_acknowledges_what_fitted_and_a_cancel_leaves_the_rest_resendable() {
        let f = fixture(2);
        let mut arrivals = numbered_from(&f, 1);
        let mut pending = Pending::new();
        read(&mut pending, &mut arrivals, 1, 5);
        let acknowledged_two = async {
            while f.inbox.current() != (INCARNATION, 2) {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            stored = pending.store(&f.endpoint, &arrivals) => {
                panic!("the store had room for 2 of 5 and nobody took: {stored:?}")
            }
            waited = tokio::time::timeout(Duration::from_secs(30), acknowledged_two) => {
                assert!(waited.is_ok(), "the 2 stored samples were never acknowledged");
            }
        }
        // The store future is dropped here, waiting for room for sample 3.
        assert_eq!(f.inbox.current(), (INCARNATION, 2));
        let mut resent = numbered_from(&f, 3);
        let (v, _) = value(3);
        assert!(
            matches!(resent.next(&Ok(Some(v))), Arrival::Handle(Some(3))),
            "sample 3 must be new again after the cancel"
        );
    }
}
