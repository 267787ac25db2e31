//! tsercom's benchmark harness.
//!
//! Run: `cargo run --release -p tsercom-bench -- <handle|clock|reconnect|discovery|ingest|latency|scale|tensor|record|memory> [--samples N] [--cycles N] [--rounds N] [--producers K,K] [--seconds S] [--json FILE]`
//!
//! Scenarios:
//! - `handle`: samples/s through the handle path — a runtime pushes
//!   `Sample`s (timestamp + 4 doubles) as fast as it can, the user's thread
//!   takes them with `take_new()` until all arrived; in process and out of
//!   process (runtime in a child process, IPC over a Unix socket). Nothing
//!   is dropped (Block policy), so the number is sustained throughput.
//!
//! - `clock`: in-band clock sync over loopback against a server clock with
//!   an injected offset (0, +2.5 s, -1 s): final error, its RTT/2 bound, and
//!   the time until the estimate is within 50 µs.
//! - `reconnect`: a server stops and comes back on the same port; the time
//!   from "serving again" to the first sample received through the
//!   reconnecting connector.
//!
//! - `discovery`: publish → `Added` over real multicast between two
//!   network namespaces the harness creates (root; skipped otherwise).
//!
//! - `ingest`: K producers (1, 8, 64; `--producers 1,8`) → 1 aggregator on
//!   loopback, flood, `--samples` in all (default 400 000): samples/s
//!   until taken from the handle, tsercom's generated runtimes vs plain
//!   tonic, and the ratio.
//! - `latency`: the same, paced at 1 000 samples/s per producer for
//!   `--seconds` (default 5): push → taken p50 / p99 / p99.9, and ratios.
//! - `scale`: 1, 10, 100, 1 000 producers, flood: samples/s, RSS, CPU per
//!   sample, both ways.
//!
//! - `tensor`: a 1 M-element f32 tensor at 100 Hz with 1 % and 100 % of
//!   its elements changing per step (`--elements N`, `--steps S`): bytes
//!   on the wire, producer and receiver time, reconstruction latency and
//!   CPU per update for sparse, complete and LZ4 (in process).
//! - `record`: the `handle` flood in process with recording off and on
//!   (MCAP, zstd-3 and uncompressed chunks): ingest samples/s, the
//!   recorder's samples/s and drops, MB/s to the file, the compression
//!   ratio; medians of `--runs` (default 5) with their range.
//! - `memory`: what peers make an aggregator hold: a flood nobody reads
//!   (RSS and samples stored with a 16 MiB per-caller cap and unlimited,
//!   each in a child process) and a churn of `--cycles` producers that
//!   connect, send and leave (RSS growth, callers left).
//!
//! Each prints a table and writes JSON (default `target/bench-<scenario>.json`).

use std::time::{Duration, Instant};

use tsercom::data::Retention;
use tsercom::runtime::{
    BoxFuture, Endpoint, Runtime, RuntimeContext, RuntimeInitializer, StopReason,
};
use tsercom::{CallerId, OverflowPolicy, RuntimeConfig, RuntimeManager, Timestamp, To};

mod bench {
    tsercom::include_proto!("bench");
}
mod discovery;
mod memory;
mod net;
mod plain;
mod record;
mod stream;
mod tensor;

/// The `i`-th sample of a handle run: timestamped `i` ns after a fixed
/// base, values counting up.
fn nth_sample(i: u64) -> tsercom::Result<(Timestamp, bench::Sample)> {
    let t = Timestamp::new(1_700_000_000, 0)?.offset_by_nanos(i128::from(i))?;
    let x = i as f64;
    let sample = bench::Sample {
        timestamp: Some(t.to_proto()),
        a: x,
        b: x + 1.0,
        c: x + 2.0,
        d: x + 3.0,
    };
    Ok((t, sample))
}

/// A runtime that, on the first event, pushes `samples` samples.
struct Flood {
    samples: u64,
}

