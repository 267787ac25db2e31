//! `memory`: what peers can make an aggregator hold (the identity issue's
//! memory figures).
//!
//! - **flood**: one producer streams `--samples` samples to an aggregator
//!   that nobody reads, once with a 16 MiB per-caller [`MemoryLimits`] and
//!   once unlimited, each in a fresh child process (RSS never shrinks back
//!   within a process): RSS after, samples stored.
//! - **churn**: `--cycles` producers, each a new process-start-like runtime
//!   with a fresh CallerId, connect to a listening aggregator, send 10
//!   samples and leave; the aggregator reads. RSS after a warm-up and at the
//!   end, and the callers still tracked.

use std::net::SocketAddr;

use tsercom::data::{MemoryLimits, Retention};
use tsercom::queue::{OverflowPolicy, QueueConfig};
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{AggregatorHandle, CallerId, ProducerHandle, RuntimeManager};

use crate::bench::{self, Ack, Sample};
use crate::stream::{rss_kib, wait_for};
use crate::{target_line, write_json};

const FLOOD_CAP: usize = 16 << 20;

/// An aggregator that listens; producers dial it.
#[tsercom::runtime(aggregator, listen = self.listen, service = bench::Ingest, data = Sample, event = Ack, hooks)]
#[derive(Default)]
struct Sink {
    listen: Option<SocketAddr>,
    /// `None`: unlimited.
    limits: Option<MemoryLimits>,
}

impl Hooks for Sink {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let limits = self.limits.unwrap_or(MemoryLimits {
            per_caller: usize::MAX,
            total: usize::MAX,
        });
        config
            .with_identity(Identity::Fixed(CallerId::random()))
            // The count bound out of the way: bytes bound the stores.
            .with_retention(Retention {
                max_samples: 1 << 28,
                max_age: None,
            })
            .with_data_policy(OverflowPolicy::DropOldest)
            .with_memory_limits(limits)
    }
}

/// A producer that dials the sink.
#[tsercom::runtime(producer, peers = self.peer, service = bench::Ingest, data = Sample, event = Ack, hooks)]
#[derive(Default)]
struct Source {
    peer: Option<SocketAddr>,
}

impl Hooks for Source {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config
            .with_identity(Identity::Fixed(CallerId::random()))
            .with_events(QueueConfig::new(4096, OverflowPolicy::Block))
    }
}

fn bad(reason: String) -> tsercom::Error {
    tsercom::Error::Invalid {
        what: "memory scenario",
        reason,
    }
}

fn sample(i: u64) -> Sample {
    let v = i as f64;
    Sample {
        timestamp: None,
        a: v,
        b: v * 2.0,
        c: v * 3.0,
        d: v * 4.0,
    }
}

fn start_sink(
    limits: Option<MemoryLimits>,
) -> tsercom::Result<(RuntimeManager, AggregatorHandle<Sample, Ack>, SocketAddr)> {
    let mut manager = RuntimeManager::new();
    let sink = manager.register(Sink {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        limits,
    })?;
    manager.start_in_process()?;
    let addr = sink
        .listening()
        .first()
        .copied()
        .ok_or_else(|| bad("the sink is not listening".into()))?;
    Ok((manager, sink, addr))
}

/// `memory-child <limited|unlimited> <samples>`: prints
/// `RESULT <rss KiB> <stored> <dropped>`.
pub(crate) fn flood_child(limited: bool, total: u64) -> tsercom::Result<()> {
    let limits = limited.then_some(MemoryLimits {
        per_caller: FLOOD_CAP,
        total: 4 * FLOOD_CAP,
    });
    let (mut manager, sink, addr) = start_sink(limits)?;
    let mut producers = RuntimeManager::new();
    let source: ProducerHandle<Sample, Ack> = producers.register(Source { peer: Some(addr) })?;
    producers.start_in_process()?;
    wait_for("the producer connects", || {
        source.callers().iter().any(|c| c.state.is_connected())
    })?;
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(1024);
        source.publish_many((sent..sent + n).map(sample).collect())?;
        sent += n;
    }
    wait_for("every sample arrives (stored or dropped)", || {
        sink.stats().inbound.received >= total
    })?;
    let stored: usize = sink.callers().iter().map(|c| c.stored).sum();
    let stats = sink.stats().inbound;
    println!(
        "RESULT {} {} {}",
        rss_kib(),
        stored,
        stats.dropped + stats.over_memory
    );
    producers.shutdown()?;
    manager.shutdown()?;
    Ok(())
}

