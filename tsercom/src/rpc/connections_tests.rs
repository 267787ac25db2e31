//! Tests of the connection table (`rpc/connections.rs`).
use super::*;

fn key(port: u16) -> ConnKey {
    (
        SocketAddr::from(([127, 0, 0, 1], 1)),
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
}

#[tokio::test]
async fn the_limit_evicts_the_oldest_without_handshake_then_refuses() {
    let table = Connections::new(
        ConnectionLimits::default().with_max_connections(2),
        Duration::from_millis(100),
        ServerMetrics::new("test"),
        None,
    );
    let a = table.admit(key(10)).expect("a");
    let b = table.admit(key(11)).expect("b");
    let c = table.admit(key(12)).expect("c evicts a");
    assert!(a.kill.borrow().is_some(), "a closed");
    assert!(b.kill.borrow().is_none());
    table
        .bind(
            &b,
            Binding {
                caller: CallerId::random(),
                incarnation: 1,
            },
        )
        .await
        .expect("b handshakes");
    table
        .bind(
            &c,
            Binding {
                caller: CallerId::random(),
                incarnation: 1,
            },
        )
        .await
        .expect("c handshakes");
    assert!(
        table.admit(key(13)).is_none(),
        "full of handshaken connections"
    );
    let stats = table.stats();
    assert_eq!(
        (stats.evicted_without_handshake, stats.refused_full),
        (1, 1)
    );
}

#[tokio::test]
async fn a_live_holder_keeps_its_id_and_a_silent_one_is_replaced() {
    let table = Connections::new(
        ConnectionLimits::default(),
        Duration::from_millis(100),
        ServerMetrics::new("test"),
        None,
    );
    let id = CallerId::random();
    let holder = table.admit(key(10)).expect("holder");
    table
        .bind(
            &holder,
            Binding {
                caller: id,
                incarnation: 1,
            },
        )
        .await
        .expect("bound");
    // The holder keeps reading: the newcomer (another process) is refused.
    let newcomer = table.admit(key(11)).expect("newcomer");
    let reading = {
        let holder = Arc::clone(&holder);
        tokio::spawn(async move {
            for _ in 0..100 {
                holder.read_now();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let refused = table
        .bind(
            &newcomer,
            Binding {
                caller: id,
                incarnation: 2,
            },
        )
        .await
        .expect_err("duplicate");
    assert_eq!(refused.code(), tonic::Code::AlreadyExists);
    reading.abort();
    // Silent now: the next newcomer (a restart) replaces it.
    table
        .bind(
            &newcomer,
            Binding {
                caller: id,
                incarnation: 2,
            },
        )
        .await
        .expect("replaced");
    assert!(
        holder.kill.borrow().is_some(),
        "the old connection is closed"
    );
    // The same process redialing replaces at once.
    let redial = table.admit(key(12)).expect("redial");
    table
        .bind(
            &redial,
            Binding {
                caller: id,
                incarnation: 2,
            },
        )
        .await
        .expect("same incarnation");
    let stats = table.stats();
    assert_eq!((stats.duplicates_refused, stats.replaced), (1, 2));
}
