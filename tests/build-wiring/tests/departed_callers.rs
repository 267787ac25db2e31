//! A caller that left with data nobody read is forgotten on time (its
//! samples counted in `DataStats::forgotten`) even when nothing else
//! arrives: the runtime sweeps every second. Before, sweeping ran only on
//! an arrival, so an idle aggregator kept a departed caller's store
//! forever.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::LOOPBACK_ANY_PORT;
use tsercom::data::Forgetting;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, ProducerHandle, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);
const FORGET_AFTER: Duration = Duration::from_secs(1);

/// A listening aggregator that forgets departed callers after a second.
#[tsercom::runtime(aggregator, listen = self.listen, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Trainer {
    listen: Option<SocketAddr>,
}

impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config
            .with_identity(Identity::Fixed(CallerId::random()))
            .with_forgetting(Forgetting::default().after(FORGET_AFTER))
    }
}

/// A producer dialing it.
#[tsercom::runtime(producer, peers = self.trainer, service = sensors::Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Robot {
    trainer: Option<SocketAddr>,
}

impl Hooks for Robot {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

#[test]
fn a_departed_callers_unread_data_is_forgotten_on_an_idle_aggregator() {
    let mut trainer_manager = RuntimeManager::new();
    let trainer: AggregatorHandle<Reading, Command> = trainer_manager
        .register(Trainer {
            listen: Some(LOOPBACK_ANY_PORT),
        })
        .expect("register");
    trainer_manager.start_in_process().expect("start");
    let addr = trainer.listening()[0];

    let mut robot_manager = RuntimeManager::new();
    let robot: ProducerHandle<Reading, Command> = robot_manager
        .register(Robot {
            trainer: Some(addr),
        })
        .expect("register");
    robot_manager.start_in_process().expect("start");
    robot
        .wait_callers(WAIT, |c| c.iter().any(|c| c.state.is_connected()))
        .expect("the producer reached the aggregator");
    for i in 0..5 {
        robot
            .publish(Reading {
                celsius: f64::from(i),
                ..Reading::default()
            })
            .expect("publish");
    }
    let deadline = Instant::now() + WAIT;
    while trainer.stats().inbound.received < 5 {
        assert!(
            Instant::now() < deadline,
            "5 samples: {:?}",
            trainer.stats()
        );
        trainer.data().wait_new(Duration::from_millis(200));
    }
    robot_manager.shutdown().expect("shutdown");
    trainer
        .wait_callers(WAIT, |c| c.iter().all(|c| !c.state.is_connected()))
        .expect("the producer is shown gone");
    let left = Instant::now();

    // Nothing arrives any more, nobody reads: the store goes all the same.
    let callers = trainer.wait_callers(WAIT, |c| c.is_empty());
    assert!(
        callers.is_some(),
        "still kept after {:?} (forget after {FORGET_AFTER:?}): {:?}",
        left.elapsed(),
        trainer.callers()
    );
    let stats = trainer.stats().inbound;
    assert_eq!(
        (stats.callers_forgotten, stats.forgotten),
        (1, 5),
        "counted: {stats:?}"
    );
    trainer_manager.shutdown().expect("shutdown");
}
