//! `ingest`, `latency`, `scale`: K producers → 1 aggregator, the same
//! workload on each side in one invocation — tsercom (acknowledged
//! delivery on, as shipped), tsercom with it off (its cost), plain tonic
//! driven from user threads as tsercom's users drive it, and plain tonic
//! with tasks only (the practical limit, which the targets are against).
//! Runs are interleaved across sides, each repeated when other load
//! disturbed it (`quiet`), and summarized as medians with their range.

use crate::plot::Chart;
use crate::quiet::{Spread, steady};
use crate::stream::{self, Outcome, Pace};
use crate::{plain, target_line, write_json};

/// One side of the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Tasks,
    Threads,
    Tsercom,
    Unacknowledged,
    /// Tonic with only the pusher on a user thread (`--sides`): the hop
    /// into the runtime alone.
    PushThread,
    /// Tonic with only the taker on a user thread: the hop out alone.
    TakeThread,
}

impl Side {
    /// The sides a run has unless `--sides` says otherwise.
    pub(crate) const ALL: [Side; 4] = [
        Side::Tasks,
        Side::Threads,
        Side::Tsercom,
        Side::Unacknowledged,
    ];
    /// Every side, for `--sides`.
    const KNOWN: [Side; 6] = [
        Side::Tasks,
        Side::Threads,
        Side::Tsercom,
        Side::Unacknowledged,
        Side::PushThread,
        Side::TakeThread,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Tasks => "tonic, tasks only",
            Side::Threads => "tonic, user threads",
            Side::Tsercom => "tsercom",
            Side::Unacknowledged => "tsercom, unacknowledged",
            Side::PushThread => "tonic, pusher thread",
            Side::TakeThread => "tonic, taker thread",
        }
    }

    /// The key in JSON and on a `scale-child` command line.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Side::Tasks => "tasks",
            Side::Threads => "tonic",
            Side::Tsercom => "tsercom",
            Side::Unacknowledged => "unacknowledged",
            Side::PushThread => "push-thread",
            Side::TakeThread => "take-thread",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Side> {
        Side::KNOWN.into_iter().find(|s| s.key() == key)
    }

    /// One run in this process. `keep`: samples the tsercom aggregator
    /// keeps per producer (0: its default).
    pub(crate) fn run(
        self,
        k: usize,
        total: u64,
        pace: Pace,
        keep: usize,
    ) -> tsercom::Result<Outcome> {
        match self {
            Side::Tasks => plain::run(plain::Drive::Tasks, k, total, pace),
            Side::Threads => plain::run(plain::Drive::Threads, k, total, pace),
            Side::Tsercom => stream::tsercom_run(k, total, pace, keep, true),
            Side::Unacknowledged => stream::tsercom_run(k, total, pace, keep, false),
            Side::PushThread => plain::run(plain::Drive::PushThread, k, total, pace),
            Side::TakeThread => plain::run(plain::Drive::TakeThread, k, total, pace),
        }
    }
}

/// Each side's outcomes, in run order.
struct Runs {
    by_side: Vec<(Side, Vec<Outcome>)>,
    disturbed: usize,
}

impl Runs {
    /// `runs` interleaved runs of every side in `sides`.
    fn measure(
        sides: &[Side],
        runs: usize,
        mut one: impl FnMut(Side) -> tsercom::Result<Outcome>,
    ) -> tsercom::Result<Runs> {
        let mut by_side: Vec<(Side, Vec<Outcome>)> =
            sides.iter().map(|s| (*s, Vec::new())).collect();
        let mut disturbed = 0;
        for _ in 0..runs.max(1) {
            for (side, outcomes) in &mut by_side {
                let (outcome, d) = steady(|| one(*side))?;
                disturbed += d;
                outcomes.push(outcome);
            }
        }
        Ok(Runs { by_side, disturbed })
    }

    fn of(&self, side: Side) -> &[Outcome] {
        self.by_side
            .iter()
            .find(|(s, _)| *s == side)
            .map_or(&[], |(_, o)| o.as_slice())
    }

    fn spread(&self, side: Side, f: impl Fn(&Outcome) -> f64) -> Spread {
        Spread::of(self.of(side).iter().map(f))
    }

    /// The spreads over the runs of each run's p50, p99 and p99.9 (µs).
    fn percentiles(&self, side: Side) -> [Spread; 3] {
        let each: Vec<[f64; 3]> = self.of(side).iter().map(Outcome::percentiles_us).collect();
        [0, 1, 2].map(|i| Spread::of(each.iter().map(|p| p[i])))
    }
}

/// Prints the verdicts, when the sides they compare ran.
fn report(o: &Options, verdicts: &[(String, bool)]) {
    if !o.judged() {
        println!("(targets not judged: they compare tsercom with tasks-only tonic)");
        return;
    }
    for (what, met) in verdicts {
        target_line(what, *met);
    }
}

