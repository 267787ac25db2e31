//! DNS-SD over unicast DNS against a real DNS server that the test starts:
//! hickory-server with an in-memory authoritative zone `fleet.example.`
//! on 127.0.0.1 (UDP and TCP, one port). Records change while a browser
//! watches (Added, Updated, Removed); then a real tsercom producer runtime
//! registered in the zone is found and dialed through `PeerSource::Dns`,
//! its handshake proving the CallerId from the TXT record.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use hickory_server::proto::rr::rdata::SRV;
use hickory_server::proto::rr::{LowerName, RData, Record, RecordType, RrKey};
use tsercom::discovery::{
    ConnectorConfig, Discovery, DiscoveryEvent, DnsSdBrowser, DnsSdConfig, Interfaces, PeerEvent,
    PeerKey, PeerSource, open, spawn_connector,
};
use tsercom::rpc::{Backoff, ClientTls, RunningServer, Server, TokioSleeper};
use tsercom::runtime::{BoxFuture, Runtime, RuntimeContext, RuntimeInitializer, StopReason};
use tsercom::{CallerId, OverflowPolicy, QueueConfig, RuntimeManager};

mod dns_zone;

use dns_zone::{SERVICE, Zone, dns_server, name, register};

/// Generous: waits that should succeed never decide a test by timing.
const WAIT: Duration = Duration::from_secs(30);
/// Removes every record of `name` with type `ty`.
async fn remove(zone: &Zone, name_: &str, ty: RecordType) {
    let key = RrKey::new(LowerName::from(&name(name_)), ty);
    assert!(
        zone.records_mut().await.remove(&key).is_some(),
        "{name_} {ty} existed"
    );
}

async fn next(discovery: &mut dyn Discovery) -> DiscoveryEvent {
    tokio::time::timeout(WAIT, discovery.next_event())
        .await
        .expect("an event in time")
        .expect("the browser is alive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_added_updated_and_removed_as_the_zone_changes() {
    let (_server, zone, dns) = dns_server().await;
    let config = DnsSdConfig::new("_sensors._tcp.fleet.example")
        .with_interval(Duration::from_millis(100))
        .with_nameservers(vec![dns]);
    let mut browser = DnsSdBrowser::new(config).expect("browser");
    let id = CallerId::random();

    register(
        &zone,
        "thermo",
        4000,
        &[format!("caller_id={id}"), "name=thermo".into()],
        2,
    )
    .await;
    let DiscoveryEvent::Added(info) = next(&mut browser).await else {
        panic!("expected Added");
    };
    assert_eq!(info.instance, format!("thermo.{SERVICE}"));
    assert_eq!(info.name, "thermo");
    assert_eq!(info.caller_id, Some(id));
    assert_eq!(info.port, 4000);
    assert_eq!(info.addresses, vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert_eq!(info.host.as_deref(), Some("thermo-host.fleet.example"));
    assert_eq!(info.dial_targets(), vec!["127.0.0.1:4000".to_owned()]);

    // The SRV record moves to another port: Updated.
    let instance = format!("thermo.{SERVICE}");
    remove(&zone, &instance, RecordType::SRV).await;
    let srv = SRV::new(0, 0, 4001, name("thermo-host.fleet.example."));
    assert!(
        zone.upsert(Record::from_rdata(name(&instance), 0, RData::SRV(srv)), 3)
            .await
    );
    let DiscoveryEvent::Updated(info) = next(&mut browser).await else {
        panic!("expected Updated");
    };
    assert_eq!((info.port, info.caller_id), (4001, Some(id)));

    // A second instance without a TXT name: named by its full name.
    register(&zone, "bare", 4100, &["caller_id=not-an-id".into()], 4).await;
    let DiscoveryEvent::Added(info) = next(&mut browser).await else {
        panic!("expected Added");
    };
    assert_eq!(info.name, format!("bare.{SERVICE}"));
    assert_eq!(info.caller_id, None, "an invalid caller_id is not trusted");

    // Both leave the PTR set: Removed, each once.
    remove(&zone, SERVICE, RecordType::PTR).await;
    let mut removed = Vec::new();
    for _ in 0..2 {
        match next(&mut browser).await {
            DiscoveryEvent::Removed { instance } => removed.push(instance),
            other => panic!("expected Removed, got {other:?}"),
        }
    }
    removed.sort();
    assert_eq!(removed, [format!("bare.{SERVICE}"), instance]);
}

/// A producer runtime: serves tsercom's peer service (handshake, clock
/// sync) on 127.0.0.1 with a fixed CallerId and reports its address.
struct Producer {
    id: CallerId,
    addr: std_mpsc::Sender<SocketAddr>,
}

struct Serving {
    id: CallerId,
    addr: std_mpsc::Sender<SocketAddr>,
    server: Option<RunningServer>,
}

impl RuntimeInitializer for Producer {
    type Inbound = f64;
    type Outbound = f64;
    type Handle = tsercom::RuntimeHandle<f64, f64>;
    fn name(&self) -> String {
        "dns-producer".into()
    }
    fn create(&mut self, _ctx: RuntimeContext<f64, f64>) -> tsercom::Result<Box<dyn Runtime>> {
        Ok(Box::new(Serving {
            id: self.id,
            addr: self.addr.clone(),
            server: None,
        }))
    }
}

impl Runtime for Serving {
    fn start(&mut self) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            let server = Server::new(self.id)
                .serve(&[SocketAddr::from((Ipv4Addr::LOCALHOST, 0))])
                .await?;
            let _ = self.addr.send(server.local_addrs()[0]);
            self.server = Some(server);
            Ok(())
        })
    }
    fn stop(&mut self, _: StopReason) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            if let Some(server) = self.server.take() {
                server.stop().await;
            }
            Ok(())
        })
    }
}

