//! Out-of-process mode: the runtimes run in a child process (the same
//! executable, re-executed), talking to the parent over a Unix-domain socket
//! with length-delimited protobuf frames (`proto/tsercom/ipc.proto`).
//!
//! ```text
//!  parent (user's process)                         child (same executable)
//!  RuntimeManager::start_out_of_process()
//!    bind socket, spawn child ───────────────────▶ main() runs again up to
//!                                                 start_out_of_process(), which
//!                              ◀── Hello(names) ── connects and builds the runtimes
//!                              ◀── Caller/Data ─── Endpoint::register / push
//!  handle.send ─────── Event ──────────────────▶ Endpoint::next_event
//!                              ◀── Failure ─────── errors, panics
//!  shutdown() ───────── Shutdown ───────────────▶ stop() each runtime once
//!                              ◀── Stopped ─────── then exits
//! ```
//!
//! The child re-runs the program's `main` up to `start_out_of_process()`;
//! it must register the same runtimes in the same order (checked: a
//! mismatch is an error). Code before that point runs in both processes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::BoxFuture;
use super::errors::ErrorSink;
use super::router::EventRouter;
use super::sink::send_control;
use crate::caller_id::CallerId;
use crate::data::RemoteDataAggregator;
use crate::error::{Error, Result};
use crate::proto::ipc::{self, frame::Kind};
use crate::time::{Estimate, Timestamp};

/// Set in the child's environment: the socket to connect to.
pub(crate) const SOCKET_ENV: &str = "TSERCOM_CHILD_SOCKET";
/// Largest frame accepted on the socket.
pub(crate) const MAX_FRAME: usize = 64 * 1024 * 1024;
/// Frames queued for the socket writer (per direction); senders wait when
/// it is full (back-pressure, nothing dropped).
pub(crate) const IPC_QUEUE: usize = 4096;

pub(crate) fn frame(kind: Kind) -> ipc::Frame {
    ipc::Frame { kind: Some(kind) }
}

/// Appends `f` to `buf` as the socket carries it: a 4-byte big-endian
/// length, then the protobuf encoding.
pub fn encode_frame(f: &ipc::Frame, buf: &mut Vec<u8>) -> Result<()> {
    let len = u32::try_from(f.encoded_len()).map_err(|_| Error::Invalid {
        what: "IPC frame",
        reason: "larger than 4 GiB".into(),
    })?;
    buf.extend_from_slice(&len.to_be_bytes());
    f.encode(buf).map_err(|e| Error::Invalid {
        what: "IPC frame",
        reason: e.to_string(),
    })
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> Result<Option<ipc::Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(source) => return Err(ipc_io(source)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(Error::Invalid {
            what: "IPC frame",
            reason: format!("length {len} exceeds the maximum {MAX_FRAME}"),
        });
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(ipc_io)?;
    ipc::Frame::decode(buf.as_slice())
        .map(Some)
        .map_err(|e| Error::Invalid {
            what: "IPC frame",
            reason: e.to_string(),
        })
}

fn ipc_io(source: std::io::Error) -> Error {
    Error::Io {
        path: "IPC socket".into(),
        source,
    }
}

/// Most bytes gathered for one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Writes frames from `rx` until it closes or a `Stopped` frame was written.
/// The frames already queued are gathered into one write (up to
/// [`WRITE_BATCH`] bytes): one system call for a burst, not one per frame.
async fn write_frames<W: AsyncWriteExt + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<ipc::Frame>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    while let Some(f) = rx.recv().await {
        let mut last = matches!(f.kind, Some(Kind::Stopped(_)));
        buf.clear();
        encode_frame(&f, &mut buf)?;
        while !last && buf.len() < WRITE_BATCH {
            let Ok(f) = rx.try_recv() else { break };
            last = matches!(f.kind, Some(Kind::Stopped(_)));
            encode_frame(&f, &mut buf)?;
        }
        w.write_all(&buf).await.map_err(ipc_io)?;
        w.flush().await.map_err(ipc_io)?;
        if last {
            break;
        }
    }
    w.flush().await.map_err(ipc_io)
}

// ---- per-runtime glue, type-erased ----

/// The child's side of one runtime: events from the parent go in here.
pub(crate) trait ChildSide: Send + Sync {
    fn on_event(&self, event: ipc::Event) -> BoxFuture<'_, ()>;
}

/// The parent's side of one runtime: frames from the child go in here.
pub(crate) trait ParentSide: Send + Sync {
    fn name(&self) -> &str;
    fn on_data(&self, data: ipc::Data) -> BoxFuture<'_, Result<()>>;
    fn on_caller(&self, caller: ipc::Caller) -> Result<()>;
    fn on_clock(&self, clock: ipc::Clock) -> Result<()>;
    fn on_peer(&self, peer: ipc::Peer) -> Result<()>;
    fn close(&self);
}

