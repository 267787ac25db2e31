//! Run: `cargo run -p tsercom-examples --example reverse` (`-- --seconds 10` to run longer)
//!
//! The quickstart in the other direction: the aggregator (`Trainer`)
//! **listens** and the producer (`Sensor`) **dials** it — as a robot behind
//! NAT dials a trainer with a fixed address. Same roles, same handles: the
//! sensor publishes readings, the trainer reads them by CallerId on its
//! own clock and sends commands back. The service's `Upload` method (`rpc
//! Upload(stream Reading) returns (stream Command)`) is the one a listening
//! aggregator serves. Loopback only (`localhost:50161`, a DNS name resolved
//! at each connect); exits 0 by itself after 3 s.
//!
//! User-written lines (no comments, no blank lines, as rustfmt lays them
//! out): 41, plus
//! `proto/sensors.proto`.

use std::time::Duration;

use tsercom::{RuntimeManager, To};
use tsercom_examples::*;

/// The producer: dials the trainer, publishes readings.
#[tsercom::runtime(producer, peers = "localhost:50161", service = Trainer, data = Reading, event = Command)]
struct Sensor;

/// The aggregator: listens; every sensor that dials in is a caller.
#[tsercom::runtime(aggregator, listen = "127.0.0.1:50161", service = Trainer, data = Reading, event = Command)]
struct Trainer;

fn main() -> tsercom::Result<()> {
    let seconds = std::env::args().skip_while(|a| a != "--seconds").nth(1);
    let seconds: u32 = seconds.and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut manager = RuntimeManager::new();
    let sensor = manager.register(Sensor)?;
    let trainer = manager.register(Trainer)?;
    manager.start_in_process()?;
    let mut reading = Reading::default();
    for tick in 0..seconds * 10 {
        reading.celsius = 20.0 + f64::from(tick % 50) / 10.0;
        sensor.publish(reading.clone())?;
        for (caller, batch) in trainer.data().take_new() {
            let last = &batch[batch.len() - 1];
            println!(
                "{caller}: {} reading(s), last {:.1} °C",
                batch.len(),
                last.data.celsius
            );
            trainer.send(
                Command {
                    action: "keep going".into(),
                    ..Default::default()
                },
                To::All,
            )?;
        }
        for event in sensor.take_events() {
            println!("  ← {} from {}", event.data.action, event.caller);
        }
        manager.check_error()?;
        std::thread::sleep(Duration::from_millis(100)); // a real sensor's sampling period
    }
    manager.shutdown()
}
