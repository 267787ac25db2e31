//! DNS-SD over unicast DNS (RFC 6763 §4–6 over ordinary DNS): the records
//! an operator's zone, or a Kubernetes headless service, keeps.
//!
//! ```text
//!  every interval:  PTR  _sensors._tcp.fleet.example.  ──▶ instance names
//!                   SRV  <instance>                    ──▶ target host, port
//!                   TXT  <instance>                    ──▶ caller_id, name, ...
//!                   A / AAAA <target host>             ──▶ addresses
//!                   diff with the last round ──▶ Added / Updated / Removed
//! ```
//!
//! Queries go through hickory-resolver to the configured name servers (the
//! system's `/etc/resolv.conf` by default). Answers are not cached beyond
//! a round, so each round sees the zone as it is. A round that fails
//! (a timeout, a server failure) changes nothing: only an answer that an
//! instance does not exist removes it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::static_peers::check_dns_name;
use super::{Discovery, DiscoveryEvent, ServiceInfo, normalize_service_type};
use crate::error::{Error, Result};
use crate::future::BoxFuture;

/// How often a [`DnsSdBrowser`] re-queries by default.
pub const DEFAULT_DNS_INTERVAL: Duration = Duration::from_secs(5);

/// At most this many instances are followed (the rest are logged and
/// ignored), so a zone cannot make a browser query without bound.
pub const MAX_DNS_INSTANCES: usize = 1024;

/// Where and how often to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSdConfig {
    /// The service type in its domain, e.g. `_sensors._tcp.fleet.example`
    /// (a trailing `.` is optional: the name is always absolute).
    pub name: String,
    /// Time between query rounds.
    pub interval: Duration,
    /// Name servers (UDP and TCP at each address); empty: the system's
    /// (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
}

impl DnsSdConfig {
    /// `name` through the system's resolvers every
    /// [`DEFAULT_DNS_INTERVAL`].
    pub fn new(name: impl Into<String>) -> Self {
        DnsSdConfig {
            name: name.into(),
            interval: DEFAULT_DNS_INTERVAL,
            nameservers: Vec::new(),
        }
    }

    /// Re-queries every `interval`.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Asks these name servers instead of the system's.
    #[must_use]
    pub fn with_nameservers(mut self, nameservers: Vec<SocketAddr>) -> Self {
        self.nameservers = nameservers;
        self
    }

    /// Checks the name: `_name._tcp` (or `_udp`) followed by a domain.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Error::Invalid {
            what: "DNS-SD name",
            reason: format!("{:?}: {reason}", self.name),
        };
        let bare = self.name.trim_end_matches('.');
        let mut labels = bare.splitn(3, '.');
        let (Some(service), Some(proto)) = (labels.next(), labels.next()) else {
            return Err(invalid(
                "expected \"_name._tcp.<domain>\", e.g. \"_sensors._tcp.fleet.example\"".into(),
            ));
        };
        normalize_service_type(&format!("{service}.{proto}"))
            .map_err(|e| invalid(e.to_string()))?;
        let Some(domain) = labels.next().filter(|d| !d.is_empty()) else {
            return Err(invalid(
                "a domain must follow the service type, as in \"_sensors._tcp.fleet.example\""
                    .into(),
            ));
        };
        check_dns_name(domain).map_err(invalid)?;
        if self.interval.is_zero() {
            return Err(invalid("the query interval must be positive".into()));
        }
        Ok(())
    }
}

/// Browses one DNS-SD service over unicast DNS; reports instances as the
/// mDNS browser does (`Added` once, `Updated` on a change of address, port
/// or TXT, `Removed`).
pub struct DnsSdBrowser {
    resolver: TokioResolver,
    name: Name,
    interval: Duration,
    known: HashMap<String, ServiceInfo>,
    queue: VecDeque<DiscoveryEvent>,
    next_round: Option<tokio::time::Instant>,
}

impl std::fmt::Debug for DnsSdBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsSdBrowser")
            .field("name", &self.name.to_string())
            .field("known", &self.known.len())
            .finish_non_exhaustive()
    }
}

fn resolver_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Discovery {
        what: "DNS resolver",
        source: Box::new(e),
    }
}

impl DnsSdBrowser {
    /// A browser per `config`. Nothing is sent before the first
    /// [`next_event`](Discovery::next_event).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed name; [`Error::Discovery`] when
    /// the system's resolver configuration cannot be read.
    pub fn new(config: DnsSdConfig) -> Result<Self> {
        config.validate()?;
        let fqdn = format!("{}.", config.name.trim_end_matches('.'));
        let name = Name::from_ascii(&fqdn).map_err(|e| Error::Invalid {
            what: "DNS-SD name",
            reason: format!("{:?}: {e}", config.name),
        })?;
        let mut builder = if config.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(resolver_error)?
        } else {
            let servers = config
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        // Each round must see the zone as it is now.
        options.positive_max_ttl = Some(Duration::ZERO);
        options.negative_max_ttl = Some(Duration::ZERO);
        options.timeout = options
            .timeout
            .min(config.interval.max(Duration::from_secs(1)));
        let resolver = builder.build().map_err(resolver_error)?;
        Ok(DnsSdBrowser {
            resolver,
            name,
            interval: config.interval,
            known: HashMap::new(),
            queue: VecDeque::new(),
            next_round: None,
        })
    }

