#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::legacy::*;

#[tsercom::runtime(producer, publish = "_pings._tcp", service = Pinger, data = Sample, event = Sample)]
struct Pings;

fn main() {}
