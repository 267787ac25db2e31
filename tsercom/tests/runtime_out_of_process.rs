//! The runtime scenarios with the runtimes in a child process: this test
//! binary re-executed with a filter naming the running test, so the child
//! runs the same test function up to `start_out_of_process()`, where it
//! becomes the runtime process.

mod common;

use std::time::{Duration, Instant};

use common::{Init, Script, WAIT, fixed_id, take_n, values};
use tsercom::data::Retention;
use tsercom::{Error, OverflowPolicy, QueueConfig, RuntimeConfig, RuntimeManager, To};

/// A manager whose child runs exactly `test` (this binary, re-executed).
fn manager_for(test: &str) -> RuntimeManager {
    RuntimeManager::new().with_child_args(["--exact", test, "--nocapture", "--test-threads=1"])
}

#[test]
fn oop_data_events_and_stop_data_cross_the_process_boundary() {
    let (a, b) = (fixed_id(1), fixed_id(2));
    let mut manager = manager_for("oop_data_events_and_stop_data_cross_the_process_boundary");
    let handle = manager
        .register(Init::new(
            "producer",
            Script {
                callers: vec![a, b],
                at_start: vec![1.0, 2.0],
                at_stop: vec![9.0],
                reply: true,
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    let pid = manager.child_pid().expect("child running");
    assert_ne!(pid, std::process::id());

    // Data pushed at start: there once start returns, exactly once.
    let all = handle.received().take_new();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].0, values(&all[0].1)), (a, vec![1.0, 2.0]));
    assert_eq!((all[1].0, values(&all[1].1)), (b, vec![1.0, 2.0]));
    assert!(handle.received().take_new().is_empty());
    assert_eq!(handle.callers().len(), 2);

    // Events: to one caller, then to all; each replies.
    handle.send(1.0, To::Caller(b)).expect("send");
    assert_eq!(take_n(&handle, b, 1), [1.5]);
    assert!(handle.received().take_new_for(a).is_empty());
    handle.send(2.0, To::All).expect("broadcast");
    assert_eq!(take_n(&handle, a, 1), [2.5]);
    assert_eq!(take_n(&handle, b, 1), [2.5]);

    // Data pushed in stop() arrives.
    manager.shutdown().expect("clean shutdown");
    assert_eq!(values(&handle.received().take_new_for(a)), [9.0]);
    assert_eq!(values(&handle.received().take_new_for(b)), [9.0]);
    assert_eq!(manager.child_pid(), None);
}

