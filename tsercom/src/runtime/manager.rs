//! `RuntimeManager`: registers runtimes, runs them on their own threads,
//! surfaces their failures, stops them once.

use std::ffi::OsString;
use std::future::Future;
use std::time::Duration;

use super::RuntimeInitializer;
use super::errors::ErrorSink;
use super::handle::{FromRuntimeHandle, RuntimeHandle};
use super::ipc::{self, ParentPlan, ParentProcess};
use super::launch::{self, Launched};
use super::pending::{Pending, Registered};
use super::recording;
use super::router::EventRouter;
use crate::data::RemoteDataAggregator;
use crate::error::{Error, Result};

/// Serves this process's metrics at `TSERCOM_METRICS_ADDR` when it is set
/// (feature `prometheus`; without it the variable is named in a warning).
/// A failure to bind is not fatal (the runtimes run regardless): it is
/// logged and, when `errors` is given, reported on `check_error()`.
#[cfg_attr(not(feature = "prometheus"), allow(unused_variables))]
fn serve_metrics_from_env(errors: Option<&ErrorSink>) {
    #[cfg(feature = "prometheus")]
    if let Err(e) = crate::metrics::serve_from_env()
        && let Some(errors) = errors
    {
        errors.report(
            "metrics endpoint",
            format!("cannot serve at {}: {e}", crate::metrics::ADDR_ENV),
        );
    }
    #[cfg(not(feature = "prometheus"))]
    if std::env::var_os(crate::metrics::ADDR_ENV).is_some() {
        tracing::warn!(
            "{} is set but tsercom was built without its `prometheus` feature: no metrics endpoint",
            crate::metrics::ADDR_ENV
        );
    }
}

enum Phase {
    Idle,
    Running(tokio::runtime::Runtime),
    Stopped,
}

/// The environment variable that tells a re-executed program it is the
/// runtime child of `start_out_of_process` (set by the parent).
pub const CHILD_SOCKET_ENV: &str = ipc::SOCKET_ENV;

