//! SNTP (RFC 5905 / RFC 4330) on UDP: a server that standard NTP clients
//! can measure offsets against, and a client.
//!
//! The server answers mode-3 (client) requests with a mode-4 (server)
//! packet whose Originate Timestamp is the request's Transmit Timestamp
//! (T1), Receive Timestamp the arrival time (T2) and Transmit Timestamp the
//! departure time (T3), all from the server's clock — so a client computes
//! `((T2 - T1) + (T3 - T4)) / 2`, the true offset (the Python original put
//! its time in the wrong field and clients measured half of it). The port
//! is configurable (default unprivileged: 123 needs root). Malformed or
//! short datagrams are counted and ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::Timestamp;
use super::clock::{Clock, Exchange};
use crate::error::{Error, Result};

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
pub const NTP_UNIX_OFFSET: i128 = 2_208_988_800;
/// The default SNTP port of tsercom (unprivileged; standard NTP is 123).
pub const DEFAULT_SNTP_PORT: u16 = 12_123;
/// An NTP packet without extensions.
pub const PACKET_LEN: usize = 48;

/// A Unix timestamp as a 64-bit NTP timestamp (era 0/1 wrap handled by
/// truncation to 32 bits of seconds, as RFC 5905 §6 specifies).
pub fn to_ntp(t: Timestamp) -> u64 {
    let secs = i128::from(t.seconds()) + NTP_UNIX_OFFSET;
    let secs = (secs.rem_euclid(1 << 32)) as u64;
    let frac = (u64::from(t.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// An NTP timestamp as a Unix timestamp, taking the era nearest to `near`
/// (RFC 5905 §6: timestamps are unambiguous within 68 years of a known
/// time).
pub fn from_ntp(ntp: u64, near: Timestamp) -> Result<Timestamp> {
    let secs = i128::from(ntp >> 32);
    let frac = i128::from(ntp & 0xffff_ffff);
    let nanos = (frac * 1_000_000_000 + (1 << 31)) >> 32;
    let near_ntp_secs = i128::from(near.seconds()) + NTP_UNIX_OFFSET;
    let era = (near_ntp_secs - secs + (1 << 31)).div_euclid(1 << 32);
    let unix_secs = secs + era * (1 << 32) - NTP_UNIX_OFFSET;
    Timestamp::from_unix_nanos(unix_secs * 1_000_000_000 + nanos)
}

/// Counters of an SNTP server.
#[derive(Debug, Default)]
pub struct SntpStats {
    /// Requests answered (counted as the reply is sent).
    pub served: AtomicU64,
    /// Datagrams ignored as malformed, short, or not client requests.
    pub malformed: AtomicU64,
}

/// A running SNTP server; it stops when dropped.
#[derive(Debug)]
pub struct SntpServer {
    local_addr: SocketAddr,
    stats: Arc<SntpStats>,
    task: tokio::task::JoinHandle<()>,
}

impl SntpServer {
    /// Binds `addr` (port 0: any free port) and serves from `clock`.
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket cannot be bound.
    pub async fn bind(addr: SocketAddr, clock: Arc<dyn Clock>) -> Result<Self> {
        let socket = UdpSocket::bind(addr).await.map_err(|source| Error::Io {
            path: format!("udp {addr}").into(),
            source,
        })?;
        let local_addr = socket.local_addr().map_err(|source| Error::Io {
            path: format!("udp {addr}").into(),
            source,
        })?;
        let stats = Arc::new(SntpStats::default());
        let task_stats = Arc::clone(&stats);
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                let (len, peer) = match socket.recv_from(&mut buf).await {
                    Ok(got) => got,
                    Err(e) => {
                        // e.g. an ICMP error for an earlier reply: not fatal.
                        tracing::debug!(error = %e, "SNTP receive error");
                        continue;
                    }
                };
                let received = clock.now();
                let Some(reply) = answer(&buf[..len], received, &*clock) else {
                    task_stats.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, len, "ignored a malformed SNTP datagram");
                    continue;
                };
                // Counted before sending, so a client that has the reply
                // also sees the count.
                task_stats.served.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = socket.send_to(&reply, peer).await {
                    tracing::debug!(%peer, error = %e, "SNTP reply not sent");
                }
            }
        });
        Ok(SntpServer {
            local_addr,
            stats,
            task,
        })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Requests served and datagrams ignored.
    pub fn stats(&self) -> &SntpStats {
        &self.stats
    }
}

