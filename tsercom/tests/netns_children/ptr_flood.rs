//! The child of `a_ptr_flood_is_bounded_by_the_loopback_browser`: floods
//! the loopback mDNS group with announcements of distinct instances (TTL
//! 136 years), then marks the end by re-announcing the first one with
//! another port.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::Duration;

use hickory_server::proto::op::{Message, OpCode};
use hickory_server::proto::rr::rdata::{A, PTR, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record};

use super::SERVICE;

/// Instances announced: about six times the browser's bound, since the
/// kernel drops some when the receiver falls behind.
pub(super) const FLOOD: usize = 6_000;
/// The port of the end marker.
pub(super) const MARKER_PORT: u16 = 2;

fn announcement(i: usize, port: u16) -> Option<Vec<u8>> {
    let service = Name::from_str(&format!("{SERVICE}.local.")).ok()?;
    let instance = Name::from_str(&format!("flood-{i}.{SERVICE}.local.")).ok()?;
    let host = Name::from_str(&format!("flood-{i}.local.")).ok()?;
    let ttl = u32::MAX; // 136 years: the browser caps it
    let mut message = Message::response(0, OpCode::Query);
    message.metadata.authoritative = true;
    message.add_answers([
        Record::from_rdata(service, ttl, RData::PTR(PTR(instance.clone()))),
        Record::from_rdata(
            instance.clone(),
            ttl,
            RData::SRV(SRV::new(0, 0, port, host.clone())),
        ),
        Record::from_rdata(
            instance,
            ttl,
            RData::TXT(TXT::new(vec![format!("name=flood-{i}")])),
        ),
        Record::from_rdata(host, ttl, RData::A(A(Ipv4Addr::LOCALHOST))),
    ]);
    message.to_vec().ok()
}

/// Announces `flood-0` a few times (so it is surely tracked), then
/// `flood-1` … `flood-{FLOOD-1}`, paced; prints `FLOODED`; then repeats
/// `flood-0` with [`MARKER_PORT`] every 100 ms until stopped (bounded).
pub(super) fn flood(stop: &mpsc::Receiver<()>) -> i32 {
    let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return 20;
    };
    if socket2::SockRef::from(&socket)
        .set_multicast_if_v4(&Ipv4Addr::LOCALHOST)
        .is_err()
    {
        return 21;
    }
    let group = SocketAddr::from((Ipv4Addr::new(224, 0, 0, 251), 5353));
    let send = |packet: Option<Vec<u8>>| packet.is_some_and(|p| socket.send_to(&p, group).is_ok());
    for _ in 0..5 {
        if !send(announcement(0, 1)) {
            return 22;
        }
        std::thread::sleep(Duration::from_millis(20)); // pacing the sender
    }
    for i in 1..FLOOD {
        if !send(announcement(i, 1)) {
            return 23;
        }
        if i % 5 == 0 {
            // Pacing: the receiver's socket buffer is finite (a debug
            // build's browser on a loaded machine reads slowly).
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    println!("\nFLOODED {FLOOD}");
    for _ in 0..600 {
        if stop.recv_timeout(Duration::from_millis(100)).is_ok() {
            return 0;
        }
        if !send(announcement(0, MARKER_PORT)) {
            return 24;
        }
    }
    0
}
