//! Tensor streaming, wire-compatible with Python tsercom's
//! `tsercom.tensor`: multiplexers turn successive tensors into chunks,
//! demultiplexers rebuild each timestamp's tensor from chunks arriving in
//! any order.
//!
//! ```text
//!  producer                                                   aggregator
//!  Tensor ─▶ SparseMultiplexer / CompleteMultiplexer ─▶ Chunk ─▶ TensorChunk (raw or LZ4 frame)
//!            AggregateMultiplexer (named parts)                   │
//!                                                                 ▼
//!  Initializer (shape, dtype, fill, initial chunks) ───────▶ TensorDemuxer ─▶ state per timestamp:
//!                                                            SmoothedDemuxer   latest, at_or_before(t),
//!                                                                              interpolated(t), grid
//! ```
//!
//! # Wire format (as Python tsercom writes it)
//! - `TensorChunk.starting_index` counts **elements** of the flattened
//!   (row-major) tensor; `data_bytes` are the elements, little-endian
//!   (numpy's `tobytes()`), of the stream's dtype, which the chunk does not
//!   carry: the receiver knows it from the `TensorInitializer`.
//! - `compression = LZ4`: `data_bytes` is one LZ4 **frame**
//!   (`lz4.frame.compress` in Python; [`lz4_compress`] here).
//! - dtype names: `"bool"`, `"uint8"`, `"int8"`, `"int16"`, `"int32"`,
//!   `"int64"`, `"float32"`, `"float64"` ([`DType`]; `float16` is refused).
//! - A sparse multiplexer with gap 0 emits exactly Python's chunks: each
//!   run of adjacent changed elements. Python diffs its first tensor
//!   against zeros, not against its initializer: to rebuild a Python
//!   stream exactly, start the demultiplexer from zeros
//!   ([`Initializer::filled`] with 0), as Python's `TensorDemuxer` does.
//!
//! # Example
//! ```
//! use tsercom::tensor::{Compression, History, Initializer, Multiplexer, SparseMultiplexer, Tensor, TensorDemuxer};
//! use tsercom::Timestamp;
//!
//! let initial = Tensor::from_vec(&[0.0f32; 6]);
//! let mut mux = SparseMultiplexer::new(initial.clone(), History::default());
//! let mut demux = TensorDemuxer::new(&Initializer::from_tensor(&initial, Timestamp::UNIX_EPOCH), None, History::default())?;
//!
//! let t = Timestamp::now();
//! let step = Tensor::from_vec(&[0.0f32, 1.5, 0.0, 0.0, 0.0, -2.0]);
//! for chunk in mux.process(&step, t)? {
//!     demux.apply_proto(&chunk.to_proto(Compression::Lz4))?;   // what crosses the wire
//! }
//! assert_eq!(demux.at(t), Some(&step));
//! # Ok::<(), tsercom::tensor::TensorError>(())
//! ```
//!
//! On a runtime, `data = tsercom.TensorFrame` carries one timestamp's
//! update (and, to each aggregator first, the whole state): the producer
//! publishes with a [`TensorSource`], the aggregator rebuilds each
//! producer's tensor with a [`TensorAggregator`].

mod aggregate;
mod chunk;
mod demux;
mod dtype;
mod error;
mod history;
mod initializer;
mod mux;
#[cfg(feature = "ndarray")]
mod ndarray;
mod smoothed;
mod stream;
mod value;

pub use aggregate::{AggregateMultiplexer, PartKind};
pub use chunk::{Chunk, Compression, encode_update, lz4_compress, lz4_decompress};
pub use demux::{Applied, DemuxStats, TensorDemuxer};
pub use dtype::{DType, Element};
pub use error::TensorError;
pub use history::History;
pub use initializer::Initializer;
pub use mux::{CompleteMultiplexer, DEFAULT_GAP, Multiplexer, SparseMultiplexer};
pub use smoothed::SmoothedDemuxer;
pub use stream::{TensorAggregator, TensorSource, TensorStats};
pub use value::{MAX_ELEMENTS, Tensor};
