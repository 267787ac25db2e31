//! The peers a dialing runtime tries to reach — static peers, discovered
//! instances — whether or not they were ever reached. `callers()` is keyed
//! by CallerId, which a peer that never answered does not have; this is
//! where a mistyped address shows up as [`PeerState::Unreachable`].

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::caller_id::CallerId;

/// How a dialed peer is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerState {
    /// Found (announced or configured); the first attempt is under way.
    Connecting {
        /// Since when.
        since: SystemTime,
    },
    /// Connected and handshaken.
    Connected {
        /// Since when.
        since: SystemTime,
        /// The address connected to.
        addr: String,
    },
    /// No address of it could be reached (or it was lost); retried with
    /// backoff.
    Unreachable {
        /// Since when (the first failure of this run of failures).
        since: SystemTime,
        /// The last attempt's error (each address tried, and why it failed).
        last_error: String,
    },
    /// It answered and refused this runtime (e.g. `ALREADY_EXISTS`:
    /// another live process holds our CallerId); retried with backoff.
    Refused {
        /// Since when.
        since: SystemTime,
        /// Its status code and message.
        reason: String,
    },
}

impl PeerState {
    /// Whether this is [`PeerState::Connected`].
    pub fn is_connected(&self) -> bool {
        matches!(self, PeerState::Connected { .. })
    }
}

/// One dialed peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// What the runtime dials: `host:port` for a static peer, the instance
    /// name (or announced CallerId) for a discovered one.
    pub target: String,
    /// Its CallerId, when discovery announced it.
    pub caller: Option<CallerId>,
    /// Its state.
    pub state: PeerState,
}

/// The peers table behind a handle (shared by the runtime, which reports,
/// and the user, who reads and waits).
#[derive(Debug, Default)]
pub(crate) struct PeerTable {
    peers: Mutex<(BTreeMap<String, PeerInfo>, u64)>,
    changed: Condvar,
}

impl PeerTable {
    fn lock(&self) -> MutexGuard<'_, (BTreeMap<String, PeerInfo>, u64)> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `info` (a new state of its target). A state of the same
    /// kind keeps its `since` (an unreachable peer failing again is still
    /// unreachable since the first failure).
    pub(crate) fn set(&self, mut info: PeerInfo) {
        let mut guard = self.lock();
        if let Some(old) = guard.0.get(&info.target) {
            let same_kind =
                std::mem::discriminant(&old.state) == std::mem::discriminant(&info.state);
            if same_kind {
                let since = match &old.state {
                    PeerState::Connecting { since }
                    | PeerState::Connected { since, .. }
                    | PeerState::Unreachable { since, .. }
                    | PeerState::Refused { since, .. } => *since,
                };
                match &mut info.state {
                    PeerState::Connecting { since: s }
                    | PeerState::Connected { since: s, .. }
                    | PeerState::Unreachable { since: s, .. }
                    | PeerState::Refused { since: s, .. } => *s = since,
                }
            }
            if info.caller.is_none() {
                info.caller = old.caller;
            }
        }
        guard.0.insert(info.target.clone(), info);
        guard.1 = guard.1.wrapping_add(1);
        self.changed.notify_all();
    }

    /// Forgets a target (discovery removed it).
    pub(crate) fn remove(&self, target: &str) {
        let mut guard = self.lock();
        if guard.0.remove(target).is_some() {
            guard.1 = guard.1.wrapping_add(1);
            self.changed.notify_all();
        }
    }

    /// Every peer, by target.
    pub(crate) fn all(&self) -> Vec<PeerInfo> {
        self.lock().0.values().cloned().collect()
    }

    /// Waits until `done` holds for the peers (checked at every change),
    /// or `timeout`.
    pub(crate) fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&[PeerInfo]) -> bool,
    ) -> Option<Vec<PeerInfo>> {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock();
        loop {
            let snapshot: Vec<PeerInfo> = guard.0.values().cloned().collect();
            let generation = guard.1;
            drop(guard);
            if done(&snapshot) {
                return Some(snapshot);
            }
            guard = self.lock();
            while guard.1 == generation {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                guard = self
                    .changed
                    .wait_timeout(guard, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_keeps_its_first_since_and_waiters_wake() {
        let table = std::sync::Arc::new(PeerTable::default());
        let unreachable = |error: &str, since: SystemTime| PeerInfo {
            target: "nowhere.invalid:1".into(),
            caller: None,
            state: PeerState::Unreachable {
                since,
                last_error: error.into(),
            },
        };
        let first_since = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        table.set(unreachable("first", first_since));
        table.set(unreachable("second", SystemTime::now()));
        match &table.all()[0].state {
            PeerState::Unreachable { since, last_error } => {
                assert_eq!(*since, first_since);
                assert_eq!(last_error, "second");
            }
            other => panic!("{other:?}"),
        }
        let waiter = {
            let table = std::sync::Arc::clone(&table);
            std::thread::spawn(move || {
                table.wait(Duration::from_secs(30), |p| {
                    p.iter().any(|p| p.state.is_connected())
                })
            })
        };
        table.set(PeerInfo {
            target: "nowhere.invalid:1".into(),
            caller: None,
            state: PeerState::Connected {
                since: SystemTime::now(),
                addr: "127.0.0.1:1".into(),
            },
        });
        assert!(waiter.join().expect("waiter").is_some());
        table.remove("nowhere.invalid:1");
        assert!(table.all().is_empty());
    }
}
