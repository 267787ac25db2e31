//! `tsercom.Peer`: the handshake and the clock-sync exchange, both sides.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tonic::{Request, Response, Status};

use super::PROTOCOL_VERSION;
use super::cert_binding::CertBinding;
use super::connections::{Binding, Connections};
use super::peer_connection::ConnHandle;
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::proto::{self, peer_client::PeerClient, peer_server::Peer};
use crate::time::{Clock, Exchange, OffsetEstimator, SynchronizedClock, Timestamp};

/// Which dialers a server accepts, and who it tells.
#[derive(Clone, Default)]
pub struct HandshakePolicy {
    /// When set, only these ids are accepted (e.g. the id discovery
    /// announced); others get `PERMISSION_DENIED`.
    pub expected: Option<Vec<CallerId>>,
    /// Called with each accepted dialer's id and address.
    #[allow(clippy::type_complexity)] // a plain callback; a named type would only hide it
    pub on_handshake: Option<Arc<dyn Fn(CallerId, Option<SocketAddr>) + Send + Sync>>,
}

impl std::fmt::Debug for HandshakePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakePolicy")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

/// The server side of `tsercom.Peer`.
#[derive(Debug)]
pub struct PeerService {
    id: CallerId,
    clock: Arc<dyn Clock>,
    policy: HandshakePolicy,
    connections: Option<Arc<Connections>>,
    cert_binding: CertBinding,
}

impl PeerService {
    /// A peer service answering as `id`, with time from `clock` (the
    /// timebase's clock on an aggregator).
    pub fn new(id: CallerId, clock: Arc<dyn Clock>, policy: HandshakePolicy) -> Self {
        PeerService {
            id,
            clock,
            policy,
            connections: None,
            cert_binding: CertBinding::None,
        }
    }

    /// Checks each handshake's CallerId against the client certificate.
    pub fn with_cert_binding(mut self, binding: CertBinding) -> Self {
        self.cert_binding = binding;
        self
    }

    /// Binds each handshake's CallerId to its connection in `connections`
    /// (what a [`Server`](super::Server) does).
    pub(crate) fn with_connections(mut self, connections: Arc<Connections>) -> Self {
        self.connections = Some(connections);
        self
    }
}

/// This process's incarnation: a random non-zero number drawn once per
/// process start, sent in every handshake (see `tsercom.HandshakeRequest`).
pub fn incarnation() -> u64 {
    static INCARNATION: OnceLock<u64> = OnceLock::new();
    *INCARNATION.get_or_init(|| {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        (high ^ low).max(1)
    })
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn handshake(
        &self,
        request: Request<proto::HandshakeRequest>,
    ) -> Result<Response<proto::HandshakeResponse>, Status> {
        let remote = request.remote_addr();
        let conn = request.extensions().get::<ConnHandle>().cloned();
        let leaf = request
            .peer_certs()
            .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()));
        let req = request.into_inner();
        let Some(id) = req.caller_id.as_ref() else {
            tracing::warn!(?remote, "handshake without a caller id");
            return Err(Status::invalid_argument("handshake: missing caller_id"));
        };
        let id = CallerId::try_from(id).map_err(|e| {
            tracing::warn!(?remote, error = %e, "handshake with an invalid caller id");
            Status::invalid_argument(format!("handshake: {e}"))
        })?;
        if req.protocol_version != PROTOCOL_VERSION {
            tracing::warn!(
                ?remote,
                version = req.protocol_version,
                "handshake with an incompatible version"
            );
            return Err(Status::failed_precondition(format!(
                "handshake: protocol version {} is not supported (this peer speaks {PROTOCOL_VERSION})",
                req.protocol_version
            )));
        }
        if let Some(expected) = &self.policy.expected
            && !expected.contains(&id)
        {
            tracing::warn!(?remote, %id, "handshake from an unexpected caller");
            return Err(Status::permission_denied(format!(
                "handshake: caller {id} is not expected here"
            )));
        }
        if let Err(status) = self.cert_binding.check(leaf.as_deref(), id) {
            tracing::warn!(?remote, %id, reason = %status.message(), "handshake refused by the certificate binding");
            return Err(status);
        }
        if let (Some(connections), Some(ConnHandle(state))) = (&self.connections, &conn) {
            connections
                .bind(
                    state,
                    Binding {
                        caller: id,
                        incarnation: req.incarnation,
                    },
                )
                .await?;
        }
        if let Some(callback) = &self.policy.on_handshake {
            callback(id, remote);
        }
        Ok(Response::new(proto::HandshakeResponse {
            caller_id: Some(self.id.to_proto()),
            protocol_version: PROTOCOL_VERSION,
        }))
    }

    async fn sync_time(
        &self,
        request: Request<proto::TimeSyncRequest>,
    ) -> Result<Response<proto::TimeSyncResponse>, Status> {
        // T2 as early as the server saw the request (its arrival, stamped
        // before decoding and routing), so that processing does not bias
        // the offset; the handler's time where no layer stamped it.
        let received = request
            .extensions()
            .get::<super::server::Arrival>()
            .map_or_else(|| self.clock.now(), |a| a.0);
        let req = request.into_inner();
        Ok(Response::new(proto::TimeSyncResponse {
            client_send: req.client_send,
            server_receive: Some(received.to_prost()),
            server_send: Some(self.clock.now().to_prost()),
        }))
    }
}

