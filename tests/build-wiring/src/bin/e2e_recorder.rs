//! A recording process for `tests/record_session.rs`, killed with SIGKILL
//! by the test: an aggregator runtime (listening on loopback, no peers)
//! whose store is fed through its handle (`push_blocking`, the API for
//! custom sources) and recorded to `E2E_RECORD` (required) with chunks
//! flushed every 20 ms.
//!
//! It pushes `E2E_FIRST` (default 500) readings, waits until the file on
//! disk holds them all (read back with tsercom's reader), prints
//! `ready <count>`, then pushes on without end (until killed, stdin
//! closed, or 300 s), so the kill lands while it writes.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsercom::record::{RecordConfig, Recording, Schema};
use tsercom::{CallerId, RuntimeManager, Timestamp};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(aggregator, listen = "127.0.0.1:0", service = sensors::Trainer, data = Reading, event = Command, hooks)]
struct Sink;

/// A fresh identity: nothing persisted for a test program.
impl tsercom::service::Hooks for Sink {
    fn configure(
        &self,
        config: tsercom::runtime::RuntimeConfig,
    ) -> tsercom::runtime::RuntimeConfig {
        config.with_identity(tsercom::runtime::Identity::Fixed(CallerId::random()))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::var("E2E_RECORD")?;
    let first: u64 = std::env::var("E2E_FIRST").map_or(Ok(500), |s| s.parse())?;
    let mut manager = RuntimeManager::new();
    let handle = manager.register(Sink)?;
    manager.start_in_process()?;
    let schema = Schema::new(tsercom::include_file_descriptor_set!(), "sensors.Reading")?;
    let recorder = handle.record(
        RecordConfig::new(&path, schema)
            .chunk_size(4096)
            .flush_interval(Duration::from_millis(20)),
    )?;
    let producer = CallerId::random();
    let start = Timestamp::now();
    let mut value = 0u64;
    let push = |value: u64| -> tsercom::Result<()> {
        #[allow(clippy::cast_precision_loss)] // test values stay small
        let reading = Reading {
            celsius: value as f64,
            ..Reading::default()
        };
        let time = start.offset_by_nanos(i128::from(value) * 1_000_000)?;
        handle.data().push_blocking(producer, time, reading)
    };
    while value < first {
        push(value)?;
        value += 1;
    }
    // The first readings are on disk once a flush passed: read the file
    // itself (bounded wait; flushes come every 20 ms).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let on_disk = Recording::open([&path])?.messages().len() as u64;
        if on_disk >= first {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {on_disk} of {first} readings reached the file").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("ready {producer}");
    let stdin_open = tsercom_test_build_wiring::stdin_open();
    let deadline = Instant::now() + Duration::from_secs(300);
    while stdin_open.load(Ordering::Acquire) && Instant::now() < deadline {
        push(value)?;
        value += 1;
        if value.is_multiple_of(64) {
            handle.data().take_new();
        }
    }
    recorder.stop()?;
    manager.shutdown()?;
    Ok(())
}
