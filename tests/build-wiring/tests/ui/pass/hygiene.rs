//! The expansion uses absolute paths only: shadowing prelude names and
//! declaring `mod core` / `mod std` changes nothing.
#![allow(dead_code, non_camel_case_types)]

use tsercom_test_build_wiring::{self as sensors, Command, Reading};

mod core {}
mod std {}
mod tsercom {}
struct Result;
struct Option;
struct Box;
struct String;
struct Default;
struct Vec;
type Some = ();
trait Send {}
trait Sync {}

#[::tsercom::runtime(producer, publish = "_sensors._tcp", service = sensors::Sensor, data = Reading, event = Command)]
struct Thermometer;

#[::tsercom::runtime(aggregator, peers = "127.0.0.1:50997", service = sensors::Sensor, data = Reading, event = Command)]
struct Collector {
    count: u32,
}

impl ::core::default::Default for Collector {
    fn default() -> Self {
        Collector { count: 0 }
    }
}

fn main() {
    let mut manager = ::tsercom::RuntimeManager::new();
    let _ = manager.register(Thermometer);
    let _ = manager.register(Collector { count: 1 });
}
