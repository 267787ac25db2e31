#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

#[tsercom::runtime(producer, publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
enum Thermometer {
    A,
}

fn main() {
    // The enum is still emitted: this compiles.
    let _ = Thermometer::A;
}
