//! tsercom's benchmark harness: `cargo run --release -p tsercom-bench --
//! <scenario> [options]` (`--help` lists the scenarios, `<scenario>
//! --help` their options).
//!
//! Each scenario prints a table and `target …: met / MISSED` lines (the
//! targets of BENCHMARKS.md, reported, not asserted), and writes JSON
//! (default `target/bench-<scenario>.json`). Where several sides are
//! compared, they run interleaved in the same invocation, each run repeated
//! when other load on the machine disturbed it (`quiet`), and the tables
//! show medians with their range.

use std::time::Duration;

use clap::{Parser, Subcommand};

mod bench {
    tsercom::include_proto!("bench");
}
mod compare;
mod discovery;
mod handle;
mod memory;
mod net;
mod plain;
mod plot;
mod quiet;
mod record;
mod stream;
mod tensor;
mod wakeup;

#[derive(Parser)]
#[command(
    name = "tsercom-bench",
    about = "tsercom's benchmark harness: tsercom against plain tonic and plain channels, in one run",
    after_help = "Each scenario prints a table and `target …: met / MISSED` lines, and writes JSON (--json, default target/bench-<scenario>.json). Run a release build: cargo run --release -p tsercom-bench -- <scenario>."
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

/// Where the JSON goes.
#[derive(clap::Args)]
struct Json {
    /// The JSON file to write (default `target/bench-<scenario>.json`).
    #[arg(long)]
    json: Option<String>,
}

/// Which sides of a comparison run, and with how many worker threads.
#[derive(clap::Args)]
struct Sides {
    /// Tokio worker threads of every side's runtime (tsercom's default: 2).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Only these sides (for a profiler or an A/B; the targets need tasks
    /// and tsercom): tasks, tonic, tsercom, unacknowledged, and tonic with
    /// only its pusher (push-thread) or only its taker (take-thread) on a
    /// user thread; comma-separated.
    #[arg(long = "sides", value_delimiter = ',', value_parser = parse_side)]
    only: Vec<compare::Side>,
}

fn parse_side(key: &str) -> Result<compare::Side, String> {
    compare::Side::from_key(key).ok_or_else(|| {
        format!("{key:?}: one of tasks, tonic, tsercom, unacknowledged, push-thread, take-thread")
    })
}

