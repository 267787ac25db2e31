//! Peers known in advance: `host:port` targets (DNS names or IP literals),
//! each optionally pinned to the CallerId it must present.
//!
//! A name is not resolved here: the peer is reported with its host name
//! and the connector dials the name, which is resolved again at each
//! (re)connect, every address it resolves to tried in turn.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Discovery, DiscoveryEvent, ServiceInfo};
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::future::BoxFuture;

/// One static peer: where to dial it and, optionally, who it must be.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StaticPeer {
    /// `host:port`, `[v6]:port` or `1.2.3.4:port`.
    pub target: String,
    /// The CallerId the peer must present in the handshake (`None`: any).
    pub caller_id: Option<CallerId>,
}

/// The host (unbracketed) and port of a checked target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPort {
    pub(crate) host: Host,
    pub(crate) port: u16,
}

/// A target's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
}

impl StaticPeer {
    /// Checks `target`'s syntax: a non-empty host that is a DNS name
    /// (letters, digits, `-`, `_`, labels of 1 to 63 characters separated
    /// by `.`) or an IP literal (IPv6 in brackets), then `:` and a port in
    /// 1..=65535. Nothing is resolved.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the bad value and what is wrong.
    pub fn parse(target: &str) -> Result<StaticPeer> {
        split_target(target)?;
        Ok(StaticPeer {
            target: target.trim().to_owned(),
            caller_id: None,
        })
    }

    /// Pins the CallerId the peer must present.
    #[must_use]
    pub fn expecting(mut self, id: CallerId) -> Self {
        self.caller_id = Some(id);
        self
    }

    /// The announcement for this peer: an IP literal as its address, a
    /// name as its host (resolved when dialed).
    ///
    /// # Errors
    /// As [`parse`](Self::parse), for a target set by hand.
    pub fn to_info(&self) -> Result<ServiceInfo> {
        let HostPort { host, port } = split_target(&self.target)?;
        let (addresses, host) = match host {
            Host::Ip(ip) => (vec![ip], None),
            Host::Name(name) => (Vec::new(), Some(name)),
        };
        Ok(ServiceInfo {
            instance: format!("{}{}", super::STATIC_INSTANCE_PREFIX, self.target),
            name: self.target.clone(),
            port,
            addresses,
            host,
            caller_id: self.caller_id,
            txt: BTreeMap::new(),
        })
    }
}

impl From<SocketAddr> for StaticPeer {
    fn from(addr: SocketAddr) -> Self {
        StaticPeer {
            target: addr.to_string(),
            caller_id: None,
        }
    }
}

impl From<(SocketAddr, Option<CallerId>)> for StaticPeer {
    fn from((addr, caller_id): (SocketAddr, Option<CallerId>)) -> Self {
        StaticPeer {
            target: addr.to_string(),
            caller_id,
        }
    }
}

impl std::str::FromStr for StaticPeer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        StaticPeer::parse(s)
    }
}

/// Splits and checks `host:port`.
pub(crate) fn split_target(target: &str) -> Result<HostPort> {
    let invalid = |reason: &str| Error::Invalid {
        what: "peer address",
        reason: format!("{target:?}: {reason}"),
    };
    let trimmed = target.trim();
    let (host, port) = if let Some(rest) = trimmed.strip_prefix('[') {
        let (v6, port) = rest
            .split_once("]:")
            .ok_or_else(|| invalid("expected \"[v6 address]:port\""))?;
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| invalid("not an IPv6 address inside the brackets"))?;
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = trimmed
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected \"host:port\" (a port is required)"))?;
        if host.contains(':') {
            return Err(invalid(
                "an IPv6 address needs brackets, as in \"[::1]:port\"",
            ));
        }
        (parse_host(host).map_err(|reason| invalid(&reason))?, port)
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| invalid("the port must be a number in 1..=65535"))?;
    Ok(HostPort { host, port })
}

/// An IPv4 literal or a DNS name.
fn parse_host(host: &str) -> std::result::Result<Host, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|ip| Host::Ip(IpAddr::V4(ip)))
            .map_err(|_| "not a valid IPv4 address".into());
    }
    check_dns_name(host)?;
    Ok(Host::Name(host.trim_end_matches('.').to_owned()))
}

/// Checks a DNS name's syntax (a trailing `.` allowed).
pub(crate) fn check_dns_name(name: &str) -> std::result::Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() || bare.len() > 253 {
        return Err("a DNS name has 1 to 253 characters".into());
    }
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "label {label:?}: each label between '.' has 1 to 63 characters"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(format!(
                "label {label:?}: only letters, digits, '_' and inner '-' are allowed"
            ));
        }
    }
    Ok(())
}

