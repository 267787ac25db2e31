//! Multiplexers: successive tensors in, chunks out. Python tsercom's
//! `SparseTensorMultiplexer` and `CompleteTensorMultiplexer`.

use super::history::{Timeline, copy_into};
use super::{Chunk, History, Initializer, Tensor, TensorError};
use crate::time::Timestamp;

/// Turns successive (possibly out-of-order) tensors into chunks.
pub trait Multiplexer: Send {
    /// Takes the tensor at `t`; returns the chunks to send, oldest first.
    ///
    /// # Errors
    /// [`TensorError::ShapeMismatch`] / [`TensorError::DTypeMismatch`] for a
    /// tensor unlike the stream's, [`TensorError::TooOld`] at or before the
    /// oldest state kept.
    fn process(&mut self, tensor: &Tensor, t: Timestamp) -> Result<Vec<Chunk>, TensorError>;

    /// The newest state taken (the initial state before any).
    fn latest(&self) -> (Option<Timestamp>, &Tensor);

    /// The state at exactly `t`, when kept.
    fn at(&self, t: Timestamp) -> Option<&Tensor>;

    /// A receiver's starting point: the newest state.
    fn initializer(&self) -> Initializer {
        let (t, tensor) = self.latest();
        Initializer::from_tensor(tensor, t.unwrap_or(Timestamp::UNIX_EPOCH))
    }
}

/// Shared by both multiplexers: the states taken, by time.
#[derive(Clone, Debug)]
struct MuxState {
    timeline: Timeline<Tensor>,
}

impl MuxState {
    fn new(initial: Tensor, history: History) -> Self {
        MuxState {
            timeline: Timeline::new(initial, None, history),
        }
    }

    fn check(&self, tensor: &Tensor, t: Timestamp) -> Result<(), TensorError> {
        let base = &self.timeline.floor;
        if tensor.dtype() != base.dtype() {
            return Err(TensorError::DTypeMismatch(format!(
                "the stream is {}, the tensor {}",
                base.dtype(),
                tensor.dtype()
            )));
        }
        if tensor.shape() != base.shape() {
            return Err(TensorError::ShapeMismatch {
                expected: base.shape().to_vec(),
                got: tensor.shape().to_vec(),
            });
        }
        self.timeline.check_time(t)
    }

    /// Stores `tensor` at `t`: `None` when the same tensor is already
    /// there, else its index and the tensor it replaced.
    fn insert(&mut self, tensor: &Tensor, t: Timestamp) -> Option<(usize, Option<Tensor>)> {
        match self.timeline.find(t) {
            Ok(i) if self.timeline.entries[i].1 == *tensor => None,
            Ok(i) => {
                let copy = copy_into(self.timeline.take_spare(), tensor);
                Some((
                    i,
                    Some(std::mem::replace(&mut self.timeline.entries[i].1, copy)),
                ))
            }
            Err(i) => {
                let copy = copy_into(self.timeline.take_spare(), tensor);
                self.timeline.entries.insert(i, (t, copy));
                Some((i, None))
            }
        }
    }

    fn latest(&self) -> (Option<Timestamp>, &Tensor) {
        match self.timeline.entries.last() {
            Some((t, tensor)) => (Some(*t), tensor),
            None => (self.timeline.floor_time, &self.timeline.floor),
        }
    }

    fn at(&self, t: Timestamp) -> Option<&Tensor> {
        self.timeline
            .find(t)
            .ok()
            .map(|i| &self.timeline.entries[i].1)
    }
}

/// Sends only what changed: each run of changed elements is a chunk, runs
/// at most `gap` unchanged elements apart are merged (with those elements)
/// into one. A tensor inserted before later ones re-sends the later ones'
/// changes against their new predecessors, as Python tsercom does. With
/// `gap` 0 the chunks are exactly Python's.
#[derive(Clone, Debug)]
pub struct SparseMultiplexer {
    state: MuxState,
    gap: usize,
}

/// The default merge gap of [`SparseMultiplexer`]: about the bytes a
/// chunk's own fields take on the wire, in elements of 4 bytes.
pub const DEFAULT_GAP: usize = 6;

impl SparseMultiplexer {
    /// Diffs the first tensor against `initial` (Python tsercom: zeros of
    /// float32), keeps `history`, merges runs [`DEFAULT_GAP`] apart.
    pub fn new(initial: Tensor, history: History) -> Self {
        SparseMultiplexer {
            state: MuxState::new(initial, history),
            gap: DEFAULT_GAP,
        }
    }

