//! A producer process that **dials** an aggregator (the reverse of
//! `e2e_producer`), for `tests/direction_e2e.rs`: `#[tsercom::runtime]`
//! on the `Trainer` service, whose `Upload` method the aggregator hosts.
//!
//! Environment: `E2E_TRAINER` (`host:port` entries separated by `,`, DNS
//! names allowed) or `E2E_DISCOVER` (a service type browsed over
//! loopback-only mDNS), `TSERCOM_STATE_DIR` (where its CallerId persists),
//! `E2E_START` (first value, default 0), `E2E_CLOCK_OFFSET_MS` (its clock
//! runs this far ahead of the system clock).
//! Prints `ready <caller id>` once started; publishes readings 0, 1, 2, ...
//! (from `E2E_START`) every 20 ms while an aggregator is connected;
//! answers each command with a reading of -1; exits when stdin closes, or
//! after 300 s at most.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsercom::runtime::RuntimeConfig;
use tsercom::time::{OffsetClock, SystemClock};
use tsercom::{CallerId, ProducerHandle, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

/// Dials the trainer at the addresses in `E2E_TRAINER`.
#[tsercom::runtime(producer, peers = env("E2E_TRAINER"), name = "Robot", service = sensors::Trainer, data = Reading, event = Command, config = skewed)]
struct Robot;

/// Finds the trainer over loopback-only mDNS (same name: same identity).
#[tsercom::runtime(producer, discover = "_e2etrainer._tcp", interfaces = "loopback", name = "Robot", service = sensors::Trainer, data = Reading, event = Command, config = skewed)]
struct Scout;

/// The robot's clock: `E2E_CLOCK_OFFSET_MS` ahead of the system clock.
fn skewed(config: RuntimeConfig) -> RuntimeConfig {
    let offset_ms: i64 = std::env::var("E2E_CLOCK_OFFSET_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if offset_ms == 0 {
        return config;
    }
    config.with_clock(OffsetClock {
        base: SystemClock,
        offset_nanos: i128::from(offset_ms) * 1_000_000,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tsercom::logging::init();
    let start: u32 = std::env::var("E2E_START").map_or(Ok(0), |s| s.parse())?;
    let id = CallerId::load_or_create(CallerId::default_path("Robot")?)?;
    let mut manager = RuntimeManager::new();
    let handle: ProducerHandle<Reading, Command> = if std::env::var_os("E2E_DISCOVER").is_some() {
        manager.register(Scout)?
    } else {
        manager.register(Robot)?
    };
    manager.start_in_process()?;
    manager.check_error()?;
    println!("ready {id}");

    let stdin_open = tsercom_test_build_wiring::stdin_open();

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut value = start;
    while stdin_open.load(Ordering::Acquire) && Instant::now() < deadline {
        if !handle.callers().is_empty() {
            handle.publish(Reading {
                celsius: f64::from(value),
                ..Reading::default()
            })?;
            value += 1;
        }
        // Paced by the wait for commands: 20 ms, or sooner when one comes.
        if handle.events().wait_new(Duration::from_millis(20)) {
            for _ in handle.take_events() {
                handle.publish(Reading {
                    celsius: -1.0,
                    ..Reading::default()
                })?;
            }
        }
        manager.check_error()?;
    }
    manager.shutdown()?;
    Ok(())
}
