//! [`Sending`]: what a stream sends one peer — with acknowledged delivery,
//! first what is unacknowledged, then the peer's queue, each message kept
//! in the outbox as it leaves, waiting while the window is full.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::Outbox;
use crate::queue::{BoundedQueue, QueueStream};

/// The items a stream sends one peer.
pub(crate) struct Sending<T> {
    queue: Arc<BoundedQueue<T>>,
    stream: QueueStream<T>,
    /// Applied to each item as it leaves the queue, before it is kept
    /// (e.g. stamped with the time): a resend is the same message.
    prepare: Box<dyn FnMut(&mut T) + Send>,
    acked: Option<Acked<T>>,
}

struct Acked<T> {
    outbox: Arc<Outbox<T>>,
    generation: u64,
    resend: VecDeque<T>,
    /// Room known left in the window (asked again when it runs out: one
    /// lock per message, not two).
    room: usize,
    /// Taken from the queue and recorded in the outbox together, not yet
    /// yielded (a new stream resends them from the outbox if this one
    /// ends first).
    taken: VecDeque<T>,
}

/// Most messages taken from the queue and recorded at once: one lock on
/// the queue and one on the outbox for the batch instead of one each per
/// message, and one update of the runtime's shared count (at 64 peers its
/// cache line bounced between the workers per message).
const BATCH: usize = 64;

impl<T: Clone + Send + 'static> Sending<T> {
    /// Plain: the queue's items, nothing kept.
    pub(crate) fn plain(
        queue: Arc<BoundedQueue<T>>,
        prepare: Box<dyn FnMut(&mut T) + Send>,
    ) -> Self {
        Sending {
            stream: QueueStream::new(Arc::clone(&queue)),
            queue,
            prepare,
            acked: None,
        }
    }

    /// Acknowledged: a new stream of `outbox` (an older one ends); returns
    /// it, the number of its first message and how many it resends.
    pub(crate) fn acked(
        queue: Arc<BoundedQueue<T>>,
        outbox: Arc<Outbox<T>>,
        prepare: Box<dyn FnMut(&mut T) + Send>,
    ) -> (Self, u64, u64) {
        let attachment = outbox.attach();
        let base = attachment.base;
        let resent = attachment.resend.len() as u64;
        let sending = Sending {
            stream: QueueStream::new(Arc::clone(&queue)),
            queue,
            prepare,
            acked: Some(Acked {
                outbox,
                generation: attachment.generation,
                resend: attachment.resend,
                room: 0,
                taken: VecDeque::new(),
            }),
        };
        (sending, base, resent)
    }
}

// Nothing of it is pinned in place (the queue's wait is boxed).
impl<T> Unpin for Sending<T> {}

impl<T: Clone + Send + 'static> tokio_stream::Stream for Sending<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        let Some(acked) = &mut this.acked else {
            return match Pin::new(&mut this.stream).poll_next(cx) {
                Poll::Ready(Some(mut item)) => {
                    (this.prepare)(&mut item);
                    Poll::Ready(Some(item))
                }
                other => other,
            };
        };
        if let Some(item) = acked.resend.pop_front() {
            return Poll::Ready(Some(item));
        }
        if let Some(item) = acked.taken.pop_front() {
            return Poll::Ready(Some(item));
        }
        if acked.room == 0 {
            match acked.outbox.poll_room(acked.generation, cx) {
                Poll::Pending => return Poll::Pending,
                // A newer stream sends to this peer now.
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(room)) => acked.room = room,
            }
        }
        match Pin::new(&mut this.stream).poll_next(cx) {
            Poll::Ready(Some(first)) => {
                // What else is queued comes along, up to the window's room.
                acked.taken.push_back(first);
                let more = acked.room.min(BATCH) - 1;
                this.queue.try_pop_many(more, &mut acked.taken);
                for item in &mut acked.taken {
                    (this.prepare)(item);
                }
                acked.room -= acked.taken.len();
                if !acked.outbox.record_all(acked.generation, &acked.taken) {
                    // A newer stream took over: the batch goes back, in
                    // order, ahead of what is queued (or, the queue closed,
                    // is counted lost).
                    while let Some(item) = acked.taken.pop_back() {
                        if !this.queue.requeue_front(item) {
                            acked.outbox.lost_one();
                        }
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(acked.taken.pop_front())
            }
            other => other,
        }
    }
}

impl<T> Drop for Sending<T> {
    fn drop(&mut self) {
        if let Some(acked) = &self.acked {
            acked.outbox.detach(acked.generation);
        }
    }
}
