//! The hosting side, for either role: serves the stream method; each
//! dialer's stream is a caller of the runtime (what it streams comes in,
//! the handle's outbound items go back on the response stream). A producer
//! that hosts serves `rpc M(stream Event) returns (stream Data)`, an
//! aggregator that hosts `rpc M(stream Data) returns (stream Event)`.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a legacy stream may take to send the message that identifies
/// it when the server has no handshake deadline.
const LEGACY_FIRST_MESSAGE: Duration = Duration::from_secs(10);

use std::pin::Pin;
use tokio::sync::{mpsc, watch};

use super::arrivals::{Arrival, Arrivals};
use super::pending::{self, Pending};
use crate::delivery::{self, Sending};
use tonic::Status;
use tonic::server::NamedService;
use tracing::Instrument;

use super::legacy::{self, LegacyPeers};
use super::{CALLER_ID_METADATA, Hooks, StreamService, bad_peer, read_timestamp, write_timestamp};
use crate::caller_id::CallerId;
use crate::discovery::{self, Interfaces, Publisher};
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::metrics::PeerMetrics;
use crate::rpc::{PeerConnection, RunningServer, Server};
use crate::runtime::{HeldIdentity, Runtime, RuntimeContext, StopReason};

/// A hosting runtime for the stream method `M` with hooks `H` (what
/// [`host`] creates).
pub struct Host<M: StreamService, H> {
    shared: Arc<Shared<M, H>>,
    server: Option<RunningServer>,
    publisher: Option<Publisher>,
    /// Held (its file locked) while the runtime runs.
    identity: Option<HeldIdentity>,
}

impl<M: StreamService, H> std::fmt::Debug for Host<M, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("service", &M::SERVICE)
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

struct Shared<M: StreamService, H> {
    ctx: RuntimeContext<M::Request, M::Response>,
    hooks: Arc<H>,
    stopping: watch::Sender<bool>,
}

/// Creates the hosting runtime (the body of the generated
/// `RuntimeInitializer::create` for `publish` / `listen`).
///
/// # Errors
/// Never at creation; failures to bind or publish surface from `start`.
pub fn host<M: StreamService, H: Hooks>(
    ctx: RuntimeContext<M::Request, M::Response>,
    hooks: H,
) -> Result<Box<dyn Runtime>> {
    Ok(Box::new(Host::<M, H> {
        shared: Arc::new(Shared {
            ctx,
            hooks: Arc::new(hooks),
            stopping: watch::Sender::new(false),
        }),
        server: None,
        publisher: None,
        identity: None,
    }))
}

impl<M: StreamService, H: Hooks> Runtime for Host<M, H> {
    fn start(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let config = self.shared.ctx.config().clone();
            let name = self.shared.ctx.name().to_owned();
            let identity = config.identity.resolve(&name)?;
            let id = identity.id;
            self.identity = Some(identity);
            let service = StreamServer::<M, H> {
                shared: Arc::clone(&self.shared),
                other: self.shared.hooks.other_rpcs(),
                _m: PhantomData,
            };
            let mut server = Server::new(id);
            if config.delivery.acknowledged {
                server = server.add_service(delivery::acks::AckService::new(Arc::clone(
                    &self.shared.ctx.delivery,
                )));
            }
            let server = server
                .with_name(&name)
                .with_descriptor_set(M::DESCRIPTOR_SET)
                .with_clock(Arc::clone(&config.clock.0))
                .with_tls(config.server_tls.clone())
                .with_keepalive(config.keepalive)
                .with_connection_limits(config.connection_limits)
                .with_cert_binding(config.cert_binding.clone())
                .on_duplicate({
                    let shared = Arc::clone(&self.shared);
                    move |caller| shared.ctx.duplicate_refused(caller)
                })
                .add_service(service)
                .serve(&listen_addresses(
                    &config.listen,
                    &config.discovery.interfaces,
                ))
                .await?;
            let addrs = server.local_addrs().to_vec();
            tracing::info!(runtime = %name, role = ?config.role, caller_id = %id, ?addrs, service = M::SERVICE, "serving");
            self.shared.ctx.report_listening(&addrs);
            self.server = Some(server);
            if let Some((service_type, readable)) = &config.discovery.publish {
                if config.discovery.interfaces != Interfaces::LoopbackOnly
                    && addrs.iter().all(|a| a.ip().is_loopback())
                {
                    tracing::warn!(
                        runtime = %name,
                        ?addrs,
                        "publishing on other interfaces than loopback while listening on loopback only: peers on other hosts will find this runtime but cannot connect (listen on 0.0.0.0 / ::, or set interfaces = \"loopback\")"
                    );
                }
                let port = addrs.first().map(|a| a.port()).ok_or(Error::Invalid {
                    what: "listen addresses",
                    reason: "the server bound no address".into(),
                })?;
                self.publisher = Some(discovery::publish(
                    service_type,
                    readable,
                    port,
                    id,
                    &config.discovery.interfaces,
                )?);
            }
            Ok(())
        })
    }

    fn stop(&mut self, _reason: StopReason) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Goodbye first, then what was sent is given a moment to be
            // acknowledged, then end the streams (their callers see a clean
            // end), then the server.
            self.publisher.take();
            self.shared.ctx.delivery.drained(DRAIN_WAIT).await;
            self.shared.stopping.send_replace(true);
            if let Some(server) = self.server.take() {
                server.stop().await;
            }
            self.identity.take();
            self.shared.ctx.delivery.close();
            Ok(())
        })
    }
}

