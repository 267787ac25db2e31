//! Metrics end to end (feature `prometheus`): a `#[tsercom::runtime]`
//! producer and an aggregator dialing it on loopback, N samples one way and
//! an event the other, then the process's Prometheus endpoint scraped over
//! HTTP and its text exposition parsed: the counters match what was sent,
//! each side shows the other connected, the clock gauges are there; after
//! shutdown both sides show the peer gone. And out of process, the child's
//! own endpoint.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

mod common;

use common::publish_and_take;

const WAIT: Duration = Duration::from_secs(60);
const N: usize = 250;

#[tsercom::runtime(producer, listen = self.addr, service = sensors::Sensor, data = Reading, event = Command, name = "thermo", hooks)]
#[derive(Default)]
struct Thermometer {
    id: Option<CallerId>,
    addr: Option<SocketAddr>,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        match self.id {
            Some(id) => config.with_identity(Identity::Fixed(id)),
            None => config,
        }
    }
}

#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, name = "collector", hooks)]
#[derive(Default)]
struct Collector {
    id: Option<CallerId>,
    producer: Option<SocketAddr>,
}

impl Hooks for Collector {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let config = config.with_clock_sync(true);
        match self.id {
            Some(id) => config.with_identity(Identity::Fixed(id)),
            None => config,
        }
    }
}

/// A free loopback port (the runtime's API takes an address, not a bound
/// listener).
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// `GET /metrics` over a plain TCP stream; the body.
fn scrape(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response: {response:?}"));
    assert!(head.starts_with("HTTP/1.1 200"), "status line of {head:?}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "the text exposition's content type in {head:?}"
    );
    body.to_owned()
}

/// One sample of the exposition: its name and labels (sorted).
type Series = (String, BTreeMap<String, String>);

