//! The parent's side of the socket: spawn the child and wait for it to
//! connect and say hello, read its frames into each runtime's handle,
//! watch for its exit, and shut it down (bounded, then killed).

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};

use super::frame::{frame, ipc_io, read_frame, write_frames};
use super::glue::ParentSide;
use super::{IPC_QUEUE, SOCKET_ENV};
use crate::error::{Error, Result};
use crate::proto::ipc::{self, frame::Kind};
use crate::runtime::errors::ErrorSink;

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

type Reader = BufReader<OwnedReadHalf>;

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
    let (child, pid, stream) = spawn_and_accept(&args, env, plan.start_budget).await?;
    let (reader, writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    expect_hello(&mut reader, &plan.names, plan.start_budget).await?;

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
    let (started_rx, stopped_rx) = spawn_reader(
        &tokio,
        reader,
        Arc::clone(&parts),
        errors.clone(),
        Arc::clone(&shutdown_requested),
    );
    let (kill_tx, exited_rx) = spawn_watcher(
        &tokio,
        child,
        pid,
        Arc::clone(&parts),
        errors.clone(),
        Arc::clone(&shutdown_requested),
        Arc::clone(&child_exited),
    );

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

/// Binds a fresh socket, spawns this executable as the child (told the
/// socket in [`SOCKET_ENV`]), and waits (bounded) for it to connect;
/// returns the child (killed when dropped), its pid and the connection.
async fn spawn_and_accept(
    args: &[OsString],
    env: &[(OsString, OsString)],
    start_budget: Duration,
) -> Result<(tokio::process::Child, u32, tokio::net::UnixStream)> {
    let path = socket_path();
    // A fresh, unique name: nothing should be there; if something is and
    // cannot be removed, the bind below fails naming it.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let exe = std::env::current_exe().map_err(|source| Error::Ipc {
        what: "current executable",
        source,
    })?;
    let mut command = tokio::process::Command::new(&exe);
    // The child serves its own metrics (if any) at
    // TSERCOM_CHILD_METRICS_ADDR (the manager's child environment first,
    // then this process's): the parent's address is taken.
    command.env_remove(crate::metrics::ADDR_ENV);
    let child_addr = env
        .iter()
        .rev()
        .find(|(k, _)| k.as_os_str() == crate::metrics::CHILD_ADDR_ENV)
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var_os(crate::metrics::CHILD_ADDR_ENV));
    if let Some(addr) = child_addr {
        command.env(crate::metrics::ADDR_ENV, addr);
    }
    let mut child = command
        .args(args)
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
        status = child.wait() => Err(match status {
            Ok(status) => Error::ChildExited(status),
            Err(source) => Error::Ipc { what: "waiting for the child process", source },
        }),
        () = tokio::time::sleep(start_budget) => Err(Error::Timeout {
            what: "the runtime's child process connecting",
            after: start_budget,
        }),
    };
    // The socket's name is no longer needed once connected (or failed);
    // one left behind in the temp directory is harmless but said.
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::debug!(path = %path.display(), error = %e, "IPC socket file not removed");
    }
    let (stream, _) = accepted?;
    Ok((child, pid, stream))
}

/// Reads the child's `Hello` (bounded) and checks that it registered the
/// same runtimes, in the same order, as the parent.
async fn expect_hello(reader: &mut Reader, expected: &[String], budget: Duration) -> Result<()> {
    let hello = tokio::time::timeout(budget, read_frame(reader)).await;
    let names = match hello {
        Ok(Ok(Some(ipc::Frame {
            kind: Some(Kind::Hello(h)),
        }))) => h.runtimes,
        Ok(Err(e)) => return Err(e),
        _ => {
            return Err(Error::Protocol {
                what: "child process",
                reason: "did not say hello".into(),
            });
        }
    };
    if names != expected {
        return Err(Error::Invalid {
            what: "child process",
            reason: format!(
                "it registered {names:?} but the parent registered {:?}: register the same runtimes, in the \
                 same order, before start_out_of_process()",
                expected
            ),
        });
    }
    Ok(())
}

