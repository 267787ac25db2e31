//! Tests of [`EventRouter`](super::EventRouter).

use super::*;

#[test]
fn a_reconnect_adopts_the_backlog_without_blocking_or_dropping() {
    // Block, capacity 2; the old queue holds 3 (over capacity, as a
    // queue that adopted a backlog can be; here a taken item is put
    // back at its head).
    let router: EventRouter<u32> = EventRouter::new(
        QueueConfig {
            capacity: 2,
            policy: OverflowPolicy::Block,
        },
        std::time::Duration::from_secs(1),
    );
    let caller = CallerId::random();
    let old = router.register(caller);
    router.send(1, super::To::All).expect("send");
    router.send(2, super::To::All).expect("send");
    let first = old.try_pop().expect("taken by a stream");
    old.push_blocking(3).expect("room again");
    assert!(old.requeue_front(first));
    let (tx, rx) = std::sync::mpsc::channel();
    let thread_router = router.clone();
    std::thread::spawn(move || {
        let _ = tx.send(thread_router.register(caller));
    });
    let new = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("registering again does not block on a full Block queue");
    let items: Vec<u32> = std::iter::from_fn(|| new.try_pop()).collect();
    assert_eq!(items, vec![1, 2, 3], "all of it, in order");
    assert_eq!(router.stats().dropped, 0);
}

#[test]
fn what_waits_for_a_first_peer_follows_its_configured_policy() {
    let router: EventRouter<u32> = EventRouter::for_delivery(
        QueueConfig::new(8, OverflowPolicy::Block),
        std::time::Duration::from_secs(1),
        &crate::delivery::DeliveryConfig::default()
            .with_no_peer(QueueConfig::new(3, OverflowPolicy::DropNewest)),
    );
    for i in 0..5 {
        router.send(i, super::To::All).expect("kept or counted");
    }
    let (no_peer, waiting) = router.no_peer_stats();
    assert_eq!((no_peer.dropped, waiting), (2, 3), "the newest two dropped");
    let queue = router.register(CallerId::random());
    let items: Vec<u32> = std::iter::from_fn(|| queue.try_pop()).collect();
    assert_eq!(
        items,
        vec![0, 1, 2],
        "the oldest kept, handed over in order"
    );
    assert_eq!(router.stats_by_peer().len(), 1);
}

#[test]
fn history_goes_to_newcomers_only() {
    let router: EventRouter<u32> = EventRouter::for_delivery(
        QueueConfig::new(64, OverflowPolicy::Block),
        std::time::Duration::from_secs(1),
        &crate::delivery::DeliveryConfig::default().with_history(crate::delivery::History::last(3)),
    );
    let first = CallerId::random();
    let q1 = router.register(first);
    for i in 0..5 {
        router.send(i, super::To::All).expect("send");
    }
    assert_eq!(std::iter::from_fn(|| q1.try_pop()).count(), 5);
    let (late, n) = router.register_with_history(CallerId::random());
    assert_eq!(n, 3);
    let items: Vec<u32> = std::iter::from_fn(|| late.try_pop()).collect();
    assert_eq!(items, vec![2, 3, 4], "the last three");
    // The first caller again (a reconnect): no history.
    let (_again, n) = router.register_with_history(first);
    assert_eq!(n, 0);
}
