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
//! - [`runtime`](mod@runtime): [`RuntimeManager`], the handles
//!   ([`ProducerHandle`], [`AggregatorHandle`], the role-free
//!   [`RuntimeHandle`]) and the runtime model (networking on its own
//!   threads).
//! - [`service`]: the hosting and dialing runtimes that
//!   [`#[tsercom::runtime]`](macro@runtime) generates for either role, and
//!   the hooks that customize them.
//! - [`data`]: the per-caller sample stores behind a handle.
//! - [`queue`]: bounded queues and their [`OverflowPolicy`].
//! - [`tensor`]: tensor streams (sparse, complete and aggregate
//!   multiplexers, demultiplexers, LZ4), wire-compatible with Python
//!   tsercom.
//! - `record` (feature `record`): sessions recorded to MCAP files with
//!   their proto schemas, and replayed into an aggregator or out of a
//!   producer.
//! - [`metrics`](mod@metrics): counters and gauges through the `metrics`
//!   facade (every one listed there); feature `prometheus` serves them as
//!   Prometheus text over HTTP.
//! - [`proto`]: tsercom's wire messages (package `tsercom`, wire-compatible
//!   with the Python tsercom library).

pub mod caller_id;
pub mod data;
pub mod delivery;
pub mod discovery;
mod error;
mod future;
pub mod identity_file;
pub mod logging;
pub mod metrics;
pub mod proto;
pub mod queue;
#[cfg(feature = "record")]
pub mod record;
pub mod rpc;
pub mod runtime;
pub mod service;
pub mod tensor;
pub mod time;

pub use caller_id::{CallerId, HasCallerId};
pub use error::{Error, Result};
pub use queue::{OverflowPolicy, QueueConfig};
pub use runtime::{
    AggregatorHandle, Incoming, ProducerHandle, Role, RuntimeConfig, RuntimeHandle, RuntimeManager,
    To,
};
pub use time::{Timestamp, Timestamped};

/// Makes a struct a tsercom runtime. The struct is then passed to
/// [`RuntimeManager::register`], which returns its handle.
///
/// ```text
/// tsercom::include_proto!("sensors");
///
/// #[tsercom::runtime(producer, publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
/// struct Thermometer;          // register → ProducerHandle<Reading, Command>
///
/// #[tsercom::runtime(aggregator, discover = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
/// struct Collector;            // register → AggregatorHandle<Reading, Command>
/// ```
///
/// Keys:
/// - the **role**, first: `producer` (emits data, receives events; a
///   [`ProducerHandle`]) or `aggregator` (collects data by CallerId, sends
///   events; an [`AggregatorHandle`]);
/// - the **direction**, independent of the role: host with `publish =
///   "_name._tcp"` (advertised over mDNS) and/or `listen = "host:port"`
///   (or `port = 50051`), or dial with `discover = "_name._tcp"` (mDNS) /
///   `discover = "dns:_name._tcp.domain"` (DNS-SD over unicast DNS)
///   and/or `peers = ["host:port", ...]` (both: merged); `listen` and `peers` also take
///   `env("VARIABLE")` or `self.field` (read at `register`), and the
///   environment variables `TSERCOM_<NAME>_LISTEN` / `TSERCOM_<NAME>_PEERS`
///   override them, and `TSERCOM_<NAME>_RECORD` records the handle's
///   incoming stream ([`service::env_overrides`]);
/// - `service = Sensor`: the proto service (the name tonic gives it); the
///   macro uses its bidirectional method of the shape the role and
///   direction need (`rpc M(stream Event) returns (stream Data)` when a
///   producer hosts or an aggregator dials, `rpc M(stream Data) returns
///   (stream Event)` otherwise), or the one `method = Name` names;
/// - `data = Reading`, `event = Command`: the message types, checked at
///   compile time against the method;
/// - optional: `name = "thermometer"` (the runtime's name: logs, CallerId
///   file, mDNS instance, environment variables; default the struct's
///   name), `interfaces = "loopback"` (where mDNS runs with `publish` /
///   `discover`: `"all"` (default), `"loopback"` — only 127.0.0.1, nothing
///   sent or joined elsewhere, and a host then listens on loopback too —,
///   `"ipv4"`, `"ipv6"` or names such as `"eth0,eth1"`; see
///   [`discovery::Interfaces`]), `config = my_fn` (a `fn(RuntimeConfig) ->
///   RuntimeConfig`: TLS, retention, queues, ...), `hooks` (you implement
///   [`service::Hooks`] for the struct), `crate = "path"` (tsercom under
///   another name).
///
/// The struct must be a unit struct or have named fields, without generics,
/// and implement `Default` (the macro implements it for a unit struct that
/// does not derive it). The expansion is shown in [`service`].
pub use tsercom_macros::runtime;

/// The tonic this crate is built on, for hand-written RPC handlers
/// (`tsercom::tonic::async_trait`, `Status`, `Request`, ...), so a user crate
/// needs no tonic dependency of its own.
pub use tonic;

/// The `tracing` tsercom logs through (`tsercom::tracing::info!`), so a
/// user crate needs no dependency of its own; turn output on with
/// [`logging::init`].
pub use tracing;

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
    /// The IPC framing, for the benchmark harness's frame round trip.
    pub use crate::runtime::ipc::{encode_frame, read_frame};
    pub use crate::service::StreamService;
    pub use crate::{CallerId, HasCallerId, Timestamp, Timestamped};
    pub use prost;
    pub use prost_types;
    pub use tonic;
    pub use tonic_prost;
}
