use super::*;
use crate::error::Error;

fn t(s: i64) -> Timestamp {
    Timestamp::new(s, 0).expect("in range")
}

fn agg(max: usize, policy: OverflowPolicy) -> RemoteDataAggregator<f64> {
    RemoteDataAggregator::new(
        Retention {
            max_samples: max,
            max_age: None,
        },
        policy,
    )
}

/// The count that gates reader wake-ups always equals the number of
/// callers with unread samples, through every path that changes it
/// (insert, in and out of order, an out-of-window sample evicted on
/// arrival, take for one, take for all).
#[test]
fn the_unread_caller_count_follows_every_change() {
    let a: RemoteDataAggregator<f64> = RemoteDataAggregator::new(
        Retention {
            max_samples: 4,
            max_age: Some(Duration::from_secs(10)),
        },
        OverflowPolicy::DropOldest,
    );
    let check = |a: &RemoteDataAggregator<f64>, step: &str| {
        let state = a.lock();
        let actual = state
            .callers
            .values()
            .filter(|e| e.store.unread() > 0)
            .count();
        assert_eq!(state.callers_unread, actual, "after {step}");
        assert_eq!(
            a.shared.unread.load(std::sync::atomic::Ordering::Acquire),
            actual > 0,
            "the lock-free mirror after {step}"
        );
    };
    let (x, y) = (CallerId::random(), CallerId::random());
    a.push_blocking(x, t(100), 1.0).expect("push");
    check(&a, "x's first");
    a.push_blocking(x, t(101), 2.0).expect("push");
    a.push_blocking(y, t(100), 3.0).expect("push");
    check(&a, "y's first");
    assert_eq!(a.take_new_for(x).len(), 2);
    check(&a, "take x");
    assert!(a.take_new_for(x).is_empty());
    check(&a, "take x again");
    // Older than the window behind x's newest: evicted on arrival.
    a.push_blocking(x, t(50), 4.0).expect("push");
    check(&a, "an out-of-window sample");
    for i in 0..10 {
        a.push_blocking(x, t(102 + i), 5.0).expect("push");
    }
    check(&a, "a full store dropping oldest");
    assert_eq!(a.take_new().len(), 2);
    check(&a, "take all");
    a.push_blocking(y, t(99), 6.0).expect("push");
    check(&a, "an out-of-order sample after a take");
}

#[test]
fn queries_per_caller_and_for_all() {
    let a = agg(100, OverflowPolicy::DropOldest);
    let (x, y) = (CallerId::random(), CallerId::random());
    a.register(x, Some("127.0.0.1:1".into()), 1);
    for i in 0..5 {
        a.push_blocking(x, t(i * 10), i as f64).expect("push");
        a.push_blocking(y, t(i * 10 + 5), 100.0 + i as f64)
            .expect("push");
    }
    assert_eq!(a.most_recent(x).map(|s| s.data), Some(4.0));
    assert_eq!(a.at_or_before(x, t(25)).map(|s| s.data), Some(2.0));
    assert_eq!(a.at_or_before(x, t(-1)), None);
    assert_eq!(a.interpolated(x, t(15)), Some(1.5));
    assert_eq!(a.interpolated(x, t(20)), Some(2.0));
    assert_eq!(a.interpolated(x, t(41)), None);
    assert_eq!(a.interpolated_with(y, t(10), |v| v * 2.0), Some(201.0));
    assert_eq!(a.at_or_before_all(t(6)).len(), 2);
    let all = a.take_new();
    assert_eq!(all.iter().map(|(_, v)| v.len()).sum::<usize>(), 10);
    assert!(a.take_new().is_empty());
    assert_eq!(
        a.stats(),
        DataStats {
            received: 10,
            ..DataStats::default()
        }
    );
}

#[test]
fn overflow_policies_count_drops() {
    let x = CallerId::random();
    let a = agg(3, OverflowPolicy::DropNewest);
    for i in 0..10 {
        a.push_blocking(x, t(i), i as f64).expect("push");
    }
    let kept: Vec<f64> = a.take_new_for(x).into_iter().map(|s| s.data).collect();
    assert_eq!(kept, [0.0, 1.0, 2.0]);
    assert_eq!(a.stats().dropped, 7);

    let a = agg(3, OverflowPolicy::DropOldest);
    for i in 0..10 {
        a.push_blocking(x, t(i), i as f64).expect("push");
    }
    let kept: Vec<f64> = a.take_new_for(x).into_iter().map(|s| s.data).collect();
    assert_eq!(kept, [7.0, 8.0, 9.0]);
    assert_eq!(a.stats().dropped, 7);

    let a = agg(2, OverflowPolicy::Error);
    a.push_blocking(x, t(0), 0.0).expect("push");
    a.push_blocking(x, t(1), 1.0).expect("push");
    assert!(matches!(
        a.push_blocking(x, t(2), 2.0),
        Err(Error::QueueFull { .. })
    ));
    assert_eq!(a.stats().dropped, 1);
    // Read data makes room: evicted, not dropped.
    a.take_new();
    a.push_blocking(x, t(3), 3.0).expect("room after take");
    assert_eq!(a.stats().evicted, 1);
}

