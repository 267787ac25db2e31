//! Role and direction are independent, end to end over real processes:
//!
//! - an aggregator that **listens** (`Trainer.Upload`), three producer
//!   processes (`e2e_robot`) that **dial** it by `localhost:PORT` (a DNS
//!   name): data keyed by each producer's CallerId on the aggregator's
//!   timebase, events back to each; a producer restarted keeps its
//!   CallerId and its series goes on; the aggregator restarted, the
//!   producers redial by themselves (fan-in);
//! - the same found over mDNS, the aggregator publishing and the producers
//!   discovering (loopback-only mDNS inside a network namespace this test
//!   creates);
//! - one producer (`e2e_producer`, hosting `Sensor.Stream`) and two
//!   aggregators dialing it: each gets every sample, both aggregators'
//!   events arrive (fan-out).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command as Process;
use std::time::Duration;

use common::{IN_NETNS, LOOPBACK_ANY_PORT, Peer, rerun_in_network_namespace, signal, spawn_ready};
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, RuntimeManager, Timestamp, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);

/// The trainer: an aggregator that listens; producers dial it.
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    listen: Option<SocketAddr>,
    publish: Option<&'static str>,
}

impl Hooks for Trainer {
    fn configure(&self, mut config: RuntimeConfig) -> RuntimeConfig {
        if let Some(service_type) = self.publish {
            config.discovery.publish = Some((service_type.into(), "trainer".into()));
            config.discovery.interfaces = tsercom::discovery::Interfaces::LoopbackOnly;
        }
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// An aggregator that dials a producer hosting `Sensor.Stream`.
#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Dashboard {
    producer: Option<SocketAddr>,
}

impl Hooks for Dashboard {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

fn spawn_robot(state: &Path, start: u32, trainer: Option<&str>, discover: bool) -> Peer {
    spawn_robot_skewed(state, start, trainer, discover, 0)
}

/// A robot whose clock runs `ahead_ms` ahead of this machine's.
fn spawn_robot_skewed(
    state: &Path,
    start: u32,
    trainer: Option<&str>,
    discover: bool,
    ahead_ms: i64,
) -> Peer {
    let mut command = Process::new(env!("CARGO_BIN_EXE_e2e_robot"));
    command
        .env("TSERCOM_STATE_DIR", state)
        .env("E2E_CLOCK_OFFSET_MS", ahead_ms.to_string())
        .env("E2E_START", start.to_string())
        .env_remove("E2E_TRAINER")
        .env_remove("E2E_DISCOVER");
    if let Some(addr) = trainer {
        command.env("E2E_TRAINER", addr);
    }
    if discover {
        command.env("E2E_DISCOVER", "1");
    }
    spawn_ready(&mut command)
}

/// Samples per caller until `done` says enough; checks each timestamp is
/// on this (the aggregator's) clock.
fn collect(
    handle: &AggregatorHandle<Reading, Command>,
    manager: &mut RuntimeManager,
    got: &mut BTreeMap<CallerId, Vec<f64>>,
    done: impl Fn(&BTreeMap<CallerId, Vec<f64>>) -> bool,
) {
    while !done(got) {
        assert!(
            handle.data().wait_new(WAIT),
            "samples arrived in time: {got:?}"
        );
        let now = Timestamp::now();
        for (caller, samples) in handle.data().take_new() {
            for sample in samples {
                let age = now.nanos_since(&sample.timestamp);
                assert!(
                    (-5_000_000_000..120_000_000_000).contains(&age),
                    "timestamp {} on the aggregator's clock (now {now})",
                    sample.timestamp
                );
                got.entry(caller).or_default().push(sample.data.celsius);
            }
        }
        manager.check_error().expect("no runtime error");
    }
}

/// A command the producers answer with a reading of -1.
fn command(action: &str) -> Command {
    Command {
        action: action.into(),
        ..Command::default()
    }
}

/// The series (echoes of -1 left out) counts up by one.
fn assert_consecutive(values: &[f64]) {
    let series: Vec<f64> = values.iter().copied().filter(|v| *v >= 0.0).collect();
    assert!(
        series.windows(2).all(|w| w[1] == w[0] + 1.0),
        "consecutive, in order: {series:?}"
    );
}

fn series_len(values: Option<&Vec<f64>>, from: f64) -> usize {
    values.map_or(0, |v| v.iter().filter(|x| **x >= from).count())
}

fn echoes(values: Option<&Vec<f64>>) -> usize {
    values.map_or(0, |v| v.iter().filter(|x| **x == -1.0).count())
}

fn start_trainer(
    listen: SocketAddr,
    publish: Option<&'static str>,
) -> (RuntimeManager, AggregatorHandle<Reading, Command>) {
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Trainer {
            listen: Some(listen),
            publish,
        })
        .expect("register the trainer");
    manager.start_in_process().expect("start");
    manager.check_error().expect("the trainer listens");
    (manager, handle)
}

#[test]
fn e2e_aggregator_listens_and_producers_dial_it_by_name() {
    let (mut manager, handle) = start_trainer(LOOPBACK_ANY_PORT, None);
    // Kept for the restart below, on the same address.
    let listen = handle.listening()[0];
    let target = format!("localhost:{}", listen.port());
    let states: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let mut robots: Vec<Peer> = states
        .iter()
        .map(|s| spawn_robot(s.path(), 0, Some(&target), false))
        .collect();
    let ids: Vec<CallerId> = robots.iter().map(|r| r.id).collect();
    assert!(
        ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2],
        "one identity each"
    );

