//! Recording and replay of sessions as [MCAP](https://mcap.dev) files
//! (feature `record`).
//!
//! ```text
//!  network ──▶ RemoteDataAggregator::push ──▶ store ──▶ handle.data() / take_events()
//!                        │ tap (clone, push; never waits)
//!                        ▼
//!              bounded queue (DropNewest / DropOldest, counted)
//!                        │ recorder thread (drains it in batches)
//!                        ▼
//!              encode ─▶ mcap::Writer (zstd chunks) ─▶ name.mcap, or name-0000.mcap, -0001, … (rotation)
//!
//!  Recording::open(files) ─▶ Replay ─▶ AggregatorHandle (same CallerIds and timestamps)
//!                                 └──▶ ProducerHandle::publish (re-stream to aggregators)
//! ```
//!
//! Record an aggregator's data (or a producer's events) while it runs:
//!
//! ```text
//! let schema = Schema::new(tsercom::include_file_descriptor_set!(), "sensors.Reading")?;
//! let recorder = collector.record(RecordConfig::new("session.mcap", schema))?;
//! // ... the session runs ...
//! let stats = recorder.stop()?;           // written, dropped, bytes
//! ```
//!
//! or, for a generated runtime, from its configuration with no code:
//! `TSERCOM_<NAME>_RECORD=session.mcap` (or
//! [`RuntimeConfig::with_record`](crate::runtime::RuntimeConfig::with_record))
//! records the handle's incoming stream from the manager's start to its
//! shutdown, with the schema the service's descriptor set gives
//! ([`RuntimeManager::recordings`](crate::RuntimeManager::recordings) shows
//! the counters; a writer's failure surfaces on `check_error`);
//!
//! and replay it into an aggregator handle (a fresh one, e.g. a trainer's
//! under test) or out of a producer:
//!
//! ```text
//! let recording = Recording::open(["session.mcap"])?;
//! Replay::new(&recording).pace(Pace::AsFastAsPossible).into_aggregator(&trainer)?;
//! Replay::new(&recording).pace(Pace::Scaled(2.0)).from_producer(&thermometer, Retime::Now)?;
//! ```
//!
//! # The file
//!
//! - **Schema**: the message's `FileDescriptorSet` (the one `tsercom-build`
//!   writes for the crate, imports included), encoding `protobuf`, named by
//!   the message's full proto name; messages are encoded `protobuf`. Any
//!   MCAP tool (Foxglove, the `mcap` CLI, the `mcap` Python package with
//!   `mcap-protobuf-support`) decodes them with no tsercom code.
//! - **Channels**: one per CallerId, topic `/<runtime>/<data|events>/<caller
//!   id>`, with metadata `caller_id`, `runtime`, `kind` and `peer` (the
//!   address when the channel was opened). One channel per caller keeps
//!   each producer's series apart in every tool (topics are what they list
//!   and plot); the method is not part of it because a handle has one
//!   stream type.
//! - **Times**: `log_time` is the sample's timestamp on the recording
//!   runtime's timebase (for an aggregator, the fleet's timebase), in
//!   nanoseconds since the Unix epoch (times before 1970 are written as
//!   0); `publish_time` its arrival at the handle (this machine's clock).
//!   Samples are written in arrival order; MCAP readers order by
//!   `log_time`.
//! - **Metadata**: a `tsercom.session` record (runtime, kind, message,
//!   start time, file index) and one `tsercom.caller` record per peer
//!   (CallerId, address, name, state, clock offset and round trip) at the start
//!   of each file and when a new peer's first sample arrives.
//! - **Chunks**: zstd-compressed (or uncompressed), written whole (never
//!   patched in place), and flushed at least every
//!   [`flush_interval`](RecordConfig::flush_interval): a file cut by a
//!   crash or `SIGKILL` reads, with any MCAP reader, up to its last complete
//!   chunk, so at most that interval is lost.
//! - **Rotation** by size and/or duration: with rotation on, the files are
//!   `<stem>-0000.mcap`, `<stem>-0001.mcap`, …, each complete on its own
//!   (schema, channels and metadata repeated).
//!
//! # Never stalling ingestion
//!
//! The tap only clones the sample into the recorder's bounded queue; a
//! recorder that falls behind (slow disk, compression) drops by its queue's
//! policy ([`OverflowPolicy::DropNewest`] by default, or `DropOldest`),
//! counted in [`RecordStats::dropped`]. `Block` is refused: it would stall
//! the data path.
//!
//! [`OverflowPolicy::DropNewest`]: crate::OverflowPolicy::DropNewest

mod config;
mod handle;
mod queue;
mod read;
mod replay;
mod writer;

pub use config::{Compression, RecordConfig, Rotation, Schema};
pub use handle::RawSource;
pub(crate) use handle::record_store;
pub use read::{RecordedCaller, RecordedMessage, Recording};
pub use replay::{Pace, Replay, ReplayStats, Retime};
pub use writer::{RecordStats, Recorder};

/// The MCAP metadata record describing the session (one per file).
pub const SESSION_METADATA: &str = "tsercom.session";
/// The MCAP metadata record describing one peer (CallerId, address,
/// runtime name, clock offset).
pub const CALLER_METADATA: &str = "tsercom.caller";
/// The MCAP profile tsercom writes in the file header.
pub const PROFILE: &str = "tsercom";

/// What a recording holds: the data an aggregator received or the events
/// a producer received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// An aggregator's data, by producer.
    Data,
    /// A producer's events, by aggregator.
    Events,
}

impl Kind {
    /// `"data"` or `"events"`, as in topics and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Data => "data",
            Kind::Events => "events",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "data" => Some(Kind::Data),
            "events" => Some(Kind::Events),
            _ => None,
        }
    }
}

/// The topic of `caller`'s channel in a recording of `runtime`.
pub fn topic(runtime: &str, kind: Kind, caller: crate::CallerId) -> String {
    format!("/{runtime}/{}/{caller}", kind.as_str())
}
