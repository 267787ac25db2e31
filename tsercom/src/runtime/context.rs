//! The runtime's side: `RuntimeContext` and per-caller `Endpoint`s.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::RuntimeConfig;
use super::errors::{ErrorSink, panic_message};
use super::router::EventRouter;
use super::sink::DataSink;
use crate::caller_id::CallerId;
use crate::data::PeerInfo;
use crate::error::{Error, Result};
use crate::metrics::PeerMetrics;
use crate::queue::BoundedQueue;
use crate::time::{Estimate, Timestamp};

/// What a runtime gets from the manager: where to put data, where events
/// come from, and where failures go.
pub struct RuntimeContext<D, E> {
    pub(crate) name: String,
    pub(crate) config: RuntimeConfig,
    pub(crate) data: DataSink<D>,
    pub(crate) events: EventRouter<E>,
    pub(crate) errors: ErrorSink,
    pub(crate) tokio: tokio::runtime::Handle,
    /// Numbers each caller registration (see `ipc.Caller.generation`).
    pub(crate) registrations: Arc<AtomicU64>,
    /// `runtime{name}`: every log line of this runtime's tasks carries it.
    pub(crate) span: tracing::Span,
    /// Numbered, acknowledged delivery: an outbox per peer it sends to, an
    /// inbox per peer it receives from.
    pub(crate) delivery: Arc<crate::delivery::Delivery<E>>,
}

impl<D, E> Clone for RuntimeContext<D, E> {
    fn clone(&self) -> Self {
        RuntimeContext {
            name: self.name.clone(),
            config: self.config.clone(),
            data: self.data.clone(),
            events: self.events.clone(),
            errors: self.errors.clone(),
            tokio: self.tokio.clone(),
            registrations: Arc::clone(&self.registrations),
            span: self.span.clone(),
            delivery: Arc::clone(&self.delivery),
        }
    }
}

impl<D, E> std::fmt::Debug for RuntimeContext<D, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeContext")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl<D, E: Clone + Send + Sync + 'static> RuntimeContext<D, E> {
    /// An in-process context storing into `store`, with default settings
    /// (tests of what runs on a context: read loops, stores).
    pub(crate) fn for_test(store: crate::data::RemoteDataAggregator<D>) -> Self {
        let config = RuntimeConfig::default();
        let events = EventRouter::new(config.events, config.broadcast_wait);
        let delivery = Arc::new(crate::delivery::Delivery::new(
            "test",
            config.delivery,
            events.delivery_counters(),
        ));
        RuntimeContext {
            name: "test".into(),
            config,
            data: DataSink::Local(store),
            events,
            errors: ErrorSink::default(),
            tokio: tokio::runtime::Handle::current(),
            registrations: Arc::default(),
            span: tracing::Span::none(),
            delivery,
        }
    }
}

impl<D: prost::Message + Clone + 'static, E: Clone + Send + Sync + 'static> RuntimeContext<D, E> {
    /// The runtime's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The runtime's span, `runtime{name}`: tasks spawned with
    /// [`spawn`](Self::spawn) run in it, and a runtime's own tasks and
    /// per-peer spans should too, so that every log line names the
    /// runtime it comes from.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Registers a caller (a connected peer). Registering an id again (a
    /// reconnect) continues its series; events still queued for the
    /// previous endpoint go first on the new one.
    pub fn register_caller(&self, caller: CallerId, peer: Option<String>) -> Endpoint<D, E> {
        let generation = self.registrations.fetch_add(1, Ordering::Relaxed) + 1;
        // The caller's queue first: once the caller is visible (in
        // `callers()`, to a user waiting for it) what is sent to all goes
        // to it, not to the bounded queue kept for when nobody is
        // connected.
        let (events, history) = self.events.register_with_history(caller);
        self.data.register(caller, peer, generation);
        let metrics = Arc::new(PeerMetrics::new(&self.name, self.config.role, &caller));
        metrics.connected(true);
        Endpoint {
            caller,
            generation,
            metrics,
            shown_up: AtomicBool::new(true),
            data: self.data.clone(),
            router: self.events.clone(),
            events,
            deregistered: AtomicBool::new(false),
            reason: Mutex::new(None),
            history: AtomicU64::new(history),
        }
    }

