//! `ingest`, `latency`, `scale`: K producers → 1 aggregator on loopback,
//! the same workload through tsercom's generated runtimes
//! (`#[tsercom::runtime]` on `bench.Feed`) and through plain tonic (the
//! same proto and stream shape, `plain.rs`: driven from threads as
//! tsercom's users do, and tasks only, the practical limit), in one
//! process run, so the ratios hold on a noisy machine.
//!
//! Shape, both ways: each producer hosts `Feed.Subscribe`; the aggregator
//! dials every producer and opens the stream; the user's pusher thread
//! hands samples (`ServerTimestamp` + 4 doubles) to the producers; the
//! user's taker thread takes them from the aggregator until all arrived.
//! Nothing is dropped (Block policies / bounded channels that wait).
//! `a` carries the push time (ns since the run's epoch, monotonic) for
//! latency.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tsercom::data::Retention;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{
    AggregatorHandle, CallerId, OverflowPolicy, ProducerHandle, QueueConfig, RuntimeManager,
};

use crate::bench::{self, Ack, Sample};

/// Queue depth on every hop, both ways.
pub(crate) const DEPTH: usize = 4096;
/// No run waits longer than this for anything.
pub(crate) const LIMIT: Duration = Duration::from_secs(120);

static EPOCH: OnceLock<Instant> = OnceLock::new();

pub(crate) fn mono_nanos() -> f64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as f64
}

pub(crate) fn sample(i: u64) -> Sample {
    Sample {
        timestamp: None,
        a: mono_nanos(),
        b: i as f64,
        c: 0.5,
        d: -0.5,
    }
}

/// How the pusher feeds the producers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pace {
    /// As fast as the pipeline takes them.
    Flood,
    /// This many samples per second per producer.
    PerSecond(u32),
}

/// One run's result.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub(crate) samples: u64,
    pub(crate) elapsed: Duration,
    /// Push → taken, nanoseconds, every sample (latency runs) or empty.
    pub(crate) latencies: Vec<f64>,
    /// Resident set once every producer was connected, before the first
    /// sample, KiB (the process: both sides): the cost of the connections,
    /// not of the data in flight or kept.
    pub(crate) rss_kib: u64,
    /// CPU seconds (user + system) the run used.
    pub(crate) cpu_s: f64,
    /// Cores other processes used on average during the run
    /// (`quiet::Load`): above `quiet::DISTURBED_CORES` it was disturbed.
    pub(crate) others: f64,
}

impl Outcome {
    pub(crate) fn rate(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64()
    }

    /// p50, p99 and p99.9 of the latencies, µs (one sort).
    pub(crate) fn percentiles_us(&self) -> [f64; 3] {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        [0.5, 0.99, 0.999].map(|q| {
            let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(i).copied().unwrap_or_default() / 1e3
        })
    }
}

/// What a run measures from the moment every producer is connected.
pub(crate) struct Meter {
    rss_kib: u64,
    cpu_s: f64,
    load: crate::quiet::Load,
    start: Instant,
}

impl Meter {
    pub(crate) fn start() -> Self {
        Meter {
            rss_kib: rss_kib(),
            cpu_s: cpu_seconds(),
            load: crate::quiet::Load::now(),
            start: Instant::now(),
        }
    }

    pub(crate) fn finish(self, samples: u64, latencies: Vec<f64>) -> Outcome {
        Outcome {
            samples,
            elapsed: self.start.elapsed(),
            latencies,
            rss_kib: self.rss_kib,
            cpu_s: cpu_seconds() - self.cpu_s,
            others: self.load.others_since(),
        }
    }
}

/// The process's resident set, KiB.
pub(crate) fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_default()
}

/// CPU seconds (user + system) used by the process so far.
pub(crate) fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second
    // on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or_default()
}

