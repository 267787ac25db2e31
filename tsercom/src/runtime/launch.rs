//! A runtime handed to a tokio runtime: what the manager (in process) and
//! the child process (out of process) share — the tokio runtime they build,
//! the launched runtime's slot, waiting for its start, stopping it once.
//! A leaf of `runtime`: it imports neither the manager nor the IPC module.

use std::sync::Arc;

use super::errors::{ErrorSink, panic_message};
use super::{Runtime, RuntimeConfig, StopReason};
use crate::error::{Error, Result};

/// Where a launched runtime lives once created (empty before, and after
/// it was stopped).
pub(super) type Slot = Arc<tokio::sync::Mutex<Option<Box<dyn Runtime>>>>;

/// A runtime handed to a tokio runtime.
pub(crate) struct Launched {
    pub(super) name: String,
    pub(super) config: RuntimeConfig,
    pub(super) slot: Slot,
    pub(super) started: tokio::task::JoinHandle<()>,
    /// Closes the runtime's data and event queues (after its stop).
    pub(crate) close: Box<dyn Fn() + Send + Sync>,
    /// `runtime{name}`, for its stop too.
    pub(super) span: tracing::Span,
}

/// The runtimes' own tokio runtime: `workers` threads named
/// `tsercom-runtime`, I/O and timers enabled.
pub(super) fn tokio_runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("tsercom-runtime")
        .enable_all()
        .build()
        .map_err(|source| Error::Thread {
            what: "tokio runtime".into(),
            source,
        })
}

/// Waits (bounded by each `start_timeout`) for every runtime's create +
/// start, reporting panics and timeouts.
pub(crate) async fn wait_started(launched: &mut [Launched], errors: &ErrorSink) {
    for l in launched {
        let limit = l.config.start_timeout;
        match tokio::time::timeout(limit, &mut l.started).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_panic() => {
                errors.report(
                    &l.name,
                    format!(
                        "panicked while starting: {}",
                        panic_message(&*e.into_panic())
                    ),
                );
            }
            Ok(Err(_)) => errors.report(&l.name, "start was cancelled"),
            Err(_) => errors.report(&l.name, format!("did not start within {limit:?}")),
        }
    }
}

/// Stops one runtime once, bounded by its `stop_timeout`.
pub(crate) async fn stop_one(l: &Launched, errors: &ErrorSink) {
    let limit = l.config.stop_timeout;
    let Ok(mut guard) = tokio::time::timeout(limit, l.slot.lock()).await else {
        return errors.report(
            &l.name,
            format!("still starting after {limit:?}; not stopped"),
        );
    };
    let Some(mut runtime) = guard.take() else {
        return; // create failed or already stopped: nothing to stop
    };
    let stop = tokio::spawn(tracing::Instrument::instrument(
        async move { runtime.stop(StopReason::Shutdown).await },
        l.span.clone(),
    ));
    match tokio::time::timeout(limit, stop).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => errors.report(&l.name, format!("stop failed: {e}")),
        Ok(Err(e)) if e.is_panic() => {
            errors.report(
                &l.name,
                format!(
                    "panicked while stopping: {}",
                    panic_message(&*e.into_panic())
                ),
            );
        }
        Ok(Err(_)) => errors.report(&l.name, "stop was cancelled"),
        Err(_) => errors.report(&l.name, format!("did not stop within {limit:?}")),
    }
}

/// Stops every runtime (each once, in order), then closes their queues.
pub(crate) async fn stop_all(launched: &[Launched], errors: &ErrorSink) {
    for l in launched {
        stop_one(l, errors).await;
    }
    for l in launched {
        (l.close)();
    }
}
