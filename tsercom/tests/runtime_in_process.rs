//! End-to-end scenarios of the runtime core, in process: real threads, a
//! real tokio runtime, the user's side on the test thread.

mod common;

use std::sync::{Arc, Mutex};

use common::{Init, Script, t, take_n, values};
use tsercom::data::Retention;
use tsercom::runtime::{
    BoxFuture, Endpoint, Runtime, RuntimeContext, RuntimeInitializer, StopReason,
};
use tsercom::{CallerId, Error, OverflowPolicy, QueueConfig, RuntimeConfig, RuntimeManager, To};

#[test]
fn data_pushed_at_start_arrives_exactly_once_with_its_caller_id() {
    let caller = CallerId::random();
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Init::new(
            "producer",
            Script {
                callers: vec![caller],
                at_start: vec![1.0, 2.0, 3.0],
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");
    // start_in_process waits for start, so the data is there.
    let all = handle.received().take_new();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, caller);
    assert_eq!(values(&all[0].1), [1.0, 2.0, 3.0]);
    assert_eq!(all[0].1[0].timestamp, t(0));
    assert!(handle.received().take_new().is_empty());
    let callers = handle.callers();
    assert_eq!(callers.len(), 1);
    assert_eq!(callers[0].peer.as_deref(), Some("127.0.0.1:1000"));
    manager.check_error().expect("no errors");
    manager.shutdown().expect("clean shutdown");
}

#[test]
fn data_pushed_in_stop_arrives_and_stop_runs_once() {
    let caller = CallerId::random();
    let init = Init::new(
        "producer",
        Script {
            callers: vec![caller],
            at_stop: vec![9.0],
            ..Script::default()
        },
    );
    let (starts, stops) = (Arc::clone(&init.starts), Arc::clone(&init.stops));
    let mut manager = RuntimeManager::new();
    let handle = manager.register(init).expect("register");
    manager.start_in_process().expect("start");
    manager.shutdown().expect("shutdown");
    manager.shutdown().expect("idempotent");
    drop(manager);
    assert_eq!(values(&handle.received().take_new_for(caller)), [9.0]);
    assert_eq!(*starts.lock().expect("lock"), 1, "started exactly once");
    assert_eq!(*stops.lock().expect("lock"), 1, "stopped exactly once");
    assert!(matches!(handle.send(1.0, To::All), Err(Error::Closed(_))));
}

#[test]
fn events_reach_one_caller_or_all_and_each_replies() {
    let (a, b, c) = (CallerId::random(), CallerId::random(), CallerId::random());
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Init::new(
            "aggregator",
            Script {
                callers: vec![a, b, c],
                reply: true,
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");

    handle.send(1.0, To::Caller(b)).expect("send to b");
    assert_eq!(take_n(&handle, b, 1), [1.5]);
    assert!(
        handle.received().take_new_for(a).is_empty()
            && handle.received().take_new_for(c).is_empty()
    );

    handle.send(2.0, To::All).expect("broadcast");
    for caller in [a, b, c] {
        assert_eq!(take_n(&handle, caller, 1), [2.5], "caller {caller}");
    }
    let unknown = CallerId::random();
    assert!(
        matches!(handle.send(3.0, To::Caller(unknown)), Err(Error::UnknownCaller(id)) if id == unknown)
    );
    manager.shutdown().expect("shutdown");
}

#[test]
fn ten_thousand_events_in_order_under_block() {
    let caller = CallerId::random();
    let mut manager = RuntimeManager::new();
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
    manager.start_in_process().expect("start");
    for i in 0..10_000 {
        handle.send(f64::from(i), To::Caller(caller)).expect("send");
    }
    let got = take_n(&handle, caller, 10_000);
    let expected: Vec<f64> = (0..10_000).map(|i| f64::from(i) + 0.5).collect();
    assert_eq!(got, expected);
    let stats = handle.stats();
    assert_eq!((stats.outbound.pushed, stats.outbound.dropped), (10_000, 0));
    assert_eq!(stats.inbound.dropped, 0);
    manager.shutdown().expect("shutdown");
}

/// Events sent while the runtime does not consume: exact drop counts, then
/// the survivors arrive in order.
fn drops_under(policy: OverflowPolicy) -> (Vec<f64>, u64) {
    struct Hold {
        caller: CallerId,
        policy: OverflowPolicy,
        endpoint: Arc<Mutex<Option<Endpoint<f64, f64>>>>,
    }
    struct Held {
        ctx: RuntimeContext<f64, f64>,
        caller: CallerId,
        endpoint: Arc<Mutex<Option<Endpoint<f64, f64>>>>,
    }
    impl RuntimeInitializer for Hold {
        type Inbound = f64;
        type Outbound = f64;
        type Handle = tsercom::RuntimeHandle<f64, f64>;
        fn name(&self) -> String {
            "hold".into()
        }
        fn config(&self) -> tsercom::Result<RuntimeConfig> {
            Ok(RuntimeConfig::default().with_events(QueueConfig::new(100, self.policy)))
        }
        fn create(&mut self, ctx: RuntimeContext<f64, f64>) -> tsercom::Result<Box<dyn Runtime>> {
            Ok(Box::new(Held {
                ctx,
                caller: self.caller,
                endpoint: Arc::clone(&self.endpoint),
            }))
        }
    }
    impl Runtime for Held {
        // Registers the caller and never consumes: the test drains the
        // endpoint itself after sending.
        fn start(&mut self) -> BoxFuture<'_, tsercom::Result<()>> {
            Box::pin(async move {
                *self.endpoint.lock().expect("lock") =
                    Some(self.ctx.register_caller(self.caller, None));
                Ok(())
            })
        }
        fn stop(&mut self, _: StopReason) -> BoxFuture<'_, tsercom::Result<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    let caller = CallerId::random();
    let endpoint = Arc::default();
    let hold = Hold {
        caller,
        policy,
        endpoint: Arc::clone(&endpoint),
    };
    let mut manager = RuntimeManager::new();
    let handle = manager.register(hold).expect("register");
    manager.start_in_process().expect("start");
    let mut refused = 0;
    for i in 0..10_000 {
        match handle.send(f64::from(i), To::Caller(caller)) {
            Ok(()) => {}
            Err(Error::QueueFull { .. }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    if policy == OverflowPolicy::Error {
        assert_eq!(refused, 9_900);
    }
    let guard = endpoint.lock().expect("lock");
    let ep = guard.as_ref().expect("registered");
    let got: Vec<f64> = std::iter::from_fn(|| ep.try_next_event()).collect();
    let dropped = handle.stats().outbound.dropped;
    drop(guard);
    manager.shutdown().expect("shutdown");
    (got, dropped)
}

#[test]
fn exact_drop_counts_under_drop_policies() {
    let (got, dropped) = drops_under(OverflowPolicy::DropNewest);
    assert_eq!(dropped, 9_900);
    assert_eq!(got, (0..100).map(f64::from).collect::<Vec<_>>());

    let (got, dropped) = drops_under(OverflowPolicy::DropOldest);
    assert_eq!(dropped, 9_900);
    assert_eq!(got, (9_900..10_000).map(f64::from).collect::<Vec<_>>());

    let (got, dropped) = drops_under(OverflowPolicy::Error);
    assert_eq!(dropped, 9_900);
    assert_eq!(got, (0..100).map(f64::from).collect::<Vec<_>>());
}

#[test]
fn create_and_start_errors_surface_and_others_go_on() {
    let ok_caller = CallerId::random();
    let mut manager = RuntimeManager::new();
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
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");

    let Err(Error::Runtimes(errors)) = manager.check_error() else {
        panic!("expected runtime errors");
    };
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 2, "{text:?}");
    assert!(
        text.iter().any(|e| e.contains("`bad-create`")
            && e.contains("create failed")
            && e.contains("no config file")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|e| e.contains("`bad-start`")
            && e.contains("start failed")
            && e.contains("port in use")),
        "{text:?}"
    );
    manager.check_error().expect("errors are reported once");
    // The healthy runtime is unaffected.
    assert_eq!(values(&ok.received().take_new_for(ok_caller)), [7.0]);
    manager.shutdown().expect("shutdown");
}

#[test]
fn run_until_error_returns_start_errors_without_deadlock() {
    let mut manager = RuntimeManager::new();
    manager
        .register(Init::new(
            "bad-start",
            Script {
                fail_start: Some("refused"),
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");
    let err = manager.run_until_error();
    assert!(
        err.to_string().contains("`bad-start`: start failed"),
        "{err}"
    );
    manager.shutdown().expect("nothing left unseen");
}

#[test]
fn a_panicking_task_surfaces_with_the_runtime_name() {
    let caller = CallerId::random();
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Init::new(
            "panicky",
            Script {
                callers: vec![caller],
                panic_in_task: true,
                reply: true,
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");
    let err = manager.run_until_error();
    assert!(
        err.to_string()
            .contains("`panicky`: task panicked: boom in a task"),
        "{err}"
    );
    // The runtime itself goes on.
    handle.send(1.0, To::Caller(caller)).expect("send");
    assert_eq!(take_n(&handle, caller, 1), [1.5]);
    manager.shutdown().expect("shutdown");
}

#[test]
fn two_runtimes_keep_their_data_apart() {
    let (a, b) = (CallerId::random(), CallerId::random());
    let mut manager = RuntimeManager::new();
    let ha = manager
        .register(Init::new(
            "a",
            Script {
                callers: vec![a],
                at_start: vec![1.0],
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
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");
    let got_a = ha.received().take_new();
    let got_b = hb.received().take_new();
    assert_eq!(got_a.len(), 1);
    assert_eq!((got_a[0].0, values(&got_a[0].1)), (a, vec![1.0]));
    assert_eq!((got_b[0].0, values(&got_b[0].1)), (b, vec![2.0]));
    manager.shutdown().expect("shutdown");
}

#[test]
fn manager_state_errors() {
    let mut manager = RuntimeManager::new();
    manager
        .start_in_process()
        .expect("start with nothing registered");
    assert!(matches!(
        manager.register(Init::new("late", Script::default())),
        Err(Error::WrongState(_))
    ));
    assert!(matches!(
        manager.start_in_process(),
        Err(Error::WrongState(_))
    ));
    manager.shutdown().expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_can_be_used_and_dropped_inside_async_code() {
    let caller = CallerId::random();
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Init::new(
            "nested",
            Script {
                callers: vec![caller],
                at_start: vec![4.0],
                ..Script::default()
            },
        ))
        .expect("register");
    manager.start_in_process().expect("start");
    assert!(handle.received().new_data().await);
    assert_eq!(values(&handle.received().take_new_for(caller)), [4.0]);
    drop(manager);
}

#[test]
fn register_rejects_a_malformed_discovery_setting() {
    use tsercom::discovery::{DiscoveryConfig, PeerSource};
    let mut manager = RuntimeManager::new();
    let config = RuntimeConfig::default().with_discovery(DiscoveryConfig {
        publish: None,
        peers: PeerSource::Mdns {
            service_type: "no-underscore._tcp".into(),
        },
        ..DiscoveryConfig::default()
    });
    let err = manager
        .register(Init::new(
            "misconfigured",
            Script {
                config: Some(config),
                ..Script::default()
            },
        ))
        .expect_err("invalid service type");
    assert!(err.to_string().contains("no-underscore._tcp"), "{err}");
}

#[test]
fn a_hosting_runtimes_bound_address_is_on_its_handle() {
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Init::new(
            "host",
            Script {
                listen: true,
                ..Script::default()
            },
        ))
        .expect("register");
    assert!(handle.listening().is_empty(), "nothing before start");
    manager.start_in_process().expect("start");
    let listening = handle.listening();
    assert_eq!(listening.len(), 1, "{listening:?}");
    assert_ne!(listening[0].port(), 0, "the port the system chose");
    std::net::TcpStream::connect_timeout(&listening[0], common::WAIT)
        .expect("connect to the runtime's listener");
    manager.shutdown().expect("shutdown");
}