pub(crate) struct ChildPart<E> {
    pub(crate) name: String,
    pub(crate) events: EventRouter<E>,
}

impl<E: Message + Default + Clone + 'static> ChildSide for ChildPart<E> {
    fn on_event(&self, event: ipc::Event) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (Ok(caller), Ok(value)) = (
                CallerId::parse(&event.caller_id),
                E::decode(event.payload.as_slice()),
            ) else {
                tracing::error!(runtime = %self.name, "malformed event frame from the parent");
                return;
            };
            match self.events.send_to_async(caller, value).await {
                Ok(()) => {}
                // The caller left meanwhile: its events go with it.
                Err(Error::UnknownCaller(_) | Error::Closed(_)) => {}
                Err(e) => tracing::warn!(runtime = %self.name, error = %e, "event not delivered"),
            }
        })
    }
}

pub(crate) struct ParentPart<D, E> {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) data: RemoteDataAggregator<D>,
    pub(crate) events: EventRouter<E>,
    pub(crate) tx: mpsc::Sender<ipc::Frame>,
    pub(crate) tokio: tokio::runtime::Handle,
    /// Each caller's current registration (`ipc.Caller.generation`).
    pub(crate) generations: std::sync::Mutex<std::collections::HashMap<CallerId, u64>>,
}

impl<D, E> ParentSide for ParentPart<D, E>
where
    D: Message + Default + Clone + 'static,
    E: Message + Default + Clone + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn on_data(&self, data: ipc::Data) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let caller = CallerId::parse(&data.caller_id)?;
            if data.refused {
                self.data.refused(caller);
                return Ok(());
            }
            let timestamp = data
                .timestamp
                .as_ref()
                .map(Timestamp::from_proto)
                .transpose()?
                .ok_or(Error::MissingField {
                    message: "tsercom.ipc.Data",
                    field: "timestamp",
                })?;
            let value = D::decode(data.payload.as_slice()).map_err(|e| Error::Invalid {
                what: "data frame payload",
                reason: e.to_string(),
            })?;
            self.data.push(caller, timestamp, value).await
        })
    }

    fn on_clock(&self, c: ipc::Clock) -> Result<()> {
        let caller = CallerId::parse(&c.caller_id)?;
        self.data.set_clock(
            caller,
            Estimate {
                offset_nanos: i128::from(c.offset_nanos),
                delay_nanos: i128::from(c.delay_nanos),
                samples: c.samples as usize,
            },
        );
        Ok(())
    }

    fn on_peer(&self, p: ipc::Peer) -> Result<()> {
        use crate::data::{PeerInfo, PeerState};
        let since = std::time::SystemTime::now();
        let state = match p.state {
            0 => PeerState::Connecting { since },
            1 => PeerState::Connected {
                since,
                addr: p.detail,
            },
            2 => PeerState::Unreachable {
                since,
                last_error: p.detail,
            },
            3 => PeerState::Refused {
                since,
                reason: p.detail,
            },
            _ => {
                self.data.remove_peer(&p.target);
                return Ok(());
            }
        };
        let caller = if p.caller_id.is_empty() {
            None
        } else {
            Some(CallerId::parse(&p.caller_id)?)
        };
        self.data.set_peer(PeerInfo {
            target: p.target,
            caller,
            state,
        });
        Ok(())
    }

    fn on_caller(&self, c: ipc::Caller) -> Result<()> {
        let caller = CallerId::parse(&c.caller_id)?;
        if c.state_only {
            // The child keeps the caller's endpoint (and so its events go
            // on queueing here); only what the handle shows changes.
            if c.registered {
                self.data
                    .register(caller, (!c.peer.is_empty()).then_some(c.peer), c.generation);
            } else {
                self.data.deregister(caller, c.generation, c.reason);
            }
            return Ok(());
        }
        if c.registered {
            let peer = (!c.peer.is_empty()).then_some(c.peer);
            self.data.register(caller, peer, c.generation);
            let queue = self.events.register(caller);
            self.generations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(caller, c.generation);
            let (tx, index) = (self.tx.clone(), self.index);
            // Forward what the handle sends this caller, in order.
            self.tokio.spawn(async move {
                while let Some(event) = queue.pop().await {
                    let f = frame(Kind::Event(ipc::Event {
                        runtime: index,
                        caller_id: caller.to_string(),
                        payload: event.encode_to_vec(),
                    }));
                    if tx.send(f).await.is_err() {
                        break;
                    }
                }
            });
        } else {
            self.data.deregister(caller, c.generation, c.reason);
            // Only the queue of that registration (not a newer one's).
            let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
            if generations.get(&caller) == Some(&c.generation) {
                generations.remove(&caller);
                drop(generations);
                if let Some(queue) = self.events.queue_of(caller) {
                    self.events.deregister(caller, &queue);
                }
            }
        }
        Ok(())
    }

    fn close(&self) {
        self.data.close();
        self.events.close();
    }
}

