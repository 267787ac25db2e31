#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

#[tsercom::runtime(service = Sensor)]
struct Thermometer;

fn main() {}