/// `k` distinct loopback ports free now, for `tsercom_run`, which registers
/// the producers and the collector dialing them in one manager (one tokio
/// runtime, as the baselines have), so the collector must know the ports
/// before anything listens.
pub(crate) fn free_addrs(k: usize) -> tsercom::Result<Vec<SocketAddr>> {
    // Held together so that no two are the same; freed before serving.
    let listeners: Vec<std::net::TcpListener> = (0..k)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(|source| tsercom::Error::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr().map_err(|source| tsercom::Error::Io {
                path: "local address".into(),
                source,
            })
        })
        .collect()
}

/// Pushes `total` samples across `k` producers with `push(producer, s)`,
/// round robin, paced or not; returns when done (or `stop` is set).
pub(crate) fn pusher(
    k: usize,
    total: u64,
    pace: Pace,
    stop: &AtomicBool,
    mut push: impl FnMut(usize, Sample) -> bool,
) {
    let start = Instant::now();
    let mut sent = 0u64;
    let mut tick = 0u64;
    while sent < total && !stop.load(Ordering::Relaxed) {
        if let Pace::PerSecond(rate) = pace {
            // One sample per producer per tick.
            let due = start + Duration::from_secs_f64(tick as f64 / f64::from(rate.max(1)));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait); // pacing: the workload, not a wait for an event
            }
            tick += 1;
        }
        for p in 0..k {
            if sent >= total {
                break;
            }
            if !push(p, sample(sent)) {
                return;
            }
            sent += 1;
        }
    }
}

/// Samples a flooding pusher hands a tsercom producer at once
/// (`publish_many`); a paced pusher hands one per producer per tick.
pub(crate) const BATCH: usize = 64;

/// [`pusher`], handing each producer up to [`BATCH`] samples at once when
/// flooding: `push(producer, samples)`.
pub(crate) fn batch_pusher(
    k: usize,
    total: u64,
    pace: Pace,
    stop: &AtomicBool,
    mut push: impl FnMut(usize, Vec<Sample>) -> bool,
) {
    if let Pace::PerSecond(_) = pace {
        return pusher(k, total, pace, stop, |p, s| push(p, vec![s]));
    }
    let mut sent = 0u64;
    let mut p = 0;
    while sent < total && !stop.load(Ordering::Relaxed) {
        let n = (total - sent).min(BATCH as u64);
        let batch: Vec<Sample> = (sent..sent + n).map(sample).collect();
        if !push(p, batch) {
            return;
        }
        sent += n;
        p = (p + 1) % k;
    }
}

// ------------------------------------------------------------- tsercom ----

/// `config` with delivery acknowledged (as shipped) or not (to show what
/// acknowledgments cost).
fn delivery(config: RuntimeConfig, acknowledged: bool) -> RuntimeConfig {
    if acknowledged {
        config
    } else {
        config.with_delivery(tsercom::delivery::DeliveryConfig::unacknowledged())
    }
}

/// A producer, as a user writes it.
#[tsercom::runtime(producer, listen = self.listen, service = bench::Feed, data = Sample, event = Ack, hooks)]
#[derive(Default)]
pub(crate) struct Producer {
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) publish: Option<String>,
    /// Acknowledged delivery off.
    pub(crate) unacknowledged: bool,
}

impl Hooks for Producer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        let mut config = delivery(config, !self.unacknowledged)
            .with_identity(Identity::Fixed(CallerId::random()))
            .with_events(QueueConfig::new(DEPTH, OverflowPolicy::Block));
        if let Some(service_type) = &self.publish {
            config.discovery.publish = Some((service_type.clone(), "bench".into()));
        }
        config
    }
}

/// The aggregator, as a user writes it.
#[tsercom::runtime(aggregator, peers = self.peers, service = bench::Feed, data = Sample, event = Ack, hooks)]
#[derive(Default)]
pub(crate) struct Collector {
    pub(crate) peers: Vec<SocketAddr>,
    /// Samples kept per producer (0: 65 536).
    pub(crate) keep: usize,
    /// Acknowledged delivery off.
    pub(crate) unacknowledged: bool,
}

impl Hooks for Collector {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        collector_config(config, self.keep, !self.unacknowledged)
    }
}

