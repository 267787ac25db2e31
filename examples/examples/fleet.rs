//! Run: `cargo run -p tsercom-examples --example fleet -- --producers 4 --seconds 10`
//!
//! N producers, each a child process of this program (re-run with
//! `--producer <i>`), and one aggregator here drawing a table refreshed
//! twice a second: per producer, its CallerId, samples/s, lag (age of its
//! newest sample on the aggregator's clock), clock offset (its clock minus
//! the aggregator's) and the round trip it was measured with, samples held,
//! and connection state. Loopback only (static peers on ports 50160 + i); each producer
//! keeps its CallerId in `fleet-<i>.caller_id` under tsercom's state
//! directory, so restarts continue the same rows. Exits after `--seconds`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use tsercom::discovery::PeerSource;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager, Timestamp, To};
use tsercom_examples::*;

const BASE_PORT: u16 = 50160;

#[tsercom::runtime(listen = "127.0.0.1:0", service = Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Producer {
    index: u16,
}

impl Hooks for Producer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let path = CallerId::default_path(&format!("fleet-{}", self.index));
        let config = config.with_listen([addr(self.index)]);
        match path {
            Ok(path) => config.with_identity(Identity::PersistentAt(path)),
            Err(_) => config,
        }
    }
}

#[tsercom::runtime(peers = ["127.0.0.1:50160"], service = Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Aggregator {
    producers: u16,
}

impl Hooks for Aggregator {
    fn configure(&self, mut config: RuntimeConfig) -> RuntimeConfig {
        let peers = (0..self.producers).map(|i| addr(i).into()).collect();
        config.discovery.peers = PeerSource::Static(peers);
        config
    }
}

fn addr(index: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], BASE_PORT + index))
}

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.nth(1).and_then(|v| v.parse().ok())
}

/// A producer child: a sample every 10 ms until stdin closes or the bound.
fn run_producer(index: u16, seconds: u64) -> tsercom::Result<()> {
    let mut manager = RuntimeManager::new();
    let handle = manager.register(Producer { index })?;
    manager.start_in_process()?;
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut reading = Reading::default();
    let mut step = 0u32;
    while Instant::now() < end {
        step += 1;
        reading.celsius = 20.0 + f64::from(index) + f64::from(step % 100) / 100.0;
        handle.send_event(reading.clone(), To::All)?;
        manager.check_error()?;
        // The producer's sampling period.
        std::thread::sleep(Duration::from_millis(10));
    }
    manager.shutdown()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = arg("--seconds").unwrap_or(10);
    if let Some(index) = arg::<u16>("--producer") {
        return Ok(run_producer(index, seconds + 5)?);
    }
    let producers: u16 = arg("--producers").unwrap_or(4).clamp(1, 64);
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = Vec::new();
    for i in 0..producers {
        let child = Process::new(&exe)
            .args([
                "--producer",
                &i.to_string(),
                "--seconds",
                &seconds.to_string(),
            ])
            .stdin(Stdio::null())
            .spawn()?;
        children.push(child);
    }

    let mut manager = RuntimeManager::new();
    let handle = manager.register(Aggregator { producers })?;
    manager.start_in_process()?;
    let start = Instant::now();
    let mut last_draw = Instant::now();
    let mut counts: HashMap<CallerId, usize> = HashMap::new();
    let mut newest: HashMap<CallerId, Timestamp> = HashMap::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        handle.data().wait_new(Duration::from_millis(100));
        for (caller, samples) in handle.data().take_new() {
            *counts.entry(caller).or_default() += samples.len();
            if let Some(last) = samples.last() {
                newest.insert(caller, last.timestamp);
            }
        }
        if last_draw.elapsed() >= Duration::from_millis(500) {
            let period = last_draw.elapsed().as_secs_f64();
            last_draw = Instant::now();
            let now = Timestamp::now();
            print!("\x1b[2J\x1b[H");
            println!(
                "tsercom fleet: {producers} producers, {:.0} s",
                start.elapsed().as_secs_f64()
            );
            println!(
                "{:<38} {:>10} {:>8} {:>11} {:>8} {:>8}  state",
                "producer", "samples/s", "lag ms", "offset µs", "RTT µs", "held"
            );
            let mut callers = handle.callers();
            callers.sort_by_key(|c| c.id);
            for caller in callers {
                let rate = counts.remove(&caller.id).unwrap_or(0) as f64 / period;
                let lag = newest
                    .get(&caller.id)
                    .map_or(f64::NAN, |t| now.nanos_since(t) as f64 / 1e6);
                let (offset, rtt) = caller.clock.map_or((f64::NAN, f64::NAN), |c| {
                    (c.offset_nanos as f64 / 1e3, c.delay_nanos as f64 / 1e3)
                });
                println!(
                    "{:<38} {rate:>10.0} {lag:>8.1} {offset:>11.1} {rtt:>8.1} {:>8}  {:?}",
                    caller.id.to_string(),
                    caller.stored,
                    caller.state
                );
            }
        }
        manager.check_error()?;
    }
    manager.shutdown()?;
    for mut child in children {
        // Only the processes started above, by their handles.
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}