    // Fan-in: every producer's series, keyed by its CallerId.
    let mut got = BTreeMap::new();
    collect(&handle, &mut manager, &mut got, |g| {
        ids.iter().all(|id| series_len(g.get(id), 0.0) >= 10)
    });
    assert_eq!(got.keys().copied().collect::<Vec<_>>(), {
        let mut sorted = ids.clone();
        sorted.sort();
        sorted
    });
    for id in &ids {
        assert_eq!(got[id][0], 0.0, "each series from its first reading");
        assert_consecutive(&got[id]);
    }
    let callers = handle.callers();
    assert_eq!(callers.len(), 3);
    assert!(
        callers.iter().all(|c| c
            .peer
            .as_deref()
            .is_some_and(|p| p.starts_with("127.0.0.1:"))),
        "each caller named by its address: {callers:?}"
    );

    // Events back to every producer (each answers with -1).
    handle.send(command("calibrate"), To::All).expect("send");
    collect(&handle, &mut manager, &mut got, |g| {
        ids.iter().all(|id| echoes(g.get(id)) >= 1)
    });
    // And to one producer only.
    handle
        .send(command("one"), To::Caller(ids[1]))
        .expect("send to one");
    collect(&handle, &mut manager, &mut got, |g| {
        echoes(g.get(&ids[1])) >= 2
    });
    assert_eq!(echoes(got.get(&ids[0])), 1);

    // A producer killed and restarted: same CallerId, its series goes on.
    drop(robots.remove(0));
    let restarted = spawn_robot(states[0].path(), 1000, Some(&target), false);
    assert_eq!(restarted.id, ids[0], "the CallerId survived the restart");
    robots.insert(0, restarted);
    collect(&handle, &mut manager, &mut got, |g| {
        series_len(g.get(&ids[0]), 1000.0) >= 10
    });
    let after: Vec<f64> = got[&ids[0]]
        .iter()
        .copied()
        .filter(|v| *v >= 1000.0)
        .collect();
    assert_eq!(after[0], 1000.0, "the restarted producer's first reading");
    assert_consecutive(&after);
    assert_eq!(handle.callers().len(), 3, "one caller across the restart");

    // The aggregator restarted on the same address: the producers redial
    // by themselves and every series flows again.
    manager.shutdown().expect("shutdown");
    let (mut manager, handle) = start_trainer(listen, None);
    let mut again = BTreeMap::new();
    collect(&handle, &mut manager, &mut again, |g| {
        ids.iter().all(|id| series_len(g.get(id), 0.0) >= 5)
    });
    for id in &ids {
        assert_consecutive(&again[id]);
    }
    manager.shutdown().expect("shutdown");
    drop(robots);
}

#[test]
fn e2e_aggregator_publishes_and_producers_discover_it_over_mdns() {
    let test = "e2e_aggregator_publishes_and_producers_discover_it_over_mdns";
    if std::env::var_os(IN_NETNS).is_none() {
        rerun_in_network_namespace(test);
        return;
    }
    // Inside the namespace: mDNS here reaches nothing but this lo.
    let (mut manager, handle) = start_trainer(LOOPBACK_ANY_PORT, Some("_e2etrainer._tcp"));
    let states: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let robots: Vec<Peer> = states
        .iter()
        .map(|s| spawn_robot(s.path(), 0, None, true))
        .collect();
    let ids: Vec<CallerId> = robots.iter().map(|r| r.id).collect();
    let mut got = BTreeMap::new();
    collect(&handle, &mut manager, &mut got, |g| {
        ids.iter().all(|id| series_len(g.get(id), 0.0) >= 10)
    });
    for id in &ids {
        assert_consecutive(&got[id]);
    }
    handle.send(command("calibrate"), To::All).expect("send");
    collect(&handle, &mut manager, &mut got, |g| {
        ids.iter().all(|id| echoes(g.get(id)) >= 1)
    });
    manager.shutdown().expect("shutdown");
    drop(robots);
}

