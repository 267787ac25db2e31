//! Python ↔ Rust over the wire protocol of PROTOCOL.md, with a small grpcio
//! peer (`python/interop_peer.py`, code generated into the package
//! `tsercom_wire`, which does not clash with PyPI's `tsercom`), run by the
//! Python in `TSERCOM_PYTHON` (`.ci/run` makes a virtual environment with
//! grpcio, grpcio-tools and Python tsercom 1.1.x from PyPI). Where that is
//! not set: fails when `CI` is set, else prints why and skips.
//!
//! - a Python aggregator dials a Rust producer: handshake (the producer's
//!   CallerId), clock offset measured by Python's `SyncTime` rounds, the
//!   readings converted to Python's clock, Python's commands arriving on
//!   the producer's clock from Python's CallerId;
//! - a Rust aggregator dials a Python producer whose clock runs 30 s ahead:
//!   the readings land on the aggregator's timebase under Python's
//!   CallerId, the aggregator's commands reach Python on its clock;
//! - a legacy peer written with the real Python tsercom 1.x (its
//!   `CallerIdentifier` and `SynchronizedTimestamp`, no handshake, the
//!   CallerId in each message) streams to a Rust host that opted in
//!   (`LegacyPeers::IdFromMessages`), is refused `UNAUTHENTICATED` by one
//!   that did not, and a second legacy stream claiming a live peer's id is
//!   refused `ALREADY_EXISTS`.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::LOOPBACK_ANY_PORT;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::{Hooks, LegacyPeers};
use tsercom::time::{OffsetClock, SystemClock};
use tsercom::{AggregatorHandle, CallerId, ProducerHandle, RuntimeManager, Timestamp, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);
const SKEW: Duration = Duration::from_secs(30);

/// A running `interop_peer.py`: its lines as `(event, fields)`.
struct PythonPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    _gen: tempfile::TempDir,
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        // Closing stdin ends it: its exit is waited for on a thread; past
        // 10 s it is killed by its PID.
        drop(self.stdin.take());
        let pid = self.child.id();
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                let _ = Process::new("kill").args(["-9", &pid.to_string()]).status();
            }
        });
        // The exit itself (after stdin closed, or the kill).
        let _ = self.child.wait();
        let _ = tx.send(());
        let _ = waiter.join();
    }
}

type Fields = HashMap<String, String>;

impl PythonPeer {
    /// Starts `interop_peer.py <mode> <args>`, or `None` (skipped) when no
    /// Python is configured outside CI.
    fn spawn(mode: &str, args: &[&str]) -> Option<PythonPeer> {
        let Some(python) = std::env::var_os("TSERCOM_PYTHON") else {
            let why = "TSERCOM_PYTHON (a Python with grpcio, grpcio-tools and tsercom 1.1.x from PyPI, as .ci/run makes) is not set";
            assert!(std::env::var_os("CI").is_none(), "{why}");
            println!("skipped: {why}");
            return None;
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/interop_peer.py");
        let generated = tempfile::tempdir().expect("tempdir");
        let mut child = Process::new(python)
            .arg(script)
            .arg(mode)
            .arg("--gen")
            .arg(generated.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start interop_peer.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Some(PythonPeer {
            child,
            stdin,
            lines,
            _gen: generated,
        })
    }

    /// The next line whose event is `event` (others are skipped, printed).
    fn expect(&self, event: &str) -> Fields {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("Python printed `{event}` in time ({e})"));
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default();
            let fields: Fields = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            if first == event {
                return fields;
            }
            assert_ne!(first, "error", "Python reported an error: {line}");
            println!("python: {line}");
        }
    }
}

fn caller(fields: &Fields, key: &str) -> CallerId {
    CallerId::parse(&fields[key]).unwrap_or_else(|e| panic!("`{key}` is a CallerId: {e}"))
}

fn seconds(fields: &Fields, key: &str) -> f64 {
    fields[key].parse().expect("a number")
}

/// Seconds from `now` to `t`.
fn secs_between(t: &Timestamp, now: &Timestamp) -> f64 {
    t.nanos_since(now) as f64 / 1e9
}

// ---- a Python aggregator dials a Rust producer ----

/// A producer hosting `Sensor.Stream`, its clock 30 s ahead.
#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config
            .with_identity(Identity::Fixed(self.id.expect("an id")))
            .with_clock(OffsetClock {
                base: SystemClock,
                offset_nanos: SKEW.as_nanos() as i128,
            })
    }
}

