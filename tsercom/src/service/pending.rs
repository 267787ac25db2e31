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
    /// Each sample's number, when numbered.
    seqs: Vec<Option<u64>>,
}

impl<D: prost::Message> Pending<D> {
    pub(crate) fn new() -> Self {
        Pending {
            samples: Vec::new(),
            seqs: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, data: D, time: Timestamp, seq: Option<u64>) {
        let size = data.encoded_len();
        self.samples.push((time, data, size));
        self.seqs.push(seq);
    }

    pub(crate) fn is_full(&self) -> bool {
        self.samples.len() >= MAX_PENDING
    }

    /// Stores what is pending, in order. What was stored is acknowledged
    /// (its last number covers the ones before it); the first one not
    /// stored, if any, is new again for a resend, and so are those after
    /// it, which were not handled.
    pub(crate) async fn store<E>(
        &mut self,
        endpoint: &Endpoint<D, E>,
        arrivals: &Arrivals,
    ) -> Result<()> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let (done, result) = endpoint.push_batch(&mut self.samples).await;
        if let Some(last) = done.checked_sub(1) {
            arrivals.pushed(self.seqs[last], true);
        }
        if result.is_err()
            && let Some(first_not_stored) = self.seqs.get(done)
        {
            arrivals.pushed(*first_not_stored, false);
        }
        self.samples.clear();
        self.seqs.clear();
        result
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
