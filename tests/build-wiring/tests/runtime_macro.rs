//! `#[tsercom::runtime]` in one process: a producer and an aggregator on
//! loopback (static peers), data with the producer's CallerId and
//! synchronized timestamps one way, events the other, hooks called.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager, Timestamp, To};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(30);

/// What the hooks saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Connected(CallerId),
}

#[tsercom::runtime(producer, listen = self.addr, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    id: Option<CallerId>,
    addr: Option<SocketAddr>,
    seen: Option<Mutex<mpsc::Sender<Seen>>>,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        match self.id {
            Some(id) => config.with_identity(Identity::Fixed(id)),
            None => config,
        }
    }

    fn on_connect(&self, peer: CallerId, _addr: Option<SocketAddr>) {
        if let Some(seen) = &self.seen {
            let _ = seen.lock().expect("lock").send(Seen::Connected(peer));
        }
    }
}

#[tsercom::runtime(aggregator, peers = self.producer, service = sensors::Sensor, data = Reading, event = Command, name = "collector", config = tuned, hooks)]
#[derive(Default)]
struct Collector {
    id: Option<CallerId>,
    producer: Option<SocketAddr>,
}

/// A `config = ...` function: runs before the hooks.
fn tuned(config: RuntimeConfig) -> RuntimeConfig {
    config.with_clock_sync(true)
}

impl Hooks for Collector {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        match self.id {
            Some(id) => config.with_identity(Identity::Fixed(id)),
            None => config,
        }
    }
}

/// Loopback, any port: the bound port is read from the handle.
const ANY_PORT: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    0,
));

/// A loopback port nobody listens on now, for the pair below: both
/// runtimes are registered in one manager before it starts, so the
/// collector must know the thermometer's port in advance. Bound and
/// released: another process could take it in between, which fails the
/// test loudly, never silently.
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A thermometer and a collector dialing it, started in one manager, once
/// the producer's hook reported the collector's stream (published from then
/// on reaches it).
struct Pair {
    manager: RuntimeManager,
    thermometer: tsercom::ProducerHandle<Reading, Command>,
    collector: tsercom::AggregatorHandle<Reading, Command>,
    producer_id: CallerId,
    collector_id: CallerId,
}

fn start_pair() -> Pair {
    let producer_id = CallerId::random();
    let collector_id = CallerId::random();
    let addr = free_port();
    let (seen_tx, seen) = mpsc::channel();
    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            id: Some(producer_id),
            addr: Some(addr),
            seen: Some(Mutex::new(seen_tx)),
        })
        .expect("register producer");
    let collector = manager
        .register(Collector {
            id: Some(collector_id),
            producer: Some(addr),
        })
        .expect("register aggregator");
    manager.start_in_process().expect("start");
    // The producer's hook reports the aggregator's stream.
    assert_eq!(
        seen.recv_timeout(WAIT).expect("the aggregator connected"),
        Seen::Connected(collector_id)
    );
    Pair {
        manager,
        thermometer,
        collector,
        producer_id,
        collector_id,
    }
}

#[test]
fn producer_and_aggregator_exchange_data_and_events() {
    let Pair {
        mut manager,
        thermometer,
        collector,
        producer_id,
        collector_id,
    } = start_pair();

    // Data: producer → aggregator, stamped by the producer, converted to the
    // aggregator's clock (same host: the offset is ~0).
    let before = Timestamp::now();
    for i in 0..10 {
        thermometer
            .publish(Reading {
                celsius: f64::from(i),
                ..Reading::default()
            })
            .expect("publish reading");
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        assert!(collector.data().wait_new(WAIT), "readings arrived");
        for (caller, samples) in collector.data().take_new() {
            assert_eq!(caller, producer_id, "keyed by the producer's CallerId");
            got.extend(samples);
        }
        manager.check_error().expect("no runtime error");
    }
    let values: Vec<f64> = got.iter().map(|s| s.data.celsius).collect();
    assert_eq!(values, (0..10).map(f64::from).collect::<Vec<_>>());
    for sample in &got {
        let skew = sample.timestamp.nanos_since(&before);
        assert!(
            (-1_000_000_000..60_000_000_000).contains(&skew),
            "timestamp {} near the send time {before}",
            sample.timestamp
        );
        let field = sample
            .data
            .timestamp
            .as_ref()
            .expect("the field is stamped");
        assert_eq!(
            Timestamp::from_proto(field).expect("valid"),
            sample.timestamp,
            "the message's field holds the converted time"
        );
    }

    // Events: aggregator → producer, keyed by the aggregator's id.
    collector
        .send(
            Command {
                action: "calibrate".into(),
                ..Command::default()
            },
            To::All,
        )
        .expect("send command");
    assert!(thermometer.events().wait_new(WAIT), "the command arrived");
    let commands = thermometer.take_events();
    assert_eq!(commands.len(), 1);
    assert_eq!(commands[0].caller, collector_id);
    assert_eq!(commands[0].data.action, "calibrate");
    assert!(commands[0].data.when.is_some(), "stamped on the way");

    manager.check_error().expect("no runtime error");
    manager.shutdown().expect("shutdown");
}

