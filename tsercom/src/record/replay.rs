//! Replaying recordings: into an aggregator's store as if live, or out of
//! a producer to its aggregators.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::read::{RecordedMessage, Recording, decode};
use crate::caller_id::CallerId;
use crate::data::RemoteDataAggregator;
use crate::error::{Error, Result};
use crate::runtime::{AggregatorHandle, ProducerHandle};
use crate::time::{Timestamp, Timestamped};

/// How fast a replay goes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Pace {
    /// At the recorded pace: each sample when its timestamp comes, relative
    /// to the first one replayed.
    Recorded,
    /// At the recorded pace times this factor (2.0: twice as fast).
    Scaled(f64),
    /// As fast as the destination takes them.
    AsFastAsPossible,
}

/// The timestamps a producer's replay publishes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retime {
    /// As recorded (the recording runtime's timebase; the producer converts
    /// them to the aggregators' as it would its own).
    Original,
    /// Shifted so that the first sample replayed is stamped now, the
    /// others at their recorded distance from it.
    Now,
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayStats {
    /// Samples delivered.
    pub replayed: u64,
    /// Samples left out (before the seek time, after `until`, other
    /// callers).
    pub skipped: u64,
    /// Callers replayed.
    pub callers: usize,
}

/// A replay of a [`Recording`]: pace, seek, a window, a subset of callers.
#[derive(Clone, Debug)]
pub struct Replay<'a> {
    recording: &'a Recording,
    pace: Pace,
    seek: Option<Timestamp>,
    until: Option<Timestamp>,
    only: Option<BTreeSet<CallerId>>,
}

impl<'a> Replay<'a> {
    /// A replay of the whole recording at its recorded pace.
    pub fn new(recording: &'a Recording) -> Self {
        Replay {
            recording,
            pace: Pace::Recorded,
            seek: None,
            until: None,
            only: None,
        }
    }

    /// At this pace.
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// Starting at the first sample at or after `time` (earlier ones are
    /// skipped, and the pace counts from `time`).
    pub fn seek(mut self, time: Timestamp) -> Self {
        self.seek = Some(time);
        self
    }

    /// Ending with the last sample at or before `time`.
    pub fn until(mut self, time: Timestamp) -> Self {
        self.until = Some(time);
        self
    }

    /// Only these callers' samples.
    pub fn only(mut self, callers: impl IntoIterator<Item = CallerId>) -> Self {
        self.only = Some(callers.into_iter().collect());
        self
    }

    fn selected(&self) -> (Vec<&'a RecordedMessage>, u64) {
        let all = self.recording.messages();
        let chosen: Vec<&RecordedMessage> = all
            .iter()
            .filter(|m| self.seek.is_none_or(|s| m.timestamp >= s))
            .filter(|m| self.until.is_none_or(|u| m.timestamp <= u))
            .filter(|m| self.only.as_ref().is_none_or(|o| o.contains(&m.caller)))
            .collect();
        let skipped = (all.len() - chosen.len()) as u64;
        (chosen, skipped)
    }

    fn scale(&self) -> Result<Option<f64>> {
        match self.pace {
            Pace::Recorded => Ok(Some(1.0)),
            Pace::Scaled(f) if f.is_finite() && f > 0.0 => Ok(Some(f)),
            Pace::Scaled(f) => Err(Error::Invalid {
                what: "replay pace",
                reason: format!("factor {f} is not a positive number"),
            }),
            Pace::AsFastAsPossible => Ok(None),
        }
    }

    /// Runs `deliver` on each selected sample at its time (paced), with the
    /// time the pace counts from (the seek time, or the first sample's):
    /// the building block of the other replays, for any destination (a
    /// relay, a file, a test). Stops at `deliver`'s first error.
    ///
    /// # Errors
    /// An invalid pace; `deliver`'s error.
    pub fn each(
        &self,
        deliver: impl FnMut(&RecordedMessage, Timestamp) -> Result<()>,
    ) -> Result<ReplayStats> {
        self.run(deliver)
    }

