//! Loopback-only mDNS: tsercom's own minimal DNS-SD responder and browser,
//! on the loopback interface and nowhere else.
//!
//! Why not mdns-sd: its daemon joins the mDNS group on every interface the
//! moment it starts (an IGMP/MLD report goes out on each), before any
//! interface can be disabled. Here one UDP socket per publisher or browser:
//!
//! - bound to `224.0.0.251:<port>` (so it receives only that group's
//!   datagrams), `SO_REUSEADDR` + `SO_REUSEPORT` (every local publisher and
//!   browser gets a copy);
//! - joins the group on `127.0.0.1` only, with `IP_MULTICAST_ALL` off (so
//!   it does not receive groups joined by other sockets on other
//!   interfaces);
//! - sends with `IP_MULTICAST_IF = 127.0.0.1`: every datagram leaves
//!   through `lo`;
//! - drops any datagram whose source is not in 127.0.0.0/8.
//!
//! Linux delivers multicast on `lo` even though `lo` lacks the `MULTICAST`
//! flag, so nothing needs configuring. The messages are ordinary mDNS
//! (RFC 6762 / 6763: PTR, SRV, TXT, A; goodbye with TTL 0), so any mDNS
//! stack listening on `lo` understands them and the other way round; only
//! 127.0.0.1 is ever advertised. IPv4 only (`::1` is not used).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::mpsc;

use super::{Discovery, DiscoveryEvent, ServiceInfo, normalize_service_type};
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::future::BoxFuture;

/// The mDNS group.
const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The standard mDNS port.
pub const MDNS_PORT: u16 = 5353;
/// Time to live of our records (RFC 6762 §10 recommends 120 s for SRV/A).
const TTL: u32 = 120;
/// Instances a browser tracks at most: a flood of announcements (every
/// datagram a new name) past it is ignored (logged once), so a hostile
/// sender cannot grow the browser without bound.
pub const MAX_INSTANCES: usize = 1024;
/// Longest TTL a browser honours (RFC 6762 §10 recommends 4 500 s for
/// PTR records); a record claiming more expires after this.
const MAX_TTL: u32 = 4500;
/// How often a worker thread looks at its stop flag and its timers.
const TICK: Duration = Duration::from_millis(100);
/// Longest interval between a browser's queries.
const MAX_QUERY_INTERVAL: Duration = Duration::from_secs(20);
/// Buffered events from a browser's thread (Block: the thread waits for
/// the consumer; nothing is dropped).
const EVENT_QUEUE: usize = 64;

#[cfg(test)]
mod tests;
mod wire;

use wire::*;

fn io_error(what: &'static str) -> impl Fn(io::Error) -> Error {
    move |e| Error::Discovery {
        what,
        source: Box::new(e),
    }
}

/// The loopback-only socket described in the module docs.
fn loopback_socket(port: u16) -> Result<UdpSocket> {
    let socket =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(io_error("socket"))?;
    socket
        .set_reuse_address(true)
        .map_err(io_error("SO_REUSEADDR"))?;
    socket
        .set_reuse_port(true)
        .map_err(io_error("SO_REUSEPORT"))?;
    socket
        .set_multicast_all_v4(false)
        .map_err(io_error("IP_MULTICAST_ALL"))?;
    socket
        .bind(&SocketAddr::V4(SocketAddrV4::new(GROUP, port)).into())
        .map_err(io_error("bind 224.0.0.251"))?;
    socket
        .join_multicast_v4(&GROUP, &Ipv4Addr::LOCALHOST)
        .map_err(io_error("join 224.0.0.251 on 127.0.0.1"))?;
    socket
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .map_err(io_error("IP_MULTICAST_IF 127.0.0.1"))?;
    socket
        .set_multicast_loop_v4(true)
        .map_err(io_error("IP_MULTICAST_LOOP"))?;
    socket
        .set_multicast_ttl_v4(255)
        .map_err(io_error("IP_MULTICAST_TTL"))?;
    socket
        .set_read_timeout(Some(TICK))
        .map_err(io_error("SO_RCVTIMEO"))?;
    Ok(socket.into())
}