// ---- parent ----

/// The parent's view of a running child.
pub(crate) struct ParentProcess {
    tx: mpsc::Sender<ipc::Frame>,
    stopped: oneshot::Receiver<()>,
    exited: oneshot::Receiver<()>,
    kill: oneshot::Sender<()>,
    // Set before the Shutdown frame goes out: from then on the child's exit
    // and the socket's end are expected.
    shutdown_requested: Arc<AtomicBool>,
    // Set by the watcher when the child exits.
    child_exited: Arc<AtomicBool>,
    parts: Arc<Vec<Arc<dyn ParentSide>>>,
    pub(crate) pid: u32,
    stop_budget: Duration,
}

/// Builds the parent's side of every runtime once the socket is up.
pub(crate) type MakeParts = Box<
    dyn FnOnce(mpsc::Sender<ipc::Frame>, tokio::runtime::Handle) -> Vec<Arc<dyn ParentSide>> + Send,
>;

/// What `start_parent` needs of each registered runtime.
pub(crate) struct ParentPlan {
    pub(crate) names: Vec<String>,
    pub(crate) make_parts: MakeParts,
    pub(crate) start_budget: Duration,
    pub(crate) stop_budget: Duration,
}

fn socket_path() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    std::env::temp_dir().join(format!("tsercom-{}-{nanos:09}.sock", std::process::id()))
}

