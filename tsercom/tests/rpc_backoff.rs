//! The connector's retry delays grow and are capped, observed through an
//! injected sleeper (no wall time): a peer that refuses every connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tsercom::rpc::{
    Backoff, BoxFutureUnit, ClientTls, ConnectConfig, ConnectionEvent, Sleeper, spawn_connection,
};
use tsercom::{CallerId, OverflowPolicy, QueueConfig};

/// Records each requested delay and returns at once.
#[derive(Default)]
struct Recording(Arc<Mutex<Vec<Duration>>>);

impl Sleeper for Recording {
    fn sleep(&self, duration: Duration) -> BoxFutureUnit {
        self.0.lock().expect("lock").push(duration);
        Box::pin(async {})
    }
}

#[tokio::test]
async fn delays_grow_and_are_capped_without_wall_time() {
    // A port that refuses connections while `refusing` lives (to the end
    // of the test): bound, never listening, so no other process takes it.
    let refusing = tokio::net::TcpSocket::new_v4().expect("socket");
    refusing
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let port = refusing.local_addr().expect("addr").port();
    let backoff = Backoff {
        initial: Duration::from_secs(1),
        multiplier: 2.0,
        max: Duration::from_secs(30),
        jitter: 0.2,
    };
    let delays = Arc::new(Mutex::new(Vec::new()));
    let config = ConnectConfig {
        targets: vec![format!("127.0.0.1:{port}")],
        tls: ClientTls::Insecure,
        id: CallerId::random(),
        expected_peer: None,
        backoff,
        outbox: QueueConfig::new(8, OverflowPolicy::DropOldest),
        keepalive: tsercom::rpc::Keepalive::default(),
    };
    let mut connection = spawn_connection::<(), _, _>(
        config,
        Arc::new(Recording(Arc::clone(&delays))),
        |_, _, _, _| async { Ok(()) },
    );
    let mut reported = Vec::new();
    while reported.len() < 8 {
        match tokio::time::timeout(Duration::from_secs(30), connection.next_event()).await {
            Ok(Some(ConnectionEvent::Disconnected { retry_in, .. })) => reported.push(retry_in),
            other => panic!("expected a refused connection, got {other:?}"),
        }
    }
    for (attempt, delay) in reported.iter().enumerate() {
        let nominal = (1u64 << attempt).min(30) as f64;
        let secs = delay.as_secs_f64();
        assert!(
            secs >= nominal * 0.8 - 1e-9 && secs <= nominal * 1.2 + 1e-9,
            "attempt {attempt}: {delay:?}"
        );
    }
    // Capped: attempts 5.. are at 30 s ± 20 % (nominal 32 s would exceed it).
    assert!(reported[5..].iter().all(|d| d.as_secs_f64() <= 36.0));
    // The sleeper was asked for exactly the reported delays.
    let slept = delays.lock().expect("lock").clone();
    assert_eq!(&slept[..reported.len()], &reported[..]);
}
