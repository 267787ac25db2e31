//! tsercom — Time SERies COMmunication.
//!
//! Fleets of data producers stream time-stamped samples over gRPC to
//! aggregators, with a persistent [`CallerId`] per producer and timestamps on
//! a common timebase.
//!
//! ```text
//!   your .proto ──tsercom-build (build.rs)──▶ $OUT_DIR/<package>.rs ──tsercom::include_proto!──▶ your crate
//!                                               messages, tonic services,
//!                                               HasCallerId / Timestamped impls
//! ```
//!
//! `build.rs` (compiled for real by the `tests/build-wiring` crate):
//!
//! ```text
//! fn main() {
//!     tsercom_build::configure()
//!         .compile(&["proto/sensors.proto"], &["proto"])
//!         .expect("compile protos");
//! }
//! ```
//!
//! `proto/sensors.proto` imports tsercom's protos with no setup:
//!
//! ```proto
//! syntax = "proto3";
//! package sensors;
//! import "tsercom/time.proto";
//! message Reading { tsercom.ServerTimestamp timestamp = 1; double celsius = 2; }
//! ```
//!
//! `src/main.rs`:
//!
//! ```text
//! tsercom::include_proto!("sensors");
//! use tsercom::Timestamped;
//!
//! let mut reading = Reading { timestamp: None, celsius: 21.5 };
//! reading.set_timestamp(tsercom::Timestamp::now());
//! ```
//!
//! # Modules
//! - [`caller_id`]: the [`CallerId`] type and the [`HasCallerId`] trait.
//! - [`time`]: the [`Timestamp`] type and the [`Timestamped`] trait.
//! - [`runtime`]: [`RuntimeManager`], [`RuntimeHandle`] and the runtime
//!   model (networking on its own threads).
//! - [`data`]: the per-caller sample stores behind a handle.
//! - [`queue`]: bounded queues and their [`OverflowPolicy`].
//! - [`proto`]: tsercom's wire messages (package `tsercom`, wire-compatible
//!   with the Python tsercom library).

pub mod caller_id;
pub mod data;
pub mod discovery;
mod error;
pub mod proto;
pub mod queue;
pub mod rpc;
pub mod runtime;
pub mod time;

pub use caller_id::{CallerId, HasCallerId};
pub use error::{Error, Result};
pub use queue::{OverflowPolicy, QueueConfig};
pub use runtime::{RuntimeConfig, RuntimeHandle, RuntimeManager, To};
pub use time::{Timestamp, Timestamped};

/// The tonic this crate is built on, for hand-written RPC handlers
/// (`tsercom::tonic::async_trait`, `Status`, `Request`, ...), so a user crate
/// needs no tonic dependency of its own.
pub use tonic;

/// Protobuf's well-known types (`google.protobuf.Timestamp`, `Duration`,
/// `Any`, ...), as generated code and users name them.
pub use prost_types as well_known_types;

/// Includes the code `tsercom-build` generated for a proto package, e.g.
/// `tsercom::include_proto!("sensors");` for `package sensors;`.
///
/// Equivalent to `include!(concat!(env!("OUT_DIR"), "/sensors.rs"));`.
#[macro_export]
macro_rules! include_proto {
    ($package:literal) => {
        ::core::include!(::core::concat!(
            ::core::env!("OUT_DIR"),
            "/",
            $package,
            ".rs"
        ));
    };
}

/// The encoded `FileDescriptorSet` `tsercom-build` wrote for this crate's
/// protos (imports included), e.g. for server reflection.
#[macro_export]
macro_rules! include_file_descriptor_set {
    () => {
        ::core::include_bytes!(::core::concat!(
            ::core::env!("OUT_DIR"),
            "/file_descriptor_set.bin"
        ))
    };
}

/// What generated code and macros reach through absolute paths. Not a
/// public API: its contents may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::proto;
    pub use crate::{CallerId, HasCallerId, Timestamp, Timestamped};
    pub use prost;
    pub use prost_types;
    pub use tonic;
    pub use tonic_prost;
}
