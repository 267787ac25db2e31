//! A producer that advertises over mDNS: registered, not started (starting
//! would send multicast; the namespace tests do that).
use tsercom::discovery::PeerSource;
use tsercom::runtime::{Role, RuntimeInitializer};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

/// Hosts `Sensor`, advertises `_sensors._tcp`.
#[tsercom::runtime(producer, publish = "_sensors._tcp", port = 50999, service = sensors::Sensor, data = Reading, event = Command)]
struct Thermometer;

fn main() {
    let config = Thermometer.config().unwrap();
    assert_eq!(config.role, Role::Producer);
    assert_eq!(
        config.discovery.publish,
        Some(("_sensors._tcp".to_owned(), "Thermometer".to_owned()))
    );
    assert_eq!(config.discovery.peers, PeerSource::None);
    assert_eq!(config.listen, vec!["0.0.0.0:50999".parse().unwrap()]);
    assert_eq!(Thermometer.name(), "Thermometer");
    let mut manager = tsercom::RuntimeManager::new();
    // The producer's handle: samples out (`publish`), events in (`take_events`).
    let handle: tsercom::ProducerHandle<Reading, Command> =
        manager.register(Thermometer::default()).unwrap();
    assert_eq!(handle.name(), "Thermometer");
}
