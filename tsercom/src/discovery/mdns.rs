//! mDNS / DNS-SD (RFC 6762 / 6763) through mdns-sd: a publisher and a
//! browser.
//!
//! Interface selection ([`Interfaces`]): mdns-sd's daemon joins the mDNS
//! multicast group on every interface when it starts, before any interface
//! can be disabled; a selection then leaves the groups of the other
//! interfaces and sends nothing more on them, but their IGMP/MLD joins
//! (and leaves) have already gone out. Where nothing at all may leave the
//! host, use [`Interfaces::LoopbackOnly`], which is served by tsercom's own
//! responder ([`loopback`](super::loopback)), or
//! [`StaticPeers`](super::StaticPeers).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};

use super::{Discovery, DiscoveryEvent, Interfaces, IpFamily, ServiceInfo, normalize_service_type};
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::future::BoxFuture;

fn mdns_error(e: mdns_sd::Error) -> Error {
    Error::Discovery {
        what: "mDNS daemon",
        source: Box::new(e),
    }
}

/// A daemon using the selected interfaces.
fn daemon_on(interfaces: &Interfaces) -> Result<ServiceDaemon> {
    let kinds: Vec<IfKind> = match interfaces {
        Interfaces::All => Vec::new(),
        Interfaces::Named(names) => names.iter().map(|n| IfKind::Name(n.clone())).collect(),
        Interfaces::Family(IpFamily::V4) => vec![IfKind::IPv4],
        Interfaces::Family(IpFamily::V6) => vec![IfKind::IPv6],
        Interfaces::LoopbackOnly => {
            return Err(Error::Invalid {
                what: "interfaces",
                reason: "loopback-only mode is served by discovery::loopback, not mdns-sd".into(),
            });
        }
    };
    let daemon = ServiceDaemon::new().map_err(mdns_error)?;
    if !kinds.is_empty() {
        daemon.disable_interface(IfKind::All).map_err(mdns_error)?;
        daemon.enable_interface(kinds).map_err(mdns_error)?;
    }
    Ok(daemon)
}

/// Advertises one instance until dropped (then says goodbye).
pub struct MdnsPublisher {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for MdnsPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsPublisher")
            .field("fullname", &self.fullname)
            .finish()
    }
}

impl MdnsPublisher {
    /// Publishes `<name>-<first 8 hex of the id>.<service type>` on `port`
    /// with TXT `caller_id`, `name`, `published_on`, `protocol_version`.
    /// The instance name is unique per host and stable across restarts of
    /// a producer that keeps its CallerId. Addresses follow the host's
    /// interfaces; each interface announces only its own addresses (never
    /// loopback to other hosts).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed service type or name;
    /// [`Error::Discovery`] when the daemon refuses the registration.
    pub fn publish(service_type: &str, name: &str, port: u16, caller_id: CallerId) -> Result<Self> {
        Self::publish_on(service_type, name, port, caller_id, &Interfaces::All)
    }

    /// [`publish`](Self::publish) on the selected interfaces (see
    /// [`Interfaces`] for what a selection means with mdns-sd).
    ///
    /// # Errors
    /// As [`publish`](Self::publish); [`Interfaces::LoopbackOnly`] is
    /// refused here (it is [`LoopbackPublisher`](super::loopback::LoopbackPublisher)'s).
    pub fn publish_on(
        service_type: &str,
        name: &str,
        port: u16,
        caller_id: CallerId,
        interfaces: &Interfaces,
    ) -> Result<Self> {
        let ty = normalize_service_type(service_type)?;
        let (instance, txt) = super::instance_and_txt(name, caller_id)?;
        let host = format!("{instance}.local.");
        let info = mdns_sd::ServiceInfo::new(&ty, &instance, &host, (), port, txt)
            .map_err(mdns_error)?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        let daemon = daemon_on(interfaces)?;
        daemon.register(info).map_err(mdns_error)?;
        Ok(MdnsPublisher { daemon, fullname })
    }

    /// The published full name.
    pub fn fullname(&self) -> &str {
        &self.fullname
    }
}

impl Drop for MdnsPublisher {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            // Bounded: the goodbye is sent before the daemon stops.
            let _ = done.recv_timeout(std::time::Duration::from_secs(2));
        }
        let _ = self.daemon.shutdown();
    }
}

/// Browses one service type; reports each instance once as `Added`, then
/// `Updated` only when its addresses, port or TXT change, and `Removed`.
pub struct MdnsBrowser {
    daemon: ServiceDaemon,
    events: mdns_sd::Receiver<ServiceEvent>,
    known: HashMap<String, ServiceInfo>,
}

impl std::fmt::Debug for MdnsBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdnsBrowser")
            .field("known", &self.known.len())
            .finish()
    }
}

impl MdnsBrowser {
    /// Starts browsing `service_type` (with or without `.local.`).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed type; [`Error::Discovery`] for a
    /// daemon failure.
    pub fn browse(service_type: &str) -> Result<Self> {
        Self::browse_on(service_type, &Interfaces::All)
    }

    /// [`browse`](Self::browse) on the selected interfaces.
    ///
    /// # Errors
    /// As [`browse`](Self::browse); [`Interfaces::LoopbackOnly`] is refused
    /// here (it is [`LoopbackBrowser`](super::loopback::LoopbackBrowser)'s).
    pub fn browse_on(service_type: &str, interfaces: &Interfaces) -> Result<Self> {
        let ty = normalize_service_type(service_type)?;
        let daemon = daemon_on(interfaces)?;
        let events = daemon.browse(&ty).map_err(mdns_error)?;
        Ok(MdnsBrowser {
            daemon,
            events,
            known: HashMap::new(),
        })
    }

    fn to_info(service: &mdns_sd::ResolvedService) -> ServiceInfo {
        let mut addresses: Vec<IpAddr> = service
            .get_addresses()
            .iter()
            .map(mdns_sd::ScopedIp::to_ip_addr)
            .collect();
        addresses.sort();
        addresses.dedup();
        let txt: BTreeMap<String, String> = service
            .txt_properties
            .iter()
            .map(|p| (p.key().to_owned(), p.val_str().to_owned()))
            .collect();
        // The addresses are dialed, never the `.local` name.
        ServiceInfo::announced(service.fullname.clone(), service.port, addresses, None, txt)
    }
}

impl Discovery for MdnsBrowser {
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>> {
        Box::pin(async move {
            loop {
                let event = self.events.recv_async().await.ok()?;
                match event {
                    ServiceEvent::ServiceResolved(service) => {
                        let info = Self::to_info(&service);
                        match self.known.insert(info.instance.clone(), info.clone()) {
                            None => return Some(DiscoveryEvent::Added(info)),
                            Some(old) if old != info => return Some(DiscoveryEvent::Updated(info)),
                            Some(_) => {} // a repeated announcement
                        }
                    }
                    ServiceEvent::ServiceRemoved(_, fullname)
                        if self.known.remove(&fullname).is_some() =>
                    {
                        return Some(DiscoveryEvent::Removed { instance: fullname });
                    }
                    _ => {}
                }
            }
        })
    }
}

impl Drop for MdnsBrowser {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}
