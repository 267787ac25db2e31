//! The SNTP server: answers mode-3 (client) requests with a mode-4
//! (server) packet whose Originate Timestamp is the request's Transmit
//! Timestamp (T1), Receive Timestamp the arrival time (T2) and Transmit
//! Timestamp the departure time (T3), all from the server's clock — so a
//! standard client (and [`SntpMode::Strict`](super::SntpMode::Strict))
//! computes `((T2 - T1) + (T3 - T4)) / 2`, the true offset. Malformed or
//! short datagrams are counted and ignored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::UdpSocket;

use super::super::Timestamp;
use super::super::clock::Clock;
use super::packet::{PACKET_LEN, to_ntp};
use crate::error::{Error, Result};

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
    /// [`Error::Socket`] when the socket cannot be bound.
    pub async fn bind(addr: SocketAddr, clock: Arc<dyn Clock>) -> Result<Self> {
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|source| Error::Socket {
                protocol: "udp",
                addr,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| Error::Socket {
            protocol: "udp",
            addr,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_wrong_mode_packets_get_no_answer() {
        let clock = crate::time::SystemClock;
        assert!(answer(&[0u8; 47], Timestamp::now(), &clock).is_none());
        let mut server_mode = [0u8; 48];
        server_mode[0] = 4 << 3 | 4;
        assert!(answer(&server_mode, Timestamp::now(), &clock).is_none());
        let mut bad_version = [0u8; 48];
        bad_version[0] = 7 << 3 | 3;
        assert!(answer(&bad_version, Timestamp::now(), &clock).is_none());
    }
}
