//! [`QueueStream`]: a queue as the stream of an RPC (a host's response
//! stream, a dialer's request stream).

use std::sync::Arc;

use super::bounded::BoundedQueue;

/// A bounded queue as a stream, polled in place by its consumer (tonic's
/// encoder, for a host's response stream or a dialer's request stream):
/// while items are queued each poll takes one without a task hop, so a
/// burst is encoded and written together; when empty, it waits on the
/// queue. An item leaves the queue only when this stream yields it, so
/// dropping the stream (a broken RPC) loses nothing still queued: the next
/// stream on the same queue starts with it. Ends once the queue is closed
/// and drained.
pub struct QueueStream<T> {
    queue: Arc<BoundedQueue<T>>,
    waiting: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Option<T>> + Send>>>,
}

impl<T> std::fmt::Debug for QueueStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueStream")
            .field("queue", &self.queue)
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
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
