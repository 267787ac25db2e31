//! The DNS messages of loopback-only mDNS (RFC 1035 / 6762 / 6763): the
//! records we send (PTR, SRV, TXT, A; goodbye with TTL 0), queries, and a
//! decoder that refuses what it cannot bound (names over 255 bytes, more
//! than 128 labels and pointer jumps, forward pointers, counts past the
//! datagram).

use std::net::{IpAddr, Ipv4Addr};

pub(super) const TYPE_A: u16 = 1;
pub(super) const TYPE_PTR: u16 = 12;
pub(super) const TYPE_TXT: u16 = 16;
pub(super) const TYPE_AAAA: u16 = 28;
pub(super) const TYPE_SRV: u16 = 33;
pub(super) const TYPE_ANY: u16 = 255;
pub(super) const CLASS_IN: u16 = 1;
/// The cache-flush bit on a unique record's class (RFC 6762 §10.2).
pub(super) const CACHE_FLUSH: u16 = 0x8000;

/// One resource record, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Rdata {
    Ptr(String),
    Srv { port: u16, target: String },
    Txt(Vec<(String, String)>),
    Addr(IpAddr),
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) name: String,
    pub(super) ttl: u32,
    pub(super) data: Rdata,
}

/// A decoded message: questions (name, type) and every record of the
/// answer, authority and additional sections.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Message {
    pub(super) response: bool,
    pub(super) questions: Vec<(String, u16)>,
    pub(super) records: Vec<Record>,
}

pub(super) fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

pub(super) fn put_record(
    out: &mut Vec<u8>,
    name: &str,
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: &[u8],
) {
    put_name(out, name);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&class.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(rdata.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(rdata);
}

pub(super) fn header(flags: u16, questions: u16, answers: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    for field in [0, flags, questions, answers, 0, 0] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    out
}

/// A query for the PTR records of `service_type`.
pub(super) fn encode_query(service_type: &str) -> Vec<u8> {
    let mut out = header(0, 1, 0);
    put_name(&mut out, service_type);
    out.extend_from_slice(&TYPE_PTR.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// What a publisher announces.
#[derive(Clone, Debug)]
pub(super) struct Advert {
    pub(super) service_type: String,
    pub(super) instance: String,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) txt: Vec<(String, String)>,
}

impl Advert {
    /// The full answer: PTR, SRV, TXT, A (TTL 0 for a goodbye).
    pub(super) fn encode(&self, ttl: u32) -> Vec<u8> {
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
    pub(super) fn answers(&self, message: &Message) -> bool {
        !message.response
            && message.questions.iter().any(|(name, qtype)| {
                (same_name(name, &self.service_type) && matches!(*qtype, TYPE_PTR | TYPE_ANY))
                    || same_name(name, &self.instance)
                    || same_name(name, &self.host)
            })
    }
}

pub(super) fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// A bounds-checked reader over one datagram.
pub(super) struct Reader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        let bytes = self.buf.get(self.pos..self.pos + 2)?;
        self.pos += 2;
        Some(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    pub(super) fn u32(&mut self) -> Option<u32> {
        let bytes = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub(super) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let bytes = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(bytes)
    }

    /// A possibly compressed name (RFC 1035 §4.1.4); at most 255 bytes and
    /// 128 steps (labels and pointer jumps together), and pointers only go
    /// backwards, so a crafted loop ends.
    pub(super) fn name(&mut self) -> Option<String> {
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
pub(super) fn decode(buf: &[u8]) -> Option<Message> {
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
