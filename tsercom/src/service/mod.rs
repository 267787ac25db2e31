//! The glue `#[tsercom::runtime]` expands to: a producer that hosts a
//! service's bidirectional stream and an aggregator that finds producers and
//! dials them, both generic over a [`StreamService`] descriptor that
//! `tsercom-build` generates for every service with one
//! `rpc M(stream Event) returns (stream Data)` method.
//!
//! ```text
//!  producer (hosts, advertises)                 aggregator (discovers, dials)
//!  ────────────────────────────                 ─────────────────────────────
//!  handle.send_event(Reading, To::All)          Connector (mDNS or static peers)
//!    └▶ Endpoint per aggregator ── Reading ──▶    └▶ per producer: handshake, clock sync,
//!       (stamped, local clock)      stream          Sensor/Stream; Reading.timestamp
//!  handle.data() ◀── Command ◀───────────────────   converted to the aggregator's clock
//!       (producer's clock)                          ──▶ handle.data() by CallerId
//!                                                handle.send_event(Command, To::All)
//! ```
//!
//! Clock conversions happen on the aggregator's side, per connection
//! (it estimates the offset to each producer): samples arrive on the
//! aggregator's timebase; events leave it converted to the producer's clock.
//! A producer therefore always deals in its own clock, an aggregator in its
//! own, and timestamps stay comparable across producers at the aggregator.
//!
//! # What the macro expands to
//!
//! ```text
//! #[tsercom::runtime(publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
//! struct Thermometer;
//! ```
//!
//! becomes (paths shortened):
//!
//! ```text
//! struct Thermometer;
//! impl Default for Thermometer { fn default() -> Self { Thermometer } }   // unit structs only
//! impl tsercom::service::Hooks for Thermometer {}                          // unless `hooks`
//! const _: () = { /* compile-time checks: Reading and Command are the
//!                    types of Sensor's stream method */ };
//! impl tsercom::runtime::RuntimeInitializer for Thermometer {
//!     type Data = Command;   // a producer receives events...
//!     type Event = Reading;  // ...and sends data
//!     fn name(&self) -> String { "Thermometer".into() }
//!     fn config(&self) -> RuntimeConfig {
//!         let config = tsercom::service::producer_config("Thermometer", Some("_sensors._tcp"), None);
//!         <Self as Hooks>::configure(self, config)
//!     }
//!     fn create(&mut self, ctx: RuntimeContext<Command, Reading>) -> Result<Box<dyn Runtime>> {
//!         tsercom::service::producer::<sensor_tsercom::Service, Self>(ctx, take(self))
//!     }
//! }
//! ```
//!
//! An aggregator (`discover = ...` or `peers = ...`) is the same with
//! [`aggregator_config`] and [`aggregator`], `Data = Reading`,
//! `Event = Command`.

mod aggregator;
mod producer;

use std::net::SocketAddr;

pub use aggregator::{Aggregator, aggregator};
pub use producer::{Producer, producer};

use crate::caller_id::CallerId;
use crate::discovery::PeerSource;
use crate::error::{Error, Result};
use crate::proto;
use crate::runtime::{Role, RuntimeConfig};
use crate::time::Timestamp;

/// The metadata key carrying the dialer's CallerId on the stream call (the
/// handshake on the same channel has already checked it).
pub const CALLER_ID_METADATA: &str = "tsercom-caller-id";

/// A service's bidirectional stream method, as `tsercom-build` describes it
/// (one `<service>_tsercom::Service` type per service that has exactly one
/// such method).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe a service with one bidirectional streaming method",
    note = "tsercom needs exactly one `rpc M(stream Event) returns (stream Data)` in the service"
)]
pub trait StreamService: Send + Sync + 'static {
    /// What the dialer streams (the events, by default).
    type Request: prost::Message + Default + Clone + Send + Sync + 'static;
    /// What the host streams back (the data, by default).
    type Response: prost::Message + Default + Clone + Send + Sync + 'static;
    /// The full service name, e.g. `sensors.Sensor`.
    const SERVICE: &'static str;
    /// The method's name, e.g. `Stream`.
    const METHOD: &'static str;
    /// The HTTP/2 path, e.g. `/sensors.Sensor/Stream`.
    const PATH: &'static str;

    /// The request's `ServerTimestamp` field, when it has one.
    fn request_timestamp(
        message: &mut Self::Request,
    ) -> Option<&mut Option<proto::ServerTimestamp>>;
    /// The response's `ServerTimestamp` field, when it has one.
    fn response_timestamp(
        message: &mut Self::Response,
    ) -> Option<&mut Option<proto::ServerTimestamp>>;
}

/// What a `#[tsercom::runtime]` struct may customize. Every method has a
/// default; write `hooks` in the attribute and implement this trait to
/// replace some (without `hooks` the macro implements it with the
/// defaults).
pub trait Hooks: Send + Sync + 'static {
    /// Adjusts the configuration the attribute describes (TLS, retention,
    /// queues, listening addresses, identity, ...). Runs on the user's
    /// thread at `register` (and in the child process, out of process).
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config
    }

    /// A peer's stream opened (runs on the runtime's threads; keep it
    /// short).
    fn on_connect(&self, peer: CallerId, addr: Option<SocketAddr>) {
        let _ = (peer, addr);
    }

    /// A peer's stream ended.
    fn on_disconnect(&self, peer: CallerId, reason: &str) {
        let _ = (peer, reason);
    }

    /// The service's other RPCs, on a producer (default: `UNIMPLEMENTED`):
    /// e.g. `Some(Routes::new(SensorServer::new(MyHandlers)))`; the stream
    /// method stays tsercom's.
    fn other_rpcs(&self) -> Option<tonic::service::Routes> {
        None
    }
}

/// A producer's configuration: advertise `publish` over mDNS (when given)
/// as `name`, listen on `listen` (when given; else any address, any port).
/// Events are queued per aggregator with the default policy.
pub fn producer_config(
    name: &str,
    publish: Option<&str>,
    listen: Option<SocketAddr>,
) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(Role::Producer);
    if let Some(addr) = listen {
        config.listen = vec![addr];
    }
    config.discovery.publish = publish.map(|ty| (ty.to_owned(), name.to_owned()));
    config.discovery.peers = PeerSource::None;
    config
}

/// An aggregator's configuration: browse `discover` over mDNS, or dial the
/// static `peers`.
pub fn aggregator_config(discover: Option<&str>, peers: &[SocketAddr]) -> RuntimeConfig {
    let mut config = RuntimeConfig::new(Role::Aggregator);
    config.discovery.peers = match discover {
        Some(ty) => PeerSource::Mdns {
            service_type: ty.to_owned(),
        },
        None => PeerSource::Static(peers.iter().map(|a| (*a).into()).collect()),
    };
    config
}

/// Reads a message's timestamp field: `Ok(None)` when it has none or it is
/// unset.
fn read_timestamp(field: Option<&mut Option<proto::ServerTimestamp>>) -> Result<Option<Timestamp>> {
    match field {
        Some(Some(ts)) => Timestamp::from_proto(ts).map(Some),
        _ => Ok(None),
    }
}

/// Sets a message's timestamp field (when it has one) to `time`.
fn write_timestamp(field: Option<&mut Option<proto::ServerTimestamp>>, time: Timestamp) {
    if let Some(field) = field {
        *field = Some(time.to_proto());
    }
}

fn bad_peer(what: &str, e: &Error) -> tonic::Status {
    tonic::Status::invalid_argument(format!("{what}: {e}"))
}
