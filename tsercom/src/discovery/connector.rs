//! From discovery to connections: one reconnecting connection per peer,
//! keyed by CallerId.
//!
//! - `Added`: connect through the connections layer (TLS, handshake —
//!   which must confirm the CallerId announced —, reconnection with
//!   backoff), trying its addresses in [`dial_order`](super::dial_order)
//!   (a remote peer's loopback addresses never), or its host name when it
//!   announced no address.
//! - `Updated` with other addresses or port: reconnect there.
//! - `Removed`: disconnect after the grace period, unless it comes back.
//! - Two announcements with one CallerId (two instance names, e.g. before
//!   and after a restart) are one peer.
//! - An announcement without a CallerId is keyed by its instance name and
//!   the handshake's id is not checked against anything.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use tokio::sync::mpsc;

use super::{Discovery, DiscoveryEvent, ServiceInfo};
use crate::caller_id::CallerId;
use crate::error::Result;
use crate::queue::QueueConfig;
use crate::rpc::{
    Backoff, ClientTls, ConnectConfig, Connection, ConnectionEvent, Outbox, Sleeper,
    spawn_connection,
};

/// How the connector connects.
#[derive(Clone, Debug)]
pub struct ConnectorConfig {
    /// Our id, sent in each handshake.
    pub id: CallerId,
    /// TLS settings for every peer.
    pub tls: ClientTls,
    /// Retry delays per peer.
    pub backoff: Backoff,
    /// Outbox per peer.
    pub outbox: QueueConfig,
    /// How long a removed peer stays connected in case it comes back.
    pub removal_grace: Duration,
    /// HTTP/2 keepalive of each connection.
    pub keepalive: crate::rpc::Keepalive,
}

/// What happened to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// Found (or moved): connecting to it.
    Connecting {
        /// The peer's key.
        peer: PeerKey,
    },
    /// Connected (or reconnected) and handshaken.
    Connected {
        /// The peer's key (its CallerId when announced).
        peer: PeerKey,
        /// The address actually connected to.
        addr: SocketAddr,
    },
    /// The connection to a peer failed or ended; it is retried.
    Disconnected {
        /// The peer.
        peer: PeerKey,
        /// Why.
        reason: String,
    },
    /// The peer refused us for who we are (e.g. `ALREADY_EXISTS`: another
    /// live process holds our CallerId); retried with backoff.
    Refused {
        /// The peer.
        peer: PeerKey,
        /// The peer's status code.
        code: tonic::Code,
        /// Its message.
        reason: String,
    },
    /// The peer was removed (after the grace period) and is no longer
    /// connected.
    Gone {
        /// The peer.
        peer: PeerKey,
    },
}

/// How a peer is identified.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerKey {
    /// By its announced (and handshake-confirmed) CallerId.
    Caller(CallerId),
    /// By instance name, when no CallerId was announced.
    Instance(String),
}

struct Peer<T> {
    targets: Vec<String>,
    instances: Vec<String>,
    connection: Connection<T>,
    forwarder: tokio::task::JoinHandle<()>,
    removal: Option<tokio::task::JoinHandle<()>>,
}

impl<T> Drop for Peer<T> {
    fn drop(&mut self) {
        self.forwarder.abort();
        if let Some(r) = &self.removal {
            r.abort();
        }
    }
}

enum Command<T> {
    Send(PeerKey, T, tokio::sync::oneshot::Sender<Result<()>>),
    Expire(PeerKey),
}

/// Drives a [`Discovery`] into connections; dropped → all disconnect.
pub struct Connector<T> {
    commands: mpsc::Sender<Command<T>>,
    events: mpsc::Receiver<PeerEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl<T> std::fmt::Debug for Connector<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").finish_non_exhaustive()
    }
}

impl<T> Drop for Connector<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<T: Send + 'static> Connector<T> {
    /// The next peer event.
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        self.events.recv().await
    }

    /// Queues `item` for one peer (sent now or after its reconnection).
    /// Under the `Block` outbox policy this waits for room, and the
    /// connector handles no discovery event meanwhile.
    ///
    /// # Errors
    /// [`Error::UnknownPeer`](crate::Error::UnknownPeer) for an unknown
    /// peer; the outbox policy's errors.
    pub async fn send(&self, peer: PeerKey, item: T) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let closed = || crate::Error::Closed("connector".into());
        self.commands
            .send(Command::Send(peer, item, tx))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?
    }
}

fn key_of(info: &ServiceInfo) -> PeerKey {
    info.caller_id
        .map_or_else(|| PeerKey::Instance(info.instance.clone()), PeerKey::Caller)
}

/// Events buffered for the owner.
const EVENT_QUEUE: usize = 256;

