//! The dialing side, for either role: finds peers (mDNS or static peers),
//! dials each through the connector (TLS, handshake, reconnection), keeps
//! its clock offset, opens the stream method and feeds the handle by the
//! peer's CallerId. An aggregator that dials opens `rpc M(stream Event)
//! returns (stream Data)`, a producer that dials `rpc M(stream Data)
//! returns (stream Event)`.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::arrivals::{Arrival, Arrivals};
use super::pending::{self, Pending};
use super::{CALLER_ID_METADATA, Hooks, StreamService, read_timestamp, write_timestamp};
use crate::caller_id::CallerId;
use crate::data::{PeerInfo, PeerState};
use crate::delivery::{self, Sending};
use crate::discovery::{self, ConnectorConfig, PeerEvent, PeerKey, spawn_connector};
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::queue::{OverflowPolicy, QueueConfig};
use crate::rpc::{Outbox, TokioSleeper, run_clock_sync};
use crate::runtime::{Endpoint, HeldIdentity, Runtime, RuntimeContext, StopReason};
use crate::time::{Clock, SyncState, SynchronizedClock};
use tracing::Instrument;

/// Clock-sync exchanges per connection: one per second, min-RTT over the
/// last eight.
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
const SYNC_WINDOW: usize = 8;
/// How long a new connection waits for its first clock estimate before the
/// stream opens anyway (timestamps then pass unconverted until it comes).
const SYNC_WAIT: Duration = Duration::from_secs(5);
/// How long a peer that discovery removed stays connected in case it
/// comes back.
const REMOVAL_GRACE: Duration = Duration::from_secs(10);
/// How long a stopping dialer waits for its peers to acknowledge what it
/// sent.
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// A dialing runtime for the stream method `M` with hooks `H` (what
/// [`dial`] creates).
pub struct Dialer<M: StreamService, H> {
    shared: Arc<Shared<M, H>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Held (its file locked) while the runtime runs.
    identity: Option<HeldIdentity>,
}

impl<M: StreamService, H> std::fmt::Debug for Dialer<M, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dialer")
            .field("service", &M::SERVICE)
            .finish_non_exhaustive()
    }
}

type PeerEndpoint<M> = Endpoint<<M as StreamService>::Response, <M as StreamService>::Request>;

struct Shared<M: StreamService, H> {
    ctx: RuntimeContext<M::Response, M::Request>,
    hooks: Arc<H>,
    /// One endpoint per peer, kept across its reconnections (items
    /// sent meanwhile wait in it) until discovery says it is gone.
    endpoints: Mutex<HashMap<CallerId, Arc<PeerEndpoint<M>>>>,
    _m: PhantomData<fn() -> M>,
}

