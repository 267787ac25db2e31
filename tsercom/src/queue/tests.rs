//! Unit tests of the bounded queue, its policies and its stream.

use super::*;
use crate::error::Error;
use std::sync::Arc;

fn queue(capacity: usize, policy: OverflowPolicy) -> BoundedQueue<u32> {
    BoundedQueue::new("test", QueueConfig::new(capacity, policy))
}

fn drain(q: &BoundedQueue<u32>) -> Vec<u32> {
    std::iter::from_fn(|| q.try_pop()).collect()
}

#[test]
fn a_batch_follows_each_policy_like_single_pushes() {
    let q = queue(3, OverflowPolicy::DropOldest);
    q.push_many_blocking((0..10).collect()).expect("push");
    assert_eq!(drain(&q), [7, 8, 9]);
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 10,
            dropped: 7
        }
    );

    let q = queue(3, OverflowPolicy::DropNewest);
    q.push_many_blocking((0..10).collect()).expect("push");
    assert_eq!(drain(&q), [0, 1, 2]);
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 3,
            dropped: 7
        }
    );

    let q = queue(3, OverflowPolicy::Error);
    assert!(matches!(
        q.push_many_blocking((0..5).collect()),
        Err(Error::QueueFull { capacity: 3, .. })
    ));
    assert_eq!(drain(&q), [0, 1, 2]);
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 3,
            dropped: 2
        }
    );

    let q = queue(3, OverflowPolicy::Block);
    q.close();
    assert!(matches!(
        q.push_many_blocking(vec![1]),
        Err(Error::Closed(_))
    ));
}

#[test]
fn a_blocking_batch_larger_than_the_queue_waits_and_keeps_order() {
    let q = Arc::new(queue(4, OverflowPolicy::Block));
    let producer = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || q.push_many_blocking((0..1000).collect()))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let got: Vec<u32> = rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < 1000 {
            got.push(q.pop().await.expect("item"));
        }
        got
    });
    producer.join().expect("join").expect("pushed");
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 1000,
            dropped: 0
        }
    );
}

#[test]
fn drop_oldest_keeps_the_newest_and_counts() {
    let q = queue(3, OverflowPolicy::DropOldest);
    for i in 0..10 {
        q.push_blocking(i).expect("push");
    }
    assert_eq!(drain(&q), [7, 8, 9]);
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 10,
            dropped: 7
        }
    );
}

#[test]
fn drop_newest_keeps_the_oldest_and_counts() {
    let q = queue(3, OverflowPolicy::DropNewest);
    for i in 0..10 {
        q.push_blocking(i).expect("push");
    }
    assert_eq!(drain(&q), [0, 1, 2]);
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 3,
            dropped: 7
        }
    );
}

#[test]
fn error_policy_refuses_and_counts() {
    let q = queue(2, OverflowPolicy::Error);
    q.push_blocking(1).expect("push");
    q.push_blocking(2).expect("push");
    assert!(matches!(
        q.push_blocking(3),
        Err(Error::QueueFull { capacity: 2, .. })
    ));
    assert_eq!(q.stats().dropped, 1);
    assert_eq!(drain(&q), [1, 2]);
}

#[test]
fn block_policy_waits_for_the_consumer_and_loses_nothing() {
    let q = Arc::new(queue(4, OverflowPolicy::Block));
    let producer = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || {
            for i in 0..1000 {
                q.push_blocking(i).expect("push");
            }
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let got: Vec<u32> = rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < 1000 {
            got.push(q.pop().await.expect("open"));
        }
        got
    });
    producer.join().expect("producer");
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    assert_eq!(
        q.stats(),
        QueueStats {
            pushed: 1000,
            dropped: 0
        }
    );
}

#[test]
fn async_push_waits_for_room() {
    let q = Arc::new(queue(1, OverflowPolicy::Block));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let got = rt.block_on(async {
        let producer = {
            let q = Arc::clone(&q);
            tokio::spawn(async move {
                for i in 0..100 {
                    q.push(i).await.expect("push");
                }
            })
        };
        let mut got = Vec::new();
        while got.len() < 100 {
            got.push(q.pop().await.expect("open"));
        }
        producer.await.expect("producer");
        got
    });
    assert_eq!(got, (0..100).collect::<Vec<_>>());
}

#[test]
fn queue_stream_delivers_every_item_in_order_from_a_blocking_pusher() {
    use tokio_stream::StreamExt;
    // A small Block queue filled from a plain thread while the stream
    // drains it: every wake-up path (empty → non-empty, full → room)
    // is taken many times; nothing is lost, the order holds, and the
    // stream ends once the queue is closed and drained.
    let q = Arc::new(queue(4, OverflowPolicy::Block));
    let pusher = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || {
            for i in 0..10_000 {
                q.push_blocking(i).expect("push");
            }
            q.close();
        })
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let got: Vec<u32> = rt.block_on(QueueStream::new(Arc::clone(&q)).collect());
    pusher.join().expect("pusher");
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn dropping_a_waiting_queue_stream_loses_nothing() {
    use tokio_stream::StreamExt;
    let q = Arc::new(queue(4, OverflowPolicy::Block));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut stream = QueueStream::new(Arc::clone(&q));
        // Waiting on the empty queue, then dropped.
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(10), stream.next()).await;
        assert!(waited.is_err(), "nothing queued yet");
        drop(stream);
    });
    q.push_blocking(7).expect("push");
    assert_eq!(
        drain(&q),
        [7],
        "the item is still queued for the next stream"
    );
}

#[test]
fn close_wakes_blocked_senders_and_ends_the_consumer() {
    let q = Arc::new(queue(1, OverflowPolicy::Block));
    q.push_blocking(1).expect("push");
    let blocked = {
        let q = Arc::clone(&q);
        std::thread::spawn(move || q.push_blocking(2))
    };
    q.close();
    assert!(matches!(
        blocked.join().expect("thread"),
        Err(Error::Closed(_))
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert_eq!(rt.block_on(q.pop()), Some(1));
    assert_eq!(rt.block_on(q.pop()), None);
}
