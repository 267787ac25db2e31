//! `RuntimeManager`: registers runtimes, runs them on their own threads,
//! surfaces their failures, stops them once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::context::{EventRouter, RuntimeContext};
use super::errors::{ErrorSink, panic_message};
use super::handle::RuntimeHandle;
use super::{Runtime, RuntimeConfig, RuntimeInitializer, StopReason};
use crate::data::RemoteDataAggregator;
use crate::error::{Error, Result};

type Slot = Arc<tokio::sync::Mutex<Option<Box<dyn Runtime>>>>;

/// A registered initializer, type-erased.
trait Registered: Send {
    fn launch(self: Box<Self>, tokio: &tokio::runtime::Handle, errors: &ErrorSink) -> Launched;
}

struct Pending<I: RuntimeInitializer> {
    init: I,
    name: String,
    config: RuntimeConfig,
    data: RemoteDataAggregator<I::Data>,
    events: EventRouter<I::Event>,
}

/// A runtime handed to the tokio runtime.
struct Launched {
    name: String,
    config: RuntimeConfig,
    slot: Slot,
    started: tokio::task::JoinHandle<()>,
    close: Box<dyn Fn() + Send + Sync>,
}

impl<I: RuntimeInitializer> Registered for Pending<I> {
    fn launch(self: Box<Self>, tokio: &tokio::runtime::Handle, errors: &ErrorSink) -> Launched {
        let Pending {
            mut init,
            name,
            config,
            data,
            events,
        } = *self;
        let ctx = RuntimeContext {
            name: name.clone(),
            config: config.clone(),
            data: data.clone(),
            events: events.clone(),
            errors: errors.clone(),
            tokio: tokio.clone(),
        };
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(None));
        let task_slot = Arc::clone(&slot);
        let task_errors = errors.clone();
        let task_name = name.clone();
        let started = tokio.spawn(async move {
            let mut guard = task_slot.lock().await;
            let mut runtime = match init.create(ctx) {
                Ok(runtime) => runtime,
                Err(e) => return task_errors.report(&task_name, format!("create failed: {e}")),
            };
            if let Err(e) = runtime.start().await {
                task_errors.report(&task_name, format!("start failed: {e}"));
            }
            // Kept even after a failed start, so that `stop` can clean up.
            *guard = Some(runtime);
        });
        Launched {
            name,
            config,
            slot,
            started,
            close: Box::new(move || {
                data.close();
                events.close();
            }),
        }
    }
}

enum Phase {
    Idle,
    Running(tokio::runtime::Runtime),
    Stopped,
}

/// Registers runtimes, starts them on their own threads, surfaces their
/// errors, and stops each exactly once.
///
/// ```no_run
/// # fn demo<I: tsercom::runtime::RuntimeInitializer>(init: I) -> tsercom::Result<()> {
/// let mut manager = tsercom::RuntimeManager::new();
/// let handle = manager.register(init)?;
/// manager.start_in_process()?;
/// loop {
///     for (caller, samples) in handle.data().take_new() { /* ... */ }
///     manager.check_error()?;
/// #   break;
/// }
/// manager.shutdown()
/// # }
/// ```
pub struct RuntimeManager {
    pending: Vec<Box<dyn Registered>>,
    launched: Vec<Launched>,
    phase: Phase,
    errors: ErrorSink,
    worker_threads: usize,
}

impl std::fmt::Debug for RuntimeManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match self.phase {
            Phase::Idle => "idle",
            Phase::Running(_) => "running",
            Phase::Stopped => "stopped",
        };
        f.debug_struct("RuntimeManager")
            .field("phase", &phase)
            .field("registered", &(self.pending.len() + self.launched.len()))
            .finish()
    }
}

impl Default for RuntimeManager {
    fn default() -> Self {
        Self::new()
    }
}

impl RuntimeManager {
    /// A manager with nothing registered.
    pub fn new() -> Self {
        RuntimeManager {
            pending: Vec::new(),
            launched: Vec::new(),
            phase: Phase::Idle,
            errors: ErrorSink::default(),
            worker_threads: 2,
        }
    }

