//! The glue `#[tsercom::runtime]` expands to. Role and direction are
//! independent: the **role** (producer or aggregator) says what the handle
//! does — a [`ProducerHandle`](crate::ProducerHandle) publishes data and
//! reads events, an [`AggregatorHandle`](crate::AggregatorHandle) reads
//! data by CallerId and sends events; the **direction** says who listens —
//! [`host`] serves the service's bidirectional method (`publish` /
//! `listen`), [`dial`] finds peers and calls it (`discover` / `peers`).
//!
//! ```text
//!  host (publish / listen)                       dialer (discover / peers)
//!  ───────────────────────                       ─────────────────────────
//!  serves rpc M(stream In) returns (stream Out)  Connector (mDNS, DNS-SD, static peers)
//!    per dialer: a caller of the runtime  ◀────    └▶ per peer: handshake, clock sync,
//!    In ──▶ handle (host's clock)      request       opens M; what arrives converted
//!    handle ──▶ Out (stamped)          response      to the dialer's clock ──▶ handle
//! ```
//!
//! The method's request stream is what the dialer sends: a producer that
//! hosts serves `rpc Stream(stream Command) returns (stream Reading)`, an
//! aggregator that hosts `rpc Upload(stream Reading) returns (stream
//! Command)`. `tsercom-build` describes every bidirectional method of a
//! service (`<service>_tsercom::method::<Method>`) and, for every
//! `(request, response)` pair that exactly one method has, lets
//! `<service>_tsercom::Service` stand for it (the `Fits` trait the build
//! generates); the macro picks the pair from the role and the direction, or
//! takes `method = Name`.
//!
//! Clock conversions happen on the dialer's side, per connection (it
//! estimates the offset to the host): what arrives is converted to the
//! dialer's clock, what leaves to the host's. Each side therefore deals in
//! its own clock, and the aggregator's clock is the timebase of everything
//! its handle shows, whichever side dials.
//!
//! # What the macro expands to
//!
//! ```text
//! #[tsercom::runtime(producer, publish = "_sensors._tcp", service = Sensor, data = Reading, event = Command)]
//! struct Thermometer;
//! ```
//!
//! becomes (paths shortened):
//!
//! ```text
//! struct Thermometer;
//! impl Default for Thermometer { fn default() -> Self { Thermometer } }   // unit structs only
//! impl tsercom::service::Hooks for Thermometer {}                          // unless `hooks`
//! impl tsercom::runtime::RuntimeInitializer for Thermometer {
//!     type Inbound = Command;   // a producer receives events...
//!     type Outbound = Reading;  // ...and sends data
//!     type Handle = tsercom::ProducerHandle<Reading, Command>;
//!     fn name(&self) -> String { "Thermometer".into() }
//!     fn config(&self) -> Result<RuntimeConfig> {
//!         let config = tsercom::service::host_config(
//!             Role::Producer, "Thermometer", Some("_sensors._tcp"), Vec::new())?;
//!         let config = tsercom::service::env_overrides("Thermometer", config)?;
//!         Ok(<Self as Hooks>::configure(self, config))
//!     }
//!     fn inbound_descriptor(&self) -> Option<MessageDescriptor> {
//!         // `Command`'s schema, for a recording from the configuration.
//!         tsercom::service::message_descriptor::<Method>(Side::Request)
//!     }
//!     fn create(&mut self, ctx: RuntimeContext<Command, Reading>) -> Result<Box<dyn Runtime>> {
//!         // The method whose request is Command and response Reading
//!         // (a compile error naming that shape when Sensor has none).
//!         tsercom::service::host::<
//!             <sensor_tsercom::Service as sensor_tsercom::Fits<Command, Reading>>::Method,
//!             Self,
//!         >(ctx, take(self))
//!     }
//! }
//! ```
//!
//! A dialer (`discover = ...` or `peers = ...`) is the same with
//! [`dial_config`] and [`dial`]; an aggregator swaps `Inbound` and
//! `Outbound` and gets an `AggregatorHandle<Reading, Command>`.

mod arrivals;
mod descriptor;
mod dial;
mod host;
mod legacy;
mod pending;

use std::net::{SocketAddr, ToSocketAddrs};

pub use descriptor::{Side, message_descriptor};
pub use dial::{Dialer, dial};
pub use host::{Host, host};
pub use legacy::LegacyPeers;

