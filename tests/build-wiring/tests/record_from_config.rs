//! A recording started from a runtime's configuration
//! (`RuntimeConfig::record`, `TSERCOM_<NAME>_RECORD`) rather than from
//! `record` on the handle: the schema comes from the service's descriptor
//! set, the file holds everything the handle received once the manager shut
//! down, and a recording that cannot be written surfaces on `check_error`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

mod common;

use common::{WAIT, publish_and_take, spawn_ready};
use tsercom::data::CallerInfo;
use tsercom::record::{Kind, Recording};
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, Error, RuntimeManager, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

/// An aggregator hosting `Trainer`, recording when `record` is set.
#[tsercom::runtime(aggregator, listen = "127.0.0.1:0", service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    record: Option<PathBuf>,
}

impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let config = config.with_identity(Identity::Fixed(CallerId::random()));
        match &self.record {
            Some(path) => config.with_record(path),
            None => config,
        }
    }
}

/// A producer dialing the trainer.
#[tsercom::runtime(producer, peers = self.trainer, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Drone {
    trainer: Option<SocketAddr>,
}

impl Hooks for Drone {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// An aggregator dialing an `e2e_producer` process (which hosts `Sensor`).
#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Collector {
    producer: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Collector {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(self.id.unwrap_or_else(CallerId::random)))
    }
}

fn connected(callers: &[CallerInfo]) -> bool {
    callers.iter().any(|c| c.state.is_connected())
}

/// A drone dialing `trainer`, connected.
fn start_drone(
    trainer: &tsercom::AggregatorHandle<Reading, Command>,
) -> (RuntimeManager, tsercom::ProducerHandle<Reading, Command>) {
    let mut producers = RuntimeManager::new();
    let drone = producers
        .register(Drone {
            trainer: trainer.listening().first().copied(),
        })
        .expect("register");
    producers.start_in_process().expect("start");
    drone
        .wait_callers(WAIT, connected)
        .expect("the drone reached the trainer");
    (producers, drone)
}

/// The proto name of the schema stored in the file, read with the `mcap`
/// crate (not tsercom's reader).
fn schema_in_file(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read the recording");
    let summary = mcap::Summary::read(&bytes)
        .expect("a readable summary")
        .expect("a finished file");
    let names: Vec<String> = summary.schemas.values().map(|s| s.name.clone()).collect();
    assert_eq!(names.len(), 1, "one schema: {names:?}");
    let schema = summary.schemas.values().next().expect("schema");
    assert_eq!(schema.encoding, "protobuf");
    names[0].clone()
}

#[test]
fn an_aggregator_configured_to_record_writes_all_its_handle_received() {
    const N: usize = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trainer.mcap");
    let mut aggregators = RuntimeManager::new();
    let trainer = aggregators
        .register(Trainer {
            record: Some(path.clone()),
        })
        .expect("register");
    aggregators.start_in_process().expect("start");
    aggregators.check_error().expect("recording started");
    let recordings = aggregators.recordings();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    assert_eq!(recordings[0].0, "Trainer");
    assert_eq!(recordings[0].1.files, vec![path.clone()]);

    let (mut producers, drone) = start_drone(&trainer);
    let drone_id = trainer
        .wait_callers(WAIT, connected)
        .expect("the trainer sees the drone")[0]
        .id;
    assert_eq!(publish_and_take(&drone, &trainer, N, || {}), N);
    producers.shutdown().expect("producer shutdown");
    aggregators.shutdown().expect("aggregator shutdown");
    assert!(aggregators.recordings().is_empty(), "finished at shutdown");

    assert_eq!(schema_in_file(&path), "sensors.Reading");
    let recording = Recording::open([&path]).expect("open");
    assert_eq!(recording.runtime(), Some("Trainer"));
    assert_eq!(recording.kind(), Some(Kind::Data));
    let decoded = recording.decode::<Reading>().expect("decode");
    assert_eq!(decoded.len(), N, "every sample the handle received");
    assert!(decoded.iter().all(|(caller, _, _)| *caller == drone_id));
    #[allow(clippy::cast_precision_loss)] // small test values
    let expected: Vec<f64> = (0..N).map(|i| i as f64).collect();
    let mut values: Vec<f64> = decoded.iter().map(|(_, _, r)| r.celsius).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, expected);
}

