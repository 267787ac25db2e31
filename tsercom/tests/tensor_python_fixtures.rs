//! Wire compatibility with the real Python tsercom tensor module, both
//! ways (fixtures in `tests/fixtures/tensor/`):
//!
//! - what Python's multiplexers wrote (`gen_fixtures.py`) decodes here to
//!   the same tensors, in any arrival order, and our multiplexers emit the
//!   same chunks for the same tensors;
//! - what we write (`rust_*.pb`, compared byte for byte; regenerate with
//!   `TSERCOM_BLESS=1`) decodes in Python to the same tensors
//!   (`check_rust_fixtures.py`, run by hand: it needs torch).

use std::path::PathBuf;

use prost::Message;
use tsercom::Timestamp;
use tsercom::proto::{TensorChunk, TensorInitializer};
use tsercom::tensor::{
    AggregateMultiplexer, Chunk, CompleteMultiplexer, Compression, DType, History, Initializer,
    Multiplexer, PartKind, SparseMultiplexer, Tensor, TensorDemuxer,
};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensor")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn delimited(name: &str) -> Vec<TensorChunk> {
    let bytes = read(name);
    let mut buf = bytes.as_slice();
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(TensorChunk::decode_length_delimited(&mut buf).expect("a delimited chunk"));
    }
    out
}

fn init(name: &str) -> Initializer {
    let msg = TensorInitializer::decode(read(&format!("{name}.init.pb")).as_slice()).expect("init");
    Initializer::from_proto(&msg).expect("valid initializer")
}

/// A whole-tensor chunk as a tensor of the stream's shape and dtype.
fn whole(msg: &TensorChunk, init: &Initializer) -> (Timestamp, Tensor) {
    let len = init.element_count().expect("len");
    let chunk = Chunk::from_proto(msg, init.dtype, len).expect("whole chunk");
    let tensor = Tensor::from_bytes(&init.shape, init.dtype, chunk.data).expect("tensor");
    (chunk.timestamp, tensor)
}

fn history() -> History {
    History {
        max_count: 10_000,
        max_age: None,
    }
}

/// SplitMix64: a seeded, dependency-free RNG for orders and values.
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