/// Peers known in advance (containers, WAN, clouds, or loopback demos):
/// each is reported `Added` once, then nothing changes.
#[derive(Debug)]
pub struct StaticPeers {
    pending: std::vec::IntoIter<ServiceInfo>,
}

impl StaticPeers {
    /// These peers. A target that does not parse is logged and skipped;
    /// [`try_new`](Self::try_new) refuses it instead.
    pub fn new(peers: impl IntoIterator<Item = impl Into<StaticPeer>>) -> Self {
        let pending: Vec<ServiceInfo> = peers
            .into_iter()
            .filter_map(|peer| match peer.into().to_info() {
                Ok(info) => Some(info),
                Err(e) => {
                    tracing::warn!(error = %e, "static peer skipped");
                    None
                }
            })
            .collect();
        StaticPeers {
            pending: pending.into_iter(),
        }
    }

    /// These peers, every target checked.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the first malformed target.
    pub fn try_new(peers: impl IntoIterator<Item = impl Into<StaticPeer>>) -> Result<Self> {
        let pending = peers
            .into_iter()
            .map(|peer| peer.into().to_info())
            .collect::<Result<Vec<_>>>()?;
        Ok(StaticPeers {
            pending: pending.into_iter(),
        })
    }
}

impl Discovery for StaticPeers {
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>> {
        // The peer is taken on the first poll, which returns it at once:
        // dropping the future before that loses nothing.
        Box::pin(async move {
            match self.pending.next() {
                Some(info) => Some(DiscoveryEvent::Added(info)),
                // The list never changes: wait forever (the owner drops us).
                None => std::future::pending().await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_or_fail_naming_the_value() {
        for (ok, host, port) in [
            ("localhost:80", Host::Name("localhost".into()), 80),
            (
                "sensors.fleet.example.:50051",
                Host::Name("sensors.fleet.example".into()),
                50051,
            ),
            ("my_host-1:1", Host::Name("my_host-1".into()), 1),
            (
                "10.0.0.1:65535",
                Host::Ip("10.0.0.1".parse().expect("ip")),
                65535,
            ),
            ("[::1]:7", Host::Ip("::1".parse().expect("ip")), 7),
            (" [fd00::5]:9 ", Host::Ip("fd00::5".parse().expect("ip")), 9),
        ] {
            assert_eq!(split_target(ok).expect(ok), HostPort { host, port }, "{ok}");
            StaticPeer::parse(ok).expect(ok);
        }
        for (bad, why) in [
            ("localhost", "port is required"),
            (":80", "host is empty"),
            ("localhost:0", "1..=65535"),
            ("localhost:65536", "1..=65535"),
            ("localhost:http", "1..=65535"),
            ("::1:80", "needs brackets"),
            ("[::1:80", "[v6 address]:port"),
            ("[nope]:80", "IPv6"),
            ("300.1.1.1:80", "IPv4"),
            ("bad host:80", "only letters"),
            ("-bad:80", "inner '-'"),
            ("a..b:80", "1 to 63"),
        ] {
            let err = StaticPeer::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn names_are_announced_as_hosts_and_literals_as_addresses() {
        let id = CallerId::random();
        let info = StaticPeer::parse("localhost:7000")
            .expect("valid")
            .expecting(id)
            .to_info()
            .expect("valid");
        assert_eq!(info.host.as_deref(), Some("localhost"));
        assert!(info.addresses.is_empty());
        assert_eq!((info.port, info.caller_id), (7000, Some(id)));
        assert_eq!(info.dial_targets(), vec!["localhost:7000".to_owned()]);
        let addr: SocketAddr = "[::1]:9".parse().expect("addr");
        let info = StaticPeer::from(addr).to_info().expect("valid");
        assert_eq!((info.host, info.addresses), (None, vec![addr.ip()]));
    }

    #[test]
    fn static_peers_are_added_once_and_bad_ones_refused() {
        let id = CallerId::random();
        let mut peers = StaticPeers::new([("127.0.0.1:7000".parse().expect("addr"), Some(id))]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        let first = rt.block_on(peers.next_event());
        let Some(DiscoveryEvent::Added(info)) = first else {
            panic!("expected Added, got {first:?}");
        };
        assert_eq!((info.port, info.caller_id), (7000, Some(id)));
        let more = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(20), peers.next_event()).await
        });
        assert!(more.is_err(), "nothing after the list");
        let bad = StaticPeer {
            target: "nope".into(),
            caller_id: None,
        };
        assert!(StaticPeers::try_new([bad]).is_err());
    }
}
