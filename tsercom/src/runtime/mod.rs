//! Runtimes: where the networking lives, apart from the user's code.
//!
//! ```text
//!  user's thread                         tsercom threads (own tokio runtime)
//!  ─────────────                         ───────────────────────────────────
//!  RuntimeManager::register(init) ──┐
//!  start_in_process() ──────────────┼──▶ init.create(ctx) ──▶ Runtime::start()
//!                                   │        ctx.register_caller(id) ──▶ Endpoint
//!  handle.received().take_new() ◀───┼──────── Endpoint::push(item, t)
//!  handle.send(item, To::All) ──────┼──────▶ Endpoint::next_event()
//!  manager.check_error()  ◀─────────┴──────── failures, panics (with the runtime's name)
//!  manager.shutdown() ─────────────────────▶ Runtime::stop() once, then threads end
//! ```
//!
//! A [`RuntimeInitializer`] describes a runtime (its name, config, what its
//! peers send and what its user sends, its handle type) and creates it on
//! the runtime's threads; the handle returned by [`RuntimeManager::register`]
//! is the user's side: a [`ProducerHandle`] (publish data, take events), an
//! [`AggregatorHandle`] (read data, send events), or the role-free
//! [`RuntimeHandle`] (what came in, what goes out) of hand-written
//! runtimes. Every queue between the two is bounded with an explicit
//! [`OverflowPolicy`].

mod context;
mod errors;
mod handle;
pub(crate) mod ipc;
mod launch;
mod manager;
mod pending;
mod recording;
mod router;
mod sink;
mod upkeep;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::future::BoxFuture;
pub use context::{Endpoint, RuntimeContext};
pub use handle::{
    AggregatorHandle, FromRuntimeHandle, HandleStats, Incoming, ProducerHandle, RuntimeHandle,
};
pub use manager::{CHILD_SOCKET_ENV, RuntimeManager};
pub use router::To;

use crate::caller_id::CallerId;
use crate::data::Retention;
use crate::discovery::DiscoveryConfig;
use crate::error::Result;
use crate::queue::{OverflowPolicy, QueueConfig};
use crate::rpc::{ClientTls, Keepalive, ServerTls};

/// Whose clock is the timebase and who aggregates. Independent of who
/// listens and who dials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Produces data; synchronizes its clock to the aggregator's
    /// (the Python library's "client").
    Producer,
    /// Aggregates data; its clock is the timebase (the Python library's
    /// "server").
    #[default]
    Aggregator,
}

/// Why a runtime is being stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The manager is shutting down (explicitly or on drop).
    Shutdown,
}

/// Which [`CallerId`] a runtime presents to its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Identity {
    /// Loaded from (or created once in) [`CallerId::default_path`] of the
    /// runtime's name, so it survives restarts.
    #[default]
    Persistent,
    /// Loaded from (or created once in) this file.
    PersistentAt(PathBuf),
    /// This id (e.g. from the user's own storage).
    Fixed(CallerId),
}

impl Identity {
    /// The id for a runtime called `name`, held for as long as the result
    /// lives: a persistent identity's file is locked, so a second process
    /// resolving the same file gets [`Error::IdentityInUse`](crate::Error::IdentityInUse).
    ///
    /// # Errors
    /// The errors of [`CallerId::default_path`] and
    /// [`identity_file::acquire`](crate::identity_file::acquire) (a
    /// corrupt file is an error, never replaced; a held one is refused).
    pub fn resolve(&self, name: &str) -> Result<HeldIdentity> {
        let (id, lock) = match self {
            Identity::Persistent => {
                let (id, lock) = crate::identity_file::acquire(&CallerId::default_path(name)?)?;
                (id, Some(lock))
            }
            Identity::PersistentAt(path) => {
                let (id, lock) = crate::identity_file::acquire(path)?;
                (id, Some(lock))
            }
            Identity::Fixed(id) => (*id, None),
        };
        Ok(HeldIdentity { id, _lock: lock })
    }
}

/// A resolved [`Identity`]: the id, and the lock on its file (released on
/// drop) when it is persistent.
#[derive(Debug)]
pub struct HeldIdentity {
    /// The id.
    pub id: CallerId,
    _lock: Option<crate::identity_file::IdentityLock>,
}

