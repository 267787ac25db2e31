//! The `tensor` scenario: a 1 M-element f32 tensor at 100 Hz, 1 % or
//! 100 % of its elements changing per step, through each multiplexer and
//! back through a demultiplexer (in process: the codec and the state
//! work, not the network).
//!
//! Per update: bytes on the wire (the encoded `TensorUpdate`), the
//! producer's time (multiplex + encode + serialize), the receiver's
//! (parse + decode + apply), their sum (reconstruction latency, without
//! the network), and the thread's CPU per update
//! (`/proc/thread-self/schedstat`; one thread does both sides).

use std::time::Instant;

use prost::Message;
use tsercom::Timestamp;
use tsercom::proto::TensorUpdate;
use tsercom::tensor::{
    CompleteMultiplexer, Compression, History, Initializer, Multiplexer, SparseMultiplexer, Tensor,
    TensorDemuxer, encode_update,
};

/// SplitMix64, seeded: the same workload every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn value(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// This thread's CPU time in seconds (`/proc/thread-self/schedstat`:
/// nanoseconds on a CPU).
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |ns| ns / 1e9)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

struct Row {
    mode: &'static str,
    changing: f64,
    bytes: f64,
    producer_ms: (f64, f64),
    receiver_ms: (f64, f64),
    latency_ms: (f64, f64),
    cpu_ms: f64,
}

fn run_one(
    mode: &'static str,
    elements: usize,
    changing: f64,
    steps: usize,
) -> tsercom::Result<Row> {
    let mut rng = Rng(0x7e45_0018);
    let mut state: Vec<f32> = (0..elements).map(|_| rng.value()).collect();
    let initial = Tensor::from_vec(&state);
    let history = History::default();
    let (mut mux, compression): (Box<dyn Multiplexer>, Compression) = match mode {
        "sparse" => (
            Box::new(SparseMultiplexer::new(initial.clone(), history)),
            Compression::None,
        ),
        "sparse gap 0" => (
            Box::new(SparseMultiplexer::new(initial.clone(), history).with_gap(0)),
            Compression::None,
        ),
        "sparse+LZ4" => (
            Box::new(SparseMultiplexer::new(initial.clone(), history)),
            Compression::Lz4,
        ),
        "sparse+LZ4 auto" => (
            Box::new(SparseMultiplexer::new(initial.clone(), history)),
            Compression::Auto,
        ),
        "complete" => (
            Box::new(CompleteMultiplexer::new(initial.clone(), history)),
            Compression::None,
        ),
        "complete+LZ4" => (
            Box::new(CompleteMultiplexer::new(initial.clone(), history)),
            Compression::Lz4,
        ),
        _ => (
            Box::new(CompleteMultiplexer::new(initial.clone(), history)),
            Compression::Auto,
        ),
    };
    let init = Initializer::filled(&[elements], initial.dtype(), 0.0);
    let mut demux = TensorDemuxer::new(&init, None, history)?;
    demux.reset(
        &Initializer::from_tensor(&initial, Timestamp::UNIX_EPOCH),
        None,
    )?;
    let changes = ((elements as f64 * changing) as usize).max(1);
    let base = Timestamp::new(1_700_000_000, 0)?;
    let warmup = 3;
    let (mut producer, mut receiver, mut latency) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0usize;
    let mut cpu = 0.0;
    for step in 0..steps + warmup {
        if changes >= elements {
            state.iter_mut().for_each(|v| *v = rng.value());
        } else {
            for _ in 0..changes {
                let i = (rng.next() % elements as u64) as usize;
                state[i] = rng.value();
            }
        }
        let tensor = Tensor::from_vec(&state);
        let t = base.offset_by_nanos(step as i128 * 10_000_000)?;
        let cpu_start = cpu_seconds();
        let start = Instant::now();
        let chunks = mux.process(&tensor, t)?;
        let wire = encode_update(&chunks, compression).encode_to_vec();
        let produced = start.elapsed();
        let update =
            TensorUpdate::decode(wire.as_slice()).map_err(|e| tsercom::Error::Invalid {
                what: "tensor update",
                reason: e.to_string(),
            })?;
        let applied = demux.apply_update(&update);
        let total = start.elapsed();
        let cpu_step = cpu_seconds() - cpu_start;
        assert!(
            applied.refused.is_empty(),
            "{mode}: refused {:?}",
            applied.refused.first()
        );
        if step >= warmup {
            producer.push(produced.as_secs_f64() * 1e3);
            receiver.push((total - produced).as_secs_f64() * 1e3);
            latency.push(total.as_secs_f64() * 1e3);
            bytes += wire.len();
            cpu += cpu_step;
        }
    }
    assert!(
        demux.latest().1 == &Tensor::from_vec(&state),
        "{mode}: the receiver rebuilt the tensor exactly"
    );
    for v in [&mut producer, &mut receiver, &mut latency] {
        v.sort_by(f64::total_cmp);
    }
    let stat = |v: &[f64]| (percentile(v, 0.5), percentile(v, 0.99));
    Ok(Row {
        mode,
        changing,
        bytes: bytes as f64 / steps as f64,
        producer_ms: stat(&producer),
        receiver_ms: stat(&receiver),
        latency_ms: stat(&latency),
        cpu_ms: cpu * 1e3 / steps as f64,
    })
}