/// A random interleaving that keeps the order of chunks of one timestamp
/// (later writes at one time win, so only that order matters).
fn interleave(chunks: &[TensorChunk], rng: &mut Rng) -> Vec<TensorChunk> {
    let mut groups: Vec<Vec<TensorChunk>> = Vec::new();
    for c in chunks {
        match groups.iter_mut().find(|g| g[0].timestamp == c.timestamp) {
            Some(g) => g.push(c.clone()),
            None => groups.push(vec![c.clone()]),
        }
    }
    for g in &mut groups {
        g.reverse();
    }
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

const CASES: &[&str] = &[
    "sparse_f32",
    "sparse_f32_lz4",
    "complete_f32_lz4",
    "complete_f64",
    "sparse_int64",
    "sparse_int32",
    "sparse_uint8",
    "sparse_bool",
    "aggregate",
];

#[test]
fn python_chunks_rebuild_the_same_tensors_in_any_order() {
    let mut rng = Rng(18);
    for case in CASES {
        let init = init(case);
        let chunks = delimited(&format!("{case}.chunks.pb"));
        let expected: Vec<(Timestamp, Tensor)> = delimited(&format!("{case}.expected.pb"))
            .iter()
            .map(|m| whole(m, &init))
            .collect();
        // Python's multiplexers diff the first tensor against zeros.
        let zeros = Initializer::filled(&init.shape, init.dtype, 0.0);
        let mut orders = vec![chunks.clone()];
        orders.extend((0..20).map(|_| interleave(&chunks, &mut rng)));
        for (n, order) in orders.iter().enumerate() {
            let mut demux = TensorDemuxer::new(&zeros, None, history()).expect("demux");
            for c in order {
                demux.apply_proto(c).expect("a valid chunk");
            }
            for (t, tensor) in &expected {
                assert_eq!(demux.at(*t), Some(tensor), "{case}, order {n}, at {t}");
            }
            assert_eq!(demux.stats().refused, 0, "{case}");
        }
        if case.ends_with("lz4") {
            assert!(chunks.iter().all(|c| c.compression == 1), "{case} is LZ4");
        }
    }
}

fn raw(chunks: &[TensorChunk], dtype: DType, len: usize) -> Vec<Chunk> {
    chunks
        .iter()
        .map(|c| Chunk::from_proto(c, dtype, len).expect("chunk"))
        .collect()
}

#[test]
fn our_multiplexers_emit_pythons_chunks() {
    for case in CASES.iter().filter(|c| **c != "aggregate") {
        let init = init(case);
        let len = init.element_count().expect("len");
        let python = raw(&delimited(&format!("{case}.chunks.pb")), init.dtype, len);
        let zeros = Tensor::zeros(&init.shape, init.dtype).expect("zeros");
        let mut mux: Box<dyn Multiplexer> = if case.starts_with("sparse") {
            Box::new(SparseMultiplexer::new(zeros, history()).with_gap(0))
        } else {
            Box::new(CompleteMultiplexer::new(zeros, history()))
        };
        let mut ours = Vec::new();
        for input in delimited(&format!("{case}.inputs.pb")) {
            let (t, tensor) = whole(&input, &init);
            ours.extend(mux.process(&tensor, t).expect("process"));
        }
        assert_eq!(ours, python, "{case}");
    }
}

#[test]
fn our_aggregate_emits_pythons_chunks() {
    let init = init("aggregate");
    let python = raw(&delimited("aggregate.chunks.pb"), DType::F32, 14);
    let mut agg = AggregateMultiplexer::new(DType::F32, history());
    agg.add("p1", 5, PartKind::Sparse { gap: 0 }).expect("p1");
    agg.add("p2", 3, PartKind::Complete).expect("p2");
    agg.add_at("p3", 10..14, PartKind::Sparse { gap: 0 })
        .expect("p3");
    assert_eq!(agg.len(), init.element_count().expect("len"));
    let mut ours = Vec::new();
    for input in delimited("aggregate.inputs.pb") {
        let part = match input.starting_index {
            0 => "p1",
            5 => "p2",
            _ => "p3",
        };
        let n = input.data_bytes.len() / 4;
        let chunk = Chunk::from_proto(&input, DType::F32, 14).expect("input");
        let tensor = Tensor::from_bytes(&[n], DType::F32, chunk.data).expect("tensor");
        ours.extend(
            agg.process(part, &tensor, chunk.timestamp)
                .expect("process"),
        );
    }
    assert_eq!(ours, python);
}

#[test]
fn pythons_stream_source_initializer_decodes_and_matches_ours() {
    let init = init("stream_source");
    let (t, expected) = whole(&delimited("stream_source.expected.pb")[0], &init);
    assert_eq!(init.tensor().expect("tensor"), expected);
    let ours = Initializer::from_tensor(&expected, t);
    assert_eq!(ours.fill_value, init.fill_value);
    let runs = |i: &Initializer| -> Vec<(usize, Vec<u8>)> {
        i.initial_state
            .iter()
            .map(|c| (c.starting_index, c.data.clone()))
            .collect()
    };
    assert_eq!(runs(&ours), runs(&init));
}

/// The fixtures we write for Python to read.
fn rust_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let t = |step: i64| {
        Timestamp::new(1_735_689_600, 0)
            .expect("time")
            .offset_by_nanos(i128::from(step) * 10_000_000)
            .expect("time")
    };
    let mut rng = Rng(4242);
    let cases: Vec<(&str, DType, Compression, bool)> = vec![
        ("rust_sparse_f32_lz4", DType::F32, Compression::Lz4, true),
        ("rust_complete_f32_lz4", DType::F32, Compression::Lz4, false),
        ("rust_sparse_i64", DType::I64, Compression::None, true),
        ("rust_sparse_bool_lz4", DType::Bool, Compression::Lz4, true),
        ("rust_complete_f64", DType::F64, Compression::None, false),
    ];
    for (name, dtype, compression, sparse) in cases {
        let len = 256;
        let mut state = Tensor::zeros(&[len], dtype).expect("zeros");
        let mut mux: Box<dyn Multiplexer> = if sparse {
            Box::new(SparseMultiplexer::new(state.clone(), history()).with_gap(3))
        } else {
            Box::new(CompleteMultiplexer::new(state.clone(), history()))
        };
        let mut chunks = Vec::new();
        let mut expected = Vec::new();
        for step in 0..6 {
            let mut bytes = state.as_bytes().to_vec();
            for _ in 0..20 {
                let i = rng.below(len);
                let v = (rng.below(200) as f64) - 100.0;
                let size = dtype.size();
                let mut one = Tensor::full(
                    &[1],
                    dtype,
                    if dtype == DType::Bool {
                        v.signum().max(0.0)
                    } else {
                        v / 4.0
                    },
                )
                .expect("one")
                .into_bytes();
                one.truncate(size);
                bytes[i * size..(i + 1) * size].copy_from_slice(&one);
            }
            state = Tensor::from_bytes(&[len], dtype, bytes).expect("state");
            chunks.extend(mux.process(&state, t(step)).expect("process"));
            expected.push(Chunk {
                timestamp: t(step),
                starting_index: 0,
                dtype,
                data: state.as_bytes().to_vec(),
            });
        }
        let init = Initializer::filled(&[len], dtype, 0.0);
        files.push((
            format!("{name}.init.pb"),
            init.to_proto(compression).encode_to_vec(),
        ));
        let encode = |cs: &[Chunk], c: Compression| -> Vec<u8> {
            cs.iter()
                .flat_map(|x| x.to_proto(c).encode_length_delimited_to_vec())
                .collect()
        };
        files.push((format!("{name}.chunks.pb"), encode(&chunks, compression)));
        files.push((
            format!("{name}.expected.pb"),
            encode(&expected, Compression::None),
        ));
    }
    // An initializer with an LZ4 initial state, as a late joiner gets it.
    let values: Vec<f32> = (0..500)
        .map(|i| if i % 7 == 0 { i as f32 } else { 2.5 })
        .collect();
    let tensor = Tensor::from_slice(&[20, 25], &values).expect("tensor");
    let init = Initializer::from_tensor(&tensor, t(0));
    files.push((
        "rust_initializer_lz4.init.pb".into(),
        init.to_proto(Compression::Lz4).encode_to_vec(),
    ));
    let expected = Chunk {
        timestamp: t(0),
        starting_index: 0,
        dtype: DType::F32,
        data: tensor.as_bytes().to_vec(),
    };
    files.push((
        "rust_initializer_lz4.expected.pb".into(),
        expected
            .to_proto(Compression::None)
            .encode_length_delimited_to_vec(),
    ));
    files
}