#[test]
fn e2e_one_producer_two_aggregators_each_get_every_sample() {
    let state = tempfile::tempdir().expect("tempdir");
    let mut process = Process::new(env!("CARGO_BIN_EXE_e2e_producer"));
    process
        .env("E2E_LISTEN", "127.0.0.1:0")
        .env("TSERCOM_STATE_DIR", state.path())
        .env_remove("E2E_TLS_DIR")
        .env_remove("E2E_PUBLISH");
    let producer = spawn_ready(&mut process);
    let addr = producer.addr();

    // Two aggregators, each in its own manager (as in two programs).
    let mut first_manager = RuntimeManager::new();
    let first = first_manager
        .register(Dashboard {
            producer: Some(addr),
        })
        .expect("register");
    first_manager.start_in_process().expect("start");
    let mut second_manager = RuntimeManager::new();
    let second = second_manager
        .register(Dashboard {
            producer: Some(addr),
        })
        .expect("register");
    second_manager.start_in_process().expect("start");

    let mut got_first = BTreeMap::new();
    let mut got_second = BTreeMap::new();
    collect(&first, &mut first_manager, &mut got_first, |g| {
        series_len(g.get(&producer.id), 0.0) >= 20
    });
    collect(&second, &mut second_manager, &mut got_second, |g| {
        series_len(g.get(&producer.id), 0.0) >= 20
    });
    // Each has a gap-free series (every sample published while it was
    // connected), and the two overlap: the same samples went to both.
    let a: Vec<f64> = got_first[&producer.id].clone();
    let b: Vec<f64> = got_second[&producer.id].clone();
    assert_consecutive(&a);
    assert_consecutive(&b);
    assert!(
        b.iter().any(|v| a.contains(v)),
        "both got the same samples: {a:?} / {b:?}"
    );
    // The dialing side names the producer by CallerId and address.
    for handle in [&first, &second] {
        let callers = handle.callers();
        assert_eq!(callers.len(), 1);
        assert_eq!(callers[0].id, producer.id);
        assert_eq!(callers[0].peer, Some(addr.to_string()), "{callers:?}");
    }

    // Both aggregators' events reach the producer: it answers each with a
    // -1 to every aggregator, so each sees two.
    first.send(command("from-first"), To::All).expect("send");
    second.send(command("from-second"), To::All).expect("send");
    collect(&first, &mut first_manager, &mut got_first, |g| {
        echoes(g.get(&producer.id)) >= 2
    });
    collect(&second, &mut second_manager, &mut got_second, |g| {
        echoes(g.get(&producer.id)) >= 2
    });
    first_manager.shutdown().expect("shutdown");
    second_manager.shutdown().expect("shutdown");
    drop(producer);
}

#[test]
fn e2e_a_stopped_dialer_is_shown_disconnected_by_the_host() {
    use tsercom::data::ConnectionState;
    let (mut manager, handle) = start_trainer(LOOPBACK_ANY_PORT, None);
    let port = handle.listening()[0].port();
    let state = tempfile::tempdir().expect("tempdir");
    let robot = spawn_robot(state.path(), 0, Some(&format!("127.0.0.1:{port}")), false);
    let mut got = BTreeMap::new();
    collect(&handle, &mut manager, &mut got, |g| {
        series_len(g.get(&robot.id), 0.0) >= 5
    });

    // SIGSTOP the dialer: the host's HTTP/2 keepalive closes its connection.
    signal(&robot, "-STOP");
    let stopped = std::time::Instant::now();
    handle
        .wait_callers(WAIT, |c| {
            // Disconnected, or already freed: its data was all read (a
            // disconnected caller's store lingers only while unread).
            !c.iter()
                .any(|c| c.id == robot.id && c.state == ConnectionState::Connected)
        })
        .expect("the stopped producer is no longer shown connected");
    let noticed = stopped.elapsed();
    assert!(
        noticed < Duration::from_secs(15),
        "noticed after {noticed:?} (about 3 s)"
    );

    // SIGCONT: it redials by itself.
    signal(&robot, "-CONT");
    handle
        .wait_callers(WAIT, |c| {
            c.iter()
                .any(|c| c.id == robot.id && c.state == ConnectionState::Connected)
        })
        .expect("connected again");
    manager.shutdown().expect("shutdown");
    drop(robot);
}

#[test]
fn e2e_a_dialing_producer_clock_offset_is_applied_on_the_aggregator_timebase() {
    // The robot dials the trainer, so the robot measures the offset (the
    // dialer does) and converts its samples to the trainer's clock before
    // sending: they land on the aggregator's timebase although the robot's
    // clock runs 30 s ahead.
    const AHEAD_MS: i64 = 30_000;
    let (mut manager, handle) = start_trainer(LOOPBACK_ANY_PORT, None);
    let port = handle.listening()[0].port();
    let state = tempfile::tempdir().expect("tempdir");
    let robot = spawn_robot_skewed(
        state.path(),
        0,
        Some(&format!("localhost:{port}")),
        false,
        AHEAD_MS,
    );
    let mut checked = 0;
    while checked < 20 {
        assert!(handle.data().wait_new(WAIT), "samples arrived in time");
        for (caller, samples) in handle.data().take_new() {
            assert_eq!(caller, robot.id);
            let now = Timestamp::now();
            for sample in samples {
                let age_ms = now.nanos_since(&sample.timestamp) / 1_000_000;
                assert!(
                    (-1_000..20_000).contains(&age_ms),
                    "sample at {} on the trainer's clock (now {now}, age {age_ms} ms): not 30 s ahead",
                    sample.timestamp
                );
                checked += 1;
            }
        }
        manager.check_error().expect("no runtime error");
    }
    manager.shutdown().expect("shutdown");
    drop(robot);
}