    fn run(
        &self,
        mut deliver: impl FnMut(&RecordedMessage, Timestamp) -> Result<()>,
    ) -> Result<ReplayStats> {
        let scale = self.scale()?;
        let (chosen, skipped) = self.selected();
        let Some(first) = chosen.first() else {
            return Ok(ReplayStats {
                skipped,
                ..ReplayStats::default()
            });
        };
        let origin = self.seek.unwrap_or(first.timestamp);
        let started = Instant::now();
        let mut callers = BTreeSet::new();
        for m in &chosen {
            if let Some(scale) = scale {
                let since = m.timestamp.nanos_since(&origin).max(0);
                #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
                // a pace: nanosecond precision over f64 is plenty
                let due = Duration::from_nanos((since as f64 / scale).min(u64::MAX as f64) as u64);
                let elapsed = started.elapsed();
                if due > elapsed {
                    std::thread::sleep(due - elapsed);
                }
            }
            deliver(m, origin)?;
            callers.insert(m.caller);
        }
        Ok(ReplayStats {
            replayed: chosen.len() as u64,
            skipped,
            callers: callers.len(),
        })
    }

    /// Feeds the samples into `handle` as if its producers were live:
    /// the recorded CallerIds (registered with their recorded addresses,
    /// shown disconnected at the end), timestamps and payloads, under the
    /// handle's retention and overflow policy. Blocks until done (run it
    /// on a thread of its own to replay in the background).
    ///
    /// # Errors
    /// A sample that does not decode as `D`; the store's errors (closed,
    /// `Error` policy full).
    pub fn into_aggregator<D, E>(&self, handle: &AggregatorHandle<D, E>) -> Result<ReplayStats>
    where
        D: prost::Message + Default + Clone,
        E: Clone,
    {
        self.into_store(handle.data())
    }

    /// [`into_aggregator`](Self::into_aggregator) for a bare store.
    ///
    /// # Errors
    /// As [`into_aggregator`](Self::into_aggregator).
    pub fn into_store<D>(&self, store: &RemoteDataAggregator<D>) -> Result<ReplayStats>
    where
        D: prost::Message + Default + Clone,
    {
        let (chosen, _) = self.selected();
        let callers: BTreeSet<CallerId> = chosen.iter().map(|m| m.caller).collect();
        for id in &callers {
            let peer = self
                .recording
                .callers()
                .iter()
                .find(|c| c.id == Some(*id))
                .and_then(|c| c.peer.clone());
            // Registration 0: a live registration of the same id (a real
            // producer) always wins over the replay's.
            store.register(*id, peer, 0);
        }
        let stats = self.run(|m, _| store.push_blocking(m.caller, m.timestamp, decode(&m.data)?));
        for id in &callers {
            store.deregister(*id, 0, "the replay ended".into());
        }
        stats
    }

    /// Publishes the samples from `producer` to its aggregators, with
    /// timestamps as `retime` says (to test a trainer with yesterday's
    /// fleet). The producer's own CallerId is the sender; use
    /// [`only`](Self::only) to replay one recorded producer per replaying
    /// one. Blocks until done.
    ///
    /// # Errors
    /// A sample that does not decode as `D`; `publish`'s errors.
    pub fn from_producer<D, E>(
        &self,
        producer: &ProducerHandle<D, E>,
        retime: Retime,
    ) -> Result<ReplayStats>
    where
        D: prost::Message + Default + Clone + Timestamped,
        E: Clone,
    {
        let now = Timestamp::now();
        self.run(|m, origin| {
            let mut sample: D = decode(&m.data)?;
            let time = match retime {
                Retime::Original => m.timestamp,
                Retime::Now => now.offset_by_nanos(m.timestamp.nanos_since(&origin))?,
            };
            sample.set_timestamp(time);
            producer.publish(sample)
        })
    }
}