#[test]
fn a_python_aggregator_dials_a_rust_producer() {
    let id = CallerId::random();
    let mut manager = RuntimeManager::new();
    let handle: ProducerHandle<Reading, Command> = manager
        .register(Thermometer {
            listen: Some(LOOPBACK_ANY_PORT),
            id: Some(id),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let addr = handle.listening()[0];

    let Some(python) = PythonPeer::spawn(
        "aggregator",
        &[
            "--target",
            &addr.to_string(),
            "--readings",
            "20",
            "--commands",
            "5",
        ],
    ) else {
        return;
    };
    let ready = python.expect("ready");
    let py = caller(&ready, "caller");
    assert_eq!(
        caller(&ready, "host"),
        id,
        "the handshake names the producer"
    );
    let offset = seconds(&ready, "offset");
    assert!(
        (offset - SKEW.as_secs_f64()).abs() < 1.0,
        "Python measured the producer's clock {offset} s ahead (it is 30 s ahead)"
    );
    handle
        .wait_callers(WAIT, |c| {
            c.iter().any(|c| c.id == py && c.state.is_connected())
        })
        .expect("the Python aggregator is connected under its CallerId");

    for i in 0..20 {
        handle
            .publish(Reading {
                celsius: f64::from(i),
                ..Reading::default()
            })
            .expect("publish");
    }
    for i in 0..20 {
        let reading = python.expect("reading");
        assert_eq!(seconds(&reading, "celsius"), f64::from(i), "in order");
        let age = seconds(&reading, "age");
        assert!(
            age.abs() < 2.0,
            "a reading converted to Python's clock is {age} s old (30 s without the conversion)"
        );
    }
    assert_eq!(python.expect("done")["readings"], "20");

    // Python's commands: from its CallerId, on the producer's clock.
    let deadline = Instant::now() + WAIT;
    let mut events = Vec::new();
    while events.len() < 5 {
        assert!(Instant::now() < deadline, "5 commands in time: {events:?}");
        for event in handle.take_events() {
            assert_eq!(event.caller, py, "from the Python aggregator");
            let now = manager_clock_now();
            let skew = secs_between(&event.timestamp, &now);
            assert!(
                skew.abs() < 2.0,
                "a command is on the producer's clock ({skew} s off)"
            );
            events.push(event.data.action);
        }
        handle.events().wait_new(Duration::from_millis(200));
    }
    assert_eq!(events, ["py-0", "py-1", "py-2", "py-3", "py-4"]);
    drop(python);
    manager.shutdown().expect("shutdown");
}

/// The producer's clock now (the system clock 30 s ahead).
fn manager_clock_now() -> Timestamp {
    use tsercom::time::Clock;
    OffsetClock {
        base: SystemClock,
        offset_nanos: SKEW.as_nanos() as i128,
    }
    .now()
}

// ---- a Rust aggregator dials a Python producer ----

/// An aggregator dialing `Sensor.Stream`.
#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Dashboard {
    producer: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Dashboard {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(self.id.expect("an id")))
    }
}

#[test]
fn a_rust_aggregator_dials_a_python_producer() {
    let Some(python) = PythonPeer::spawn("producer", &["--skew", "30", "--readings", "20"]) else {
        return;
    };
    let ready = python.expect("ready");
    let py = caller(&ready, "caller");
    let port: u16 = ready["port"].parse().expect("a port");

    let id = CallerId::random();
    let mut manager = RuntimeManager::new();
    let handle: AggregatorHandle<Reading, Command> = manager
        .register(Dashboard {
            producer: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            id: Some(id),
        })
        .expect("register");
    manager.start_in_process().expect("start");

    assert_eq!(
        caller(&python.expect("stream"), "caller"),
        id,
        "the Python host bound the stream to the aggregator's handshake"
    );
    let mut values = Vec::new();
    let deadline = Instant::now() + WAIT;
    while values.len() < 20 {
        assert!(Instant::now() < deadline, "20 readings in time: {values:?}");
        handle.data().wait_new(Duration::from_millis(200));
        for (from, samples) in handle.data().take_new() {
            assert_eq!(from, py, "under the Python producer's CallerId");
            for s in samples {
                let off = secs_between(&s.timestamp, &Timestamp::now());
                assert!(
                    off.abs() < 2.0,
                    "a reading lands on the aggregator's clock ({off} s off; 30 s unconverted)"
                );
                values.push(s.data.celsius);
            }
        }
    }
    assert_eq!(values, (0..20).map(f64::from).collect::<Vec<_>>());
    let callers = handle.callers();
    let info = callers.iter().find(|c| c.id == py).expect("listed");
    let estimate = info.clock.expect("a clock estimate");
    let offset = estimate.offset_nanos as f64 / 1e9;
    assert!(
        (offset - SKEW.as_secs_f64()).abs() < 1.0,
        "the Python producer's clock is measured 30 s ahead ({offset} s)"
    );

    handle
        .send(
            Command {
                action: "rust-hello".into(),
                ..Command::default()
            },
            To::Caller(py),
        )
        .expect("send");
    let command = python.expect("command");
    assert_eq!(command["action"], "rust-hello");
    assert_eq!(caller(&command, "caller"), id);
    let skew = seconds(&command, "skew");
    assert!(
        skew.abs() < 2.0,
        "the command reached Python on its own clock ({skew} s off)"
    );
    drop(python);
    manager.shutdown().expect("shutdown");
}

