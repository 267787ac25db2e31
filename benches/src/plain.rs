//! The baselines: the same workload as `stream::tsercom_run` on plain
//! tonic — the same proto and stream shape (each producer hosts
//! `Feed.Subscribe`, the aggregator dials every producer), one tokio
//! runtime with 2 workers like the manager's — driven two ways:
//!
//! - [`Drive::Threads`]: as tsercom's users drive it, from their own
//!   threads — a pusher thread `blocking_send`s into each producer's
//!   channel, a taker thread `blocking_recv`s what the aggregator's
//!   clients forward. The fair comparison for tsercom's handle API.
//! - [`Drive::Tasks`]: plain tonic written the way its own examples are,
//!   the practical limit — each producer's samples made by a tokio task
//!   feeding the bounded channel that is the response stream, the
//!   clients forwarding into one bounded channel, one consumer task
//!   draining it with `recv_many`. No thread hand-off per sample.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc as std_mpsc};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tsercom::Timestamp;
use tsercom::tonic::{Request, Response, Status, Streaming};

use crate::bench::feed_client::FeedClient;
use crate::bench::feed_server::{Feed, FeedServer};
use crate::bench::{Ack, Sample};
use crate::stream::{DEPTH, LIMIT, Meter, Outcome, Pace, mono_nanos, pusher, sample};

/// Who makes and takes the samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Drive {
    /// User threads, blocking sends and receives.
    Threads,
    /// Tokio tasks only.
    Tasks,
    /// A user thread makes them (blocking sends), a task takes them: the
    /// cost of the hop into the runtime alone.
    PushThread,
    /// Tasks make them, a user thread takes them (blocking receives): the
    /// cost of the hop out of the runtime alone.
    TakeThread,
}

