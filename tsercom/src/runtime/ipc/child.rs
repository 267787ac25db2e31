//! The child's side of the socket: connect, say hello, build and start the
//! runtimes, deliver the parent's events until told to shut down, stop
//! the runtimes, and exit the process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::IPC_QUEUE;
use super::frame::{frame, read_frame, send_control, write_frames};
use super::glue::ChildSide;
use crate::error::{Error, Result};
use crate::proto::ipc::{self, frame::Kind};
use crate::runtime::errors::ErrorSink;
use crate::runtime::launch::{self, Launched};

/// What the child builds: each runtime launched with an IPC sink.
pub(crate) type ChildLaunch = Box<
    dyn FnOnce(
            &tokio::runtime::Handle,
            &ErrorSink,
            mpsc::Sender<ipc::Frame>,
        ) -> (Vec<Launched>, Vec<Box<dyn ChildSide>>)
        + Send,
>;

/// Runs the child: connect, build and start the runtimes, serve events
/// until told to shut down, stop them, and exit the process.
pub(crate) fn run_child(
    socket: PathBuf,
    names: Vec<String>,
    launch: ChildLaunch,
    workers: usize,
) -> ! {
    let code = match child_main(socket, names, launch, workers) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("tsercom child process: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn child_main(
    socket: PathBuf,
    names: Vec<String>,
    launch: ChildLaunch,
    workers: usize,
) -> Result<()> {
    let runtime = launch::tokio_runtime(workers)?;
    let handle = runtime.handle().clone();
    let result = runtime.block_on(async move {
        let stream = tokio::net::UnixStream::connect(&socket)
            .await
            .map_err(|source| Error::Io {
                path: socket.clone(),
                source,
            })?;
        let (reader, writer) = stream.into_split();
        let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);
        let (tx, rx) = mpsc::channel(IPC_QUEUE);
        let writer = tokio::spawn(write_frames(writer, rx));
        let hello = frame(Kind::Hello(ipc::Hello {
            runtimes: names,
            pid: std::process::id(),
        }));
        tx.send(hello)
            .await
            .map_err(|_| Error::Closed("IPC to the parent".into()))?;

        let forward_tx = tx.clone();
        let errors = ErrorSink::forwarding(Arc::new(move |runtime: &str, message: &str| {
            let f = frame(Kind::Failure(ipc::Failure {
                runtime: runtime.to_owned(),
                message: message.to_owned(),
            }));
            send_control(&forward_tx, f);
        }));
        // "Still here", every second, whatever else is sent.
        let beat_tx = tx.clone();
        let heartbeat = tokio::spawn(async move {
            let mut tick = tokio::time::interval(super::HEARTBEAT_INTERVAL);
            loop {
                tick.tick().await;
                if beat_tx.is_closed() {
                    break;
                }
                send_control(&beat_tx, frame(Kind::Heartbeat(ipc::Heartbeat {})));
            }
        });
        let (mut launched, sides) = launch(&handle, &errors, tx.clone());
        let sides: Arc<Vec<Box<dyn ChildSide>>> = Arc::new(sides);
        // Each runtime's delivery counters, every second, for the
        // handle's stats.
        let counts_tx = tx.clone();
        let counted = Arc::clone(&sides);
        let counts = tokio::spawn(async move {
            let mut tick = tokio::time::interval(super::HEARTBEAT_INTERVAL);
            loop {
                tick.tick().await;
                if counts_tx.is_closed() {
                    break;
                }
                send_counts(&counts_tx, &counted);
            }
        });
        launch::wait_started(&mut launched, &errors).await;
        // Fails only when the writer ended (the parent is gone): nobody
        // to tell; the read loop below then ends too.
        let _ = tx.send(frame(Kind::Started(ipc::Started {}))).await;

        loop {
            match read_frame(&mut reader).await {
                Ok(Some(ipc::Frame {
                    kind: Some(Kind::Event(e)),
                })) => {
                    if let Some(side) = usize::try_from(e.runtime).ok().and_then(|i| sides.get(i)) {
                        side.on_event(e).await;
                    }
                }
                Ok(Some(ipc::Frame {
                    kind: Some(Kind::Shutdown(_)),
                })) => break,
                Ok(Some(_)) => {}
                // The parent is gone: stop anyway, nobody to report to.
                Ok(None) | Err(_) => break,
            }
        }
        launch::stop_all(&launched, &errors).await;
        heartbeat.abort();
        counts.abort();
        // The final counts (what the stop gave up included).
        send_counts(&tx, &sides);
        let _ = tx.send(frame(Kind::Stopped(ipc::Stopped {}))).await;
        drop(tx);
        match writer.await {
            Ok(result) => result,
            Err(e) => Err(Error::Closed(format!("IPC writer: {e}"))),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Sends each runtime's delivery counters (`ipc.DeliveryCounts`).
fn send_counts(tx: &mpsc::Sender<ipc::Frame>, sides: &[Box<dyn ChildSide>]) {
    for (i, side) in sides.iter().enumerate() {
        let runtime = u32::try_from(i).unwrap_or(u32::MAX);
        let counts = super::glue::counts_frame(runtime, &side.delivery());
        send_control(tx, frame(Kind::DeliveryCounts(counts)));
    }
}