impl<M: StreamService, H> Shared<M, H> {
    fn endpoints(&self) -> MutexGuard<'_, HashMap<CallerId, Arc<PeerEndpoint<M>>>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates the dialing runtime (the body of the generated
/// `RuntimeInitializer::create` for `discover` / `peers`).
///
/// # Errors
/// Never at creation; a missing peer source surfaces from `start`.
pub fn dial<M: StreamService, H: Hooks>(
    ctx: RuntimeContext<M::Response, M::Request>,
    hooks: H,
) -> Result<Box<dyn Runtime>> {
    Ok(Box::new(Dialer::<M, H> {
        shared: Arc::new(Shared {
            ctx,
            hooks: Arc::new(hooks),
            endpoints: Mutex::new(HashMap::new()),
            _m: PhantomData,
        }),
        task: None,
        identity: None,
    }))
}

impl<M: StreamService, H: Hooks> Runtime for Dialer<M, H> {
    fn start(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let config = self.shared.ctx.config().clone();
            let name = self.shared.ctx.name().to_owned();
            let identity = config.identity.resolve(&name)?;
            let id = identity.id;
            self.identity = Some(identity);
            let Some(discovery) =
                discovery::open(&config.discovery.peers, &config.discovery.interfaces)?
            else {
                return Err(Error::Invalid {
                    what: "peers to dial",
                    reason:
                        "neither a service type to discover nor static peers (discover / peers)"
                            .into(),
                });
            };
            let connector_config = ConnectorConfig {
                id,
                tls: config.client_tls.clone(),
                backoff: config.backoff,
                // Outbound items wait in each peer's endpoint, not in the
                // connector's outbox, which stays unused.
                outbox: QueueConfig::new(1, OverflowPolicy::Error),
                keepalive: config.keepalive,
                removal_grace: REMOVAL_GRACE,
            };
            let shared = Arc::clone(&self.shared);
            let clock_sync = config.clock_sync;
            let mut connector = spawn_connector(
                discovery,
                connector_config,
                Arc::new(TokioSleeper),
                move |channel, _outbox: Outbox<()>, peer, addr| {
                    let shared = Arc::clone(&shared);
                    // Before the connector reports the peer connected:
                    // from then on what the user sends waits in this
                    // peer's own queue (under its overflow policy), not
                    // in the bounded drop-oldest queue kept for when no
                    // peer is connected.
                    let endpoint = endpoint_for(&shared, peer);
                    let span = tracing::info_span!(
                        parent: shared.ctx.span(),
                        "peer",
                        caller = %crate::metrics::peer_label(&peer),
                        %addr
                    );
                    async move { session(&shared, channel, id, peer, endpoint, addr, clock_sync).await }
                        .instrument(span)
                },
            );
            let shared = Arc::clone(&self.shared);
            let span = shared.ctx.span().clone();
            self.task = Some(tokio::spawn(async move {
                // Each peer's health as last reported: a change is logged
                // once (and a refusal reported on `check_error`), not every
                // retry.
                let mut health: HashMap<PeerKey, Health> = HashMap::new();
                let show = |peer: &PeerKey, state: PeerState| {
                    let (target, caller) = target_of(peer);
                    shared.ctx.report_peer(PeerInfo {
                        target,
                        caller,
                        state,
                    });
                };
                while let Some(event) = connector.next_event().await {
                    let since = SystemTime::now();
                    match event {
                        PeerEvent::Connecting { peer } => {
                            show(&peer, PeerState::Connecting { since });
                        }
                        PeerEvent::Gone { peer } => {
                            if let PeerKey::Caller(caller) = &peer {
                                shared.endpoints().remove(caller);
                            }
                            shared.ctx.forget_peer(&target_of(&peer).0);
                            health.remove(&peer);
                        }
                        PeerEvent::Connected { peer, addr } => {
                            show(
                                &peer,
                                PeerState::Connected {
                                    since,
                                    addr: addr.to_string(),
                                },
                            );
                            if health.insert(peer.clone(), Health::Up) != Some(Health::Up) {
                                tracing::info!(?peer, %addr, "connected to the peer");
                            }
                        }
                        PeerEvent::Disconnected { peer, reason } => {
                            show(
                                &peer,
                                PeerState::Unreachable {
                                    since,
                                    last_error: reason.clone(),
                                },
                            );
                            let was = health.insert(peer.clone(), Health::Down);
                            if was != Some(Health::Down) {
                                tracing::warn!(?peer, %reason, "peer unreachable or disconnected; retrying with backoff (logged again when this changes)");
                            }
                        }
                        PeerEvent::Refused { peer, code, reason } => {
                            let error = Error::Rpc {
                                what: "handshake",
                                status: Box::new(tonic::Status::new(code, reason)),
                            };
                            show(
                                &peer,
                                PeerState::Refused {
                                    since,
                                    reason: error.to_string(),
                                },
                            );
                            let was = health.insert(peer.clone(), Health::Refused(code));
                            if was != Some(Health::Refused(code)) {
                                tracing::warn!(?peer, %error, "the peer refused this runtime; retrying with backoff");
                                shared.ctx.report_error(error);
                            }
                        }
                    }
                }
            }.instrument(span)));
            tracing::info!(runtime = %name, caller_id = %id, role = ?config.role, service = M::SERVICE, "dialing");
            Ok(())
        })
    }

    fn stop(&mut self, _reason: StopReason) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // What was sent is given a moment to be acknowledged (what is
            // still unacknowledged then is counted lost).
            self.shared.ctx.delivery.drained(DRAIN_WAIT).await;
            if let Some(task) = self.task.take() {
                // Dropping the connector closes every connection.
                task.abort();
                let _ = task.await;
            }
            self.shared.endpoints().clear();
            self.identity.take();
            self.shared.ctx.delivery.close();
            Ok(())
        })
    }
}

