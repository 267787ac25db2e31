//! A registered runtime before it runs: its initializer, configuration
//! and the handle's queues, type-erased ([`Registered`]) so that the
//! manager can launch it in this process or in the child.

use std::sync::Arc;

use tracing::Instrument;

use super::context::RuntimeContext;
use super::errors::ErrorSink;
use super::ipc::{ChildPart, ChildSide, IpcSink, ParentPart, ParentSide};
use super::launch::{Launched, Slot};
use super::recording;
use super::router::EventRouter;
use super::sink::DataSink;
use super::upkeep::{self, sample_depths};
use super::{RuntimeConfig, RuntimeInitializer};
use crate::data::RemoteDataAggregator;

use crate::proto;
use crate::queue::{OverflowPolicy, QueueConfig};

/// A registered initializer, type-erased.
pub(super) trait Registered: Send {
    fn name(&self) -> &str;
    fn config(&self) -> &RuntimeConfig;
    /// Launches the runtime in this process: its data goes to the handle.
    fn launch_local(
        self: Box<Self>,
        tokio: &tokio::runtime::Handle,
        errors: &ErrorSink,
    ) -> Launched;
    /// Launches the runtime in the child process: its data goes over IPC
    /// (as runtime `index`) to the parent, and the parent's events come in
    /// through the returned side.
    fn launch_in_child(
        self: Box<Self>,
        tokio: &tokio::runtime::Handle,
        errors: &ErrorSink,
        index: u32,
        tx: tokio::sync::mpsc::Sender<proto::ipc::Frame>,
    ) -> (Launched, Box<dyn ChildSide>);
    fn parent_part(
        &self,
        index: u32,
        tx: tokio::sync::mpsc::Sender<proto::ipc::Frame>,
        tokio: tokio::runtime::Handle,
    ) -> Arc<dyn ParentSide>;
    /// Registers the handle side's metrics (drops of the store and the
    /// event queues, their depths) under the runtime's name.
    /// `network_here`: the runtime runs in this process (its delivery
    /// counters are this process's to export).
    fn export_metrics(&self, tokio: &tokio::runtime::Handle, network_here: bool);
    /// Sweeps the handle's store every second until it closes, so callers
    /// that left are forgotten on time even when nothing arrives.
    fn sweep_departed(&self, tokio: &tokio::runtime::Handle);
    /// Starts the recording the configuration asks for, if any.
    #[cfg(feature = "record")]
    fn start_recording(
        &self,
        errors: &ErrorSink,
    ) -> Option<crate::error::Result<recording::Running>>;
}

pub(super) struct Pending<I: RuntimeInitializer> {
    pub(super) init: I,
    pub(super) name: String,
    pub(super) config: RuntimeConfig,
    pub(super) data: RemoteDataAggregator<I::Inbound>,
    pub(super) events: EventRouter<I::Outbound>,
    #[cfg_attr(not(feature = "record"), allow(dead_code))]
    pub(super) record: Option<recording::Plan>,
}

impl<I: RuntimeInitializer> Registered for Pending<I> {
    fn name(&self) -> &str {
        &self.name
    }

    fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    fn export_metrics(&self, tokio: &tokio::runtime::Handle, network_here: bool) {
        self.data.export_metrics(&self.name);
        self.events.export_metrics(&self.name);
        sample_depths(
            tokio,
            &self.name,
            Some(self.data.clone()),
            self.events.clone(),
            network_here,
        );
    }

    fn sweep_departed(&self, tokio: &tokio::runtime::Handle) {
        upkeep::sweep_departed(tokio, self.data.clone());
    }

    #[cfg(feature = "record")]
    fn start_recording(
        &self,
        errors: &ErrorSink,
    ) -> Option<crate::error::Result<recording::Running>> {
        let plan = self.record.as_ref()?;
        Some(recording::start(&self.name, plan, &self.data, errors))
    }

    fn parent_part(
        &self,
        index: u32,
        tx: tokio::sync::mpsc::Sender<proto::ipc::Frame>,
        tokio: tokio::runtime::Handle,
    ) -> Arc<dyn ParentSide> {
        Arc::new(ParentPart {
            name: self.name.clone(),
            index,
            data: self.data.clone(),
            events: self.events.clone(),
            tx,
            tokio,
            generations: Default::default(),
        })
    }

    fn launch_local(
        self: Box<Self>,
        tokio: &tokio::runtime::Handle,
        errors: &ErrorSink,
    ) -> Launched {
        let sink = DataSink::Local(self.data.clone());
        let events = self.events.clone();
        self.launch_with(tokio, errors, sink, events)
    }

    fn launch_in_child(
        self: Box<Self>,
        tokio: &tokio::runtime::Handle,
        errors: &ErrorSink,
        index: u32,
        tx: tokio::sync::mpsc::Sender<proto::ipc::Frame>,
    ) -> (Launched, Box<dyn ChildSide>) {
        // In the child, event queues block: back-pressure runs over the
        // socket to the parent's queue, where the configured policy
        // applies and every drop is counted in the handle's stats.
        let events = EventRouter::new(
            QueueConfig {
                policy: OverflowPolicy::Block,
                ..self.config.events
            },
            self.config.broadcast_wait,
        );
        events.export_metrics(&self.name);
        sample_depths::<I::Inbound, _>(tokio, &self.name, None, events.clone(), true);
        let child_side = Box::new(ChildPart {
            name: self.name.clone(),
            events: events.clone(),
        });
        let sink = DataSink::Ipc(IpcSink::new(index, tx));
        (self.launch_with(tokio, errors, sink, events), child_side)
    }
}

impl<I: RuntimeInitializer> Pending<I> {
    /// Creates and starts the runtime on `tokio` (a task; the result shows
    /// in [`Launched::started`]), its data going to `sink`, its events
    /// coming from `events`.
    fn launch_with(
        self,
        tokio: &tokio::runtime::Handle,
        errors: &ErrorSink,
        sink: DataSink<I::Inbound>,
        events: EventRouter<I::Outbound>,
    ) -> Launched {
        let Pending {
            mut init,
            name,
            config,
            data,
            events: _,
            record: _,
        } = self;
        let ctx = RuntimeContext {
            name: name.clone(),
            config: config.clone(),
            data: sink,
            events: events.clone(),
            errors: errors.clone(),
            tokio: tokio.clone(),
            registrations: Arc::default(),
            span: tracing::info_span!("runtime", name = %name),
            delivery: Arc::new(crate::delivery::Delivery::new(
                &name,
                config.delivery,
                events.delivery_counters(),
            )),
        };
        let span = ctx.span.clone();
        let ctx_span = span.clone();
        let slot: Slot = Arc::new(tokio::sync::Mutex::new(None));
        let task_slot = Arc::clone(&slot);
        let task_errors = errors.clone();
        let task_name = name.clone();
        let started = tokio.spawn(
            async move {
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
            }
            .instrument(span),
        );
        Launched {
            name,
            config,
            slot,
            started,
            span: ctx_span,
            close: Box::new(move || {
                data.close();
                events.close();
            }),
        }
    }
}