/// Parses the text exposition's samples (`name{k="v",...} value`),
/// checking every `# TYPE` line names a counter or a gauge.
fn parse(body: &str) -> BTreeMap<Series, f64> {
    let mut samples = BTreeMap::new();
    for line in body.lines() {
        if let Some(kind) = line.strip_prefix("# TYPE ") {
            let (_, kind) = kind.rsplit_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge"].contains(&kind), "type of {line:?}");
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("a number in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').expect("labels end with }");
                let labels = rest
                    .split(',')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .expect("a quoted label value");
                        (k.to_owned(), v.to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        samples.insert((name, labels), value);
    }
    samples
}

fn get(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples.get(&(name.to_owned(), labels)).copied()
}

fn prefix(id: CallerId) -> String {
    id.to_string()[..8].to_owned()
}

#[test]
fn a_scrape_shows_what_the_runtimes_did() {
    let endpoint = tsercom::metrics::serve_prometheus("127.0.0.1:0").expect("serve metrics");
    assert!(endpoint.ip().is_loopback() && endpoint.port() != 0);

    let producer_id = CallerId::random();
    let collector_id = CallerId::random();
    let addr = free_addr();
    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            id: Some(producer_id),
            addr: Some(addr),
        })
        .expect("register producer");
    let collector = manager
        .register(Collector {
            id: Some(collector_id),
            producer: Some(addr),
        })
        .expect("register aggregator");
    manager.start_in_process().expect("start");
    thermometer
        .wait_callers(WAIT, |c| {
            c.iter()
                .any(|c| c.id == collector_id && c.state.is_connected())
        })
        .expect("the aggregator's stream reached the producer");

    let received = publish_and_take(&thermometer, &collector, N, || {
        manager.check_error().expect("no runtime error");
    });
    assert_eq!(received, N);
    collector
        .send(
            Command {
                action: "calibrate".into(),
                ..Command::default()
            },
            To::All,
        )
        .expect("send an event");
    assert!(thermometer.events().wait_new(WAIT), "the event arrived");
    assert_eq!(thermometer.take_events().len(), 1);
    let clock = collector
        .callers()
        .into_iter()
        .find(|c| c.id == producer_id)
        .and_then(|c| c.clock)
        .expect("the aggregator measured the producer's clock before its stream opened");

    let samples = parse(&scrape(endpoint));
    let (p, c) = (prefix(producer_id), prefix(collector_id));
    let aggregator_side = [("runtime", "collector"), ("peer", p.as_str())];
    let producer_side = [("runtime", "thermo"), ("peer", c.as_str())];
    let n = N as f64;
    assert_eq!(
        get(&samples, "tsercom_samples_received_total", &aggregator_side),
        Some(n),
        "every sample counted once where it arrived; exposition:\n{samples:#?}"
    );
    assert_eq!(
        get(&samples, "tsercom_samples_sent_total", &producer_side),
        Some(n)
    );
    assert_eq!(
        get(&samples, "tsercom_events_sent_total", &aggregator_side),
        Some(1.0)
    );
    assert_eq!(
        get(&samples, "tsercom_events_received_total", &producer_side),
        Some(1.0)
    );
    for side in [&aggregator_side, &producer_side] {
        let received = get(&samples, "tsercom_bytes_received_total", side).expect("bytes in");
        let sent = get(&samples, "tsercom_bytes_sent_total", side).expect("bytes out");
        assert!(received > 0.0 && sent > 0.0, "bytes counted on {side:?}");
        assert_eq!(
            get(&samples, "tsercom_peer_connected", side),
            Some(1.0),
            "{side:?} shows its peer connected"
        );
    }
    // The gauges hold the estimate the handle shows.
    let offset = get(&samples, "tsercom_clock_offset_seconds", &aggregator_side)
        .expect("clock offset gauge");
    let round_trip =
        get(&samples, "tsercom_round_trip_seconds", &aggregator_side).expect("round trip gauge");
    assert!(offset.abs() < 1.0, "same host: offset {offset} s");
    assert!(
        (0.0..1.0).contains(&round_trip),
        "loopback round trip {round_trip} s"
    );
    assert!(clock.delay_nanos >= 0);
    // Each reading's age on arrival, on the aggregator's timebase.
    let lag = get(&samples, "tsercom_delivery_lag_seconds", &aggregator_side)
        .expect("delivery lag gauge");
    assert!((-1.0..10.0).contains(&lag), "loopback delivery lag {lag} s");
    assert_eq!(
        get(&samples, "tsercom_reconnects_total", &aggregator_side),
        Some(0.0),
        "one session, no reconnect"
    );
    // The producer's server accepted the aggregator's connection and
    // refused nothing.
    let thermo = [("runtime", "thermo")];
    assert!(get(&samples, "tsercom_connections_accepted_total", &thermo).is_some_and(|v| v >= 1.0));
    assert!(get(&samples, "tsercom_connections_open", &thermo).is_some_and(|v| v >= 1.0));
    for reason in ["full", "duplicate", "unauthenticated", "forbidden"] {
        assert_eq!(
            get(
                &samples,
                "tsercom_connections_refused_total",
                &[("runtime", "thermo"), ("reason", reason)]
            ),
            Some(0.0),
            "refused for {reason}"
        );
    }
    // Nothing was lost; the drop counters exist (at 0) per reason.
    for (runtime, reason) in [
        ("collector", "store_full"),
        ("collector", "invalid_timestamp"),
        ("thermo", "send_queue_full"),
        ("thermo", "no_peer"),
    ] {
        assert_eq!(
            get(
                &samples,
                "tsercom_samples_dropped_total",
                &[("runtime", runtime), ("reason", reason)]
            ),
            Some(0.0),
            "{runtime} dropped for {reason}"
        );
    }
    assert!(
        get(
            &samples,
            "tsercom_queue_depth",
            &[("runtime", "collector"), ("queue", "unread")]
        )
        .is_some(),
        "the store's depth is sampled"
    );
    // Acknowledged delivery (sampled every second): the aggregator
    // acknowledged every reading, nothing resent, nothing received twice.
    // The exposition has no event to wait on: polled, bounded by WAIT.
    let deadline = std::time::Instant::now() + WAIT;
    let delivery = loop {
        let now = parse(&scrape(endpoint));
        let acked = get(&now, "tsercom_delivery_acknowledged_total", &thermo);
        if acked == Some(n) || std::time::Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(
        get(&delivery, "tsercom_delivery_acknowledged_total", &thermo),
        Some(n),
        "every reading acknowledged"
    );
    assert_eq!(
        get(&delivery, "tsercom_delivery_unacknowledged", &thermo),
        Some(0.0)
    );
    for runtime in ["thermo", "collector"] {
        for metric in [
            "tsercom_delivery_resent_total",
            "tsercom_delivery_duplicates_total",
            "tsercom_delivery_possibly_duplicated_total",
            "tsercom_delivery_gaps_total",
        ] {
            assert_eq!(
                get(&delivery, metric, &[("runtime", runtime)]),
                Some(0.0),
                "{runtime}: {metric}"
            );
        }
    }
    // Bounded labels: a peer is 8 hex digits, never a full CallerId or
    // an address.
    for (name, labels) in samples.keys() {
        for (key, value) in labels {
            assert!(
                ["runtime", "peer", "reason", "queue"].contains(&key.as_str()),
                "label {key} on {name}"
            );
            if key == "peer" {
                assert!(
                    value.len() == 8 && value.chars().all(|c| c.is_ascii_hexdigit()),
                    "peer label {value:?} on {name}"
                );
            }
            assert!(
                !value.contains(':') && value.len() < 32,
                "bounded label {key}={value:?} on {name}"
            );
        }
    }

    manager.shutdown().expect("shutdown");
    let samples = parse(&scrape(endpoint));
    for side in [&aggregator_side, &producer_side] {
        assert_eq!(
            get(&samples, "tsercom_peer_connected", side),
            Some(0.0),
            "{side:?} shows its peer gone after shutdown"
        );
    }
}

// ---- out of process: the child's own endpoint ----

/// A producer in the test's own process.
#[tsercom::runtime(producer, listen = self.addr, service = sensors::Sensor, data = Reading, event = Command, name = "parent-thermo")]
#[derive(Default)]
struct ParentThermometer {
    addr: Option<SocketAddr>,
}

/// An aggregator run out of process, dialing it.
#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, name = "child-collector")]
#[derive(Default)]
struct ChildCollector {
    producer: Option<SocketAddr>,
}

/// Out of process the network runs in the child, which serves its own
/// endpoint at `TSERCOM_CHILD_METRICS_ADDR` (here given through the
/// manager's child environment): a scrape of it shows the child's side —
/// the samples it received, its peer connected.
#[test]
fn an_out_of_process_runtime_serves_its_own_endpoint() {
    const TEST: &str = "an_out_of_process_runtime_serves_its_own_endpoint";
    const SAMPLES: usize = 20;
    let in_child = std::env::var_os(tsercom::runtime::CHILD_SOCKET_ENV).is_some();
    // The parent's side: a producer here (not in the child, which runs
    // this function only up to `start_out_of_process`).
    let (producer, addr, child_metrics) = if in_child {
        let var = |k: &str| std::env::var(k).expect("set by the parent");
        (None, var("E2E_ADDR").parse().expect("addr"), None)
    } else {
        let mut manager = RuntimeManager::new();
        let handle = manager
            .register(ParentThermometer {
                addr: Some("127.0.0.1:0".parse().expect("addr")),
            })
            .expect("register");
        manager.start_in_process().expect("start");
        let addr = handle.listening()[0];
        // The child's endpoint must be known before the child exists.
        (Some((manager, handle)), addr, Some(free_addr()))
    };
    let mut manager = RuntimeManager::new()
        .with_child_args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .with_child_env("E2E_ADDR", addr.to_string());
    if let Some(metrics) = child_metrics {
        manager = manager.with_child_env(tsercom::metrics::CHILD_ADDR_ENV, metrics.to_string());
    }
    let collector = manager
        .register(ChildCollector {
            producer: Some(addr),
        })
        .expect("register");
    manager.start_out_of_process().expect("start");
    let (Some((mut producer_manager, thermometer)), Some(metrics)) = (producer, child_metrics)
    else {
        unreachable!("the child never returns from start_out_of_process");
    };
    thermometer
        .wait_callers(WAIT, |c| c.iter().any(|c| c.state.is_connected()))
        .expect("the child's aggregator reached the producer");
    publish_and_take(&thermometer, &collector, SAMPLES, || {});
    let producer_id = collector.callers()[0].id;
    let labels = [
        ("runtime", "child-collector"),
        ("peer", &prefix(producer_id)[..]),
    ];
    let samples = parse(&scrape(metrics));
    assert_eq!(
        get(&samples, "tsercom_samples_received_total", &labels),
        Some(SAMPLES as f64),
        "the child counted what it received"
    );
    assert_eq!(
        get(&samples, "tsercom_peer_connected", &labels),
        Some(1.0),
        "the child shows its peer connected"
    );
    // The child's delivery counters reach the handle's stats: an event it
    // sends is acknowledged by the producer, and the count shows here (the
    // child reports them every second; no event on the handle: polled,
    // bounded by WAIT).
    collector
        .send(
            Command {
                action: "acknowledge me".into(),
                ..Command::default()
            },
            To::All,
        )
        .expect("send an event");
    assert!(thermometer.events().wait_new(WAIT), "the event arrived");
    let deadline = std::time::Instant::now() + WAIT;
    while collector.stats().delivery.acknowledged < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child's counters never reached the handle: {:?}",
            collector.stats().delivery
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(collector.stats().delivery.duplicates, 0);
    manager.shutdown().expect("shutdown");
    producer_manager.shutdown().expect("shutdown");
}
