//! One SNTP exchange: send a request, read and check the reply.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::super::clock::{Clock, Exchange};
use super::packet::{PACKET_LEN, SntpMode, SntpRejection, check_reply, to_ntp};
use crate::error::{Error, Result};

/// One strict ([`SntpMode::Strict`]) SNTP exchange with `server`, bounded
/// by `timeout`; see [`query_with`].
///
/// # Errors
/// As [`query_with`].
pub async fn query(server: SocketAddr, clock: &dyn Clock, timeout: Duration) -> Result<Exchange> {
    query_with(server, clock, timeout, SntpMode::Strict).await
}

/// One SNTP exchange with `server`, the reply read as `mode` says, bounded
/// by `timeout` (never blocks forever without a server; any port, 123 is
/// not needed).
///
/// A datagram is the reply to this request when it carries the request's
/// Transmit Timestamp (in its Originate field, or in its Transmit field
/// as Python tsercom's server sends it) or has a zero Originate field (a
/// server that does not echo it; a stale reply would carry an older
/// request's timestamp). Such a reply that fails a check of
/// [`SntpMode`] ends the query at once with
/// [`Error::SntpRejected`] and the reason; so does a Kiss-o'-Death. Other
/// datagrams (too short to tell, or carrying another timestamp) may be
/// strays: they are logged and the query keeps waiting, and if nothing
/// valid arrives in time the error is still `SntpRejected`, with the reason
/// of the last one — [`Error::SntpNoReply`] means that nothing at all came
/// back.
///
/// # Errors
/// - [`Error::SntpRejected`]: a reply arrived and was rejected.
/// - [`Error::SntpNoReply`]: no datagram within `timeout`.
/// - [`Error::Socket`]: the socket failed (e.g. an ICMP "port unreachable"
///   for a loopback port nobody listens on).
pub async fn query_with(
    server: SocketAddr,
    clock: &dyn Clock,
    timeout: Duration,
    mode: SntpMode,
) -> Result<Exchange> {
    // Answer on the same family, loopback for a loopback server.
    let bind: SocketAddr = match (server.is_ipv4(), server.ip().is_loopback()) {
        (true, true) => ([127, 0, 0, 1], 0).into(),
        (true, false) => ([0, 0, 0, 0], 0).into(),
        (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |source| Error::Socket {
        protocol: "udp",
        addr: server,
        source,
    };
    let socket = UdpSocket::bind(bind).await.map_err(io)?;
    // Connected: datagrams from any other address never reach us.
    socket.connect(server).await.map_err(io)?;
    let mut request = [0u8; PACKET_LEN];
    request[0] = 4 << 3 | 3; // LI 0, version 4, mode 3 (client)
    let t1 = clock.now();
    let t1_ntp = to_ntp(t1);
    request[40..48].copy_from_slice(&t1_ntp.to_be_bytes());
    if mode == SntpMode::PythonTsercom {
        // Python tsercom's server echoes bytes 28..36 as its Transmit
        // Timestamp (see SntpMode::PythonTsercom): put T1 there too, so its
        // reply identifies this request. Strict requests keep RFC 4330's
        // zeros.
        request[28..36].copy_from_slice(&t1_ntp.to_be_bytes());
    }
    socket.send(&request).await.map_err(io)?;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_stray: Option<SntpRejection> = None;
    loop {
        let len = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(result) => result.map_err(io)?,
            Err(_) => {
                return Err(match last_stray {
                    Some(reason) => Error::SntpRejected {
                        from: server,
                        reason,
                    },
                    None => Error::SntpNoReply {
                        server,
                        waited: timeout,
                    },
                });
            }
        };
        let t4 = clock.now();
        let reply = buf.get(..len).unwrap_or(&[]);
        match check_reply(reply, mode, t1, t1_ntp, t4) {
            Ok(exchange) => return Ok(exchange),
            Err(rejected) if rejected.final_ => {
                tracing::debug!(%server, len, reason = %rejected.reason, "SNTP reply rejected");
                return Err(Error::SntpRejected {
                    from: server,
                    reason: rejected.reason,
                });
            }
            Err(rejected) => {
                tracing::debug!(
                    %server, len, reason = %rejected.reason,
                    "SNTP datagram ignored (not the reply to this request); still waiting"
                );
                last_stray = Some(rejected.reason);
            }
        }
    }
}
