#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

// A service name may hold `-` only inside (RFC 6763 §7.2), as the runtime
// checks it: both sides use tsercom-validate's rules.
#[tsercom::runtime(producer, publish = "_-sensors._tcp", service = Sensor, data = Reading, event = Command)]
struct LeadingHyphen;

#[tsercom::runtime(aggregator, discover = "_sensors-._tcp", service = Sensor, data = Reading, event = Command)]
struct TrailingHyphen;

#[tsercom::runtime(aggregator, discover = "dns:_-sensors._tcp.fleet.example", service = Sensor, data = Reading, event = Command)]
struct DnsLeadingHyphen;

fn main() {}
