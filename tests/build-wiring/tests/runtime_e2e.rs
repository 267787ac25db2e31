//! End to end, real processes: the `e2e_producer` program (a
//! `#[tsercom::runtime]` producer, `src/bin/e2e_producer.rs`) and an
//! aggregator here, over loopback (static peers: no multicast in the main
//! namespace).
//!
//! - data arrives keyed by the producer's CallerId, with timestamps on the
//!   aggregator's clock; events round-trip;
//! - the producer killed and restarted keeps its CallerId and its series
//!   continues in the same store;
//! - the aggregator restarted: connections come back by themselves;
//! - the aggregator's runtime out of process;
//! - mutual TLS;
//! - a producer whose clock runs 30 s ahead: its offset is measured (shown
//!   on the handle) and its samples land on the aggregator's clock;
//! - discovery: the aggregator finds the producer over loopback-only mDNS
//!   (`discover = ..., interfaces = "loopback"`), inside a network
//!   namespace this test creates (`unshare -n`); the producer restarted on
//!   a new port is found there and its series goes on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

mod common;

use common::{IN_NETNS, LOOPBACK_ANY_PORT, Peer, rerun_in_network_namespace, signal, spawn_ready};
use tsercom::discovery::PeerSource;
use tsercom::rpc::{ClientTls, ServerTls};
use tsercom::runtime::{CHILD_SOCKET_ENV, Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, RuntimeManager, Timestamp, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);

/// The aggregator: dials one producer, expecting its CallerId.
#[tsercom::runtime(aggregator, peers = self.addr, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Collector {
    /// The producer's address...
    addr: Option<SocketAddr>,
    /// ...and the CallerId it must present.
    producer: Option<CallerId>,
    id: Option<CallerId>,
    tls: Option<PathBuf>,
}

impl Hooks for Collector {
    fn configure(&self, mut config: RuntimeConfig) -> RuntimeConfig {
        if let (Some(id), PeerSource::Static(peers)) = (self.producer, &mut config.discovery.peers)
        {
            for peer in peers {
                peer.caller_id = Some(id);
            }
        }
        if let Some(id) = self.id {
            config = config.with_identity(Identity::Fixed(id));
        }
        if let Some(dir) = &self.tls {
            config = config.with_tls(
                ServerTls::Insecure,
                ClientTls::Mutual {
                    ca: dir.join("ca.pem"),
                    cert: dir.join("client.crt"),
                    key: dir.join("client.key"),
                    domain: Some("localhost".into()),
                },
            );
        }
        config
    }
}

fn spawn_producer(listen: SocketAddr, state: &Path, start: u32, tls: Option<&Path>) -> Peer {
    spawn_producer_with(listen, state, start, tls, None, 0)
}

/// [`spawn_producer`], advertising under `publish` (loopback-only mDNS).
fn spawn_producer_with(
    listen: SocketAddr,
    state: &Path,
    start: u32,
    tls: Option<&Path>,
    publish: Option<&str>,
    clock_offset_ms: i64,
) -> Peer {
    let mut command = Process::new(env!("CARGO_BIN_EXE_e2e_producer"));
    command
        .env("E2E_LISTEN", listen.to_string())
        .env("E2E_START", start.to_string())
        .env("TSERCOM_STATE_DIR", state)
        .env_remove("E2E_TLS_DIR")
        .env_remove("E2E_PUBLISH")
        .env("E2E_CLOCK_OFFSET_MS", clock_offset_ms.to_string());
    if let Some(dir) = tls {
        command.env("E2E_TLS_DIR", dir);
    }
    if let Some(service_type) = publish {
        command.env("E2E_PUBLISH", service_type);
    }
    spawn_ready(&mut command)
}

/// Takes samples until `n` arrived from `caller`; returns their values.
fn take_values(
    handle: &AggregatorHandle<Reading, Command>,
    manager: &mut RuntimeManager,
    caller: CallerId,
    n: usize,
) -> Vec<f64> {
    let mut values = Vec::new();
    while values.len() < n {
        assert!(handle.data().wait_new(WAIT), "samples arrived in time");
        for (from, samples) in handle.data().take_new() {
            assert_eq!(from, caller, "keyed by the producer's CallerId");
            let now = Timestamp::now();
            for sample in samples {
                let age = now.nanos_since(&sample.timestamp);
                assert!(
                    (-5_000_000_000..120_000_000_000).contains(&age),
                    "timestamp {} on this clock (now {now})",
                    sample.timestamp
                );
                values.push(sample.data.celsius);
            }
        }
        manager.check_error().expect("no runtime error");
    }
    values
}