/// Producer p's task makes samples p, p + k, p + 2k, ... (the pusher's
/// round robin), paced per producer.
fn spawn_producers(
    rt: &tokio::runtime::Runtime,
    senders: &[mpsc::Sender<Sample>],
    k: usize,
    total: u64,
    pace: Pace,
) {
    for (p, tx) in senders.iter().enumerate() {
        let tx = tx.clone();
        let share = total / k as u64 + u64::from((p as u64) < total % k as u64);
        rt.spawn(async move {
            let mut tick = match pace {
                Pace::PerSecond(rate) => Some(tokio::time::interval(Duration::from_secs_f64(
                    1.0 / f64::from(rate.max(1)),
                ))),
                Pace::Flood => None,
            };
            for n in 0..share {
                if let Some(tick) = &mut tick {
                    tick.tick().await;
                }
                let mut s = sample(n * k as u64 + p as u64);
                s.timestamp = Some(Timestamp::now().to_proto());
                if tx.send(s).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The consumer task: drains `total` samples with `recv_many`.
async fn consume(
    mut rx: mpsc::Receiver<Sample>,
    total: u64,
    want_latency: bool,
) -> tsercom::Result<Vec<f64>> {
    let mut lat = Vec::new();
    let mut got = 0u64;
    let mut batch = Vec::with_capacity(1024);
    while got < total {
        batch.clear();
        if rx.recv_many(&mut batch, 1024).await == 0 {
            return Err(tsercom::Error::WrongState("plain tonic run stalled"));
        }
        got += batch.len() as u64;
        if want_latency {
            let now = mono_nanos();
            lat.extend(batch.iter().map(|s| now - s.a));
        }
    }
    Ok(lat)
}

/// The user's taker thread: `blocking_recv` until `total` arrived.
fn take_blocking(
    rx: &mut mpsc::Receiver<Sample>,
    total: u64,
    want_latency: bool,
) -> tsercom::Result<Vec<f64>> {
    let mut lat = Vec::new();
    let mut got = 0u64;
    while got < total {
        let Some(sample) = rx.blocking_recv() else {
            return Err(tsercom::Error::WrongState("plain tonic run stalled"));
        };
        got += 1;
        if want_latency {
            lat.push(mono_nanos() - sample.a);
        }
    }
    Ok(lat)
}

/// A plain tonic producer: the stream of the first subscriber is fed from
/// its channel.
struct PlainProducer {
    samples: Mutex<Option<mpsc::Receiver<Sample>>>,
}

type SampleStream = std::pin::Pin<Box<dyn Stream<Item = Result<Sample, Status>> + Send>>;

#[tsercom::tonic::async_trait]
impl Feed for PlainProducer {
    type SubscribeStream = SampleStream;

    async fn subscribe(
        &self,
        _request: Request<Streaming<Ack>>,
    ) -> Result<Response<SampleStream>, Status> {
        let rx = self
            .samples
            .lock()
            .map_err(|_| Status::internal("poisoned"))?
            .take()
            .ok_or_else(|| Status::resource_exhausted("one subscriber per producer"))?;
        Ok(Response::new(Box::pin(ReceiverStream::new(rx).map(Ok))))
    }
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> tsercom::Error {
    move |source| tsercom::Error::Ipc { what, source }
}

/// The workload on plain tonic, driven by `drive`.
pub(crate) fn run(drive: Drive, k: usize, total: u64, pace: Pace) -> tsercom::Result<Outcome> {
    let rt = crate::runtime()?;
    // Bound here, before any client dials: the clients connect at once.
    let mut addrs = Vec::with_capacity(k);
    let mut senders = Vec::with_capacity(k);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    for _ in 0..k {
        let listener = {
            let _guard = rt.enter();
            let std =
                std::net::TcpListener::bind("127.0.0.1:0").map_err(io("baseline listener"))?;
            std.set_nonblocking(true).map_err(io("baseline listener"))?;
            tokio::net::TcpListener::from_std(std).map_err(io("baseline listener"))?
        };
        addrs.push(listener.local_addr().map_err(io("baseline listener"))?);
        let (tx, rx) = mpsc::channel(DEPTH);
        senders.push(tx);
        let service = FeedServer::new(PlainProducer {
            samples: Mutex::new(Some(rx)),
        });
        let mut shutdown = shutdown_rx.clone();
        rt.spawn(async move {
            tsercom::tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async move {
                        let _ = shutdown.wait_for(|s| *s).await;
                    },
                )
                .await
        });
    }
    // The aggregator: one client per producer, each stream forwarded into
    // one bounded channel.
    let (out_tx, mut out_rx) = mpsc::channel::<Sample>(DEPTH);
    let (connected_tx, connected_rx) = std_mpsc::channel::<()>();
    let mut clients = Vec::with_capacity(k);
    for addr in &addrs {
        let out = out_tx.clone();
        let connected = connected_tx.clone();
        let url = format!("http://{addr}");
        clients.push(rt.spawn(async move {
            let Ok(mut client) = FeedClient::connect(url).await else {
                return;
            };
            let Ok(response) = client.subscribe(tokio_stream::pending::<Ack>()).await else {
                return;
            };
            let _ = connected.send(());
            let mut stream = response.into_inner();
            while let Ok(Some(sample)) = stream.message().await {
                if out.send(sample).await.is_err() {
                    return;
                }
            }
        }));
    }
    drop(out_tx);
    for _ in 0..k {
        connected_rx
            .recv_timeout(LIMIT)
            .map_err(|_| tsercom::Error::WrongState("plain tonic clients connected"))?;
    }
    // Bounded in time: past LIMIT the clients are aborted, which closes the
    // channel and ends the taker with an error.
    let aborts: Vec<_> = clients
        .iter()
        .map(tokio::task::JoinHandle::abort_handle)
        .collect();
    let watchdog = rt.spawn(async move {
        tokio::time::sleep(LIMIT).await;
        for abort in aborts {
            abort.abort();
        }
    });

    let want_latency = matches!(pace, Pace::PerSecond(_));
    let meter = Meter::start();
    let push_on_thread = matches!(drive, Drive::Threads | Drive::PushThread);
    let take_on_thread = matches!(drive, Drive::Threads | Drive::TakeThread);
    if !push_on_thread {
        spawn_producers(&rt, &senders, k, total, pace);
    }
    let latencies = if take_on_thread {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let taker = s.spawn(|| take_blocking(&mut out_rx, total, want_latency));
            if push_on_thread {
                pusher(k, total, pace, &stop, |p, mut sample| {
                    // The user stamps the sample (tsercom's glue does it
                    // for them).
                    sample.timestamp = Some(Timestamp::now().to_proto());
                    senders[p].blocking_send(sample).is_ok()
                });
            }
            let result = taker.join();
            stop.store(true, Ordering::Relaxed);
            result
        })
        .map_err(|_| tsercom::Error::WrongState("the taker panicked"))??
    } else {
        let consumer = rt.spawn(consume(out_rx, total, want_latency));
        if push_on_thread {
            let stop = AtomicBool::new(false);
            pusher(k, total, pace, &stop, |p, mut sample| {
                sample.timestamp = Some(Timestamp::now().to_proto());
                senders[p].blocking_send(sample).is_ok()
            });
        }
        rt.block_on(consumer)
            .map_err(|_| tsercom::Error::WrongState("the consumer panicked"))??
    };
    let outcome = meter.finish(total, latencies);
    watchdog.abort();
    for client in clients {
        client.abort();
    }
    let _ = shutdown_tx.send(true);
    drop(senders);
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(outcome)
}