#[test]
fn oop_errors_from_create_and_start_surface_and_others_go_on() {
    let ok_caller = fixed_id(3);
    let mut manager = manager_for("oop_errors_from_create_and_start_surface_and_others_go_on");
    manager
        .register(Init::new(
            "bad-create",
            Script {
                fail_create: Some("no config file"),
                ..Script::default()
            },
        ))
        .expect("register");
    manager
        .register(Init::new(
            "bad-start",
            Script {
                fail_start: Some("port in use"),
                ..Script::default()
            },
        ))
        .expect("register");
    let ok = manager
        .register(Init::new(
            "fine",
            Script {
                callers: vec![ok_caller],
                at_start: vec![7.0],
                reply: true,
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    let err = manager.run_until_error();
    let mut text = err.to_string();
    // Both failures were reported before start returned; collect any second.
    if let Err(more) = manager.check_error() {
        text.push_str(&more.to_string());
    }
    assert!(
        text.contains("`bad-create`: create failed") && text.contains("no config file"),
        "{text}"
    );
    assert!(
        text.contains("`bad-start`: start failed") && text.contains("port in use"),
        "{text}"
    );
    assert_eq!(values(&ok.received().take_new_for(ok_caller)), [7.0]);
    ok.send(1.0, To::Caller(ok_caller)).expect("send");
    assert_eq!(take_n(&ok, ok_caller, 1), [1.5]);
    manager.shutdown().expect("nothing unseen");
}

#[test]
fn oop_two_runtimes_in_one_child_keep_data_apart() {
    let (a, b) = (fixed_id(4), fixed_id(5));
    let mut manager = manager_for("oop_two_runtimes_in_one_child_keep_data_apart");
    let ha = manager
        .register(Init::new(
            "a",
            Script {
                callers: vec![a],
                at_start: vec![1.0],
                at_stop: vec![10.0],
                ..Script::default()
            },
        ))
        .expect("register");
    let hb = manager
        .register(Init::new(
            "b",
            Script {
                callers: vec![b],
                at_start: vec![2.0],
                at_stop: vec![20.0],
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    let got_a = ha.received().take_new();
    let got_b = hb.received().take_new();
    assert_eq!(got_a.len(), 1);
    assert_eq!(got_b.len(), 1);
    assert_eq!((got_a[0].0, values(&got_a[0].1)), (a, vec![1.0]));
    assert_eq!((got_b[0].0, values(&got_b[0].1)), (b, vec![2.0]));
    manager.shutdown().expect("shutdown");
    assert_eq!(values(&ha.received().take_new_for(a)), [10.0]);
    assert_eq!(values(&hb.received().take_new_for(b)), [20.0]);
    assert!(ha.received().take_new_for(b).is_empty() && hb.received().take_new_for(a).is_empty());
}

#[test]
fn oop_ten_thousand_events_in_order_under_block() {
    let caller = fixed_id(6);
    let mut manager = manager_for("oop_ten_thousand_events_in_order_under_block");
    let handle = manager
        .register(Init::new(
            "ordered",
            Script {
                callers: vec![caller],
                reply: true,
                config: Some(
                    RuntimeConfig::default()
                        .with_events(QueueConfig::new(16, OverflowPolicy::Block))
                        .with_retention(Retention {
                            max_samples: 20_000,
                            max_age: None,
                        })
                        .with_data_policy(OverflowPolicy::Block),
                ),
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    for i in 0..10_000 {
        handle.send(f64::from(i), To::Caller(caller)).expect("send");
    }
    let got = take_n(&handle, caller, 10_000);
    let expected: Vec<f64> = (0..10_000).map(|i| f64::from(i) + 0.5).collect();
    assert_eq!(got, expected);
    assert_eq!(handle.stats().outbound.dropped, 0);
    manager.shutdown().expect("shutdown");
}

#[test]
fn oop_child_killed_with_sigkill_surfaces_an_error_and_nothing_hangs() {
    let caller = fixed_id(7);
    let mut manager =
        manager_for("oop_child_killed_with_sigkill_surfaces_an_error_and_nothing_hangs");
    let handle = manager
        .register(Init::new(
            "victim",
            Script {
                callers: vec![caller],
                at_start: vec![1.0],
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    let pid = manager.child_pid().expect("child");
    // End only the process this test started, by its PID.
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let since = Instant::now();
    let err = manager.run_until_error();
    let elapsed = since.elapsed();
    println!("error surfaced {elapsed:?} after SIGKILL: {err}");
    assert!(err.to_string().contains("`victim`"), "{err}");
    // Detection is immediate (sub-millisecond here); 2 s is the documented bound.
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    // Sending to the dead child fails at once (no queue left to wait on).
    let sent_at = Instant::now();
    assert!(
        matches!(handle.send(1.0, To::All), Err(Error::Closed(_))),
        "Closed before shutdown"
    );
    assert!(sent_at.elapsed() < Duration::from_secs(1));
    // The handle stays usable: its data is still there; nothing hangs.
    assert_eq!(values(&handle.received().take_new_for(caller)), [1.0]);
    let shutdown_started = Instant::now();
    let _ = manager.shutdown();
    assert!(shutdown_started.elapsed() < Duration::from_secs(20));
    assert!(matches!(handle.send(1.0, To::All), Err(Error::Closed(_))));
}

#[test]
fn oop_drop_policies_count_every_event_not_delivered() {
    // Out of process the policy applies at the parent's queue; the IPC
    // pipeline behind it adds buffering, so the exact count depends on
    // timing — but every event is either delivered or counted as dropped.
    let caller = fixed_id(8);
    let mut manager = manager_for("oop_drop_policies_count_every_event_not_delivered");
    let handle = manager
        .register(Init::new(
            "lossy",
            Script {
                callers: vec![caller],
                reply: true,
                config: Some(
                    RuntimeConfig::default()
                        .with_events(QueueConfig::new(4, OverflowPolicy::DropNewest))
                        .with_retention(Retention {
                            max_samples: 20_000,
                            max_age: None,
                        })
                        .with_data_policy(OverflowPolicy::Block),
                ),
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    for i in 0..10_000 {
        handle
            .send(f64::from(i), To::Caller(caller))
            .expect("drop-newest never fails");
    }
    // A final marker, sent until accepted (it may itself be dropped).
    let marker = 1e9;
    let mut got: Vec<f64> = Vec::new();
    loop {
        let before = handle.stats().outbound.pushed;
        handle
            .send(marker, To::Caller(caller))
            .expect("send marker");
        if handle.stats().outbound.pushed > before {
            break;
        }
        assert!(
            handle.received().wait_new(WAIT),
            "the child stopped consuming"
        );
        got.extend(values(&handle.received().take_new_for(caller)));
    }
    while !got.contains(&(marker + 0.5)) {
        assert!(
            handle.received().wait_new(WAIT),
            "marker never arrived; got {}",
            got.len()
        );
        got.extend(values(&handle.received().take_new_for(caller)));
    }
    let stats = handle.stats().outbound;
    let delivered = got.iter().filter(|v| **v < marker).count() as u64;
    let markers_sent = stats.pushed + stats.dropped - 10_000;
    assert_eq!(
        delivered + stats.dropped,
        10_000 + markers_sent - 1,
        "{stats:?}"
    );
    assert!(got.windows(2).all(|w| w[0] < w[1]), "order preserved");
    manager.shutdown().expect("shutdown");
}

#[test]
fn oop_a_hosting_runtimes_bound_address_reaches_the_handle() {
    let mut manager = manager_for("oop_a_hosting_runtimes_bound_address_reaches_the_handle");
    let handle = manager
        .register(Init::new(
            "host",
            Script {
                listen: true,
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    // Known once start returned: the child reports it before "started".
    let listening = handle.listening();
    assert_eq!(listening.len(), 1, "{listening:?}");
    assert_ne!(listening[0].port(), 0, "the port the system chose");
    // The child's own listener answers there.
    std::net::TcpStream::connect_timeout(&listening[0], WAIT).expect("connect to the child");
    manager.shutdown().expect("clean shutdown");
}

#[test]
fn oop_a_stopped_child_is_reported_within_seconds_and_resumes() {
    let caller = fixed_id(9);
    let mut manager = manager_for("oop_a_stopped_child_is_reported_within_seconds_and_resumes");
    let handle = manager
        .register(Init::new(
            "sleeper",
            Script {
                callers: vec![caller],
                reply: true,
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    let pid = manager.child_pid().expect("child").to_string();
    // Stop only the process this test started, by its PID.
    let signal = |sig: &str| {
        let status = std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {sig}");
    };
    signal("-STOP");
    let since = Instant::now();
    let err = manager
        .wait_error(Duration::from_secs(30))
        .expect("the stopped child is reported");
    let elapsed = since.elapsed();
    println!("reported {elapsed:?} after SIGSTOP: {err}");
    assert!(err.to_string().contains("not responding"), "{err}");
    assert!(err.to_string().contains("`sleeper`"), "{err}");
    // Resumed: it answers again, nothing lost.
    signal("-CONT");
    handle.send(1.0, To::Caller(caller)).expect("send");
    assert_eq!(take_n(&handle, caller, 1), [1.5]);
    manager.shutdown().expect("clean shutdown");
}

#[test]
fn oop_a_handle_that_reads_slowly_is_not_taken_for_a_silent_child() {
    // A store of 10 under Block: once full, handing the child's next
    // sample over waits for the user, for longer than the heartbeat's
    // limit. That is the parent's backpressure, not a silent child.
    let caller = fixed_id(11);
    let mut manager = manager_for("oop_a_handle_that_reads_slowly_is_not_taken_for_a_silent_child");
    let handle = manager
        .register(Init::new(
            "slow-reader",
            Script {
                callers: vec![caller],
                reply: true,
                config: Some(
                    RuntimeConfig::default()
                        .with_retention(Retention {
                            max_samples: 10,
                            max_age: None,
                        })
                        .with_data_policy(OverflowPolicy::Block),
                ),
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_out_of_process().expect("start");
    for i in 0..40 {
        handle.send(f64::from(i), To::Caller(caller)).expect("send");
    }
    // Nobody reads for longer than the heartbeat's limit (5 s).
    assert!(
        manager.wait_error(Duration::from_secs(7)).is_none(),
        "no error while the handle only reads slowly"
    );
    let got = take_n(&handle, caller, 40);
    assert_eq!(got.len(), 40, "every reply, in the end");
    manager.shutdown().expect("clean shutdown");
}
