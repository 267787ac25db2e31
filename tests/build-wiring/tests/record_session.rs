//! Recording and replay (`tsercom::record`), end to end:
//!
//! - a session of three `e2e_producer` processes recorded by an aggregator
//!   here, read back by independent readers (the `mcap` crate's reader
//!   with `prost-reflect` decoding through the file's own schema, and the
//!   `mcap` Python package when `TSERCOM_MCAP_PYTHON` names a Python with
//!   it), replayed into a fresh aggregator (every sample compared:
//!   CallerId, timestamp, payload) and re-streamed by a producer;
//! - rotation by size: complete files that read back as one recording;
//! - a recording process killed with SIGKILL: its file reads up to its
//!   last complete chunk with the standard readers;
//! - a recorder slower than ingest (its writer stalled): drops counted,
//!   ingest unaffected;
//! - replay pace and seek.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command as Process;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{LOOPBACK_ANY_PORT, Peer, free_port, spawn_ready};
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use tsercom::data::{ConnectionState, Sample};
use tsercom::queue::{OverflowPolicy, QueueConfig};
use tsercom::record::{Pace, RecordConfig, Recording, Replay, Retime, Schema};
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, RuntimeManager, Timestamp};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);

/// The recording aggregator: dials the producers.
#[tsercom::runtime(aggregator, peers = self.addrs, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Collector {
    addrs: Vec<SocketAddr>,
}

/// A fresh identity each time: several instances run at once.
impl Hooks for Collector {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// A fresh aggregator to replay into: listens (producers may dial it).
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    listen: Option<SocketAddr>,
}

/// A fresh identity each time: several instances run at once.
impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// A producer re-streaming a recording to the trainer.
#[tsercom::runtime(producer, peers = self.trainer, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Replayer {
    trainer: Option<SocketAddr>,
}

/// A fresh identity each time: several instances run at once.
impl Hooks for Replayer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

/// A producer hosting `Sensor` in this process (for the slow recorder).
#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
}

/// A fresh identity each time: several instances run at once.
impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

fn schema() -> Schema {
    Schema::new(tsercom::include_file_descriptor_set!(), "sensors.Reading").expect("schema")
}

fn spawn_producer(listen: SocketAddr, state: &Path, start: u32) -> Peer {
    let mut command = Process::new(env!("CARGO_BIN_EXE_e2e_producer"));
    command
        .env("E2E_LISTEN", listen.to_string())
        .env("E2E_START", start.to_string())
        .env("TSERCOM_STATE_DIR", state)
        .env_remove("E2E_TLS_DIR")
        .env_remove("E2E_PUBLISH")
        .env("E2E_CLOCK_OFFSET_MS", "0");
    spawn_ready(&mut command)
}

type Live = BTreeMap<CallerId, Vec<Sample<Reading>>>;

fn take_into(handle: &AggregatorHandle<Reading, Command>, live: &mut Live) {
    for (caller, samples) in handle.data().take_new() {
        live.entry(caller).or_default().extend(samples);
    }
}

fn nanos(t: Timestamp) -> u64 {
    u64::try_from(t.unix_nanos()).expect("after 1970")
}

/// One message as an independent reader decoded it.
#[derive(Debug, PartialEq)]
struct Decoded {
    log_time: u64,
    celsius: f64,
    /// The message's own timestamp field, ns.
    stamp: u64,
}

