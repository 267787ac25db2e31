//! The runtime's side: `RuntimeContext` and per-caller `Endpoint`s.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::RuntimeConfig;
use super::errors::{ErrorSink, panic_message};
use crate::caller_id::CallerId;
use crate::data::{PeerInfo, PeerState, RemoteDataAggregator};
use crate::error::{Error, Result};
use crate::proto::ipc;
use crate::queue::{BoundedQueue, OverflowPolicy, QueueConfig, QueueStats};
use crate::time::{Estimate, Timestamp};

/// Per-caller event queues; shared by the handle (which sends) and the
/// endpoints (which receive).
pub(crate) struct EventRouter<E> {
    inner: Arc<RouterInner<E>>,
}

struct RouterInner<E> {
    queues: Mutex<HashMap<CallerId, Arc<BoundedQueue<E>>>>,
    /// What is sent to all while nobody is connected: kept (bounded,
    /// drop-oldest, counted) and handed to the first caller to register.
    waiting: BoundedQueue<E>,
    has_waiting: AtomicBool,
    /// How long a broadcast under `Block` waits for each peer's room (then
    /// that peer's copy is dropped, counted, and the peer is skipped until
    /// it catches up).
    broadcast_wait: std::time::Duration,
    config: QueueConfig,
    closed: AtomicBool,
    // Totals of queues already removed, so stats survive deregistration.
    retired_pushed: AtomicU64,
    retired_dropped: AtomicU64,
}

