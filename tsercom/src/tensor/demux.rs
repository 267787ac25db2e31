//! The demultiplexer: chunks in (in any order), each timestamp's full
//! tensor out. Python tsercom's `TensorDemuxer`.

use std::ops::Range;

use super::history::{Timeline, copy_into};
use super::{Chunk, DType, History, Initializer, Tensor, TensorError};
use crate::proto;
use crate::time::Timestamp;

/// One timestamp's state and the writes received for it.
#[derive(Clone, Debug)]
pub(crate) struct Keyframe {
    pub(crate) state: Tensor,
    /// `(first element, bytes)` in arrival order (later writes win).
    writes: Vec<(usize, Vec<u8>)>,
}

/// Counters of a demultiplexer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DemuxStats {
    /// Chunks applied.
    pub applied: u64,
    /// Chunks refused (each with a [`TensorError`]).
    pub refused: u64,
    /// States dropped by the history limits.
    pub evicted: u64,
    /// The last refusal.
    pub last_error: Option<TensorError>,
}

/// What [`TensorDemuxer::apply_update`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Timestamps whose state changed (new, updated or recomputed after an
    /// earlier one changed), sorted.
    pub changed: Vec<Timestamp>,
    /// The chunks refused, each with its error.
    pub refused: Vec<TensorError>,
}

/// Rebuilds a tensor stream: the state at each timestamp is the state at
/// the previous one with that timestamp's chunks written over it. Chunks
/// arrive in any order; one for an earlier time recomputes the later
/// states it shows through. The state before the first timestamp is the
/// initializer's. Bad chunks are refused, counted, and change nothing.
#[derive(Clone, Debug)]
pub struct TensorDemuxer {
    timeline: Timeline<Keyframe>,
    stats: DemuxStats,
}

impl TensorDemuxer {
    /// Starts from `init`'s tensor as the state as of `at` (`None`: before
    /// any time), keeping `history`.
    ///
    /// # Errors
    /// The initializer's, when its chunks do not fit its shape.
    pub fn new(
        init: &Initializer,
        at: Option<Timestamp>,
        history: History,
    ) -> Result<Self, TensorError> {
        Ok(TensorDemuxer {
            timeline: Timeline::new(init.tensor()?, at, history),
            stats: DemuxStats::default(),
        })
    }

    /// Starts over from `init` as of `at` (another shape or dtype is
    /// fine); the counters go on.
    ///
    /// # Errors
    /// As [`new`](Self::new); the demultiplexer is unchanged then.
    pub fn reset(&mut self, init: &Initializer, at: Option<Timestamp>) -> Result<(), TensorError> {
        let history = self.timeline.history;
        let evicted = self.timeline.evicted;
        self.timeline = Timeline::new(init.tensor()?, at, history);
        self.timeline.evicted = evicted;
        Ok(())
    }

    /// The tensor's shape.
    pub fn shape(&self) -> &[usize] {
        self.timeline.floor.shape()
    }

    /// The tensor's dtype.
    pub fn dtype(&self) -> DType {
        self.timeline.floor.dtype()
    }

    /// Elements of the tensor.
    pub fn len(&self) -> usize {
        self.timeline.floor.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.timeline.floor.is_empty()
    }

    /// The counters.
    pub fn stats(&self) -> DemuxStats {
        DemuxStats {
            evicted: self.timeline.evicted,
            ..self.stats.clone()
        }
    }

    /// Applies one chunk; returns the timestamps whose state changed.
    ///
    /// # Errors
    /// [`TensorError::DTypeMismatch`], [`TensorError::IndexOutOfRange`],
    /// [`TensorError::TooOld`]; the refusal is counted.
    pub fn apply(&mut self, chunk: &Chunk) -> Result<Vec<Timestamp>, TensorError> {
        let mut changed = Vec::new();
        let result = self.apply_inner(chunk, &mut changed);
        self.count(result.map(|()| changed))
    }

    /// Reads and applies one wire chunk.
    ///
    /// # Errors
    /// As [`Chunk::from_proto`] and [`apply`](Self::apply); counted.
    pub fn apply_proto(&mut self, msg: &proto::TensorChunk) -> Result<Vec<Timestamp>, TensorError> {
        match Chunk::from_proto(msg, self.dtype(), self.len()) {
            Ok(chunk) => self.apply(&chunk),
            Err(e) => self.count(Err(e)),
        }
    }