fn status_error(what: &'static str, status: Status) -> Error {
    Error::Rpc {
        what,
        status: Box::new(status),
    }
}

/// Performs the handshake as `id` on `channel`; returns the peer's id.
///
/// # Errors
/// [`Error::Rpc`] when the peer refuses us (its status: e.g.
/// `ALREADY_EXISTS` when another live process holds our CallerId, see
/// [`Error::is_refusal`]); [`Error::Protocol`] when it answers with a
/// different `expected` id or an incompatible version;
/// [`Error::MissingField`] or [`Error::InvalidCallerId`] for a missing or
/// invalid id.
pub async fn handshake(
    channel: tonic::transport::Channel,
    id: CallerId,
    expected: Option<CallerId>,
) -> Result<CallerId> {
    let mut client = PeerClient::new(channel);
    let reply = client
        .handshake(proto::HandshakeRequest {
            caller_id: Some(id.to_proto()),
            protocol_version: PROTOCOL_VERSION,
            incarnation: incarnation(),
        })
        .await
        .map_err(|s| status_error("handshake", s))?
        .into_inner();
    if reply.protocol_version != PROTOCOL_VERSION {
        return Err(Error::Protocol {
            what: "handshake",
            reason: format!(
                "peer speaks protocol version {}, this peer {PROTOCOL_VERSION}",
                reply.protocol_version
            ),
        });
    }
    let peer = reply
        .caller_id
        .as_ref()
        .ok_or(Error::MissingField {
            message: "tsercom.HandshakeResponse",
            field: "caller_id",
        })
        .and_then(CallerId::try_from)?;
    if let Some(expected) = expected
        && expected != peer
    {
        return Err(Error::Protocol {
            what: "handshake",
            reason: format!("expected peer {expected}, got {peer}"),
        });
    }
    Ok(peer)
}

/// One clock-sync exchange over `channel`, timed with `local`.
///
/// # Errors
/// [`Error::Rpc`] on an RPC failure; range errors on bad timestamps.
pub async fn sync_once(channel: tonic::transport::Channel, local: &dyn Clock) -> Result<Exchange> {
    let mut client = PeerClient::new(channel);
    let t1 = local.now();
    let reply = client
        .sync_time(proto::TimeSyncRequest {
            client_send: Some(t1.to_prost()),
        })
        .await
        .map_err(|s| status_error("clock sync", s))?
        .into_inner();
    let t4 = local.now();
    let field = |ts: &Option<prost_types::Timestamp>, name| {
        ts.as_ref()
            .ok_or(Error::MissingField {
                message: "tsercom.TimeSyncResponse",
                field: name,
            })
            .and_then(Timestamp::from_prost)
    };
    let echoed = field(&reply.client_send, "client_send")?;
    if echoed != t1 {
        return Err(Error::Protocol {
            what: "clock sync",
            reason: "the reply does not echo our request's time".into(),
        });
    }
    Ok(Exchange {
        t1,
        t2: field(&reply.server_receive, "server_receive")?,
        t3: field(&reply.server_send, "server_send")?,
        t4,
    })
}

/// Keeps `clock` synchronized to the peer behind `channel`: `rounds`
/// exchanges `interval` apart (forever when `None`), min-RTT over the last
/// `window`. Failed exchanges are logged and retried at the next interval;
/// the clock keeps its last estimate.
pub async fn run_clock_sync(
    channel: tonic::transport::Channel,
    local: Arc<dyn Clock>,
    clock: SynchronizedClock,
    interval: Duration,
    window: usize,
    rounds: Option<u64>,
) {
    let mut estimator = OffsetEstimator::new(window);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut done = 0;
    while rounds.is_none_or(|r| done < r) {
        ticker.tick().await;
        match sync_once(channel.clone(), &*local).await {
            Ok(exchange) => clock.set_estimate(estimator.add(exchange)),
            Err(e) => tracing::debug!(error = %e, "clock sync exchange failed"),
        }
        done += 1;
    }
}