/// How a runtime behaves; [`RuntimeInitializer::config`] returns it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Producer or aggregator.
    pub role: Role,
    /// Data kept per caller.
    pub retention: Retention,
    /// What happens when a caller's store is full of unread data.
    pub data_policy: OverflowPolicy,
    /// Capacity and policy of each caller's event queue.
    pub events: QueueConfig,
    /// Estimate clock offsets with peers (used by the connection layer).
    pub clock_sync: bool,
    /// How long `create` + `start` may take before the manager reports the
    /// runtime as failed (its start goes on; the error surfaces).
    pub start_timeout: Duration,
    /// How long `stop` may take before shutdown goes on without it.
    pub stop_timeout: Duration,
    /// How this runtime's server secures connections, when it listens.
    pub server_tls: ServerTls,
    /// How this runtime checks peers (and identifies itself), when it dials.
    pub client_tls: ClientTls,
    /// What this runtime advertises and where it finds peers.
    pub discovery: DiscoveryConfig,
    /// Where this runtime listens, when it hosts a service (port 0: any
    /// free port, which discovery then advertises).
    pub listen: Vec<SocketAddr>,
    /// The id it presents to peers.
    pub identity: Identity,
    /// The runtime's local clock: what it stamps samples and events with and
    /// answers clock sync from (default the system clock; a simulator's or
    /// a test's skewed clock otherwise; an
    /// [`SntpClock`](crate::time::sntp::SntpClock) to follow an SNTP
    /// server, tsercom's or Python tsercom's).
    pub clock: RuntimeClock,
    /// HTTP/2 keepalive on every connection, hosted or dialed: a peer that
    /// stops answering is disconnected within about `interval + timeout`
    /// (default 1 s + 2 s).
    pub keepalive: Keepalive,
    /// Bounds on a hosting runtime's connections: how many at once, how
    /// long one may stay without a handshake.
    pub connection_limits: crate::rpc::ConnectionLimits,
    /// How long, and how many, disconnected callers with unread data are
    /// kept before their data is dropped (counted in `DataStats`).
    pub forgetting: crate::data::Forgetting,
    /// With mutual TLS on a hosting runtime: which CallerId each client
    /// certificate may claim in its handshake.
    pub cert_binding: crate::rpc::CertBinding,
    /// What a sample with the timestamp of a stored one does (default:
    /// both kept, in arrival order).
    pub equal_timestamps: crate::data::EqualTimestamps,
    /// Retry delays of a dialing runtime (default 100 ms doubling to a cap
    /// of 2 s, ±20 % jitter); a re-announced peer is retried at once.
    pub backoff: crate::rpc::Backoff,
    /// Under the `Block` policy, how long a send to all waits for each
    /// peer's room when there are several (default 1 s): then that peer's
    /// copy is dropped (counted) and it is skipped until it catches up, so
    /// one slow or dead peer never stalls the others. With one peer, `Block`
    /// waits as long as it takes (back-pressure).
    pub broadcast_wait: Duration,
    /// Whether a hosting runtime accepts streams from peers that never
    /// handshake (Python tsercom 1.x), identified by the CallerId in their
    /// first message. Off by default: it weakens the identity guarantee
    /// (see [`LegacyPeers`](crate::service::LegacyPeers)).
    pub legacy_peers: crate::service::LegacyPeers,
    /// Bytes an aggregator's stores may hold, per caller and in all
    /// (default 64 MiB and 1 GiB): see [`MemoryLimits`](crate::data::MemoryLimits).
    pub memory: crate::data::MemoryLimits,
    /// Records what the handle receives (an aggregator's data, a
    /// producer's events) to this MCAP file from start to shutdown (feature
    /// `record`; see [`crate::record`]): zstd chunks flushed every second,
    /// no rotation, drops counted when the writer falls behind. The schema
    /// is the message's, from the service's descriptor set, so only
    /// runtimes that know it (generated ones) can record this way; for
    /// others use `record` on the handle. `TSERCOM_<NAME>_RECORD` sets it
    /// ([`env_overrides`](crate::service::env_overrides)); the counters are
    /// on [`RuntimeManager::recordings`] while it runs.
    pub record: Option<std::path::PathBuf>,
    /// Acknowledged delivery (default on, with peers that speak it): what
    /// is sent is numbered and kept until the peer acknowledges it, sent
    /// again after a reconnection, and stored once; see
    /// [`delivery`](crate::delivery).
    pub delivery: crate::delivery::DeliveryConfig,
}