#[derive(Subcommand)]
enum Scenario {
    /// Samples/s through the handle path: a runtime floods, the user's
    /// thread takes; in process, out of process (runtime in a child
    /// process), and a plain bounded tokio channel.
    Handle {
        /// Samples per run.
        #[arg(long, default_value_t = 2_000_000)]
        samples: u64,
        /// Interleaved runs of each path (medians reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Only these paths (for a profiler): in-process, out-of-process,
        /// channel; comma-separated.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
    /// K producers → 1 aggregator on loopback, flood: samples/s and CPU
    /// per sample of tsercom (acknowledged and not) against plain tonic
    /// from user threads and plain tonic with tasks only.
    Ingest {
        /// Producer counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64])]
        producers: Vec<usize>,
        /// Samples per run, all producers together.
        #[arg(long, default_value_t = 400_000)]
        samples: u64,
        /// Interleaved runs of each side.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[command(flatten)]
        sides: Sides,
        #[command(flatten)]
        json: Json,
    },
    /// The same, paced at 1 000 samples/s per producer: push → taken
    /// p50 / p99 / p99.9, medians over the runs with their range.
    Latency {
        /// Producer counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [8, 64])]
        producers: Vec<usize>,
        /// Seconds per run.
        #[arg(long, default_value_t = 3)]
        seconds: u64,
        /// Interleaved runs of each side (at least 5 for the targets).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[command(flatten)]
        sides: Sides,
        #[command(flatten)]
        json: Json,
    },
    /// 1 … 1 000 producers, flood, each side in its own process:
    /// samples/s, CPU per sample, RSS and RSS per connection.
    Scale {
        /// Producer counts, comma-separated (first and last compared).
        #[arg(long, value_delimiter = ',', default_values_t = [1, 10, 100, 1000])]
        producers: Vec<usize>,
        /// Samples per run (default max(1 000 × K, 200 000)).
        #[arg(long)]
        samples: Option<u64>,
        /// Interleaved runs of each side.
        #[arg(long, default_value_t = 1)]
        runs: usize,
        #[command(flatten)]
        json: Json,
    },
    /// In-band clock sync and SNTP over loopback against injected offsets.
    Clock {
        #[command(flatten)]
        json: Json,
    },
    /// A server stops and comes back on the same port: back → flowing.
    Reconnect {
        /// Rounds.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[command(flatten)]
        json: Json,
    },
    /// Publish → Added and → first sample over real multicast between two
    /// network namespaces the harness creates (root; skipped otherwise).
    Discovery {
        /// Rounds.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        #[command(flatten)]
        json: Json,
    },
    /// A 1 M-element f32 tensor at 100 Hz: sparse, complete and LZ4.
    Tensor {
        /// Elements of the tensor.
        #[arg(long, default_value_t = 1_000_000)]
        elements: usize,
        /// Steps (updates).
        #[arg(long, default_value_t = 100)]
        steps: usize,
        #[command(flatten)]
        json: Json,
    },
    /// The handle flood with recording off and on (MCAP, zstd and none).
    Record {
        /// Samples per run.
        #[arg(long, default_value_t = 1_000_000)]
        samples: u64,
        /// Interleaved runs of each mode.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[command(flatten)]
        json: Json,
    },
    /// What peers can make an aggregator hold: a flood nobody reads, and
    /// producers that connect, send and leave.
    Memory {
        /// Samples of the flood.
        #[arg(long, default_value_t = 2_000_000)]
        samples: u64,
        /// Producers of the churn.
        #[arg(long, default_value_t = 300)]
        cycles: usize,
        #[command(flatten)]
        json: Json,
    },
    /// (internal) the child process of the out-of-process handle run.
    #[command(hide = true)]
    HandleChild {
        #[arg(long)]
        samples: u64,
    },
    /// (internal) one `scale` side in its own process.
    #[command(hide = true)]
    ScaleChild {
        side: String,
        producers: usize,
        samples: u64,
    },
    /// (internal) one `memory` flood in its own process.
    #[command(hide = true)]
    MemoryChild { mode: String, samples: u64 },
    /// (internal) `discovery`'s processes in their namespaces.
    #[command(hide = true)]
    DiscoveryPublish,
    #[command(hide = true)]
    DiscoveryBrowse,
    #[command(hide = true)]
    DiscoveryProducer,
    #[command(hide = true)]
    DiscoveryAggregator,
}

/// Tokio worker threads of every side's runtime (`--workers`; tsercom's
/// default is 2).
static WORKERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(2);

pub(crate) fn workers() -> usize {
    WORKERS.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn runtime() -> tsercom::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers())
        .enable_all()
        .build()
        .map_err(|source| tsercom::Error::Io {
            path: "tokio runtime".into(),
            source,
        })
}