/// A `Sensor` client of the producer at `addr` (retried until it serves).
async fn connect_sensor(
    addr: SocketAddr,
) -> tsercom_test_build_wiring::sensor_client::SensorClient<tsercom::tonic::transport::Channel> {
    use tsercom_test_build_wiring::sensor_client::SensorClient;
    let channel = channel_to(addr).await;
    tsercom::rpc::handshake(channel.clone(), CallerId::random(), None)
        .await
        .expect("handshake");
    SensorClient::new(channel)
}

/// A connection to `addr`, without tsercom's handshake.
async fn channel_to(addr: SocketAddr) -> tsercom::tonic::transport::Channel {
    let endpoint =
        tsercom::tonic::transport::Endpoint::from_shared(format!("http://{addr}")).expect("uri");
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(c) = endpoint.connect().await {
                break c;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the producer is serving")
}

/// The status a response stream ends with; `why_not_ok` when it ends OK.
async fn ending_status<T>(
    mut replies: tsercom::tonic::Streaming<T>,
    why_not_ok: &str,
) -> tsercom::tonic::Status {
    tokio::time::timeout(WAIT, async {
        loop {
            match replies.message().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("{why_not_ok}"),
                Err(status) => break status,
            }
        }
    })
    .await
    .expect("the producer answered")
}

/// Bad input from a peer: a clear status to that peer, nothing stored, and
/// the runtime goes on.
#[test]
fn producer_refuses_streams_without_an_id_and_events_with_bad_timestamps() {
    use tsercom::tonic::Code;

    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            id: Some(CallerId::random()),
            addr: Some(ANY_PORT),
            seen: None,
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let addr = thermometer.listening()[0];
    let client = tokio::runtime::Runtime::new().expect("tokio");
    client.block_on(async {
        // No handshake on the connection: refused before anything else.
        let one = tokio_stream::iter(vec![Command::default()]);
        let refused =
            tsercom_test_build_wiring::sensor_client::SensorClient::new(channel_to(addr).await)
                .stream(one)
                .await
                .expect_err("refused");
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert!(
            refused.message().contains("Handshake"),
            "names the missing handshake: {}",
            refused.message()
        );

        // An event whose timestamp is out of range: the stream ends with
        // INVALID_ARGUMENT naming it; nothing reaches the handle.
        let bad = Command {
            when: Some(tsercom::proto::ServerTimestamp {
                timestamp: Some(tsercom::well_known_types::Timestamp {
                    seconds: 1,
                    nanos: 2_000_000_000,
                }),
            }),
            action: "bad".into(),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let request = tsercom::tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let replies = connect_sensor(addr)
            .await
            .stream(request)
            .await
            .expect("stream opens")
            .into_inner();
        tx.send(bad).await.expect("send");
        let status = ending_status(replies, "ended without an error").await;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("timestamp"),
            "{}",
            status.message()
        );

        // Malformed messages: bytes that do not decode as a `Command` (a
        // `Reading`'s double where `Command` has a string), and a message
        // over the size limit. Each ends the stream with INVALID_ARGUMENT
        // naming the problem, never with OK.
        let malformed = |message: Reading| async move {
            let channel = channel_to(addr).await;
            tsercom::rpc::handshake(channel.clone(), CallerId::random(), None)
                .await
                .expect("handshake");
            let mut grpc = tsercom::tonic::client::Grpc::new(channel);
            grpc.ready().await.expect("ready");
            let request = tsercom::tonic::Request::new(tokio_stream::iter(vec![message]));
            let codec = tsercom::__private::tonic_prost::ProstCodec::<Reading, Reading>::default();
            let response = grpc
                .streaming(
                    request,
                    tsercom::tonic::codegen::http::uri::PathAndQuery::from_static(
                        "/sensors.Sensor/Stream",
                    ),
                    codec,
                )
                .await;
            match response {
                Ok(r) => {
                    ending_status(
                        r.into_inner(),
                        "a malformed message ended the stream with OK",
                    )
                    .await
                }
                Err(status) => status,
            }
        };
        let status = malformed(Reading {
            celsius: 1.5,
            ..Reading::default()
        })
        .await;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("malformed"),
            "{}",
            status.message()
        );
        let huge = Reading {
            source: Some(tsercom::proto::CallerId {
                id: "x".repeat(5 << 20),
            }),
            ..Reading::default()
        };
        let status = malformed(huge).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("too large"),
            "{}",
            status.message()
        );
    });
    assert!(thermometer.take_events().is_empty(), "nothing stored");
    // Each refused message is counted (the bad timestamp and the two
    // malformed ones), before its stream's status went out.
    assert_eq!(thermometer.stats().inbound.refused, 3, "counted");
    manager.check_error().expect("the runtime goes on");
    manager.shutdown().expect("shutdown");
}

