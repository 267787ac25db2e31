//! Finding peers: a [`Discovery`] is a stream of [`DiscoveryEvent`]s about
//! [`ServiceInfo`]s. Sources: mDNS/DNS-SD on the LAN ([`mdns`]), DNS-SD
//! over unicast DNS beyond it ([`dns`]), and a static list of `host:port`
//! targets ([`StaticPeers`], for networks without multicast); [`open`]
//! opens any of them (or several at once) from a [`PeerSource`], and users
//! can add their own by implementing the trait.
//!
//! ```text
//!  producer: MdnsPublisher ── _sensors._tcp.local. (port, addresses,
//!                              TXT caller_id, name, published_on, protocol_version)
//!  aggregator: MdnsBrowser / DnsSdBrowser / StaticPeers
//!                 ──▶ Added / Updated / Removed ──▶ connector ──▶ dial_order(addresses)
//! ```

pub mod address;
mod connector;
pub mod dns;
pub mod loopback;
pub mod mdns;
mod source;
mod static_peers;

pub use address::dial_order;
pub use connector::{Connector, ConnectorConfig, PeerEvent, PeerKey, spawn_connector};
pub use dns::{DEFAULT_DNS_INTERVAL, DnsSdBrowser, DnsSdConfig};
pub use source::{Merged, open, parse_discover};
pub use static_peers::{StaticPeer, StaticPeers};

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::time::Timestamp;

/// How a static peer's instance name starts (`static:host:port`).
pub const STATIC_INSTANCE_PREFIX: &str = "static:";

/// TXT key: the publisher's persistent CallerId.
pub const TXT_CALLER_ID: &str = "caller_id";
/// TXT key: a readable name (as the Python library writes it).
pub const TXT_NAME: &str = "name";
/// TXT key: when the service was published, written as RFC 3339 UTC with
/// nanoseconds (`2025-01-02T13:04:05.123456789Z`, [`Timestamp`]'s
/// `Display`).
///
/// The key is the Python library's, the format deliberately is not: Python
/// tsercom 1.1.x writes `datetime.now().strftime("%F %T.%f")`, the local
/// time **without a zone** (`2025-01-02 14:04:05.123456`), which names a
/// different instant on every host whose zone differs and is ambiguous in
/// the hour a DST change repeats. UTC with an explicit `Z` is unambiguous.
/// Neither library parses the value (both only write it), so the
/// difference breaks nothing; a reader that wants a time
/// from it should accept both forms, treating the zone-less one as the
/// publisher's unknown local time.
pub const TXT_PUBLISHED_ON: &str = "published_on";
/// TXT key: the tsercom protocol version.
pub const TXT_PROTOCOL_VERSION: &str = "protocol_version";

/// Where a runtime finds its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerSource {
    /// Nowhere: the runtime only listens.
    #[default]
    None,
    /// Browse mDNS for this service type.
    Mdns {
        /// e.g. `_sensors._tcp`.
        service_type: String,
    },
    /// These `host:port` targets, each optionally pinned to the CallerId
    /// it must present; names are resolved at each (re)connect.
    Static(Vec<StaticPeer>),
    /// DNS-SD over unicast DNS (RFC 6763): PTR, SRV, TXT and A/AAAA
    /// records of an ordinary zone, re-queried periodically.
    Dns(DnsSdConfig),
    /// Several sources at once (e.g. mDNS and static peers).
    Several(Vec<PeerSource>),
}

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Which network interfaces mDNS uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interfaces {
    /// Every interface (mdns-sd).
    #[default]
    All,
    /// Only the interfaces with these names, e.g. `eth0` (mdns-sd; see
    /// [`mdns`] for the joins sent when its daemon starts).
    Named(Vec<String>),
    /// Only this address family (mdns-sd; see [`mdns`]).
    Family(IpFamily),
    /// Only the loopback interface, 127.0.0.1: nothing is sent on, and no
    /// group joined on, any other interface ([`loopback`]). Peers on this
    /// host only.
    LoopbackOnly,
}

