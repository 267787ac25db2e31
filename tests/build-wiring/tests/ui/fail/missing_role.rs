#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

// Neither `producer` nor `aggregator`, then both.
#[tsercom::runtime(publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
struct Nobody;

#[tsercom::runtime(producer, aggregator, publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
struct Everybody;

// A role that takes no value.
#[tsercom::runtime(producer = true, publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
struct Valued;

fn main() {}