// ---- legacy Python tsercom peers ----

/// An aggregator hosting `Trainer.Upload`, legacy peers allowed or not.
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    listen: Option<SocketAddr>,
    legacy: bool,
}

impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let config = config.with_identity(Identity::Fixed(CallerId::random()));
        if self.legacy {
            config.with_legacy_peers(LegacyPeers::IdFromMessages)
        } else {
            config
        }
    }
}

fn start_trainer(
    legacy: bool,
) -> (
    RuntimeManager,
    AggregatorHandle<Reading, Command>,
    SocketAddr,
) {
    let mut manager = RuntimeManager::new();
    let handle: AggregatorHandle<Reading, Command> = manager
        .register(Trainer {
            listen: Some(LOOPBACK_ANY_PORT),
            legacy,
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let addr = handle.listening()[0];
    (manager, handle, addr)
}

#[test]
fn a_legacy_python_tsercom_peer_streams_to_a_host_that_opted_in() {
    let (mut manager, handle, addr) = start_trainer(true);
    let target = addr.to_string();
    let Some(legacy) = PythonPeer::spawn("legacy", &["--target", &target, "--readings", "10"])
    else {
        return;
    };
    let py = caller(&legacy.expect("ready"), "caller");
    let mut values = Vec::new();
    let deadline = Instant::now() + WAIT;
    while values.len() < 10 {
        assert!(Instant::now() < deadline, "10 readings in time: {values:?}");
        handle.data().wait_new(Duration::from_millis(200));
        for (from, samples) in handle.data().take_new() {
            assert_eq!(from, py, "identified by the CallerId in its messages");
            for s in samples {
                let off = secs_between(&s.timestamp, &Timestamp::now());
                assert!(
                    off.abs() < 2.0,
                    "its SynchronizedTimestamp kept ({off} s off)"
                );
                values.push(s.data.celsius);
            }
        }
    }
    assert_eq!(values, (0..10).map(f64::from).collect::<Vec<_>>());
    handle
        .send(
            Command {
                action: "to-legacy".into(),
                ..Command::default()
            },
            To::Caller(py),
        )
        .expect("send");
    assert_eq!(legacy.expect("command")["action"], "to-legacy");

    // Another process claiming the live peer's id: refused, the holder
    // unaffected.
    let py_text = py.to_string();
    let Some(clone) = PythonPeer::spawn(
        "legacy",
        &[
            "--target",
            &target,
            "--readings",
            "1",
            "--caller-id",
            &py_text,
        ],
    ) else {
        return;
    };
    clone.expect("ready");
    let refused = clone.expect("error");
    assert_eq!(refused["code"], "ALREADY_EXISTS", "{refused:?}");
    let callers = handle.callers();
    assert_eq!(callers.len(), 1, "{callers:?}");
    assert!(callers[0].state.is_connected(), "{callers:?}");
    drop(clone);
    drop(legacy);
    manager.shutdown().expect("shutdown");
}

#[test]
fn a_legacy_peer_is_refused_unless_the_host_opted_in() {
    let (mut manager, handle, addr) = start_trainer(false);
    let Some(legacy) = PythonPeer::spawn(
        "legacy",
        &["--target", &addr.to_string(), "--readings", "3"],
    ) else {
        return;
    };
    legacy.expect("ready");
    let refused = legacy.expect("error");
    assert_eq!(refused["code"], "UNAUTHENTICATED", "{refused:?}");
    assert!(handle.callers().is_empty());
    assert!(handle.data().take_new().is_empty(), "nothing stored");
    drop(legacy);
    manager.shutdown().expect("shutdown");
}
