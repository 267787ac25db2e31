//! A tensor stream over real processes: a producer process
//! (`e2e_tensor_producer`, `data = tsercom.TensorFrame`, sparse chunks in
//! LZ4 frames) has already taken 25 steps when this test's aggregator dials
//! it. The late joiner starts from the state it is greeted with, then
//! follows the updates: each producer's tensor is exact at every timestamp
//! it has, `at_or_before(t)` and `interpolated(t)` answer between them, and
//! nothing is refused.

mod common;

use std::net::SocketAddr;
use std::process::Command as Process;
use std::time::Duration;

use common::spawn_ready;
use tsercom::proto::TensorFrame;
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::tensor::{History, Tensor, TensorAggregator};
use tsercom::{CallerId, RuntimeManager};
use tsercom_test_build_wiring::tensors::{self, Control};

const WAIT: Duration = Duration::from_secs(60);

/// An aggregator that dials the tensor producer.
#[tsercom::runtime(aggregator, peers = self.producer, service = tensors::TensorSensor, data = TensorFrame, event = Control, hooks)]
#[derive(Default)]
struct Trainer {
    producer: Option<SocketAddr>,
}

impl Hooks for Trainer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_identity(Identity::Fixed(CallerId::random()))
    }
}

fn step_of(tensor: &Tensor) -> u32 {
    tensor.get_f64(0).expect("element 0") as u32
}

#[test]
fn a_late_aggregator_rebuilds_a_producers_tensor_stream() {
    let state = tempfile::tempdir().expect("tempdir");
    let producer = spawn_ready(
        Process::new(env!("CARGO_BIN_EXE_e2e_tensor_producer"))
            .env("TSERCOM_STATE_DIR", state.path())
            .env("E2E_LISTEN", "127.0.0.1:0")
            .env("E2E_TENSOR_LZ4", "1")
            .env("E2E_READY_AFTER", "25"),
    );

    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(Trainer {
            producer: Some(producer.addr()),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let mut tensors = TensorAggregator::new(History {
        max_count: 1_000,
        max_age: None,
    });
    let mut first_step = None;
    loop {
        assert!(
            handle.data().wait_new(WAIT),
            "tensor frames arrived in time"
        );
        tensors.ingest(handle.data().take_new());
        manager.check_error().expect("no runtime error");
        if let Some((_, tensor)) = tensors.latest(producer.id) {
            let k = step_of(tensor);
            let first = *first_step.get_or_insert(k);
            if k >= first + 30 {
                break;
            }
        }
    }

    let first = first_step.expect("a first state");
    assert!(
        first >= 25,
        "the aggregator joined late (first state: step {first})"
    );
    let demux = tensors.demuxer(producer.id).expect("the producer's stream");
    let states: Vec<_> = demux.states().map(|(t, s)| (t, s.clone())).collect();
    assert!(states.len() >= 30, "{} states", states.len());
    // Every state is exactly the producer's tensor at its step (the first
    // one, the greeting, is the floor; the rest came as sparse LZ4 chunks).
    for (t, s) in &states {
        let exact = s.to_vec::<f32>().expect("f32") == tensors::after(step_of(s));
        assert!(
            exact,
            "state at {t} (step {}) is the producer's",
            step_of(s)
        );
    }
    let steps: Vec<u32> = states.iter().map(|(_, s)| step_of(s)).collect();
    assert!(
        steps.windows(2).all(|w| w[1] == w[0] + 1),
        "consecutive steps: {steps:?}"
    );

    // Between two states: at_or_before gives the earlier, interpolated the
    // mix half way.
    let (ta, a) = &states[states.len() / 2];
    let (tb, b) = &states[states.len() / 2 + 1];
    let mid = ta
        .offset_by_nanos(tb.nanos_since(ta) / 2)
        .expect("mid time");
    let (found_t, found) = tensors
        .at_or_before(producer.id, mid)
        .expect("at or before");
    assert_eq!((found_t, found), (*ta, a));
    let half = tensors
        .interpolated(producer.id, mid)
        .expect("interpolated");
    let want: Vec<f32> = a
        .to_vec::<f32>()
        .expect("a")
        .iter()
        .zip(b.to_vec::<f32>().expect("b"))
        .map(|(x, y)| x + (y - x) * 0.5)
        .collect();
    // Half way up to a nanosecond (the span may be odd).
    let got = half.to_vec::<f32>().expect("f32");
    let off = got
        .iter()
        .zip(&want)
        .filter(|(g, w)| (*g - *w).abs() > 1e-4 * w.abs().max(1.0))
        .count();
    assert_eq!(off, 0, "{off} element(s) are not half way");
    // The timestamps are on this (the aggregator's) clock.
    let age = tsercom::Timestamp::now().nanos_since(ta);
    assert!((0..120_000_000_000).contains(&age), "{age} ns old");

    let stats = tensors.stats(producer.id).expect("stats");
    assert_eq!(stats.initializers, 1, "{stats:?}");
    assert_eq!(stats.refused_frames, 0, "{stats:?}");
    assert_eq!(stats.chunks.refused, 0, "{stats:?}");
    manager.shutdown().expect("shutdown");
}