/// Sends a command `to` the producer and waits for its answer (a reading
/// of -1): events round-trip.
fn assert_echo(
    handle: &AggregatorHandle<Reading, Command>,
    manager: &mut RuntimeManager,
    producer: CallerId,
    to: To,
) {
    let command = Command {
        action: "echo".into(),
        ..Command::default()
    };
    handle.send(command, to).expect("send command");
    while !take_values(handle, manager, producer, 1).contains(&-1.0) {}
}

/// Values counting up by one (the producer's series), ignoring echoes.
fn assert_consecutive(values: &[f64]) {
    let series: Vec<f64> = values.iter().copied().filter(|v| *v >= 0.0).collect();
    assert!(
        series.windows(2).all(|w| w[1] == w[0] + 1.0),
        "consecutive, in order: {series:?}"
    );
}

fn collector(producer: &Peer, addr: SocketAddr, id: CallerId) -> Collector {
    Collector {
        addr: Some(addr),
        producer: Some(producer.id),
        id: Some(id),
        tls: None,
    }
}

#[test]
fn e2e_data_events_and_producer_restart_keeps_its_series() {
    let state = tempfile::tempdir().expect("tempdir");
    let producer = spawn_producer(LOOPBACK_ANY_PORT, state.path(), 0, None);
    let addr = producer.addr();
    let collector_id = CallerId::random();
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(collector(&producer, addr, collector_id))
        .expect("register");
    manager.start_in_process().expect("start");

    let first = take_values(&handle, &mut manager, producer.id, 20);
    assert_eq!(first[0], 0.0, "the series starts at the first reading");
    assert_consecutive(&first);

    // Events round-trip: the producer answers each command with -1.
    assert_echo(&handle, &mut manager, producer.id, To::Caller(producer.id));

    // Killed (SIGKILL) and restarted on the same address: same CallerId
    // from its state directory, and its series goes on in the same store.
    let old_id = producer.id;
    drop(producer);
    let producer = spawn_producer(addr, state.path(), 1000, None);
    assert_eq!(producer.id, old_id, "the CallerId survived the restart");
    let mut after = take_values(&handle, &mut manager, producer.id, 1);
    after.retain(|v| *v >= 1000.0);
    while after.len() < 10 {
        let more = take_values(&handle, &mut manager, producer.id, 1);
        after.extend(more.into_iter().filter(|v| *v >= 1000.0));
    }
    assert_eq!(after[0], 1000.0, "the restarted producer's first reading");
    assert_consecutive(&after);
    let callers = handle.callers();
    assert_eq!(
        callers.len(),
        1,
        "one caller across the restart: {callers:?}"
    );
    assert_eq!(callers[0].id, old_id);
    assert!(
        handle.stats().inbound.received >= 31,
        "both lives' samples counted in one store"
    );

    manager.shutdown().expect("shutdown");
}

#[test]
fn e2e_aggregator_restart_reconnects_by_itself() {
    let state = tempfile::tempdir().expect("tempdir");
    let producer = spawn_producer(LOOPBACK_ANY_PORT, state.path(), 0, None);
    let addr = producer.addr();
    let collector_id = CallerId::random();
    for round in 0..2 {
        let mut manager = RuntimeManager::new();
        let handle = manager
            .register(collector(&producer, addr, collector_id))
            .expect("register");
        manager.start_in_process().expect("start");
        let values = take_values(&handle, &mut manager, producer.id, 10);
        assert_consecutive(&values);
        if round == 1 {
            assert!(
                values[0] > 0.0,
                "the producer went on between the two lives"
            );
        }
        manager.shutdown().expect("shutdown");
    }
}