#[test]
fn disconnected_callers_unread_data_is_forgotten_within_bounds_and_counted() {
    let a = agg(10, OverflowPolicy::DropOldest);
    a.set_forgetting(Forgetting::default().max_callers(2));
    let ids: Vec<CallerId> = (0..4).map(|_| CallerId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        a.register(*id, None, 1);
        a.push_blocking(*id, t(1), 1.0).expect("push");
        a.push_blocking(*id, t(2), 2.0).expect("push");
        a.deregister(*id, 1, format!("left {i}"));
    }
    // Two kept (the last to leave), two forgotten with their data.
    let kept: Vec<CallerId> = a.callers().iter().map(|c| c.id).collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.contains(&ids[2]) && kept.contains(&ids[3]), "{kept:?}");
    let stats = a.stats();
    assert_eq!((stats.callers_forgotten, stats.forgotten), (2, 4));
    // By age: gone once past `after`, read or not.
    a.set_forgetting(Forgetting::default().after(Duration::ZERO));
    assert!(a.callers().is_empty());
    assert_eq!(a.stats().forgotten, 8);
    assert!(a.take_new().is_empty());
}

#[test]
fn deregistered_callers_are_freed_once_read() {
    let a = agg(10, OverflowPolicy::DropOldest);
    let x = CallerId::random();
    a.register(x, None, 1);
    a.push_blocking(x, t(0), 1.0).expect("push");
    a.deregister(x, 1, "gone".into());
    assert_eq!(a.callers().len(), 1, "unread data keeps the store");
    assert!(
        matches!(&a.callers()[0].state, ConnectionState::Disconnected { reason, .. } if reason == "gone")
    );
    assert_eq!(a.take_new().len(), 1);
    assert!(a.callers().is_empty(), "freed after the data was read");
}

#[test]
fn wait_new_wakes_on_push_from_another_thread() {
    let a = agg(10, OverflowPolicy::Block);
    let x = CallerId::random();
    let pusher = {
        let a = a.clone();
        std::thread::spawn(move || a.push_blocking(x, t(1), 1.0))
    };
    assert!(a.wait_new(Duration::from_secs(30)));
    pusher.join().expect("thread").expect("push");
    assert_eq!(a.take_new_for(x).len(), 1);
    assert!(!a.wait_new(Duration::from_millis(1)));
}

/// A sample's size for the memory tests: its value, in bytes.
fn value_bytes(v: &f64) -> usize {
    *v as usize
}

/// One caller's flood is held to its byte cap (its policy drops its own
/// oldest, counted); all stores together are held to the total by taking
/// from the largest store, so a quiet caller's data stays.
#[test]
fn bytes_are_bounded_per_caller_and_in_total_without_hurting_a_quiet_caller() {
    let a = agg(1_000_000, OverflowPolicy::DropOldest);
    a.set_memory_limits(
        MemoryLimits {
            per_caller: 100_000,
            total: 150_000,
        },
        value_bytes,
    );
    let (flood, quiet) = (CallerId::random(), CallerId::random());
    a.push_blocking(quiet, t(1), 10_000.0).expect("push");
    for i in 0..1_000 {
        a.push_blocking(flood, t(i), 1_000.0).expect("push");
    }
    // Per caller: 100 samples of 1 000 bytes (was: all 1 000 kept).
    let bytes = |a: &RemoteDataAggregator<f64>, c: CallerId| {
        a.lock().callers.get(&c).map_or(0, |e| e.store.bytes())
    };
    assert_eq!(bytes(&a, flood), 100_000);
    assert_eq!(a.stats().dropped, 900, "the flood's own oldest, counted");
    assert_eq!(bytes(&a, quiet), 10_000);
    // In total: a second flooding caller pushes all past 150 000; the
    // largest store loses its oldest, the quiet one nothing.
    let second = CallerId::random();
    for i in 0..60 {
        a.push_blocking(second, t(i), 1_000.0).expect("push");
    }
    let total = a.lock().total_bytes;
    assert!(total <= 150_000, "{total}");
    assert_eq!(bytes(&a, quiet), 10_000, "the quiet caller keeps its data");
    assert!(a.stats().over_memory > 0, "{:?}", a.stats());
    assert_eq!(
        total,
        bytes(&a, flood) + bytes(&a, quiet) + bytes(&a, second),
        "the total follows the stores"
    );
    // Reading and expiry give bytes back.
    let taken: usize = a.take_new().iter().map(|(_, s)| s.len()).sum();
    assert!(taken > 0);
    a.deregister(flood, u64::MAX, "gone".into());
    a.deregister(second, u64::MAX, "gone".into());
    let total = a.lock().total_bytes;
    assert_eq!(total, bytes(&a, quiet));
}

