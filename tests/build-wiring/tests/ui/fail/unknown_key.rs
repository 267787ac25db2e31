#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

#[tsercom::runtime(producer, publish = "_sensors._tcp", servce = Sensor, data = Reading, event = Command)]
struct Thermometer;

fn main() {}