fn cpu_us(o: &Outcome) -> f64 {
    o.cpu_s * 1e6 / o.samples.max(1) as f64
}

/// Options shared by the three scenarios.
pub(crate) struct Options {
    pub(crate) producers: Vec<usize>,
    pub(crate) samples: Option<u64>,
    pub(crate) seconds: u64,
    pub(crate) runs: usize,
    /// The sides to run (all when empty), for a profiler or an A/B.
    pub(crate) sides: Vec<Side>,
    pub(crate) json: Option<String>,
}

impl Options {
    fn sides(&self) -> Vec<Side> {
        if self.sides.is_empty() {
            Side::ALL.to_vec()
        } else {
            self.sides.clone()
        }
    }

    /// Whether the sides the targets compare (tsercom, tasks only) run.
    fn judged(&self) -> bool {
        let sides = self.sides();
        sides.contains(&Side::Tsercom) && sides.contains(&Side::Tasks)
    }
}

/// `ingest`: flood, samples/s and CPU per sample.
pub(crate) fn ingest(o: &Options) -> tsercom::Result<()> {
    let total = o.samples.unwrap_or(400_000);
    let mut chart = Vec::new();
    println!(
        "ingest: {total} samples per run, {} runs per side, {} worker threads, median (min–max)",
        o.runs.max(1),
        crate::workers()
    );
    let mut json = Vec::new();
    let mut verdicts = Vec::new();
    for &k in &o.producers {
        let sides = o.sides();
        let runs = Runs::measure(&sides, o.runs, |side| side.run(k, total, Pace::Flood, 0))?;
        println!("K = {k} ({} disturbed runs repeated)", runs.disturbed);
        println!(
            "  {:<24} {:>28} {:>22}",
            "side", "samples/s (M)", "CPU µs/sample"
        );
        let mut side_json = Vec::new();
        let mut bars = Vec::new();
        for &side in &sides {
            let rate = runs.spread(side, Outcome::rate);
            let cpu = runs.spread(side, cpu_us);
            bars.push((side.name(), rate));
            println!(
                "  {:<24} {:>28} {:>22}",
                side.name(),
                rate.show(1e6, 2),
                cpu.show(1.0, 2)
            );
            side_json.push(format!(
                "\"{}\":{{\"samples_per_second\":{},\"cpu_us_per_sample\":{}}}",
                side.key(),
                rate.json(),
                cpu.json()
            ));
        }
        chart.push((format!("{k} producers"), bars));
        let ours = runs.spread(Side::Tsercom, Outcome::rate).median;
        let tasks = runs.spread(Side::Tasks, Outcome::rate).median;
        let threads = runs.spread(Side::Threads, Outcome::rate).median;
        let ratio = ours / tasks.max(f64::MIN_POSITIVE);
        if o.judged() {
            println!(
                "  tsercom ÷ tasks only: {ratio:.2}; ÷ user threads: {:.2}",
                ours / threads.max(f64::MIN_POSITIVE)
            );
        }
        verdicts.push((
            format!("ingest, {k} producers: ≥ 0.9× plain tonic, tasks only ({ratio:.2}×)"),
            ratio >= 0.9,
        ));
        json.push(format!(
            "{{\"scenario\":\"ingest\",\"workers\":{},\"producers\":{k},\"samples\":{total},\"runs\":{},\"disturbed\":{},{},\"tasks_ratio\":{ratio:.3}}}",
            crate::workers(),
            o.runs.max(1),
            runs.disturbed,
            side_json.join(",")
        ));
    }
    report(o, &verdicts);
    Chart {
        title: format!(
            "ingest: samples/s by producers ({} workers)",
            crate::workers()
        ),
        unit: "samples/s",
        groups: chart,
    }
    .write(o.json.as_deref(), "ingest")?;
    write_json(o.json.as_deref(), "ingest", &json)
}