/// Reads `path` with the `mcap` crate and decodes every message with
/// `prost-reflect` through the schema embedded in the file: per
/// `caller_id` of the channel metadata, in log-time order. Checks the
/// encodings and the topic shape on the way.
fn read_independently(path: &Path, cut: bool) -> BTreeMap<String, Vec<Decoded>> {
    let buf = std::fs::read(path).expect("read the recording");
    let stream = if cut {
        mcap::MessageStream::new_with_options(&buf, mcap::read::Options::IgnoreEndMagic.into())
    } else {
        mcap::MessageStream::new(&buf)
    };
    let mut out: BTreeMap<String, Vec<Decoded>> = BTreeMap::new();
    let mut pools: BTreeMap<u16, prost_reflect::MessageDescriptor> = BTreeMap::new();
    for message in stream.expect("an MCAP file") {
        let message = match message {
            Ok(m) => m,
            Err(e) if cut => {
                println!("the cut file's read ended with: {e}");
                break;
            }
            Err(e) => panic!("reading {}: {e}", path.display()),
        };
        let channel = &message.channel;
        assert_eq!(channel.message_encoding, "protobuf");
        let schema = channel.schema.as_ref().expect("every channel has a schema");
        assert_eq!(schema.encoding, "protobuf");
        assert_eq!(schema.name, "sensors.Reading");
        let descriptor = pools.entry(schema.id).or_insert_with(|| {
            DescriptorPool::decode(&*schema.data)
                .expect("the schema is a FileDescriptorSet")
                .get_message_by_name(&schema.name)
                .expect("the schema describes its message")
        });
        let caller = channel
            .metadata
            .get("caller_id")
            .expect("caller_id")
            .clone();
        assert!(
            channel.topic.ends_with(&format!("/data/{caller}")),
            "topic {}",
            channel.topic
        );
        let decoded = DynamicMessage::decode(descriptor.clone(), &*message.data).expect("decodes");
        let celsius = decoded
            .get_field_by_name("celsius")
            .and_then(|v| v.as_f64())
            .expect("celsius");
        let stamp = match decoded.get_field_by_name("timestamp").as_deref() {
            Some(Value::Message(server_ts)) => {
                match server_ts.get_field_by_name("timestamp").as_deref() {
                    Some(Value::Message(ts)) => {
                        let secs = ts.get_field_by_name("seconds").and_then(|v| v.as_i64());
                        let ns = ts.get_field_by_name("nanos").and_then(|v| v.as_i32());
                        u64::try_from(
                            i128::from(secs.expect("seconds")) * 1_000_000_000
                                + i128::from(ns.expect("nanos")),
                        )
                        .expect("after 1970")
                    }
                    other => panic!("ServerTimestamp.timestamp: {other:?}"),
                }
            }
            other => panic!("Reading.timestamp: {other:?}"),
        };
        out.entry(caller).or_default().push(Decoded {
            log_time: message.log_time,
            celsius,
            stamp,
        });
    }
    for messages in out.values_mut() {
        messages.sort_by(|a, b| {
            a.log_time
                .cmp(&b.log_time)
                .then(a.celsius.total_cmp(&b.celsius))
        });
    }
    out
}

/// The Python `mcap` package's view (`tests/python/read_mcap.py`): per
/// caller_id, (log_time, celsius, stamp) in log-time order, the metadata
/// record names, and the error that ended a streamed read. `None` (with
/// the reason printed) when `TSERCOM_MCAP_PYTHON` is not set, which fails
/// under `CI`.
struct PythonView {
    by_caller: BTreeMap<String, Vec<Decoded>>,
    metadata: Vec<String>,
    error: Option<String>,
}

fn read_with_python(path: &Path, stream: bool) -> Option<PythonView> {
    let Some(python) = std::env::var_os("TSERCOM_MCAP_PYTHON") else {
        let why = "TSERCOM_MCAP_PYTHON (a Python with the `mcap` and `mcap-protobuf-support` \
                   packages, as .ci/run makes) is not set";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        println!("skipped the Python reader: {why}");
        return None;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_mcap.py");
    let mut command = Process::new(python);
    command.arg(script).arg(path);
    if stream {
        command.arg("--stream");
    }
    let output = command.output().expect("run the Python reader");
    assert!(
        output.status.success(),
        "the Python reader failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut view = PythonView {
        by_caller: BTreeMap::new(),
        metadata: Vec::new(),
        error: None,
    };
    let mut topics: BTreeMap<String, String> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).expect("utf-8").lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields.as_slice() {
            ["topic", topic, caller, schema, schema_enc, msg_enc] => {
                assert_eq!(
                    (*schema, *schema_enc, *msg_enc),
                    ("sensors.Reading", "protobuf", "protobuf")
                );
                topics.insert((*topic).to_owned(), (*caller).to_owned());
            }
            ["msg", topic, log_time, _publish, celsius, stamp] => {
                view.by_caller
                    .entry(topics[*topic].clone())
                    .or_default()
                    .push(Decoded {
                        log_time: log_time.parse().expect("log_time"),
                        celsius: celsius.parse().expect("celsius"),
                        stamp: stamp.parse().expect("stamp"),
                    });
            }
            ["meta", name, ..] => view.metadata.push((*name).to_owned()),
            ["error", ..] => view.error = Some(line.to_owned()),
            _ => panic!("unexpected line from the Python reader: {line:?}"),
        }
    }
    for messages in view.by_caller.values_mut() {
        messages.sort_by(|a, b| {
            a.log_time
                .cmp(&b.log_time)
                .then(a.celsius.total_cmp(&b.celsius))
        });
    }
    Some(view)
}