/// Receives one datagram from a loopback source; `None` on timeout or a
/// datagram from elsewhere.
fn receive<'b>(socket: &UdpSocket, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    match socket.recv_from(buf) {
        Ok((n, from)) if from.ip().is_loopback() => buf.get(..n),
        _ => None,
    }
}

// ---------------------------------------------------------------- wire ----

/// Advertises one instance on the loopback interface only, until dropped
/// (then says goodbye). See the module docs for what is sent where.
pub struct LoopbackPublisher {
    advert: Advert,
    /// Held while sending; `true` once stopped, so no answer follows the
    /// goodbye.
    stopped: Arc<Mutex<bool>>,
    socket: UdpSocket,
}

impl std::fmt::Debug for LoopbackPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackPublisher")
            .field("instance", &self.advert.instance)
            .finish()
    }
}

impl LoopbackPublisher {
    /// Publishes like [`MdnsPublisher::publish`](super::mdns::MdnsPublisher::publish)
    /// (same instance name, TXT keys), with 127.0.0.1 as the only address,
    /// on `mdns_port` (normally [`MDNS_PORT`]). Announces three times
    /// (0, 1, 2 s) and answers queries for the type or the instance.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed service type or name;
    /// [`Error::Discovery`] for a socket that cannot be set up as
    /// described (naming the step).
    pub fn publish(
        service_type: &str,
        name: &str,
        port: u16,
        caller_id: CallerId,
        mdns_port: u16,
    ) -> Result<Self> {
        let service_type = normalize_service_type(service_type)?;
        let (instance, txt) = super::instance_and_txt(name, caller_id)?;
        let advert = Advert {
            instance: format!("{instance}.{service_type}"),
            host: format!("{instance}.local."),
            service_type,
            port,
            txt: txt.into_iter().collect(),
        };
        let socket = loopback_socket(mdns_port)?;
        let worker = socket.try_clone().map_err(io_error("clone socket"))?;
        let stopped = Arc::new(Mutex::new(false));
        let thread_stopped = Arc::clone(&stopped);
        let thread_advert = advert.clone();
        std::thread::Builder::new()
            .name("tsercom-lo-mdns".into())
            .spawn(move || publisher_loop(&worker, &thread_advert, &thread_stopped, mdns_port))
            .map_err(io_error("spawn thread"))?;
        Ok(LoopbackPublisher {
            advert,
            stopped,
            socket,
        })
    }

    /// The published full name.
    pub fn fullname(&self) -> &str {
        &self.advert.instance
    }
}

/// Sends `packet` to the group unless stopped; `false` once stopped.
fn send_unless_stopped(
    socket: &UdpSocket,
    stopped: &Mutex<bool>,
    packet: &[u8],
    port: u16,
) -> bool {
    let Ok(stopped) = stopped.lock() else {
        return false;
    };
    if *stopped {
        return false;
    }
    let _ = socket.send_to(packet, SocketAddrV4::new(GROUP, port));
    true
}

fn publisher_loop(socket: &UdpSocket, advert: &Advert, stopped: &Mutex<bool>, port: u16) {
    let answer = advert.encode(TTL);
    let start = Instant::now();
    let mut announced = 0u32;
    let mut buf = vec![0u8; 9000];
    loop {
        if announced < 3 && start.elapsed() >= Duration::from_secs(u64::from(announced)) {
            announced += 1;
            if !send_unless_stopped(socket, stopped, &answer, port) {
                return;
            }
        }
        let asked = receive(socket, &mut buf)
            .and_then(decode)
            .is_some_and(|m| advert.answers(&m));
        let running = stopped.lock().map(|s| !*s).unwrap_or(false);
        if !running {
            return;
        }
        if asked && !send_unless_stopped(socket, stopped, &answer, port) {
            return;
        }
    }
}