/// Runs the scenario; returns the JSON rows.
pub(crate) fn run(elements: usize, steps: usize) -> tsercom::Result<Vec<String>> {
    const MODES: [&str; 7] = [
        "sparse",
        "sparse gap 0",
        "sparse+LZ4",
        "sparse+LZ4 auto",
        "complete",
        "complete+LZ4",
        "complete+LZ4 auto",
    ];
    println!(
        "tensor: {elements} f32 elements, {steps} updates per row (100 Hz workload: 10 ms per update is the budget)"
    );
    println!(
        "{:<8} {:<17} {:>12} {:>12} {:>16} {:>16} {:>16} {:>10}",
        "changing",
        "mode",
        "bytes/update",
        "MB/s @100Hz",
        "producer ms p50/99",
        "receiver ms p50/99",
        "latency ms p50/99",
        "cpu ms"
    );
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for changing in [0.01, 1.0] {
        for mode in MODES {
            let r = run_one(mode, elements, changing, steps)?;
            println!(
                "{:<8} {:<17} {:>12.0} {:>12.2} {:>8.2} / {:<7.2} {:>8.2} / {:<7.2} {:>8.2} / {:<7.2} {:>10.2}",
                format!("{:.0} %", changing * 100.0),
                r.mode,
                r.bytes,
                r.bytes * 100.0 / 1e6,
                r.producer_ms.0,
                r.producer_ms.1,
                r.receiver_ms.0,
                r.receiver_ms.1,
                r.latency_ms.0,
                r.latency_ms.1,
                r.cpu_ms
            );
            json.push(format!(
                "{{\"scenario\":\"tensor\",\"elements\":{elements},\"changing\":{},\"mode\":\"{}\",\"bytes_per_update\":{:.0},\"producer_ms_p50\":{:.3},\"producer_ms_p99\":{:.3},\"receiver_ms_p50\":{:.3},\"receiver_ms_p99\":{:.3},\"latency_ms_p50\":{:.3},\"latency_ms_p99\":{:.3},\"cpu_ms_per_update\":{:.3}}}",
                r.changing, r.mode, r.bytes, r.producer_ms.0, r.producer_ms.1, r.receiver_ms.0, r.receiver_ms.1, r.latency_ms.0, r.latency_ms.1, r.cpu_ms
            ));
            rows.push(r);
        }
    }
    let sparse_1 = rows.iter().find(|r| r.mode == "sparse" && r.changing < 0.5);
    let complete_1 = rows
        .iter()
        .find(|r| r.mode == "complete" && r.changing < 0.5);
    if let (Some(s), Some(c)) = (sparse_1, complete_1) {
        super::target_line(
            "sparse at 1 % sends < 10 % of complete's bytes",
            s.bytes < c.bytes / 10.0,
        );
    }
    super::target_line(
        "every mode keeps up with 100 Hz (latency p50 < 10 ms)",
        rows.iter().all(|r| r.latency_ms.0 < 10.0),
    );
    Ok(json)
}