#[test]
fn rust_fixtures_are_current_and_decode_here() {
    let bless = std::env::var_os("TSERCOM_BLESS").is_some();
    for (name, bytes) in rust_fixtures() {
        let path = dir().join(&name);
        if bless {
            std::fs::write(&path, &bytes).expect("write fixture");
            continue;
        }
        let committed = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{name}: {e} (TSERCOM_BLESS=1 writes it)"));
        assert!(
            committed == bytes,
            "{name} differs from what we encode now; TSERCOM_BLESS=1 rewrites it"
        );
    }
    // And they decode back here.
    for case in [
        "rust_sparse_f32_lz4",
        "rust_complete_f32_lz4",
        "rust_sparse_i64",
        "rust_sparse_bool_lz4",
        "rust_complete_f64",
    ] {
        let init = init(case);
        let mut demux = TensorDemuxer::new(&init, None, history()).expect("demux");
        for c in delimited(&format!("{case}.chunks.pb")) {
            demux.apply_proto(&c).expect("valid");
        }
        for m in delimited(&format!("{case}.expected.pb")) {
            let (t, tensor) = whole(&m, &init);
            assert_eq!(demux.at(t), Some(&tensor), "{case} at {t}");
        }
    }
    let init = init("rust_initializer_lz4");
    let (_, expected) = whole(&delimited("rust_initializer_lz4.expected.pb")[0], &init);
    assert_eq!(init.tensor().expect("tensor"), expected);
}