/// The producer publishes a batch (one hand-off) and from async code; the
/// aggregator sends from async code; everything arrives in order.
#[test]
fn batches_and_async_sends_arrive_in_order() {
    let Pair {
        mut manager,
        thermometer,
        collector,
        producer_id,
        ..
    } = start_pair();

    let reading = |i: u32| Reading {
        celsius: f64::from(i),
        ..Reading::default()
    };
    thermometer
        .publish_many((0..100).map(reading).collect())
        .expect("publish a batch");
    let user_code = tokio::runtime::Runtime::new().expect("tokio");
    user_code.block_on(async {
        for i in 100..110 {
            thermometer
                .publish_async(reading(i))
                .await
                .expect("publish async");
        }
        collector
            .send_async(
                Command {
                    action: "async".into(),
                    ..Command::default()
                },
                To::All,
            )
            .await
            .expect("send async");
    });
    let mut got = Vec::new();
    while got.len() < 110 {
        assert!(collector.data().wait_new(WAIT), "readings arrived");
        for (caller, samples) in collector.data().take_new() {
            assert_eq!(caller, producer_id);
            got.extend(samples.into_iter().map(|s| s.data.celsius));
        }
    }
    assert_eq!(got, (0..110).map(f64::from).collect::<Vec<_>>());
    assert!(thermometer.events().wait_new(WAIT), "the command arrived");
    let events = thermometer.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data.action, "async");
    manager.check_error().expect("no runtime error");
    manager.shutdown().expect("shutdown");
}

/// A producer whose event store holds one unread event and refuses more
/// (`OverflowPolicy::Error`).
#[tsercom::runtime(producer, listen = self.addr, service = sensors::Sensor, data = Reading, event = Command, config = one_event_then_refuse)]
#[derive(Default)]
struct Fussy {
    addr: Option<SocketAddr>,
}

fn one_event_then_refuse(config: RuntimeConfig) -> RuntimeConfig {
    config
        .with_identity(Identity::Fixed(CallerId::random()))
        .with_retention(tsercom::data::Retention {
            max_samples: 1,
            max_age: None,
        })
        .with_data_policy(tsercom::OverflowPolicy::Error)
}

/// An event the store refuses ends the peer's stream with
/// RESOURCE_EXHAUSTED (it ended with OK: the peer could not tell), and the
/// refusal is counted.
#[test]
fn a_refused_event_ends_the_stream_with_a_status_not_ok() {
    use tsercom::tonic::Code;
    let mut manager = RuntimeManager::new();
    let fussy = manager
        .register(Fussy {
            addr: Some(ANY_PORT),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    let addr = fussy.listening()[0];
    let client = tokio::runtime::Runtime::new().expect("tokio");
    let status = client.block_on(async {
        let mut sensor = connect_sensor(addr).await;
        let commands = (0..2).map(|i| Command {
            action: format!("c{i}"),
            ..Command::default()
        });
        let request =
            tsercom::tonic::Request::new(tokio_stream::iter(commands.collect::<Vec<_>>()));
        let replies = sensor
            .stream(request)
            .await
            .expect("stream opens")
            .into_inner();
        ending_status(replies, "a refused event ended the stream with OK").await
    });
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(fussy.stats().inbound.dropped, 1, "the refusal is counted");
    assert_eq!(fussy.take_events().len(), 1, "the first event is kept");
    manager.check_error().expect("the runtime goes on");
    manager.shutdown().expect("shutdown");
}