/// The aggregators' settings: a fresh id, `keep` samples per producer (0:
/// 65 536), blocking (nothing dropped in a measurement), delivery
/// acknowledged or not.
pub(crate) fn collector_config(
    config: RuntimeConfig,
    keep: usize,
    acknowledged: bool,
) -> RuntimeConfig {
    delivery(config, acknowledged)
        .with_identity(Identity::Fixed(CallerId::random()))
        .with_retention(Retention {
            max_samples: if keep == 0 { 1 << 16 } else { keep },
            max_age: None,
        })
        .with_data_policy(OverflowPolicy::Block)
}

pub(crate) fn wait_for(what: &'static str, mut done: impl FnMut() -> bool) -> tsercom::Result<()> {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        if Instant::now() > deadline {
            return Err(tsercom::Error::WrongState(what));
        }
        std::thread::sleep(Duration::from_millis(5)); // set-up, not measured
    }
    Ok(())
}

/// Drains `total` samples from the handle; latencies when asked.
fn take_all(
    collector: &AggregatorHandle<Sample, Ack>,
    manager: &RuntimeManager,
    total: u64,
    latencies: bool,
) -> tsercom::Result<Vec<f64>> {
    let mut got = 0u64;
    let mut lat = Vec::new();
    let deadline = Instant::now() + LIMIT;
    while got < total {
        if Instant::now() > deadline {
            return Err(tsercom::Error::WrongState(
                "the run exceeded its time bound",
            ));
        }
        if !collector.data().wait_new(Duration::from_secs(1)) {
            manager.check_error()?;
            continue;
        }
        for (_, batch) in collector.data().take_new() {
            got += batch.len() as u64;
            if latencies {
                let now = mono_nanos();
                lat.extend(batch.iter().map(|s| now - s.data.a));
            }
        }
    }
    Ok(lat)
}

/// `k` generated producers and one generated aggregator in one manager.
///
/// `keep`: samples the aggregator keeps per producer for queries (0: the
/// default 65 536); `scale` keeps 1 024 so that RSS shows the cost of a
/// connection, not of the data kept.
pub(crate) fn tsercom_run(
    k: usize,
    total: u64,
    pace: Pace,
    keep: usize,
    acknowledged: bool,
) -> tsercom::Result<Outcome> {
    let addrs = free_addrs(k)?;
    let mut manager = RuntimeManager::new().with_worker_threads(
        std::env::var("W")
            .ok()
            .and_then(|w| w.parse().ok())
            .unwrap_or(2),
    );
    let producers: Vec<ProducerHandle<Sample, Ack>> = addrs
        .iter()
        .map(|a| {
            manager.register(Producer {
                listen: Some(*a),
                publish: None,
                unacknowledged: !acknowledged,
            })
        })
        .collect::<tsercom::Result<_>>()?;
    let collector = manager.register(Collector {
        peers: addrs.clone(),
        keep,
        unacknowledged: !acknowledged,
    })?;
    manager.start_in_process()?;
    wait_for("producers connected", || {
        producers.iter().all(|p| !p.callers().is_empty()) && collector.callers().len() == k
    })?;

    let meter = Meter::start();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // Not scoped: on an error the pusher may wait on a full queue, and the
    // shutdown below (which closes the queues) is what ends it.
    let push_handles = producers.clone();
    let push_stop = std::sync::Arc::clone(&stop);
    let pushing = std::thread::spawn(move || {
        batch_pusher(k, total, pace, &push_stop, |p, samples| {
            push_handles[p].publish_many(samples).is_ok()
        });
    });
    let latencies = take_all(
        &collector,
        &manager,
        total,
        matches!(pace, Pace::PerSecond(_)),
    );
    stop.store(true, Ordering::Relaxed);
    let latencies = match latencies {
        Ok(l) => l,
        Err(e) => {
            let _ = manager.shutdown();
            let _ = pushing.join();
            return Err(e);
        }
    };
    let _ = pushing.join();
    let outcome = meter.finish(total, latencies);
    if collector.stats().inbound.dropped != 0 {
        return Err(tsercom::Error::WrongState("samples dropped under Block"));
    }
    manager.shutdown()?;
    Ok(outcome)
}
