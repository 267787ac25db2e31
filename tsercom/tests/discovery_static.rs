//! Static peers by DNS name and connections over a list of targets,
//! against real tsercom servers on loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tsercom::discovery::{
    ConnectorConfig, Interfaces, PeerEvent, PeerKey, PeerSource, StaticPeer, open, spawn_connector,
};
use tsercom::rpc::{
    Backoff, ClientTls, ConnectConfig, ConnectionEvent, RunningServer, Server, TokioSleeper,
    spawn_connection,
};
use tsercom::{CallerId, OverflowPolicy, QueueConfig};

/// Generous: waits that should succeed never decide a test by timing.
const WAIT: Duration = Duration::from_secs(30);

async fn server(id: CallerId) -> RunningServer {
    Server::new(id)
        .serve(&[SocketAddr::from((Ipv4Addr::LOCALHOST, 0))])
        .await
        .expect("serve")
}

fn backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(20),
        max: Duration::from_millis(200),
        ..Backoff::default()
    }
}

/// A port on 127.0.0.1 that refuses connections for as long as the
/// returned socket lives (bound, never listening).
fn refusing_port() -> (tokio::net::TcpSocket, u16) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    (socket, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_peer_named_localhost_is_reached() {
    let id = CallerId::random();
    let running = server(id).await;
    let port = running.local_addrs()[0].port();
    let peer = StaticPeer::parse(&format!("localhost:{port}"))
        .expect("valid")
        .expecting(id);
    let discovery = open(&PeerSource::Static(vec![peer]), &Interfaces::All)
        .expect("opens")
        .expect("a discovery");
    let config = ConnectorConfig {
        id: CallerId::random(),
        tls: ClientTls::Insecure,
        backoff: backoff(),
        outbox: QueueConfig::new(8, OverflowPolicy::Block),
        keepalive: tsercom::rpc::Keepalive::default(),
        removal_grace: Duration::from_millis(100),
    };
    let mut connector = spawn_connector::<(), _, _>(
        discovery,
        config,
        Arc::new(TokioSleeper),
        |_channel, outbox, _peer, _addr| async move {
            while outbox.next().await.is_some() {}
            Ok(())
        },
    );
    let event = tokio::time::timeout(WAIT, async {
        loop {
            match connector.next_event().await.expect("connector alive") {
                event @ PeerEvent::Connected { .. } => return event,
                // `localhost` may resolve to ::1 first, where nothing
                // listens: that address fails and the next is tried.
                other => eprintln!("{other:?}"),
            }
        }
    })
    .await
    .expect("connected in time");
    assert_eq!(
        event,
        PeerEvent::Connected {
            peer: PeerKey::Caller(id),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        }
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_are_tried_in_order_and_every_failure_is_named() {
    let id = CallerId::random();
    let running = server(id).await;
    let port = running.local_addrs()[0].port();
    let (_held, refused) = refusing_port();
    let (_held_too, refused_too) = refusing_port();
    let config = |targets: Vec<String>| ConnectConfig {
        targets,
        tls: ClientTls::Insecure,
        id: CallerId::random(),
        expected_peer: Some(id),
        backoff: backoff(),
        outbox: QueueConfig::new(8, OverflowPolicy::DropOldest),
        keepalive: tsercom::rpc::Keepalive::default(),
    };

    // The first target refuses: the second, a name, answers.
    let mut connection = spawn_connection::<(), _, _>(
        config(vec![
            format!("127.0.0.1:{refused}"),
            format!("localhost:{port}"),
        ]),
        Arc::new(TokioSleeper),
        |_, outbox, _, _| async move {
            while outbox.next().await.is_some() {}
            Ok(())
        },
    );
    let event = tokio::time::timeout(WAIT, connection.next_event())
        .await
        .expect("in time")
        .expect("alive");
    assert_eq!(
        event,
        ConnectionEvent::Connected {
            peer: id,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        }
    );
    drop(connection);

    // Every target fails: one failed attempt naming each of them.
    let mut connection = spawn_connection::<(), _, _>(
        config(vec![
            format!("127.0.0.1:{refused}"),
            format!("[::1]:{refused_too}"),
            format!("localhost:{refused_too}"),
        ]),
        Arc::new(TokioSleeper),
        |_, _, _, _| async { Ok(()) },
    );
    let event = tokio::time::timeout(WAIT, connection.next_event())
        .await
        .expect("in time")
        .expect("alive");
    let ConnectionEvent::Disconnected { reason, .. } = event else {
        panic!("expected a failed attempt, got {event:?}");
    };
    for target in [
        format!("127.0.0.1:{refused}"),
        format!("[::1]:{refused_too}"),
        format!("localhost:{refused_too}"),
    ] {
        assert!(reason.contains(&target), "{target} in {reason}");
    }
    eprintln!("all targets failed: {reason}");
    running.stop().await;
}