    /// Applies every chunk of an update, oldest timestamp first (chunks of
    /// one timestamp in their order); bad chunks are refused one by one.
    pub fn apply_update(&mut self, msg: &proto::TensorUpdate) -> Applied {
        let mut parsed = Vec::with_capacity(msg.chunks.len());
        let mut applied = Applied::default();
        for c in &msg.chunks {
            match Chunk::from_proto(c, self.dtype(), self.len()) {
                Ok(chunk) => parsed.push(chunk),
                Err(e) => {
                    let _ = self.count::<()>(Err(e.clone()));
                    applied.refused.push(e);
                }
            }
        }
        let more = self.apply_chunks(&mut parsed);
        applied.changed = more.changed;
        applied.refused.extend(more.refused);
        applied
    }

    /// Applies `chunks`, oldest timestamp first (stable within one).
    pub fn apply_chunks(&mut self, chunks: &mut [Chunk]) -> Applied {
        chunks.sort_by_key(|c| c.timestamp);
        let mut applied = Applied::default();
        for c in chunks.iter() {
            match self.apply(c) {
                Ok(changed) => applied.changed.extend(changed),
                Err(e) => applied.refused.push(e),
            }
        }
        applied.changed.sort();
        applied.changed.dedup();
        applied
    }

    /// Counts a chunk refused before it reached the demultiplexer (it did
    /// not decode for this stream), like its own refusals.
    pub(crate) fn refuse(&mut self, error: TensorError) {
        let _refused: Result<(), TensorError> = self.count(Err(error));
    }

    fn count<T>(&mut self, result: Result<T, TensorError>) -> Result<T, TensorError> {
        match &result {
            Ok(_) => self.stats.applied += 1,
            Err(e) => {
                self.stats.refused += 1;
                self.stats.last_error = Some(e.clone());
                tracing::debug!(error = %e, "tensor chunk refused");
            }
        }
        result
    }

    fn apply_inner(
        &mut self,
        chunk: &Chunk,
        changed: &mut Vec<Timestamp>,
    ) -> Result<(), TensorError> {
        if chunk.dtype != self.dtype() {
            return Err(TensorError::DTypeMismatch(format!(
                "a {} chunk for a {} tensor",
                chunk.dtype,
                self.dtype()
            )));
        }
        chunk.dtype.check(&chunk.data)?;
        let size = chunk.dtype.size();
        let end = chunk.starting_index.checked_add(chunk.len());
        if end.is_none_or(|e| e > self.len()) {
            return Err(TensorError::IndexOutOfRange {
                start: chunk.starting_index as u64,
                len: chunk.len() as u64,
                tensor_len: self.len(),
            });
        }
        let t = chunk.timestamp;
        self.timeline.check_time(t)?;
        if chunk.is_empty() {
            return Ok(());
        }
        let bytes = chunk.starting_index * size..chunk.starting_index * size + chunk.data.len();
        let write = (chunk.starting_index, chunk.data.clone());
        let index = match self.timeline.find(t) {
            Ok(i) => {
                let kf = &mut self.timeline.entries[i].1;
                let same = kf.state.as_bytes()[bytes.clone()] == chunk.data[..];
                kf.state.bytes_mut()[bytes.clone()].copy_from_slice(&chunk.data);
                kf.writes.push(write);
                if same {
                    return Ok(());
                }
                i
            }
            Err(i) => {
                let spare = self.timeline.take_spare();
                let mut state = copy_into(spare, self.timeline.before(i, |k| &k.state));
                state.bytes_mut()[bytes.clone()].copy_from_slice(&chunk.data);
                let kf = Keyframe {
                    state,
                    writes: vec![write],
                };
                self.timeline.entries.insert(i, (t, kf));
                i
            }
        };
        changed.push(t);
        self.cascade(index, bytes, size, changed);
        self.timeline.evict(|k| k.state);
        Ok(())
    }