/// What the live aggregator saw, as the independent readers show it.
fn live_as_decoded(live: &Live) -> BTreeMap<String, Vec<Decoded>> {
    live.iter()
        .map(|(caller, samples)| {
            let mut v: Vec<Decoded> = samples
                .iter()
                .map(|s| Decoded {
                    log_time: nanos(s.timestamp),
                    celsius: s.data.celsius,
                    stamp: nanos(s.timestamp),
                })
                .collect();
            v.sort_by(|a, b| {
                a.log_time
                    .cmp(&b.log_time)
                    .then(a.celsius.total_cmp(&b.celsius))
            });
            (caller.to_string(), v)
        })
        .collect()
}

fn sorted(mut samples: Vec<Sample<Reading>>) -> Vec<(Timestamp, f64, Reading)> {
    let mut v: Vec<(Timestamp, f64, Reading)> = samples
        .drain(..)
        .map(|s| (s.timestamp, s.data.celsius, s.data))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    v
}

#[test]
fn a_multi_producer_session_is_recorded_read_back_and_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let producers: Vec<Peer> = (0..3)
        .map(|i| {
            let state = dir.path().join(format!("state-{i}"));
            std::fs::create_dir_all(&state).expect("state dir");
            spawn_producer(
                LOOPBACK_ANY_PORT,
                &state,
                u32::try_from(i).expect("small") * 1000,
            )
        })
        .collect();
    let addrs: Vec<SocketAddr> = producers.iter().map(Peer::addr).collect();
    let ids: Vec<CallerId> = producers.iter().map(|p| p.id).collect();

    // Recording starts before the runtime does: every sample is in it.
    let mut manager = RuntimeManager::new();
    let collector = manager
        .register(Collector {
            addrs: addrs.clone(),
        })
        .expect("register");
    let path = dir.path().join("session.mcap");
    let recorder = collector
        .record(RecordConfig::new(&path, schema()).chunk_size(8 * 1024))
        .expect("record");
    manager.start_in_process().expect("start");

    let mut live = Live::new();
    let deadline = Instant::now() + WAIT;
    while !ids
        .iter()
        .all(|id| live.get(id).is_some_and(|s| s.len() >= 30))
    {
        assert!(
            Instant::now() < deadline,
            "30 samples from each producer in time"
        );
        collector.data().wait_new(Duration::from_secs(1));
        take_into(&collector, &mut live);
        manager.check_error().expect("no runtime error");
    }
    // The producers end; once none shows connected (a disconnected caller
    // whose data was all read is freed) nothing more arrives.
    drop(producers);
    collector
        .wait_callers(WAIT, |callers| {
            !callers
                .iter()
                .any(|c| ids.contains(&c.id) && c.state == ConnectionState::Connected)
        })
        .unwrap_or_else(|| panic!("the producers show disconnected: {:?}", collector.callers()));
    take_into(&collector, &mut live);
    let total: usize = live.values().map(Vec::len).sum();
    let stats = recorder.stop().expect("stop");
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.written, total as u64, "{stats:?}");
    assert_eq!(stats.files, std::slice::from_ref(&path));
    assert!(stats.file_bytes > 0 && stats.payload_bytes > 0, "{stats:?}");

    // Independent reader (mcap crate + prost-reflect): every sample, on the
    // aggregator's timebase; the message's own timestamp field agrees.
    let expected = live_as_decoded(&live);
    let independent = read_independently(&path, false);
    assert_eq!(independent.len(), 3, "one channel per producer");
    assert_eq!(independent, expected);
    if let Some(python) = read_with_python(&path, false) {
        assert_eq!(python.by_caller, expected, "the Python mcap reader agrees");
        assert_eq!(
            python
                .metadata
                .iter()
                .filter(|m| *m == "tsercom.caller")
                .count(),
            3
        );
        assert!(python.metadata.iter().any(|m| m == "tsercom.session"));
    }

    // tsercom's reader: metadata (runtime, callers with their addresses).
    let recording = Recording::open([&path]).expect("open");
    assert_eq!(recording.runtime(), Some("Collector"));
    assert!(recording.truncated().is_empty());
    assert_eq!(recording.messages().len(), total);
    for (id, addr) in ids.iter().zip(&addrs) {
        let caller = recording
            .callers()
            .iter()
            .find(|c| c.id == Some(*id))
            .expect("each producer in the metadata");
        assert_eq!(caller.peer.as_deref(), Some(addr.to_string().as_str()));
        assert_eq!(caller.name.as_deref(), Some("Thermometer"), "its name");
        assert_eq!(caller.messages, live[id].len() as u64);
    }

    // Replay into a fresh aggregator: every sample again, same CallerId,
    // timestamp and payload.
    let mut fresh = RuntimeManager::new();
    let trainer = fresh
        .register(Trainer {
            listen: Some(LOOPBACK_ANY_PORT),
        })
        .expect("register");
    fresh.start_in_process().expect("start");
    let replayed = Replay::new(&recording)
        .pace(Pace::AsFastAsPossible)
        .into_aggregator(&trainer)
        .expect("replay");
    assert_eq!(replayed.replayed, total as u64);
    assert_eq!(replayed.callers, 3);
    // The replayed producers, with their recorded addresses (shown
    // disconnected: the replay ended; their unread data keeps them).
    let shown = trainer.callers();
    for (id, addr) in ids.iter().zip(&addrs) {
        let c = shown.iter().find(|c| c.id == *id).expect("replayed caller");
        assert_eq!(c.peer.as_deref(), Some(addr.to_string().as_str()));
    }
    let mut again = Live::new();
    take_into(&trainer, &mut again);
    assert_eq!(again.len(), 3);
    for (id, samples) in &live {
        assert_eq!(
            sorted(again.remove(id).expect("the caller replayed")),
            sorted(samples.clone()),
            "every sample of {id}"
        );
    }
    // Seek: only the samples at or after the midpoint.
    let (first, last) = recording.time_range().expect("messages");
    let mid = first
        .offset_by_nanos(last.nanos_since(&first) / 2)
        .expect("in range");
    let seeker = Replay::new(&recording)
        .pace(Pace::AsFastAsPossible)
        .seek(mid)
        .into_aggregator(&trainer)
        .expect("replay");
    let after_mid = recording
        .messages()
        .iter()
        .filter(|m| m.timestamp >= mid)
        .count();
    assert_eq!(seeker.replayed, after_mid as u64);
    assert_eq!(seeker.skipped, (total - after_mid) as u64);
    let mut seeked = Live::new();
    take_into(&trainer, &mut seeked);
    assert!(seeked.values().flatten().all(|s| s.timestamp >= mid));
    assert_eq!(seeked.values().map(Vec::len).sum::<usize>(), after_mid);

    // A producer re-streams one recorded producer to the trainer.
    let mut replaying = RuntimeManager::new();
    let replayer = replaying
        .register(Replayer {
            trainer: Some(trainer.listening()[0]),
        })
        .expect("register");
    replaying.start_in_process().expect("start");
    replayer
        .wait_callers(WAIT, |c| {
            c.iter().any(|c| c.state == ConnectionState::Connected)
        })
        .expect("the replayer connected to the trainer");
    let one = ids[1];
    let streamed = Replay::new(&recording)
        .pace(Pace::AsFastAsPossible)
        .only([one])
        .from_producer(&replayer, Retime::Now)
        .expect("re-stream");
    assert_eq!(streamed.replayed, live[&one].len() as u64);
    let mut received: Vec<f64> = Vec::new();
    let deadline = Instant::now() + WAIT;
    while received.len() < live[&one].len() {
        assert!(
            Instant::now() < deadline,
            "the re-streamed samples arrived: {} of {}; trainer {:?}, replayer {:?}",
            received.len(),
            live[&one].len(),
            trainer.stats(),
            replayer.stats()
        );
        trainer.data().wait_new(Duration::from_secs(1));
        for (caller, samples) in trainer.data().take_new() {
            assert_ne!(caller, one, "sent under the replaying producer's own id");
            received.extend(samples.iter().map(|s| s.data.celsius));
        }
    }
    let mut sent: Vec<f64> = sorted(live[&one].clone()).iter().map(|s| s.1).collect();
    received.sort_by(f64::total_cmp);
    sent.sort_by(f64::total_cmp);
    assert_eq!(received, sent);
    replaying.shutdown().expect("shutdown");
    fresh.shutdown().expect("shutdown");
    manager.shutdown().expect("shutdown");
}

