#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

// `Sensor` has only `rpc Stream(stream Command) returns (stream Reading)`:
// an aggregator that hosts needs `rpc M(stream Reading) returns (stream Command)`.
#[tsercom::runtime(aggregator, listen = "127.0.0.1:0", service = Sensor, data = Reading, event = Command)]
struct HostingCollector;

// `method` names a method of the other direction.
#[tsercom::runtime(aggregator, discover = "_relay._tcp", method = Up, service = Relay, data = Reading, event = Command)]
struct WrongMethod;

fn main() {}