    /// Sets the merge gap (0: only adjacent changes share a chunk).
    #[must_use]
    pub fn with_gap(mut self, gap: usize) -> Self {
        self.gap = gap;
        self
    }

    /// States dropped by the history limits so far.
    pub fn evicted(&self) -> u64 {
        self.state.timeline.evicted
    }
}

impl Multiplexer for SparseMultiplexer {
    fn process(&mut self, tensor: &Tensor, t: Timestamp) -> Result<Vec<Chunk>, TensorError> {
        self.state.check(tensor, t)?;
        let Some((index, replaced)) = self.state.insert(tensor, t) else {
            return Ok(Vec::new());
        };
        let tl = &self.state.timeline;
        let mut chunks = Vec::new();
        for i in index..tl.entries.len() {
            let (ti, ref new) = tl.entries[i];
            // A replaced tensor's earlier chunks still stand at `t` on the
            // receiver: what changed since them is re-sent too (Python
            // tsercom diffs against the predecessor only, and a receiver
            // keeps stale values where the new tensor equals it).
            let also = if i == index { replaced.as_ref() } else { None };
            diff(tl.before(i, |x| x), also, new, ti, self.gap, &mut chunks);
        }
        self.state.timeline.evict(|x| x);
        Ok(chunks)
    }

    fn latest(&self) -> (Option<Timestamp>, &Tensor) {
        self.state.latest()
    }

    fn at(&self, t: Timestamp) -> Option<&Tensor> {
        self.state.at(t)
    }
}

/// Sends the whole tensor at every step (one chunk at index 0); a repeat
/// of the same tensor at the same time sends nothing.
#[derive(Clone, Debug)]
pub struct CompleteMultiplexer {
    state: MuxState,
}

impl CompleteMultiplexer {
    /// For tensors shaped like `initial`, keeping `history`.
    pub fn new(initial: Tensor, history: History) -> Self {
        CompleteMultiplexer {
            state: MuxState::new(initial, history),
        }
    }
}

impl Multiplexer for CompleteMultiplexer {
    fn process(&mut self, tensor: &Tensor, t: Timestamp) -> Result<Vec<Chunk>, TensorError> {
        self.state.check(tensor, t)?;
        if self.state.insert(tensor, t).is_none() {
            return Ok(Vec::new());
        }
        self.state.timeline.evict(|x| x);
        Ok(vec![Chunk {
            timestamp: t,
            starting_index: 0,
            dtype: tensor.dtype(),
            data: tensor.as_bytes().to_vec(),
        }])
    }

    fn latest(&self) -> (Option<Timestamp>, &Tensor) {
        self.state.latest()
    }

    fn at(&self, t: Timestamp) -> Option<&Tensor> {
        self.state.at(t)
    }
}