/// Pushes `n` readings of one caller, 1 ms apart from `start`.
fn push_readings(handle: &AggregatorHandle<Reading, Command>, caller: CallerId, n: u64) {
    let start = Timestamp::now();
    for i in 0..n {
        #[allow(clippy::cast_precision_loss)] // small test values
        let reading = Reading {
            celsius: i as f64,
            ..Reading::default()
        };
        let t = start
            .offset_by_nanos(i128::from(i) * 1_000_000)
            .expect("in range");
        handle
            .data()
            .push_blocking(caller, t, reading)
            .expect("push");
    }
}

fn standalone_trainer() -> (RuntimeManager, AggregatorHandle<Reading, Command>) {
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Trainer {
            listen: Some(LOOPBACK_ANY_PORT),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    (manager, handle)
}

#[test]
fn rotation_by_size_makes_complete_files_that_read_back_as_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut manager, handle) = standalone_trainer();
    let base = dir.path().join("rotated.mcap");
    let recorder = handle
        .record(
            RecordConfig::new(&base, schema())
                .chunk_size(2048)
                .rotate_bytes(8 * 1024),
        )
        .expect("record");
    let caller = CallerId::random();
    push_readings(&handle, caller, 3000);
    let stats = recorder.stop().expect("stop");
    assert_eq!((stats.written, stats.dropped), (3000, 0));
    assert!(stats.files.len() > 2, "rotated: {:?}", stats.files);
    for (i, file) in stats.files.iter().enumerate() {
        assert_eq!(
            file.file_name().and_then(|n| n.to_str()),
            Some(format!("rotated-{i:04}.mcap").as_str())
        );
        // Each part is a complete MCAP file on its own (summary and all),
        // with the schema and the caller's channel.
        let buf = std::fs::read(file).expect("read");
        let summary = mcap::Summary::read(&buf)
            .expect("a summary")
            .expect("finished file");
        assert_eq!(summary.channels.len(), 1);
        let part = read_independently(file, false);
        assert!(part[&caller.to_string()].len() > 1);
    }
    let recording = Recording::open(&stats.files).expect("open the parts");
    let values: Vec<f64> = recording
        .decode::<Reading>()
        .expect("decode")
        .into_iter()
        .map(|(c, _, r)| {
            assert_eq!(c, caller);
            r.celsius
        })
        .collect();
    #[allow(clippy::cast_precision_loss)]
    let expected: Vec<f64> = (0..3000).map(|i| i as f64).collect();
    assert_eq!(values, expected, "all parts, in order, nothing lost");
    manager.shutdown().expect("shutdown");
}