impl Drop for SntpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The reply to one request, or `None` when it is not a valid client
/// request.
fn answer(request: &[u8], received: Timestamp, clock: &dyn Clock) -> Option<[u8; PACKET_LEN]> {
    if request.len() < PACKET_LEN {
        return None;
    }
    let version = (request[0] >> 3) & 0x7;
    let mode = request[0] & 0x7;
    if mode != 3 || !(1..=4).contains(&version) {
        return None;
    }
    let mut reply = [0u8; PACKET_LEN];
    reply[0] = version << 3 | 4; // LI 0 (no warning), same version, mode 4 (server)
    reply[1] = 1; // stratum 1: this clock is the reference (the timebase)
    reply[2] = request[2]; // poll: echo
    reply[3] = 0xEC_u8; // precision: 2^-20 s (about 1 µs), two's complement
    // root delay, root dispersion: 0; reference id "LOCL" (uncalibrated local clock)
    reply[12..16].copy_from_slice(b"LOCL");
    reply[16..24].copy_from_slice(&to_ntp(received).to_be_bytes()); // reference timestamp
    reply[24..32].copy_from_slice(&request[40..48]); // originate = client's transmit (T1)
    reply[32..40].copy_from_slice(&to_ntp(received).to_be_bytes()); // receive (T2)
    reply[40..48].copy_from_slice(&to_ntp(clock.now()).to_be_bytes()); // transmit (T3)
    Some(reply)
}

/// One SNTP exchange with `server`, bounded by `timeout` (never blocks
/// forever without a server).
///
/// # Errors
/// [`Error::Io`] on socket errors, [`Error::Invalid`] on a timeout or a
/// reply that does not answer our request.
pub async fn query(server: SocketAddr, clock: &dyn Clock, timeout: Duration) -> Result<Exchange> {
    // Answer on the same family, loopback for a loopback server.
    let bind: SocketAddr = match (server.is_ipv4(), server.ip().is_loopback()) {
        (true, true) => ([127, 0, 0, 1], 0).into(),
        (true, false) => ([0, 0, 0, 0], 0).into(),
        (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
        (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |source| Error::Io {
        path: format!("udp {server}").into(),
        source,
    };
    let socket = UdpSocket::bind(bind).await.map_err(io)?;
    socket.connect(server).await.map_err(io)?;
    let mut request = [0u8; PACKET_LEN];
    request[0] = 4 << 3 | 3; // version 4, mode 3 (client)
    let t1 = clock.now();
    let t1_ntp = to_ntp(t1);
    request[40..48].copy_from_slice(&t1_ntp.to_be_bytes());
    socket.send(&request).await.map_err(io)?;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let len = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
            Ok(result) => result.map_err(io)?,
            Err(_) => {
                return Err(Error::Invalid {
                    what: "SNTP reply",
                    reason: format!("none from {server} within {timeout:?}"),
                });
            }
        };
        let t4 = clock.now();
        let reply = &buf[..len];
        // Ignore anything that is not the answer to this request.
        if len < PACKET_LEN || reply[0] & 0x7 != 4 || reply[24..32] != t1_ntp.to_be_bytes() {
            continue;
        }
        let field = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&reply[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let t2 = from_ntp(field(32), t1)?;
        let t3 = from_ntp(field(40), t1)?;
        return Ok(Exchange { t1, t2, t3, t4 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ntp_timestamps_round_trip_to_within_a_nanosecond() {
        for nanos in [0_i128, 1_700_000_000_123_456_789, 4_102_444_800_000_000_001] {
            let t = Timestamp::from_unix_nanos(nanos).expect("in range");
            let back = from_ntp(to_ntp(t), t).expect("in range");
            assert!((back.unix_nanos() - nanos).abs() <= 1, "{t} -> {back}");
        }
        // 2036 era rollover: a time just after it decodes next to `near`.
        let after = Timestamp::new(2_085_978_496 + 10, 0).expect("in range");
        assert_eq!(to_ntp(after) >> 32, 10);
        assert_eq!(from_ntp(to_ntp(after), after).expect("in range"), after);
    }

    #[test]
    fn short_or_wrong_mode_packets_get_no_answer() {
        let clock = super::super::clock::SystemClock;
        assert!(answer(&[0u8; 47], Timestamp::now(), &clock).is_none());
        let mut server_mode = [0u8; 48];
        server_mode[0] = 4 << 3 | 4;
        assert!(answer(&server_mode, Timestamp::now(), &clock).is_none());
        let mut bad_version = [0u8; 48];
        bad_version[0] = 7 << 3 | 3;
        assert!(answer(&bad_version, Timestamp::now(), &clock).is_none());
    }
}
