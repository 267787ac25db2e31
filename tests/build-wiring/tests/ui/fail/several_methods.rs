#[allow(unused_imports)] // some cases fail before any use
use tsercom_test_build_wiring::*;

// `Relay.Down` and `Relay.Mirror` both take `stream Command` and return
// `stream Reading`: which one is meant must be said with `method`.
#[tsercom::runtime(aggregator, discover = "_relay._tcp", service = Relay, data = Reading, event = Command)]
struct Ambiguous;

// A method the service does not have.
#[tsercom::runtime(aggregator, discover = "_relay._tcp", method = Sideways, service = Relay, data = Reading, event = Command)]
struct Unknown;

fn main() {}
