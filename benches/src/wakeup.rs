//! What waking a blocked thread costs on this machine: the hand-off every
//! blocking API pays when its user's thread waits for the network's (and
//! the network's for the user's), measured alone.
//!
//! A thread blocks on a condvar; another stamps the time and notifies it,
//! every `gap` (a paced stream's spacing, so the waiter is asleep each
//! time); the waiter stamps when it runs. p50 and p99 of the difference.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::quiet::Spread;

/// p50 and p99 (µs) of up to `rounds` wake-ups, `gap` apart (a stamp the
/// waiter had not taken yet when the next came is replaced, not counted).
pub(crate) fn measure(rounds: usize, gap: Duration) -> [f64; 2] {
    // The notifier's stamp (ns since `epoch`) not taken yet, and whether
    // the notifier is done.
    let slot = Arc::new((Mutex::new((None::<u64>, false)), Condvar::new()));
    let epoch = Instant::now();
    let waiter = {
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || {
            let mut delays = Vec::with_capacity(rounds);
            let (lock, cv) = &*slot;
            let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                while state.0.is_none() && !state.1 {
                    state = cv.wait(state).unwrap_or_else(|e| e.into_inner());
                }
                let now = epoch.elapsed().as_nanos() as u64;
                match state.0.take() {
                    Some(sent) => delays.push(now.saturating_sub(sent) as f64 / 1e3),
                    None => return delays, // done, nothing left
                }
            }
        })
    };
    let (lock, cv) = &*slot;
    for _ in 0..rounds {
        std::thread::sleep(gap); // the pacing: the waiter is asleep by now
        lock.lock().unwrap_or_else(|e| e.into_inner()).0 = Some(epoch.elapsed().as_nanos() as u64);
        cv.notify_one();
    }
    lock.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
    cv.notify_one();
    let mut delays = waiter.join().unwrap_or_default();
    delays.sort_by(f64::total_cmp);
    let at = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    [at(0.5), at(0.99)]
}

/// `runs` measurements of 1 000 wake-ups 125 µs apart (8 producers at
/// 1 000 samples/s): the p50s' and p99s' spreads.
pub(crate) fn spread(runs: usize) -> [Spread; 2] {
    let all: Vec<[f64; 2]> = (0..runs.max(1))
        .map(|_| measure(1000, Duration::from_micros(125)))
        .collect();
    [0, 1].map(|i| Spread::of(all.iter().map(|m| m[i])))
}
