//! HTTP/2 keepalive: how fast a dead, stopped or partitioned peer is noticed.
//!
//! Both sides send HTTP/2 PINGs every `interval` while a connection is open
//! (idle or not) and close it when no answer comes within `timeout`, so a
//! peer that stopped answering (SIGKILL without a FIN, SIGSTOP, a cut link)
//! ends its streams within about `interval + timeout`, and its state on the
//! handle leaves `Connected`.
//!
//! Peers built on gRPC-core or grpc-go (e.g. Python's `grpcio`) refuse, by
//! default, PINGs more often than every 5 minutes on a connection without
//! data (`GOAWAY too_many_pings`): for such peers, set a longer `interval`
//! (or accept that an idle connection is re-established).

use std::time::Duration;

/// HTTP/2 keepalive settings, for servers ([`Server::with_keepalive`](super::Server::with_keepalive))
/// and dialers ([`ConnectConfig::keepalive`](super::ConnectConfig::keepalive)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between PINGs.
    pub interval: Duration,
    /// How long a PING may go unanswered before the connection is closed.
    pub timeout: Duration,
}

impl Default for Keepalive {
    /// A PING every second, two seconds to answer: a dead peer is noticed
    /// within about 3 s.
    fn default() -> Self {
        Keepalive {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }
}

impl Keepalive {
    /// Applies the settings to a dialer's endpoint (with tsercom's
    /// connection window, [`CONNECTION_WINDOW`](super::CONNECTION_WINDOW)).
    pub(crate) fn apply(&self, endpoint: tonic::transport::Endpoint) -> tonic::transport::Endpoint {
        endpoint
            .initial_connection_window_size(super::CONNECTION_WINDOW)
            .http2_keep_alive_interval(self.interval)
            .keep_alive_timeout(self.timeout)
            .keep_alive_while_idle(true)
    }
}
