//! Role and direction are independent: each role hosts or dials, the
//! method is picked by its shape (or named with `method`), addresses come
//! from literals with DNS names, the environment or the struct's fields.
use tsercom::discovery::PeerSource;
use tsercom::runtime::{Role, RuntimeInitializer};
use tsercom::{AggregatorHandle, ProducerHandle};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

/// An aggregator that hosts `Trainer.Upload`: producers dial it.
#[tsercom::runtime(aggregator, listen = "localhost:0", service = sensors::Trainer, data = Reading, event = Command)]
struct Trainer;

/// A producer that dials a trainer whose address is in the environment.
#[tsercom::runtime(producer, peers = env("UI_TRAINER_ADDR"), service = sensors::Trainer, data = Reading, event = Command)]
struct Robot;

/// A producer whose trainer address is a field of the struct.
#[tsercom::runtime(producer, peers = self.trainer, service = sensors::Trainer, data = Reading, event = Command)]
#[derive(Default)]
struct Drone {
    trainer: String,
}

/// Both shapes in one service: the role and direction pick `Up` here...
#[tsercom::runtime(aggregator, listen = "127.0.0.1:0", service = sensors::Relay, data = Reading, event = Command)]
struct RelayHost;

/// ...and `method` chooses between `Down` and `Mirror`, which share a shape.
#[tsercom::runtime(aggregator, discover = "_relay._tcp", method = Mirror, service = sensors::Relay, data = Reading, event = Command)]
struct RelayDialer;

/// DNS-SD over unicast DNS (beyond the LAN), and static peers besides.
#[tsercom::runtime(aggregator, discover = "dns:_sensors._tcp.fleet.example", peers = "gateway.fleet.example:50051", service = sensors::Sensor, data = Reading, event = Command)]
struct Cloud;

fn main() {
    let cloud = Cloud.config().unwrap();
    let PeerSource::Several(sources) = cloud.discovery.peers else {
        panic!("DNS-SD and static peers merged");
    };
    assert!(matches!(sources[0], PeerSource::Dns(ref dns) if dns.name.starts_with("_sensors._tcp.fleet.example")));
    assert!(matches!(sources[1], PeerSource::Static(ref p) if p[0].target == "gateway.fleet.example:50051"));

    assert_eq!(Trainer.config().unwrap().role, Role::Aggregator);
    assert!(!Trainer.config().unwrap().listen.is_empty());

    // Unset: a clear error at register, naming the variable.
    let err = Robot.config().unwrap_err().to_string();
    assert!(err.contains("UI_TRAINER_ADDR"), "{err}");
    // SAFETY-free: set before any thread reads the environment.
    unsafe { std::env::set_var("UI_TRAINER_ADDR", "localhost:7000, 127.0.0.1:7001") };
    let config = Robot.config().unwrap();
    assert_eq!(config.role, Role::Producer);
    assert!(matches!(config.discovery.peers, PeerSource::Static(ref p) if p.len() == 2));

    let drone = Drone { trainer: "127.0.0.1:7002".into() };
    assert!(matches!(drone.config().unwrap().discovery.peers, PeerSource::Static(ref p) if p.len() == 1));

    // Per-runtime environment overrides: one binary, many robots.
    unsafe { std::env::set_var("TSERCOM_DRONE_PEERS", "127.0.0.1:7003,127.0.0.1:7004") };
    assert!(matches!(drone.config().unwrap().discovery.peers, PeerSource::Static(ref p) if p.len() == 2));
    unsafe { std::env::set_var("TSERCOM_TRAINER_PEERS", "127.0.0.1:7005") };
    let err = Trainer.config().unwrap_err().to_string();
    assert!(err.contains("TSERCOM_TRAINER_LISTEN"), "{err}");
    unsafe { std::env::remove_var("TSERCOM_TRAINER_PEERS") };

    let mut manager = tsercom::RuntimeManager::new();
    let _trainer: AggregatorHandle<Reading, Command> = manager.register(Trainer).unwrap();
    let _robot: ProducerHandle<Reading, Command> = manager.register(Robot).unwrap();
    let _relay: AggregatorHandle<Reading, Command> = manager.register(RelayHost).unwrap();
    let _dialer: AggregatorHandle<Reading, Command> = manager.register(RelayDialer).unwrap();
}