#[test]
fn e2e_aggregator_runtime_out_of_process() {
    const TEST: &str = "e2e_aggregator_runtime_out_of_process";
    // The child (this binary re-run up to `start_out_of_process`) takes the
    // producer's address and ids from the parent instead of spawning one.
    let in_child = std::env::var_os(CHILD_SOCKET_ENV).is_some();
    let state = tempfile::tempdir().expect("tempdir");
    let (producer, addr, producer_id, collector_id) = if in_child {
        let var = |k: &str| std::env::var(k).expect("set by the parent");
        (
            None,
            var("E2E_ADDR").parse().expect("addr"),
            CallerId::parse(&var("E2E_PRODUCER")).expect("id"),
            CallerId::parse(&var("E2E_COLLECTOR")).expect("id"),
        )
    } else {
        let producer = spawn_producer(LOOPBACK_ANY_PORT, state.path(), 0, None);
        let addr = producer.addr();
        let id = producer.id;
        (Some(producer), addr, id, CallerId::random())
    };
    let mut manager = RuntimeManager::new()
        .with_child_args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .with_child_env("E2E_ADDR", addr.to_string())
        .with_child_env("E2E_PRODUCER", producer_id.to_string())
        .with_child_env("E2E_COLLECTOR", collector_id.to_string());
    let handle = manager
        .register(Collector {
            addr: Some(addr),
            producer: Some(producer_id),
            id: Some(collector_id),
            tls: None,
        })
        .expect("register");
    manager.start_out_of_process().expect("start");
    assert!(manager.child_pid().is_some(), "the runtime runs in a child");

    let values = take_values(&handle, &mut manager, producer_id, 20);
    assert_consecutive(&values);
    assert_echo(&handle, &mut manager, producer_id, To::All);
    // The child's clock estimate crossed the IPC too (reported before the
    // stream opened, so before any sample).
    let callers = handle.callers();
    // The producer's runtime name crossed it too.
    assert_eq!(callers[0].name.as_deref(), Some("Thermometer"));
    let estimate = callers[0].clock.expect("the clock estimate, over IPC");
    assert!(
        estimate.offset_nanos.abs() <= estimate.delay_nanos / 2 + 1,
        "same machine clock: offset {} ns within half the round trip {} ns",
        estimate.offset_nanos,
        estimate.delay_nanos
    );
    manager.shutdown().expect("shutdown");
    drop(producer);
}

/// A CA, a server certificate for `localhost` and a client certificate, in
/// `dir` under the names the producer and the collector read.
fn make_certificates(dir: &Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "e2e ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("key");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    let issuer = Issuer::new(ca_params, ca_key);
    for (name, usage) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth),
        ("client", ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &issuer).expect("signed");
        std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).expect("write");
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write");
    }
}