use crate::caller_id::CallerId;
use crate::discovery::{PeerSource, StaticPeer};
use crate::error::{Error, Result};
use crate::proto;
use crate::runtime::{Role, RuntimeConfig};
use crate::time::Timestamp;

/// The metadata key carrying the dialer's CallerId on the stream call (the
/// handshake on the same channel has already checked it).
pub const CALLER_ID_METADATA: &str = "tsercom-caller-id";

/// Stream metadata carrying the sender's runtime name, both ways (the
/// dialer's request, the host's response headers): shown as
/// [`CallerInfo::name`](crate::data::CallerInfo::name). Optional; printable
/// ASCII, at most [`MAX_NAME`] characters, else not sent (or ignored).
pub const NAME_METADATA: &str = "tsercom-name";

/// The longest name sent or accepted in [`NAME_METADATA`].
pub const MAX_NAME: usize = 128;

/// `name` as a metadata value, when it can be one.
fn name_value(name: &str) -> Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>> {
    let fits = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| (0x20..0x7f).contains(&b));
    fits.then(|| tonic::metadata::MetadataValue::try_from(name).ok())
        .flatten()
}

/// The name a peer gave in `metadata`, when it is acceptable.
fn peer_name(metadata: &tonic::metadata::MetadataMap) -> Option<String> {
    let name = metadata.get(NAME_METADATA)?.to_str().ok()?.trim();
    name_value(name).map(|_| name.to_owned())
}

/// One bidirectional stream method of a service, as `tsercom-build`
/// describes it (`<service>_tsercom::method::<Method>`). The request stream
/// is what the dialer sends, the response stream what the host sends.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not describe a bidirectional streaming method",
    note = "tsercom-build describes each `rpc M(stream A) returns (stream B)` of a service as `<service>_tsercom::method::M`"
)]
pub trait StreamService: Send + Sync + 'static {
    /// What the dialer streams.
    type Request: prost::Message + Default + Clone + Send + Sync + 'static;
    /// What the host streams back.
    type Response: prost::Message + Default + Clone + Send + Sync + 'static;
    /// The full service name, e.g. `sensors.Sensor`.
    const SERVICE: &'static str;
    /// The method's name, e.g. `Stream`.
    const METHOD: &'static str;
    /// The HTTP/2 path, e.g. `/sensors.Sensor/Stream`.
    const PATH: &'static str;
    /// The encoded `FileDescriptorSet` declaring the service (imports
    /// included), which a hosting runtime registers for server reflection
    /// (`tsercom-build` points it at the set it wrote next to the
    /// generated code); empty: the service is not listed.
    const DESCRIPTOR_SET: &'static [u8] = &[];

    /// The request's `ServerTimestamp` field, when it has one.
    fn request_timestamp(
        message: &mut Self::Request,
    ) -> Option<&mut Option<proto::ServerTimestamp>>;
    /// The response's `ServerTimestamp` field, when it has one.
    fn response_timestamp(
        message: &mut Self::Response,
    ) -> Option<&mut Option<proto::ServerTimestamp>>;
    /// The request's `tsercom.CallerId` field, when it has one (`None`
    /// when the message has no such field, `Some(None)` when it is unset):
    /// how a legacy peer's stream is identified
    /// ([`LegacyPeers::IdFromMessages`](LegacyPeers)).
    fn request_caller_id(message: &Self::Request) -> Option<Option<&proto::CallerId>>;
}

/// What a `#[tsercom::runtime]` struct may customize. Every method has a
/// default; write `hooks` in the attribute and implement this trait to
/// replace some (without `hooks` the macro implements it with the
/// defaults).
pub trait Hooks: Send + Sync + 'static {
    /// Adjusts the configuration the attribute describes (TLS, retention,
    /// queues, listening addresses, peers, identity, ...), e.g. from the
    /// struct's fields. Runs on the user's thread at `register` (and in the
    /// child process, out of process), after the environment overrides
    /// ([`env_overrides`]).
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

    /// The service's other RPCs, when this runtime hosts (default:
    /// `UNIMPLEMENTED`): e.g. `Some(Routes::new(SensorServer::new(MyHandlers)))`;
    /// the stream method stays tsercom's.
    fn other_rpcs(&self) -> Option<tonic::service::Routes> {
        None
    }
}

