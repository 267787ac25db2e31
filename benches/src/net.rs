//! Network scenarios on loopback: `clock` (offset error and convergence of
//! in-band clock sync) and `reconnect` (peer back → data flowing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tsercom::rpc::{
    Backoff, ClientTls, ConnectConfig, ConnectionEvent, Server, TokioSleeper, spawn_connection,
    sync_once,
};
use tsercom::time::{Clock, OffsetClock, OffsetEstimator, SystemClock};
use tsercom::tonic::{Request, Response, Status, Streaming};
use tsercom::{CallerId, OverflowPolicy, QueueConfig};

use crate::bench::ingest_client::IngestClient;
use crate::bench::ingest_server::{Ingest, IngestServer};
use crate::bench::{Ack, Sample};

/// One row of the clock table.
pub(crate) struct ClockRow {
    pub(crate) method: &'static str,
    pub(crate) injected_ms: f64,
    pub(crate) error_us: f64,
    pub(crate) bound_us: f64,
    pub(crate) converged_ms: Option<f64>,
}

/// Runs `exchange` every 10 ms for at most 2 s (200 exchanges), min-RTT
/// over 16; reports the final error against `offset_nanos`, its bound
/// (RTT/2), and when the estimate first came within 50 µs.
async fn measure_clock<F, Fut>(
    method: &'static str,
    offset_nanos: i128,
    mut exchange: F,
) -> tsercom::Result<ClockRow>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = tsercom::Result<tsercom::time::Exchange>>,
{
    let mut estimator = OffsetEstimator::new(16);
    let start = Instant::now();
    let mut converged = None;
    let mut last = None;
    for _ in 0..200 {
        let estimate = estimator.add(exchange().await?);
        let error = (estimate.offset_nanos - offset_nanos).abs();
        if converged.is_none() && error < 50_000 {
            converged = Some(start.elapsed());
        }
        last = Some((error, estimate.delay_nanos / 2));
        if start.elapsed() > Duration::from_secs(2) {
            break;
        }
        // Pacing of the exchanges, as a sync loop runs them.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (error, bound) = last.unwrap_or_default();
    Ok(ClockRow {
        method,
        injected_ms: offset_nanos as f64 / 1e6,
        error_us: error as f64 / 1e3,
        bound_us: bound as f64 / 1e3,
        converged_ms: converged.map(|d| d.as_secs_f64() * 1e3),
    })
}

fn loopback() -> tsercom::Result<SocketAddr> {
    "127.0.0.1:0"
        .parse()
        .map_err(|_| tsercom::Error::WrongState("loopback address"))
}

fn skewed(offset_nanos: i128) -> Arc<dyn Clock> {
    Arc::new(OffsetClock {
        base: SystemClock,
        offset_nanos,
    })
}

/// In-band clock sync (`tsercom.Peer/SyncTime`) against a server whose
/// clock runs `offset_nanos` ahead.
pub(crate) async fn clock(offset_nanos: i128) -> tsercom::Result<ClockRow> {
    let running = Server::new(CallerId::random())
        .with_clock(skewed(offset_nanos))
        .serve(&[loopback()?])
        .await?;
    let channel =
        tsercom::rpc::connect(&running.local_addrs()[0].to_string(), &ClientTls::Insecure).await?;
    let row = measure_clock("gRPC in-band", offset_nanos, || {
        sync_once(channel.clone(), &SystemClock)
    })
    .await;
    running.stop().await;
    row
}

/// The same measurement over UDP SNTP (RFC 5905) on loopback.
pub(crate) async fn clock_sntp(offset_nanos: i128) -> tsercom::Result<ClockRow> {
    let server = tsercom::time::sntp::SntpServer::bind(loopback()?, skewed(offset_nanos)).await?;
    let addr = server.local_addr();
    measure_clock("SNTP (UDP)", offset_nanos, || {
        tsercom::time::sntp::query(addr, &SystemClock, Duration::from_secs(5))
    })
    .await
}

#[derive(Clone, Default)]
struct Counter {
    received: Arc<AtomicU64>,
    changed: Arc<Notify>,
}

#[tsercom::tonic::async_trait]
impl Ingest for Counter {
    type StreamStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<Ack, Status>> + Send + 'static>>;

    async fn stream(
        &self,
        request: Request<Streaming<Sample>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        use tokio_stream::StreamExt;
        let counter = self.clone();
        let acks = request.into_inner().map(move |s| {
            s.map(|_| {
                let received = counter.received.fetch_add(1, Ordering::Relaxed) + 1;
                counter.changed.notify_waiters();
                Ack { received }
            })
        });
        Ok(Response::new(Box::pin(acks)))
    }
}

async fn serve(counter: Counter, addr: SocketAddr) -> tsercom::Result<tsercom::rpc::RunningServer> {
    Server::new(CallerId::parse("00000000-0000-4000-8000-000000000001")?)
        .with_grace_period(Duration::from_millis(50))
        .add_service(IngestServer::new(counter))
        .serve(&[addr])
        .await
}

async fn wait_count(counter: &Counter, at_least: u64) -> bool {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let notified = counter.changed.notified();
            if counter.received.load(Ordering::Relaxed) >= at_least {
                return;
            }
            notified.await;
        }
    })
    .await
    .is_ok()
}