/// Writes `rows` as a JSON array to `path` (default
/// `target/bench-<scenario>.json`).
fn write_json(path: Option<&str>, scenario: &str, rows: &[String]) -> tsercom::Result<()> {
    let path = path.map_or_else(|| format!("target/bench-{scenario}.json"), str::to_owned);
    std::fs::write(&path, format!("[{}]\n", rows.join(","))).map_err(|source| {
        tsercom::Error::Io {
            path: path.clone().into(),
            source,
        }
    })?;
    println!("wrote {path}");
    Ok(())
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
    let streams = |producers, samples, seconds, runs, sides: Vec<compare::Side>, json: Json| {
        compare::Options {
            producers,
            samples,
            seconds,
            runs,
            sides,
            json: json.json,
        }
    };
    let cli = Cli::parse();
    if let Scenario::Ingest { sides, .. } | Scenario::Latency { sides, .. } = &cli.scenario {
        WORKERS.store(sides.workers.max(1), std::sync::atomic::Ordering::Relaxed);
    }
    match cli.scenario {
        Scenario::Handle {
            samples,
            runs,
            only,
            json,
        } => handle::scenario(samples, runs, &only, json.json.as_deref()),
        // Straight to the same registration, where start_out_of_process()
        // takes over.
        Scenario::HandleChild { samples } => handle::run(samples, true).map(drop),
        Scenario::Ingest {
            producers,
            samples,
            runs,
            sides,
            json,
        } => compare::ingest(&streams(
            producers,
            Some(samples),
            0,
            runs,
            sides.only,
            json,
        )),
        Scenario::Latency {
            producers,
            seconds,
            runs,
            sides,
            json,
        } => compare::latency(&streams(producers, None, seconds, runs, sides.only, json)),
        Scenario::Scale {
            producers,
            samples,
            runs,
            json,
        } => compare::scale(&streams(producers, samples, 0, runs, Vec::new(), json)),
        Scenario::ScaleChild {
            side,
            producers,
            samples,
        } => compare::scale_child(&side, producers, samples),
        Scenario::Record {
            samples,
            runs,
            json,
        } => record::run(samples, runs, json.json.as_deref()),
        Scenario::Memory {
            samples,
            cycles,
            json,
        } => memory::run(samples, cycles, json.json.as_deref()),
        Scenario::MemoryChild { mode, samples } => memory::flood_child(mode == "limited", samples),
        Scenario::DiscoveryPublish => discovery::child_publish(),
        Scenario::DiscoveryBrowse => discovery::child_browse(),
        Scenario::DiscoveryProducer => discovery::child_producer(),
        Scenario::DiscoveryAggregator => discovery::child_aggregator(),
        Scenario::Discovery { rounds, json } => discovery_scenario(rounds, json.json.as_deref()),
        Scenario::Clock { json } => clock_scenario(json.json.as_deref()),
        Scenario::Reconnect { rounds, json } => reconnect_scenario(rounds, json.json.as_deref()),
        Scenario::Tensor {
            elements,
            steps,
            json,
        } => {
            let rows = tensor::run(elements, steps)?;
            write_json(json.json.as_deref(), "tensor", &rows)
        }
    }
}

/// `discovery`: publish → Added, publish → first sample.
fn discovery_scenario(rounds: usize, json_path: Option<&str>) -> tsercom::Result<()> {
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
    write_json(json_path, "discovery", &json)
}

/// `clock`: offset error and convergence.
fn clock_scenario(json_path: Option<&str>) -> tsercom::Result<()> {
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
    write_json(json_path, "clock", &json)
}

/// `reconnect`: a server back → data flowing.
fn reconnect_scenario(rounds: usize, json_path: Option<&str>) -> tsercom::Result<()> {
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
    write_json(json_path, "reconnect", &json)
}

/// Prints whether a target (BENCHMARKS.md) is met; reported, not asserted.
/// Runs this executable with `args` (a hidden child subcommand) and reads
/// the `N` numbers of its `RESULT …` line; `what` names the child in
/// errors, which carry its exit status and stderr.
fn child_result<const N: usize>(args: &[&str], what: &str) -> tsercom::Result<[f64; N]> {
    let exe = std::env::current_exe().map_err(|source| tsercom::Error::Io {
        path: "current executable".into(),
        source,
    })?;
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .map_err(|source| tsercom::Error::Io {
            path: what.into(),
            source,
        })?;
    let bad = |why: &str| tsercom::Error::Invalid {
        what: "benchmark child",
        reason: format!(
            "{what}: {why} ({}); stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .ok_or_else(|| bad("no result"))?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| bad(&format!("an unreadable result: {line}")))?;
    numbers
        .try_into()
        .map_err(|_| bad(&format!("a result without {N} numbers: {line}")))
}

fn target_line(what: &str, met: bool) {
    println!("target {what}: {}", if met { "met" } else { "MISSED" });
}
