//! The connector over real loopback servers, fed by a user-provided
//! discovery source (a channel) and by `StaticPeers`: added peers connect,
//! two announcements with one CallerId are one peer, an address change
//! reconnects there, a removal disconnects after the grace period.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, WAIT};
use tokio::sync::mpsc;
use tsercom::discovery::{
    ConnectorConfig, Discovery, DiscoveryEvent, PeerEvent, PeerKey, ServiceInfo, StaticPeers,
    spawn_connector,
};
use tsercom::rpc::{Backoff, ClientTls, RunningServer, Server, TokioSleeper};
use tsercom::runtime::BoxFuture;
use tsercom::tonic::Status;
use tsercom::{CallerId, OverflowPolicy, QueueConfig};
use tsercom_test_build_wiring::Command;
use tsercom_test_build_wiring::sensor_client::SensorClient;
use tsercom_test_build_wiring::sensor_server::SensorServer;

async fn server(id: CallerId) -> (RunningServer, Recorder, SocketAddr) {
    let recorder = Recorder::default();
    let running = Server::new(id)
        .with_grace_period(Duration::from_millis(50))
        .add_service(SensorServer::new(recorder.clone()))
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("serve");
    let addr = running.local_addrs()[0];
    (running, recorder, addr)
}

/// A discovery source the test drives.
struct Scripted(mpsc::Receiver<DiscoveryEvent>);

impl Discovery for Scripted {
    fn next_event(&mut self) -> BoxFuture<'_, Option<DiscoveryEvent>> {
        Box::pin(self.0.recv())
    }
}

fn info(instance: &str, id: CallerId, addr: SocketAddr) -> ServiceInfo {
    ServiceInfo {
        instance: instance.into(),
        name: instance.into(),
        port: addr.port(),
        addresses: vec![addr.ip()],
        host: None,
        caller_id: Some(id),
        txt: Default::default(),
    }
}

fn config() -> ConnectorConfig {
    ConnectorConfig {
        id: CallerId::random(),
        tls: ClientTls::Insecure,
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            ..Backoff::default()
        },
        outbox: QueueConfig::new(100, OverflowPolicy::Block),
        keepalive: tsercom::rpc::Keepalive::default(),
        removal_grace: Duration::from_millis(100),
    }
}

fn command(action: &str) -> Command {
    Command {
        when: None,
        action: action.into(),
    }
}

async fn session(
    channel: tsercom::tonic::transport::Channel,
    outbox: tsercom::rpc::Outbox<Command>,
    _peer: tsercom::CallerId,
    _addr: std::net::SocketAddr,
) -> tsercom::Result<()> {
    let failed = |s: Status| tsercom::Error::Connect {
        target: "sensor".into(),
        reason: s.to_string(),
    };
    let mut replies = SensorClient::new(channel)
        .stream(outbox.stream())
        .await
        .map_err(failed)?
        .into_inner();
    while replies.message().await.map_err(failed)?.is_some() {}
    Ok(())
}

async fn expect(
    connector: &mut tsercom::discovery::Connector<Command>,
    want: impl Fn(&PeerEvent) -> bool,
) -> PeerEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = connector.next_event().await.expect("connector alive");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_duplicate_updated_removed() {
    let (a, b) = (CallerId::random(), CallerId::random());
    let (server_a, rec_a, addr_a) = server(a).await;
    let (_server_b, rec_b, addr_b) = server(b).await;
    let (tx, rx) = mpsc::channel(16);
    let mut connector = spawn_connector(
        Box::new(Scripted(rx)),
        config(),
        Arc::new(TokioSleeper),
        session,
    );

    tx.send(DiscoveryEvent::Added(info("a-1", a, addr_a)))
        .await
        .expect("send");
    tx.send(DiscoveryEvent::Added(info("b-1", b, addr_b)))
        .await
        .expect("send");
    // Both connect, in either order.
    let mut pending = vec![
        PeerEvent::Connected {
            peer: PeerKey::Caller(a),
            addr: addr_a,
        },
        PeerEvent::Connected {
            peer: PeerKey::Caller(b),
            addr: addr_b,
        },
    ];
    while !pending.is_empty() {
        let got = expect(&mut connector, |e| pending.contains(e)).await;
        pending.retain(|e| *e != got);
    }
    connector
        .send(PeerKey::Caller(a), command("to-a"))
        .await
        .expect("send");
    connector
        .send(PeerKey::Caller(b), command("to-b"))
        .await
        .expect("send");
    rec_a.wait_for("to-a").await;
    rec_b.wait_for("to-b").await;
    assert!(
        !rec_a
            .actions
            .lock()
            .expect("lock")
            .contains(&"to-b".to_owned())
    );

    // A second announcement of the same CallerId (another instance name):
    // the same peer; removing the first instance keeps it.
    tx.send(DiscoveryEvent::Added(info("a-2", a, addr_a)))
        .await
        .expect("send");
    tx.send(DiscoveryEvent::Removed {
        instance: "a-1".into(),
    })
    .await
    .expect("send");

    // `a` moves: it restarts elsewhere with the same id → Updated.
    server_a.stop().await;
    let (_server_a2, rec_a2, addr_a2) = server(a).await;
    tx.send(DiscoveryEvent::Updated(info("a-2", a, addr_a2)))
        .await
        .expect("send");
    let want = PeerEvent::Connected {
        peer: PeerKey::Caller(a),
        addr: addr_a2,
    };
    expect(&mut connector, |e| *e == want).await;
    connector
        .send(PeerKey::Caller(a), command("to-a2"))
        .await
        .expect("send");
    rec_a2.wait_for("to-a2").await;

    // `b` is removed: gone after the grace period, then unknown.
    tx.send(DiscoveryEvent::Removed {
        instance: "b-1".into(),
    })
    .await
    .expect("send");
    let gone = PeerEvent::Gone {
        peer: PeerKey::Caller(b),
    };
    expect(&mut connector, |e| *e == gone).await;
    assert!(
        connector
            .send(PeerKey::Caller(b), command("late"))
            .await
            .is_err()
    );
    // `a` was never gone (its second instance is still announced).
    connector
        .send(PeerKey::Caller(a), command("still"))
        .await
        .expect("a is still a peer");
    rec_a2.wait_for("still").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_peers_feed_the_connector_like_mdns() {
    let id = CallerId::random();
    let (_server, recorder, addr) = server(id).await;
    let discovery = StaticPeers::new([(addr, Some(id))]);
    let mut connector = spawn_connector(
        Box::new(discovery),
        config(),
        Arc::new(TokioSleeper),
        session,
    );
    let want = PeerEvent::Connected {
        peer: PeerKey::Caller(id),
        addr,
    };
    expect(&mut connector, |e| *e == want).await;
    connector
        .send(PeerKey::Caller(id), command("hello"))
        .await
        .expect("send");
    recorder.wait_for("hello").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_presenting_another_id_than_announced_is_refused() {
    let (real, announced) = (CallerId::random(), CallerId::random());
    let (_server, _recorder, addr) = server(real).await;
    let discovery = StaticPeers::new([(addr, Some(announced))]);
    let mut connector = spawn_connector(
        Box::new(discovery),
        config(),
        Arc::new(TokioSleeper),
        session,
    );
    let event = expect(&mut connector, |e| {
        matches!(e, PeerEvent::Disconnected { .. })
    })
    .await;
    let PeerEvent::Disconnected { reason, .. } = event else {
        unreachable!("matched above")
    };
    assert!(reason.contains("expected peer"), "{reason}");
}