impl<E> Clone for EventRouter<E> {
    fn clone(&self) -> Self {
        EventRouter {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> std::fmt::Debug for EventRouter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRouter")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl<E> EventRouter<E> {
    pub(crate) fn new(config: QueueConfig, broadcast_wait: std::time::Duration) -> Self {
        EventRouter {
            inner: Arc::new(RouterInner {
                queues: Mutex::new(HashMap::new()),
                waiting: BoundedQueue::new(
                    "sent while no peer was connected",
                    QueueConfig {
                        capacity: config.capacity,
                        policy: OverflowPolicy::DropOldest,
                    },
                ),
                has_waiting: AtomicBool::new(false),
                broadcast_wait,
                config,
                closed: AtomicBool::new(false),
                retired_pushed: AtomicU64::new(0),
                retired_dropped: AtomicU64::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CallerId, Arc<BoundedQueue<E>>>> {
        self.inner.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn register(&self, caller: CallerId) -> Arc<BoundedQueue<E>> {
        let queue = Arc::new(BoundedQueue::new(
            format!("events to {caller}"),
            self.inner.config,
        ));
        let old = self.lock().get(&caller).cloned();
        let mut moved = 0;
        if let Some(old) = &old {
            // The same caller again (a reconnect): what its previous queue
            // still held goes first, then what waited for a peer.
            old.close();
            let mut left = Vec::new();
            while let Some(item) = old.try_pop() {
                left.push(item);
            }
            moved = left.len() as u64;
            if !left.is_empty() {
                let _ = queue.push_many_blocking(left);
            }
        }
        self.hand_over_waiting(&queue);
        let replaced = self.lock().insert(caller, Arc::clone(&queue));
        if let Some(old) = replaced {
            self.retire(&old);
        }
        // Moved items count as pushed once (by the new queue).
        self.inner
            .retired_pushed
            .fetch_sub(moved, Ordering::Relaxed);
        queue
    }

    /// Moves what was sent while nobody was connected into `queue`, in
    /// order.
    fn hand_over_waiting(&self, queue: &BoundedQueue<E>) {
        if !self.inner.has_waiting.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut items = Vec::new();
        while let Some(item) = self.inner.waiting.try_pop() {
            items.push(item);
        }
        if !items.is_empty() {
            // A new queue has the room (same capacity); an old one applies
            // its policy, counted.
            let _ = queue.push_many_blocking(items);
        }
    }

    /// Keeps `items` (sent to all) until a caller registers.
    fn keep_waiting(&self, items: Vec<E>) -> Result<()> {
        let n = items.len();
        self.inner.waiting.push_many_blocking(items)?;
        self.inner.has_waiting.store(true, Ordering::Release);
        if n > 0 {
            tracing::trace!(n, "sent while no peer is connected: kept for the first one");
        }
        // A caller may have registered meanwhile: hand it over now.
        let first = self.lock().values().next().cloned();
        if let Some(queue) = first {
            self.hand_over_waiting(&queue);
        }
        Ok(())
    }

    /// Closes a caller's queue. What it still held is not lost silently:
    /// with no other caller left it waits for the next one (a producer's
    /// aggregator reconnecting gets it), else it is counted as dropped.
    fn retire(&self, queue: &BoundedQueue<E>) {
        queue.close();
        let mut left = Vec::new();
        while let Some(item) = queue.try_pop() {
            left.push(item);
        }
        let stats = queue.stats();
        self.inner
            .retired_pushed
            .fetch_add(stats.pushed, Ordering::Relaxed);
        self.inner
            .retired_dropped
            .fetch_add(stats.dropped, Ordering::Relaxed);
        if left.is_empty() {
            return;
        }
        let alone = self.lock().is_empty() && !self.inner.closed.load(Ordering::Acquire);
        if alone {
            // Counted as pushed again when handed over.
            self.inner
                .retired_pushed
                .fetch_sub(left.len() as u64, Ordering::Relaxed);
            let _ = self.keep_waiting(left);
        } else {
            tracing::warn!(
                lost = left.len(),
                "items queued for a caller that left were dropped (counted)"
            );
            self.inner
                .retired_dropped
                .fetch_add(left.len() as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn deregister(&self, caller: CallerId, queue: &Arc<BoundedQueue<E>>) {
        let mut queues = self.lock();
        // Only if it is still this endpoint's queue (not a newer registration).
        if queues.get(&caller).is_some_and(|q| Arc::ptr_eq(q, queue)) {
            queues.remove(&caller);
            drop(queues);
            self.retire(queue);
        }
    }

    /// Sends `event` to one caller or all; under `Block` waits for room.
    pub(crate) fn send(&self, event: E, to: super::To) -> Result<()>
    where
        E: Clone,
    {
        if to == super::To::All && !self.inner.closed.load(Ordering::Acquire) {
            // One caller (a producer's usual case): no list to build.
            let (only, none) = {
                let callers = self.lock();
                (
                    (callers.len() == 1)
                        .then(|| callers.values().next().map(Arc::clone))
                        .flatten(),
                    callers.is_empty(),
                )
            };
            if let Some(queue) = only {
                self.hand_over_waiting(&queue);
                return match queue.push_blocking(event) {
                    Ok(()) | Err(Error::Closed(_)) => Ok(()),
                    Err(e) => Err(e),
                };
            }
            if none {
                return self.keep_waiting(vec![event]);
            }
        }
        let targets = self.targets(to)?;
        if to == super::To::All && targets.len() > 1 {
            // Each peer's wait is bounded; one that ran out is skipped at
            // once (counted) until it catches up, so a stalled peer costs
            // the others one bounded wait, not one per item.
            let wait = self.inner.broadcast_wait;
            return fan_out(targets, event, to, |queue, event| {
                queue
                    .push_blocking_until(event, std::time::Instant::now() + wait)
                    .map(|_| ())
            });
        }
        fan_out(targets, event, to, |queue, event| {
            queue.push_blocking(event)
        })
    }

    /// The queues of one caller or of all (sorted by CallerId).
    fn targets(&self, to: super::To) -> Result<Vec<Arc<BoundedQueue<E>>>> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::Closed("runtime".into()));
        }
        match to {
            super::To::Caller(id) => Ok(vec![
                self.lock()
                    .get(&id)
                    .cloned()
                    .ok_or(Error::UnknownCaller(id))?,
            ]),
            super::To::All => {
                let mut targets: Vec<(CallerId, Arc<BoundedQueue<E>>)> = self
                    .lock()
                    .iter()
                    .map(|(id, q)| (*id, Arc::clone(q)))
                    .collect();
                targets.sort_by_key(|(id, _)| *id);
                Ok(targets.into_iter().map(|(_, q)| q).collect())
            }
        }
    }

    /// Sends a batch to one caller or all: one hand-off per queue.
    pub(crate) fn send_many(&self, items: Vec<E>, to: super::To) -> Result<()>
    where
        E: Clone,
    {
        let targets = self.targets(to)?;
        if to == super::To::All && targets.is_empty() {
            return self.keep_waiting(items);
        }
        if let Some(first) = targets.first() {
            self.hand_over_waiting(first);
        }
        if to == super::To::All
            && targets.len() > 1
            && self.inner.config.policy == OverflowPolicy::Block
        {
            let wait = self.inner.broadcast_wait;
            return fan_out(targets, items, to, |queue, batch| {
                let deadline = std::time::Instant::now() + wait;
                for item in batch {
                    queue.push_blocking_until(item, deadline)?;
                }
                Ok(())
            });
        }
        fan_out(targets, items, to, |queue, batch| {
            queue.push_many_blocking(batch)
        })
    }

    /// Sends from async code: under `Block` waits (asynchronously) for room.
    pub(crate) async fn send_async(&self, event: E, to: super::To) -> Result<()>
    where
        E: Clone,
    {
        let targets = self.targets(to)?;
        if to == super::To::All && targets.is_empty() {
            return self.keep_waiting(vec![event]);
        }
        if let Some(first) = targets.first() {
            self.hand_over_waiting(first);
        }
        let mut first_error = None;
        for (queue, item) in targets.iter().zip(copies(event, targets.len())) {
            note_error(to, &mut first_error, queue.push(item).await);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends to one caller from async code (the child's IPC reader).
    pub(crate) async fn send_to_async(&self, caller: CallerId, event: E) -> Result<()> {
        let queue = self
            .lock()
            .get(&caller)
            .cloned()
            .ok_or(Error::UnknownCaller(caller))?;
        queue.push(event).await
    }

    /// The queue of a caller, if registered.
    pub(crate) fn queue_of(&self, caller: CallerId) -> Option<Arc<BoundedQueue<E>>> {
        self.lock().get(&caller).cloned()
    }

    pub(crate) fn stats(&self) -> QueueStats {
        let queues = self.lock();
        // What waits for a peer counts as pushed once handed over; what
        // its bound dropped counts now.
        let mut stats = QueueStats {
            pushed: self.inner.retired_pushed.load(Ordering::Relaxed),
            dropped: self.inner.retired_dropped.load(Ordering::Relaxed)
                + self.inner.waiting.stats().dropped,
        };
        for q in queues.values() {
            let s = q.stats();
            stats.pushed += s.pushed;
            stats.dropped += s.dropped;
        }
        stats
    }

    pub(crate) fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.waiting.close();
        for q in self.lock().values() {
            q.close();
        }
    }
}

/// Hands `item` to each queue with `push`; the first error is returned
/// after every queue had its turn.
fn fan_out<E, T: Clone>(
    targets: Vec<Arc<BoundedQueue<E>>>,
    item: T,
    to: super::To,
    mut push: impl FnMut(&BoundedQueue<E>, T) -> Result<()>,
) -> Result<()> {
    let mut first_error = None;
    for (queue, one) in targets.iter().zip(copies(item, targets.len())) {
        note_error(to, &mut first_error, push(queue, one));
    }
    first_error.map_or(Ok(()), Err)
}

/// `n` copies of `item`: clones, the last one `item` itself (no clone for
/// one target).
fn copies<T: Clone>(item: T, n: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    if n > 0 {
        out.extend(std::iter::repeat_n(&item, n - 1).cloned());
        out.push(item);
    }
    out
}

/// Keeps the first error of a send; a caller that left meanwhile
/// (`Closed`) is not an error of a broadcast.
fn note_error(to: super::To, first: &mut Option<Error>, result: Result<()>) {
    match result {
        Ok(()) => {}
        Err(Error::Closed(_)) if to == super::To::All => {}
        Err(e) => {
            first.get_or_insert(e);
        }
    }
}

/// Where a runtime's data goes: the handle's aggregator (in process) or the
/// IPC socket to the parent (in the child process).
pub(crate) enum DataSink<D> {
    Local(RemoteDataAggregator<D>),
    Ipc {
        runtime: u32,
        tx: tokio::sync::mpsc::Sender<ipc::Frame>,
    },
}

impl<D> Clone for DataSink<D> {
    fn clone(&self) -> Self {
        match self {
            DataSink::Local(a) => DataSink::Local(a.clone()),
            DataSink::Ipc { runtime, tx } => DataSink::Ipc {
                runtime: *runtime,
                tx: tx.clone(),
            },
        }
    }
}

impl<D: prost::Message> DataSink<D> {
    fn caller_frame(
        runtime: u32,
        caller: CallerId,
        registered: bool,
        peer: Option<String>,
        generation: u64,
    ) -> ipc::Frame {
        ipc::Frame {
            kind: Some(ipc::frame::Kind::Caller(ipc::Caller {
                runtime,
                caller_id: caller.to_string(),
                registered,
                peer: peer.unwrap_or_default(),
                state_only: false,
                generation,
                reason: String::new(),
            })),
        }
    }

    /// Shows the caller connected (at `peer`) or disconnected, leaving its
    /// event queue alone.
    fn set_state(
        &self,
        caller: CallerId,
        connected: bool,
        peer: Option<String>,
        generation: u64,
        reason: String,
    ) {
        match self {
            DataSink::Local(a) if connected => a.register(caller, peer, generation),
            DataSink::Local(a) => a.deregister(caller, generation, reason),
            DataSink::Ipc { runtime, tx } => {
                let mut frame = Self::caller_frame(*runtime, caller, connected, peer, generation);
                if let Some(ipc::frame::Kind::Caller(c)) = &mut frame.kind {
                    c.state_only = true;
                    c.reason = reason;
                }
                send_control(tx, frame);
            }
        }
    }

    fn register(&self, caller: CallerId, peer: Option<String>, generation: u64) {
        match self {
            DataSink::Local(a) => a.register(caller, peer, generation),
            DataSink::Ipc { runtime, tx } => send_control(
                tx,
                Self::caller_frame(*runtime, caller, true, peer, generation),
            ),
        }
    }

    fn set_clock(&self, caller: CallerId, estimate: Estimate) {
        match self {
            DataSink::Local(a) => a.set_clock(caller, estimate),
            DataSink::Ipc { runtime, tx } => send_control(
                tx,
                ipc::Frame {
                    kind: Some(ipc::frame::Kind::Clock(ipc::Clock {
                        runtime: *runtime,
                        caller_id: caller.to_string(),
                        offset_nanos: clamp_i64(estimate.offset_nanos),
                        delay_nanos: clamp_i64(estimate.delay_nanos),
                        samples: u32::try_from(estimate.samples).unwrap_or(u32::MAX),
                    })),
                },
            ),
        }
    }

    fn peer(&self, info: Option<PeerInfo>, target: &str) {
        match self {
            DataSink::Local(a) => match info {
                Some(info) => a.set_peer(info),
                None => a.remove_peer(target),
            },
            DataSink::Ipc { runtime, tx } => {
                let (state, detail, caller) = match &info {
                    None => (4, String::new(), None),
                    Some(i) => {
                        let (state, detail) = match &i.state {
                            PeerState::Connected { addr, .. } => (1, addr.clone()),
                            PeerState::Unreachable { last_error, .. } => (2, last_error.clone()),
                            PeerState::Refused { reason, .. } => (3, reason.clone()),
                            _ => (0, String::new()),
                        };
                        (state, detail, i.caller)
                    }
                };
                send_control(
                    tx,
                    ipc::Frame {
                        kind: Some(ipc::frame::Kind::Peer(ipc::Peer {
                            runtime: *runtime,
                            target: target.to_owned(),
                            caller_id: caller.map(|c| c.to_string()).unwrap_or_default(),
                            state,
                            detail,
                        })),
                    },
                );
            }
        }
    }

    fn deregister(&self, caller: CallerId, generation: u64, reason: String) {
        match self {
            DataSink::Local(a) => a.deregister(caller, generation, reason),
            DataSink::Ipc { runtime, tx } => {
                let mut frame = Self::caller_frame(*runtime, caller, false, None, generation);
                if let Some(ipc::frame::Kind::Caller(c)) = &mut frame.kind {
                    c.reason = reason;
                }
                send_control(tx, frame);
            }
        }
    }

    fn refused(&self, caller: CallerId) {
        match self {
            DataSink::Local(a) => a.refused(caller),
            DataSink::Ipc { runtime, tx } => send_control(
                tx,
                ipc::Frame {
                    kind: Some(ipc::frame::Kind::Data(ipc::Data {
                        runtime: *runtime,
                        caller_id: caller.to_string(),
                        timestamp: None,
                        payload: Vec::new(),
                        refused: true,
                    })),
                },
            ),
        }
    }

    async fn push(&self, caller: CallerId, timestamp: Timestamp, data: D) -> Result<()> {
        match self {
            DataSink::Local(a) => a.push(caller, timestamp, data).await,
            DataSink::Ipc { runtime, tx } => {
                let frame = ipc::Frame {
                    kind: Some(ipc::frame::Kind::Data(ipc::Data {
                        runtime: *runtime,
                        caller_id: caller.to_string(),
                        timestamp: Some(timestamp.to_proto()),
                        payload: data.encode_to_vec(),
                        refused: false,
                    })),
                };
                // The IPC queue blocks when full (back-pressure); the data
                // policy applies at the parent's aggregator.
                tx.send(frame)
                    .await
                    .map_err(|_| Error::Closed("IPC to the parent process".into()))
            }
        }
    }
}

/// Sends a control frame without blocking: immediately when the IPC queue
/// has room, else from a task (the parent tolerates data arriving before its
/// caller's registration).
pub(crate) fn send_control(tx: &tokio::sync::mpsc::Sender<ipc::Frame>, frame: ipc::Frame) {
    if let Err(tokio::sync::mpsc::error::TrySendError::Full(frame)) = tx.try_send(frame) {
        let tx = tx.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { tx.send(frame).await });
            }
            Err(_) => tracing::warn!("IPC queue full outside the runtime: control frame not sent"),
        }
    }
}

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

impl<D: prost::Message + Clone + 'static, E: Clone + Send + Sync + 'static> RuntimeContext<D, E> {
    /// The runtime's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The runtime's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Registers a caller (a connected peer). Registering an id again (a
    /// reconnect) continues its series; events queued for the previous
    /// endpoint are not carried over.
    pub fn register_caller(&self, caller: CallerId, peer: Option<String>) -> Endpoint<D, E> {
        let generation = self.registrations.fetch_add(1, Ordering::Relaxed) + 1;
        self.data.register(caller, peer, generation);
        let events = self.events.register(caller);
        Endpoint {
            caller,
            generation,
            data: self.data.clone(),
            router: self.events.clone(),
            events,
            deregistered: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }

    /// Spawns a task on the runtime's threads; an error it returns or a
    /// panic surfaces on the manager with this runtime's name.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        let join = self.tokio.spawn(task);
        let errors = self.errors.clone();
        let name = self.name.clone();
        self.tokio.spawn(async move {
            match join.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.report(&name, e.to_string()),
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

    /// Reports a failure without ending anything.
    pub fn report_error(&self, error: &Error) {
        self.errors.report(&self.name, error.to_string());
    }
}

/// One registered caller, on the runtime's side: push its data, receive the
/// events addressed to it (broadcasts included) in order. Dropping it
/// deregisters the caller.
pub struct Endpoint<D: prost::Message, E> {
    caller: CallerId,
    generation: u64,
    data: DataSink<D>,
    router: EventRouter<E>,
    events: Arc<BoundedQueue<E>>,
    deregistered: AtomicBool,
    /// Why the connection ended, when the runtime said
    /// ([`disconnected_because`](Self::disconnected_because)).
    reason: Mutex<Option<String>>,
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
        self.data.push(self.caller, timestamp, data).await
    }

    /// Counts one of this caller's samples as refused (e.g. its timestamp
    /// was out of range): shown in `DataStats::refused`.
    pub fn refuse(&self) {
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
        self.data.set_clock(self.caller, estimate);
    }

    /// Records where the caller is now (after a reconnection, perhaps
    /// elsewhere): shown in [`CallerInfo::peer`](crate::data::CallerInfo::peer).
    pub fn set_peer_addr(&self, addr: impl Into<String>) {
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

    fn take_reason(&self) -> String {
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| "the connection ended".to_owned())
    }

    /// The caller's event queue (to stream it: `queue::QueueStream`, or
    /// `queue::queue_stream` where a one-slot hand-off is wanted).
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
        if !self.deregistered.swap(true, Ordering::AcqRel) {
            let reason = self.take_reason();
            self.data.deregister(self.caller, self.generation, reason);
            self.router.deregister(self.caller, &self.events);
        }
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}