/// How long a stopping host waits for its peers to acknowledge what it
/// sent (what is still unacknowledged then is counted lost).
const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// The service as tonic routes it: the stream method is tsercom's; other
/// paths go to the hooks' routes, or get `UNIMPLEMENTED`.
struct StreamServer<M: StreamService, H> {
    shared: Arc<Shared<M, H>>,
    other: Option<tonic::service::Routes>,
    _m: PhantomData<fn() -> M>,
}

impl<M: StreamService, H> Clone for StreamServer<M, H> {
    fn clone(&self) -> Self {
        StreamServer {
            shared: Arc::clone(&self.shared),
            other: self.other.clone(),
            _m: PhantomData,
        }
    }
}

impl<M: StreamService, H> NamedService for StreamServer<M, H> {
    const NAME: &'static str = M::SERVICE;
}

impl<M: StreamService, H: Hooks> tower_service::Service<http::Request<tonic::body::Body>>
    for StreamServer<M, H>
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, std::result::Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        if request.uri().path() == M::PATH {
            let method = StreamMethod {
                shared: Arc::clone(&self.shared),
            };
            return Box::pin(async move {
                let codec = tonic_prost::ProstCodec::<M::Response, M::Request>::default();
                let mut grpc = tonic::server::Grpc::new(codec);
                Ok(grpc.streaming(method, request).await)
            });
        }
        if let Some(routes) = &mut self.other {
            return Box::pin(tower_service::Service::call(routes, request));
        }
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            Ok(Status::unimplemented(format!(
                "{path}: only the stream method is served (implement `Hooks::other_rpcs` for the others)"
            ))
            .into_http())
        })
    }
}

struct StreamMethod<M: StreamService, H> {
    shared: Arc<Shared<M, H>>,
}

/// What the host streams to one dialer: the handle's outbound items
/// straight from the caller's bounded queue (stamped on the way; a burst is
/// encoded and written together), an error status when the dialer sent
/// something bad, and the end when this runtime stops.
struct Outgoing<M: StreamService> {
    data: Sending<M::Response>,
    errors: mpsc::Receiver<Status>,
    stopping: watch::Receiver<bool>,
    stopped: BoxFuture<'static, ()>,
    metrics: Arc<PeerMetrics>,
}