/// A proto message type: the encoded `FileDescriptorSet` that describes
/// it (imports included) and its full name, e.g. `sensors.Reading`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageDescriptor {
    /// The encoded `FileDescriptorSet`.
    pub descriptor_set: &'static [u8],
    /// The message's full proto name (no leading `.`).
    pub full_name: String,
}

/// A runtime's local clock (compared by identity).
#[derive(Clone, Debug)]
pub struct RuntimeClock(pub std::sync::Arc<dyn crate::time::Clock>);

impl Default for RuntimeClock {
    fn default() -> Self {
        RuntimeClock(std::sync::Arc::new(crate::time::SystemClock))
    }
}

impl PartialEq for RuntimeClock {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for RuntimeConfig {
    /// Aggregator; 10 000 samples per caller, drop-oldest; 1 024 events per
    /// caller, blocking; clock sync on; 30 s to start, 10 s to stop; no TLS;
    /// no discovery; listens (when it hosts) on `0.0.0.0`, any port; a
    /// persistent id.
    fn default() -> Self {
        RuntimeConfig {
            role: Role::Aggregator,
            retention: Retention::default(),
            data_policy: OverflowPolicy::DropOldest,
            events: QueueConfig::default(),
            clock_sync: true,
            start_timeout: Duration::from_secs(30),
            stop_timeout: Duration::from_secs(10),
            server_tls: ServerTls::Insecure,
            client_tls: ClientTls::Insecure,
            discovery: DiscoveryConfig::default(),
            listen: vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))],
            identity: Identity::default(),
            clock: RuntimeClock::default(),
            keepalive: Keepalive::default(),
            connection_limits: crate::rpc::ConnectionLimits::default(),
            forgetting: crate::data::Forgetting::default(),
            cert_binding: crate::rpc::CertBinding::None,
            equal_timestamps: crate::data::EqualTimestamps::KeepAll,
            backoff: crate::rpc::Backoff::default(),
            broadcast_wait: Duration::from_secs(1),
            legacy_peers: crate::service::LegacyPeers::Refused,
            memory: crate::data::MemoryLimits::default(),
            record: None,
            delivery: crate::delivery::DeliveryConfig::default(),
        }
    }
}

impl RuntimeConfig {
    /// The defaults with `role`.
    pub fn new(role: Role) -> Self {
        RuntimeConfig {
            role,
            ..RuntimeConfig::default()
        }
    }

    /// With this retention.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// With this data overflow policy.
    pub fn with_data_policy(mut self, policy: OverflowPolicy) -> Self {
        self.data_policy = policy;
        self
    }

    /// With this event queue configuration.
    pub fn with_events(mut self, events: QueueConfig) -> Self {
        self.events = events;
        self
    }

    /// With these TLS settings (server side, client side).
    pub fn with_tls(mut self, server: ServerTls, client: ClientTls) -> Self {
        self.server_tls = server;
        self.client_tls = client;
        self
    }

    /// With these discovery settings.
    pub fn with_discovery(mut self, discovery: DiscoveryConfig) -> Self {
        self.discovery = discovery;
        self
    }

    /// Listening on these addresses.
    pub fn with_listen(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.listen = addrs.into_iter().collect();
        self
    }

