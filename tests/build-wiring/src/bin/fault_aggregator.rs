//! A counting aggregator for the delivery fault tests
//! (`tests/delivery_faults.rs`), run in a network namespace or on
//! loopback, killed or cut off by the test.
//!
//! Environment: `E2E_DIRECTION` (`host`: listens on `E2E_ADDR`, service
//! `Trainer`; `dial`: dials the producer at `E2E_ADDR`, service `Sensor`),
//! `E2E_ID` (its CallerId; default random), `E2E_OUT` (file: every value
//! taken is appended as a little-endian `u64`, flushed at each take).
//!
//! Prints `ready <id> <addr>`, then `progress <millis since ready>
//! <values so far>` every 50 ms, and when stdin closes shuts down and
//! prints `stats duplicates=<n> gaps=<n>` before exiting.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(aggregator, listen = self.addr, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Hosting {
    addr: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Hosting {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(self.id.unwrap_or_else(CallerId::random)))
    }
}

#[tsercom::runtime(aggregator, peers = self.addr, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Dialing {
    addr: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Dialing {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(self.id.unwrap_or_else(CallerId::random)))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::var("E2E_ADDR")?.parse()?;
    let id = tsercom_test_build_wiring::e2e_caller_id()?;
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::var("E2E_OUT")?)?;
    let mut manager = RuntimeManager::new();
    let (handle, listening): (AggregatorHandle<Reading, Command>, _) =
        match std::env::var("E2E_DIRECTION").as_deref() {
            Ok("dial") => {
                let h = manager.register(Dialing {
                    addr: Some(addr),
                    id: Some(id),
                })?;
                manager.start_in_process()?;
                (h, addr)
            }
            _ => {
                let h = manager.register(Hosting {
                    addr: Some(addr),
                    id: Some(id),
                })?;
                manager.start_in_process()?;
                let at = h.listening().first().copied().ok_or("not listening")?;
                (h, at)
            }
        };
    manager.check_error()?;
    println!("ready {id} {listening}");
    let ready = Instant::now();
    let stdin_open = tsercom_test_build_wiring::stdin_open();
    let mut total: u64 = 0;
    let mut last_print = Instant::now();
    let mut bytes = Vec::new();
    // Bounded: the test closes stdin well before.
    let deadline = ready + Duration::from_secs(600);
    while stdin_open.load(Ordering::Acquire) && Instant::now() < deadline {
        handle.data().wait_new(Duration::from_millis(10));
        bytes.clear();
        for (_, samples) in handle.data().take_new() {
            for s in samples {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                bytes.extend_from_slice(&(s.data.celsius as u64).to_le_bytes());
                total += 1;
            }
        }
        if !bytes.is_empty() {
            out.write_all(&bytes)?;
            out.flush()?;
        }
        if last_print.elapsed() >= Duration::from_millis(50) {
            println!("progress {} {total}", ready.elapsed().as_millis());
            last_print = Instant::now();
        }
    }
    // Counted after the stop, which waits for the last acknowledgments
    // (what is then still unacknowledged is counted lost).
    manager.shutdown()?;
    let stats = handle.stats();
    println!(
        "stats duplicates={} gaps={}",
        stats.delivery.duplicates, stats.delivery.gaps
    );
    Ok(())
}
