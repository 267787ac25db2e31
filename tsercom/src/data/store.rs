//! One caller's samples: ordered by timestamp, with retention.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Timestamp;

/// How much data the aggregator keeps per caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Most samples kept per caller (at least 1).
    pub max_samples: usize,
    /// Samples older than this, measured against the **newest sample's
    /// timestamp** of the same caller (not wall time, so data with synthetic
    /// or replayed timestamps is kept as a consistent window), are evicted.
    /// `None`: no age limit.
    pub max_age: Option<Duration>,
}

impl Default for Retention {
    /// 10 000 samples per caller, no age limit.
    fn default() -> Self {
        Retention {
            max_samples: 10_000,
            max_age: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Sample<D> {
    pub(crate) time: Timestamp,
    pub(crate) data: D,
    pub(crate) unread: bool,
    /// Its encoded size (what the memory caps count).
    pub(crate) size: usize,
}

/// What happens to a sample whose timestamp equals a stored one of the same
/// caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EqualTimestamps {
    /// Both kept, in arrival order (a sensor with a coarse clock sampling
    /// faster than it ticks loses nothing); `at_or_before` returns the
    /// last to arrive, `interpolated` interpolates from it.
    #[default]
    KeepAll,
    /// The newer replaces the stored one (counted in
    /// [`DataStats::replaced`](super::DataStats::replaced)).
    Replace,
}

/// What an insert did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Inserted {
    /// Stored samples replaced by one with an equal timestamp
    /// ([`EqualTimestamps::Replace`]).
    pub(crate) replaced: u64,
    /// Read samples removed by retention (count or age).
    pub(crate) evicted: u64,
    /// Unread samples removed to make room (DropOldest) or by age.
    pub(crate) dropped_unread: u64,
    /// Bytes the store grew by (the new sample's size, less what was
    /// removed; negative when it shrank).
    pub(crate) bytes_delta: isize,
}

/// Samples sorted by timestamp; equal timestamps in arrival order (or
/// replacing, by [`EqualTimestamps`]).
#[derive(Debug)]
pub(crate) struct CallerStore<D> {
    samples: VecDeque<Sample<D>>,
    unread: usize,
    /// Encoded bytes stored, and of them unread.
    bytes: usize,
    unread_bytes: usize,
    // Every sample before this index is read: `take_new` starts here, so
    // it costs what is new, not what is stored.
    first_unread: usize,
}

impl<D> CallerStore<D> {
    pub(crate) fn new() -> Self {
        CallerStore {
            samples: VecDeque::new(),
            unread: 0,
            bytes: 0,
            unread_bytes: 0,
            first_unread: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.samples.len()
    }

    pub(crate) fn unread(&self) -> usize {
        self.unread
    }

    /// Encoded bytes stored.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether a new sample fits without dropping an unread one: by count,
    /// and by bytes against `max_bytes` (a store keeps at least one
    /// sample, however large).
    pub(crate) fn has_room(&self, retention: &Retention, size: usize, max_bytes: usize) -> bool {
        let count =
            self.samples.len() < retention.max_samples.max(1) || self.unread < self.samples.len();
        let bytes = self.unread == 0 || self.unread_bytes.saturating_add(size) <= max_bytes;
        count && bytes
    }

    /// Inserts in timestamp order (out-of-order arrivals in place; an equal
    /// timestamp after the stored ones, or replacing the last of them under
    /// [`EqualTimestamps::Replace`]), then applies retention: oldest read
    /// samples first; unread ones only when every sample is unread (the
    /// caller checked the policy allows it via `has_room`).
    #[cfg(test)]
    pub(crate) fn insert(
        &mut self,
        time: Timestamp,
        data: D,
        retention: &Retention,
        equal: EqualTimestamps,
    ) -> Inserted {
        self.insert_sized(time, data, 0, retention, equal, usize::MAX)
    }

    /// [`insert`](Self::insert) of a sample of `size` encoded bytes, the
    /// store then bounded to `max_bytes` too (read samples evicted first;
    /// at least the newest sample stays).
    pub(crate) fn insert_sized(
        &mut self,
        time: Timestamp,
        data: D,
        size: usize,
        retention: &Retention,
        equal: EqualTimestamps,
        max_bytes: usize,
    ) -> Inserted {
        let mut out = Inserted::default();
        let bytes_before = self.bytes;
        let sample = Sample {
            time,
            data,
            unread: true,
            size,
        };
        self.bytes += size;
        self.unread_bytes += size;
        // In-order arrival (the common case) appends without a search.
        let after = match self.samples.back() {
            Some(last) if last.time <= time => self.samples.len(),
            _ => self.samples.partition_point(|s| s.time <= time),
        };
        let position = match after.checked_sub(1) {
            Some(i) if equal == EqualTimestamps::Replace && self.samples[i].time == time => Ok(i),
            _ => Err(after),
        };
        match position {
            Ok(i) => {
                let old = &self.samples[i];
                self.bytes -= old.size;
                if old.unread {
                    self.unread_bytes -= old.size;
                } else {
                    self.unread += 1;
                }
                self.samples[i] = sample;
                self.first_unread = self.first_unread.min(i);
                out.replaced += 1;
            }
            Err(i) if i == self.samples.len() => {
                self.samples.push_back(sample);
                self.unread += 1;
                self.first_unread = self.first_unread.min(i);
            }
            Err(i) => {
                self.samples.insert(i, sample);
                self.unread += 1;
                self.first_unread = self.first_unread.min(i);
            }
        }
        // Age: against the newest sample.
        if let (Some(max_age), Some(newest)) =
            (retention.max_age, self.samples.back().map(|s| s.time))
        {
            let max_age_nanos = i128::try_from(max_age.as_nanos()).unwrap_or(i128::MAX);
            while let Some(oldest) = self.samples.front() {
                if newest.nanos_since(&oldest.time) <= max_age_nanos {
                    break;
                }
                self.remove_front(&mut out);
            }
        }
        // Count and bytes: evict read samples first (oldest first), then
        // the oldest.
        let max = retention.max_samples.max(1);
        while self.samples.len() > max || (self.bytes > max_bytes && self.samples.len() > 1) {
            self.evict_one(&mut out);
        }
        out.bytes_delta = self.bytes as isize - bytes_before as isize;
        out
    }

    /// Removes the oldest read sample, or else the oldest (unread) one;
    /// `false` when empty.
    pub(crate) fn evict_one(&mut self, out: &mut Inserted) -> bool {
        // All unread (a flood nobody reads): the oldest, without a scan.
        let read = if self.unread == self.samples.len() {
            None
        } else {
            self.samples.iter().position(|s| !s.unread)
        };
        match read {
            Some(i) => {
                let removed = if i == 0 {
                    self.samples.pop_front()
                } else {
                    self.samples.remove(i)
                };
                if let Some(s) = removed {
                    self.bytes -= s.size;
                }
                out.evicted += 1;
                if i < self.first_unread {
                    self.first_unread -= 1;
                }
                true
            }
            None if self.samples.is_empty() => false,
            None => {
                self.remove_front(out);
                true
            }
        }
    }

    fn remove_front(&mut self, out: &mut Inserted) {
        if let Some(s) = self.samples.pop_front() {
            self.first_unread = self.first_unread.saturating_sub(1);
            self.bytes -= s.size;
            if s.unread {
                self.unread -= 1;
                self.unread_bytes -= s.size;
                out.dropped_unread += 1;
            } else {
                out.evicted += 1;
            }
        }
    }

    /// Every unread sample, oldest first, marked read.
    #[cfg(test)]
    pub(crate) fn take_new(&mut self) -> Vec<(Timestamp, D)>
    where
        D: Clone,
    {
        self.take_new_with(|t, d| (t, d.clone()))
    }

    /// [`take_new`](Self::take_new), each sample made into what the caller
    /// returns (one pass, one allocation).
    pub(crate) fn take_new_with<T>(&mut self, mut make: impl FnMut(Timestamp, &D) -> T) -> Vec<T> {
        let mut out = Vec::with_capacity(self.unread);
        for s in self
            .samples
            .range_mut(self.first_unread..)
            .filter(|s| s.unread)
        {
            s.unread = false;
            out.push(make(s.time, &s.data));
        }
        self.unread = 0;
        self.unread_bytes = 0;
        self.first_unread = self.samples.len();
        out
    }

    pub(crate) fn most_recent(&self) -> Option<&Sample<D>> {
        self.samples.back()
    }

    pub(crate) fn at_or_before(&self, t: Timestamp) -> Option<&Sample<D>> {
        let i = self.samples.partition_point(|s| s.time <= t);
        i.checked_sub(1).and_then(|i| self.samples.get(i))
    }

    /// The samples around `t`: `(before_or_at, after)`.
    pub(crate) fn around(&self, t: Timestamp) -> (Option<&Sample<D>>, Option<&Sample<D>>) {
        let i = self.samples.partition_point(|s| s.time <= t);
        let before = i.checked_sub(1).and_then(|i| self.samples.get(i));
        (before, self.samples.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::new(s, 0).expect("in range")
    }

    fn times(store: &mut CallerStore<u32>) -> Vec<(i64, u32)> {
        store
            .take_new()
            .into_iter()
            .map(|(t, d)| (t.seconds(), d))
            .collect()
    }

    #[test]
    fn out_of_order_inserted_in_place_and_equal_replaces_only_when_asked() {
        let mut s = CallerStore::new();
        let r = Retention::default();
        let replace = EqualTimestamps::Replace;
        s.insert(t(3), 3, &r, replace);
        s.insert(t(1), 1, &r, replace);
        s.insert(t(2), 2, &r, replace);
        assert_eq!(s.insert(t(2), 22, &r, replace).replaced, 1);
        assert_eq!(times(&mut s), [(1, 1), (2, 22), (3, 3)]);
        assert!(times(&mut s).is_empty());
        // A late arrival is still delivered, once.
        s.insert(t(0), 0, &r, replace);
        assert_eq!(times(&mut s), [(0, 0)]);
    }

    #[test]
    fn equal_timestamps_are_all_kept_in_arrival_order() {
        // 1 000 samples with one timestamp: 1 000 kept (was 1).
        let mut s = CallerStore::new();
        let r = Retention::default();
        for i in 0..1000 {
            let inserted = s.insert(t(5), i, &r, EqualTimestamps::KeepAll);
            assert_eq!(inserted, Inserted::default());
        }
        let all = times(&mut s);
        assert_eq!(all.len(), 1000);
        assert!(all.iter().enumerate().all(|(i, &(_, v))| v == i as u32));
        // Out of order among equals: after the equal ones already stored.
        s.insert(t(7), 7, &r, EqualTimestamps::KeepAll);
        s.insert(t(5), 1000, &r, EqualTimestamps::KeepAll);
        assert_eq!(times(&mut s), [(5, 1000), (7, 7)]);
        // at_or_before: the last to arrive; around: from it.
        assert_eq!(s.at_or_before(t(5)).map(|x| x.data), Some(1000));
        let (before, after) = s.around(t(5));
        assert_eq!(
            (before.map(|x| x.data), after.map(|x| x.data)),
            (Some(1000), Some(7))
        );
    }

    #[test]
    fn count_retention_evicts_read_samples_first() {
        let mut s = CallerStore::new();
        let r = Retention {
            max_samples: 3,
            max_age: None,
        };
        for i in 0..3 {
            s.insert(t(i), 0, &r, EqualTimestamps::Replace);
        }
        s.take_new();
        let out = s.insert(t(10), 0, &r, EqualTimestamps::Replace);
        assert_eq!(
            out,
            Inserted {
                evicted: 1,
                ..Inserted::default()
            }
        );
        assert_eq!(s.len(), 3);
        assert_eq!(s.most_recent().map(|x| x.time), Some(t(10)));
    }

    #[test]
    fn take_new_sees_late_arrivals_before_the_read_mark_after_evictions() {
        let mut s = CallerStore::new();
        let r = Retention {
            max_samples: 4,
            max_age: None,
        };
        for i in [10, 20, 30, 40] {
            s.insert(t(i), 0, &r, EqualTimestamps::Replace);
        }
        assert_eq!(times(&mut s).len(), 4);
        s.insert(t(50), 5, &r, EqualTimestamps::Replace); // evicts 10 (read)
        s.insert(t(15), 1, &r, EqualTimestamps::Replace); // evicts 20 (read); lands before the read mark
        assert_eq!(times(&mut s), [(15, 1), (50, 5)]);
        s.insert(t(35), 3, &r, EqualTimestamps::Replace);
        assert_eq!(times(&mut s), [(35, 3)]);
        assert!(times(&mut s).is_empty());
    }

    #[test]
    fn age_retention_is_relative_to_the_newest_sample() {
        let mut s = CallerStore::new();
        let r = Retention {
            max_samples: 100,
            max_age: Some(Duration::from_secs(10)),
        };
        // Synthetic timestamps far in the past are kept as a window.
        for i in 0..30 {
            s.insert(t(1000 + i), 0, &r, EqualTimestamps::Replace);
        }
        assert_eq!(s.len(), 11);
        assert_eq!(s.at_or_before(t(0)).map(|x| x.time), None);
        assert_eq!(s.at_or_before(t(1025)).map(|x| x.time), Some(t(1025)));
    }
}