    /// Threads of the runtimes' tokio runtime (default 2).
    pub fn with_worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// Registers a runtime; returns the user's handle to it.
    ///
    /// # Errors
    /// [`Error::WrongState`] once the manager has started.
    pub fn register<I: RuntimeInitializer>(
        &mut self,
        init: I,
    ) -> Result<RuntimeHandle<I::Data, I::Event>> {
        if !matches!(self.phase, Phase::Idle) {
            return Err(Error::WrongState(
                "register() after start: register every runtime before starting the manager",
            ));
        }
        let name = init.name();
        let config = init.config();
        let data = RemoteDataAggregator::new(config.retention, config.data_policy);
        let events = EventRouter::new(config.events);
        let handle = RuntimeHandle {
            name: name.clone(),
            data: data.clone(),
            events: events.clone(),
        };
        self.pending.push(Box::new(Pending {
            init,
            name,
            config,
            data,
            events,
        }));
        Ok(handle)
    }

    /// Starts every registered runtime on a dedicated tokio runtime (its own
    /// threads) and waits until each has been created and started (or has
    /// failed, or its `start_timeout` passed). Failures do not make this
    /// fail: they surface on [`check_error`](Self::check_error).
    ///
    /// # Errors
    /// [`Error::WrongState`] when already started; [`Error::Io`] when the
    /// threads cannot be created.
    pub fn start_in_process(&mut self) -> Result<()> {
        if !matches!(self.phase, Phase::Idle) {
            return Err(Error::WrongState("the manager was already started"));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads)
            .thread_name("tsercom-runtime")
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                path: "tokio runtime".into(),
                source,
            })?;
        let handle = runtime.handle().clone();
        self.launched = self
            .pending
            .drain(..)
            .map(|p| p.launch(&handle, &self.errors))
            .collect();
        self.phase = Phase::Running(runtime);

        let errors = self.errors.clone();
        let waits: Vec<_> = self
            .launched
            .iter_mut()
            .map(|l| (l.name.clone(), l.config.start_timeout, &mut l.started))
            .collect();
        block_outside(&handle, async move {
            for (name, limit, started) in waits {
                match tokio::time::timeout(limit, started).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if e.is_panic() => {
                        errors.report(
                            &name,
                            format!(
                                "panicked while starting: {}",
                                panic_message(&*e.into_panic())
                            ),
                        );
                    }
                    Ok(Err(_)) => errors.report(&name, "start was cancelled"),
                    Err(_) => errors.report(&name, format!("did not start within {limit:?}")),
                }
            }
        });
        Ok(())
    }

    /// Every runtime failure since the last call, without waiting.
    ///
    /// # Errors
    /// [`Error::Runtimes`] with each failure (each an [`Error::Runtime`]
    /// naming its runtime).
    pub fn check_error(&self) -> Result<()> {
        let errors = self.errors.take();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Runtimes(errors))
        }
    }

    /// Blocks until a runtime fails; returns every failure so far as
    /// [`Error::Runtimes`].
    pub fn run_until_error(&self) -> Error {
        Error::Runtimes(self.errors.wait())
    }

    /// Stops every runtime (each `stop` runs once, bounded by its
    /// `stop_timeout`; data pushed during `stop` still reaches the handles),
    /// closes the handles' queues, and ends the threads. Idempotent; also
    /// done on drop.
    ///
    /// # Errors
    /// [`Error::Runtimes`] with any failure not yet seen by
    /// [`check_error`](Self::check_error), stop failures included.
    pub fn shutdown(&mut self) -> Result<()> {
        let phase = std::mem::replace(&mut self.phase, Phase::Stopped);
        let Phase::Running(runtime) = phase else {
            return self.check_error();
        };
        let handle = runtime.handle().clone();
        let launched = std::mem::take(&mut self.launched);
        let errors = self.errors.clone();
        block_outside(&handle, async move {
            for l in &launched {
                stop_one(l, &errors).await;
            }
            for l in &launched {
                (l.close)();
            }
        });
        // Dropping a tokio runtime must happen outside any async context.
        std::thread::scope(|s| {
            s.spawn(move || runtime.shutdown_timeout(Duration::from_secs(5)));
        });
        self.check_error()
    }
}

async fn stop_one(l: &Launched, errors: &ErrorSink) {
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
    let stop = tokio::spawn(async move { runtime.stop(StopReason::Shutdown).await });
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

/// Runs `fut` to completion on `handle` from a fresh thread, so it works
/// whether or not the caller is itself inside an async context.
fn block_outside<F>(handle: &tokio::runtime::Handle, fut: F)
where
    F: Future<Output = ()> + Send,
{
    std::thread::scope(|s| {
        s.spawn(|| handle.block_on(fut));
    });
}

impl Drop for RuntimeManager {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(error = %e, "errors while shutting down tsercom runtimes on drop");
        }
    }
}
