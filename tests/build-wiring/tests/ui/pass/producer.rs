//! A producer that advertises over mDNS: registered, not started (starting
//! would send multicast; the namespace tests do that).
use tsercom::discovery::PeerSource;
use tsercom::runtime::{Role, RuntimeInitializer};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

/// Hosts `Sensor`, advertises `_sensors._tcp`.
#[tsercom::runtime(publish = "_sensors._tcp", port = 50999, service = sensors::Sensor, data = Reading, event = Command)]
struct Thermometer;

fn main() {
    let config = Thermometer.config();
    assert_eq!(config.role, Role::Producer);
    assert_eq!(
        config.discovery.publish,
        Some(("_sensors._tcp".to_owned(), "Thermometer".to_owned()))
    );
    assert_eq!(config.discovery.peers, PeerSource::None);
    assert_eq!(config.listen, vec!["0.0.0.0:50999".parse().unwrap()]);
    assert_eq!(Thermometer.name(), "Thermometer");
    let mut manager = tsercom::RuntimeManager::new();
    // The producer's handle: events in (`data()`), samples out (`send_event`).
    let handle: tsercom::RuntimeHandle<Command, Reading> =
        manager.register(Thermometer::default()).unwrap();
    assert_eq!(handle.name(), "Thermometer");
}
