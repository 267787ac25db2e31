//! Why a tensor chunk, update, initializer or tensor was refused.

use crate::time::Timestamp;

/// Why a tensor operation was refused. Receivers count each refusal
/// ([`DemuxStats`](super::DemuxStats)) and go on: the stream and the
/// reconstructed state are unchanged by a refused chunk.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// A chunk reaches past the end of the tensor (or a shape grew without
    /// a new initializer).
    #[error(
        "chunk of {len} element(s) at index {start} is outside the tensor of {tensor_len} element(s) \
         (a changed shape needs a new TensorInitializer)"
    )]
    IndexOutOfRange {
        /// The chunk's first index.
        start: u64,
        /// Its number of elements.
        len: u64,
        /// The tensor's number of elements.
        tensor_len: usize,
    },
    /// A chunk's `starting_index` is negative.
    #[error("chunk starting_index {0} is negative")]
    NegativeIndex(i64),
    /// The bytes are not elements of the stream's dtype (their length is not
    /// a multiple of its size, or a `bool` byte is neither 0 nor 1), or a
    /// tensor of another dtype was given.
    #[error("dtype mismatch: {0}")]
    DTypeMismatch(String),
    /// A tensor's shape is not the one the stream was set up with.
    #[error("shape mismatch: expected {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// The stream's shape.
        expected: Vec<usize>,
        /// The one given.
        got: Vec<usize>,
    },
    /// The LZ4 frame does not decode.
    #[error("corrupt LZ4 frame: {0}")]
    CorruptLz4(String),
    /// A chunk's compression is neither NONE nor LZ4.
    #[error("unknown compression type {0}")]
    UnknownCompression(i32),
    /// Decompressed data larger than the tensor it belongs to.
    #[error("decompressed chunk exceeds {limit} bytes")]
    TooLarge {
        /// The limit (the tensor's size in bytes).
        limit: usize,
    },
    /// A dtype name tsercom does not know (or does not support).
    #[error(
        "unsupported dtype {0:?} (supported: bool, uint8, int8, int16, int32, int64, float32, float64)"
    )]
    UnsupportedDType(String),
    /// A shape with a negative dimension, or too many elements.
    #[error("invalid shape {0:?}")]
    InvalidShape(Vec<i64>),
    /// A chunk has no timestamp, or one out of range.
    #[error("chunk timestamp: {0}")]
    BadTimestamp(String),
    /// Data for a time at or before the oldest state still kept (evicted by
    /// the history's age or count limit).
    #[error("data at {t} is at or before the oldest state kept ({floor})")]
    TooOld {
        /// The data's time.
        t: Timestamp,
        /// The oldest time kept.
        floor: Timestamp,
    },
    /// Chunks arrived on a stream before its TensorInitializer.
    #[error("tensor update before any TensorInitializer")]
    NoInitializer,
    /// A configuration value is not acceptable.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What.
        what: &'static str,
        /// Why.
        reason: String,
    },
}