    /// Recomputes `bytes` of the states after `index` from their
    /// predecessors and their own writes, until one does not change.
    fn cascade(
        &mut self,
        index: usize,
        bytes: Range<usize>,
        size: usize,
        changed: &mut Vec<Timestamp>,
    ) {
        let entries = &mut self.timeline.entries;
        for k in index + 1..entries.len() {
            let (done, rest) = entries.split_at_mut(k);
            let prev = &done[k - 1].1.state.as_bytes()[bytes.clone()];
            let (tk, kf) = &mut rest[0];
            let mut fresh = prev.to_vec();
            for (start, data) in &kf.writes {
                let w = start * size..start * size + data.len();
                let (lo, hi) = (w.start.max(bytes.start), w.end.min(bytes.end));
                if lo < hi {
                    fresh[lo - bytes.start..hi - bytes.start]
                        .copy_from_slice(&data[lo - w.start..hi - w.start]);
                }
            }
            let current = &mut kf.state.bytes_mut()[bytes.clone()];
            if *current == fresh[..] {
                break;
            }
            current.copy_from_slice(&fresh);
            changed.push(*tk);
        }
    }

    /// The newest state and its time (the initial state, and its time if
    /// any, before the first chunk).
    pub fn latest(&self) -> (Option<Timestamp>, &Tensor) {
        match self.timeline.entries.last() {
            Some((t, k)) => (Some(*t), &k.state),
            None => (self.timeline.floor_time, &self.timeline.floor),
        }
    }

    /// The state at exactly `t`.
    pub fn at(&self, t: Timestamp) -> Option<&Tensor> {
        self.timeline
            .find(t)
            .ok()
            .map(|i| &self.timeline.entries[i].1.state)
    }

    /// The newest state at or before `t`, with its time.
    pub fn at_or_before(&self, t: Timestamp) -> Option<(Timestamp, &Tensor)> {
        let n = self.timeline.entries.partition_point(|(et, _)| *et <= t);
        match n.checked_sub(1) {
            Some(i) => {
                let (et, k) = &self.timeline.entries[i];
                Some((*et, &k.state))
            }
            None => self
                .timeline
                .floor_time
                .filter(|ft| *ft <= t)
                .map(|ft| (ft, &self.timeline.floor)),
        }
    }

    /// The state at `t`, linearly interpolated element by element between
    /// the states around it (the exact state at a kept time; `None` outside
    /// the kept range). Floats interpolate, integers round to nearest,
    /// `bool`s hold the earlier value.
    pub fn interpolated(&self, t: Timestamp) -> Option<Tensor> {
        let (before_t, before) = self.at_or_before(t)?;
        if before_t == t {
            return Some(before.clone());
        }
        let n = self.timeline.entries.partition_point(|(et, _)| *et <= t);
        let (after_t, after) = self
            .timeline
            .entries
            .get(n)
            .map(|(et, k)| (*et, &k.state))?;
        let span = after_t.nanos_since(&before_t);
        #[allow(clippy::cast_precision_loss)] // a fraction in 0..1: f64 is precise enough
        let f = t.nanos_since(&before_t) as f64 / span as f64;
        Some(lerp(before, after, f))
    }

    /// Every state kept, oldest first (the initial or floor state not
    /// included).
    pub fn states(&self) -> impl Iterator<Item = (Timestamp, &Tensor)> {
        self.timeline.entries.iter().map(|(t, k)| (*t, &k.state))
    }

    /// The time of the oldest state kept, the floor's if none.
    pub(crate) fn first_time(&self) -> Option<Timestamp> {
        self.timeline
            .floor_time
            .or(self.timeline.entries.first().map(|(t, _)| *t))
    }
}

/// `a + (b - a) * f`, element by element, in `a`'s dtype.
pub(crate) fn lerp(a: &Tensor, b: &Tensor, f: f64) -> Tensor {
    let dtype = a.dtype();
    let size = dtype.size();
    let mut out = a.clone();
    match dtype {
        DType::F32 => {
            #[allow(clippy::cast_possible_truncation)] // f32 in, f32 out
            let f32_f = f as f32;
            for (o, y) in out
                .bytes_mut()
                .chunks_exact_mut(4)
                .zip(b.as_bytes().chunks_exact(4))
            {
                let x = f32::from_le_bytes([o[0], o[1], o[2], o[3]]);
                let y = f32::from_le_bytes([y[0], y[1], y[2], y[3]]);
                o.copy_from_slice(&(x + (y - x) * f32_f).to_le_bytes());
            }
        }
        DType::Bool => {}
        _ => {
            for (o, y) in out
                .bytes_mut()
                .chunks_exact_mut(size)
                .zip(b.as_bytes().chunks_exact(size))
            {
                let (x, y) = (dtype.read_f64(o), dtype.read_f64(y));
                let v = x + (y - x) * f;
                dtype.write_f64(if dtype.is_float() { v } else { v.round() }, o);
            }
        }
    }
    out
}
