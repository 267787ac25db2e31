//! Taps: observers of every sample a [`RemoteDataAggregator`] ingests (a
//! recorder, for one). A tap runs on the ingesting thread and must not
//! block; the recorder's only copies the sample into its own bounded queue.
//!
//! [`RemoteDataAggregator`]: super::RemoteDataAggregator

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::caller_id::CallerId;
use crate::time::Timestamp;

/// What a tap is called with: the caller, the sample's timestamp (on the
/// aggregator's timebase) and the sample, at its arrival.
pub(crate) type TapFn<D> = dyn Fn(CallerId, Timestamp, &D) + Send + Sync;

/// The taps of one aggregator. With none attached, observing a sample is
/// one relaxed atomic load.
// Attached by the `record` feature only; without it, observing is the one
// atomic load of an empty set.
#[cfg_attr(not(feature = "record"), allow(dead_code))]
pub(crate) struct Taps<D> {
    any: AtomicBool,
    next_id: AtomicU64,
    taps: RwLock<Vec<(u64, Arc<TapFn<D>>)>>,
}

impl<D> Default for Taps<D> {
    fn default() -> Self {
        Taps {
            any: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            taps: RwLock::new(Vec::new()),
        }
    }
}

#[cfg_attr(not(feature = "record"), allow(dead_code))] // see `Taps`
impl<D> Taps<D> {
    /// Calls every tap with one arriving sample.
    #[inline]
    pub(crate) fn observe(&self, caller: CallerId, time: Timestamp, data: &D) {
        if !self.any.load(Ordering::Relaxed) {
            return;
        }
        let taps = self.taps.read().unwrap_or_else(|e| e.into_inner());
        for (_, tap) in taps.iter() {
            tap(caller, time, data);
        }
    }

    /// Attaches `tap`; returns the id that [`detach`](Self::detach) takes.
    pub(crate) fn attach(&self, tap: Arc<TapFn<D>>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut taps = self.taps.write().unwrap_or_else(|e| e.into_inner());
        taps.push((id, tap));
        self.any.store(true, Ordering::Relaxed);
        id
    }

    /// Detaches the tap `id` (nothing when it is not attached).
    pub(crate) fn detach(&self, id: u64) {
        let mut taps = self.taps.write().unwrap_or_else(|e| e.into_inner());
        taps.retain(|(i, _)| *i != id);
        self.any.store(!taps.is_empty(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn attached_taps_see_samples_until_detached() {
        let taps: Taps<u32> = Taps::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let id = {
            let seen = Arc::clone(&seen);
            taps.attach(Arc::new(move |_, _, d: &u32| {
                seen.lock().expect("lock").push(*d);
            }))
        };
        let x = CallerId::random();
        taps.observe(x, Timestamp::UNIX_EPOCH, &1);
        taps.detach(id);
        taps.observe(x, Timestamp::UNIX_EPOCH, &2);
        assert_eq!(*seen.lock().expect("lock"), [1]);
    }
}
