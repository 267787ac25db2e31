//! `tsercom top` as a real process against this test's own metrics
//! endpoint (feature `prometheus`), with a real producer and aggregator on
//! loopback: output piped, so plain lines within 80 columns, one row per
//! runtime and peer, and the summary at the end.

mod run;

#[path = "../../tests/build-wiring/tests/common/mod.rs"]
mod common;

use run::{loopback, tsercom};

use std::net::SocketAddr;
use std::time::Duration;

use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);
const N: usize = 100;

#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, name = "thermo", hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        match self.id {
            Some(id) => config.with_identity(Identity::Fixed(id)),
            None => config,
        }
    }
}

#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, name = "collector")]
#[derive(Default)]
struct Collector {
    producer: Option<SocketAddr>,
}

#[test]
fn top_prints_the_fleet_as_plain_lines_and_a_summary() {
    let metrics = tsercom::metrics::serve_prometheus("127.0.0.1:0").expect("serve metrics");
    let producer_id = CallerId::random();
    let addr = loopback();
    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            listen: Some(addr),
            id: Some(producer_id),
        })
        .expect("register producer");
    let collector = manager
        .register(Collector {
            producer: Some(addr),
        })
        .expect("register aggregator");
    manager.start_in_process().expect("start");
    thermometer
        .wait_callers(WAIT, |c| c.iter().any(|c| c.state.is_connected()))
        .expect("the aggregator connected");
    common::publish_and_take(&thermometer, &collector, N, || {});

    let out = tsercom(&[
        "top",
        "--metrics",
        &metrics.to_string(),
        "--count",
        "2",
        "--interval",
        "0.2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "top failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains('\u{1b}'), "no terminal codes when piped");
    for line in stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?} fits 80 columns");
    }
    let prefix = &producer_id.to_string()[..8];
    let row = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("collector") && l.contains(prefix))
        .unwrap_or_else(|| panic!("a row for the producer:\n{stdout}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], "up", "{row}");
    assert_eq!(cells[4], N.to_string(), "received in all: {row}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("-- ")).count(),
        2,
        "two refreshes:\n{stdout}"
    );
    let summary = stdout.lines().last().expect("output");
    assert!(
        summary.starts_with(&format!("summary: 2 peer(s), 2 up; {N} received")),
        "{summary}"
    );
    manager.shutdown().expect("shutdown");
}