#[test]
fn e2e_mutual_tls() {
    let state = tempfile::tempdir().expect("tempdir");
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let producer = spawn_producer(LOOPBACK_ANY_PORT, state.path(), 0, Some(certs.path()));
    let addr = producer.addr();

    // With the client certificate: data flows.
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Collector {
            addr: Some(addr),
            producer: Some(producer.id),
            id: Some(CallerId::random()),
            tls: Some(certs.path().to_path_buf()),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let values = take_values(&handle, &mut manager, producer.id, 10);
    assert_consecutive(&values);
    manager.shutdown().expect("shutdown");
    drop(producer);
}

/// Finds producers over loopback-only mDNS.
#[tsercom::runtime(aggregator, discover = "_e2esensor._tcp", interfaces = "loopback", service = sensors::Sensor, data = Reading, event = Command)]
struct Finder;

#[test]
fn e2e_mdns_discovery_and_restart_on_a_new_port() {
    let test = "e2e_mdns_discovery_and_restart_on_a_new_port";
    if std::env::var_os(IN_NETNS).is_none() {
        rerun_in_network_namespace(test);
        return;
    }
    // Inside the namespace: mDNS here reaches nothing but this lo.
    let service = "_e2esensor._tcp";
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let state = tempfile::tempdir().expect("tempdir");
    let producer = spawn_producer_with(any_port, state.path(), 0, None, Some(service), 0);
    let mut manager = RuntimeManager::new();
    let handle = manager.register(Finder).expect("register");
    manager.start_in_process().expect("start");

    let first = take_values(&handle, &mut manager, producer.id, 10);
    assert_consecutive(&first);
    assert_echo(&handle, &mut manager, producer.id, To::All);

    // Killed (no goodbye) and restarted on another port: the new
    // announcement of the same instance moves the connection there.
    let old_id = producer.id;
    drop(producer);
    let producer = spawn_producer_with(any_port, state.path(), 1000, None, Some(service), 0);
    assert_eq!(producer.id, old_id, "the CallerId survived the restart");
    let mut after = Vec::new();
    while after.len() < 10 {
        let more = take_values(&handle, &mut manager, producer.id, 1);
        after.extend(more.into_iter().filter(|v| *v >= 1000.0));
    }
    assert_eq!(after[0], 1000.0, "the restarted producer's first reading");
    assert_consecutive(&after);
    assert_eq!(handle.callers().len(), 1, "one caller across the restart");
    manager.shutdown().expect("shutdown");
}

#[test]
fn e2e_a_producer_clock_offset_is_measured_and_applied() {
    const AHEAD_MS: i64 = 30_000;
    let state = tempfile::tempdir().expect("tempdir");
    let producer = spawn_producer_with(LOOPBACK_ANY_PORT, state.path(), 0, None, None, AHEAD_MS);
    let addr = producer.addr();
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(collector(&producer, addr, CallerId::random()))
        .expect("register");
    manager.start_in_process().expect("start");

    // The producer stamps on its clock (30 s ahead); what arrives is on
    // ours: not in the future (a second of slack), not older than 20 s.
    let mut checked = 0;
    while checked < 20 {
        assert!(handle.data().wait_new(WAIT), "samples arrived in time");
        for (_, samples) in handle.data().take_new() {
            let now = Timestamp::now();
            for sample in samples {
                let age_ms = now.nanos_since(&sample.timestamp) / 1_000_000;
                assert!(
                    (-1_000..20_000).contains(&age_ms),
                    "sample at {} converted to this clock (now {now}, age {age_ms} ms)",
                    sample.timestamp
                );
                checked += 1;
            }
        }
        manager.check_error().expect("no runtime error");
    }

    // The estimate on the handle: 30 s, within half its round trip (the
    // exchange's own bound; both clocks read this machine's clock).
    let callers = handle.callers();
    let estimate = callers[0].clock.expect("a clock estimate is shown");
    let error = (estimate.offset_nanos - i128::from(AHEAD_MS) * 1_000_000).abs();
    assert!(
        error <= estimate.delay_nanos / 2 + 1,
        "offset {} ns, error {error} ns, round trip {} ns",
        estimate.offset_nanos,
        estimate.delay_nanos
    );
    manager.shutdown().expect("shutdown");
}

#[test]
fn e2e_a_stopped_producer_is_shown_disconnected_then_connected_again() {
    use tsercom::data::ConnectionState;
    let state = tempfile::tempdir().expect("tempdir");
    let producer = spawn_producer(LOOPBACK_ANY_PORT, state.path(), 0, None);
    let addr = producer.addr();
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(collector(&producer, addr, CallerId::random()))
        .expect("register");
    manager.start_in_process().expect("start");
    take_values(&handle, &mut manager, producer.id, 5);

    // SIGSTOP: the process holds its sockets open and answers nothing;
    // HTTP/2 keepalive (1 s + 2 s by default) notices it.
    signal(&producer, "-STOP");
    let stopped = std::time::Instant::now();
    handle
        .wait_callers(WAIT, |c| {
            // Disconnected, or already freed: its data was all read (a
            // disconnected caller's store lingers only while unread).
            !c.iter()
                .any(|c| c.id == producer.id && c.state == ConnectionState::Connected)
        })
        .expect("the stopped producer is no longer shown connected");
    let noticed = stopped.elapsed();
    assert!(
        noticed < Duration::from_secs(15),
        "noticed after {noticed:?} (keepalive bound about 3 s)"
    );

    // SIGCONT: it answers again; the connection comes back by itself.
    signal(&producer, "-CONT");
    handle
        .wait_callers(WAIT, |c| {
            c.iter()
                .any(|c| c.id == producer.id && c.state == ConnectionState::Connected)
        })
        .expect("connected again");
    handle.data().take_new();
    let after = take_values(&handle, &mut manager, producer.id, 5);
    assert_consecutive(&after);
    manager.shutdown().expect("shutdown");
}