impl Drop for LoopbackPublisher {
    fn drop(&mut self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
            let port = self.socket.local_addr().map_or(MDNS_PORT, |a| a.port());
            let goodbye = self.advert.encode(0);
            let _ = self
                .socket
                .send_to(&goodbye, SocketAddrV4::new(GROUP, port));
        }
        // The thread sees the flag within one tick and ends.
    }
}

// ------------------------------------------------------------- browser ----

/// Browses one service type on the loopback interface only; reports
/// `Added` / `Updated` / `Removed` like [`MdnsBrowser`](super::mdns::MdnsBrowser)
/// (a record not refreshed within its TTL is `Removed` too).
#[derive(Debug)]
pub struct LoopbackBrowser {
    events: mpsc::Receiver<DiscoveryEvent>,
    stop: Arc<AtomicBool>,
}

impl LoopbackBrowser {
    /// Starts browsing `service_type` (with or without `.local.`) on
    /// `mdns_port` (normally [`MDNS_PORT`]).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a malformed type; [`Error::Discovery`] for a
    /// socket that cannot be set up (naming the step).
    pub fn browse(service_type: &str, mdns_port: u16) -> Result<Self> {
        let service_type = normalize_service_type(service_type)?;
        let socket = loopback_socket(mdns_port)?;
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("tsercom-lo-mdns".into())
            .spawn(move || {
                let mut state = BrowseState {
                    service_type,
                    ..BrowseState::default()
                };
                browser_loop(&socket, &mut state, &tx, &thread_stop, mdns_port);
            })
            .map_err(io_error("spawn thread"))?;
        Ok(LoopbackBrowser { events, stop })
    }
}

impl Discovery for LoopbackBrowser {
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>> {
        Box::pin(self.events.recv())
    }
}

impl Drop for LoopbackBrowser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What a browser knows of one instance.
#[derive(Debug, Default)]
struct Instance {
    port: Option<u16>,
    host: Option<String>,
    txt: Option<Vec<(String, String)>>,
    addresses: Vec<IpAddr>,
    expires: Option<Instant>,
    reported: Option<ServiceInfo>,
}

#[derive(Debug, Default)]
struct BrowseState {
    service_type: String,
    instances: HashMap<String, Instance>,
    /// Announcements ignored because [`MAX_INSTANCES`] were tracked.
    ignored: u64,
}