    /// Spawns a task on the runtime's threads; an error it returns or a
    /// panic surfaces on the manager with this runtime's name.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        let join = self
            .tokio
            .spawn(tracing::Instrument::instrument(task, self.span.clone()));
        let errors = self.errors.clone();
        let name = self.name.clone();
        self.tokio.spawn(async move {
            match join.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.report_error(&name, e),
                Err(e) if e.is_panic() => {
                    errors.report(
                        &name,
                        format!("task panicked: {}", panic_message(&*e.into_panic())),
                    );
                }
                Err(_) => {} // cancelled at shutdown
            }
        });
    }

    /// Shows where this runtime listens on its handle
    /// ([`listening`](crate::RuntimeHandle::listening)): the bound
    /// addresses, real ports included.
    pub fn report_listening(&self, addrs: &[std::net::SocketAddr]) {
        self.data.listening(addrs.to_vec());
    }

    /// Counts a connection of another process that claimed `caller`'s id
    /// while `caller` held it (refused `ALREADY_EXISTS`): shown in
    /// [`CallerInfo::duplicates_refused`](crate::data::CallerInfo::duplicates_refused).
    pub fn duplicate_refused(&self, caller: crate::caller_id::CallerId) {
        self.data.duplicate_refused(caller);
    }

    /// Shows a dialed peer's state on the handle
    /// ([`peers`](crate::data::RemoteDataAggregator::peers)).
    pub fn report_peer(&self, info: PeerInfo) {
        let target = info.target.clone();
        self.data.peer(Some(info), &target);
    }

    /// Removes a dialed peer from the handle's view (discovery removed it).
    pub fn forget_peer(&self, target: &str) {
        self.data.peer(None, target);
    }

    /// Reports a failure without ending anything: the user gets it on
    /// `check_error()` as [`Error::Runtime`] with `error` as its source.
    pub fn report_error(&self, error: Error) {
        self.errors.report_error(&self.name, error);
    }
}

/// One registered caller, on the runtime's side: push its data, receive the
/// events addressed to it (broadcasts included) in order. Dropping it
/// deregisters the caller.
pub struct Endpoint<D: prost::Message, E> {
    caller: CallerId,
    generation: u64,
    /// This peer's metric handles (registered once per endpoint).
    metrics: Arc<PeerMetrics>,
    /// Whether `tsercom_peer_connected` counts this endpoint now.
    shown_up: AtomicBool,
    data: DataSink<D>,
    router: EventRouter<E>,
    events: Arc<BoundedQueue<E>>,
    deregistered: AtomicBool,
    /// Why the connection ended, when the runtime said
    /// ([`disconnected_because`](Self::disconnected_because)).
    reason: Mutex<Option<String>>,
    /// History items queued first for this caller (a newcomer), until a
    /// stream announces them.
    history: AtomicU64,
}

impl<D: prost::Message, E> std::fmt::Debug for Endpoint<D, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl<D: prost::Message, E> Endpoint<D, E> {
    /// The caller's id.
    pub fn caller_id(&self) -> CallerId {
        self.caller
    }

    /// Delivers one sample to the handle under the data overflow policy
    /// (`Block` waits until the user takes data).
    ///
    /// # Errors
    /// [`Error::QueueFull`] under the `Error` policy, [`Error::Closed`]
    /// after shutdown.
    pub async fn push(&self, data: D, timestamp: Timestamp) -> Result<()> {
        let size = data.encoded_len();
        self.metrics.received(size);
        self.data.push(self.caller, timestamp, data, size).await
    }

