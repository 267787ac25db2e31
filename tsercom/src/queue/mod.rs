//! Bounded queues with an explicit overflow policy and counted drops.
//!
//! Every queue in tsercom (events to a caller, data into the aggregator, IPC
//! frames) is bounded; what happens when it is full is an
//! [`OverflowPolicy`], and every item dropped is counted and logged once
//! per burst, never silently lost.
//!
//! Inside: `policy` (policy, configuration, counters), `bounded` (the
//! queue), `stream` (a queue as an RPC's stream).

mod bounded;
mod policy;
mod stream;
#[cfg(test)]
mod tests;

pub(crate) use bounded::BoundedQueue;
pub(crate) use policy::DropCounter;
pub use policy::{OverflowPolicy, QueueConfig, QueueStats};
pub use stream::QueueStream;
