//! Run: `cargo run -p tsercom-examples --example fleet -- --producers 4 --seconds 10`
//!
//! The reverse direction: the aggregator (a trainer) **listens**, and the
//! producers **dial** it — as robots behind NAT or on changing networks
//! would. N producers, each a child process of this program (re-run with
//! `--producer <i>`), dial `localhost:50160` (a DNS name, resolved at each
//! connect; `TSERCOM_PRODUCER_PEERS=host:port` overrides it, so one binary
//! serves a whole fleet); the aggregator here draws a table refreshed
//! twice a second, within 80 columns (as `tsercom top` does): per
//! producer, its CallerId prefix, address, samples/s, lag (age of its
//! newest sample on the aggregator's clock), clock offset (its clock minus
//! the aggregator's) and the round trip it was measured with, samples
//! held, and up/down; received and dropped in the title. Redrawn in place
//! on a terminal, plain lines when piped; a summary line at the end.
//! Loopback only; each producer keeps its CallerId in
//! `fleet-<i>.caller_id` under tsercom's state directory, so restarts
//! continue the same rows. Exits after `--seconds`. For a live view of
//! any process, serve its metrics and run `tsercom top` (README).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager, Timestamp};
use tsercom_examples::*;

/// A sensor that dials the trainer and uploads its readings.
#[tsercom::runtime(producer, peers = "localhost:50160", service = Trainer, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Producer {
    index: u16,
}

impl Hooks for Producer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let path = CallerId::default_path(&format!("fleet-{}", self.index));
        match path {
            Ok(path) => config.with_identity(Identity::PersistentAt(path)),
            Err(_) => config,
        }
    }
}

/// The trainer: listens; every sensor that dials in is a row.
#[tsercom::runtime(aggregator, listen = "127.0.0.1:50160", service = Trainer, data = Reading, event = Command)]
struct Aggregator;

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
        handle.publish(reading.clone())?;
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
    // The trainer listens first; the sensors then dial it (before it
    // listened they would retry with backoff).
    let mut manager = RuntimeManager::new();
    let handle = manager.register(Aggregator)?;
    manager.start_in_process()?;
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

    // Redrawn in place on a terminal; plain lines (no escape codes) when
    // the output is piped or redirected.
    let terminal = std::io::stdout().is_terminal();
    let start = Instant::now();
    let mut last_draw = Instant::now();
    let mut counts: HashMap<CallerId, usize> = HashMap::new();
    let mut totals: HashMap<CallerId, usize> = HashMap::new();
    let mut newest: HashMap<CallerId, Timestamp> = HashMap::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        handle.data().wait_new(Duration::from_millis(100));
        for (caller, samples) in handle.data().take_new() {
            *counts.entry(caller).or_default() += samples.len();
            *totals.entry(caller).or_default() += samples.len();
            if let Some(last) = samples.last() {
                newest.insert(caller, last.timestamp);
            }
        }
        if last_draw.elapsed() >= Duration::from_millis(500) {
            let period = last_draw.elapsed().as_secs_f64();
            last_draw = Instant::now();
            if terminal {
                print!("\x1b[2J\x1b[H");
            }
            let stats = handle.stats().inbound;
            println!(
                "tsercom fleet: {producers} producers, {:.0} s, {} received, {} dropped",
                start.elapsed().as_secs_f64(),
                stats.received,
                stats.dropped + stats.over_memory + stats.refused
            );
            // Within 80 columns.
            println!(
                "{:<8} {:<21} {:>8} {:>7} {:>9} {:>7} {:>6}  STATE",
                "PRODUCER", "ADDRESS", "SAMPLE/S", "LAG ms", "OFFSET µs", "RTT µs", "HELD"
            );
            let mut callers = handle.callers();
            callers.sort_by_key(|c| c.id);
            let now = Timestamp::now();
            for caller in callers {
                let rate = counts.remove(&caller.id).unwrap_or(0) as f64 / period;
                // "-" where nothing is known yet (no sample; no clock
                // estimate: here the producers dial and measure the
                // offset, the listening aggregator only sees it when told).
                let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
                let lag = show(
                    newest
                        .get(&caller.id)
                        .map(|t| now.nanos_since(t) as f64 / 1e6),
                );
                let offset = show(caller.clock.map(|c| c.offset_nanos as f64 / 1e3));
                let rtt = show(caller.clock.map(|c| c.delay_nanos as f64 / 1e3));
                let mut prefix = caller.id.to_string();
                prefix.truncate(8);
                let state = if caller.state.is_connected() {
                    "up"
                } else {
                    "down"
                };
                println!(
                    "{prefix:<8} {:<21} {rate:>8.0} {lag:>7} {offset:>9} {rtt:>7} {:>6}  {state}",
                    caller.peer.as_deref().unwrap_or("-"),
                    caller.stored,
                );
            }
        }
        manager.check_error()?;
    }
    // The summary, once.
    let stats = handle.stats().inbound;
    println!(
        "summary: {} producers, {:.0} s: {} samples ({:.0}/s), {} dropped, {} refused",
        totals.len(),
        start.elapsed().as_secs_f64(),
        stats.received,
        stats.received as f64 / start.elapsed().as_secs_f64(),
        stats.dropped + stats.over_memory,
        stats.refused
    );
    manager.shutdown()?;
    for mut child in children {
        // Only the processes started above, by their handles.
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}
