//! The data path on the aggregating side: per-caller sample stores with
//! retention, queries, and ways to wait for new data.
//!
//! ```text
//!  runtime (network threads or child process)        user's thread
//!  Endpoint::push(data, t) ──▶ RemoteDataAggregator ──▶ take_new() / most_recent() /
//!                              per CallerId, sorted     at_or_before(t) / interpolated(t)
//! ```

mod aggregator;
mod caller_hash;
mod info;
mod interpolate;
mod peers;
mod store;
pub(crate) mod tap;

pub(crate) use aggregator::SWEEP_INTERVAL;
pub use aggregator::{
    CallerInfo, ConnectionState, DataStats, Forgetting, MemoryLimits, RemoteDataAggregator, Sample,
};
pub use interpolate::Interpolate;
pub use peers::{PeerInfo, PeerState};
pub use store::{EqualTimestamps, Retention};
