//! The server with tsercom's built-ins, over real loopback TCP: handshake
//! (and each rejection, with its status), in-band clock sync against a
//! skewed clock, health, reflection, IPv6, and garbage on the port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tonic::Code;
use tonic::transport::Channel;
use tsercom::proto::peer_client::PeerClient;
use tsercom::rpc::{HandshakePolicy, RunningServer, Server, handshake, run_clock_sync, sync_once};
use tsercom::time::{
    Clock, OffsetClock, OffsetEstimator, SyncState, SynchronizedClock, SystemClock,
};
use tsercom::{CallerId, proto};

const SKEW_NANOS: i128 = 2_500_000_000;

async fn serve(server: Server, addr: &str) -> (RunningServer, Channel) {
    let running = server
        .serve(&[addr.parse().expect("addr")])
        .await
        .expect("serve");
    let addr = running.local_addrs()[0];
    assert_ne!(addr.port(), 0, "the real port is reported");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", fmt_addr(addr)))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    (running, channel)
}

fn fmt_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

#[tokio::test]
async fn handshake_exchanges_ids_and_tells_the_server() {
    let (server_id, client_id) = (CallerId::random(), CallerId::random());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_by_callback = Arc::clone(&seen);
    let policy = HandshakePolicy {
        expected: None,
        on_handshake: Some(Arc::new(move |id, addr| {
            seen_by_callback
                .lock()
                .expect("lock")
                .push((id, addr.is_some()));
        })),
    };
    let (running, channel) = serve(
        Server::new(server_id).with_handshake_policy(policy),
        "127.0.0.1:0",
    )
    .await;
    let peer = handshake(channel.clone(), client_id, Some(server_id))
        .await
        .expect("handshake");
    assert_eq!(peer, server_id);
    assert_eq!(*seen.lock().expect("lock"), [(client_id, true)]);
    // Expecting another server id is refused on the client side.
    let err = handshake(channel, client_id, Some(CallerId::random()))
        .await
        .expect_err("wrong server");
    assert!(err.to_string().contains("expected peer"), "{err}");
    running.stop().await;
}

#[tokio::test]
async fn handshake_rejections_carry_clear_statuses() {
    let allowed = CallerId::random();
    let policy = HandshakePolicy {
        expected: Some(vec![allowed]),
        on_handshake: None,
    };
    let (running, channel) = serve(
        Server::new(CallerId::random()).with_handshake_policy(policy),
        "127.0.0.1:0",
    )
    .await;
    let mut client = PeerClient::new(channel.clone());
    let call = |caller_id: Option<&str>, protocol_version| proto::HandshakeRequest {
        caller_id: caller_id.map(|id| proto::CallerId { id: id.into() }),
        protocol_version,
        incarnation: 1,
    };
    let status = client.handshake(call(None, 1)).await.expect_err("missing");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("missing caller_id"), "{status:?}");

    let status = client
        .handshake(call(Some("not-a-uuid"), 1))
        .await
        .expect_err("malformed");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("not a UUID"), "{status:?}");

    let stranger = CallerId::random().to_string();
    let status = client
        .handshake(call(Some(&stranger), 1))
        .await
        .expect_err("unexpected");
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains(&stranger), "{status:?}");

    let status = client
        .handshake(call(Some(&allowed.to_string()), 99))
        .await
        .expect_err("version");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("version 99"), "{status:?}");

    // And the library client reports the rejection with its code.
    let err = handshake(channel.clone(), CallerId::random(), None)
        .await
        .expect_err("rejected");
    assert!(err.to_string().contains("PermissionDenied"), "{err}");
    // The server still serves the allowed caller.
    handshake(channel, allowed, None).await.expect("allowed");
    running.stop().await;
}