/// How a peer is shown in `peers()`: its CallerId when announced, else
/// what was configured (`host:port` for a static peer) or its instance
/// name.
fn target_of(peer: &PeerKey) -> (String, Option<CallerId>) {
    match peer {
        PeerKey::Caller(id) => (id.to_string(), Some(*id)),
        PeerKey::Instance(name) => (
            name.strip_prefix(crate::discovery::STATIC_INSTANCE_PREFIX)
                .unwrap_or(name)
                .to_owned(),
            None,
        ),
    }
}

/// A dialed peer's health, as last logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Up,
    Down,
    Refused(tonic::Code),
}

/// The endpoint of `peer`: the one of its previous sessions (a
/// reconnection, counted) or a newly registered one.
fn endpoint_for<M: StreamService, H: Hooks>(
    shared: &Shared<M, H>,
    peer: CallerId,
) -> DisconnectOnDrop<M> {
    let mut endpoints = shared.endpoints();
    let endpoint = match endpoints.get(&peer) {
        Some(endpoint) => {
            endpoint.metrics().reconnected();
            Arc::clone(endpoint)
        }
        None => {
            let endpoint = Arc::new(shared.ctx.register_caller(peer, None));
            endpoints.insert(peer, Arc::clone(&endpoint));
            endpoint
        }
    };
    DisconnectOnDrop(endpoint)
}

/// A session's endpoint, shown disconnected when the session ends however
/// it ends (an error, the peer refusing the stream, cancellation, or
/// dropped before it ran); connected only once its stream is open.
struct DisconnectOnDrop<M: StreamService>(Arc<PeerEndpoint<M>>);

impl<M: StreamService> Drop for DisconnectOnDrop<M> {
    fn drop(&mut self) {
        self.0.set_disconnected();
    }
}

