//! The user's side of a runtime.

use super::context::EventRouter;
use crate::caller_id::CallerId;
use crate::data::{CallerInfo, DataStats, RemoteDataAggregator};
use crate::error::Result;
use crate::queue::QueueStats;

/// Where an event goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum To {
    /// Every registered caller.
    All,
    /// One caller.
    Caller(CallerId),
}

/// Counters of one runtime's handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HandleStats {
    /// The data path (received, dropped by policy, evicted by retention).
    pub data: DataStats,
    /// The event queues, summed over callers (pushed, dropped by policy).
    pub events: QueueStats,
}

/// The user's side of one runtime: read its data, send events to its
/// callers. Cheap to clone; usable from any thread; never needed for the
/// networking to progress.
pub struct RuntimeHandle<D, E> {
    pub(crate) name: String,
    pub(crate) data: RemoteDataAggregator<D>,
    pub(crate) events: EventRouter<E>,
}

impl<D, E> Clone for RuntimeHandle<D, E> {
    fn clone(&self) -> Self {
        RuntimeHandle {
            name: self.name.clone(),
            data: self.data.clone(),
            events: self.events.clone(),
        }
    }
}

impl<D, E> std::fmt::Debug for RuntimeHandle<D, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<D: Clone, E: Clone> RuntimeHandle<D, E> {
    /// The runtime's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The data received from callers.
    pub fn data(&self) -> &RemoteDataAggregator<D> {
        &self.data
    }

    /// Sends `event` to one caller or to all. Per caller, events arrive in
    /// the order sent. Under the `Block` policy this waits for room in the
    /// caller's queue.
    ///
    /// # Errors
    /// [`Error::UnknownCaller`](crate::Error::UnknownCaller) for an
    /// unregistered caller, [`Error::QueueFull`](crate::Error::QueueFull)
    /// under the `Error` policy, [`Error::Closed`](crate::Error::Closed)
    /// after shutdown.
    pub fn send_event(&self, event: E, to: To) -> Result<()> {
        self.events.send(event, to)
    }

    /// The callers known to this runtime and their connection state.
    pub fn callers(&self) -> Vec<CallerInfo> {
        self.data.callers()
    }

    /// Counters: received, dropped by policy, evicted by retention.
    pub fn stats(&self) -> HandleStats {
        HandleStats {
            data: self.data.stats(),
            events: self.events.stats(),
        }
    }
}