#[tokio::test]
async fn in_band_clock_sync_finds_an_injected_offset() {
    let server_clock: Arc<dyn Clock> = Arc::new(OffsetClock {
        base: SystemClock,
        offset_nanos: SKEW_NANOS,
    });
    let (running, channel) = serve(
        Server::new(CallerId::random()).with_clock(server_clock),
        "127.0.0.1:0",
    )
    .await;
    let mut estimator = OffsetEstimator::new(8);
    for _ in 0..8 {
        let exchange = sync_once(channel.clone(), &SystemClock)
            .await
            .expect("exchange");
        let one = estimator.add(exchange);
        assert!((one.offset_nanos - SKEW_NANOS).abs() <= one.delay_nanos / 2);
    }

    // The background loop drives a SynchronizedClock the same way.
    let clock = SynchronizedClock::new(Arc::new(SystemClock));
    assert_eq!(clock.state(), SyncState::NotSynchronized);
    run_clock_sync(
        channel,
        Arc::new(SystemClock),
        clock.clone(),
        Duration::from_millis(1),
        8,
        Some(8),
    )
    .await;
    let SyncState::Synchronized(estimate) = clock.state() else {
        panic!("not synchronized after 8 exchanges");
    };
    assert!(
        (estimate.offset_nanos - SKEW_NANOS).abs() <= estimate.delay_nanos / 2,
        "{estimate:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn health_serving_then_not_serving_and_per_service() {
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let (running, channel) = serve(Server::new(CallerId::random()), "127.0.0.1:0").await;
    let mut health = HealthClient::new(channel);
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let overall = health.check(status("")).await.expect("check").into_inner();
    assert_eq!(overall.status, Wire::Serving as i32);
    let peer = health
        .check(status("tsercom.Peer"))
        .await
        .expect("check")
        .into_inner();
    assert_eq!(peer.status, Wire::Serving as i32);

    // Per-service status is independent of the overall one.
    running
        .set_service_status("tsercom.Peer", tonic_health::ServingStatus::NotServing)
        .await;
    let peer = health
        .check(status("tsercom.Peer"))
        .await
        .expect("check")
        .into_inner();
    assert_eq!(peer.status, Wire::NotServing as i32);
    let overall = health.check(status("")).await.expect("check").into_inner();
    assert_eq!(overall.status, Wire::Serving as i32);

    running.mark_not_serving().await;
    let overall = health.check(status("")).await.expect("check").into_inner();
    assert_eq!(overall.status, Wire::NotServing as i32);
    running.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let (running, channel) = serve(Server::new(CallerId::random()), "127.0.0.1:0").await;
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let reply = replies.message().await.expect("reply").expect("one");
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("unexpected reply {reply:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in ["tsercom.Peer", "grpc.health.v1.Health"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    running.stop().await;
}

#[tokio::test]
async fn serves_on_ipv6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        println!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let id = CallerId::random();
    let (running, channel) = serve(Server::new(id), "[::1]:0").await;
    assert!(running.local_addrs()[0].is_ipv6());
    assert_eq!(
        handshake(channel, CallerId::random(), Some(id))
            .await
            .expect("handshake"),
        id
    );
    running.stop().await;
}

#[tokio::test]
async fn garbage_on_the_port_does_not_stop_the_server() {
    let id = CallerId::random();
    let (running, channel) = serve(Server::new(id), "127.0.0.1:0").await;
    let addr = running.local_addrs()[0];
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0xff; 4096],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x08\x00",
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let _ = stream.write_all(garbage).await;
        let _ = stream.shutdown().await;
    }
    assert_eq!(
        handshake(channel, CallerId::random(), Some(id))
            .await
            .expect("still serving"),
        id
    );
    running.stop().await;
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_server_goes_on() {
    let id = CallerId::random();
    let (running, channel) =
        serve(Server::new(id).with_max_message_size(1024), "127.0.0.1:0").await;
    let mut client = PeerClient::new(channel.clone());
    let status = client
        .handshake(proto::HandshakeRequest {
            caller_id: Some(proto::CallerId {
                id: "x".repeat(4096),
            }),
            protocol_version: 1,
            incarnation: 1,
        })
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(
        handshake(channel, CallerId::random(), Some(id))
            .await
            .expect("next call"),
        id
    );
    running.stop().await;
}
