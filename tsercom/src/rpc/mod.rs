//! Between two peers once they know each other's address: serving,
//! the handshake, and in-band clock sync.
//!
//! ```text
//!  dialer (usually the producer... or not: role and direction are independent)
//!    Channel ── Peer.Handshake(my CallerId, version) ──▶ Server: PeerService
//!            ◀─ (its CallerId, version) ─────────────── validates id and version
//!    clock sync loop ── Peer.SyncTime(T1) ──────────▶ T2, T3 from the timebase clock
//!            ◀────────────────────────────────────────
//!    OffsetEstimator (min RTT) ──▶ SynchronizedClock
//! ```
//!
//! Every [`Server`] hosts the user's services plus `tsercom.Peer`,
//! `grpc.health.v1.Health` and server reflection.

mod cert_binding;
pub(crate) mod codec;
mod connections;
mod keepalive;
mod killable;
mod peer;
mod peer_connection;
pub mod reconnect;
mod reflection_cache;
mod server;
pub mod tls;
mod validate;

pub use cert_binding::CertBinding;
pub use connections::{Binding, ConnectionLimits, ServerStats};
pub use keepalive::Keepalive;
pub use peer::{HandshakePolicy, PeerService, handshake, incarnation, run_clock_sync, sync_once};
pub use peer_connection::PeerConnection;
pub use reconnect::{
    ADDRESS_DEADLINE, Backoff, BoxFutureUnit, ConnectConfig, Connection, ConnectionEvent, Outbox,
    Sleeper, TokioSleeper, spawn_connection,
};
pub use server::{RunningServer, Server};
pub use tls::{
    ADDR_CONNECT_TIMEOUT, ClientTls, ServerTls, certificate_fingerprint, connect, connect_addr,
    connect_addr_with, connect_pinned, pem_fingerprint,
};
pub use validate::{checked_caller_id, checked_timestamp};

/// The tsercom protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The HTTP/2 connection window of tsercom's servers and dialers (1 MiB;
/// the stream window stays at the default 64 KiB). h2 bounds the small
/// DATA frames a connection may buffer unread to half the connection
/// window, at least 25 600 bytes of framing overhead, and closes the
/// connection past it ("GOAWAY too_many_data_frames"): with the default
/// window, a stream of small messages whose reader is momentarily slower
/// than its writer (a flood, or back-pressure from a full store) is cut
/// after about 130 unread frames, losing what it carried. With 1 MiB, a
/// whole stream window of the smallest frames fits the budget, so a slow
/// reader slows the writer (flow control) instead.
pub(crate) const CONNECTION_WINDOW: u32 = 1 << 20;
