//! A producer process for the end-to-end tests (`tests/runtime_e2e.rs`),
//! written as a user would: `#[tsercom::runtime]` hosting `Sensor`.
//!
//! Environment: `E2E_LISTEN` (address, required), `TSERCOM_STATE_DIR`
//! (where its CallerId persists), `E2E_START` (first value, default 0),
//! `E2E_TLS_DIR` (mutual TLS with `ca.pem`, `server.crt`, `server.key`),
//! `E2E_PUBLISH` (advertise under this service type over loopback-only
//! mDNS), `E2E_CLOCK_OFFSET_MS` (its clock runs this far ahead of the
//! system clock).
//! Prints `ready <caller id> <address>` once serving; streams readings 0, 1, 2, ...
//! (from `E2E_START`) every 20 ms; answers each command with a reading of
//! -1; exits when stdin closes, or after 300 s at most.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsercom::discovery::Interfaces;
use tsercom::rpc::ServerTls;
use tsercom::runtime::RuntimeConfig;
use tsercom::service::Hooks;
use tsercom::time::{OffsetClock, SystemClock};
use tsercom::{CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
    tls: Option<PathBuf>,
    publish: Option<String>,
    clock_offset_ms: i64,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let mut config = config;
        if self.clock_offset_ms != 0 {
            config = config.with_clock(OffsetClock {
                base: SystemClock,
                offset_nanos: i128::from(self.clock_offset_ms) * 1_000_000,
            });
        }
        if let Some(service_type) = &self.publish {
            config.discovery.publish = Some((service_type.clone(), "Thermometer".into()));
            config.discovery.interfaces = Interfaces::LoopbackOnly;
        }
        match &self.tls {
            Some(dir) => config.with_tls(
                ServerTls::MutualTls {
                    cert: dir.join("server.crt"),
                    key: dir.join("server.key"),
                    client_ca: dir.join("ca.pem"),
                },
                tsercom::rpc::ClientTls::Insecure,
            ),
            None => config,
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::var("E2E_LISTEN")?.parse()?;
    let start: u32 = std::env::var("E2E_START").map_or(Ok(0), |s| s.parse())?;
    let tls = std::env::var_os("E2E_TLS_DIR").map(PathBuf::from);
    let id = CallerId::load_or_create(CallerId::default_path("Thermometer")?)?;

    let mut manager = RuntimeManager::new();
    let handle = manager.register(Thermometer {
        listen: Some(listen),
        tls,
        publish: std::env::var("E2E_PUBLISH").ok(),
        clock_offset_ms: std::env::var("E2E_CLOCK_OFFSET_MS").map_or(Ok(0), |s| s.parse())?,
    })?;
    manager.start_in_process()?;
    manager.check_error()?;
    // The address too: the port its system chose for port 0.
    let addr = handle.listening().first().copied().ok_or("not listening")?;
    println!("ready {id} {addr}");

    let stdin_open = tsercom_test_build_wiring::stdin_open();

    let deadline = Instant::now() + Duration::from_secs(300);
    let mut value = start;
    while stdin_open.load(Ordering::Acquire) && Instant::now() < deadline {
        let reading = Reading {
            celsius: f64::from(value),
            ..Reading::default()
        };
        if !handle.callers().is_empty() {
            handle.publish(reading)?;
            value += 1;
        }
        // Paced by the wait for commands: 20 ms, or sooner when one comes.
        if handle.events().wait_new(Duration::from_millis(20)) {
            for _ in handle.take_events() {
                let echo = Reading {
                    celsius: -1.0,
                    ..Reading::default()
                };
                handle.publish(echo)?;
            }
        }
        manager.check_error()?;
    }
    manager.shutdown()?;
    Ok(())
}
