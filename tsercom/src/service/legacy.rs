//! Streams from legacy peers: Python tsercom 1.x has no
//! `tsercom.Peer/Handshake`; its peers identify themselves by the
//! `tsercom.CallerId` field of the messages they stream. A hosting runtime
//! accepts such a stream only when [`LegacyPeers::IdFromMessages`] is set:
//! the first message's CallerId is then bound to the stream's connection
//! as a handshake would bind it (a live holder of the id keeps it: the
//! newcomer gets `ALREADY_EXISTS`), and every later message that carries
//! a CallerId must carry that one.
//!
//! What this weakens: without a handshake there is no protocol version and
//! no incarnation, so a restart is told from a duplicate only by whether
//! the old connection still answers, and any client that can reach the
//! port can claim any id that is not connected (mutual TLS with a
//! [`CertBinding`](crate::rpc::CertBinding) does not apply: it is checked
//! in the handshake).

use tonic::Status;

use super::{StreamService, bad_peer};
use crate::caller_id::CallerId;
use crate::rpc::PeerConnection;

/// Whether a hosting runtime accepts streams that come without a handshake
/// (Python tsercom 1.x peers, which carry their CallerId in their
/// messages). With [`IdFromMessages`](Self::IdFromMessages) the first
/// message's CallerId is bound to the stream's connection as a handshake
/// would bind it (a live holder of the id keeps it: the newcomer gets
/// `ALREADY_EXISTS`), and every later message that carries a CallerId must
/// carry that one (else `PERMISSION_DENIED`).
///
/// What this weakens: without a handshake there is no protocol version and
/// no incarnation, so a restart is told from a duplicate only by whether
/// the old connection still answers, and any client that can reach the
/// port can claim any id that is not connected (a
/// [`CertBinding`](crate::rpc::CertBinding) does not apply: it is checked
/// in the handshake). No clock sync happens on such a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacyPeers {
    /// A stream on a connection without a handshake is refused with
    /// `UNAUTHENTICATED` (the default).
    #[default]
    Refused,
    /// A stream on a connection without a handshake is identified by the
    /// CallerId in its first message (the request message needs a
    /// `tsercom.CallerId` field; else the stream is refused with
    /// `INVALID_ARGUMENT`).
    IdFromMessages,
}

/// The CallerId a legacy stream's first message carries, bound to its
/// connection.
///
/// # Errors
/// `INVALID_ARGUMENT` when the message type has no CallerId field, or the
/// first message leaves it unset or invalid; `ALREADY_EXISTS` when a live
/// connection holds the id; `UNAUTHENTICATED` when the request did not come
/// through tsercom's server.
pub(super) async fn bind_first_message<M: StreamService>(
    connection: Option<&PeerConnection>,
    first: &M::Request,
) -> Result<CallerId, Status> {
    let connection = connection.ok_or_else(|| {
        Status::unauthenticated("stream: not on a connection of tsercom's server")
    })?;
    let caller = message_caller::<M>(first)?.ok_or_else(|| {
        Status::invalid_argument(
            "legacy stream: the first message carries no CallerId (a peer that does not handshake must set the message's tsercom.CallerId field)",
        )
    })?;
    connection.bind_without_handshake(caller).await?;
    Ok(caller)
}

/// The CallerId a message carries: `Ok(None)` when unset.
///
/// # Errors
/// `INVALID_ARGUMENT` when the message type has no CallerId field or the
/// field holds an invalid id.
pub(super) fn message_caller<M: StreamService>(
    message: &M::Request,
) -> Result<Option<CallerId>, Status> {
    let field = M::request_caller_id(message).ok_or_else(|| {
        Status::invalid_argument(format!(
            "legacy stream: `{}` requests have no tsercom.CallerId field to identify a peer without a handshake",
            M::PATH
        ))
    })?;
    field
        .map(|id| {
            CallerId::parse(&id.id).map_err(|e| bad_peer("legacy stream: CallerId field", &e))
        })
        .transpose()
}

/// Checks a later message of a legacy stream: a CallerId, when set, must
/// be the stream's.
///
/// # Errors
/// `PERMISSION_DENIED` when it names another caller, `INVALID_ARGUMENT`
/// when it is invalid.
pub(super) fn check_later<M: StreamService>(
    caller: CallerId,
    message: &M::Request,
) -> Result<(), Status> {
    match message_caller::<M>(message)? {
        Some(other) if other != caller => Err(Status::permission_denied(format!(
            "legacy stream: this stream is {caller}'s; a message claims {other}"
        ))),
        _ => Ok(()),
    }
}
