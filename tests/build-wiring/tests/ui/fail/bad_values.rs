#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

// Every problem of one attribute is reported at once.
#[tsercom::runtime(
    aggregator, discover = "sensors.tcp",
    name = "has.dot",
    service = "Sensor",
    data = Reading,
    event = Command,
    port = 70000,
    interfaces = "eth 0",
    hooks = yes
)]
struct Collector;

#[tsercom::runtime(aggregator, peers = ["127.0.0.1", "localhost:80"], listen = "nowhere", service = Sensor, data = Reading, event = Command)]
struct Mixed;

#[tsercom::runtime(aggregator, peers = ["127.0.0.1:1"], interfaces = "loopback", service = Sensor, data = Reading, event = Command)]
struct StaticOnLoopback;

fn main() {}
