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
use crate::runtime::BoxFuture;

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

const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
/// The cache-flush bit on a unique record's class (RFC 6762 §10.2).
const CACHE_FLUSH: u16 = 0x8000;

fn io_error(what: &'static str) -> impl Fn(io::Error) -> Error {
    move |e| Error::Invalid {
        what: "loopback mDNS",
        reason: format!("{what}: {e}"),
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

/// One resource record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rdata {
    Ptr(String),
    Srv { port: u16, target: String },
    Txt(Vec<(String, String)>),
    Addr(IpAddr),
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Record {
    name: String,
    ttl: u32,
    data: Rdata,
}

/// A decoded message: questions (name, type) and every record of the
/// answer, authority and additional sections.
#[derive(Debug, Default, PartialEq, Eq)]
struct Message {
    response: bool,
    questions: Vec<(String, u16)>,
    records: Vec<Record>,
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

fn put_record(out: &mut Vec<u8>, name: &str, rtype: u16, class: u16, ttl: u32, rdata: &[u8]) {
    put_name(out, name);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

fn header(flags: u16, questions: u16, answers: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    for field in [0, flags, questions, answers, 0, 0] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out
}

/// A query for the PTR records of `service_type`.
fn encode_query(service_type: &str) -> Vec<u8> {
    let mut out = header(0, 1, 0);
    put_name(&mut out, service_type);
    out.extend_from_slice(&TYPE_PTR.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// What a publisher announces.
#[derive(Clone, Debug)]
struct Advert {
    service_type: String,
    instance: String,
    host: String,
    port: u16,
    txt: Vec<(String, String)>,
}

impl Advert {
    /// The full answer: PTR, SRV, TXT, A (TTL 0 for a goodbye).
    fn encode(&self, ttl: u32) -> Vec<u8> {
        let mut out = header(0x8400, 0, 4);
        let mut rdata = Vec::new();
        put_name(&mut rdata, &self.instance);
        put_record(
            &mut out,
            &self.service_type,
            TYPE_PTR,
            CLASS_IN,
            ttl,
            &rdata,
        );

        let mut rdata = vec![0, 0, 0, 0];
        rdata.extend_from_slice(&self.port.to_be_bytes());
        put_name(&mut rdata, &self.host);
        let unique = CLASS_IN | CACHE_FLUSH;
        put_record(&mut out, &self.instance, TYPE_SRV, unique, ttl, &rdata);

        let mut rdata = Vec::new();
        for (key, value) in &self.txt {
            let entry = format!("{key}={value}");
            let bytes = &entry.as_bytes()[..entry.len().min(255)];
            rdata.push(bytes.len() as u8);
            rdata.extend_from_slice(bytes);
        }
        put_record(&mut out, &self.instance, TYPE_TXT, unique, ttl, &rdata);

        let address = Ipv4Addr::LOCALHOST.octets();
        put_record(&mut out, &self.host, TYPE_A, unique, ttl, &address);
        out
    }

    /// Whether a query asks for something of ours.
    fn answers(&self, message: &Message) -> bool {
        !message.response
            && message.questions.iter().any(|(name, qtype)| {
                (same_name(name, &self.service_type) && matches!(*qtype, TYPE_PTR | TYPE_ANY))
                    || same_name(name, &self.instance)
                    || same_name(name, &self.host)
            })
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// A bounds-checked reader over one datagram.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        let bytes = self.buf.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let bytes = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    /// A possibly compressed name (RFC 1035 §4.1.4); at most 255 bytes and
    /// 128 steps (labels and pointer jumps together), and pointers only go
    /// backwards, so a crafted loop ends.
    fn name(&mut self) -> Option<String> {
        let mut labels: Vec<String> = Vec::new();
        let mut length = 0usize;
        let mut pos = self.pos;
        let mut resume = None;
        for _ in 0..128 {
            let len = *self.buf.get(pos)?;
            match len {
                0 => {
                    self.pos = resume.unwrap_or(pos + 1);
                    let mut name = labels.join(".");
                    name.push('.');
                    return Some(name);
                }
                l if l & 0xC0 == 0xC0 => {
                    let low = *self.buf.get(pos + 1)?;
                    let target = (usize::from(l & 0x3F) << 8) | usize::from(low);
                    resume.get_or_insert(pos + 2);
                    if target >= pos {
                        return None; // pointers only go backwards
                    }
                    pos = target;
                }
                l if l & 0xC0 == 0 => {
                    let label = self.buf.get(pos + 1..pos + 1 + usize::from(l))?;
                    length += label.len() + 1;
                    if length > 255 {
                        return None;
                    }
                    labels.push(String::from_utf8_lossy(label).into_owned());
                    pos += 1 + usize::from(l);
                }
                _ => return None,
            }
        }
        None
    }
}

/// Decodes a datagram; `None` when malformed (it is ignored).
fn decode(buf: &[u8]) -> Option<Message> {
    let mut r = Reader { buf, pos: 0 };
    let _id = r.u16()?;
    let flags = r.u16()?;
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    let mut message = Message {
        response: flags & 0x8000 != 0,
        ..Message::default()
    };
    for _ in 0..qd {
        let name = r.name()?;
        let qtype = r.u16()?;
        let _class = r.u16()?;
        message.questions.push((name, qtype));
    }
    let total = usize::from(an) + usize::from(ns) + usize::from(ar);
    for _ in 0..total {
        let name = r.name()?;
        let rtype = r.u16()?;
        let _class = r.u16()?;
        let ttl = r.u32()?;
        let len = usize::from(r.u16()?);
        let start = r.pos;
        let rdata = r.bytes(len)?;
        let data = match rtype {
            TYPE_PTR => {
                let mut inner = Reader { buf, pos: start };
                Rdata::Ptr(inner.name()?)
            }
            TYPE_SRV => {
                let mut inner = Reader { buf, pos: start };
                let (_priority, _weight, port) = (inner.u16()?, inner.u16()?, inner.u16()?);
                Rdata::Srv {
                    port,
                    target: inner.name()?,
                }
            }
            TYPE_TXT => {
                let mut inner = Reader { buf: rdata, pos: 0 };
                let mut entries = Vec::new();
                while inner.pos < rdata.len() {
                    let n = usize::from(inner.u8()?);
                    let entry = String::from_utf8_lossy(inner.bytes(n)?).into_owned();
                    if entry.is_empty() {
                        continue;
                    }
                    let (key, value) = entry.split_once('=').unwrap_or((&entry, ""));
                    entries.push((key.to_owned(), value.to_owned()));
                }
                Rdata::Txt(entries)
            }
            TYPE_A if len == 4 => {
                Rdata::Addr(IpAddr::from([rdata[0], rdata[1], rdata[2], rdata[3]]))
            }
            TYPE_AAAA if len == 16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(rdata);
                Rdata::Addr(IpAddr::from(octets))
            }
            _ => Rdata::Other,
        };
        message.records.push(Record { name, ttl, data });
    }
    Some(message)
}

// ----------------------------------------------------------- publisher ----

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
    /// [`Error::Invalid`] for a malformed service type or name, or a
    /// socket that cannot be set up as described (naming the step).
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
    /// [`Error::Invalid`] for a malformed type or a socket that cannot be
    /// set up (naming the step).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn advert() -> Advert {
        Advert {
            service_type: "_sensors._tcp.local.".into(),
            instance: "thermo-1234abcd._sensors._tcp.local.".into(),
            host: "thermo-1234abcd.local.".into(),
            port: 50_151,
            txt: vec![
                (
                    "caller_id".into(),
                    "00000000-0000-4000-8000-00000000beef".into(),
                ),
                ("name".into(), "thermo".into()),
            ],
        }
    }

    #[test]
    fn an_answer_decodes_into_an_added_instance() {
        let message = decode(&advert().encode(TTL)).expect("decodes");
        assert!(message.response);
        assert_eq!(message.records.len(), 4);
        let mut state = BrowseState {
            service_type: "_sensors._tcp.local.".into(),
            ..BrowseState::default()
        };
        let events = state.absorb(&message, Instant::now());
        let [DiscoveryEvent::Added(info)] = events.as_slice() else {
            panic!("expected one Added, got {events:?}");
        };
        assert_eq!(info.port, 50_151);
        assert_eq!(info.name, "thermo");
        assert_eq!(info.addresses, vec![IpAddr::from(Ipv4Addr::LOCALHOST)]);
        assert_eq!(
            info.caller_id.map(|c| c.to_string()).as_deref(),
            Some("00000000-0000-4000-8000-00000000beef")
        );
        // Repeated: nothing; port changed: Updated; goodbye: Removed.
        assert!(state.absorb(&message, Instant::now()).is_empty());
        let mut moved = advert();
        moved.port = 50_152;
        let events = state.absorb(
            &decode(&moved.encode(TTL)).expect("decodes"),
            Instant::now(),
        );
        assert!(matches!(events.as_slice(), [DiscoveryEvent::Updated(i)] if i.port == 50_152));
        let events = state.absorb(&decode(&moved.encode(0)).expect("decodes"), Instant::now());
        assert!(matches!(
            events.as_slice(),
            [DiscoveryEvent::Removed { .. }]
        ));
        assert!(state.instances.is_empty());
    }

    #[test]
    fn records_expire_after_their_ttl() {
        let mut state = BrowseState {
            service_type: "_sensors._tcp.local.".into(),
            ..BrowseState::default()
        };
        let now = Instant::now();
        let message = decode(&advert().encode(TTL)).expect("decodes");
        assert_eq!(state.absorb(&message, now).len(), 1);
        assert!(state.expire(now + Duration::from_secs(60)).is_empty());
        let gone = state.expire(now + Duration::from_secs(u64::from(TTL) + 1));
        assert!(matches!(gone.as_slice(), [DiscoveryEvent::Removed { .. }]));
    }

    #[test]
    fn queries_are_answered_only_for_our_names() {
        let ours = decode(&encode_query("_sensors._tcp.local.")).expect("decodes");
        assert!(!ours.response);
        assert!(advert().answers(&ours));
        let other = decode(&encode_query("_other._tcp.local.")).expect("decodes");
        assert!(!advert().answers(&other));
    }

    #[test]
    fn compressed_names_decode_and_pointer_loops_are_rejected() {
        // Header: a response with one PTR answer whose rdata points back to
        // the owner name (offset 12).
        let mut packet = header(0x8400, 0, 1);
        put_name(&mut packet, "_s._tcp.local.");
        packet.extend_from_slice(&TYPE_PTR.to_be_bytes());
        packet.extend_from_slice(&CLASS_IN.to_be_bytes());
        packet.extend_from_slice(&TTL.to_be_bytes());
        packet.extend_from_slice(&4u16.to_be_bytes());
        packet.extend_from_slice(&[1, b'x', 0xC0, 12]);
        let message = decode(&packet).expect("decodes");
        assert_eq!(
            message.records[0].data,
            Rdata::Ptr("x._s._tcp.local.".into())
        );
        // A pointer to itself.
        let mut looped = header(0x8400, 1, 0);
        looped.extend_from_slice(&[0xC0, 12, 0, 12, 0, 1]);
        assert_eq!(decode(&looped), None);
    }

    #[test]
    fn a_flood_of_announcements_is_bounded_and_ttls_are_capped() {
        let mut state = BrowseState {
            service_type: "_sensors._tcp.local.".into(),
            ..BrowseState::default()
        };
        let now = Instant::now();
        let mut added = 0;
        for i in 0..3 * MAX_INSTANCES {
            let mut flood = advert();
            flood.instance = format!("flood-{i}._sensors._tcp.local.");
            // A TTL of 136 years.
            let message = decode(&flood.encode(u32::MAX)).expect("decodes");
            added += state
                .absorb(&message, now)
                .iter()
                .filter(|e| matches!(e, DiscoveryEvent::Added(_)))
                .count();
        }
        assert_eq!(state.instances.len(), MAX_INSTANCES);
        assert_eq!(added, MAX_INSTANCES);
        assert_eq!(state.ignored, 2 * MAX_INSTANCES as u64);
        // Every record expires within the capped TTL.
        let gone = state.expire(now + Duration::from_secs(u64::from(MAX_TTL)));
        assert_eq!(gone.len(), MAX_INSTANCES);
        assert!(state.instances.is_empty());
    }

    #[test]
    fn malformed_datagrams_are_rejected_not_panicked_on() {
        let good = advert().encode(TTL);
        for cut in 0..good.len() {
            let _ = decode(&good[..cut]); // must not panic
        }
        assert_eq!(decode(&good[..good.len() - 1]), None);
        let mut bad_label = header(0, 1, 0);
        bad_label.extend_from_slice(&[0x80, 0, 0, 12, 0, 1]);
        assert_eq!(decode(&bad_label), None);
        let mut huge = header(0x8400, 0, u16::MAX);
        huge.extend_from_slice(&[0; 16]);
        assert_eq!(decode(&huge), None);
    }
}
