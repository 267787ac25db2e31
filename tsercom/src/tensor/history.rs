//! How much of a stream's past a multiplexer or demultiplexer keeps, and
//! the time-ordered list of states both keep.

use std::time::Duration;

use super::{Tensor, TensorError};
use crate::time::Timestamp;

/// Retention of past states, by count and by age (like the sample store's
/// [`Retention`](crate::data::Retention)). Each state kept is a full copy
/// of the tensor: memory is about `max_count` × the tensor's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    /// Most states kept (at least 1).
    pub max_count: usize,
    /// States older than the newest by more than this are dropped (`None`:
    /// no age limit). Python tsercom's `data_timeout_seconds`, 60 s there.
    pub max_age: Option<Duration>,
}

impl Default for History {
    /// 16 states, 60 s.
    fn default() -> Self {
        History {
            max_count: 16,
            max_age: Some(Duration::from_secs(60)),
        }
    }
}

/// States sorted by time above a floor: the state before the oldest kept
/// (the initial state, or the last evicted one). Data at or before the
/// floor's time cannot be placed any more.
#[derive(Clone, Debug)]
pub(crate) struct Timeline<T> {
    pub(crate) floor_time: Option<Timestamp>,
    pub(crate) floor: Tensor,
    pub(crate) entries: Vec<(Timestamp, T)>,
    pub(crate) history: History,
    pub(crate) evicted: u64,
    /// A state buffer to reuse (the last floor replaced): a new state is
    /// copied into it instead of into fresh memory.
    spare: Option<Tensor>,
}

impl<T> Timeline<T> {
    pub(crate) fn new(floor: Tensor, floor_time: Option<Timestamp>, history: History) -> Self {
        Timeline {
            floor_time,
            floor,
            entries: Vec::new(),
            history: History {
                max_count: history.max_count.max(1),
                ..history
            },
            evicted: 0,
            spare: None,
        }
    }

    /// The spare state buffer, if any (see [`copy_into`]).
    pub(crate) fn take_spare(&mut self) -> Option<Tensor> {
        self.spare.take()
    }

    /// Where `t` is or would go: `Ok(i)` an entry at `t`, `Err(i)` the
    /// insertion point.
    pub(crate) fn find(&self, t: Timestamp) -> Result<usize, usize> {
        self.entries.binary_search_by(|(et, _)| et.cmp(&t))
    }

    /// Refuses data that would land at or before the floor.
    pub(crate) fn check_time(&self, t: Timestamp) -> Result<(), TensorError> {
        match self.floor_time {
            Some(floor) if t <= floor => Err(TensorError::TooOld { t, floor }),
            _ => Ok(()),
        }
    }

    /// Drops states past the count and age limits; the newest dropped
    /// becomes the floor (`state` reads a full tensor out of an entry).
    pub(crate) fn evict(&mut self, state: impl Fn(T) -> Tensor) {
        let Some(newest) = self.entries.last().map(|(t, _)| *t) else {
            return;
        };
        let mut drop = self.entries.len().saturating_sub(self.history.max_count);
        if let Some(age) = self.history.max_age {
            let cutoff = newest
                .offset_by_nanos(-i128::try_from(age.as_nanos()).unwrap_or(i128::MAX))
                .unwrap_or(Timestamp::MIN);
            let old = self.entries.partition_point(|(t, _)| *t < cutoff);
            drop = drop.max(old);
        }
        if drop == 0 {
            return;
        }
        let mut removed = self.entries.drain(..drop);
        let last = removed.next_back();
        drop_rest(removed);
        if let Some((t, entry)) = last {
            self.spare = Some(std::mem::replace(&mut self.floor, state(entry)));
            self.floor_time = Some(t);
        }
        self.evicted += drop as u64;
    }

    /// The state before entry `i`.
    pub(crate) fn before(&self, i: usize, state: impl Fn(&T) -> &Tensor) -> &Tensor {
        match i.checked_sub(1) {
            Some(p) => state(&self.entries[p].1),
            None => &self.floor,
        }
    }
}

fn drop_rest<I: Iterator>(it: I) {
    it.for_each(drop);
}

/// A copy of `source`, made in `spare`'s buffer when there is one.
pub(crate) fn copy_into(spare: Option<Tensor>, source: &Tensor) -> Tensor {
    match spare {
        Some(mut t) => {
            t.clone_from(source);
            t
        }
        None => source.clone(),
    }
}