/// `latency`: paced at 1 000 samples/s per producer, push → taken.
pub(crate) fn latency(o: &Options) -> tsercom::Result<()> {
    println!(
        "latency: 1 000 samples/s per producer for {} s, {} runs per side, {} worker threads; µs, median of the runs (min–max)",
        o.seconds,
        o.runs.max(1),
        crate::workers()
    );
    let mut json = Vec::new();
    let mut verdicts = Vec::new();
    let (mut chart50, mut chart99) = (Vec::new(), Vec::new());
    for &k in &o.producers {
        let total = o.samples.unwrap_or(k as u64 * 1000 * o.seconds);
        let sides = o.sides();
        let runs = Runs::measure(&sides, o.runs, |side| {
            side.run(k, total, Pace::PerSecond(1000), 0)
        })?;
        println!(
            "K = {k}, {total} samples ({} disturbed runs repeated)",
            runs.disturbed
        );
        println!(
            "  {:<24} {:>22} {:>22} {:>24}",
            "side", "p50", "p99", "p99.9"
        );
        let mut side_json = Vec::new();
        let (mut bars50, mut bars99) = (Vec::new(), Vec::new());
        for &side in &sides {
            let [p50, p99, p999] = runs.percentiles(side);
            println!(
                "  {:<24} {:>22} {:>22} {:>24}",
                side.name(),
                p50.show(1.0, 0),
                p99.show(1.0, 0),
                p999.show(1.0, 0)
            );
            side_json.push(format!(
                "\"{}\":{{\"p50_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
                side.key(),
                p50.json(),
                p99.json(),
                p999.json()
            ));
            bars50.push((side.name(), p50));
            bars99.push((side.name(), p99));
        }
        chart50.push((format!("{k} producers"), bars50));
        chart99.push((format!("{k} producers"), bars99));
        let [ours50, ours99, _] = runs.percentiles(Side::Tsercom);
        let [tasks50, tasks99, _] = runs.percentiles(Side::Tasks);
        let r50 = ours50.median / tasks50.median.max(f64::MIN_POSITIVE);
        let r99 = ours99.median / tasks99.median.max(f64::MIN_POSITIVE);
        if o.judged() {
            println!("  tsercom ÷ tasks only: p50 {r50:.2}×, p99 {r99:.2}×");
        }
        verdicts.push((
            format!("latency, {k} producers: p50 ≤ 1.5× plain tonic, tasks only ({r50:.2}×)"),
            r50 <= 1.5,
        ));
        verdicts.push((
            format!("latency, {k} producers: p99 ≤ 2× plain tonic, tasks only ({r99:.2}×)"),
            r99 <= 2.0,
        ));
        json.push(format!(
            "{{\"scenario\":\"latency\",\"workers\":{},\"producers\":{k},\"samples\":{total},\"runs\":{},\"disturbed\":{},{},\"p50_ratio\":{r50:.3},\"p99_ratio\":{r99:.3}}}",
            crate::workers(),
            o.runs.max(1),
            runs.disturbed,
            side_json.join(",")
        ));
    }
    // The hand-off a blocking API pays twice per sample (user thread →
    // runtime, runtime → user thread), alone.
    let [w50, w99] = crate::wakeup::spread(3);
    println!(
        "waking a blocked thread on this machine (condvar, 125 µs apart, 3 × 1 000): p50 {} µs, p99 {} µs",
        w50.show(1.0, 1),
        w99.show(1.0, 1)
    );
    json.push(format!(
        "{{\"scenario\":\"latency\",\"measure\":\"thread_wakeup\",\"p50_us\":{},\"p99_us\":{}}}",
        w50.json(),
        w99.json()
    ));
    report(o, &verdicts);
    for (which, groups) in [("p50", chart50), ("p99", chart99)] {
        let name = format!("latency-{which}");
        let json_path = o
            .json
            .as_deref()
            .map(|j| j.replace(".json", &format!("-{which}.json")));
        Chart {
            title: format!(
                "latency {which}, push → taken, 1 000 samples/s per producer ({} workers)",
                crate::workers()
            ),
            unit: "µs",
            groups,
        }
        .write(json_path.as_deref(), &name)?;
    }
    write_json(o.json.as_deref(), "latency", &json)
}