struct Flooding {
    ctx: RuntimeContext<bench::Sample, f64>,
    samples: u64,
}

impl RuntimeInitializer for Flood {
    type Inbound = bench::Sample;
    type Outbound = f64;
    type Handle = tsercom::RuntimeHandle<bench::Sample, f64>;

    fn name(&self) -> String {
        "flood".into()
    }

    fn config(&self) -> tsercom::Result<RuntimeConfig> {
        Ok(RuntimeConfig::default()
            .with_retention(Retention {
                max_samples: 65_536,
                max_age: None,
            })
            .with_data_policy(OverflowPolicy::Block))
    }

    fn create(
        &mut self,
        ctx: RuntimeContext<bench::Sample, f64>,
    ) -> tsercom::Result<Box<dyn Runtime>> {
        Ok(Box::new(Flooding {
            ctx,
            samples: self.samples,
        }))
    }
}

impl Runtime for Flooding {
    fn start(&mut self) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            // Same id in the parent and in a child process.
            let caller = CallerId::parse("00000000-0000-4000-8000-00000000beef")?;
            let endpoint: Endpoint<bench::Sample, f64> = self.ctx.register_caller(caller, None);
            let samples = self.samples;
            self.ctx.spawn(async move {
                // Wait for "go" so that start-up is not measured.
                endpoint.next_event().await;
                for i in 0..samples {
                    let (t, sample) = nth_sample(i)?;
                    endpoint.push(sample, t).await?;
                }
                // Keep the endpoint (and the caller) until shutdown.
                while endpoint.next_event().await.is_some() {}
                Ok(())
            });
            Ok(())
        })
    }

    fn stop(&mut self, _: StopReason) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

struct Measured {
    mode: &'static str,
    samples: u64,
    elapsed: Duration,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.samples as f64 / self.elapsed.as_secs_f64()
    }
}

fn run(mode: &'static str, samples: u64, out_of_process: bool) -> tsercom::Result<Measured> {
    let mut manager = RuntimeManager::new();
    if out_of_process {
        manager = manager.with_child_args(["handle-child", "--samples", &samples.to_string()]);
    }
    let handle = manager.register(Flood { samples })?;
    if out_of_process {
        manager.start_out_of_process()?;
    } else {
        manager.start_in_process()?;
    }
    // Wait for the caller to be registered (it is by the time start returns
    // in process; out of process its registration frame may trail).
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.callers().is_empty() {
        if Instant::now() > deadline {
            return Err(tsercom::Error::WrongState(
                "the benchmark caller never registered",
            ));
        }
        std::thread::yield_now();
    }
    let start = Instant::now();
    handle.send(1.0, To::All)?;
    let mut got = 0u64;
    let mut last = None;
    while got < samples {
        if !handle.received().wait_new(Duration::from_secs(30)) {
            manager.check_error()?;
            return Err(tsercom::Error::WrongState("no data for 30 s"));
        }
        for (_, batch) in handle.received().take_new() {
            got += batch.len() as u64;
            last = batch.last().map(|s| s.data.a);
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(last, Some((samples - 1) as f64), "samples arrive in order");
    let stats = handle.stats();
    if stats.inbound.dropped != 0 {
        return Err(tsercom::Error::WrongState(
            "samples were dropped under the Block policy",
        ));
    }
    manager.shutdown()?;
    Ok(Measured {
        mode,
        samples,
        elapsed,
    })
}

/// The `handle` baseline: what a user writes without tsercom to get
/// samples from a network task to their thread — a bounded tokio channel,
/// `send().await` on a runtime task, `blocking_recv()` on the user's thread
/// (no per-caller store, no queries).
fn channel_baseline(samples: u64) -> tsercom::Result<Measured> {
    let rt = runtime()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bench::Sample>(65_536);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        if go_rx.await.is_err() {
            return;
        }
        for i in 0..samples {
            let Ok((_, sample)) = nth_sample(i) else {
                return;
            };
            if tx.send(sample).await.is_err() {
                return;
            }
        }
    });
    let start = Instant::now();
    let _ = go_tx.send(());
    let mut got = 0u64;
    while got < samples {
        if rx.blocking_recv().is_none() {
            return Err(tsercom::Error::WrongState(
                "the baseline channel closed early",
            ));
        }
        got += 1;
    }
    let elapsed = start.elapsed();
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(Measured {
        mode: "plain channel",
        samples,
        elapsed,
    })
}