    /// One round: the instances now, `None` where the answer is unknown
    /// (the previous state stands).
    async fn round(&self) -> Option<HashMap<String, Option<ServiceInfo>>> {
        let instances = match self
            .resolver
            .lookup(self.name.clone(), RecordType::PTR)
            .await
        {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::PTR(ptr) => Some(ptr.0.clone()),
                    _ => None,
                })
                .collect::<Vec<Name>>(),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => {
                tracing::warn!(name = %self.name, error = %e, "DNS-SD query failed; keeping the last answer");
                return None;
            }
        };
        if instances.len() > MAX_DNS_INSTANCES {
            tracing::warn!(name = %self.name, count = instances.len(), cap = MAX_DNS_INSTANCES, "too many DNS-SD instances; the rest are ignored");
        }
        let mut now = HashMap::new();
        for instance in instances.into_iter().take(MAX_DNS_INSTANCES) {
            let key = instance.to_string();
            match self.instance(&instance).await {
                Ok(Some(info)) => {
                    now.insert(key, Some(info));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(instance = %key, error = %e, "DNS-SD instance query failed; keeping its last answer");
                    now.insert(key, None);
                }
            }
        }
        Some(now)
    }

    /// SRV, TXT and addresses of one instance; `Ok(None)` when it has no
    /// SRV record.
    async fn instance(
        &self,
        instance: &Name,
    ) -> std::result::Result<Option<ServiceInfo>, NetError> {
        let srv = match self
            .resolver
            .lookup(instance.clone(), RecordType::SRV)
            .await
        {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(srv) => Some(srv.clone()),
                    _ => None,
                })
                // RFC 2782: the lowest priority, then the highest weight.
                .min_by_key(|srv| (srv.priority, std::cmp::Reverse(srv.weight))),
            Err(e) if e.is_no_records_found() => None,
            Err(e) => return Err(e),
        };
        let Some(srv) = srv else {
            return Ok(None);
        };
        let txt: BTreeMap<String, String> = match self
            .resolver
            .lookup(instance.clone(), RecordType::TXT)
            .await
        {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(txt.txt_data.iter()),
                    _ => None,
                })
                .flatten()
                .filter_map(|entry| txt_pair(entry))
                .collect(),
            Err(e) if e.is_no_records_found() => BTreeMap::new(),
            Err(e) => return Err(e),
        };
        let mut addresses: Vec<IpAddr> = match self.resolver.lookup_ip(srv.target.clone()).await {
            Ok(ips) => ips.iter().collect(),
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        addresses.sort();
        addresses.dedup();
        let host = srv.target.to_string();
        Ok(Some(ServiceInfo::announced(
            instance.to_string(),
            srv.port,
            addresses,
            Some(host.trim_end_matches('.').to_owned()),
            txt,
        )))
    }

    /// Diffs a round against what is known and queues the events.
    fn absorb(&mut self, now: HashMap<String, Option<ServiceInfo>>) {
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        for instance in gone {
            self.known.remove(&instance);
            self.queue.push_back(DiscoveryEvent::Removed { instance });
        }
        let mut fresh: Vec<ServiceInfo> = now.into_values().flatten().collect();
        fresh.sort_by(|a, b| a.instance.cmp(&b.instance));
        for info in fresh {
            match self.known.insert(info.instance.clone(), info.clone()) {
                None => self.queue.push_back(DiscoveryEvent::Added(info)),
                Some(old) if old != info => self.queue.push_back(DiscoveryEvent::Updated(info)),
                Some(_) => {}
            }
        }
    }
}

/// `key=value` (RFC 6763 §6.3; a key without `=` has an empty value);
/// `None` for an empty or non-UTF-8 entry.
fn txt_pair(entry: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(entry).ok()?;
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    (!key.is_empty()).then(|| (key.to_ascii_lowercase(), value.to_owned()))
}

impl Discovery for DnsSdBrowser {
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>> {
        // Cancel-safe: state changes only after a whole round, in one poll.
        Box::pin(async move {
            loop {
                if let Some(event) = self.queue.pop_front() {
                    return Some(event);
                }
                if let Some(at) = self.next_round {
                    tokio::time::sleep_until(at).await;
                }
                let round = self.round().await;
                self.next_round = Some(tokio::time::Instant::now() + self.interval);
                if let Some(now) = round {
                    self.absorb(now);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        DnsSdConfig::new("_sensors._tcp.fleet.example")
            .validate()
            .expect("valid");
        DnsSdConfig::new("_sensors._tcp.svc.cluster.local.")
            .validate()
            .expect("valid");
        for (bad, why) in [
            ("_sensors._tcp", "domain"),
            ("sensors._tcp.example", "start with '_'"),
            ("_sensors._tcp.bad domain", "only letters"),
            ("", "expected"),
        ] {
            let err = DnsSdConfig::new(bad).validate().expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let zero = DnsSdConfig::new("_a._tcp.example").with_interval(Duration::ZERO);
        assert!(zero.validate().is_err());
    }

    #[test]
    fn txt_entries_split() {
        assert_eq!(
            txt_pair(b"caller_id=abc"),
            Some(("caller_id".into(), "abc".into()))
        );
        assert_eq!(txt_pair(b"Flag"), Some(("flag".into(), String::new())));
        assert_eq!(txt_pair(b"a=b=c"), Some(("a".into(), "b=c".into())));
        assert_eq!(txt_pair(b""), None);
        assert_eq!(txt_pair(b"=x"), None);
        assert_eq!(txt_pair(&[0xff, b'=', b'x']), None);
    }
}