/// `scale`: flood with 1 … 1 000 producers, each side in a fresh child
/// process so that its RSS is that side's alone.
pub(crate) fn scale(o: &Options) -> tsercom::Result<()> {
    let sides = [Side::Tasks, Side::Threads, Side::Tsercom];
    println!(
        "scale: flood, each side in its own process, {} runs; median (min–max)",
        o.runs.max(1)
    );
    println!(
        "{:>6} {:<22} {:>24} {:>22} {:>22}",
        "prod.", "side", "samples/s (M)", "CPU µs/sample", "RSS MiB"
    );
    let mut json = Vec::new();
    // (k, side) → (CPU µs per sample, RSS KiB) medians.
    let mut rows: Vec<(usize, Side, f64, f64)> = Vec::new();
    let mut chart = Vec::new();
    for &k in &o.producers {
        let total = o.samples.unwrap_or((k as u64 * 1000).max(200_000));
        let runs = Runs::measure(&sides, o.runs, |side| in_child(side, k, total))?;
        let mut side_json = Vec::new();
        let mut bars = Vec::new();
        for side in sides {
            let rate = runs.spread(side, Outcome::rate);
            let cpu = runs.spread(side, cpu_us);
            let rss = runs.spread(side, |o| o.rss_kib as f64);
            bars.push((side.name(), cpu));
            println!(
                "{k:>6} {:<22} {:>24} {:>22} {:>22}",
                side.name(),
                rate.show(1e6, 2),
                cpu.show(1.0, 2),
                rss.show(1024.0, 1)
            );
            rows.push((k, side, cpu.median, rss.median));
            side_json.push(format!(
                "\"{}\":{{\"samples_per_second\":{},\"cpu_us_per_sample\":{},\"rss_kib\":{}}}",
                side.key(),
                rate.json(),
                cpu.json(),
                rss.json()
            ));
        }
        json.push(format!(
            "{{\"scenario\":\"scale\",\"producers\":{k},\"samples\":{total},\"runs\":{},\"disturbed\":{},{}}}",
            o.runs.max(1),
            runs.disturbed,
            side_json.join(",")
        ));
        chart.push((format!("{k}"), bars));
    }
    Chart {
        title: "scale: CPU µs per sample by producers (flood)".into(),
        unit: "CPU µs per sample",
        groups: chart,
    }
    .write(o.json.as_deref(), "scale")?;
    let row = |k: usize, side: Side| {
        rows.iter()
            .find(|(rk, s, _, _)| *rk == k && *s == side)
            .map(|(_, _, cpu, rss)| (*cpu, *rss))
    };
    if let (Some(&first), Some(&last)) = (o.producers.first(), o.producers.last())
        && last > first
        && let (Some((cpu1, rss1)), Some((cpun, rssn)), Some((_, trss1)), Some((_, trssn))) = (
            row(first, Side::Tsercom),
            row(last, Side::Tsercom),
            row(first, Side::Tasks),
            row(last, Side::Tasks),
        )
    {
        let per_conn = (rssn - rss1) / (last - first) as f64;
        let tasks_per_conn = (trssn - trss1) / (last - first) as f64;
        let rss_ratio = per_conn / tasks_per_conn.max(f64::MIN_POSITIVE);
        println!(
            "RSS per connection, {first} → {last} producers: tsercom {per_conn:.1} KiB, tasks-only tonic {tasks_per_conn:.1} KiB ({rss_ratio:.2}×)"
        );
        target_line(
            &format!(
                "scale: CPU per sample flat within 25 % from {first} to {last} producers ({cpu1:.2} → {cpun:.2} µs)"
            ),
            cpun <= cpu1 * 1.25,
        );
        target_line(
            &format!(
                "scale: RSS per connection ≤ 1.3× plain tonic's, tasks only ({rss_ratio:.2}×)"
            ),
            rss_ratio <= 1.3,
        );
        json.push(format!(
            "{{\"scenario\":\"scale\",\"measure\":\"per_connection\",\"from\":{first},\"to\":{last},\"tsercom_rss_kib_per_connection\":{per_conn:.2},\"tasks_rss_kib_per_connection\":{tasks_per_conn:.2},\"cpu_us_first\":{cpu1:.3},\"cpu_us_last\":{cpun:.3}}}"
        ));
    }
    write_json(o.json.as_deref(), "scale", &json)
}

/// `scale-child <side> <k> <total>`: one flood run, printed as
/// `RESULT <samples> <seconds> <rss KiB> <cpu s> <other cores>`.
pub(crate) fn scale_child(side: &str, k: usize, total: u64) -> tsercom::Result<()> {
    let side = Side::from_key(side).ok_or_else(|| tsercom::Error::Invalid {
        what: "scale-child",
        reason: format!(
            "side {side:?}: one of tasks, tonic, tsercom, unacknowledged, push-thread, take-thread"
        ),
    })?;
    // The tsercom aggregator keeps 1 024 samples per producer, so that RSS
    // shows the cost of a connection, not of the data kept.
    let outcome = side.run(k, total, Pace::Flood, 1024)?;
    println!(
        "RESULT {} {:.6} {} {:.3} {:.3}",
        outcome.samples,
        outcome.elapsed.as_secs_f64(),
        outcome.rss_kib,
        outcome.cpu_s,
        outcome.others
    );
    Ok(())
}

/// Runs one `scale` side in a child process of this executable.
fn in_child(side: Side, k: usize, total: u64) -> tsercom::Result<Outcome> {
    let [samples, seconds, rss, cpu, others] = crate::child_result(
        &[
            "scale-child",
            side.key(),
            &k.to_string(),
            &total.to_string(),
        ],
        &format!("scale child {} k={k}", side.key()),
    )?;
    Ok(Outcome {
        samples: samples as u64,
        elapsed: std::time::Duration::from_secs_f64(seconds),
        latencies: Vec::new(),
        rss_kib: rss as u64,
        cpu_s: cpu,
        others,
    })
}