/// Aborts a task when dropped (the clock sync of a session).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One established, handshaken connection to `peer`.
async fn session<M: StreamService, H: Hooks>(
    shared: &Shared<M, H>,
    channel: tonic::transport::Channel,
    id: CallerId,
    peer: CallerId,
    endpoint: DisconnectOnDrop<M>,
    addr: SocketAddr,
    clock_sync: bool,
) -> Result<()> {
    let failed = |status: tonic::Status| Error::Rpc {
        what: M::PATH,
        status: Box::new(status),
    };
    // The offset to this peer's clock.
    let local: Arc<dyn Clock> = Arc::clone(&shared.ctx.config().clock.0);
    let clock = SynchronizedClock::new(Arc::clone(&local));
    let _sync = clock_sync.then(|| {
        AbortOnDrop(tokio::spawn(
            run_clock_sync(
                channel.clone(),
                local,
                clock.clone(),
                SYNC_INTERVAL,
                SYNC_WINDOW,
                None,
            )
            .in_current_span(),
        ))
    });
    if clock_sync && !clock.wait_synchronized(SYNC_WAIT).await {
        tracing::warn!(%peer, "no clock estimate yet; timestamps pass unconverted until one arrives");
    }
    let shown = endpoint;
    let endpoint = &shown.0;
    // Each new estimate is shown on the handle (`CallerInfo::clock`); the
    // current one before the stream opens, so it precedes the data.
    if let SyncState::Synchronized(estimate) = clock.state() {
        endpoint.report_clock(estimate);
    }
    let _report = {
        let mut estimates = clock.watch();
        let endpoint = Arc::clone(endpoint);
        AbortOnDrop(tokio::spawn(
            async move {
                loop {
                    if let SyncState::Synchronized(estimate) = *estimates.borrow_and_update() {
                        endpoint.report_clock(estimate);
                    }
                    if estimates.changed().await.is_err() {
                        break;
                    }
                }
            }
            .in_current_span(),
        ))
    };

    // Acknowledged delivery, when this runtime and the peer speak it.
    let delivery = &shared.ctx.delivery;
    let acks = if delivery.config.acknowledged {
        // Boxed, as the call below: the session's future (held for the
        // connection's life) keeps no room for set-up steps.
        Box::pin(delivery::acks::open(channel.clone(), peer, delivery))
            .await
            .map_err(|status| Error::Rpc {
                what: "tsercom.Delivery/Acknowledge",
                status: Box::new(status),
            })?
    } else {
        None
    };
    let outbox = acks.as_ref().map(|_| delivery.outbox(peer));
    let (events, base, resent) = event_stream::<M>(endpoint, clock.clone(), outbox.clone());
    let mut request = tonic::Request::new(events);
    if let Some(base) = base {
        delivery::set_numbering(request.metadata_mut(), base, crate::rpc::incarnation());
    }
    delivery::set_history(request.metadata_mut(), endpoint.take_history());
    let value =
        tonic::metadata::MetadataValue::try_from(id.to_string()).map_err(|e| Error::Invalid {
            what: "caller id metadata",
            reason: e.to_string(),
        })?;
    request.metadata_mut().insert(CALLER_ID_METADATA, value);
    if let Some(name) = super::name_value(shared.ctx.name()) {
        request.metadata_mut().insert(super::NAME_METADATA, name);
    }
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Error::Connect {
        target: peer.to_string(),
        reason: e.to_string(),
    })?;
    let codec = tonic_prost::ProstCodec::<M::Request, M::Response>::default();
    let response = Box::pin(grpc.streaming(
        request,
        http::uri::PathAndQuery::from_static(M::PATH),
        codec,
    ))
    .await
    .map_err(failed)?;
    let name = super::peer_name(response.metadata());
    if let Some(name) = &name {
        endpoint.set_peer_name(name.clone());
    }
    endpoint.set_peer_addr(addr.to_string());
    tracing::info!(%peer, name = %name.as_deref().unwrap_or("-"), %addr, "stream to the peer opened");
    shared.hooks.on_connect(peer, Some(addr));
    let numbering = delivery::numbering(response.metadata()).filter(|_| acks.is_some());
    if let (Some(outbox), Some((_, incarnation))) = (&outbox, numbering) {
        outbox.receiver_is(incarnation, resent);
    }
    if resent > 0 {
        tracing::info!(%peer, resent, "replaying what the peer had not acknowledged");
    }
    let mut arrivals = Arrivals::new(
        numbering,
        || delivery.inbox(peer),
        delivery::history_of(response.metadata()),
        Arc::clone(&delivery.counters),
    );
    let mut incoming = response.into_inner();
    let mut refused: u64 = 0;
    let lag = endpoint.metrics();
    // Samples read and not yet stored: stored together when the stream has
    // nothing more ready, and before anything else is handled.
    let mut pending = Pending::new();
    let outcome = loop {
        if pending.is_full()
            && let Err(e) = pending.store(endpoint, &arrivals).await
        {
            break Err(e);
        }
        let message = match pending::ready(&mut incoming).await {
            Some(message) => message,
            None => {
                if let Err(e) = pending.store(endpoint, &arrivals).await {
                    break Err(e);
                }
                incoming.message().await
            }
        };
        // A duplicate (a resend of what is stored) is dropped, counted.
        let seq = match arrivals.next(&message) {
            Arrival::Duplicate => continue,
            Arrival::Handle(seq) => seq,
        };
        // Anything but a sample is handled after what was read before it
        // is stored (its acknowledgment would cover those).
        if !matches!(message, Ok(Some(_)))
            && let Err(e) = pending.store(endpoint, &arrivals).await
        {
            break Err(e);
        }
        match message {
            Ok(Some(mut sample)) => {
                let time = match read_timestamp(M::response_timestamp(&mut sample)) {
                    Ok(Some(t)) => {
                        let local = clock.to_local(t);
                        lag.arrived(&local, || clock.local_now());
                        local
                    }
                    Ok(None) => clock.local_now(),
                    Err(e) => {
                        // Refused and counted; the stream goes on (ending
                        // it made a silent reconnect loop). Reported once
                        // per connection. Its acknowledgment covers what
                        // was read before it: stored first.
                        if let Err(e) = pending.store(endpoint, &arrivals).await {
                            break Err(e);
                        }
                        endpoint.refuse();
                        arrivals.handled(seq);
                        refused += 1;
                        if refused == 1 {
                            let error = Error::Refused {
                                peer,
                                what: "sample timestamp",
                                source: Box::new(e),
                            };
                            tracing::warn!(%peer, %error, "sample refused");
                            shared.ctx.report_error(error);
                        }
                        continue;
                    }
                };
                write_timestamp(M::response_timestamp(&mut sample), time);
                pending.add(sample, time, seq);
            }
            Ok(None) => break Ok(()),
            Err(status) if let Some(problem) = super::malformed(&status) => {
                // The peer sent what does not decode (or is over the size
                // limit): counted, and the user hears of it; the stream
                // is reopened with backoff.
                tracing::warn!(%peer, %problem, "malformed message from the peer; reconnecting");
                endpoint.refuse_malformed();
                arrivals.handled(seq);
                shared.ctx.report_error(Error::Rpc {
                    what: "malformed message from the peer",
                    status: Box::new(status.clone()),
                });
                break Err(failed(status));
            }
            Err(status) => {
                // The peer refused what we sent (a bad timestamp, a
                // malformed or oversized message, its store full under the
                // Error policy): not a network failure, so the user hears
                // of it, not only the reconnect loop.
                if matches!(
                    status.code(),
                    tonic::Code::InvalidArgument
                        | tonic::Code::ResourceExhausted
                        | tonic::Code::PermissionDenied
                        | tonic::Code::Unauthenticated
                ) {
                    shared.ctx.report_error(Error::Rpc {
                        what: "stream refused by the peer",
                        status: Box::new(status.clone()),
                    });
                }
                break Err(failed(status));
            }
        }
    };
    let reason = match &outcome {
        Ok(()) => "the peer ended the stream".to_owned(),
        Err(e) => e.to_string(),
    };
    tracing::info!(%peer, %addr, %reason, "stream to the peer ended");
    shared.hooks.on_disconnect(peer, &reason);
    endpoint.disconnected_because(reason);
    outcome
}

