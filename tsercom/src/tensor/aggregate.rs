//! Several named tensors in one stream: each is a range of one flat
//! tensor. Python tsercom's `AggregateTensorMultiplexer`.

use std::ops::Range;

use super::{
    Chunk, CompleteMultiplexer, DType, History, Initializer, Multiplexer, SparseMultiplexer,
    Tensor, TensorError,
};
use crate::time::Timestamp;

/// How a part of an aggregate is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartKind {
    /// Only what changed ([`SparseMultiplexer`], with its merge gap).
    Sparse {
        /// Merge gap in elements.
        gap: usize,
    },
    /// The whole part each time ([`CompleteMultiplexer`]).
    Complete,
}

struct Part {
    name: String,
    range: Range<usize>,
    mux: Box<dyn Multiplexer>,
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("name", &self.name)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// Named 1-D tensors of one dtype, each mapped to a range of one flat
/// aggregate tensor (appended in order, or at an explicit range);
/// [`process`](Self::process) of a part gives chunks indexed in the
/// aggregate. The receiver is a plain [`TensorDemuxer`](super::TensorDemuxer)
/// of [`initializer`](Self::initializer).
#[derive(Debug)]
pub struct AggregateMultiplexer {
    dtype: DType,
    parts: Vec<Part>,
    history: History,
}

impl AggregateMultiplexer {
    /// An empty aggregate of `dtype` elements; each part keeps `history`.
    pub fn new(dtype: DType, history: History) -> Self {
        AggregateMultiplexer {
            dtype,
            parts: Vec::new(),
            history,
        }
    }

    /// Appends a part of `len` elements after the last one; returns its
    /// range in the aggregate.
    ///
    /// # Errors
    /// [`TensorError::Invalid`] for a name already used or `len` 0.
    pub fn add(
        &mut self,
        name: &str,
        len: usize,
        kind: PartKind,
    ) -> Result<Range<usize>, TensorError> {
        let start = self.len();
        let range = start..start + len;
        self.add_at(name, range.clone(), kind)?;
        Ok(range)
    }

    /// Adds a part at `range` of the aggregate.
    ///
    /// # Errors
    /// [`TensorError::Invalid`] for a name already used, an empty range, or
    /// one overlapping another part's.
    pub fn add_at(
        &mut self,
        name: &str,
        range: Range<usize>,
        kind: PartKind,
    ) -> Result<(), TensorError> {
        let invalid = |reason: String| TensorError::Invalid {
            what: "aggregate part",
            reason,
        };
        if range.is_empty() {
            return Err(invalid(format!("`{name}`: empty range {range:?}")));
        }
        if self.parts.iter().any(|p| p.name == name) {
            return Err(invalid(format!("`{name}` is already a part")));
        }
        if let Some(p) = self
            .parts
            .iter()
            .find(|p| p.range.start < range.end && range.start < p.range.end)
        {
            return Err(invalid(format!(
                "`{name}` at {range:?} overlaps `{}` at {:?}",
                p.name, p.range
            )));
        }
        let zeros = Tensor::zeros(&[range.len()], self.dtype)?;
        let mux: Box<dyn Multiplexer> = match kind {
            PartKind::Sparse { gap } => {
                Box::new(SparseMultiplexer::new(zeros, self.history).with_gap(gap))
            }
            PartKind::Complete => Box::new(CompleteMultiplexer::new(zeros, self.history)),
        };
        self.parts.push(Part {
            name: name.to_owned(),
            range,
            mux,
        });
        Ok(())
    }

    /// The aggregate's length: the end of the furthest part.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.range.end).max().unwrap_or(0)
    }

    /// Whether no part was added.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The range of part `name`.
    pub fn range(&self, name: &str) -> Option<Range<usize>> {
        self.parts
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.range.clone())
    }

    /// Takes part `name`'s tensor (1-D, its length) at `t`; returns chunks
    /// indexed in the aggregate.
    ///
    /// # Errors
    /// [`TensorError::Invalid`] for an unknown part, else as
    /// [`Multiplexer::process`].
    pub fn process(
        &mut self,
        name: &str,
        tensor: &Tensor,
        t: Timestamp,
    ) -> Result<Vec<Chunk>, TensorError> {
        let part = self
            .parts
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| TensorError::Invalid {
                what: "aggregate part",
                reason: format!("no part `{name}`"),
            })?;
        let mut chunks = part.mux.process(tensor, t)?;
        for c in &mut chunks {
            c.starting_index += part.range.start;
        }
        Ok(chunks)
    }

    /// The aggregate's current state, for a receiver to start from (gaps
    /// between parts are zeros).
    ///
    /// # Errors
    /// [`TensorError::InvalidShape`] when too large.
    pub fn initializer(&self, at: Timestamp) -> Result<Initializer, TensorError> {
        let mut whole = Tensor::zeros(&[self.len()], self.dtype)?;
        for p in &self.parts {
            whole.write(p.range.start, p.mux.latest().1.as_bytes())?;
        }
        Ok(Initializer::from_tensor(&whole, at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_map_to_ranges_and_refuse_overlaps() {
        let mut agg = AggregateMultiplexer::new(DType::F32, History::default());
        assert_eq!(agg.add("a", 3, PartKind::Sparse { gap: 0 }), Ok(0..3));
        assert_eq!(agg.add("b", 2, PartKind::Complete), Ok(3..5));
        assert!(agg.add_at("c", 4..6, PartKind::Complete).is_err());
        assert!(agg.add("a", 1, PartKind::Complete).is_err());
        agg.add_at("d", 8..9, PartKind::Complete)
            .expect("gap is fine");
        assert_eq!(agg.len(), 9);
        let t = Timestamp::new(5, 0).expect("time");
        let chunks = agg
            .process("b", &Tensor::from_vec(&[1.0f32, 2.0]), t)
            .expect("b");
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].starting_index, 3);
        let chunks = agg
            .process("a", &Tensor::from_vec(&[0.0f32, 7.0, 0.0]), t)
            .expect("a");
        assert_eq!(chunks[0].starting_index, 1);
        assert!(agg.process("zz", &Tensor::from_vec(&[1.0f32]), t).is_err());
        let state = agg.initializer(t).expect("init").tensor().expect("tensor");
        assert_eq!(
            state.to_vec::<f32>(),
            Ok(vec![0.0, 7.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0])
        );
    }
}
