//! An aggregator that browses mDNS, named explicitly.
use tsercom::discovery::{Interfaces, PeerSource};
use tsercom::runtime::{Role, RuntimeInitializer};
use tsercom_test_build_wiring::*;

/// Finds `_sensors._tcp` producers and collects their readings.
#[tsercom::runtime(aggregator, discover = "_sensors._tcp.local.", name = "collector-1", interfaces = "eth0,eth1", service = Sensor, data = Reading, event = Command)]
#[derive(Debug, Default)]
struct Collector {
    /// User state lives on the struct.
    _label: String,
}

fn main() {
    let config = Collector::default().config().unwrap();
    assert_eq!(config.role, Role::Aggregator);
    assert_eq!(
        config.discovery.peers,
        PeerSource::Mdns {
            service_type: "_sensors._tcp.local.".to_owned()
        }
    );
    assert_eq!(config.discovery.publish, None);
    assert_eq!(
        config.discovery.interfaces,
        Interfaces::Named(vec!["eth0".to_owned(), "eth1".to_owned()])
    );
    let mut manager = tsercom::RuntimeManager::new();
    let handle: tsercom::AggregatorHandle<Reading, Command> =
        manager.register(Collector::default()).unwrap();
    assert_eq!(handle.name(), "collector-1");
}