#[test]
fn a_sigkilled_recorder_leaves_a_file_readable_up_to_its_last_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("killed.mcap");
    let mut command = Process::new(env!("CARGO_BIN_EXE_e2e_recorder"));
    command.env("E2E_RECORD", &path).env("E2E_FIRST", "500");
    let mut child = spawn_ready(&mut command);
    // It flushed 500 readings (it checked the file) and writes on: kill it
    // (SIGKILL, by its PID) in the middle.
    child.child.kill().expect("SIGKILL the recorder");
    let status = child.child.wait().expect("wait");
    assert!(!status.success(), "killed: {status}");

    let buf = std::fs::read(&path).expect("read");
    assert!(!buf.ends_with(mcap::MAGIC), "no footer: the file was cut");
    let independent = read_independently(&path, true);
    let got = &independent[&child.id.to_string()];
    assert!(got.len() >= 500, "{} readings", got.len());
    for (i, d) in got.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let expected = i as f64;
        assert_eq!(d.celsius, expected, "a prefix, in order, nothing missing");
    }
    let recording = Recording::open([&path]).expect("open");
    assert_eq!(recording.truncated(), std::slice::from_ref(&path));
    assert_eq!(recording.messages().len(), got.len());
    if let Some(python) = read_with_python(&path, true) {
        let py = &python.by_caller[&child.id.to_string()];
        assert!(py.len() >= 500, "{} readings", py.len());
        assert_eq!(py[..500], got[..500]);
        println!("the Python read ended with: {:?}", python.error);
    }
}

