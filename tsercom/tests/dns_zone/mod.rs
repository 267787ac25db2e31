//! A real DNS server for the DNS-SD tests (tsercom's `discovery_dns.rs`,
//! the CLI's `cli_browse_dns.rs`): hickory-server with an in-memory
//! authoritative zone `fleet.example.` on 127.0.0.1, UDP and TCP on one
//! port, and the records of a `_sensors._tcp` instance.

#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server as DnsServer;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};

/// The service type the zone holds instances of.
pub const SERVICE: &str = "_sensors._tcp.fleet.example.";

/// The zone, editable while the server runs.
pub type Zone = InMemoryZoneHandler<TokioRuntimeProvider>;

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("valid name")
}

/// A DNS server for `fleet.example.` on 127.0.0.1, UDP and TCP on one
/// port; the zone stays editable through the returned handler.
pub async fn dns_server() -> (DnsServer<Catalog>, Arc<Zone>, SocketAddr) {
    let origin = name("fleet.example.");
    let mut zone = Zone::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        name("ns.fleet.example."),
        name("admin.fleet.example."),
        1,
        60,
        60,
        60,
        0,
    );
    assert!(zone.upsert_mut(Record::from_rdata(origin.clone(), 0, RData::SOA(soa)), 1));
    let zone = Arc::new(zone);
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::from(&origin), vec![zone.clone()]);
    // The UDP socket is kept; TCP takes the same port (retried on the rare
    // clash with another listener).
    let mut bound = None;
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("udp bind");
        let addr = udp.local_addr().expect("udp addr");
        if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
            bound = Some((udp, tcp, addr));
            break;
        }
    }
    let (udp, tcp, addr) = bound.expect("a port free for UDP and TCP");
    let mut server = DnsServer::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64);
    (server, zone, addr)
}

/// Registers `instance` (`<label>._sensors._tcp.fleet.example.`) at
/// `host:port` (host `A 127.0.0.1`) with these TXT entries.
pub async fn register(zone: &Zone, label: &str, port: u16, txt: &[String], serial: u32) {
    let instance = name(&format!("{label}.{SERVICE}"));
    let host = name(&format!("{label}-host.fleet.example."));
    let records = [
        Record::from_rdata(name(SERVICE), 0, RData::PTR(PTR(instance.clone()))),
        Record::from_rdata(
            instance.clone(),
            0,
            RData::SRV(SRV::new(0, 0, port, host.clone())),
        ),
        Record::from_rdata(instance, 0, RData::TXT(TXT::new(txt.to_vec()))),
        Record::from_rdata(host, 0, RData::A(A(Ipv4Addr::LOCALHOST))),
    ];
    for record in records {
        assert!(zone.upsert(record, serial).await, "record added");
    }
}
