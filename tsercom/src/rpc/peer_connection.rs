//! What every request on a tsercom server carries: its connection and what
//! that connection's handshake established ([`PeerConnection`]), inserted
//! by a layer that looks the connection up in the server's table.

use std::net::SocketAddr;
use std::sync::Arc;

use tonic::Status;

use super::connections::{Binding, ConnKey, ConnState, Connections};
use crate::caller_id::CallerId;

/// In every request's extensions on a tsercom [`Server`](super::Server):
/// the connection it came on and what that connection's handshake
/// established. A hosted stream (or a hook's own RPC) checks the caller
/// with [`authenticate`](Self::authenticate).
#[derive(Clone)]
pub struct PeerConnection {
    binding: Option<Binding>,
    remote: SocketAddr,
    connections: Arc<Connections>,
    state: Option<Arc<ConnState>>,
}

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("binding", &self.binding)
            .field("remote", &self.remote)
            .finish()
    }
}

impl PeerConnection {
    /// What the connection's handshake established, if it handshook.
    pub fn binding(&self) -> Option<Binding> {
        self.binding
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// The caller of a request on this connection: the CallerId its
    /// handshake established. `claimed` (e.g. from metadata), when given,
    /// must be that id.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when the connection did not handshake,
    /// `PERMISSION_DENIED` when `claimed` is another id; both counted
    /// ([`ServerStats`](super::ServerStats)) and logged at WARN.
    pub fn authenticate(
        &self,
        what: &str,
        claimed: Option<CallerId>,
    ) -> std::result::Result<Binding, Status> {
        let Some(binding) = self.binding else {
            self.connections.stream_unauthenticated();
            tracing::warn!(remote = %self.remote, ?claimed, "{what} refused: no handshake on its connection");
            return Err(Status::unauthenticated(format!(
                "{what}: no tsercom.Peer/Handshake on this connection (a tsercom dialer sends it first)"
            )));
        };
        match claimed {
            Some(claimed) if claimed != binding.caller => {
                self.connections.stream_forbidden();
                tracing::warn!(remote = %self.remote, %claimed, handshook = %binding.caller, "{what} refused: it claims another CallerId than its connection's handshake");
                Err(Status::permission_denied(format!(
                    "{what}: this connection handshook as {}, not {claimed}",
                    binding.caller
                )))
            }
            _ => Ok(binding),
        }
    }

    /// Binds `caller` to this connection without a handshake (a legacy
    /// peer's stream, identified by its first message; no incarnation), as
    /// a handshake would: a live connection holding the id keeps it.
    ///
    /// # Errors
    /// `ALREADY_EXISTS` when a live connection holds `caller`,
    /// `PERMISSION_DENIED` when this connection is bound to another id,
    /// `UNAUTHENTICATED` when the connection is not in the server's table
    /// (it closed).
    pub async fn bind_without_handshake(
        &self,
        caller: CallerId,
    ) -> std::result::Result<Binding, Status> {
        let state = self
            .state
            .as_ref()
            .ok_or_else(|| Status::unauthenticated("stream: its connection is no longer open"))?;
        let binding = Binding {
            caller,
            incarnation: 0,
        };
        self.connections.bind(state, binding).await?;
        self.connections.stream_legacy();
        tracing::info!(remote = %self.remote, %caller, "legacy peer (no handshake) identified by its first message");
        Ok(binding)
    }
}

/// Looks up the connection of each request and inserts its
/// [`PeerConnection`].
#[derive(Clone)]
pub(crate) struct ConnectionLayer(pub(crate) Arc<Connections>);

impl<S> tower::Layer<S> for ConnectionLayer {
    type Service = ConnectionService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ConnectionService {
            inner,
            connections: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub(crate) struct ConnectionService<S> {
    inner: S,
    connections: Arc<Connections>,
}

/// The connection's addresses from tonic's connect info (plain or TLS).
pub(crate) fn conn_key<B>(request: &http::Request<B>) -> Option<ConnKey> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let ext = request.extensions();
    let tcp = ext.get::<TcpConnectInfo>().cloned().or_else(|| {
        ext.get::<TlsConnectInfo<TcpConnectInfo>>()
            .map(|t| t.get_ref().clone())
    })?;
    Some((tcp.local_addr()?, tcp.remote_addr()?))
}

impl<S, B> tower_service::Service<http::Request<B>> for ConnectionService<S>
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
        if let Some(key) = conn_key(&request) {
            let state = self.connections.get(&key);
            request.extensions_mut().insert(PeerConnection {
                binding: state.as_ref().and_then(|s| s.binding()),
                remote: key.1,
                connections: Arc::clone(&self.connections),
                state: state.clone(),
            });
            if let Some(state) = state {
                request.extensions_mut().insert(ConnHandle(state));
            }
        }
        self.inner.call(request)
    }
}

/// The connection's state, for the handshake (crate-internal).
#[derive(Clone)]
pub(crate) struct ConnHandle(pub(crate) Arc<ConnState>);