/// The handle's outbound items for one peer as the request stream,
/// stamped (this runtime's clock) as they leave the queue and converted to
/// the peer's clock as the stream yields them. Plain, an event leaves the
/// endpoint's queue only when yielded, so what is queued when the stream
/// breaks stays there for the next session; acknowledged (`outbox`), what
/// the peer has not acknowledged is sent again first, and the number of
/// the first message is returned.
fn event_stream<M: StreamService>(
    endpoint: &PeerEndpoint<M>,
    clock: SynchronizedClock,
    outbox: Option<Arc<delivery::Outbox<M::Request>>>,
) -> (
    impl tokio_stream::Stream<Item = M::Request> + Send + 'static,
    Option<u64>,
    u64,
) {
    use tokio_stream::StreamExt;
    let metrics = endpoint.metrics();
    let prepare = {
        let clock = clock.clone();
        Box::new(move |event: &mut M::Request| {
            if let Ok(None) = read_timestamp(M::request_timestamp(event)) {
                write_timestamp(M::request_timestamp(event), clock.local_now());
            }
        })
    };
    let (sending, base, resent) = match outbox {
        Some(outbox) => {
            let (sending, base, resent) = Sending::acked(endpoint.event_queue(), outbox, prepare);
            (sending, Some(base), resent)
        }
        None => (Sending::plain(endpoint.event_queue(), prepare), None, 0),
    };
    let stream = sending.map(move |mut event| {
        match read_timestamp(M::request_timestamp(&mut event)) {
            Ok(Some(t)) => write_timestamp(M::request_timestamp(&mut event), clock.to_timebase(t)),
            Ok(None) => {}
            // Sent as is: the peer answers with a clear error.
            Err(e) => tracing::warn!(error = %e, "event with an invalid timestamp"),
        }
        metrics.sent(prost::Message::encoded_len(&event));
        event
    });
    (stream, base, resent)
}