/// Spawns the child, waits for it to connect, build and start its runtimes.
pub(crate) async fn start_parent(
    plan: ParentPlan,
    args: Vec<OsString>,
    env: &[(OsString, OsString)],
    errors: ErrorSink,
) -> Result<ParentProcess> {
    let path = socket_path();
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let exe = std::env::current_exe().map_err(|source| Error::Io {
        path: "current executable".into(),
        source,
    })?;
    let mut child = tokio::process::Command::new(&exe)
        .args(&args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(SOCKET_ENV, &path)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| Error::Io {
            path: exe.clone(),
            source,
        })?;
    let pid = child.id().unwrap_or_default();

    let accepted = tokio::select! {
        accepted = listener.accept() => accepted.map_err(ipc_io),
        status = child.wait() => Err(Error::Invalid {
            what: "child process",
            reason: format!("exited before connecting ({})", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())),
        }),
        () = tokio::time::sleep(plan.start_budget) => Err(Error::Invalid {
            what: "child process",
            reason: format!("did not connect within {:?}", plan.start_budget),
        }),
    };
    let _ = std::fs::remove_file(&path);
    let (stream, _) = accepted?;
    let (reader, writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::with_capacity(64 * 1024, reader);

    let hello = tokio::time::timeout(plan.start_budget, read_frame(&mut reader)).await;
    let names = match hello {
        Ok(Ok(Some(ipc::Frame {
            kind: Some(Kind::Hello(h)),
        }))) => h.runtimes,
        Ok(Err(e)) => return Err(e),
        _ => {
            return Err(Error::Invalid {
                what: "child process",
                reason: "did not say hello".into(),
            });
        }
    };
    if names != plan.names {
        return Err(Error::Invalid {
            what: "child process",
            reason: format!(
                "it registered {names:?} but the parent registered {:?}: register the same runtimes, in the \
                 same order, before start_out_of_process()",
                plan.names
            ),
        });
    }

    let (tx, rx) = mpsc::channel(IPC_QUEUE);
    let tokio = tokio::runtime::Handle::current();
    let parts = Arc::new((plan.make_parts)(tx.clone(), tokio.clone()));
    {
        let errors = errors.clone();
        let names = plan.names.clone();
        tokio.spawn(async move {
            if let Err(e) = write_frames(writer, rx).await {
                for name in &names {
                    errors.report(name, format!("IPC write to the child failed: {e}"));
                }
            }
        });
    }

    let shutdown_requested = Arc::new(AtomicBool::new(false));
    let child_exited = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = oneshot::channel();
    let (stopped_tx, stopped_rx) = oneshot::channel();
    {
        let errors = errors.clone();
        let parts = Arc::clone(&parts);
        let shutdown_requested = Arc::clone(&shutdown_requested);
        let mut started_tx = Some(started_tx);
        let mut stopped_tx = Some(stopped_tx);
        tokio.spawn(async move {
            loop {
                let f = match read_frame(&mut reader).await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) => {
                        if !shutdown_requested.load(Ordering::Acquire) {
                            for p in parts.iter() {
                                errors.report(p.name(), format!("IPC from the child failed: {e}"));
                            }
                        }
                        break;
                    }
                };
                match f.kind {
                    Some(Kind::Data(d)) => {
                        let Some(part) = usize::try_from(d.runtime).ok().and_then(|i| parts.get(i))
                        else {
                            continue;
                        };
                        if let Err(e) = part.on_data(d).await {
                            errors.report(part.name(), format!("bad data from the child: {e}"));
                        }
                    }
                    Some(Kind::Caller(c)) => {
                        if let Some(part) =
                            usize::try_from(c.runtime).ok().and_then(|i| parts.get(i))
                            && let Err(e) = part.on_caller(c)
                        {
                            errors.report(
                                part.name(),
                                format!("bad caller frame from the child: {e}"),
                            );
                        }
                    }
                    Some(Kind::Clock(c)) => {
                        if let Some(part) =
                            usize::try_from(c.runtime).ok().and_then(|i| parts.get(i))
                            && let Err(e) = part.on_clock(c)
                        {
                            errors.report(
                                part.name(),
                                format!("bad clock frame from the child: {e}"),
                            );
                        }
                    }
                    Some(Kind::Peer(p)) => {
                        if let Some(part) =
                            usize::try_from(p.runtime).ok().and_then(|i| parts.get(i))
                            && let Err(e) = part.on_peer(p)
                        {
                            errors
                                .report(part.name(), format!("bad peer frame from the child: {e}"));
                        }
                    }
                    Some(Kind::Failure(f)) => errors.report(&f.runtime, f.message),
                    Some(Kind::Started(_)) => {
                        if let Some(tx) = started_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Some(Kind::Stopped(_)) => {
                        if let Some(tx) = stopped_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    _ => {}
                }
            }
        });
    }

    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (exited_tx, exited_rx) = oneshot::channel();
    {
        let errors = errors.clone();
        let names = plan.names.clone();
        let shutdown_requested = Arc::clone(&shutdown_requested);
        let child_exited = Arc::clone(&child_exited);
        tokio.spawn(async move {
            tokio::select! {
                status = child.wait() => {
                    child_exited.store(true, Ordering::Release);
                    if !shutdown_requested.load(Ordering::Acquire) {
                        let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                        for name in &names {
                            errors.report(name, format!("child process {pid} exited unexpectedly ({status})"));
                        }
                    }
                }
                _ = kill_rx => {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
            }
            let _ = exited_tx.send(());
        });
    }

    if tokio::time::timeout(plan.start_budget, started_rx)
        .await
        .is_err()
    {
        for name in &plan.names {
            errors.report(
                name,
                format!(
                    "child did not start its runtimes within {:?}",
                    plan.start_budget
                ),
            );
        }
    }
    Ok(ParentProcess {
        tx,
        stopped: stopped_rx,
        exited: exited_rx,
        kill: kill_tx,
        shutdown_requested,
        child_exited,
        parts,
        pid,
        stop_budget: plan.stop_budget,
    })
}

/// Asks the child to stop its runtimes (their data still arrives), waits
/// for it to exit (bounded), kills it if it does not.
pub(crate) async fn shutdown_parent(p: ParentProcess, errors: &ErrorSink) {
    let ParentProcess {
        tx,
        stopped,
        exited,
        kill,
        shutdown_requested,
        child_exited,
        parts,
        pid,
        stop_budget,
    } = p;
    shutdown_requested.store(true, Ordering::Release);
    let already_dead = child_exited.load(Ordering::Acquire);
    let _ = tx.send(frame(Kind::Shutdown(ipc::Shutdown {}))).await;
    drop(tx);
    let clean = matches!(tokio::time::timeout(stop_budget, stopped).await, Ok(Ok(())));
    let mut exited = exited;
    if clean {
        if tokio::time::timeout(Duration::from_secs(5), &mut exited)
            .await
            .is_err()
        {
            let _ = kill.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), exited).await;
        }
    } else {
        // Dead already (the watcher reported it), or not stopping in time.
        if !already_dead {
            for part in parts.iter() {
                errors.report(
                    part.name(),
                    format!("child process {pid} did not stop within {stop_budget:?}; killed"),
                );
            }
        }
        let _ = kill.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), exited).await;
    }
    for part in parts.iter() {
        part.close();
    }
}

// ---- child ----

/// What the child builds: each runtime launched with an IPC sink.
pub(crate) type ChildLaunch = Box<
    dyn FnOnce(
            &tokio::runtime::Handle,
            &ErrorSink,
            mpsc::Sender<ipc::Frame>,
        ) -> (Vec<super::manager::Launched>, Vec<Box<dyn ChildSide>>)
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("tsercom-runtime")
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "tokio runtime".into(),
            source,
        })?;
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
        let (mut launched, sides) = launch(&handle, &errors, tx.clone());
        super::manager::wait_started(&mut launched, &errors).await;
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
        for l in &launched {
            super::manager::stop_one(l, &errors).await;
        }
        for l in &launched {
            (l.close)();
        }
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
