//! Reconnection over real loopback TCP with the generated `Sensor` service:
//! the server stops → `Disconnected`; it restarts on the same port →
//! `Connected` again, the stream is re-opened, and the commands sent while
//! disconnected arrive in order, with no code of the user involved.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, WAIT};
use tsercom::rpc::{
    Backoff, ClientTls, ConnectConfig, ConnectionEvent, RunningServer, Server, TokioSleeper,
    spawn_connection,
};
use tsercom::tonic::Status;
use tsercom::{CallerId, OverflowPolicy, QueueConfig};
use tsercom_test_build_wiring::Command;
use tsercom_test_build_wiring::sensor_client::SensorClient;
use tsercom_test_build_wiring::sensor_server::SensorServer;

async fn serve(id: CallerId, recorder: Recorder, addr: SocketAddr) -> RunningServer {
    Server::new(id)
        .with_grace_period(Duration::from_millis(100))
        .add_service(SensorServer::new(recorder))
        .serve(&[addr])
        .await
        .expect("serve")
}

async fn next_event(connection: &mut tsercom::rpc::Connection<Command>) -> ConnectionEvent {
    tokio::time::timeout(WAIT, connection.next_event())
        .await
        .expect("an event in time")
        .expect("connection alive")
}

fn command(action: &str) -> Command {
    Command {
        when: None,
        action: action.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_and_delivers_buffered_data_in_order() {
    let server_id = CallerId::random();
    let recorder = Recorder::default();
    let server = serve(
        server_id,
        recorder.clone(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await;
    let addr = server.local_addrs()[0];

    let config = ConnectConfig {
        targets: vec![addr.to_string()],
        tls: ClientTls::Insecure,
        id: CallerId::random(),
        expected_peer: Some(server_id),
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
            ..Backoff::default()
        },
        outbox: QueueConfig::new(1000, OverflowPolicy::Block),
        keepalive: tsercom::rpc::Keepalive::default(),
    };
    let mut connection = spawn_connection(
        config,
        Arc::new(TokioSleeper),
        |channel, outbox, _peer, _addr| async move {
            let mut client = SensorClient::new(channel);
            let failed = |s: Status| tsercom::Error::Connect {
                target: "sensor".into(),
                reason: s.to_string(),
            };
            let mut replies = client
                .stream(outbox.stream())
                .await
                .map_err(failed)?
                .into_inner();
            while replies.message().await.map_err(failed)?.is_some() {}
            Ok(())
        },
    );

    assert_eq!(
        next_event(&mut connection).await,
        ConnectionEvent::Connected {
            peer: server_id,
            addr
        }
    );
    connection.send(command("a")).await.expect("send");
    connection.send(command("b")).await.expect("send");
    assert_eq!(recorder.wait_for_count(2).await, ["a", "b"]);

    server.stop().await;
    assert!(matches!(
        next_event(&mut connection).await,
        ConnectionEvent::Disconnected { .. }
    ));
    for action in ["c", "d", "e"] {
        connection
            .send(command(action))
            .await
            .expect("buffered while disconnected");
    }

    // Back on the same port: reconnected with no user code involved.
    let server = serve(server_id, recorder.clone(), addr).await;
    loop {
        match next_event(&mut connection).await {
            ConnectionEvent::Connected { peer, .. } => {
                assert_eq!(peer, server_id);
                break;
            }
            ConnectionEvent::Disconnected { retry_in, .. } => {
                assert!(retry_in <= Duration::from_millis(240))
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(recorder.wait_for_count(5).await, ["a", "b", "c", "d", "e"]);
    assert_eq!(connection.outbox_stats().dropped, 0);
    server.stop().await;
}