impl BrowseState {
    /// Folds one response in; returns the events it causes.
    fn absorb(&mut self, message: &Message, now: Instant) -> Vec<DiscoveryEvent> {
        let mut events = Vec::new();
        if !message.response {
            return events;
        }
        // The instances this message is about: only they can change (a
        // flood of names costs one datagram's work each, not the cache's).
        let mut touched: std::collections::HashSet<String> = std::collections::HashSet::new();
        // PTRs first: they say which instances exist (or left).
        for record in &message.records {
            let Rdata::Ptr(instance) = &record.data else {
                continue;
            };
            if !same_name(&record.name, &self.service_type) {
                continue;
            }
            let key = instance.to_ascii_lowercase();
            touched.insert(key.clone());
            if record.ttl == 0 {
                if self
                    .instances
                    .remove(&key)
                    .is_some_and(|gone| gone.reported.is_some())
                {
                    events.push(DiscoveryEvent::Removed {
                        instance: instance.clone(),
                    });
                }
                continue;
            }
            if !self.instances.contains_key(&key) && self.instances.len() >= MAX_INSTANCES {
                if self.ignored == 0 {
                    tracing::warn!(service_type = %self.service_type, limit = MAX_INSTANCES, "mDNS browser: too many instances announced; further new ones are ignored");
                }
                self.ignored += 1;
                continue;
            }
            let entry = self.instances.entry(key).or_default();
            let ttl = record.ttl.min(MAX_TTL);
            entry.expires = Some(now + Duration::from_secs(u64::from(ttl)));
        }
        // Then SRV / TXT / addresses of the instances we know.
        for record in &message.records {
            match &record.data {
                Rdata::Srv { port, target } => {
                    touched.insert(record.name.to_ascii_lowercase());
                    if let Some(entry) = self.instances.get_mut(&record.name.to_ascii_lowercase()) {
                        entry.port = Some(*port);
                        entry.host = Some(target.to_ascii_lowercase());
                    }
                }
                Rdata::Txt(entries) => {
                    touched.insert(record.name.to_ascii_lowercase());
                    if let Some(entry) = self.instances.get_mut(&record.name.to_ascii_lowercase()) {
                        entry.txt = Some(entries.clone());
                    }
                }
                _ => {}
            }
        }
        let mut fresh_addresses: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for record in &message.records {
            // Loopback only: a non-loopback address of this host is not ours
            // to dial in this mode.
            if let Rdata::Addr(ip) = record.data
                && ip.is_loopback()
                && record.ttl > 0
            {
                fresh_addresses
                    .entry(record.name.to_ascii_lowercase())
                    .or_default()
                    .push(ip);
            }
        }
        for (key, entry) in &mut self.instances {
            let fresh = entry.host.as_ref().and_then(|h| fresh_addresses.get(h));
            if fresh.is_none() && !touched.contains(key) {
                continue;
            }
            if let Some(addresses) = fresh {
                let mut addresses = addresses.clone();
                addresses.sort();
                addresses.dedup();
                entry.addresses = addresses;
            }
            let Some(info) = entry.info(key) else {
                continue;
            };
            match &entry.reported {
                None => events.push(DiscoveryEvent::Added(info.clone())),
                Some(old) if *old != info => events.push(DiscoveryEvent::Updated(info.clone())),
                Some(_) => continue,
            }
            entry.reported = Some(info);
        }
        events
    }

    /// Instances whose records were not refreshed in time.
    fn expire(&mut self, now: Instant) -> Vec<DiscoveryEvent> {
        let gone: Vec<String> = self
            .instances
            .iter()
            .filter(|(_, e)| e.expires.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        gone.into_iter()
            .filter_map(|key| {
                let entry = self.instances.remove(&key)?;
                let info = entry.reported?;
                Some(DiscoveryEvent::Removed {
                    instance: info.instance,
                })
            })
            .collect()
    }
}

impl Instance {
    /// The complete picture, once SRV, TXT and an address are known.
    fn info(&self, instance: &str) -> Option<ServiceInfo> {
        let port = self.port?;
        let txt: BTreeMap<String, String> = self.txt.clone()?.into_iter().collect();
        if self.addresses.is_empty() {
            return None;
        }
        Some(ServiceInfo::announced(
            instance.to_owned(),
            port,
            self.addresses.clone(),
            None,
            txt,
        ))
    }
}

fn browser_loop(
    socket: &UdpSocket,
    state: &mut BrowseState,
    events: &mpsc::Sender<DiscoveryEvent>,
    stop: &AtomicBool,
    port: u16,
) {
    let query = encode_query(&state.service_type);
    let mut interval = Duration::from_secs(1);
    let mut next_query = Instant::now();
    let mut buf = vec![0u8; 9000];
    while !stop.load(Ordering::Relaxed) && !events.is_closed() {
        let now = Instant::now();
        if now >= next_query {
            let _ = socket.send_to(&query, SocketAddrV4::new(GROUP, port));
            next_query = now + interval;
            interval = (interval * 2).min(MAX_QUERY_INTERVAL);
        }
        let mut out = state.expire(now);
        if let Some(message) = receive(socket, &mut buf).and_then(decode) {
            out.extend(state.absorb(&message, Instant::now()));
        }
        for event in out {
            if events.blocking_send(event).is_err() {
                return;
            }
        }
    }
}
