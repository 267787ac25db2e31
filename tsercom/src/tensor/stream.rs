//! Tensor streams on a runtime (`data = tsercom.TensorFrame`): a producer's
//! [`TensorSource`] publishes frames, an aggregator's [`TensorAggregator`]
//! rebuilds each producer's tensor.

use std::collections::{BTreeMap, HashSet};

use super::{
    Applied, Chunk, CompleteMultiplexer, Compression, DemuxStats, History, Initializer,
    Multiplexer, SparseMultiplexer, Tensor, TensorDemuxer, TensorError,
};
use crate::caller_id::CallerId;
use crate::data::Sample;
use crate::error::Result;
use crate::proto::{TensorFrame, TensorUpdate};
use crate::runtime::ProducerHandle;
use crate::time::Timestamp;

/// The producer side: multiplexes successive tensors into
/// [`TensorFrame`]s, one per timestamp, and sends each aggregator that
/// connects the whole current state first (so a late joiner starts from
/// it).
pub struct TensorSource {
    mux: Box<dyn Multiplexer>,
    compression: Compression,
    created: Timestamp,
    greeted: HashSet<CallerId>,
    keyframe_every: Option<u64>,
    published: u64,
}

impl std::fmt::Debug for TensorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorSource")
            .field("compression", &self.compression)
            .field("greeted", &self.greeted.len())
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl TensorSource {
    /// Sends only what changed ([`SparseMultiplexer`], default gap and
    /// [`History`]); `initial` is the state as of now.
    pub fn sparse(initial: Tensor) -> Self {
        Self::with_multiplexer(Box::new(SparseMultiplexer::new(
            initial,
            History::default(),
        )))
    }

    /// Sends the whole tensor each time ([`CompleteMultiplexer`]).
    pub fn complete(initial: Tensor) -> Self {
        Self::with_multiplexer(Box::new(CompleteMultiplexer::new(
            initial,
            History::default(),
        )))
    }

    /// Uses `mux` (its initial state is the state as of now).
    pub fn with_multiplexer(mux: Box<dyn Multiplexer>) -> Self {
        TensorSource {
            mux,
            compression: Compression::None,
            created: Timestamp::now(),
            greeted: HashSet::new(),
            keyframe_every: None,
            published: 0,
        }
    }

    /// Compresses chunk bytes (and initial states) with `compression`.
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sends the whole state instead of the changes every `n` publishes
    /// (an aggregator that restarted unseen recovers by then).
    #[must_use]
    pub fn with_keyframe_every(mut self, n: u64) -> Self {
        self.keyframe_every = Some(n.max(1));
        self
    }

    /// The frames for `tensor` at `t`, one per timestamp changed (one,
    /// unless `t` is earlier than tensors already taken).
    ///
    /// # Errors
    /// As [`Multiplexer::process`].
    pub fn frames(
        &mut self,
        tensor: &Tensor,
        t: Timestamp,
    ) -> Result<Vec<TensorFrame>, TensorError> {
        let chunks = self.mux.process(tensor, t)?;
        let mut frames: Vec<TensorFrame> = Vec::new();
        let mut current: Option<Timestamp> = None;
        for c in chunks {
            if current != Some(c.timestamp) {
                current = Some(c.timestamp);
                frames.push(TensorFrame {
                    timestamp: Some(c.timestamp.to_proto()),
                    initializer: None,
                    update: Some(TensorUpdate::default()),
                });
            }
            if let Some(update) = frames.last_mut().and_then(|f| f.update.as_mut()) {
                // The frame's timestamp is the chunks' (and is converted
                // across clocks): theirs would be ~15 bytes each for nothing.
                let mut chunk = c.to_proto(self.compression);
                chunk.timestamp = None;
                update.chunks.push(chunk);
            }
        }
        Ok(frames)
    }

    /// A frame holding the whole current state, as of its time.
    pub fn initializer_frame(&self) -> TensorFrame {
        let (t, tensor) = self.mux.latest();
        let t = t.unwrap_or(self.created);
        TensorFrame {
            timestamp: Some(t.to_proto()),
            initializer: Some(Initializer::from_tensor(tensor, t).to_proto(self.compression)),
            update: None,
        }
    }

    /// Publishes the frames of `tensor` at `t` to every connected
    /// aggregator; one that connected since the last call gets the whole
    /// state instead (which includes this step), so a late joiner starts
    /// exactly there. An aggregator that connects while this runs is
    /// served at the next call.
    ///
    /// # Errors
    /// A [`TensorError`] (as [`crate::Error::Tensor`]) for a tensor unlike
    /// the stream's; the handle's errors.
    pub fn publish<E: Clone>(
        &mut self,
        handle: &ProducerHandle<TensorFrame, E>,
        tensor: &Tensor,
        t: Timestamp,
    ) -> Result<()> {
        let frames = self.frames(tensor, t)?;
        self.published += 1;
        let keyframe = self
            .keyframe_every
            .is_some_and(|n| self.published.is_multiple_of(n));
        let mut whole = None;
        for caller in handle.callers() {
            if !caller.state.is_connected() {
                self.greeted.remove(&caller.id);
                continue;
            }
            let greeted = self.greeted.contains(&caller.id);
            let sent = if greeted && !keyframe {
                frames
                    .iter()
                    .try_for_each(|f| handle.publish_to(f.clone(), caller.id))
            } else {
                let frame = whole.get_or_insert_with(|| self.initializer_frame());
                handle.publish_to(frame.clone(), caller.id)
            };
            match sent {
                Ok(()) => {
                    self.greeted.insert(caller.id);
                }
                // Known to the store, its queue not there yet (or gone):
                // greeted at the next call.
                Err(crate::Error::UnknownCaller(_)) => {
                    self.greeted.remove(&caller.id);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Counters of one producer's tensor stream on an aggregator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorStats {
    /// Frames taken.
    pub frames: u64,
    /// Initializers applied (the first one and each restart).
    pub initializers: u64,
    /// Frames refused whole (a bad initializer, or an update before any).
    pub refused_frames: u64,
    /// The chunks' counters.
    pub chunks: DemuxStats,
    /// The last refusal of a frame or chunk.
    pub last_error: Option<TensorError>,
}

#[derive(Debug, Default)]
struct Stream {
    demux: Option<TensorDemuxer>,
    stats: TensorStats,
}

/// The aggregator side: each producer's tensor, rebuilt from its
/// [`TensorFrame`]s, on the aggregator's timebase (a frame's time is its
/// sample's time; the chunks inside take it).
#[derive(Debug)]
pub struct TensorAggregator {
    history: History,
    streams: BTreeMap<CallerId, Stream>,
}

impl TensorAggregator {
    /// Keeps `history` per producer.
    pub fn new(history: History) -> Self {
        TensorAggregator {
            history,
            streams: BTreeMap::new(),
        }
    }

    /// Applies what [`RemoteDataAggregator::take_new`](crate::data::RemoteDataAggregator::take_new)
    /// returned; returns the producers whose tensor changed. Refusals are
    /// counted in [`stats`](Self::stats).
    pub fn ingest(&mut self, batches: Vec<(CallerId, Vec<Sample<TensorFrame>>)>) -> Vec<CallerId> {
        let mut changed = Vec::new();
        for (caller, samples) in batches {
            let mut any = false;
            for s in samples {
                if let Ok(applied) = self.ingest_frame(caller, s.timestamp, &s.data) {
                    any |= !applied.changed.is_empty();
                }
            }
            if any {
                changed.push(caller);
            }
        }
        changed
    }

    /// Applies one frame of `caller` at `t`.
    ///
    /// # Errors
    /// A bad initializer, or an update before any initializer (counted; the
    /// state is unchanged). Refused chunks are in the result's `refused`.
    pub fn ingest_frame(
        &mut self,
        caller: CallerId,
        t: Timestamp,
        frame: &TensorFrame,
    ) -> Result<Applied, TensorError> {
        let history = self.history;
        let stream = self.streams.entry(caller).or_default();
        stream.stats.frames += 1;
        let result = Self::apply(stream, history, t, frame);
        if let Some(d) = &stream.demux {
            stream.stats.chunks = d.stats();
        }
        match &result {
            Err(e) => {
                stream.stats.refused_frames += 1;
                stream.stats.last_error = Some(e.clone());
                tracing::debug!(%caller, error = %e, "tensor frame refused");
            }
            Ok(applied) => {
                if let Some(e) = applied.refused.last() {
                    stream.stats.last_error = Some(e.clone());
                }
            }
        }
        result
    }

    fn apply(
        stream: &mut Stream,
        history: History,
        t: Timestamp,
        frame: &TensorFrame,
    ) -> Result<Applied, TensorError> {
        let mut applied = Applied::default();
        if let Some(init) = &frame.initializer {
            let init = Initializer::from_proto(init)?;
            match &mut stream.demux {
                Some(d) => d.reset(&init, Some(t))?,
                None => stream.demux = Some(TensorDemuxer::new(&init, Some(t), history)?),
            }
            stream.stats.initializers += 1;
            applied.changed.push(t);
        }
        let Some(update) = frame.update.as_ref().filter(|u| !u.chunks.is_empty()) else {
            return Ok(applied);
        };
        let demux = stream.demux.as_mut().ok_or(TensorError::NoInitializer)?;
        let mut chunks = Vec::with_capacity(update.chunks.len());
        for c in &update.chunks {
            let mut c = c.clone();
            c.timestamp = Some(t.to_proto());
            match Chunk::from_proto(&c, demux.dtype(), demux.len()) {
                Ok(chunk) => chunks.push(chunk),
                Err(e) => {
                    // Counted by the demultiplexer like its own refusals.
                    demux.refuse(e.clone());
                    applied.refused.push(e);
                }
            }
        }
        let more = demux.apply_chunks(&mut chunks);
        applied.changed.extend(more.changed);
        applied.refused.extend(more.refused);
        Ok(applied)
    }

    /// The producers seen.
    pub fn callers(&self) -> Vec<CallerId> {
        self.streams.keys().copied().collect()
    }

    /// `caller`'s demultiplexer (every query), once it was initialized.
    pub fn demuxer(&self, caller: CallerId) -> Option<&TensorDemuxer> {
        self.streams.get(&caller)?.demux.as_ref()
    }

    /// `caller`'s newest tensor and its time.
    pub fn latest(&self, caller: CallerId) -> Option<(Option<Timestamp>, &Tensor)> {
        Some(self.demuxer(caller)?.latest())
    }

    /// `caller`'s newest tensor at or before `t`.
    pub fn at_or_before(&self, caller: CallerId, t: Timestamp) -> Option<(Timestamp, &Tensor)> {
        self.demuxer(caller)?.at_or_before(t)
    }

    /// `caller`'s tensor at `t`, interpolated (see
    /// [`TensorDemuxer::interpolated`]).
    pub fn interpolated(&self, caller: CallerId, t: Timestamp) -> Option<Tensor> {
        self.demuxer(caller)?.interpolated(t)
    }

    /// `caller`'s counters.
    pub fn stats(&self, caller: CallerId) -> Option<TensorStats> {
        self.streams.get(&caller).map(|s| s.stats.clone())
    }

    /// Forgets `caller`'s stream.
    pub fn remove(&mut self, caller: CallerId) {
        self.streams.remove(&caller);
    }
}