#[test]
fn a_producer_registered_in_dns_is_found_and_dialed() {
    let producer_id = CallerId::random();
    let (addr_tx, addr_rx) = std_mpsc::channel();
    let mut manager = RuntimeManager::new();
    let _handle = manager
        .register(Producer {
            id: producer_id,
            addr: addr_tx,
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let producer = addr_rx.recv_timeout(WAIT).expect("the producer's address");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let (_server, zone, dns) = dns_server().await;
        register(
            &zone,
            "producer",
            producer.port(),
            &[format!("caller_id={producer_id}")],
            2,
        )
        .await;
        let source = PeerSource::Dns(
            DnsSdConfig::new("_sensors._tcp.fleet.example")
                .with_interval(Duration::from_millis(200))
                .with_nameservers(vec![dns]),
        );
        let discovery = open(&source, &Interfaces::LoopbackOnly)
            .expect("opens")
            .expect("a discovery");
        let config = ConnectorConfig {
            id: CallerId::random(),
            tls: ClientTls::Insecure,
            backoff: Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
                ..Backoff::default()
            },
            outbox: QueueConfig::new(8, OverflowPolicy::Block),
            keepalive: tsercom::rpc::Keepalive::default(),
            removal_grace: Duration::from_millis(100),
        };
        let mut connector = spawn_connector::<(), _, _>(
            discovery,
            config,
            Arc::new(TokioSleeper),
            |_channel, outbox, _peer, _addr| async move {
                // Hold the connection until the connector closes it.
                while outbox.next().await.is_some() {}
                Ok(())
            },
        );
        // Announced as connecting first, then connected.
        let event = tokio::time::timeout(WAIT, async {
            loop {
                match connector
                    .next_event()
                    .await
                    .expect("the connector is alive")
                {
                    PeerEvent::Connecting { .. } => continue,
                    event => break event,
                }
            }
        })
        .await
        .expect("connected in time");
        // The connector pinned the CallerId from TXT and the handshake
        // confirmed it, at the address the zone gave.
        assert_eq!(
            event,
            PeerEvent::Connected {
                peer: PeerKey::Caller(producer_id),
                addr: producer,
            }
        );
    });
    drop(rt);
    manager.check_error().expect("no runtime error");
    manager.shutdown().expect("shutdown");
}
