//! `Server`: hosts the user's tonic services plus tsercom's built-ins.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio_stream::{Stream, StreamExt};
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use super::Keepalive;
use super::connections::{ConnectionLimits, Connections, ServerStats};
use super::killable::Accept;
use super::peer::{HandshakePolicy, PeerService};
use super::peer_connection::ConnectionLayer;
use super::tls::ServerTls;
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::proto::peer_server::PeerServer;
use crate::time::{Clock, SystemClock};

type Incoming = Pin<Box<dyn Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send>>;

/// The server clock's time when a request's headers arrived, before the
/// body is decoded and routed; clock sync uses it as T2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Arrival(pub(crate) crate::time::Timestamp);

/// Inserts [`Arrival`] into every request.
#[derive(Clone)]
struct ArrivalLayer(Arc<dyn Clock>);

impl<S> tower::Layer<S> for ArrivalLayer {
    type Service = ArrivalService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ArrivalService {
            inner,
            clock: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
struct ArrivalService<S> {
    inner: S,
    clock: Arc<dyn Clock>,
}

impl<S, B> tower_service::Service<http::Request<B>> for ArrivalService<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(Arrival(self.clock.now()));
        self.inner.call(request)
    }
}

/// Builds a server: the user's services plus `tsercom.Peer` (handshake,
/// clock sync), `grpc.health.v1.Health` and server reflection (v1).
pub struct Server {
    id: CallerId,
    clock: Arc<dyn Clock>,
    policy: HandshakePolicy,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
    max_message_size: usize,
    grace: Duration,
    tls: ServerTls,
    keepalive: Keepalive,
    limits: ConnectionLimits,
    cert_binding: super::CertBinding,
    name: String,
    on_duplicate: Option<super::connections::OnDuplicate>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("id", &self.id)
            .field("services", &self.service_names)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server answering handshakes as `id`, with the system clock.
    pub fn new(id: CallerId) -> Self {
        Server {
            id,
            clock: Arc::new(SystemClock),
            policy: HandshakePolicy::default(),
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            descriptor_sets: vec![crate::proto::FILE_DESCRIPTOR_SET],
            max_message_size: 4 * 1024 * 1024,
            grace: Duration::from_secs(5),
            keepalive: Keepalive::default(),
            tls: ServerTls::Insecure,
            limits: ConnectionLimits::default(),
            cert_binding: super::CertBinding::None,
            name: "server".to_owned(),
            on_duplicate: None,
        }
    }

    /// Binds each handshake's CallerId to the client certificate (mutual
    /// TLS): see [`CertBinding`](super::CertBinding).
    pub fn with_cert_binding(mut self, binding: super::CertBinding) -> Self {
        self.cert_binding = binding;
        self
    }

    /// Calls `f` with the CallerId each time a handshake claiming it is
    /// refused as a duplicate (`ALREADY_EXISTS`: the id's live holder keeps
    /// it). Hosting runtimes count it in the holder's `CallerInfo`.
    pub fn on_duplicate(mut self, f: impl Fn(CallerId) + Send + Sync + 'static) -> Self {
        self.on_duplicate = Some(Arc::new(f));
        self
    }

    /// With these bounds on connections (default
    /// [`ConnectionLimits::default`]: 1 024 at once, 10 s to handshake).
    pub fn with_connection_limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// With these HTTP/2 keepalive settings (default
    /// [`Keepalive::default`]): a client that stops answering PINGs is
    /// disconnected, and its streams end.
    pub fn with_keepalive(mut self, keepalive: Keepalive) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// How connections are secured (default: plaintext).
    pub fn with_tls(mut self, tls: ServerTls) -> Self {
        self.tls = tls;
        self
    }