#[test]
fn the_environment_names_a_producers_recording_of_its_events() {
    const N: usize = 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("thermometer-events.mcap");
    let mut command = Process::new(env!("CARGO_BIN_EXE_e2e_producer"));
    command
        .env("E2E_LISTEN", "127.0.0.1:0")
        .env("TSERCOM_STATE_DIR", dir.path())
        .env("TSERCOM_THERMOMETER_RECORD", &path)
        .env_remove("E2E_TLS_DIR")
        .env_remove("E2E_PUBLISH")
        .env("E2E_CLOCK_OFFSET_MS", "0");
    let mut producer = spawn_ready(&mut command);

    let collector_id = CallerId::random();
    let mut manager = RuntimeManager::new();
    let collector = manager
        .register(Collector {
            producer: Some(producer.addr()),
            id: Some(collector_id),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    collector
        .wait_callers(WAIT, connected)
        .expect("connected to the producer");
    for i in 0..N {
        collector
            .send(
                Command {
                    action: format!("command {i}"),
                    ..Command::default()
                },
                To::All,
            )
            .expect("send");
    }
    // The producer answers each command it took with a reading of -1:
    // once N answers are here, its handle received all N.
    let mut answers = 0;
    while answers < N {
        assert!(
            collector.data().wait_new(WAIT),
            "answers arrived ({answers} of {N})"
        );
        answers += collector
            .data()
            .take_new()
            .into_iter()
            .flat_map(|(_, samples)| samples)
            .filter(|s| s.data.celsius < 0.0)
            .count();
    }
    manager.shutdown().expect("shutdown");
    // Closing its stdin ends the producer, which finishes the file at its
    // shutdown.
    drop(producer.child.stdin.take());
    let status = producer.child.wait().expect("wait for the producer");
    assert!(status.success(), "the producer exited cleanly: {status}");

    assert_eq!(schema_in_file(&path), "sensors.Command");
    let recording = Recording::open([&path]).expect("open");
    assert_eq!(recording.runtime(), Some("Thermometer"));
    assert_eq!(recording.kind(), Some(Kind::Events));
    let events = recording.decode::<Command>().expect("decode");
    let actions: Vec<String> = events
        .iter()
        .map(|(caller, _, command)| {
            assert_eq!(*caller, collector_id, "recorded under the collector's id");
            command.action.clone()
        })
        .collect();
    let expected: Vec<String> = (0..N).map(|i| format!("command {i}")).collect();
    assert_eq!(actions, expected, "every event, in order");
}

#[test]
fn a_recording_that_cannot_be_written_surfaces_on_check_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A regular file where the recording's directory should be.
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"").expect("write");
    let path = blocker.join("x.mcap");
    let mut manager = RuntimeManager::new();
    let trainer = manager
        .register(Trainer {
            record: Some(path.clone()),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let err = manager
        .wait_error(Duration::from_secs(30))
        .expect("the recording's failure is reported");
    let text = err.to_string();
    assert!(
        text.contains("Trainer") && text.contains("not-a-directory"),
        "names the runtime and the path: {text}"
    );
    let Error::Runtimes(errors) = &err else {
        panic!("runtime errors: {err:?}");
    };
    assert!(
        errors
            .iter()
            .any(|e| matches!(e.caused_by(), Some(Error::Io { path: p, .. }) if *p == blocker)),
        "an I/O error on the file: {errors:?}"
    );
    // The runtime itself runs on: the failure was the recording's only.
    assert!(!trainer.listening().is_empty());
    assert!(manager.recordings().is_empty());
    manager.shutdown().expect("nothing else failed");
}

/// Out of process the network runs in the child, but the recording is of
/// the handle, so it is made on the parent's side: the child (which
/// registers the same configuration) never opens the file, and the file
/// holds exactly what the parent's handle received.
#[test]
fn out_of_process_the_parent_records_what_its_handle_received() {
    const TEST: &str = "out_of_process_the_parent_records_what_its_handle_received";
    const PATH_ENV: &str = "E2E_RECORD_PATH";
    const N: usize = 1_000;
    let in_child = std::env::var_os(tsercom::runtime::CHILD_SOCKET_ENV).is_some();
    let dir = (!in_child).then(|| tempfile::tempdir().expect("tempdir"));
    let path = match &dir {
        Some(dir) => dir.path().join("child-trainer.mcap"),
        None => std::env::var_os(PATH_ENV)
            .expect("set by the parent")
            .into(),
    };
    let mut aggregators = RuntimeManager::new()
        .with_child_args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .with_child_env(PATH_ENV, &path);
    let trainer = aggregators
        .register(Trainer {
            record: Some(path.clone()),
        })
        .expect("register");
    aggregators.start_out_of_process().expect("start");
    // Only the parent gets here.
    assert_eq!(aggregators.recordings().len(), 1);
    let (mut producers, drone) = start_drone(&trainer);
    assert_eq!(publish_and_take(&drone, &trainer, N, || {}), N);
    producers.shutdown().expect("producer shutdown");
    aggregators.shutdown().expect("aggregator shutdown");

    assert_eq!(schema_in_file(&path), "sensors.Reading");
    let recording = Recording::open([&path]).expect("open");
    assert!(recording.truncated().is_empty(), "one finished file");
    assert_eq!(
        recording.messages().len(),
        N,
        "written once, by the parent, complete"
    );
}
