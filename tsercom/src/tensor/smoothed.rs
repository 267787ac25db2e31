//! The smoothed demultiplexer: a demultiplexer whose output is the tensor
//! interpolated onto a regular time grid. Python tsercom's
//! `SmoothedTensorDemuxer` with `LinearInterpolationStrategy`.

use std::time::Duration;

use super::Tensor;
use super::{TensorDemuxer, TensorError};
use crate::time::Timestamp;

/// A [`TensorDemuxer`] read on a grid of `period`: [`poll`](Self::poll)
/// returns the grid points up to a time, each the state linearly
/// interpolated there. It never extrapolates: a grid point after the
/// newest state waits for a later one. Driven by the caller (no thread of
/// its own), so it is deterministic.
#[derive(Clone, Debug)]
pub struct SmoothedDemuxer {
    demux: TensorDemuxer,
    period: i128,
    align: bool,
    next: Option<Timestamp>,
}

impl SmoothedDemuxer {
    /// Reads `demux` every `period`, the grid starting at the first state's
    /// time, or (`align`) at the first multiple of `period` since the Unix
    /// epoch at or after it.
    ///
    /// # Errors
    /// [`TensorError::Invalid`] for a zero period.
    pub fn new(demux: TensorDemuxer, period: Duration, align: bool) -> Result<Self, TensorError> {
        let period = i128::try_from(period.as_nanos()).unwrap_or(i128::MAX);
        if period == 0 {
            return Err(TensorError::Invalid {
                what: "smoothing period",
                reason: "must be positive".into(),
            });
        }
        Ok(SmoothedDemuxer {
            demux,
            period,
            align,
            next: None,
        })
    }

    /// The demultiplexer: apply chunks and query it here.
    pub fn demuxer(&self) -> &TensorDemuxer {
        &self.demux
    }

    /// The demultiplexer, to apply chunks.
    pub fn demuxer_mut(&mut self) -> &mut TensorDemuxer {
        &mut self.demux
    }

    /// The grid point after the last one [`poll`](Self::poll) returned.
    pub fn next_time(&self) -> Option<Timestamp> {
        self.next
    }

    /// The grid points not yet returned, up to `up_to` and up to the
    /// newest state, each with the interpolated tensor.
    pub fn poll(&mut self, up_to: Timestamp) -> Vec<(Timestamp, Tensor)> {
        let mut out = Vec::new();
        let (Some(first), (Some(newest), _)) = (self.demux.first_time(), self.demux.latest())
        else {
            return out;
        };
        let mut next = match self.next {
            Some(n) if n >= first => n,
            // Not started, or its place was evicted: start at the oldest kept.
            _ => self.grid_at_or_after(first),
        };
        let end = up_to.min(newest);
        while next <= end {
            if let Some(t) = self.demux.interpolated(next) {
                out.push((next, t));
            }
            match next.offset_by_nanos(self.period) {
                Ok(n) => next = n,
                Err(_) => break,
            }
        }
        self.next = Some(next);
        out
    }

    fn grid_at_or_after(&self, t: Timestamp) -> Timestamp {
        if !self.align {
            return t;
        }
        let n = t.unix_nanos();
        let up = n + (self.period - n.rem_euclid(self.period)) % self.period;
        Timestamp::from_unix_nanos(up).unwrap_or(t)
    }
}
