#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

// Swapped: `Sensor.Stream` returns Readings and takes Commands.
#[tsercom::runtime(producer, publish = "_sensors._tcp", service = Sensor, data = Command, event = Reading)]
struct Thermometer;

fn main() {}
