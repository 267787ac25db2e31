//! `tsercom browse dns:…` as a real process querying a real DNS server the
//! test starts on 127.0.0.1 (hickory-server, an in-memory zone
//! `fleet.example.` holding one DNS-SD instance): the instance's name,
//! CallerId, address, port and TXT, as plain lines. Unicast DNS, loopback
//! only: no namespace needed.

mod run;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server as DnsServer;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use run::tsercom;
use tsercom::CallerId;

type Zone = InMemoryZoneHandler<TokioRuntimeProvider>;

const SERVICE: &str = "_sensors._tcp.fleet.example.";
const PORT: u16 = 50160;

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("valid name")
}

/// A DNS server for `fleet.example.` on 127.0.0.1 (UDP and TCP on one
/// port) holding the instance `thermo` of `_sensors._tcp` at
/// `thermo-host:50160` (`A 127.0.0.1`) with `txt`.
async fn dns_server(txt: Vec<String>) -> (DnsServer<Catalog>, SocketAddr) {
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
    let instance = name(&format!("thermo.{SERVICE}"));
    let host = name("thermo-host.fleet.example.");
    for record in [
        Record::from_rdata(name(SERVICE), 0, RData::PTR(PTR(instance.clone()))),
        Record::from_rdata(
            instance.clone(),
            0,
            RData::SRV(SRV::new(0, 0, PORT, host.clone())),
        ),
        Record::from_rdata(instance, 0, RData::TXT(TXT::new(txt))),
        Record::from_rdata(host, 0, RData::A(A(Ipv4Addr::LOCALHOST))),
    ] {
        assert!(zone.upsert_mut(record, 1), "record added");
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::from(&origin), vec![Arc::new(zone)]);
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
    (server, addr)
}

#[test]
fn browse_finds_an_instance_over_unicast_dns_sd() {
    let id = CallerId::random();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let (server, dns) = rt.block_on(dns_server(vec![
        format!("caller_id={id}"),
        "name=thermo".to_owned(),
    ]));

    let out = tsercom(&[
        "browse",
        "dns:_sensors._tcp.fleet.example",
        "--dns-server",
        &dns.to_string(),
        "--dns-interval",
        "0.2",
        "--count",
        "1",
        "--duration",
        "50",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browse failed: {stderr}\n{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("added"))
        .unwrap_or_else(|| panic!("an instance found:\n{stdout}\n{stderr}"));
    for expected in [
        "thermo._sensors._tcp.fleet.example".to_owned(),
        format!("caller_id={id}"),
        "addresses=127.0.0.1".to_owned(),
        format!("port={PORT}"),
        format!("txt: caller_id={id}"),
    ] {
        assert!(line.contains(&expected), "{expected:?} in {line:?}");
    }
    assert!(!stdout.contains('\u{1b}'), "plain lines");
    drop(server);
    drop(rt);
}