/// Appends to `out` the chunks that turn `old` into `new` at `t`: runs of
/// elements whose bytes differ from `old` (or from `also`), merged across
/// gaps of at most `gap`.
pub(crate) fn diff(
    old: &Tensor,
    also: Option<&Tensor>,
    new: &Tensor,
    t: Timestamp,
    gap: usize,
    out: &mut Vec<Chunk>,
) {
    if let Some(also) = also {
        // Rare (a tensor replaced at the same time): diff against a
        // tensor that differs wherever either does.
        let mut merged = old.clone();
        let size = new.dtype().size();
        for ((m, x), y) in merged
            .bytes_mut()
            .chunks_exact_mut(size)
            .zip(also.as_bytes().chunks_exact(size))
            .zip(new.as_bytes().chunks_exact(size))
        {
            if x != y {
                // Differs from `new` wherever `also` does.
                m.copy_from_slice(x);
            }
        }
        // Where `old` == `new` but `also` != `new`, `merged` now holds
        // `also`: a difference. Where `old` != `new`, it stays one.
        return diff(&merged, None, new, t, gap, out);
    }
    let size = new.dtype().size();
    let (a, b) = (old.as_bytes(), new.as_bytes());
    if a.len() != b.len() {
        return;
    }
    // Whole blocks compare with one memcmp; only differing blocks are
    // walked element by element.
    const BLOCK: usize = 64;
    let block = BLOCK * size;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut push = |i: usize| match runs.last_mut() {
        Some((_, end)) if i <= *end + gap => *end = i + 1,
        _ => runs.push((i, i + 1)),
    };
    for (k, (x, y)) in a.chunks(block).zip(b.chunks(block)).enumerate() {
        if x == y {
            continue;
        }
        for (j, (ex, ey)) in x.chunks_exact(size).zip(y.chunks_exact(size)).enumerate() {
            if ex != ey {
                push(k * BLOCK + j);
            }
        }
    }
    out.extend(runs.into_iter().map(|(s, e)| Chunk {
        timestamp: t,
        starting_index: s,
        dtype: new.dtype(),
        data: b[s * size..e * size].to_vec(),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::new(1_000 + s, 0).expect("time")
    }

    fn runs(chunks: &[Chunk]) -> Vec<(i64, usize, Vec<f32>)> {
        chunks
            .iter()
            .map(|c| {
                let v = c
                    .data
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                (c.timestamp.seconds() - 1_000, c.starting_index, v)
            })
            .collect()
    }

    use super::super::DType;

    #[test]
    fn sparse_sends_runs_and_merges_small_gaps() {
        let zeros = Tensor::zeros(&[10], DType::F32).expect("zeros");
        let mut exact = SparseMultiplexer::new(zeros.clone(), History::default()).with_gap(0);
        let x = Tensor::from_vec(&[1.0f32, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0]);
        let chunks = exact.process(&x, t(1)).expect("process");
        assert_eq!(
            runs(&chunks),
            vec![(1, 0, vec![1.0, 1.0]), (1, 3, vec![1.0]), (1, 9, vec![2.0])]
        );
        let mut merged = SparseMultiplexer::new(zeros, History::default()).with_gap(1);
        let chunks = merged.process(&x, t(1)).expect("process");
        assert_eq!(
            runs(&chunks),
            vec![(1, 0, vec![1.0, 1.0, 0.0, 1.0]), (1, 9, vec![2.0])]
        );
        assert!(merged.process(&x, t(1)).expect("same").is_empty());
        assert!(merged.process(&x, t(2)).expect("unchanged").is_empty());
    }

    #[test]
    fn out_of_order_re_sends_later_diffs() {
        let zeros = Tensor::zeros(&[3], DType::F32).expect("zeros");
        let mut m = SparseMultiplexer::new(zeros, History::default()).with_gap(0);
        m.process(&Tensor::from_vec(&[1.0f32, 1.0, 1.0]), t(2))
            .expect("t2");
        let chunks = m
            .process(&Tensor::from_vec(&[1.0f32, 0.0, 0.0]), t(1))
            .expect("t1");
        assert_eq!(
            runs(&chunks),
            vec![(1, 0, vec![1.0]), (2, 1, vec![1.0, 1.0])]
        );
    }

    #[test]
    fn complete_sends_everything_and_refuses_other_shapes() {
        let zeros = Tensor::zeros(&[2], DType::F32).expect("zeros");
        let mut m = CompleteMultiplexer::new(zeros, History::default());
        let x = Tensor::from_vec(&[1.0f32, 2.0]);
        assert_eq!(
            runs(&m.process(&x, t(1)).expect("p")),
            vec![(1, 0, vec![1.0, 2.0])]
        );
        assert_eq!(m.process(&x, t(2)).expect("p").len(), 1);
        assert!(matches!(
            m.process(&Tensor::from_vec(&[1.0f32]), t(3)),
            Err(TensorError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            m.process(&Tensor::from_vec(&[1.0f64, 2.0]), t(3)),
            Err(TensorError::DTypeMismatch(_))
        ));
    }

    #[test]
    fn history_limits_evict_and_refuse_older_data() {
        let zeros = Tensor::zeros(&[1], DType::F32).expect("zeros");
        let history = History {
            max_count: 2,
            max_age: None,
        };
        let mut m = SparseMultiplexer::new(zeros, history);
        for s in 1..=4 {
            m.process(&Tensor::from_vec(&[s as f32]), t(s)).expect("p");
        }
        assert_eq!(m.evicted(), 2);
        assert!(m.at(t(2)).is_none());
        assert!(m.at(t(3)).is_some());
        assert!(matches!(
            m.process(&Tensor::from_vec(&[9.0f32]), t(2)),
            Err(TensorError::TooOld { .. })
        ));
        assert_eq!(m.latest().0, Some(t(4)));
    }
}