/// Under `Error`, a caller past its byte cap is refused (counted), and a
/// single sample larger than the cap is still kept alone.
#[test]
fn a_caller_past_its_byte_cap_is_refused_under_the_error_policy() {
    let a = agg(1_000, OverflowPolicy::Error);
    a.set_memory_limits(
        MemoryLimits {
            per_caller: 5_000,
            total: usize::MAX,
        },
        value_bytes,
    );
    let c = CallerId::random();
    for i in 0..5 {
        a.push_blocking(c, t(i), 1_000.0).expect("fits");
    }
    assert!(matches!(
        a.push_blocking(c, t(9), 1_000.0),
        Err(Error::QueueFull { .. })
    ));
    assert_eq!(a.take_new_for(c).len(), 5);
    a.push_blocking(c, t(10), 50_000.0)
        .expect("one sample is kept whatever its size");
    assert_eq!(a.take_new_for(c).len(), 1);
}

fn batch(from: i64, to: i64) -> Vec<(Timestamp, f64, usize)> {
    (from..to).map(|s| (t(s), s as f64, 8)).collect()
}

fn stored(a: &RemoteDataAggregator<f64>, caller: CallerId) -> Vec<f64> {
    a.take_new_for(caller).iter().map(|s| s.data).collect()
}

/// A batch is stored in order, as pushes one by one would store it, and
/// counted once per sample.
#[tokio::test]
async fn a_batch_is_stored_in_order_and_counted() {
    let a = agg(16, OverflowPolicy::Block);
    let caller = CallerId::random();
    let mut items = batch(1, 6);
    let mut reported = Vec::new();
    let (done, result) = a
        .push_batch_sized(caller, &mut items, &mut |n| reported.push(n))
        .await;
    assert!(result.is_ok());
    assert_eq!(done, 5);
    assert_eq!(reported, [5], "one part, under one lock");
    assert!(items.is_empty(), "the batch is left empty");
    assert_eq!(stored(&a, caller), [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(a.stats().received, 5);
}

/// Under `Block`, a batch larger than the room stores what fits, waits
/// for a take, then stores the rest: nothing dropped.
#[tokio::test]
async fn a_batch_under_block_waits_for_a_take_and_loses_nothing() {
    let a = agg(2, OverflowPolicy::Block);
    let caller = CallerId::random();
    let pusher = {
        let a = a.clone();
        tokio::spawn(async move {
            let mut items = batch(1, 6);
            let mut reported = Vec::new();
            let pushed = a
                .push_batch_sized(caller, &mut items, &mut |n| reported.push(n))
                .await;
            (pushed, reported)
        })
    };
    let mut got = Vec::new();
    while got.len() < 5 {
        let arrived = tokio::time::timeout(Duration::from_secs(30), a.new_data()).await;
        assert_eq!(arrived.ok(), Some(true), "the batch's samples never came");
        got.extend(stored(&a, caller));
    }
    let ((done, result), reported) = pusher.await.expect("the pusher ran");
    assert!(result.is_ok());
    assert_eq!(done, 5);
    // What fitted is reported before the wait for room (so a read loop can
    // acknowledge it meanwhile).
    assert_eq!(reported.first(), Some(&2), "{reported:?}");
    assert_eq!(reported.last(), Some(&5), "{reported:?}");
    assert_eq!(got, [1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(a.stats().dropped, 0);
}

/// Under the `Error` policy a batch stops at the first sample without
/// room: the ones before it stored, it counted as dropped, the rest not
/// handled (the read loop treats them as never read).
#[tokio::test]
async fn a_batch_under_the_error_policy_stops_at_the_first_refusal() {
    let a = agg(3, OverflowPolicy::Error);
    let caller = CallerId::random();
    let mut items = batch(1, 7);
    let (done, result) = a.push_batch_sized(caller, &mut items, &mut |_| {}).await;
    assert!(matches!(result, Err(Error::QueueFull { .. })), "{result:?}");
    assert_eq!(done, 3);
    assert!(items.is_empty());
    let stats = a.stats();
    assert_eq!((stats.received, stats.dropped), (4, 1));
    assert_eq!(stored(&a, caller), [1.0, 2.0, 3.0]);
}
