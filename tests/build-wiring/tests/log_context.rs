//! Every log line of a runtime carries its context: the runtime's span,
//! `runtime{name=…}`, and for what happens on one peer's connection a
//! `peer{caller=<CallerId prefix> …}` span inside it — on both sides of a
//! connection, including the lines a hosting runtime writes from the
//! transport's own tasks; and each side knows the other's runtime name.
//! Before, lines said "peer stream opened" with no runtime (two runtimes
//! in one process could not be told apart) and no peer had a name.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::LOOPBACK_ANY_PORT;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, ProducerHandle, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);

/// A listening aggregator.
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Hub {
    listen: Option<SocketAddr>,
}

impl Hooks for Hub {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// A producer dialing it.
#[tsercom::runtime(producer, peers = self.hub, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Rover {
    hub: Option<SocketAddr>,
}

impl Hooks for Rover {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().expect("lock"))
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The first line containing `what`, which must also contain each of
    /// `context`.
    fn line_with(&self, what: &str, context: &[&str]) {
        let lines = self.lines();
        let line = lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no line with {what:?} in:\n{}", lines.join("\n")));
        for c in context {
            assert!(line.contains(c), "{what:?} without {c:?}: {line}");
        }
    }
}

fn prefix(id: CallerId) -> String {
    id.to_string().replace('-', "")[..8].to_owned()
}

#[test]
fn lifecycle_lines_name_the_runtime_and_the_peer() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tsercom::tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tsercom::tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let mut hub_manager = RuntimeManager::new();
    let hub: AggregatorHandle<Reading, Command> = hub_manager
        .register(Hub {
            listen: Some(LOOPBACK_ANY_PORT),
        })
        .expect("register");
    hub_manager.start_in_process().expect("start");
    let addr = hub.listening()[0];
    let mut rover_manager = RuntimeManager::new();
    let rover: ProducerHandle<Reading, Command> = rover_manager
        .register(Rover { hub: Some(addr) })
        .expect("register");
    rover_manager.start_in_process().expect("start");
    let hub_id = rover
        .wait_callers(WAIT, |c| c.iter().any(|c| c.state.is_connected()))
        .expect("the rover reached the hub")[0]
        .id;
    rover.publish(Reading::default()).expect("publish");
    let deadline = Instant::now() + WAIT;
    while hub.stats().inbound.received < 1 {
        assert!(Instant::now() < deadline, "a sample in time");
        hub.data().wait_new(Duration::from_millis(200));
    }
    let rover_id = hub.callers()[0].id;
    // Each side knows the other's runtime name (`tsercom-name`).
    assert_eq!(hub.callers()[0].name.as_deref(), Some("Rover"));
    // (The rover learns it from the hub's response headers, which may
    // come after its first sample went out: wait for it.)
    rover
        .wait_callers(WAIT, |c| {
            c.first().and_then(|c| c.name.as_deref()) == Some("Hub")
        })
        .expect("the rover knows the hub's name");
    rover_manager.shutdown().expect("shutdown");
    hub.wait_callers(WAIT, |c| c.iter().all(|c| !c.state.is_connected()))
        .expect("the rover is shown gone");
    hub_manager.shutdown().expect("shutdown");

    let (hub_peer, rover_peer) = (
        format!("peer{{caller={}", prefix(rover_id)),
        format!("peer{{caller={}", prefix(hub_id)),
    );
    // The hub's lines, written from tonic's connection tasks.
    captured.line_with(
        "peer stream opened",
        &["runtime{name=Hub}", &hub_peer, "name=Rover"],
    );
    captured.line_with("peer stream ended", &["runtime{name=Hub}", &hub_peer]);
    // The rover's: its start, its connector, its session.
    captured.line_with("dialing", &["runtime{name=Rover}"]);
    captured.line_with("connected to the peer", &["runtime{name=Rover}"]);
    captured.line_with(
        "stream to the peer opened",
        &["runtime{name=Rover}", &rover_peer, "name=Hub"],
    );
}