/// A writer that blocks every write while its gate is shut: a stalled
/// disk.
#[derive(Clone, Default)]
struct Gate {
    state: Arc<(Mutex<GateState>, Condvar)>,
}

/// Shut or not, and what was written.
type GateState = (bool, Vec<u8>);

impl Gate {
    fn set_shut(&self, shut: bool) {
        let (lock, cv) = &*self.state;
        lock.lock().expect("lock").0 = shut;
        cv.notify_all();
    }

    fn bytes(&self) -> Vec<u8> {
        self.state.0.lock().expect("lock").1.clone()
    }
}

impl Write for Gate {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (lock, cv) = &*self.state;
        let mut state = lock.lock().expect("lock");
        while state.0 {
            state = cv.wait(state).expect("lock");
        }
        state.1.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_recorder_slower_than_ingest_drops_counted_and_ingest_goes_on() {
    const N: u64 = 3000;
    const CAPACITY: usize = 64;
    // A producer and an aggregator over loopback, in this process (one
    // manager: the collector must know the port before it starts).
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            listen: Some(listen),
        })
        .expect("register");
    let collector = manager
        .register(Collector {
            addrs: vec![listen],
        })
        .expect("register");
    manager.start_in_process().expect("start");
    thermometer
        .wait_callers(WAIT, |c| {
            c.iter().any(|c| c.state == ConnectionState::Connected)
        })
        .expect("connected");

    let gate = Gate::default();
    let recorder = collector
        .record(
            RecordConfig::to_writer(gate.clone(), schema())
                .chunk_size(512)
                .queue(QueueConfig::new(CAPACITY, OverflowPolicy::DropNewest)),
        )
        .expect("record");
    // The disk stalls: the writer blocks at its next write.
    gate.set_shut(true);
    #[allow(clippy::cast_precision_loss)]
    let readings: Vec<Reading> = (0..N)
        .map(|i| Reading {
            celsius: i as f64,
            ..Reading::default()
        })
        .collect();
    thermometer.publish_many(readings).expect("publish");

    // Ingest is unaffected: every sample reaches the store while the
    // recorder is stalled.
    let mut got = 0u64;
    let deadline = Instant::now() + WAIT;
    while got < N {
        assert!(Instant::now() < deadline, "{got} of {N} samples arrived");
        collector.data().wait_new(Duration::from_secs(1));
        got += collector
            .data()
            .take_new()
            .iter()
            .map(|(_, s)| s.len() as u64)
            .sum::<u64>();
    }
    assert_eq!(collector.stats().inbound.dropped, 0);
    let stalled = recorder.stats();
    assert_eq!(stalled.queued + stalled.dropped, N, "{stalled:?}");
    assert!(
        stalled.dropped >= N - 2 * CAPACITY as u64 - 100,
        "a stalled writer holds at most one batch (a queue), the queue and a chunk: {stalled:?}"
    );

    // The disk comes back: what was queued is written.
    gate.set_shut(false);
    let stats = recorder.stop().expect("stop");
    assert_eq!(stats.written, stats.queued, "{stats:?}");
    let bytes = gate.bytes();
    let written = mcap::MessageStream::new(&bytes)
        .expect("an MCAP file")
        .inspect(|m| assert!(m.is_ok(), "a message: {m:?}"))
        .count();
    assert_eq!(written as u64, stats.written);
    manager.shutdown().expect("shutdown");
}

#[test]
fn replay_keeps_the_recorded_pace_scaled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut manager, handle) = standalone_trainer();
    let path = dir.path().join("paced.mcap");
    let recorder = handle
        .record(RecordConfig::new(&path, schema()))
        .expect("record");
    // 201 readings 1 ms apart: 200 ms of recorded time.
    push_readings(&handle, CallerId::random(), 201);
    recorder.stop().expect("stop");
    handle.data().take_new();
    let recording = Recording::open([&path]).expect("open");
    let started = Instant::now();
    Replay::new(&recording)
        .pace(Pace::Scaled(2.0))
        .into_aggregator(&handle)
        .expect("replay");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(100),
        "twice as fast as 200 ms is no faster than 100 ms: {took:?}"
    );
    assert_eq!(
        handle
            .data()
            .take_new()
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>(),
        201
    );
    assert!(
        Replay::new(&recording)
            .pace(Pace::Scaled(0.0))
            .into_aggregator(&handle)
            .is_err()
    );
    manager.shutdown().expect("shutdown");
}
