//! mDNS / DNS-SD (RFC 6762 / 6763) through mdns-sd: a publisher and a
//! browser.
//!
//! mdns-sd's daemon joins the mDNS multicast group on every interface when
//! it starts, before any interface can be disabled; so a publisher or
//! browser here always uses all interfaces, and a loopback-only mode cannot
//! be built on it without sending IGMP joins elsewhere. Use
//! [`StaticPeers`](super::StaticPeers) with loopback addresses where nothing
//! may leave the host.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use mdns_sd::{ServiceDaemon, ServiceEvent};

use super::{
    Discovery, DiscoveryEvent, ServiceInfo, TXT_CALLER_ID, TXT_NAME, TXT_PROTOCOL_VERSION,
    TXT_PUBLISHED_ON, normalize_service_type,
};
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::runtime::BoxFuture;
use crate::time::Timestamp;

fn mdns_error(e: mdns_sd::Error) -> Error {
    Error::Invalid {
        what: "mDNS",
        reason: e.to_string(),
    }
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
    /// [`Error::Invalid`] for a malformed service type or name, or when the
    /// daemon refuses the registration.
    pub fn publish(service_type: &str, name: &str, port: u16, caller_id: CallerId) -> Result<Self> {
        let ty = normalize_service_type(service_type)?;
        if name.is_empty() || name.len() > 40 || name.contains('.') {
            return Err(Error::Invalid {
                what: "instance name",
                reason: format!("{name:?}: 1 to 40 characters, no '.'"),
            });
        }
        let id = caller_id.to_string();
        let instance = format!("{name}-{}", &id[..8]);
        let host = format!("{instance}.local.");
        let mut txt = HashMap::new();
        txt.insert(TXT_CALLER_ID.to_owned(), id);
        txt.insert(TXT_NAME.to_owned(), name.to_owned());
        txt.insert(TXT_PUBLISHED_ON.to_owned(), Timestamp::now().to_string());
        txt.insert(
            TXT_PROTOCOL_VERSION.to_owned(),
            crate::rpc::PROTOCOL_VERSION.to_string(),
        );
        let info = mdns_sd::ServiceInfo::new(&ty, &instance, &host, (), port, txt)
            .map_err(mdns_error)?
            .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        let daemon = ServiceDaemon::new().map_err(mdns_error)?;
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
    /// [`Error::Invalid`] for a malformed type or a daemon failure.
    pub fn browse(service_type: &str) -> Result<Self> {
        let ty = normalize_service_type(service_type)?;
        let daemon = ServiceDaemon::new().map_err(mdns_error)?;
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
        let caller_id = txt
            .get(TXT_CALLER_ID)
            .and_then(|id| CallerId::parse(id).ok());
        let name = txt.get(TXT_NAME).cloned().unwrap_or_else(|| {
            service
                .fullname
                .split('.')
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        ServiceInfo {
            instance: service.fullname.clone(),
            name,
            port: service.port,
            addresses,
            caller_id,
            txt,
        }
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
