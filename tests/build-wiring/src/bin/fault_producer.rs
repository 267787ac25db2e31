//! A flooding producer for the delivery fault tests
//! (`tests/delivery_faults.rs`), run in a network namespace or on
//! loopback, killed or cut off by the test.
//!
//! Environment: `E2E_DIRECTION` (`dial`: dials the aggregators at
//! `E2E_ADDR`, addresses separated by `,`, service `Trainer`; `host`: listens on `E2E_ADDR`, service
//! `Sensor`), `E2E_ID` (its CallerId; default random), `E2E_START` (first
//! value, default 0), `E2E_COUNT` (values to publish), `E2E_RATE` (values
//! per second, in 1 ms batches).
//!
//! Prints `ready <id> <addr>`, waits for its aggregator, publishes
//! `E2E_START..E2E_START + E2E_COUNT` (the `celsius` field), prints
//! `published <n>`, and when stdin closes shuts down and prints
//! `stats resent=<n> possibly_duplicated=<n> acknowledged=<n>
//! unacknowledged=<n> lost=<n> dropped=<n>` before exiting.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, ProducerHandle, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(producer, peers = self.addrs, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Dialing {
    addrs: Vec<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Dialing {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(self.id.unwrap_or_else(CallerId::random)))
    }
}

#[tsercom::runtime(producer, listen = self.addr, service = sensors::Sensor, data = Reading, event = Command, hooks)]
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

fn env<T: std::str::FromStr>(key: &str, default: Option<T>) -> Result<T, String> {
    match std::env::var(key) {
        Ok(v) => v.parse().map_err(|_| format!("{key}: cannot parse {v:?}")),
        Err(_) => default.ok_or_else(|| format!("{key} is required")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addrs = std::env::var("E2E_ADDR")?
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<SocketAddr>, _>>()?;
    let addr = *addrs.first().ok_or("E2E_ADDR is empty")?;
    let id = tsercom_test_build_wiring::e2e_caller_id()?;
    let start: u64 = env("E2E_START", Some(0))?;
    let count: u64 = env("E2E_COUNT", None)?;
    let rate: u64 = env("E2E_RATE", Some(10_000))?;
    let mut manager = RuntimeManager::new();
    let (handle, listening): (ProducerHandle<Reading, Command>, _) =
        match std::env::var("E2E_DIRECTION").as_deref() {
            Ok("host") => {
                let h = manager.register(Hosting {
                    addr: Some(addr),
                    id: Some(id),
                })?;
                manager.start_in_process()?;
                let at = h.listening().first().copied().ok_or("not listening")?;
                (h, at)
            }
            _ => {
                let h = manager.register(Dialing {
                    addrs,
                    id: Some(id),
                })?;
                manager.start_in_process()?;
                (h, addr)
            }
        };
    manager.check_error()?;
    println!("ready {id} {listening}");
    let (stdin_open, stdin_closed) = tsercom_test_build_wiring::stdin_watch();
    // Every aggregator it dials (or, hosting, the first to come).
    let expected = if std::env::var("E2E_DIRECTION").as_deref() == Ok("host") {
        1
    } else {
        std::env::var("E2E_ADDR")?.split(',').count()
    };
    handle
        .wait_callers(Duration::from_secs(120), |c| {
            c.iter().filter(|c| c.state.is_connected()).count() >= expected
        })
        .ok_or("not every aggregator within 120 s")?;

    let per_ms = (rate / 1000).max(1);
    let began = Instant::now();
    let mut next = start;
    let end = start + count;
    while next < end && stdin_open.load(Ordering::Acquire) {
        let batch_end = (next + per_ms).min(end);
        #[allow(clippy::cast_precision_loss)] // values stay below 2^53
        let batch: Vec<Reading> = (next..batch_end)
            .map(|v| Reading {
                celsius: v as f64,
                ..Reading::default()
            })
            .collect();
        handle.publish_many(batch)?;
        next = batch_end;
        // Paced: batch k leaves at k ms.
        let due = began + Duration::from_millis((next - start) / per_ms);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    println!("published {}", next - start);
    // Until the test closes stdin (bounded: 300 s).
    let _ = stdin_closed.recv_timeout(Duration::from_secs(300));
    // Counted after the stop, which waits for the last acknowledgments
    // (what is then still unacknowledged is counted lost).
    manager.shutdown()?;
    let stats = handle.stats();
    let d = stats.delivery;
    println!(
        "stats resent={} possibly_duplicated={} acknowledged={} unacknowledged={} lost={} dropped={}",
        d.resent,
        d.possibly_duplicated,
        d.acknowledged,
        d.unacknowledged,
        d.lost,
        stats.outbound.dropped
    );
    Ok(())
}
