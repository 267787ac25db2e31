//! The `tsercom` binary as a real process: `--help` of every subcommand;
//! `record` from a producer runtime of this test, `info` on the file,
//! `replay` into an aggregator runtime of this test (every value back);
//! errors as messages and a failure status.

mod run;

use run::{loopback, tsercom};

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tsercom::data::ConnectionState;
use tsercom::record::Recording;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, FILE_DESCRIPTOR_SET, Reading};

const WAIT: Duration = Duration::from_secs(60);

/// A producer hosting `Sensor` on loopback, with a known CallerId.
#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, hooks)]
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

/// An aggregator listening for producers' uploads.
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    listen: Option<SocketAddr>,
}

impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_subcommand_has_help() {
    let top = tsercom(&["--help"]);
    assert!(top.status.success());
    for sub in ["record", "replay", "info", "browse", "probe", "top"] {
        assert!(stdout(&top).contains(sub), "{}", stdout(&top));
        let out = tsercom(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help: {}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!("Usage: tsercom {sub}")),
            "{}",
            stdout(&out)
        );
    }
    let record = stdout(&tsercom(&["record", "--help"]));
    for option in ["--peer", "--method", "--descriptors", "--output", "--count"] {
        assert!(record.contains(option), "record --help names {option}");
    }
    let replay = stdout(&tsercom(&["replay", "--help"]));
    for option in ["--to", "--pace", "--seek", "--caller"] {
        assert!(replay.contains(option), "replay --help names {option}");
    }
}

#[test]
fn errors_are_messages_with_a_failure_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.mcap");
    std::fs::write(&junk, b"not an mcap file").expect("write");
    let out = tsercom(&["info", junk.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("tsercom: "), "{}", stderr(&out));
    let out = tsercom(&["replay", "missing.mcap", "--to", "127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.mcap"), "{}", stderr(&out));
    let out = tsercom(&["replay", "x.mcap", "--to", "127.0.0.1:1", "--pace", "slow"]);
    assert!(stderr(&out).contains("--pace slow"), "{}", stderr(&out));
}

fn publish_while(
    handle: tsercom::ProducerHandle<Reading, Command>,
    running: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut value = 0u32;
        while running.load(Ordering::Acquire) {
            if handle
                .wait_callers(Duration::from_millis(100), |c| {
                    c.iter().any(|c| c.state == ConnectionState::Connected)
                })
                .is_some()
            {
                let reading = Reading {
                    celsius: f64::from(value),
                    ..Reading::default()
                };
                if handle.publish(reading).is_ok() {
                    value += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

#[test]
fn record_from_a_producer_then_info_then_replay_into_an_aggregator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let descriptors = dir.path().join("set.bin");
    std::fs::write(&descriptors, FILE_DESCRIPTOR_SET).expect("write");
    let output = dir.path().join("cli.mcap");

    // A producer in this process.
    let producer_addr = loopback();
    let producer_id = CallerId::random();
    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            listen: Some(producer_addr),
            id: Some(producer_id),
        })
        .expect("register");
    let trainer_addr = loopback();
    let trainer = manager
        .register(Trainer {
            listen: Some(trainer_addr),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let running = Arc::new(AtomicBool::new(true));
    let publisher = publish_while(thermometer, Arc::clone(&running));

    // `tsercom record`: 40 readings.
    let out = tsercom(&[
        "record",
        "--peer",
        &producer_addr.to_string(),
        "--method",
        "sensors.Sensor/Stream",
        "--descriptors",
        descriptors.to_str().expect("utf-8"),
        "--output",
        output.to_str().expect("utf-8"),
        "--count",
        "40",
    ]);
    running.store(false, Ordering::Release);
    publisher.join().expect("publisher");
    assert!(out.status.success(), "record: {}", stderr(&out));
    assert!(
        stdout(&out).starts_with("recorded 40 messages"),
        "{}",
        stdout(&out)
    );
    let recording = Recording::open([&output]).expect("open");
    let values: Vec<f64> = recording
        .decode::<Reading>()
        .expect("decode")
        .into_iter()
        .map(|(caller, time, reading)| {
            assert_eq!(caller, producer_id, "the producer's CallerId");
            assert_eq!(
                reading
                    .timestamp
                    .as_ref()
                    .map(|t| tsercom::Timestamp::from_proto(t).expect("valid")),
                Some(time),
                "the message's timestamp is the log time"
            );
            reading.celsius
        })
        .collect();
    assert_eq!(values.len(), 40);
    assert!(
        values.windows(2).all(|w| w[1] == w[0] + 1.0),
        "consecutive readings: {values:?}"
    );
    let peer = &recording.callers()[0];
    assert_eq!(
        peer.peer.as_deref(),
        Some(producer_addr.to_string().as_str())
    );
    assert!(peer.clock_offset_nanos.is_some(), "clock offset recorded");

    // `tsercom info`.
    let out = tsercom(&["info", output.to_str().expect("utf-8")]);
    assert!(out.status.success(), "info: {}", stderr(&out));
    let info = stdout(&out);
    for expected in [
        "complete",
        "schema:      sensors.Reading",
        "messages:    40",
        "channels:    1",
        &format!("/tsercom-record/data/{producer_id}: 40 messages"),
        &format!("peer {producer_addr}"),
        "zstd",
    ] {
        assert!(info.contains(expected), "info shows {expected:?}:\n{info}");
    }

    // `tsercom replay` needs --method here: two methods take Reading.
    let out = tsercom(&[
        "replay",
        output.to_str().expect("utf-8"),
        "--to",
        &trainer_addr.to_string(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("/sensors.Trainer/Upload") && stderr(&out).contains("--method"),
        "{}",
        stderr(&out)
    );
    let out = tsercom(&[
        "replay",
        output.to_str().expect("utf-8"),
        "--to",
        &trainer_addr.to_string(),
        "--method",
        "sensors.Trainer/Upload",
        "--pace",
        "fast",
    ]);
    assert!(out.status.success(), "replay: {}", stderr(&out));
    assert!(
        stdout(&out).starts_with("replayed 40 messages from 1 producers"),
        "{}",
        stdout(&out)
    );
    let mut received = Vec::new();
    let deadline = Instant::now() + WAIT;
    while received.len() < 40 {
        assert!(
            Instant::now() < deadline,
            "{} of 40 replayed",
            received.len()
        );
        trainer.data().wait_new(Duration::from_secs(1));
        for (_, samples) in trainer.data().take_new() {
            received.extend(samples.into_iter().map(|s| s.data.celsius));
        }
    }
    received.sort_by(f64::total_cmp);
    assert_eq!(received, values);
    manager.shutdown().expect("shutdown");
    assert!(Path::new(&output).exists());
}
