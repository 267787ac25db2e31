//! tsercom under another name: `crate = "..."` points the expansion at it.
extern crate tsercom as telemetry;

use telemetry::runtime::RuntimeInitializer;
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[telemetry::runtime(crate = "telemetry", aggregator, discover = "_sensors._tcp", service = sensors::Sensor, data = Reading, event = Command)]
struct Collector;

fn main() {
    assert_eq!(Collector.name(), "Collector");
    let mut manager = telemetry::RuntimeManager::new();
    manager.register(Collector).unwrap();
}