/// Reads the child's frames into the runtimes' parts until the socket
/// ends; returns the receivers of its `Started` and `Stopped` frames.
fn spawn_reader(
    tokio: &tokio::runtime::Handle,
    mut reader: Reader,
    parts: Arc<Vec<Arc<dyn ParentSide>>>,
    errors: ErrorSink,
    shutdown_requested: Arc<AtomicBool>,
) -> (oneshot::Receiver<()>, oneshot::Receiver<()>) {
    let (started_tx, started_rx) = oneshot::channel();
    let (stopped_tx, stopped_rx) = oneshot::channel();
    let mut started_tx = Some(started_tx);
    let mut stopped_tx = Some(stopped_tx);
    // Frames read so far and whether one is being handed over, for the
    // watchdog (no clock read per frame).
    let activity = Arc::new(Activity::default());
    let done = Arc::new(AtomicBool::new(false));
    spawn_watchdog(
        tokio,
        Arc::clone(&activity),
        Arc::clone(&done),
        Arc::clone(&parts),
        errors.clone(),
        Arc::clone(&shutdown_requested),
    );
    tokio.spawn(async move {
        // However the reader ends, the watchdog stops with it.
        struct Done(Arc<AtomicBool>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _done = Done(done);
        loop {
            let read = read_frame(&mut reader).await;
            activity.frames.fetch_add(1, Ordering::Relaxed);
            let f = match read {
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
                kind => {
                    // Handing a frame over may wait on the handle (a full
                    // store under `Block`): the child is not silent then,
                    // the parent is busy, so the watchdog holds off.
                    activity.busy.store(true, Ordering::Relaxed);
                    dispatch(kind, &parts, &errors).await;
                    activity.busy.store(false, Ordering::Relaxed);
                    // The end of a long hand-over counts as activity too.
                    activity.frames.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    (started_rx, stopped_rx)
}

/// What the reader shows the watchdog.
#[derive(Default)]
struct Activity {
    /// Frames read so far.
    frames: std::sync::atomic::AtomicU64,
    /// A frame is being handed to the handle (which may wait, under
    /// `Block`): the parent is busy, not the child silent.
    busy: AtomicBool,
}

/// Reports the child not responding when no frame (its heartbeat comes
/// every second) arrived for [`HEARTBEAT_TIMEOUT`](super::HEARTBEAT_TIMEOUT):
/// a stopped child, a stalled or half-closed socket. Once per episode;
/// logged again when frames resume. Ends with the reader or a shutdown.
fn spawn_watchdog(
    tokio: &tokio::runtime::Handle,
    activity: Arc<Activity>,
    done: Arc<AtomicBool>,
    parts: Arc<Vec<Arc<dyn ParentSide>>>,
    errors: ErrorSink,
    shutdown_requested: Arc<AtomicBool>,
) {
    tokio.spawn(async move {
        let mut tick = tokio::time::interval(super::HEARTBEAT_INTERVAL);
        let mut silent = false;
        let mut seen = activity.frames.load(Ordering::Relaxed);
        let mut active_at = std::time::Instant::now();
        loop {
            tick.tick().await;
            if done.load(Ordering::Acquire) || shutdown_requested.load(Ordering::Acquire) {
                break;
            }
            let frames = activity.frames.load(Ordering::Relaxed);
            if frames != seen || activity.busy.load(Ordering::Relaxed) {
                seen = frames;
                active_at = std::time::Instant::now();
            }
            let quiet = active_at.elapsed();
            if quiet >= super::HEARTBEAT_TIMEOUT && !silent {
                silent = true;
                for p in parts.iter() {
                    errors.report(
                        p.name(),
                        format!(
                            "the runtime's child process is not responding: nothing received for {quiet:?} \
                             (stopped, or its IPC socket stalled or half-closed)"
                        ),
                    );
                }
            } else if quiet < super::HEARTBEAT_TIMEOUT && silent {
                silent = false;
                tracing::warn!("the runtime's child process is responding again");
            }
        }
    });
}

/// Hands one frame from the child to the part of the runtime it names.
async fn dispatch(kind: Option<Kind>, parts: &[Arc<dyn ParentSide>], errors: &ErrorSink) {
    let part = |runtime: u32| usize::try_from(runtime).ok().and_then(|i| parts.get(i));
    match kind {
        Some(Kind::Data(d)) => {
            let Some(part) = part(d.runtime) else {
                return;
            };
            if let Err(e) = part.on_data(d).await {
                errors.report(part.name(), format!("bad data from the child: {e}"));
            }
        }
        Some(Kind::DataBatch(b)) => {
            let Some(part) = part(b.runtime) else {
                return;
            };
            if let Err(e) = part.on_data_batch(b).await {
                errors.report(part.name(), format!("bad data from the child: {e}"));
            }
        }
        Some(Kind::Caller(c)) => {
            if let Some(part) = part(c.runtime)
                && let Err(e) = part.on_caller(c)
            {
                errors.report(part.name(), format!("bad caller frame from the child: {e}"));
            }
        }
        Some(Kind::Clock(c)) => {
            if let Some(part) = part(c.runtime)
                && let Err(e) = part.on_clock(c)
            {
                errors.report(part.name(), format!("bad clock frame from the child: {e}"));
            }
        }
        Some(Kind::Peer(p)) => {
            if let Some(part) = part(p.runtime)
                && let Err(e) = part.on_peer(p)
            {
                errors.report(part.name(), format!("bad peer frame from the child: {e}"));
            }
        }
        Some(Kind::CallerName(n)) => {
            if let Some(part) = part(n.runtime)
                && let Err(e) = part.on_caller_name(n)
            {
                errors.report(
                    part.name(),
                    format!("bad caller name frame from the child: {e}"),
                );
            }
        }
        Some(Kind::DeliveryCounts(c)) => {
            if let Some(part) = part(c.runtime) {
                part.on_delivery(&c);
            }
        }
        Some(Kind::Listening(l)) => {
            if let Some(part) = part(l.runtime)
                && let Err(e) = part.on_listening(l)
            {
                errors.report(
                    part.name(),
                    format!("bad listening frame from the child: {e}"),
                );
            }
        }
        Some(Kind::Failure(f)) => errors.report(&f.runtime, f.message),
        _ => {}
    }
}

/// Waits for the child's exit (reported unless a shutdown was requested)
/// or for a kill request; returns the kill switch and the exit signal.
fn spawn_watcher(
    tokio: &tokio::runtime::Handle,
    mut child: tokio::process::Child,
    pid: u32,
    parts: Arc<Vec<Arc<dyn ParentSide>>>,
    errors: ErrorSink,
    shutdown_requested: Arc<AtomicBool>,
    child_exited: Arc<AtomicBool>,
) -> (oneshot::Sender<()>, oneshot::Receiver<()>) {
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (exited_tx, exited_rx) = oneshot::channel();
    tokio.spawn(async move {
        tokio::select! {
            status = child.wait() => {
                child_exited.store(true, Ordering::Release);
                if !shutdown_requested.load(Ordering::Acquire) {
                    let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                    for part in parts.iter() {
                        // Before the report: once the user hears of it,
                        // a send fails at once (`Closed`) instead of
                        // waiting on a queue nobody drains.
                        part.close_events();
                        errors.report(part.name(), format!("child process {pid} exited unexpectedly ({status})"));
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
    (kill_tx, exited_rx)
}

/// Asks the child to stop its runtimes (their data still arrives), waits
/// for it to exit (bounded), kills it if it does not.
/// How long a child may take to exit once asked to (or killed).
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// Kills the child and waits for the watcher to see it exit; one that
/// outlives even that is reported (a process left behind).
async fn kill_and_reap(
    kill: oneshot::Sender<()>,
    exited: oneshot::Receiver<()>,
    pid: u32,
    parts: &[Arc<dyn ParentSide>],
    errors: &ErrorSink,
) {
    // Fails only when the watcher already ended: the child exited.
    let _ = kill.send(());
    if tokio::time::timeout(EXIT_WAIT, exited).await.is_err() {
        for part in parts {
            errors.report(
                part.name(),
                format!("child process {pid} did not exit within {EXIT_WAIT:?} of being killed"),
            );
        }
    }
}

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
        if tokio::time::timeout(EXIT_WAIT, &mut exited).await.is_err() {
            // Its runtimes stopped and their data arrived: nothing is
            // lost, but a child that does not exit is worth a line.
            tracing::warn!(
                pid,
                "the runtime's child process stopped its runtimes but did not exit within {EXIT_WAIT:?}; killed"
            );
            kill_and_reap(kill, exited, pid, &parts, errors).await;
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
        kill_and_reap(kill, exited, pid, &parts, errors).await;
    }
    for part in parts.iter() {
        part.close();
    }
}