    /// Delivers `batch` (time, data, encoded size) in order, as
    /// [`push`](Self::push) would one by one, under one lock of the store
    /// for as many as there is room for; `batch` is left empty. `progress`
    /// hears how many are delivered so far before any wait for room.
    /// Returns how many were delivered (or dropped by the policy) and the
    /// error that stopped the rest: the sample at that index was not
    /// stored, those after it were not handled. The caller counts them in
    /// the peer's metrics (it knows which were handled).
    pub(crate) async fn push_batch(
        &self,
        batch: &mut Vec<(Timestamp, D, usize)>,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> (usize, Result<()>) {
        self.data.push_batch(self.caller, batch, progress).await
    }

    /// Counts one of this caller's samples as refused (e.g. its timestamp
    /// was out of range): shown in `DataStats::refused`.
    pub fn refuse(&self) {
        self.metrics.invalid_timestamp();
        self.data.refused(self.caller);
    }

    /// Counts one of this caller's messages as malformed (it did not
    /// decode, or was over the size limit; its stream is closed): shown in
    /// `DataStats::refused` and `tsercom_samples_dropped_total{reason =
    /// "malformed"}`.
    pub fn refuse_malformed(&self) {
        self.metrics.malformed();
        self.data.refused(self.caller);
    }

    /// The next event for this caller, in the order sent; `None` once the
    /// runtime shuts down or the caller is deregistered.
    pub async fn next_event(&self) -> Option<E> {
        self.events.pop().await
    }

    /// Reports this caller's clock relative to ours (its offset and the
    /// round trip it was measured with): shown on the handle in
    /// [`CallerInfo::clock`](crate::data::CallerInfo::clock).
    pub fn report_clock(&self, estimate: Estimate) {
        self.metrics.clock(&estimate);
        self.data.set_clock(self.caller, estimate);
    }

    /// Records the runtime name the peer gave: shown in
    /// [`CallerInfo::name`](crate::data::CallerInfo::name) and written to
    /// recordings.
    pub fn set_peer_name(&self, name: impl Into<String>) {
        self.data.set_name(self.caller, name.into());
    }

    /// Records where the caller is now (after a reconnection, perhaps
    /// elsewhere): shown in [`CallerInfo::peer`](crate::data::CallerInfo::peer).
    pub fn set_peer_addr(&self, addr: impl Into<String>) {
        self.shown(true);
        self.data.set_state(
            self.caller,
            true,
            Some(addr.into()),
            self.generation,
            String::new(),
        );
    }

    /// Shows the caller `Disconnected` on the handle while keeping this
    /// endpoint (its queued items wait for the next connection);
    /// [`set_peer_addr`](Self::set_peer_addr) shows it connected again.
    pub fn set_disconnected(&self) {
        self.shown(false);
        let reason = self.take_reason();
        self.data
            .set_state(self.caller, false, None, self.generation, reason);
    }

    /// Records why the caller's connection ended: shown in
    /// [`ConnectionState::Disconnected`](crate::data::ConnectionState::Disconnected)
    /// when it is next shown disconnected (or deregistered).
    pub fn disconnected_because(&self, reason: impl Into<String>) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason.into());
    }

    /// Moves `tsercom_peer_connected` once per change.
    fn shown(&self, up: bool) {
        if self.shown_up.swap(up, Ordering::AcqRel) != up {
            self.metrics.connected(up);
        }
    }

    /// This peer's metric handles (for what the runtime sends it).
    pub(crate) fn metrics(&self) -> Arc<PeerMetrics> {
        Arc::clone(&self.metrics)
    }

    fn take_reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| "the connection ended".to_owned())
    }

    /// How many of the first items queued for this caller are history
    /// (sent to all before it connected), for the first stream to announce
    /// (`tsercom-history`); 0 afterwards.
    pub(crate) fn take_history(&self) -> u64 {
        self.history.swap(0, Ordering::AcqRel)
    }

    /// The caller's event queue (to stream it: [`QueueStream`](crate::queue::QueueStream)).
    pub(crate) fn event_queue(&self) -> Arc<BoundedQueue<E>> {
        Arc::clone(&self.events)
    }

    /// An event if one is queued, without waiting.
    pub fn try_next_event(&self) -> Option<E> {
        self.events.try_pop()
    }

    /// Deregisters the caller: no more events; its data stays readable until
    /// read and past retention.
    pub fn deregister(self) {
        drop(self);
    }
}

impl<D: prost::Message, E> Drop for Endpoint<D, E> {
    fn drop(&mut self) {
        self.shown(false);
        if !self.deregistered.swap(true, Ordering::AcqRel) {
            let reason = self.take_reason();
            self.data.deregister(self.caller, self.generation, reason);
            self.router.deregister(self.caller, &self.events);
        }
    }
}