/// A hosting runtime's configuration: advertise `publish` over mDNS (when
/// given) as `name`, listen on every address `listen` resolves to (`host:port`
/// with a DNS name or an IP literal; none: any address, any port).
///
/// # Errors
/// [`Error::Invalid`] naming an address that does not resolve.
pub fn host_config(
    role: Role,
    name: &str,
    publish: Option<&str>,
    listen: Vec<String>,
) -> Result<RuntimeConfig> {
    let mut config = RuntimeConfig::new(role);
    if !listen.is_empty() {
        config.listen = resolve_listen(&listen)?;
    }
    config.discovery.publish = publish.map(|ty| (ty.to_owned(), name.to_owned()));
    config.discovery.peers = PeerSource::None;
    Ok(config)
}

/// A dialing runtime's configuration: browse `discover` over mDNS, and/or
/// dial the static `peers` (`host:port`, DNS names allowed).
///
/// # Errors
/// [`Error::Invalid`] naming a malformed address, or when neither is given.
pub fn dial_config(
    role: Role,
    discover: Option<&str>,
    peers: Vec<String>,
) -> Result<RuntimeConfig> {
    let mut config = RuntimeConfig::new(role);
    config.discovery.peers = dial_source(discover, &peers)?;
    Ok(config)
}

fn dial_source(discover: Option<&str>, peers: &[String]) -> Result<PeerSource> {
    let found = discover.map(crate::discovery::parse_discover).transpose()?;
    let fixed = if peers.is_empty() {
        None
    } else {
        Some(PeerSource::Static(
            peers
                .iter()
                .map(|p| StaticPeer::parse(p))
                .collect::<Result<_>>()?,
        ))
    };
    match (found, fixed) {
        (Some(found), None) => Ok(found),
        (None, Some(fixed)) => Ok(fixed),
        (Some(found), Some(fixed)) => Ok(PeerSource::Several(vec![found, fixed])),
        (None, None) => Err(Error::Invalid {
            what: "peers",
            reason: "no peers to dial: neither a service type to discover nor addresses".into(),
        }),
    }
}

fn resolve_listen(listen: &[String]) -> Result<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for target in listen {
        let addrs = target.to_socket_addrs().map_err(|e| Error::Invalid {
            what: "listen",
            reason: format!("{target:?}: {e} (expected host:port)"),
        })?;
        for addr in addrs {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid {
            what: "listen",
            reason: format!("{listen:?} resolve to no address"),
        });
    }
    Ok(out)
}

/// Addresses from the environment variable `var`: `host:port` entries
/// separated by `,` (what `peers = env("VAR")` / `listen = env("VAR")`
/// expand to).
///
/// # Errors
/// [`Error::Invalid`] when `var` is unset, not Unicode or empty.
pub fn env_addrs(var: &str) -> Result<Vec<String>> {
    let value = std::env::var(var).map_err(|e| Error::Invalid {
        what: "address from the environment",
        reason: format!("{var}: {e} (expected host:port entries separated by ',')"),
    })?;
    let addrs = split_addrs(&value);
    if addrs.is_empty() {
        return Err(Error::Invalid {
            what: "address from the environment",
            reason: format!("{var} is empty (expected host:port entries separated by ',')"),
        });
    }
    Ok(addrs)
}

/// What `peers = env("VAR")` / `listen = env("VAR")` expand to for runtime
/// `name`: the runtime's own override `TSERCOM_<NAME>_<WHICH>` when set
/// (it wins anyway, see [`env_overrides`], so `VAR` may then be unset),
/// else `VAR` ([`env_addrs`]). `which` is `PEERS` or `LISTEN`.
///
/// # Errors
/// As [`env_addrs`].
pub fn env_addrs_for(name: &str, which: &str, var: &str) -> Result<Vec<String>> {
    let own = format!("{}{which}", env_prefix(name));
    if std::env::var_os(&own).is_some() {
        return env_addrs(&own);
    }
    env_addrs(var)
}

