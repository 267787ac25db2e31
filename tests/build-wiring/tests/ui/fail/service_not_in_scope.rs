#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::{Command, Reading};

// `Sensor`'s descriptor module (`sensor_tsercom`) is not in scope: name the
// package, e.g. `service = tsercom_test_build_wiring::Sensor`.
#[tsercom::runtime(producer, publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
struct Thermometer;

fn main() {}
