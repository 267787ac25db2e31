//! Static peers (a DNS name, IPv4 and IPv6) and a producer at a fixed
//! address; started for real on loopback, data flows.
use tsercom::discovery::PeerSource;
use tsercom::runtime::{Identity, RuntimeConfig, RuntimeInitializer};
use tsercom::CallerId;
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(producer, listen = "127.0.0.1:0", service = sensors::Sensor, data = Reading, event = Command, config = random_id)]
struct Producer;

#[tsercom::runtime(aggregator, peers = ["localhost:1", "127.0.0.1:1", "[::1]:2"], service = sensors::Sensor, data = Reading, event = Command, config = random_id)]
struct Aggregator;

fn random_id(config: RuntimeConfig) -> RuntimeConfig {
    config.with_identity(Identity::Fixed(CallerId::random()))
}

fn main() {
    let config = Aggregator.config().unwrap();
    let PeerSource::Static(peers) = config.discovery.peers else {
        panic!("static peers expected");
    };
    assert_eq!(peers.len(), 3);
    let mut manager = tsercom::RuntimeManager::new();
    let producer = manager.register(Producer).unwrap();
    manager.start_in_process().unwrap();
    producer.publish(Reading::default()).unwrap();
    producer.publish_many(vec![Reading::default(); 3]).unwrap();
    assert!(producer.take_events().is_empty());
    manager.check_error().unwrap();
    manager.shutdown().unwrap();
}