    /// With this identity.
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = identity;
        self
    }

    /// With this local clock (see [`RuntimeConfig::clock`]).
    pub fn with_clock(mut self, clock: impl crate::time::Clock + 'static) -> Self {
        self.clock = RuntimeClock(std::sync::Arc::new(clock));
        self
    }

    /// With these HTTP/2 keepalive settings.
    pub fn with_keepalive(mut self, keepalive: Keepalive) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// With these bounds on a hosting runtime's connections.
    pub fn with_connection_limits(mut self, limits: crate::rpc::ConnectionLimits) -> Self {
        self.connection_limits = limits;
        self
    }

    /// With these bounds on disconnected callers' unread data.
    pub fn with_forgetting(mut self, forgetting: crate::data::Forgetting) -> Self {
        self.forgetting = forgetting;
        self
    }

    /// With this binding of CallerIds to client certificates.
    pub fn with_cert_binding(mut self, binding: crate::rpc::CertBinding) -> Self {
        self.cert_binding = binding;
        self
    }

    /// With this handling of equal timestamps.
    pub fn with_equal_timestamps(mut self, equal: crate::data::EqualTimestamps) -> Self {
        self.equal_timestamps = equal;
        self
    }

    /// With these retry delays (a dialing runtime).
    pub fn with_backoff(mut self, backoff: crate::rpc::Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// With this bound on a broadcast's wait per peer (see
    /// [`RuntimeConfig::broadcast_wait`]).
    pub fn with_broadcast_wait(mut self, wait: Duration) -> Self {
        self.broadcast_wait = wait;
        self
    }

    /// Whether a hosting runtime accepts legacy peers' streams (no
    /// handshake; identified by their messages' CallerId).
    pub fn with_legacy_peers(mut self, legacy: crate::service::LegacyPeers) -> Self {
        self.legacy_peers = legacy;
        self
    }

    /// With these bounds on the bytes the stores hold.
    pub fn with_memory_limits(mut self, memory: crate::data::MemoryLimits) -> Self {
        self.memory = memory;
        self
    }

    /// With this delivery (acknowledgments, window, ...).
    pub fn with_delivery(mut self, delivery: crate::delivery::DeliveryConfig) -> Self {
        self.delivery = delivery;
        self
    }

    /// Recording what the handle receives to `path` (see
    /// [`record`](Self::record)).
    pub fn with_record(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.record = Some(path.into());
        self
    }

    /// With clock sync on or off.
    pub fn with_clock_sync(mut self, enable: bool) -> Self {
        self.clock_sync = enable;
        self
    }
}

/// A running piece of networking: started once, stopped once.
pub trait Runtime: Send + 'static {
    /// Starts serving / connecting. Long-running work belongs in tasks
    /// spawned with [`RuntimeContext::spawn`]; `start` should return once
    /// the runtime is up.
    fn start(&mut self) -> BoxFuture<'_, Result<()>>;

    /// Stops. Data pushed here still reaches the handle.
    fn stop(&mut self, reason: StopReason) -> BoxFuture<'_, Result<()>>;
}

/// Describes a runtime and creates it on the runtime's threads.
pub trait RuntimeInitializer: Send + 'static {
    /// What the runtime's peers send, delivered to the user's handle: a
    /// proto message (or a protobuf scalar such as `f64`), so it can cross
    /// to a child process. A producer's events, an aggregator's data.
    type Inbound: prost::Message + Default + Clone + 'static;
    /// What the user sends the runtime's peers through the handle. A
    /// producer's data, an aggregator's events.
    type Outbound: prost::Message + Default + Clone + 'static;
    /// The handle [`RuntimeManager::register`] returns:
    /// [`ProducerHandle<Outbound, Inbound>`](ProducerHandle),
    /// [`AggregatorHandle<Inbound, Outbound>`](AggregatorHandle), or the
    /// role-free [`RuntimeHandle<Inbound, Outbound>`](RuntimeHandle).
    type Handle: FromRuntimeHandle<Self::Inbound, Self::Outbound>;

    /// A name for logs and errors.
    fn name(&self) -> String;

    /// The runtime's configuration (default: [`RuntimeConfig::default`]).
    /// Runs on the user's thread at `register` (and again in the child
    /// process, out of process).
    ///
    /// # Errors
    /// A configuration that cannot work (e.g. an address from the
    /// environment that does not parse): `register` returns it.
    fn config(&self) -> Result<RuntimeConfig> {
        Ok(RuntimeConfig::default())
    }

    /// The proto message `Inbound` is, when known (a generated runtime
    /// reads it from its service's descriptor set): what a recording
    /// started by [`RuntimeConfig::record`] names as its schema. Default
    /// `None`: such a runtime cannot record from its configuration.
    fn inbound_descriptor(&self) -> Option<MessageDescriptor> {
        None
    }

    /// Creates the runtime; runs on the runtime's threads, once.
    ///
    /// # Errors
    /// Any error; it surfaces on [`RuntimeManager::check_error`] with the
    /// runtime's name, and the other runtimes go on.
    fn create(
        &mut self,
        ctx: RuntimeContext<Self::Inbound, Self::Outbound>,
    ) -> Result<Box<dyn Runtime>>;
}