fn flood_in_child(limited: bool, total: u64) -> tsercom::Result<(u64, u64, u64)> {
    let mode = if limited { "limited" } else { "unlimited" };
    let [rss, stored, dropped] = crate::child_result(
        &["memory-child", mode, &total.to_string()],
        &format!("memory child {mode}"),
    )?;
    Ok((rss as u64, stored as u64, dropped as u64))
}

/// The churn: `cycles` producers connect, send 10 samples, leave.
fn churn(cycles: usize) -> tsercom::Result<(u64, u64, usize)> {
    let (mut manager, sink, addr) = start_sink(Some(MemoryLimits::default()))?;
    let warm_up = (cycles / 10).max(1);
    let mut rss_warm = 0;
    let mut received = 0;
    for cycle in 0..cycles {
        if cycle == warm_up {
            rss_warm = rss_kib();
        }
        let mut producer = RuntimeManager::new();
        let source: ProducerHandle<Sample, Ack> = producer.register(Source { peer: Some(addr) })?;
        producer.start_in_process()?;
        source.publish_many((0..10).map(sample).collect())?;
        received += 10;
        wait_for("a cycle's samples arrive", || {
            sink.stats().inbound.received >= received
        })?;
        producer.shutdown()?;
        let _read = sink.data().take_new();
    }
    wait_for("every producer is shown gone", || {
        sink.callers().iter().all(|c| !c.state.is_connected())
    })?;
    let _read = sink.data().take_new();
    let left = sink.callers().len();
    let rss_end = rss_kib();
    manager.shutdown()?;
    Ok((rss_warm, rss_end, left))
}

/// The `memory` scenario.
pub(crate) fn run(total: u64, cycles: usize, json_path: Option<&str>) -> tsercom::Result<()> {
    let (rss_l, stored_l, dropped_l) = flood_in_child(true, total)?;
    let (rss_u, stored_u, dropped_u) = flood_in_child(false, total)?;
    println!("flood: {total} samples to an aggregator nobody reads (one producer, loopback)");
    println!(
        "{:<28} {:>12} {:>12} {:>12}",
        "aggregator", "RSS MB", "stored", "dropped"
    );
    for (what, rss, stored, dropped) in [
        ("16 MiB per caller", rss_l, stored_l, dropped_l),
        ("unlimited", rss_u, stored_u, dropped_u),
    ] {
        println!(
            "{what:<28} {:>12.1} {stored:>12} {dropped:>12}",
            rss as f64 / 1024.0
        );
    }
    let (rss_warm, rss_end, left) = churn(cycles)?;
    let per_cycle = (rss_end as f64 - rss_warm as f64) / cycles.max(1) as f64;
    println!(
        "churn: {cycles} producers connected, sent 10 samples and left: RSS {:.1} MB after warm-up, {:.1} MB at the end ({per_cycle:+.2} KiB per cycle); callers still tracked: {left}",
        rss_warm as f64 / 1024.0,
        rss_end as f64 / 1024.0
    );
    target_line(
        "flood: the capped aggregator drops (counted) instead of storing everything",
        total < 1_000_000 || dropped_l > 0,
    );
    target_line("churn: no caller left behind", left == 0);
    let json = vec![
        format!(
            "{{\"scenario\":\"memory\",\"measure\":\"flood\",\"samples\":{total},\"limited\":{{\"rss_kib\":{rss_l},\"stored\":{stored_l},\"dropped\":{dropped_l}}},\"unlimited\":{{\"rss_kib\":{rss_u},\"stored\":{stored_u},\"dropped\":{dropped_u}}}}}"
        ),
        format!(
            "{{\"scenario\":\"memory\",\"measure\":\"churn\",\"cycles\":{cycles},\"rss_warm_kib\":{rss_warm},\"rss_end_kib\":{rss_end},\"callers_left\":{left}}}"
        ),
    ];
    write_json(json_path, "memory", &json)
}