fn split_addrs(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Addresses taken from a field of the runtime's struct
/// (`peers = self.field`): a `String` (entries separated by `,`), a `&str`,
/// a list of either, or socket addresses.
pub trait AsAddrs {
    /// The `host:port` entries.
    fn as_addrs(&self) -> Vec<String>;
}

impl AsAddrs for str {
    fn as_addrs(&self) -> Vec<String> {
        split_addrs(self)
    }
}

impl AsAddrs for String {
    fn as_addrs(&self) -> Vec<String> {
        split_addrs(self)
    }
}

impl AsAddrs for SocketAddr {
    fn as_addrs(&self) -> Vec<String> {
        vec![self.to_string()]
    }
}

impl<T: AsAddrs + ?Sized> AsAddrs for &T {
    fn as_addrs(&self) -> Vec<String> {
        (**self).as_addrs()
    }
}

impl<T: AsAddrs> AsAddrs for [T] {
    fn as_addrs(&self) -> Vec<String> {
        self.iter().flat_map(AsAddrs::as_addrs).collect()
    }
}

impl<T: AsAddrs> AsAddrs for Vec<T> {
    fn as_addrs(&self) -> Vec<String> {
        self.as_slice().as_addrs()
    }
}

impl<T: AsAddrs> AsAddrs for Option<T> {
    fn as_addrs(&self) -> Vec<String> {
        self.as_ref().map(AsAddrs::as_addrs).unwrap_or_default()
    }
}

/// The environment variable prefix of runtime `name`:
/// `TSERCOM_<NAME>_`, the name upper-cased with every character other than
/// a letter or digit as `_` (e.g. `Collector` → `TSERCOM_COLLECTOR_`,
/// `imu-feed` → `TSERCOM_IMU_FEED_`).
pub fn env_prefix(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("TSERCOM_{upper}_")
}

/// Applies the environment overrides of runtime `name` (so one binary
/// serves a whole fleet): `TSERCOM_<NAME>_PEERS` replaces where a dialing
/// runtime finds its peers (`host:port` entries separated by `,`; the
/// attribute's `discover` and `peers` both give way),
/// `TSERCOM_<NAME>_LISTEN` a hosting runtime's listen addresses, and
/// `TSERCOM_<NAME>_RECORD` the MCAP file the handle's incoming stream is
/// recorded to ([`RuntimeConfig::record`]; empty: no recording).
///
/// Precedence in a generated runtime, last wins: the attribute, these
/// variables, the `config = fn` function, [`Hooks::configure`].
///
/// # Errors
/// [`Error::Invalid`] for a malformed value, or for an override of the
/// other direction (`_PEERS` on a runtime that listens, `_LISTEN` on one
/// that dials: the direction is fixed at compile time).
pub fn env_overrides(name: &str, mut config: RuntimeConfig) -> Result<RuntimeConfig> {
    let prefix = env_prefix(name);
    let dials = config.discovery.peers != PeerSource::None;
    let read = |suffix: &str| -> Result<Option<Vec<String>>> {
        let var = format!("{prefix}{suffix}");
        match std::env::var(&var) {
            Ok(_) => env_addrs(&var).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(e) => Err(Error::Invalid {
                what: "address from the environment",
                reason: format!("{var}: {e}"),
            }),
        }
    };
    if let Some(peers) = read("PEERS")? {
        if !dials {
            return Err(Error::Invalid {
                what: "address from the environment",
                reason: format!(
                    "{prefix}PEERS is set, but runtime {name:?} listens (publish / listen); set {prefix}LISTEN instead"
                ),
            });
        }
        config.discovery.peers = dial_source(None, &peers)?;
    }
    match std::env::var_os(format!("{prefix}RECORD")) {
        Some(path) if path.is_empty() => config.record = None,
        Some(path) => config.record = Some(path.into()),
        None => {}
    }
    if let Some(listen) = read("LISTEN")? {
        if dials {
            return Err(Error::Invalid {
                what: "address from the environment",
                reason: format!(
                    "{prefix}LISTEN is set, but runtime {name:?} dials (discover / peers); set {prefix}PEERS instead"
                ),
            });
        }
        config.listen = resolve_listen(&listen)?;
    }
    Ok(config)
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

/// What the peer did wrong, when reading its stream failed because of
/// what it sent: a message that does not decode (tonic reports INTERNAL
/// with prost's reason, or a bad frame header) or one over the size limit
/// (OUT_OF_RANGE). `None` for the transport's own failures (a reset, a
/// cancelled call, a stream cut short), which end the stream without
/// blaming the peer.
fn malformed(status: &tonic::Status) -> Option<String> {
    let blame = match status.code() {
        tonic::Code::OutOfRange => true,
        tonic::Code::Internal => {
            // Not the transport's own errors ("h2 protocol error: …", a
            // stream cut before its trailers): only what the peer encoded.
            let m = status.message();
            !m.starts_with("h2 ")
                && (m.contains("decode")
                    || m.contains("wire type")
                    || m.starts_with("protocol error: received message"))
        }
        _ => false,
    };
    blame.then(|| format!("malformed message: {}", status.message()))
}