impl Interfaces {
    /// Parses `all`, `loopback`, `ipv4`, `ipv6`, or a comma-separated list
    /// of interface names.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an empty selection or an empty name.
    pub fn parse(spec: &str) -> Result<Self> {
        use tsercom_validate::InterfaceSelection as S;
        // The rules are tsercom-validate's (the macro checks the same ones).
        Ok(match tsercom_validate::parse_interfaces(spec) {
            Some(S::All) => Interfaces::All,
            Some(S::Loopback) => Interfaces::LoopbackOnly,
            Some(S::Ipv4) => Interfaces::Family(IpFamily::V4),
            Some(S::Ipv6) => Interfaces::Family(IpFamily::V6),
            Some(S::Named(names)) => Interfaces::Named(names),
            None => {
                return Err(Error::Invalid {
                    what: "interfaces",
                    reason: format!(
                        "{spec:?}: expected \"all\", \"loopback\", \"ipv4\", \"ipv6\" or interface names separated by ','"
                    ),
                });
            }
        })
    }
}

/// A runtime's discovery settings: what it advertises and where it looks.
/// Role and direction are independent: a producer or an aggregator may do
/// either or both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Advertise over mDNS under this service type (e.g. `_sensors._tcp`)
    /// with this readable name.
    pub publish: Option<(String, String)>,
    /// Where to find peers to dial.
    pub peers: PeerSource,
    /// The interfaces mDNS publishes and browses on.
    pub interfaces: Interfaces,
}

/// An advertisement, live until dropped (then a goodbye is sent).
#[derive(Debug)]
pub struct Publisher {
    inner: PublisherKind,
}

#[derive(Debug)]
enum PublisherKind {
    Mdns(mdns::MdnsPublisher),
    Loopback(loopback::LoopbackPublisher),
}

impl Publisher {
    /// The published full name.
    pub fn fullname(&self) -> &str {
        match &self.inner {
            PublisherKind::Mdns(p) => p.fullname(),
            PublisherKind::Loopback(p) => p.fullname(),
        }
    }
}

/// Publishes `name` (instance `<name>-<first 8 hex of the id>`) on `port`
/// under `service_type`, on the selected interfaces: mdns-sd, or tsercom's
/// loopback responder for [`Interfaces::LoopbackOnly`].
///
/// # Errors
/// [`Error::Invalid`] for a malformed type or name; [`Error::Discovery`]
/// for a daemon or socket failure.
pub fn publish(
    service_type: &str,
    name: &str,
    port: u16,
    caller_id: CallerId,
    interfaces: &Interfaces,
) -> Result<Publisher> {
    let inner = match interfaces {
        Interfaces::LoopbackOnly => PublisherKind::Loopback(loopback::LoopbackPublisher::publish(
            service_type,
            name,
            port,
            caller_id,
            loopback::MDNS_PORT,
        )?),
        _ => PublisherKind::Mdns(mdns::MdnsPublisher::publish_on(
            service_type,
            name,
            port,
            caller_id,
            interfaces,
        )?),
    };
    Ok(Publisher { inner })
}

/// Browses `service_type` on the selected interfaces.
///
/// # Errors
/// [`Error::Invalid`] for a malformed type; [`Error::Discovery`] for a
/// daemon or socket failure.
pub fn browse(service_type: &str, interfaces: &Interfaces) -> Result<Box<dyn Discovery>> {
    Ok(match interfaces {
        Interfaces::LoopbackOnly => Box::new(loopback::LoopbackBrowser::browse(
            service_type,
            loopback::MDNS_PORT,
        )?),
        _ => Box::new(mdns::MdnsBrowser::browse_on(service_type, interfaces)?),
    })
}

/// The instance name (`<name>-<first 8 hex of the id>`: unique per host,
/// stable across restarts with the same CallerId) and the TXT properties.
fn instance_and_txt(name: &str, caller_id: CallerId) -> Result<(String, HashMap<String, String>)> {
    if name.is_empty() || name.len() > 40 || name.contains('.') {
        return Err(Error::Invalid {
            what: "instance name",
            reason: format!("{name:?}: 1 to 40 characters, no '.'"),
        });
    }
    let id = caller_id.to_string();
    let instance = format!("{name}-{}", &id[..8]);
    let mut txt = HashMap::new();
    txt.insert(TXT_CALLER_ID.to_owned(), id);
    txt.insert(TXT_NAME.to_owned(), name.to_owned());
    // RFC 3339 UTC on purpose, not Python's zone-less local time: see
    // TXT_PUBLISHED_ON.
    txt.insert(TXT_PUBLISHED_ON.to_owned(), Timestamp::now().to_string());
    txt.insert(
        TXT_PROTOCOL_VERSION.to_owned(),
        crate::rpc::PROTOCOL_VERSION.to_string(),
    );
    Ok((instance, txt))
}