/// Peer back → data flowing: a producer streams through the reconnecting
/// connector; the server stops and comes back on the same port; the time
/// from "serving again" to the first new sample received is measured
/// (`rounds` times). Backoff: 50 ms initial, capped at 500 ms.
pub(crate) async fn reconnect(rounds: usize) -> tsercom::Result<Vec<Duration>> {
    let counter = Counter::default();
    let mut server = serve(
        counter.clone(),
        "127.0.0.1:0"
            .parse()
            .map_err(|_| tsercom::Error::WrongState("addr"))?,
    )
    .await?;
    let addr = server.local_addrs()[0];
    let config = ConnectConfig {
        targets: vec![addr.to_string()],
        tls: ClientTls::Insecure,
        id: CallerId::random(),
        expected_peer: None,
        backoff: Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            ..Backoff::default()
        },
        outbox: QueueConfig::new(10_000, OverflowPolicy::DropOldest),
        keepalive: tsercom::rpc::Keepalive::default(),
    };
    let mut connection = spawn_connection(
        config,
        Arc::new(TokioSleeper),
        |channel, outbox, _peer, _addr| async move {
            let failed = |s: Status| tsercom::Error::Connect {
                target: "ingest".into(),
                reason: s.to_string(),
            };
            let mut acks = IngestClient::new(channel)
                .stream(outbox.stream())
                .await
                .map_err(failed)?
                .into_inner();
            while acks.message().await.map_err(failed)?.is_some() {}
            Ok(())
        },
    );
    let mut times = Vec::new();
    for _ in 0..rounds {
        while !matches!(
            connection.next_event().await,
            Some(ConnectionEvent::Connected { .. })
        ) {}
        let before = counter.received.load(Ordering::Relaxed);
        connection.send(Sample::default()).await?;
        if !wait_count(&counter, before + 1).await {
            return Err(tsercom::Error::WrongState("no data while connected"));
        }
        server.stop().await;
        while !matches!(
            connection.next_event().await,
            Some(ConnectionEvent::Disconnected { .. })
        ) {}
        server = serve(counter.clone(), addr).await?;
        let back = Instant::now();
        let before = counter.received.load(Ordering::Relaxed);
        // A producer that keeps producing: one sample per millisecond.
        let flowing = async {
            loop {
                let _ = connection.send(Sample::default()).await;
                if counter.received.load(Ordering::Relaxed) > before {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), flowing)
            .await
            .is_err()
        {
            return Err(tsercom::Error::WrongState(
                "data did not flow after the peer came back",
            ));
        }
        times.push(back.elapsed());
    }
    server.stop().await;
    Ok(times)
}

/// A plain tonic server on its own runtime, so that stopping it (dropping
/// the runtime) closes its connections too, as a crashed peer would.
fn serve_plain(
    addr: SocketAddr,
    counter: Counter,
) -> tsercom::Result<(SocketAddr, tokio::runtime::Runtime)> {
    let io = |path: String| {
        move |source| tsercom::Error::Io {
            path: path.into(),
            source,
        }
    };
    // The old server's socket may take a moment to close: retry, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let listener = loop {
        match std::net::TcpListener::bind(addr) {
            Ok(l) => break l,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(io(addr.to_string())(e)),
        }
    };
    listener
        .set_nonblocking(true)
        .map_err(io("nonblocking".into()))?;
    let bound = listener.local_addr().map_err(io("local address".into()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(io("tokio runtime".into()))?;
    runtime.spawn(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tsercom::tonic::transport::Server::builder()
            .add_service(IngestServer::new(counter))
            .serve_with_incoming(incoming)
            .await;
    });
    Ok((bound, runtime))
}

/// The `reconnect` baseline, plain tonic as a competent user writes it: a
/// client task that connects, streams one sample per millisecond, and on
/// any failure retries with the same backoff (50 ms, doubling, capped at
/// 500 ms); the server stopped (its runtime dropped: listener and
/// connections closed) and served again on the same port.
pub(crate) async fn reconnect_tonic(rounds: usize) -> tsercom::Result<Vec<Duration>> {
    use tokio_stream::StreamExt;
    let counter = Counter::default();
    let any: SocketAddr = "127.0.0.1:0"
        .parse()
        .map_err(|_| tsercom::Error::WrongState("addr"))?;
    let (addr, mut server) = serve_plain(any, counter.clone())?;
    let url = format!("http://{addr}");
    let client = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Ok(mut client) = IngestClient::connect(url.clone()).await {
                let samples = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(
                    Duration::from_millis(1),
                ))
                .map(|_| Sample::default());
                if let Ok(response) = client.stream(samples).await {
                    backoff = Duration::from_millis(50);
                    let mut acks = response.into_inner();
                    while let Ok(Some(_)) = acks.message().await {}
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    });
    let mut times = Vec::new();
    for _ in 0..rounds {
        let before = counter.received.load(Ordering::Relaxed);
        if !wait_count(&counter, before + 1).await {
            client.abort();
            return Err(tsercom::Error::WrongState("no data while connected"));
        }
        server.shutdown_background();
        server = serve_plain(addr, counter.clone())?.1;
        let back = Instant::now();
        let before = counter.received.load(Ordering::Relaxed);
        if !wait_count(&counter, before + 1).await {
            client.abort();
            return Err(tsercom::Error::WrongState(
                "data did not flow after the peer came back",
            ));
        }
        times.push(back.elapsed());
    }
    client.abort();
    server.shutdown_background();
    Ok(times)
}