/// Starts connecting to whatever `discovery` reports. `session` runs on
/// each established channel, as in [`spawn_connection`].
pub fn spawn_connector<T, S, F>(
    mut discovery: Box<dyn Discovery>,
    config: ConnectorConfig,
    sleeper: Arc<dyn Sleeper>,
    session: S,
) -> Connector<T>
where
    T: Send + 'static,
    S: Fn(tonic::transport::Channel, Outbox<T>, CallerId, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Result<()>> + Send + 'static,
{
    let session = Arc::new(session);
    let (commands, mut command_rx) = mpsc::channel::<Command<T>>(64);
    let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
    let expire_tx = commands.clone();
    let task = tokio::spawn(async move {
        let mut peers: HashMap<PeerKey, Peer<T>> = HashMap::new();
        let connect = |key: &PeerKey, info: &ServiceInfo, targets: Vec<String>| -> Peer<T> {
            let session = Arc::clone(&session);
            let mut connection = spawn_connection(
                ConnectConfig {
                    targets: targets.clone(),
                    tls: config.tls.clone(),
                    id: config.id,
                    expected_peer: info.caller_id,
                    backoff: config.backoff,
                    outbox: config.outbox,
                    keepalive: config.keepalive,
                },
                Arc::clone(&sleeper),
                move |channel, outbox, peer, addr| session(channel, outbox, peer, addr),
            );
            // Forward the connection's events as peer events.
            let events_tx = events_tx.clone();
            let key_for_events = key.clone();
            let mut connection_events = connection.take_events();
            let forwarder = tokio::spawn(async move {
                while let Some(event) = connection_events.recv().await {
                    let event = match event {
                        ConnectionEvent::Connected { addr, .. } => PeerEvent::Connected {
                            peer: key_for_events.clone(),
                            addr,
                        },
                        ConnectionEvent::Disconnected { reason, .. } => PeerEvent::Disconnected {
                            peer: key_for_events.clone(),
                            reason,
                        },
                        ConnectionEvent::Refused { code, reason, .. } => PeerEvent::Refused {
                            peer: key_for_events.clone(),
                            code,
                            reason,
                        },
                    };
                    if events_tx.send(event).await.is_err() {
                        break;
                    }
                }
            });
            Peer {
                targets,
                instances: vec![info.instance.clone()],
                connection,
                forwarder,
                removal: None,
            }
        };
        loop {
            tokio::select! {
                event = discovery.next_event() => {
                    let Some(event) = event else { break };
                    match event {
                        DiscoveryEvent::Added(info) | DiscoveryEvent::Updated(info) => {
                            let targets = info.dial_targets();
                            if targets.is_empty() {
                                tracing::warn!(instance = %info.instance, addresses = ?info.addresses, "announced without a dialable address; ignored");
                                continue;
                            }
                            let key = key_of(&info);
                            match peers.get_mut(&key) {
                                Some(peer) if peer.targets == targets => {
                                    // Same peer, same place: another
                                    // announcement (it may be back after
                                    // an outage: retry now, not after the
                                    // backoff).
                                    if let Some(r) = peer.removal.take() {
                                        r.abort();
                                    }
                                    peer.connection.retry_now();
                                    if !peer.instances.contains(&info.instance) {
                                        peer.instances.push(info.instance.clone());
                                    }
                                }
                                _ => {
                                    // New, or moved: (re)connect there
                                    // (said first, so its outcome follows).
                                    let _ = events_tx
                                        .send(PeerEvent::Connecting { peer: key.clone() })
                                        .await;
                                    let peer = connect(&key, &info, targets);
                                    peers.insert(key, peer);
                                }
                            }
                        }
                        DiscoveryEvent::Removed { instance } => {
                            let keys: Vec<PeerKey> = peers
                                .iter_mut()
                                .filter_map(|(k, p)| {
                                    p.instances.retain(|i| *i != instance);
                                    p.instances.is_empty().then(|| k.clone())
                                })
                                .collect();
                            for key in keys {
                                if let Some(peer) = peers.get_mut(&key) {
                                    let expire = expire_tx.clone();
                                    // Through the injected sleeper, like the backoff.
                                    let grace = sleeper.sleep(config.removal_grace);
                                    let k = key.clone();
                                    peer.removal = Some(tokio::spawn(async move {
                                        grace.await;
                                        let _ = expire.send(Command::Expire(k)).await;
                                    }));
                                }
                            }
                        }
                    }
                }
                command = command_rx.recv() => {
                    let Some(command) = command else { break };
                    match command {
                        Command::Send(key, item, reply) => {
                            let result = match peers.get(&key) {
                                Some(peer) => peer.connection.send(item).await,
                                None => Err(crate::Error::UnknownPeer(format!("{key:?}"))),
                            };
                            let _ = reply.send(result);
                        }
                        Command::Expire(key) => {
                            let expired = peers.get(&key).is_some_and(|p| p.instances.is_empty());
                            if expired {
                                peers.remove(&key);
                                let _ = events_tx.send(PeerEvent::Gone { peer: key }).await;
                            }
                        }
                    }
                }
            }
        }
    }.in_current_span());
    Connector {
        commands,
        events,
        task,
    }
}
