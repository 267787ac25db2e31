//! Static peers (IPv4 and IPv6) and a producer at a fixed address; started
//! for real on loopback, data flows.
use std::time::Duration;

use tsercom::discovery::PeerSource;
use tsercom::runtime::{Identity, RuntimeConfig, RuntimeInitializer};
use tsercom::{CallerId, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(listen = "127.0.0.1:0", service = sensors::Sensor, data = Reading, event = Command, config = random_id)]
struct Producer;

#[tsercom::runtime(peers = ["127.0.0.1:1", "[::1]:2"], service = sensors::Sensor, data = Reading, event = Command, config = random_id)]
struct Aggregator;

fn random_id(config: RuntimeConfig) -> RuntimeConfig {
    config.with_identity(Identity::Fixed(CallerId::random()))
}

fn main() {
    let config = Aggregator.config();
    assert_eq!(
        config.discovery.peers,
        PeerSource::Static(vec![
            "127.0.0.1:1".parse().unwrap(),
            "[::1]:2".parse().unwrap()
        ])
    );
    let mut manager = tsercom::RuntimeManager::new();
    let producer = manager.register(Producer).unwrap();
    manager.start_in_process().unwrap();
    producer.send_event(Reading::default(), To::All).unwrap();
    assert!(!producer.data().wait_new(Duration::from_millis(1)));
    manager.check_error().unwrap();
    manager.shutdown().unwrap();
}