impl DiscoveryConfig {
    /// Checks the service types.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming a malformed service type.
    pub fn validate(&self) -> Result<()> {
        if let Some((service_type, _)) = &self.publish {
            normalize_service_type(service_type)?;
        }
        self.peers.validate()
    }
}

impl PeerSource {
    /// Checks service types, DNS-SD names and static targets.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first bad value.
    pub fn validate(&self) -> Result<()> {
        match self {
            PeerSource::None => Ok(()),
            PeerSource::Mdns { service_type } => normalize_service_type(service_type).map(|_| ()),
            PeerSource::Static(peers) => peers.iter().try_for_each(|p| p.to_info().map(|_| ())),
            PeerSource::Dns(config) => config.validate(),
            PeerSource::Several(sources) => sources.iter().try_for_each(PeerSource::validate),
        }
    }
}

/// One discovered (or statically known) peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The unique instance name (mDNS: the full name).
    pub instance: String,
    /// A readable name.
    pub name: String,
    /// Its port.
    pub port: u16,
    /// Its addresses, as announced (resolved by the source, if any).
    pub addresses: Vec<IpAddr>,
    /// A host name to dial when there are no addresses (e.g. a static
    /// peer's DNS name, resolved at each connect), or the SRV target the
    /// addresses were resolved from.
    pub host: Option<String>,
    /// Its CallerId, when announced (and valid).
    pub caller_id: Option<CallerId>,
    /// Every TXT property.
    pub txt: BTreeMap<String, String>,
}

impl ServiceInfo {
    /// An announced instance, as every browser reports it: the CallerId
    /// from TXT `caller_id` (when valid) and, as the Python library does,
    /// the readable name from TXT `name`, else the full instance name.
    pub fn announced(
        instance: String,
        port: u16,
        addresses: Vec<IpAddr>,
        host: Option<String>,
        txt: BTreeMap<String, String>,
    ) -> Self {
        let caller_id = txt
            .get(TXT_CALLER_ID)
            .and_then(|id| CallerId::parse(id).ok());
        let name = txt
            .get(TXT_NAME)
            .cloned()
            .unwrap_or_else(|| instance.clone());
        ServiceInfo {
            instance,
            name,
            port,
            addresses,
            host,
            caller_id,
            txt,
        }
    }

    /// `address:port` for each address.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        self.addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect()
    }

    /// What the connector dials, in order: the addresses that
    /// [`dial_order`] keeps, as `address:port`; without any address, the
    /// host name as `host:port` (resolved when dialed).
    pub fn dial_targets(&self) -> Vec<String> {
        let ordered = dial_order(&self.addresses);
        if let (true, Some(host)) = (self.addresses.is_empty(), &self.host) {
            return vec![format!("{host}:{}", self.port)];
        }
        ordered
            .into_iter()
            .map(|ip| SocketAddr::new(ip, self.port).to_string())
            .collect()
    }
}

/// What a discovery source reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryEvent {
    /// A new instance.
    Added(ServiceInfo),
    /// A known instance changed address, port or TXT.
    Updated(ServiceInfo),
    /// An instance went away.
    Removed {
        /// Its instance name.
        instance: String,
    },
}

/// A source of discovery events.
pub trait Discovery: Send {
    /// The next event; `None` when the source has ended.
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>>;
}

