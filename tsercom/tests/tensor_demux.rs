//! The tensor multiplexers and demultiplexer together: seeded random
//! property runs (shapes, dtypes, change sets, arrival orders, LZ4 on and
//! off → exact reconstruction), every bad-chunk case (refused, counted,
//! state unchanged), history limits, interpolation and the smoothed grid.

use std::time::Duration;

use tsercom::Timestamp;
use tsercom::proto::TensorChunk;
use tsercom::tensor::{
    Chunk, CompleteMultiplexer, Compression, DType, History, Initializer, Multiplexer,
    SmoothedDemuxer, SparseMultiplexer, Tensor, TensorDemuxer, TensorError,
};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::new(1_700_000_000, 0)
        .expect("time")
        .offset_by_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
}

fn big_history() -> History {
    History {
        max_count: 1_000,
        max_age: None,
    }
}

/// Random element bytes of `dtype` (bools 0/1; floats finite).
fn random_element(dtype: DType, rng: &mut Rng) -> Vec<u8> {
    let mut one = Tensor::full(&[1], dtype, 0.0).expect("one").into_bytes();
    match dtype {
        DType::Bool => one[0] = (rng.next() & 1) as u8,
        DType::F32 => one.copy_from_slice(&((rng.below(2001) as f32 - 1000.0) / 8.0).to_le_bytes()),
        DType::F64 => {
            one.copy_from_slice(&((rng.below(20001) as f64 - 10000.0) / 3.0).to_le_bytes())
        }
        _ => {
            for b in &mut one {
                *b = rng.next() as u8;
            }
        }
    }
    one
}

/// Interleaves chunks at random, keeping the order within one timestamp
/// (later writes at one time win: only that order is meaningful).
fn interleave(chunks: &[TensorChunk], rng: &mut Rng) -> Vec<TensorChunk> {
    let mut groups: Vec<Vec<TensorChunk>> = Vec::new();
    for c in chunks {
        match groups.iter_mut().find(|g| g[0].timestamp == c.timestamp) {
            Some(g) => g.push(c.clone()),
            None => groups.push(vec![c.clone()]),
        }
    }
    groups.iter_mut().for_each(|g| g.reverse());
    let mut out = Vec::new();
    while !groups.is_empty() {
        let i = rng.below(groups.len());
        out.push(groups[i].pop().expect("non-empty"));
        if groups[i].is_empty() {
            groups.remove(i);
        }
    }
    out
}

#[test]
fn random_streams_rebuild_exactly() {
    let mut rng = Rng(0x7e45_0418);
    for round in 0..300 {
        let dtype = DType::ALL[rng.below(DType::ALL.len())];
        let dims = 1 + rng.below(3);
        let shape: Vec<usize> = (0..dims).map(|_| 1 + rng.below(7)).collect();
        let len: usize = shape.iter().product();
        let sparse = rng.below(3) != 0;
        let gap = rng.below(5);
        let compression = if rng.below(2) == 0 {
            Compression::None
        } else {
            Compression::Lz4
        };
        let zeros = Tensor::zeros(&shape, dtype).expect("zeros");
        let mut mux: Box<dyn Multiplexer> = if sparse {
            Box::new(SparseMultiplexer::new(zeros.clone(), big_history()).with_gap(gap))
        } else {
            Box::new(CompleteMultiplexer::new(zeros.clone(), big_history()))
        };
        // Tensors at random (possibly repeated) times, taken in that order.
        let steps = 1 + rng.below(8);
        let mut truth: Vec<(Timestamp, Tensor)> = Vec::new();
        let mut current = zeros.as_bytes().to_vec();
        let mut wire = Vec::new();
        for _ in 0..steps {
            for _ in 0..rng.below(len + 1) {
                let i = rng.below(len);
                let size = dtype.size();
                current[i * size..(i + 1) * size].copy_from_slice(&random_element(dtype, &mut rng));
            }
            let tensor = Tensor::from_bytes(&shape, dtype, current.clone()).expect("tensor");
            let t = at(rng.below(12) as i64);
            for c in mux.process(&tensor, t).expect("process") {
                wire.push(c.to_proto(compression));
            }
            truth.retain(|(tt, _)| *tt != t);
            truth.push((t, tensor));
        }
        for order in 0..4 {
            let chunks = if order == 0 {
                wire.clone()
            } else {
                interleave(&wire, &mut rng)
            };
            let init = Initializer::filled(&shape, dtype, 0.0);
            let mut demux = TensorDemuxer::new(&init, None, big_history()).expect("demux");
            for c in &chunks {
                demux.apply_proto(c).expect("valid chunk");
            }
            for (t, tensor) in &truth {
                // A tensor equal to its predecessor sends no chunk: its
                // state is the one at or before it.
                let got = demux.at_or_before(*t).map_or(&zeros, |(_, s)| s);
                assert_eq!(
                    got, tensor,
                    "round {round}, order {order}, {dtype} {shape:?}, sparse {sparse}, gap {gap}"
                );
            }
            assert_eq!(demux.stats().refused, 0);
        }
    }
}