pub(crate) fn runtime() -> tsercom::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| tsercom::Error::Io {
            path: "tokio runtime".into(),
            source,
        })
}

fn write_json(args: &[String], scenario: &str, rows: &[String]) -> tsercom::Result<()> {
    let path = arg_value(args, "--json").unwrap_or_else(|| format!("target/bench-{scenario}.json"));
    std::fs::write(&path, format!("[{}]\n", rows.join(","))).map_err(|source| {
        tsercom::Error::Io {
            path: path.clone().into(),
            source,
        }
    })?;
    println!("wrote {path}");
    Ok(())
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> tsercom::Result<()> {
    // `TSERCOM_BENCH_LOG=debug` (or info, trace): the runtimes' logs on
    // stderr, for a scenario that does not finish.
    if let Some(level) = std::env::var("TSERCOM_BENCH_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
    {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let samples: u64 = arg_value(&args, "--samples")
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| tsercom::Error::Invalid {
            what: "--samples",
            reason: format!("{e}"),
        })?
        .unwrap_or(2_000_000);
    match args.first().map(String::as_str) {
        // The child process of the out-of-process run: straight to the
        // same registration, where start_out_of_process() takes over.
        Some("handle-child") => {
            run("out-of-process", samples, true)?;
            Ok(())
        }
        Some("handle") => {
            let results = [
                run("in-process", samples, false)?,
                run("out-of-process", samples, true)?,
                channel_baseline(samples)?,
            ];
            println!(
                "{:<16} {:>12} {:>12} {:>16}",
                "handle path", "samples", "seconds", "samples/s"
            );
            for r in &results {
                println!(
                    "{:<16} {:>12} {:>12.3} {:>16.0}",
                    r.mode,
                    r.samples,
                    r.elapsed.as_secs_f64(),
                    r.rate()
                );
            }
            println!(
                "in process: {:.2}× the plain channel",
                results[0].rate() / results[2].rate()
            );
            for (r, target) in results.iter().zip([2_000_000.0, 500_000.0]) {
                target_line(
                    &format!("{} ≥ {target:.0} samples/s", r.mode),
                    r.rate() >= target,
                );
            }
            let json_path =
                arg_value(&args, "--json").unwrap_or_else(|| "target/bench-handle.json".into());
            let rows: Vec<String> = results
                .iter()
                .map(|r| {
                    format!(
                        "{{\"scenario\":\"handle\",\"mode\":\"{}\",\"samples\":{},\"seconds\":{:.6},\"samples_per_second\":{:.0}}}",
                        r.mode,
                        r.samples,
                        r.elapsed.as_secs_f64(),
                        r.rate()
                    )
                })
                .collect();
            let json = format!("[{}]\n", rows.join(","));
            std::fs::write(&json_path, json).map_err(|source| tsercom::Error::Io {
                path: json_path.clone().into(),
                source,
            })?;
            println!("wrote {json_path}");
            Ok(())
        }
        Some(scenario @ ("ingest" | "latency" | "scale")) => streams(scenario, &args),
        Some("record") => record::run(&args),
        Some("memory") => memory::run(&args),
        Some("memory-child") => memory::flood_child(&args),
        Some("scale-child") => scale_child(&args),
        Some("discovery-publish") => discovery::child_publish(),
        Some("discovery-browse") => discovery::child_browse(),
        Some("discovery-producer") => discovery::child_producer(),
        Some("discovery-aggregator") => discovery::child_aggregator(),
        Some("discovery") => {
            let rounds: usize = arg_value(&args, "--rounds")
                .and_then(|r| r.parse().ok())
                .unwrap_or(5);
            let Some(times) = discovery::run(rounds)? else {
                return Ok(());
            };
            let summary = |d: &[Duration]| {
                let mut ms: Vec<f64> = d.iter().map(|d| d.as_secs_f64() * 1e3).collect();
                ms.sort_by(f64::total_cmp);
                (
                    ms.get(ms.len() / 2).copied().unwrap_or_default(),
                    ms.last().copied().unwrap_or_default(),
                )
            };
            println!(
                "{:<44} {:>8} {:>12} {:>10}",
                "2 namespaces, veth, real multicast", "rounds", "median ms", "max ms"
            );
            let mut json = Vec::new();
            for (what, key, d) in [
                ("publish → Added (mdns-sd browser)", "added", &times.added),
                (
                    "publish → first sample (generated runtimes)",
                    "first_sample",
                    &times.first_sample,
                ),
            ] {
                let (median, max) = summary(d);
                println!("{what:<44} {rounds:>8} {median:>12.1} {max:>10.1}");
                if key == "first_sample" {
                    target_line("discovery → first sample < 1.5 s (max)", max < 1500.0);
                }
                json.push(format!(
                    "{{\"scenario\":\"discovery\",\"measure\":\"{key}\",\"rounds\":{rounds},\"median_ms\":{median:.1},\"max_ms\":{max:.1}}}"
                ));
            }
            write_json(&args, "discovery", &json)
        }
        Some("clock") => {
            let rt = runtime()?;
            let mut rows = Vec::new();
            for offset in [0_i128, 2_500_000_000, -1_000_000_000] {
                rows.push(rt.block_on(net::clock(offset))?);
                rows.push(rt.block_on(net::clock_sntp(offset))?);
            }
            println!(
                "{:<14} {:>12} {:>12} {:>14} {:>16}",
                "method", "injected ms", "error µs", "bound µs", "converged ms"
            );
            let mut json = Vec::new();
            for r in &rows {
                let converged = r
                    .converged_ms
                    .map_or("never".to_owned(), |c| format!("{c:.1}"));
                println!(
                    "{:<14} {:>12.1} {:>12.1} {:>14.1} {:>16}",
                    r.method, r.injected_ms, r.error_us, r.bound_us, converged
                );
                json.push(format!(
                    "{{\"scenario\":\"clock\",\"method\":\"{}\",\"injected_ms\":{},\"error_us\":{:.1},\"bound_us\":{:.1},\"converged_ms\":{}}}",
                    r.method,
                    r.injected_ms,
                    r.error_us,
                    r.bound_us,
                    r.converged_ms.map_or("null".to_owned(), |c| format!("{c:.1}"))
                ));
            }
            for r in &rows {
                target_line(
                    &format!(
                        "{} at {} ms: error < 50 µs, converged within 1 s",
                        r.method, r.injected_ms
                    ),
                    r.error_us < 50.0 && r.converged_ms.is_some_and(|c| c <= 1000.0),
                );
            }
            write_json(&args, "clock", &json)
        }
        Some("reconnect") => {
            let rounds: usize = arg_value(&args, "--rounds")
                .and_then(|r| r.parse().ok())
                .unwrap_or(5);
            let rt = runtime()?;
            let summary = |times: &[Duration]| {
                let mut sorted: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
                sorted.sort_by(f64::total_cmp);
                (
                    sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
                    sorted.last().copied().unwrap_or_default(),
                )
            };
            let (median, max) = summary(&rt.block_on(net::reconnect(rounds))?);
            let (tonic_median, tonic_max) = summary(&rt.block_on(net::reconnect_tonic(rounds))?);
            println!(
                "{:<44} {:>8} {:>12} {:>10}",
                "reconnect → flowing (backoff 50–500 ms)", "rounds", "median ms", "max ms"
            );
            println!(
                "{:<44} {rounds:>8} {median:>12.1} {max:>10.1}",
                "tsercom (spawn_connection, handshake)"
            );
            println!(
                "{:<44} {rounds:>8} {tonic_median:>12.1} {tonic_max:>10.1}",
                "plain tonic (retry loop)"
            );
            target_line("reconnect → flowing < 1 s (max)", max < 1000.0);
            let json = vec![format!(
                "{{\"scenario\":\"reconnect\",\"rounds\":{rounds},\"median_ms\":{median:.1},\"max_ms\":{max:.1},\"tonic_median_ms\":{tonic_median:.1},\"tonic_max_ms\":{tonic_max:.1}}}"
            )];
            write_json(&args, "reconnect", &json)
        }
        Some("tensor") => {
            let number = |name: &str, default: usize| -> tsercom::Result<usize> {
                arg_value(&args, name)
                    .map(|s| s.parse())
                    .transpose()
                    .map_err(|e| tsercom::Error::Invalid {
                        what: "tensor option",
                        reason: format!("{name}: {e}"),
                    })
                    .map(|v| v.unwrap_or(default))
            };
            let json = tensor::run(number("--elements", 1_000_000)?, number("--steps", 100)?)?;
            write_json(&args, "tensor", &json)
        }
        _ => {
            eprintln!(
                "usage: tsercom-bench <handle|clock|reconnect|discovery|ingest|latency|scale|tensor|record> [--samples N] [--rounds N] [--producers K,K] [--seconds S] [--json FILE]"
            );
            Err(tsercom::Error::Invalid {
                what: "scenario",
                reason: format!(
                    "{:?} (valid: handle, clock, reconnect, discovery, ingest, latency, scale, tensor, record)",
                    args.first()
                ),
            })
        }
    }
}

/// `ingest`, `latency`, `scale`: each K through tsercom and plain tonic.
fn streams(scenario: &str, args: &[String]) -> tsercom::Result<()> {
    let default_ks: &[usize] = match scenario {
        "scale" => &[1, 10, 100, 1000],
        _ => &[1, 8, 64],
    };
    let ks: Vec<usize> = match arg_value(args, "--producers") {
        Some(list) => list
            .split(',')
            .map(|k| k.trim().parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|e| tsercom::Error::Invalid {
                what: "--producers",
                reason: format!("{list:?}: {e}"),
            })?,
        None => default_ks.to_vec(),
    };
    let seconds: u64 = arg_value(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let samples: Option<u64> = arg_value(args, "--samples").and_then(|s| s.parse().ok());
    let mut json = Vec::new();
    let mut verdicts: Vec<(String, bool)> = Vec::new();
    let mut scale_rows: Vec<(usize, u64, f64)> = Vec::new();
    match scenario {
        "latency" => println!(
            "{:>5} {:>8} | {:>7} {:>7} {:>8} | {:>9} {:>7} | {:>9} {:>7} | {:>6}",
            "prod.",
            "samples",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "thr. p50",
            "p99",
            "tasks p50",
            "p99",
            "p99 ×"
        ),
        _ => println!(
            "{:>5} {:>8} | {:>10} {:>7} {:>7} | {:>10} {:>7} | {:>10} {:>7} | {:>6} {:>6}",
            "prod.",
            "samples",
            "tsercom/s",
            "RSS MiB",
            "CPU µs",
            "thread/s",
            "CPU µs",
            "tasks/s",
            "CPU µs",
            "×thr",
            "×tasks"
        ),
    }
    for &k in &ks {
        let (pace, total) = match scenario {
            "latency" => (
                stream::Pace::PerSecond(1000),
                samples.unwrap_or(k as u64 * 1000 * seconds),
            ),
            "scale" => (
                stream::Pace::Flood,
                samples.unwrap_or((k as u64 * 1000).max(200_000)),
            ),
            _ => (stream::Pace::Flood, samples.unwrap_or(400_000)),
        };
        // The baselines first (tasks only, then driven from threads as
        // tsercom's users do), then tsercom. `scale` runs each in a fresh
        // child process, so that RSS is that side's alone.
        let (tasks, tonic, ours) = if scenario == "scale" {
            (
                in_child("tasks", k, total)?,
                in_child("tonic", k, total)?,
                in_child("tsercom", k, total)?,
            )
        } else {
            (
                plain::run(plain::Drive::Tasks, k, total, pace)?,
                plain::run(plain::Drive::Threads, k, total, pace)?,
                stream::tsercom_run(k, total, pace, 0)?,
            )
        };
        // tsercom again with acknowledged delivery off: its cost.
        let unacked = if scenario == "scale" {
            None
        } else {
            stream::ACKNOWLEDGED.store(false, std::sync::atomic::Ordering::Relaxed);
            let run = stream::tsercom_run(k, total, pace, 0);
            stream::ACKNOWLEDGED.store(true, std::sync::atomic::Ordering::Relaxed);
            Some(run?)
        };
        let per_sample_us = |o: &stream::Outcome| o.cpu_s * 1e6 / o.samples as f64;
        if scenario == "latency" {
            let [p50, p99, p999] = ours.percentiles_us();
            let [t50, t99, t999] = tonic.percentiles_us();
            let [a50, a99, a999] = tasks.percentiles_us();
            let p99_ratio = p99 / a99.max(f64::MIN_POSITIVE);
            let [u50, u99, _] = unacked
                .as_ref()
                .map_or([0.0; 3], stream::Outcome::percentiles_us);
            println!(
                "{k:>5} {total:>8} | {p50:>7.0} {p99:>7.0} {p999:>8.0} | {t50:>9.0} {t99:>7.0} | {a50:>9.0} {a99:>7.0} | {p99_ratio:>6.2} | unacked p50 {u50:.0} p99 {u99:.0}"
            );
            verdicts.push((
                format!("{k} producers: p99 ≤ 1.2× plain tonic, tasks only"),
                p99_ratio <= 1.2,
            ));
            json.push(format!(
                "{{\"scenario\":\"latency\",\"producers\":{k},\"samples\":{total},\"tsercom_us\":{{\"p50\":{p50:.1},\"p99\":{p99:.1},\"p999\":{p999:.1}}},\"tonic_us\":{{\"p50\":{t50:.1},\"p99\":{t99:.1},\"p999\":{t999:.1}}},\"tonic_tasks_us\":{{\"p50\":{a50:.1},\"p99\":{a99:.1},\"p999\":{a999:.1}}},\"p99_ratio\":{p99_ratio:.3},\"tsercom_unacknowledged_us\":{{\"p50\":{u50:.1},\"p99\":{u99:.1}}}}}"
            ));
        } else {
            let ratio = ours.rate() / tonic.rate();
            let tasks_ratio = ours.rate() / tasks.rate();
            let unacked_rate = unacked.as_ref().map_or(0.0, stream::Outcome::rate);
            println!(
                "{:>5} {:>8} | {:>10.0} {:>7.1} {:>7.2} | {:>10.0} {:>7.2} | {:>10.0} {:>7.2} | {:>6.2} {:>6.2} | unacked {:>10.0}/s",
                k,
                total,
                ours.rate(),
                ours.rss_kib as f64 / 1024.0,
                per_sample_us(&ours),
                tonic.rate(),
                per_sample_us(&tonic),
                tasks.rate(),
                per_sample_us(&tasks),
                ratio,
                tasks_ratio,
                unacked_rate
            );
            if scenario == "ingest" {
                verdicts.push((
                    format!("{k} producers: ≥ 0.9× plain tonic, tasks only"),
                    tasks_ratio >= 0.9,
                ));
            }
            scale_rows.push((k, ours.rss_kib, per_sample_us(&ours)));
            json.push(format!(
                "{{\"scenario\":\"{scenario}\",\"producers\":{k},\"samples\":{total},\"tsercom\":{{\"samples_per_second\":{:.0},\"rss_kib\":{},\"cpu_us_per_sample\":{:.3}}},\"tonic\":{{\"samples_per_second\":{:.0},\"rss_kib\":{},\"cpu_us_per_sample\":{:.3}}},\"tonic_tasks\":{{\"samples_per_second\":{:.0},\"rss_kib\":{},\"cpu_us_per_sample\":{:.3}}},\"ratio\":{ratio:.3},\"tasks_ratio\":{tasks_ratio:.3},\"tsercom_unacknowledged_samples_per_second\":{unacked_rate:.0}}}",
                ours.rate(),
                ours.rss_kib,
                per_sample_us(&ours),
                tonic.rate(),
                tonic.rss_kib,
                per_sample_us(&tonic),
                tasks.rate(),
                tasks.rss_kib,
                per_sample_us(&tasks),
            ));
        }
    }
    if scenario == "scale"
        && let (Some(first), Some(last)) = (scale_rows.first(), scale_rows.last())
    {
        verdicts.push((
            format!("{} producers: RSS < 300 MB", last.0),
            (last.1 as f64) * 1024.0 < 300e6,
        ));
        verdicts.push((
            format!(
                "cost per sample flat (within 25 %) from {} to {} producers: {:.2} → {:.2} µs",
                first.0, last.0, first.2, last.2
            ),
            last.2 <= first.2 * 1.25,
        ));
    }
    for (what, met) in &verdicts {
        target_line(what, *met);
    }
    write_json(args, scenario, &json)
}

/// Prints whether a target (BENCHMARKS.md) is met; reported, not asserted.
fn target_line(what: &str, met: bool) {
    println!("target {what}: {}", if met { "met" } else { "MISSED" });
}

/// `scale-child <tsercom|tonic> <k> <total>`: one flood run, printed as
/// `RESULT <samples> <seconds> <rss KiB> <cpu s>`.
fn scale_child(args: &[String]) -> tsercom::Result<()> {
    let bad = |what: &str| tsercom::Error::Invalid {
        what: "scale-child",
        reason: format!("{what}: usage scale-child <tsercom|tonic|tasks> <k> <total>"),
    };
    let k: usize = args
        .get(2)
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| bad("k"))?;
    let total: u64 = args
        .get(3)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| bad("total"))?;
    let outcome = match args.get(1).map(String::as_str) {
        Some("tsercom") => stream::tsercom_run(k, total, stream::Pace::Flood, 1024)?,
        Some("tonic") => plain::run(plain::Drive::Threads, k, total, stream::Pace::Flood)?,
        Some("tasks") => plain::run(plain::Drive::Tasks, k, total, stream::Pace::Flood)?,
        _ => return Err(bad("side")),
    };
    println!(
        "RESULT {} {:.6} {} {:.3}",
        outcome.samples,
        outcome.elapsed.as_secs_f64(),
        outcome.rss_kib,
        outcome.cpu_s
    );
    Ok(())
}

/// Runs one `scale` side in a child process of this executable.
fn in_child(side: &str, k: usize, total: u64) -> tsercom::Result<stream::Outcome> {
    let exe = std::env::current_exe().map_err(|source| tsercom::Error::Io {
        path: "current executable".into(),
        source,
    })?;
    let out = std::process::Command::new(exe)
        .args(["scale-child", side, &k.to_string(), &total.to_string()])
        .output()
        .map_err(|source| tsercom::Error::Io {
            path: "scale child".into(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| tsercom::Error::Invalid {
            what: "scale child",
            reason: format!(
                "{side} k={k}: no result ({}); stderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })?;
    let f: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_default()
    };
    Ok(stream::Outcome {
        samples: num(1) as u64,
        elapsed: Duration::from_secs_f64(num(2)),
        latencies: Vec::new(),
        rss_kib: num(3) as u64,
        cpu_s: num(4),
    })
}