/// Normalizes a service type: `_sensors._tcp`, `_sensors._tcp.local` and
/// `_sensors._tcp.local.` all become `_sensors._tcp.local.`.
///
/// # Errors
/// [`Error::Invalid`] naming what is wrong: not `_name._tcp` / `_name._udp`,
/// a name longer than 15 characters (RFC 6763 §7.2), or characters other
/// than letters, digits and `-`.
pub fn normalize_service_type(service_type: &str) -> Result<String> {
    let invalid = |reason: String| Error::Invalid {
        what: "service type",
        reason: format!("{service_type:?}: {reason}"),
    };
    // The rules are tsercom-validate's (the macro checks the same ones);
    // the order of the checks and the wording are this function's.
    use tsercom_validate::{ServiceTypeError as E, check_protocol, check_service_name};
    let Ok((name, proto)) = tsercom_validate::split_service_type(service_type) else {
        return Err(invalid(
            "expected \"_name._tcp\" or \"_name._udp\" (optionally with \".local.\")".into(),
        ));
    };
    match check_service_name(name) {
        Ok(_) => {}
        Err(E::NoUnderscore(_)) => {
            return Err(invalid("the service name must start with '_'".into()));
        }
        Err(E::Length(_)) => {
            return Err(invalid(
                "the service name must have 1 to 15 characters".into(),
            ));
        }
        // Character or EdgeHyphen (the only other rules of a name).
        Err(_) => {
            return Err(invalid(
                "the service name may hold only letters, digits and inner '-'".into(),
            ));
        }
    }
    if check_protocol(proto).is_err() {
        return Err(invalid(format!(
            "the protocol must be _tcp or _udp, not {proto:?}"
        )));
    }
    Ok(format!("{name}.{proto}.local."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_types_normalize_or_fail_clearly() {
        for ok in [
            "_sensors._tcp",
            "_sensors._tcp.local",
            "_sensors._tcp.local.",
        ] {
            assert_eq!(
                normalize_service_type(ok).expect("valid"),
                "_sensors._tcp.local."
            );
        }
        assert_eq!(
            normalize_service_type("_a-b1._udp").expect("valid"),
            "_a-b1._udp.local."
        );
        for (bad, why) in [
            ("sensors._tcp", "start with '_'"),
            ("_sensors", "expected"),
            ("_sensors._sctp", "_tcp or _udp"),
            ("_waytoolongservicename._tcp", "1 to 15"),
            ("_bad name._tcp", "letters, digits"),
            ("_sensors._tcp.example.com.", "expected"),
        ] {
            let err = normalize_service_type(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    /// The macro's unit tests check the same table (tsercom-validate's),
    /// so the macro and the runtime accept the same inputs.
    #[test]
    fn service_types_and_interfaces_follow_the_shared_table() {
        for &(text, valid) in tsercom_validate::cases::SERVICE_TYPES {
            assert_eq!(normalize_service_type(text).is_ok(), valid, "{text:?}");
        }
        for &(text, valid) in tsercom_validate::cases::INTERFACE_LISTS {
            assert_eq!(Interfaces::parse(text).is_ok(), valid, "{text:?}");
        }
    }

    #[test]
    fn discovery_config_validates_service_types() {
        let good = DiscoveryConfig {
            publish: Some(("_sensors._tcp".into(), "thermo".into())),
            peers: PeerSource::Static(vec![StaticPeer::parse("localhost:1").expect("valid")]),
            interfaces: Interfaces::All,
        };
        good.validate().expect("valid");
        let bad = DiscoveryConfig {
            publish: None,
            peers: PeerSource::Mdns {
                service_type: "sensors".into(),
            },
            interfaces: Interfaces::LoopbackOnly,
        };
        assert!(
            bad.validate()
                .expect_err("invalid")
                .to_string()
                .contains("sensors")
        );
    }

    #[test]
    fn interface_selections_parse_or_fail_clearly() {
        assert_eq!(
            Interfaces::parse("loopback").expect("ok"),
            Interfaces::LoopbackOnly
        );
        assert_eq!(Interfaces::parse("all").expect("ok"), Interfaces::All);
        assert_eq!(
            Interfaces::parse("ipv6").expect("ok"),
            Interfaces::Family(IpFamily::V6)
        );
        assert_eq!(
            Interfaces::parse("eth0, wlan0").expect("ok"),
            Interfaces::Named(vec!["eth0".into(), "wlan0".into()])
        );
        for bad in ["", "eth0,", "eth 0"] {
            let err = Interfaces::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("interface names"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn published_on_is_rfc3339_utc_not_pythons_zoneless_local_time() {
        let id = CallerId::random();
        let (_, txt) = instance_and_txt("probe", id).expect("valid name");
        let published = &txt[TXT_PUBLISHED_ON];
        // 2025-01-02T13:04:05.123456789Z: a 'T', nanoseconds and a 'Z'.
        assert_eq!(published.len(), 30, "{published}");
        assert_eq!(&published[10..11], "T", "{published}");
        assert!(published.ends_with('Z'), "{published}");
    }
}