    /// The clock clock-sync answers from (the timebase's, on an aggregator).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Which dialers the handshake accepts.
    pub fn with_handshake_policy(mut self, policy: HandshakePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Largest message accepted (decoding) by tsercom's services, in bytes
    /// (default 4 MiB); apply the same to your own services with their
    /// generated `max_decoding_message_size`.
    pub fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long `stop` lets in-flight calls finish (default 5 s).
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Hosts a user service (a generated `...Server`); health reports it
    /// per service.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower_service::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Adds an encoded `FileDescriptorSet` for reflection (your crate's:
    /// `tsercom::include_file_descriptor_set!()`).
    pub fn with_descriptor_set(mut self, encoded: &'static [u8]) -> Self {
        if !encoded.is_empty() {
            self.descriptor_sets.push(encoded);
        }
        self
    }

    /// The `runtime` label of this server's connection metrics
    /// (`tsercom_connections_*`; default `server`).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Binds every address (port 0: a free port; IPv4 and IPv6 alike) with
    /// `TCP_NODELAY` and starts serving on the current tokio runtime.
    ///
    /// # Errors
    /// [`Error::Socket`] naming the address that cannot be bound;
    /// [`Error::Tls`] for a certificate or key file that cannot be used,
    /// [`Error::TlsConfig`] for a configuration the transport refuses;
    /// [`Error::Invalid`] for a bad descriptor set or no address.
    pub async fn serve(self, addrs: &[SocketAddr]) -> Result<RunningServer> {
        if addrs.is_empty() {
            return Err(Error::Invalid {
                what: "server addresses",
                reason: "none given".into(),
            });
        }
        // Certificate files are checked before anything binds.
        let tls = self.tls.load()?;
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(self.keepalive.interval))
            .http2_keepalive_timeout(Some(self.keepalive.timeout))
            .initial_connection_window_size(Some(super::CONNECTION_WINDOW));
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).map_err(|source| Error::TlsConfig {
                what: "server configuration",
                source,
            })?;
        }
        let connections = Arc::new(Connections::new(
            self.limits,
            self.keepalive.interval,
            crate::metrics::ServerMetrics::new(&self.name),
            self.on_duplicate.clone(),
        ));
        let mut builder = builder
            .layer(ArrivalLayer(Arc::clone(&self.clock)))
            .layer(ConnectionLayer(Arc::clone(&connections)));
        let mut bound = Vec::new();
        let mut incoming: Option<Incoming> = None;
        for addr in addrs {
            let io = |source| Error::Socket {
                protocol: "tcp",
                addr: *addr,
                source,
            };
            let listener = TcpIncoming::bind(*addr)
                .map_err(io)?
                .with_nodelay(Some(true));
            bound.push(listener.local_addr().map_err(io)?);
            let next: Incoming = Box::pin(listener);
            incoming = Some(match incoming {
                None => next,
                Some(prev) => Box::pin(prev.merge(next)),
            });
        }
        let Some(incoming) = incoming else {
            return Err(Error::WrongState("no listener"));
        };

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_service_status("", ServingStatus::Serving).await;
        health.set_serving::<PeerServer<PeerService>>().await;
        for name in &self.service_names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        // Every registered file resolves (symbols, imports); the list of
        // services names only those served here, not every service the
        // descriptor sets declare. Built once per process for each set of
        // names and files (`reflection_cache`).
        let reflection =
            super::reflection_cache::shared(&self.service_names, &self.descriptor_sets, || {
                let mut reflection = tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    .with_service_name(<PeerServer<PeerService> as NamedService>::NAME)
                    .with_service_name(
                        <tonic_health::pb::health_server::HealthServer<
                            tonic_health::server::HealthService,
                        > as NamedService>::NAME,
                    )
                    .with_service_name("grpc.reflection.v1.ServerReflection");
                for name in &self.service_names {
                    reflection = reflection.with_service_name(*name);
                }
                for set in &self.descriptor_sets {
                    reflection = reflection.register_encoded_file_descriptor_set(set);
                }
                reflection.build_v1().map_err(|e| Error::Invalid {
                    what: "reflection descriptor set",
                    reason: e.to_string(),
                })
            })?;
        let peer = PeerServer::new(
            PeerService::new(self.id, self.clock, self.policy)
                .with_connections(Arc::clone(&connections))
                .with_cert_binding(self.cert_binding),
        )
        .max_decoding_message_size(self.max_message_size);

        let mut routes = self.routes;
        routes
            .add_service(peer)
            .add_service(health_service)
            .add_service(reflection);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (kill, switch) = tokio::sync::watch::channel(false);
        let incoming = Accept {
            inner: incoming,
            connections: Arc::clone(&connections),
            switch,
            pause: None,
            last_warning: None,
        };
        let task = tokio::spawn(
            builder
                .add_routes(routes.routes())
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stop_rx.await;
                })
                .in_current_span(),
        );
        tracing::info!(addrs = ?bound, "tsercom server serving");
        Ok(RunningServer {
            connections,
            addrs: bound,
            health,
            service_names: self.service_names,
            stop: Some(stop_tx),
            kill,
            task: Some(task),
            grace: self.grace,
        })
    }
}

/// A serving [`Server`]; stops on [`stop`](RunningServer::stop) or drop.
#[derive(Debug)]
pub struct RunningServer {
    connections: Arc<Connections>,
    addrs: Vec<SocketAddr>,
    health: HealthReporter,
    service_names: Vec<&'static str>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    kill: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<std::result::Result<(), tonic::transport::Error>>>,
    grace: Duration,
}

impl RunningServer {
    /// The bound addresses, with real ports.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Connection counters: open, refused, duplicates, streams refused for
    /// want of a handshake, ...
    pub fn stats(&self) -> ServerStats {
        self.connections.stats()
    }

    /// Sets one service's health status (independent of the overall one,
    /// which is the service name `""`).
    pub async fn set_service_status(&self, service: &str, status: ServingStatus) {
        self.health.set_service_status(service, status).await;
    }

    /// Marks every service and the server NOT_SERVING (the first step of
    /// `stop`; load balancers and peers stop sending new work).
    pub async fn mark_not_serving(&self) {
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        self.health
            .set_not_serving::<PeerServer<PeerService>>()
            .await;
        for name in &self.service_names {
            self.health
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
    }

    /// NOT_SERVING, then a graceful shutdown: in-flight calls get the grace
    /// period, then every remaining connection is closed (peers see the
    /// disconnect) and the server ends.
    pub async fn stop(mut self) {
        self.mark_not_serving().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(self.grace, &mut task).await.is_err()
        {
            tracing::debug!(grace = ?self.grace, "connections still open after the grace period; closing them");
            self.kill.send_replace(true);
            if tokio::time::timeout(self.grace, &mut task).await.is_err() {
                task.abort();
            }
        }
        self.kill.send_replace(true);
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.kill.send_replace(true);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