/// Registers runtimes, starts them on their own threads, surfaces their
/// errors, and stops each exactly once.
///
/// ```no_run
/// # use tsercom::runtime::RuntimeInitializer;
/// # fn demo<I>(init: I) -> tsercom::Result<()>
/// # where I: RuntimeInitializer<Handle = tsercom::RuntimeHandle<f64, f64>, Inbound = f64, Outbound = f64> {
/// let mut manager = tsercom::RuntimeManager::new();
/// let handle = manager.register(init)?;
/// manager.start_in_process()?;
/// loop {
///     for (caller, samples) in handle.received().take_new() { /* ... */ }
///     manager.check_error()?;
/// #   break;
/// }
/// manager.shutdown()
/// # }
/// ```
pub struct RuntimeManager {
    pending: Vec<Box<dyn Registered>>,
    launched: Vec<Launched>,
    parent: Option<ParentProcess>,
    phase: Phase,
    errors: ErrorSink,
    worker_threads: usize,
    child_args: Option<Vec<OsString>>,
    child_env: Vec<(OsString, OsString)>,
    /// Recordings started from the runtimes' configurations.
    #[cfg(feature = "record")]
    recordings: Vec<recording::Running>,
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
            parent: None,
            phase: Phase::Idle,
            errors: ErrorSink::default(),
            worker_threads: 2,
            child_args: None,
            child_env: Vec::new(),
            #[cfg(feature = "record")]
            recordings: Vec::new(),
        }
    }

    /// Threads of the runtimes' tokio runtime (default 2).
    pub fn with_worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// The arguments the child process of
    /// [`start_out_of_process`](Self::start_out_of_process) is started with
    /// (default: this process's own arguments). The child runs the program
    /// again up to `start_out_of_process`, so they must lead it there, e.g.
    /// a test harness filter naming the current test.
    pub fn with_child_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.child_args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Sets an environment variable for the child process only (e.g. a
    /// setting the parent chose at run time, which the child's re-run of
    /// `main` must see to register identical runtimes).
    pub fn with_child_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.child_env.push((key.into(), value.into()));
        self
    }

    /// The child's process id, while running out of process.
    pub fn child_pid(&self) -> Option<u32> {
        self.parent.as_ref().map(|p| p.pid)
    }

    /// Registers a runtime; returns the user's handle to it.
    ///
    /// # Errors
    /// [`Error::WrongState`] once the manager has started;
    /// [`Error::Invalid`] for a malformed discovery setting.
    pub fn register<I: RuntimeInitializer>(&mut self, init: I) -> Result<I::Handle> {
        if !matches!(self.phase, Phase::Idle) {
            return Err(Error::WrongState(
                "register() after start: register every runtime before starting the manager",
            ));
        }
        let name = init.name();
        let config = init.config()?;
        config.discovery.validate()?;
        let record = recording::plan(&name, &config, init.inbound_descriptor())?;
        let data = RemoteDataAggregator::new(config.retention, config.data_policy);
        data.set_forgetting(config.forgetting);
        data.set_equal_timestamps(config.equal_timestamps);
        data.set_memory_limits(config.memory, <I::Inbound as prost::Message>::encoded_len);
        let events =
            EventRouter::for_delivery(config.events, config.broadcast_wait, &config.delivery);
        let handle = I::Handle::from_runtime_handle(RuntimeHandle {
            name: name.clone(),
            inbound: data.clone(),
            outbound: events.clone(),
        });
        self.pending.push(Box::new(Pending {
            init,
            name,
            config,
            data,
            events,
            record,
        }));
        Ok(handle)
    }

    /// Starts every registered runtime on a dedicated tokio runtime (its own
    /// threads) and waits until each has been created and started (or has
    /// failed, or its `start_timeout` passed). Failures do not make this
    /// fail: they surface on [`check_error`](Self::check_error).
    ///
    /// # Errors
    /// [`Error::WrongState`] when already started; [`Error::Thread`] when
    /// the threads cannot be created.
    pub fn start_in_process(&mut self) -> Result<()> {
        if !matches!(self.phase, Phase::Idle) {
            return Err(Error::WrongState("the manager was already started"));
        }
        serve_metrics_from_env(Some(&self.errors));
        let runtime = self.build_runtime()?;
        let handle = runtime.handle().clone();
        for p in &self.pending {
            p.export_metrics(&handle, true);
            p.sweep_departed(&handle);
        }
        self.start_recordings();
        self.launched = self
            .pending
            .drain(..)
            .map(|p| p.launch_local(&handle, &self.errors))
            .collect();
        self.phase = Phase::Running(runtime);
        let (launched, errors) = (&mut self.launched, &self.errors);
        block_outside(&handle, launch::wait_started(launched, errors));
        Ok(())
    }

    /// Starts every registered runtime in a child process: this
    /// executable, run again with [`with_child_args`](Self::with_child_args)
    /// (default: the same arguments). The child runs the program up to this
    /// call, which there builds the runtimes, serves the parent over a
    /// Unix-domain socket, and exits the child process when the parent
    /// shuts down — it never returns in the child. The handles work exactly
    /// as in process. Returns once the child has started its runtimes (or
    /// failed; failures surface on [`check_error`](Self::check_error)).
    ///
    /// # Errors
    /// [`Error::WrongState`] when already started; [`Error::Thread`] when
    /// the threads cannot be created; [`Error::Io`] (the socket file),
    /// [`Error::Ipc`] (the executable, the socket), [`Error::ChildExited`],
    /// [`Error::Timeout`] or [`Error::Protocol`] when the child cannot be
    /// started or connected; [`Error::Invalid`] when it registered
    /// different runtimes.
    pub fn start_out_of_process(&mut self) -> Result<()> {
        if !matches!(self.phase, Phase::Idle) {
            return Err(Error::WrongState("the manager was already started"));
        }
        if let Some(socket) = std::env::var_os(ipc::SOCKET_ENV) {
            // We are the child: become the runtime process (its endpoint's
            // failure is logged there; the parent's sink is not reachable
            // yet).
            serve_metrics_from_env(None);
            let names = self.pending.iter().map(|p| p.name().to_owned()).collect();
            let pending = std::mem::take(&mut self.pending);
            let launch: ipc::ChildLaunch = Box::new(move |tokio, errors, tx| {
                pending
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let index = u32::try_from(i).unwrap_or(u32::MAX);
                        p.launch_in_child(tokio, errors, index, tx.clone())
                    })
                    .unzip()
            });
            ipc::run_child(socket.into(), names, launch, self.worker_threads);
        }
        serve_metrics_from_env(Some(&self.errors));
        let runtime = self.build_runtime()?;
        let handle = runtime.handle().clone();
        for p in &self.pending {
            p.export_metrics(&handle, false);
            p.sweep_departed(&handle);
        }
        self.start_recordings();
        let start_budget = self
            .pending
            .iter()
            .map(|p| p.config().start_timeout)
            .max()
            .unwrap_or_default()
            + Duration::from_secs(10);
        let stop_budget = self
            .pending
            .iter()
            .map(|p| p.config().stop_timeout)
            .sum::<Duration>()
            + Duration::from_secs(5);
        let names: Vec<String> = self.pending.iter().map(|p| p.name().to_owned()).collect();
        let pending = std::mem::take(&mut self.pending);
        let plan = ParentPlan {
            names,
            make_parts: Box::new(move |tx, tokio| {
                pending
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        p.parent_part(
                            u32::try_from(i).unwrap_or(u32::MAX),
                            tx.clone(),
                            tokio.clone(),
                        )
                    })
                    .collect()
            }),
            start_budget,
            stop_budget,
        };
        let args = self
            .child_args
            .clone()
            .unwrap_or_else(|| std::env::args_os().skip(1).collect());
        let errors = self.errors.clone();
        let mut started = None;
        block_outside(&handle, async {
            started = Some(ipc::start_parent(plan, args, &self.child_env, errors).await);
        });
        self.phase = Phase::Running(runtime);
        match started {
            Some(Ok(parent)) => {
                self.parent = Some(parent);
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::WrongState("the child process could not be started")),
        }
    }

    /// Starts the recordings the configurations ask for, on this (the
    /// handles') side; one that cannot start is reported on
    /// [`check_error`](Self::check_error) and the others go on.
    fn start_recordings(&mut self) {
        #[cfg(feature = "record")]
        for p in &self.pending {
            match p.start_recording(&self.errors) {
                Some(Ok(running)) => self.recordings.push(running),
                Some(Err(e)) => self.errors.report_error(p.name(), e),
                None => {}
            }
        }
    }

    /// The counters of each recording started from a runtime's
    /// configuration ([`RuntimeConfig::record`](super::RuntimeConfig::record)), by runtime name; empty
    /// once shut down (the files are then finished).
    #[cfg(feature = "record")]
    pub fn recordings(&self) -> Vec<(String, crate::record::RecordStats)> {
        self.recordings
            .iter()
            .map(|r| (r.runtime.clone(), r.stats()))
            .collect()
    }

    fn build_runtime(&self) -> Result<tokio::runtime::Runtime> {
        launch::tokio_runtime(self.worker_threads)
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

    /// As [`run_until_error`](Self::run_until_error), waiting at most
    /// `timeout`: `None` when no runtime failed meanwhile.
    pub fn wait_error(&self, timeout: std::time::Duration) -> Option<Error> {
        let errors = self.errors.wait_for(timeout);
        (!errors.is_empty()).then(|| Error::Runtimes(errors))
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
        let parent = self.parent.take();
        block_outside(&handle, async move {
            if let Some(parent) = parent {
                ipc::shutdown_parent(parent, &errors).await;
            }
            launch::stop_all(&launched, &errors).await;
        });
        // The runtimes stopped: everything they delivered is in the files.
        #[cfg(feature = "record")]
        for running in std::mem::take(&mut self.recordings) {
            running.finish(&self.errors);
        }
        // Dropping a tokio runtime must happen outside any async context.
        std::thread::scope(|s| {
            s.spawn(move || runtime.shutdown_timeout(Duration::from_secs(5)));
        });
        self.check_error()
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
