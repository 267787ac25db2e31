//! The runtime adapters without a runtime: what a `TensorSource` emits
//! (`TensorFrame`s) rebuilt by a `TensorAggregator`; frames refused whole
//! (an update before any initializer, a bad initializer) and chunks refused
//! one by one are counted and change nothing; a shape change comes with a
//! new initializer and starts over.

use tsercom::proto::{TensorFrame, TensorUpdate};
use tsercom::tensor::{
    Compression, History, Initializer, Tensor, TensorAggregator, TensorError, TensorSource,
};
use tsercom::{CallerId, Timestamp};

fn at(ms: i64) -> Timestamp {
    Timestamp::new(1_700_000_000, 0)
        .expect("time")
        .offset_by_nanos(i128::from(ms) * 1_000_000)
        .expect("time")
}

#[test]
fn frames_rebuild_the_tensor_on_the_frames_time() {
    let caller = CallerId::random();
    let mut source =
        TensorSource::sparse(Tensor::from_vec(&[0.0f32; 8])).with_compression(Compression::Auto);
    let mut tensors = TensorAggregator::new(History::default());
    // The greeting: the whole state, as of its time.
    let greeting = source.initializer_frame();
    tensors
        .ingest_frame(caller, at(0), &greeting)
        .expect("initializer");
    let mut values = [0.0f32; 8];
    for step in 1..=5 {
        values[step] = step as f32;
        let frames = source
            .frames(&Tensor::from_vec(&values), at(step as i64 * 10))
            .expect("frames");
        assert_eq!(frames.len(), 1);
        // Chunks travel without their own timestamps: the frame's is theirs.
        let chunks = &frames[0].update.as_ref().expect("update").chunks;
        assert!(chunks.iter().all(|c| c.timestamp.is_none()));
        // The sample's time (the aggregator's clock) is what counts.
        let applied = tensors
            .ingest_frame(caller, at(step as i64 * 10 + 3), &frames[0])
            .expect("frame");
        assert_eq!(applied.changed, vec![at(step as i64 * 10 + 3)]);
    }
    let (t, latest) = tensors.latest(caller).expect("latest");
    assert_eq!(t, Some(at(53)));
    assert_eq!(latest, &Tensor::from_vec(&values));
    let (before, _) = tensors.at_or_before(caller, at(30)).expect("at or before");
    assert_eq!(before, at(23));
    let mid = tensors.interpolated(caller, at(28)).expect("interpolated");
    assert_eq!(mid.to_vec::<f32>().expect("f32")[3], 1.5);
    let stats = tensors.stats(caller).expect("stats");
    assert_eq!(
        (stats.frames, stats.initializers, stats.refused_frames),
        (6, 1, 0)
    );
}

#[test]
fn bad_frames_are_refused_counted_and_change_nothing() {
    let caller = CallerId::random();
    let mut tensors = TensorAggregator::new(History::default());
    let mut source = TensorSource::complete(Tensor::from_vec(&[1i64, 2, 3]));
    let update = source
        .frames(&Tensor::from_vec(&[1i64, 2, 4]), at(10))
        .expect("frames")
        .remove(0);
    // An update before any initializer.
    assert_eq!(
        tensors.ingest_frame(caller, at(10), &update),
        Err(TensorError::NoInitializer)
    );
    assert!(tensors.latest(caller).is_none());
    // A bad initializer.
    let mut bad = source.initializer_frame();
    if let Some(init) = bad.initializer.as_mut() {
        init.dtype = "complex128".into();
    }
    assert!(matches!(
        tensors.ingest_frame(caller, at(11), &bad),
        Err(TensorError::UnsupportedDType(_))
    ));
    // Then a good one, and the update.
    tensors
        .ingest_frame(caller, at(0), &source.initializer_frame())
        .expect("initializer");
    tensors
        .ingest_frame(caller, at(20), &update)
        .expect("update");
    assert_eq!(
        tensors.latest(caller).map(|(_, t)| t.clone()),
        Some(Tensor::from_vec(&[1i64, 2, 4]))
    );
    // A chunk past the end (the producer's tensor grew, no initializer):
    // refused alone, the state unchanged, the error says what is needed.
    let grown = TensorFrame {
        timestamp: None,
        initializer: None,
        update: Some(TensorUpdate {
            chunks: vec![
                tsercom::tensor::Chunk {
                    timestamp: at(30),
                    starting_index: 0,
                    dtype: tsercom::tensor::DType::I64,
                    data: [7i64, 7, 7, 7]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                }
                .to_proto(Compression::None),
            ],
        }),
    };
    let applied = tensors.ingest_frame(caller, at(30), &grown).expect("frame");
    assert!(applied.changed.is_empty());
    assert!(matches!(
        applied.refused.as_slice(),
        [TensorError::IndexOutOfRange { tensor_len: 3, .. }]
    ));
    assert_eq!(
        tensors.latest(caller).map(|(_, t)| t.clone()),
        Some(Tensor::from_vec(&[1i64, 2, 4]))
    );
    let stats = tensors.stats(caller).expect("stats");
    assert_eq!(stats.refused_frames, 2);
    assert_eq!(stats.chunks.refused, 1);
    assert!(
        stats
            .last_error
            .expect("last")
            .to_string()
            .contains("TensorInitializer")
    );
    // A shape change with its initializer starts over.
    let wider = Initializer::from_tensor(&Tensor::from_vec(&[9i64; 5]), at(40));
    let frame = TensorFrame {
        timestamp: None,
        initializer: Some(wider.to_proto(Compression::None)),
        update: None,
    };
    tensors
        .ingest_frame(caller, at(40), &frame)
        .expect("new shape");
    assert_eq!(
        tensors.latest(caller).map(|(_, t)| t.clone()),
        Some(Tensor::from_vec(&[9i64; 5]))
    );
    assert_eq!(tensors.stats(caller).expect("stats").initializers, 2);
}
