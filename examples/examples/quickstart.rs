//! Run: `cargo run -p tsercom-examples --example quickstart` (`-- --seconds 10` to run longer)
//!
//! A producer (`Thermometer`, hosts the `Sensor` service and advertises it)
//! and an aggregator (`Collector`, discovers and dials it) in one process,
//! on loopback only: the
//! thermometer streams ten readings every 100 ms, the collector prints one
//! line per batch (producer CallerId, last timestamp on the collector's
//! clock, last value). Stops by itself after 3 s and exits 0.
//!
//! The collector finds the thermometer over mDNS on the loopback interface
//! only (`interfaces = "loopback"`: nothing is sent on, or joined on, any
//! other interface; the producer listens on 127.0.0.1); on a LAN, drop
//! `interfaces` (or name yours, e.g. `interfaces = "eth0"`).
//! The networking runs on the runtimes' threads; `main` only polls handles.
//!
//! User-written lines (no comments, no blank lines): 30, plus
//! `proto/sensors.proto`.

use std::time::Duration;

use tsercom::RuntimeManager;
use tsercom_examples::*;

/// The producer: hosts `Sensor`, advertises it as `_sensors._tcp`.
#[tsercom::runtime(producer, publish = "_sensors._tcp", interfaces = "loopback", service = Sensor, data = Reading, event = Command)]
struct Thermometer;

/// The aggregator: finds producers, collects their readings by CallerId.
#[tsercom::runtime(aggregator, discover = "_sensors._tcp", interfaces = "loopback", service = Sensor, data = Reading, event = Command)]
struct Collector;

fn main() -> tsercom::Result<()> {
    tsercom::logging::init();
    let seconds = std::env::args().skip_while(|a| a != "--seconds").nth(1);
    let seconds: u32 = seconds.and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut manager = RuntimeManager::new();
    let thermometer = manager.register(Thermometer)?;
    let collector = manager.register(Collector)?;
    manager.start_in_process()?;
    let mut reading = Reading::default();
    for _ in 0..seconds * 10 {
        for i in 0..10 {
            reading.celsius = 20.0 + f64::from(i) / 10.0;
            thermometer.publish(reading.clone())?;
        }
        for (caller, batch) in collector.data().take_new() {
            let last = &batch[batch.len() - 1];
            let (n, time, celsius) = (batch.len(), last.timestamp, last.data.celsius);
            println!("{caller}: {n} readings, last at {time}: {celsius:.1} °C");
        }
        manager.check_error()?;
        // A real sensor would block on its hardware here.
        std::thread::sleep(Duration::from_millis(100));
    }
    manager.shutdown()
}
