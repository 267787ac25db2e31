//! The children of `a_remote_peers_loopback_address_is_not_dialed`: a
//! peer that serves tsercom and announces 127.0.0.1 with its reachable
//! address over mDNS, and a browser that connects to what it finds.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use hickory_server::proto::op::{Message, OpCode};
use hickory_server::proto::rr::rdata::{A, PTR, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record};
use tsercom::discovery::{ConnectorConfig, Interfaces, PeerEvent, PeerKey, spawn_connector};
use tsercom::rpc::{Backoff, ClientTls, Server, TokioSleeper};
use tsercom::{CallerId, OverflowPolicy, QueueConfig};

use super::{CALLER, NAME, PORT, SERVICE};

/// An mDNS announcement of `raw-peer` with A records for 127.0.0.1
/// and `veth` (mdns-sd never announces an address off the interface,
/// so it is written by hand).
fn announcement(caller: CallerId, veth: Ipv4Addr) -> Option<Vec<u8>> {
    let service = Name::from_str(&format!("{SERVICE}.local.")).ok()?;
    let instance = Name::from_str(&format!("raw-peer.{SERVICE}.local.")).ok()?;
    let host = Name::from_str("raw-peer.local.").ok()?;
    let mut message = Message::response(0, OpCode::Query);
    message.metadata.authoritative = true;
    message.add_answers([
        Record::from_rdata(service, 120, RData::PTR(PTR(instance.clone()))),
        Record::from_rdata(
            instance.clone(),
            120,
            RData::SRV(SRV::new(0, 0, PORT, host.clone())),
        ),
        Record::from_rdata(
            instance,
            120,
            RData::TXT(TXT::new(vec![format!("caller_id={caller}")])),
        ),
        Record::from_rdata(host.clone(), 120, RData::A(A(Ipv4Addr::LOCALHOST))),
        Record::from_rdata(host, 120, RData::A(A(veth))),
    ]);
    message.to_vec().ok()
}

/// Serves tsercom on PORT and announces every 300 ms until stopped.
pub(super) fn announce(stop: &mpsc::Receiver<()>) -> i32 {
    let caller = std::env::var(CALLER)
        .ok()
        .and_then(|s| CallerId::parse(&s).ok());
    let veth = std::env::var(NAME)
        .ok()
        .and_then(|s| s.parse::<Ipv4Addr>().ok());
    let (Some(caller), Some(veth)) = (caller, veth) else {
        return 10;
    };
    let Some(packet) = announcement(caller, veth) else {
        return 11;
    };
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return 12;
    };
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT));
    let Ok(server) = rt.block_on(Server::new(caller).serve(&[any])) else {
        return 13;
    };
    // From port 5353 (RFC 6762 §6), out of the veth.
    let Ok(socket) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 5353)) else {
        return 14;
    };
    if socket2::SockRef::from(&socket)
        .set_multicast_if_v4(&veth)
        .is_err()
    {
        return 15;
    }
    println!("\nSERVING");
    let group = SocketAddr::from((Ipv4Addr::new(224, 0, 0, 251), 5353));
    // Bounded: 400 rounds of 300 ms at most.
    for _ in 0..400 {
        if socket.send_to(&packet, group).is_err() {
            return 16;
        }
        if stop.recv_timeout(Duration::from_millis(300)).is_ok() {
            break;
        }
    }
    rt.block_on(server.stop());
    0
}

/// Browses mDNS, connects to what it finds, reports where, and
/// whether the decoy on 127.0.0.1:PORT was dialed.
pub(super) fn connect(stop: &mpsc::Receiver<()>, interfaces: Interfaces) -> i32 {
    let Ok(decoy) = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, PORT)) else {
        return 20;
    };
    if decoy.set_nonblocking(true).is_err() {
        return 21;
    }
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return 22;
    };
    rt.block_on(async {
        let Ok(browser) = tsercom::discovery::browse(SERVICE, &interfaces) else {
            return 23;
        };
        let config = ConnectorConfig {
            id: CallerId::random(),
            tls: ClientTls::Insecure,
            backoff: Backoff::default(),
            outbox: QueueConfig::new(1, OverflowPolicy::Error),
            keepalive: tsercom::rpc::Keepalive::default(),
            removal_grace: Duration::from_secs(1),
        };
        let mut connector = spawn_connector::<(), _, _>(
            browser,
            config,
            Arc::new(TokioSleeper),
            |_channel, outbox, _peer, _addr| async move {
                while outbox.next().await.is_some() {}
                Ok(())
            },
        );
        println!("\nBROWSING");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if stop.try_recv().is_ok() || tokio::time::Instant::now() > deadline {
                return 0;
            }
            let next =
                tokio::time::timeout(Duration::from_millis(200), connector.next_event()).await;
            if let Ok(Some(PeerEvent::Connected { peer, addr })) = next {
                let who = match peer {
                    PeerKey::Caller(id) => id.to_string(),
                    PeerKey::Instance(name) => name,
                };
                println!("\nCONNECTED {addr} {who}");
                let decoy = match decoy.accept() {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => "untouched",
                    _ => "dialed",
                };
                println!("\nDECOY {decoy}");
            }
        }
    })
}
