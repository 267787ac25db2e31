#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

#[tsercom::runtime(aggregator, discover = "_sensors._tcp", service = Sensor, data = Envelope, event = Command)]
struct Collector;

fn main() {}