fn demux_f32(len: usize) -> TensorDemuxer {
    TensorDemuxer::new(
        &Initializer::filled(&[len], DType::F32, 0.0),
        None,
        big_history(),
    )
    .expect("demux")
}

fn chunk_f32(t: Timestamp, start: usize, values: &[f32]) -> Chunk {
    Chunk {
        timestamp: t,
        starting_index: start,
        dtype: DType::F32,
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Which error a bad chunk must get.
type Expect = fn(&TensorError) -> bool;

#[test]
fn every_bad_chunk_is_refused_counted_and_changes_nothing() {
    let mut demux = demux_f32(4);
    demux
        .apply(&chunk_f32(at(1), 0, &[1.0, 2.0]))
        .expect("good");
    let before: Vec<(Timestamp, Tensor)> = demux.states().map(|(t, s)| (t, s.clone())).collect();
    let good = chunk_f32(at(2), 1, &[5.0]).to_proto(Compression::Lz4);

    let out_of_range = chunk_f32(at(2), 3, &[1.0, 1.0]).to_proto(Compression::None);
    let mut negative = good.clone();
    negative.starting_index = -2;
    let mut partial = chunk_f32(at(2), 0, &[1.0]).to_proto(Compression::None);
    partial.data_bytes.push(0);
    let mut corrupt = good.clone();
    corrupt.data_bytes[0] = 0;
    let mut truncated = good.clone();
    truncated.data_bytes.truncate(good.data_bytes.len() - 3);
    let mut unknown = good.clone();
    unknown.compression = 9;
    let mut untimed = good.clone();
    untimed.timestamp = None;
    let cases: Vec<(&str, TensorChunk, Expect)> = vec![
        ("index out of range", out_of_range.clone(), |e| {
            matches!(e, TensorError::IndexOutOfRange { .. })
        }),
        ("negative index", negative, |e| {
            matches!(e, TensorError::NegativeIndex(-2))
        }),
        ("dtype mismatch (partial element)", partial, |e| {
            matches!(e, TensorError::DTypeMismatch(_))
        }),
        ("corrupt lz4", corrupt, |e| {
            matches!(e, TensorError::CorruptLz4(_))
        }),
        ("truncated lz4", truncated, |e| {
            matches!(e, TensorError::CorruptLz4(_))
        }),
        ("unknown compression", unknown, |e| {
            matches!(e, TensorError::UnknownCompression(9))
        }),
        ("no timestamp", untimed, |e| {
            matches!(e, TensorError::BadTimestamp(_))
        }),
    ];
    for (n, (what, msg, is)) in cases.into_iter().enumerate() {
        let err = demux.apply_proto(&msg).expect_err(what);
        assert!(is(&err), "{what}: {err}");
        assert!(!err.to_string().is_empty());
        let stats = demux.stats();
        assert_eq!(stats.refused, n as u64 + 1, "{what} counted");
        assert_eq!(stats.last_error.as_ref(), Some(&err));
        let now: Vec<(Timestamp, Tensor)> = demux.states().map(|(t, s)| (t, s.clone())).collect();
        assert_eq!(now, before, "{what} changed nothing");
    }
    // A chunk of another dtype, and a bool byte that is not 0/1.
    let wrong = Chunk {
        dtype: DType::I32,
        ..chunk_f32(at(2), 0, &[1.0])
    };
    assert!(matches!(
        demux.apply(&wrong),
        Err(TensorError::DTypeMismatch(_))
    ));
    let mut flags = TensorDemuxer::new(
        &Initializer::filled(&[2], DType::Bool, 0.0),
        None,
        big_history(),
    )
    .expect("demux");
    let two = Chunk {
        timestamp: at(1),
        starting_index: 0,
        dtype: DType::Bool,
        data: vec![2],
    };
    assert!(matches!(
        flags.apply_proto(&two.to_proto(Compression::None)),
        Err(TensorError::DTypeMismatch(_))
    ));
    // A shape that grew without a new initializer: the chunk reaches past
    // the end, and its error says what is needed.
    let err = demux.apply_proto(&out_of_range).expect_err("grown shape");
    assert!(err.to_string().contains("TensorInitializer"), "{err}");
    // The stream goes on.
    demux.apply_proto(&good).expect("good after bad");
    assert_eq!(
        demux.at(at(2)).and_then(|t| t.to_vec::<f32>().ok()),
        Some(vec![1.0, 5.0, 0.0, 0.0])
    );
    // A bad chunk inside an update is refused alone.
    let update = tsercom::proto::TensorUpdate {
        chunks: vec![
            out_of_range,
            chunk_f32(at(3), 3, &[9.0]).to_proto(Compression::None),
        ],
    };
    let applied = demux.apply_update(&update);
    assert_eq!(applied.refused.len(), 1);
    assert_eq!(applied.changed, vec![at(3)]);
}

#[test]
fn history_limits_evict_and_refuse_what_is_older() {
    let history = History {
        max_count: 3,
        max_age: Some(Duration::from_millis(50)),
    };
    let mut demux = TensorDemuxer::new(&Initializer::filled(&[1], DType::F32, 0.0), None, history)
        .expect("demux");
    for ms in [10, 20, 30, 40] {
        demux
            .apply(&chunk_f32(at(ms), 0, &[ms as f32]))
            .expect("apply");
    }
    assert_eq!(demux.states().count(), 3, "count limit");
    assert!(matches!(
        demux.apply(&chunk_f32(at(5), 0, &[1.0])),
        Err(TensorError::TooOld { .. })
    ));
    demux
        .apply(&chunk_f32(at(100), 0, &[100.0]))
        .expect("apply");
    let kept: Vec<Timestamp> = demux.states().map(|(t, _)| t).collect();
    assert_eq!(kept, vec![at(100)], "age limit: 50 ms before the newest");
    assert_eq!(demux.stats().evicted, 4);
    // The newest evicted state is still the base of what follows.
    assert_eq!(demux.at_or_before(at(45)).map(|(t, _)| t), Some(at(40)));
}

#[test]
fn out_of_order_chunks_recompute_later_states() {
    let mut demux = demux_f32(3);
    demux.apply(&chunk_f32(at(30), 2, &[3.0])).expect("t30");
    let changed = demux
        .apply(&chunk_f32(at(10), 0, &[1.0, 1.0]))
        .expect("t10");
    assert_eq!(changed, vec![at(10), at(30)]);
    assert_eq!(
        demux.at(at(30)).and_then(|t| t.to_vec::<f32>().ok()),
        Some(vec![1.0, 1.0, 3.0])
    );
    // An earlier write hidden by a later one stops the recomputation.
    demux.apply(&chunk_f32(at(20), 2, &[2.0])).expect("t20");
    assert_eq!(
        demux.at(at(20)).and_then(|t| t.to_vec::<f32>().ok()),
        Some(vec![1.0, 1.0, 2.0])
    );
    assert_eq!(
        demux.at(at(30)).and_then(|t| t.to_vec::<f32>().ok()),
        Some(vec![1.0, 1.0, 3.0])
    );
}

#[test]
fn interpolation_and_the_smoothed_grid() {
    let mut demux = TensorDemuxer::new(
        &Initializer::filled(&[2], DType::F32, 0.0),
        None,
        big_history(),
    )
    .expect("demux");
    demux.apply(&chunk_f32(at(0), 0, &[0.0, 10.0])).expect("t0");
    demux
        .apply(&chunk_f32(at(100), 0, &[1.0, 20.0]))
        .expect("t100");
    let mid = demux.interpolated(at(25)).expect("inside");
    assert_eq!(mid.to_vec::<f32>(), Ok(vec![0.25, 12.5]));
    assert!(demux.interpolated(at(101)).is_none(), "no extrapolation");
    assert!(demux.interpolated(at(-1)).is_none());
    let mut ints = TensorDemuxer::new(
        &Initializer::filled(&[1], DType::I64, 0.0),
        None,
        big_history(),
    )
    .expect("demux");
    let c = |t, v: i64| Chunk {
        timestamp: t,
        starting_index: 0,
        dtype: DType::I64,
        data: v.to_le_bytes().to_vec(),
    };
    ints.apply(&c(at(0), 0)).expect("i0");
    ints.apply(&c(at(10), 3)).expect("i10");
    assert_eq!(
        ints.interpolated(at(6))
            .and_then(|t| t.to_vec::<i64>().ok()),
        Some(vec![2]),
        "rounded"
    );

    let mut smooth =
        SmoothedDemuxer::new(demux, Duration::from_millis(30), false).expect("smoothed");
    let grid: Vec<(Timestamp, Vec<f32>)> = smooth
        .poll(at(1_000))
        .into_iter()
        .map(|(t, s)| (t, s.to_vec::<f32>().expect("f32")))
        .collect();
    assert_eq!(
        grid.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![at(0), at(30), at(60), at(90)]
    );
    assert_eq!(grid[1].1, vec![0.3, 13.0]);
    assert!(smooth.poll(at(1_000)).is_empty(), "waits for newer data");
    smooth
        .demuxer_mut()
        .apply(&chunk_f32(at(200), 0, &[2.0, 30.0]))
        .expect("t200");
    let more: Vec<Timestamp> = smooth.poll(at(150)).into_iter().map(|(t, _)| t).collect();
    assert_eq!(more, vec![at(120), at(150)]);
    assert!(SmoothedDemuxer::new(demux_f32(1), Duration::ZERO, false).is_err());
}

#[test]
fn a_late_joiner_starts_from_the_initial_state() {
    // The producer has moved on; the receiver starts from its current
    // state (an initializer with an LZ4 initial state) and the diffs after.
    let mut source = SparseMultiplexer::new(
        Tensor::zeros(&[50], DType::F32).expect("zeros"),
        big_history(),
    );
    let mut values = vec![0.0f32; 50];
    for step in 0..5 {
        values[step * 7] = step as f32 + 0.5;
        source
            .process(&Tensor::from_vec(&values), at(step as i64))
            .expect("early");
    }
    let init = source.initializer();
    let wire = init.to_proto(Compression::Lz4);
    let late = Initializer::from_proto(&wire).expect("initializer");
    let mut demux = TensorDemuxer::new(&late, Some(at(4)), big_history()).expect("demux");
    assert_eq!(
        demux.at_or_before(at(4)).map(|(_, s)| s.clone()),
        Some(Tensor::from_vec(&values))
    );
    values[49] = -1.0;
    for c in source
        .process(&Tensor::from_vec(&values), at(5))
        .expect("later")
    {
        demux
            .apply_proto(&c.to_proto(Compression::None))
            .expect("apply");
    }
    assert_eq!(demux.latest().1, &Tensor::from_vec(&values));
    // Data from before it joined cannot be placed.
    assert!(matches!(
        demux.apply(&chunk_f32(at(3), 0, &[1.0])),
        Err(TensorError::TooOld { .. })
    ));
}