impl<M: StreamService> tokio_stream::Stream for Outgoing<M> {
    type Item = std::result::Result<M::Response, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Poll::Ready(Some(status)) = this.errors.poll_recv(cx) {
            return Poll::Ready(Some(Err(status)));
        }
        if *this.stopping.borrow() || this.stopped.as_mut().poll(cx).is_ready() {
            // Whatever is still queued stays for the next stream.
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.data).poll_next(cx) {
            Poll::Ready(Some(item)) => {
                this.metrics.sent(prost::Message::encoded_len(&item));
                Poll::Ready(Some(Ok(item)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<M: StreamService, H: Hooks> tonic::server::StreamingService<M::Request>
    for StreamMethod<M, H>
{
    type Response = M::Response;
    type ResponseStream = Outgoing<M>;
    type Future = BoxFuture<'static, std::result::Result<tonic::Response<Outgoing<M>>, Status>>;

    fn call(&mut self, request: tonic::Request<tonic::Streaming<M::Request>>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { open_stream(&shared, request).await })
    }
}

/// The dialer's id: the CallerId its connection's handshake established
/// (a `tsercom-caller-id` metadata value, when sent, must be the same).
fn caller_of<T>(request: &tonic::Request<T>) -> std::result::Result<CallerId, Status> {
    let claimed = match request.metadata().get(CALLER_ID_METADATA) {
        None => None,
        Some(value) => {
            let text = value.to_str().map_err(|_| {
                Status::invalid_argument(format!("stream: `{CALLER_ID_METADATA}` is not text"))
            })?;
            Some(
                CallerId::parse(text)
                    .map_err(|e| bad_peer(&format!("stream: `{CALLER_ID_METADATA}`"), &e))?,
            )
        }
    };
    let connection = request
        .extensions()
        .get::<PeerConnection>()
        .ok_or_else(|| {
            Status::unauthenticated("stream: not on a connection of tsercom's server")
        })?;
    Ok(connection.authenticate("stream", claimed)?.caller)
}

/// Whether this stream comes from a legacy peer this runtime accepts: no
/// handshake on its connection, no `tsercom-caller-id` metadata, and
/// [`LegacyPeers::IdFromMessages`] configured.
fn is_legacy<T>(request: &tonic::Request<T>, allowed: LegacyPeers) -> bool {
    allowed == LegacyPeers::IdFromMessages
        && request.metadata().get(CALLER_ID_METADATA).is_none()
        && request
            .extensions()
            .get::<PeerConnection>()
            .is_some_and(|c| c.binding().is_none())
}

/// A legacy stream's caller: the CallerId of its first message, bound to
/// its connection; the first message is returned to be delivered.
async fn legacy_caller<M: StreamService>(
    connection: Option<&PeerConnection>,
    incoming: &mut tonic::Streaming<M::Request>,
    deadline: Duration,
) -> std::result::Result<(CallerId, M::Request), Status> {
    let first = match tokio::time::timeout(deadline, incoming.message()).await {
        Err(_) => {
            return Err(Status::deadline_exceeded(format!(
                "legacy stream: no first message within {deadline:?} to identify the peer"
            )));
        }
        Ok(Ok(Some(first))) => first,
        Ok(Ok(None)) => {
            return Err(Status::invalid_argument(
                "legacy stream: ended before its first message identified the peer",
            ));
        }
        Ok(Err(status)) => {
            return Err(match super::malformed(&status) {
                Some(problem) => Status::invalid_argument(problem),
                None => status,
            });
        }
    };
    let caller = legacy::bind_first_message::<M>(connection, &first).await?;
    Ok((caller, first))
}

async fn open_stream<M: StreamService, H: Hooks>(
    shared: &Arc<Shared<M, H>>,
    mut request: tonic::Request<tonic::Streaming<M::Request>>,
) -> std::result::Result<tonic::Response<Outgoing<M>>, Status> {
    if *shared.stopping.borrow() {
        return Err(Status::unavailable("the runtime is stopping"));
    }
    let remote = request.remote_addr();
    let name = super::peer_name(request.metadata());
    let legacy = is_legacy(&request, shared.ctx.config().legacy_peers);
    // Numbered (the dialer acknowledges what it receives, and numbers what
    // it sends) when both sides speak acknowledged delivery.
    let numbering = delivery::numbering(request.metadata())
        .filter(|_| shared.ctx.config().delivery.acknowledged && !legacy);
    let history = delivery::history_of(request.metadata());
    let (caller, mut incoming, first) = if legacy {
        let connection = request.extensions_mut().remove::<PeerConnection>();
        let deadline = shared
            .ctx
            .config()
            .connection_limits
            .handshake_deadline
            .unwrap_or(LEGACY_FIRST_MESSAGE);
        let mut incoming = request.into_inner();
        let (caller, first) =
            legacy_caller::<M>(connection.as_ref(), &mut incoming, deadline).await?;
        (caller, incoming, Some(first))
    } else {
        let caller = caller_of(&request)?;
        (caller, request.into_inner(), None)
    };
    let endpoint = Arc::new(
        shared
            .ctx
            .register_caller(caller, remote.map(|a| a.to_string())),
    );
    if let Some(name) = &name {
        endpoint.set_peer_name(name.clone());
    }
    shared.hooks.on_connect(caller, remote);
    // tonic runs this on its connection's task, outside the runtime's span.
    let span = tracing::info_span!(
        parent: shared.ctx.span(),
        "peer",
        caller = %crate::metrics::peer_label(&caller),
        remote = %remote.map_or_else(|| "?".to_owned(), |a| a.to_string())
    );
    span.in_scope(|| tracing::info!(%caller, name = %name.as_deref().unwrap_or("-"), ?remote, legacy, "peer stream opened"));
    // The reader's error status for the dialer (one at most).
    let (tx, errors) = mpsc::channel(1);
    let mut stopped_rx = shared.stopping.subscribe();
    let clock = Arc::clone(&shared.ctx.config().clock.0);
    // Stamped as it leaves the queue (before it is kept for a resend).
    let prepare = {
        let clock = Arc::clone(&clock);
        Box::new(move |item: &mut M::Response| {
            if let Some(field @ None) = M::response_timestamp(item) {
                *field = Some(clock.now().to_proto());
            }
        })
    };
    let endpoint_history = endpoint.take_history();
    let (data, base) = if numbering.is_some() {
        let outbox = shared.ctx.delivery.outbox(caller);
        let (data, base, resent) =
            Sending::acked(endpoint.event_queue(), Arc::clone(&outbox), prepare);
        if let Some((_, incarnation)) = numbering {
            outbox.receiver_is(incarnation, resent);
        }
        if resent > 0 {
            tracing::info!(%caller, resent, "replaying what the peer had not acknowledged");
        }
        (data, Some(base))
    } else {
        (Sending::plain(endpoint.event_queue(), prepare), None)
    };
    let mut arrivals = Arrivals::new(
        numbering,
        || shared.ctx.delivery.inbox(caller),
        history,
        Arc::clone(&shared.ctx.delivery.counters),
    );
    let outgoing = Outgoing::<M> {
        metrics: endpoint.metrics(),
        data,
        errors,
        stopping: shared.stopping.subscribe(),
        stopped: Box::pin(async move {
            let _ = stopped_rx.wait_for(|s| *s).await;
        }),
    };

    // What this dialer streams → the handle.
    let hooks = Arc::clone(&shared.hooks);
    let mut stopping = shared.stopping.subscribe();
    let mut first = first;
    let lag = endpoint.metrics();
    tokio::spawn(async move {
        // Samples read and not yet stored: stored together when the stream
        // has nothing more ready, and before anything else is handled.
        let mut pending = Pending::new();
        let reason = loop {
            let message = match first.take() {
                Some(first) => Ok(Some(first)),
                None => {
                    let ready = if pending.is_full() {
                        None
                    } else {
                        pending::ready(&mut incoming).await
                    };
                    match ready {
                        Some(message) => message,
                        None => {
                            if let Err(e) = pending.store(&endpoint, &arrivals).await {
                                break store_failed(e, &tx, caller).await;
                            }
                            tokio::select! {
                                message = incoming.message() => message,
                                _ = stopping.wait_for(|s| *s) => break "this runtime stopped".to_owned(),
                            }
                        }
                    }
                }
            };
            // A duplicate (a resend of what is stored) is dropped, counted.
            let seq = match arrivals.next(&message) {
                Arrival::Duplicate => continue,
                Arrival::Handle(seq) => seq,
            };
            // Anything but a sample to store is handled after what was read
            // before it is stored (its acknowledgment, or the stream's end,
            // would cover those).
            if !matches!(message, Ok(Some(_)))
                && let Err(e) = pending.store(&endpoint, &arrivals).await
            {
                break store_failed(e, &tx, caller).await;
            }
            match message {
                Ok(Some(mut event)) => {
                    if legacy && let Err(status) = legacy::check_later::<M>(caller, &event) {
                        if let Err(e) = pending.store(&endpoint, &arrivals).await {
                            break store_failed(e, &tx, caller).await;
                        }
                        tracing::warn!(%caller, %status, "legacy peer sent a message for another caller; closing its stream");
                        // Fails only when the peer already left.
                        let _ = tx.send(status.clone()).await;
                        break status.message().to_owned();
                    }
                    let time = match read_timestamp(M::request_timestamp(&mut event)) {
                        Ok(Some(t)) => {
                            lag.arrived(&t, || clock.now());
                            t
                        }
                        Ok(None) => {
                            let now = clock.now();
                            write_timestamp(M::request_timestamp(&mut event), now);
                            now
                        }
                        Err(e) => {
                            if let Err(e) = pending.store(&endpoint, &arrivals).await {
                                break store_failed(e, &tx, caller).await;
                            }
                            tracing::warn!(%caller, error = %e, "event with an invalid timestamp; closing the stream");
                            endpoint.refuse();
                            // Refused and counted: acknowledged, not resent.
                            arrivals.handled(seq);
                            let _ = tx.send(bad_peer("event timestamp", &e)).await;
                            break format!("invalid event timestamp: {e}");
                        }
                    };
                    pending.add(event, time, seq);
                }
                Ok(None) => break "the peer closed its stream".to_owned(),
                Err(status) => match super::malformed(&status) {
                    Some(problem) => {
                        tracing::warn!(%caller, %problem, "malformed message from a peer; closing its stream");
                        endpoint.refuse_malformed();
                        // Refused and counted: acknowledged, not resent.
                        arrivals.handled(seq);
                        // As above: fails only when the peer already left.
                        let _ = tx.send(Status::invalid_argument(problem.clone())).await;
                        break problem;
                    }
                    None => break status.to_string(),
                },
            }
        };
        tracing::info!(%caller, %reason, "peer stream ended");
        hooks.on_disconnect(caller, &reason);
        endpoint.disconnected_because(reason);
        drop(endpoint);
    }.instrument(span));
    let mut response = tonic::Response::new(outgoing);
    delivery::set_history(response.metadata_mut(), endpoint_history);
    if let Some(base) = base {
        delivery::set_numbering(response.metadata_mut(), base, crate::rpc::incarnation());
    }
    if let Some(value) = super::name_value(shared.ctx.name()) {
        response.metadata_mut().insert(super::NAME_METADATA, value);
    }
    Ok(response)
}

/// A store that refused what a peer sent ends its stream: the peer learns
/// why (an OK end would read as "nothing more to say"). Returns the reason.
async fn store_failed(e: Error, tx: &mpsc::Sender<Status>, caller: CallerId) -> String {
    let status = match &e {
        Error::QueueFull { .. } => {
            tracing::warn!(%caller, error = %e, "event refused by the store's overflow policy; closing the stream");
            Status::resource_exhausted(format!("event refused: {e}"))
        }
        _ => Status::unavailable(e.to_string()),
    };
    // Fails only when the response stream is gone (the peer left): nobody
    // to tell; the reason is logged as the stream ends.
    let _ = tx.send(status).await;
    e.to_string()
}

/// In loopback-only mode, an unspecified listen address (`0.0.0.0`, `::`)
/// becomes the loopback one: nothing is served on other interfaces either.
fn listen_addresses(listen: &[SocketAddr], interfaces: &Interfaces) -> Vec<SocketAddr> {
    if *interfaces != Interfaces::LoopbackOnly {
        return listen.to_vec();
    }
    listen
        .iter()
        .map(|addr| match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
            }
            _ => *addr,
        })
        .collect()
}
