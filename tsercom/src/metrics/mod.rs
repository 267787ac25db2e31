//! tsercom's metrics, emitted through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! ```text
//!  data path (endpoints, stores, queues, connection table, dialer)
//!      │  metrics::counter! / gauge!  (a branch while no recorder is installed)
//!      ▼
//!  the process's recorder ──▶ Prometheus text over HTTP (feature `prometheus`:
//!  (yours, or tsercom's)       serve_prometheus / TSERCOM_METRICS_ADDR)
//! ```
//!
//! Every metric is emitted whether or not a recorder is installed; without
//! one each costs a branch. Install a recorder **before** starting the
//! [`RuntimeManager`](crate::RuntimeManager): tsercom registers its
//! per-peer handles when a peer connects and per-runtime ones when a
//! runtime is registered, and a handle registered before any recorder stays
//! a no-op. With feature `prometheus`, `serve_prometheus` installs
//! tsercom's recorder and serves the text exposition; with another
//! recorder (OpenTelemetry, StatsD, ...) call [`describe`] after installing
//! it to attach the descriptions below.
//!
//! Labels are bounded: `runtime` (the runtime's name), `peer` (the first 8
//! hex digits of the peer's [`CallerId`]), `reason` (a fixed set per
//! metric, listed below). No address, message or full id is ever a label.
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `tsercom_samples_received_total` | counter | runtime, peer | data samples an aggregator received on its streams (before its store's overflow policy) |
//! | `tsercom_samples_sent_total` | counter | runtime, peer | data samples a producer handed to a peer's stream |
//! | `tsercom_events_received_total` | counter | runtime, peer | events a producer received |
//! | `tsercom_events_sent_total` | counter | runtime, peer | events an aggregator handed to a peer's stream |
//! | `tsercom_bytes_received_total` | counter | runtime, peer | encoded size (protobuf, without gRPC framing) of what was received, samples and events |
//! | `tsercom_bytes_sent_total` | counter | runtime, peer | the same for what was sent |
//! | `tsercom_samples_dropped_total` | counter | runtime, reason | messages (samples or events) lost, by reason: `store_full` (a caller's store in the handle full of unread messages, by its overflow policy), `invalid_timestamp` (refused before storing), `malformed` (a message that did not decode or was over the size limit; the stream it came on is closed), `forgotten` (unread samples of a caller that left, [`Forgetting`](crate::data::Forgetting)), `send_queue_full` (a peer's outbound queue — samples of a producer, events of an aggregator — by its overflow policy or a broadcast's bounded wait), `no_peer` (sent to all while no peer was connected, past the queue's capacity), `queue_closed` (items queued for a peer that left, or when the runtime stopped), `unacknowledged` (sent and never acknowledged: the peer stayed away past `keep_unacked`, or the runtime stopped) |
//! | `tsercom_reconnects_total` | counter | runtime, peer | a dialer's sessions with a peer after its first |
//! | `tsercom_peer_connected` | gauge | runtime, peer | open streams with the peer: 1 while connected, 0 after it left (2 briefly while a reconnect replaces a stream) |
//! | `tsercom_clock_offset_seconds` | gauge | runtime, peer | the peer's clock minus this runtime's (a dialer's estimate) |
//! | `tsercom_round_trip_seconds` | gauge | runtime, peer | the round trip of the clock exchange behind that estimate |
//! | `tsercom_delivery_lag_seconds` | gauge | runtime, peer | a received message's age on arrival, set on the first and every 64th message and at least once per second of message time: this runtime's clock minus its timestamp (on this runtime's timebase, after the clock offset is applied) |
//! | `tsercom_queue_depth` | gauge | runtime, queue | items waiting, sampled every second: `outbound` (every peer's outbound queue, and what waits for a first peer), `unread` (messages in the handle's store not yet taken; in the process holding the store) |
//! | `tsercom_connections_accepted_total` | counter | runtime | connections a hosting runtime's server accepted |
//! | `tsercom_connections_open` | gauge | runtime | connections open now |
//! | `tsercom_connections_refused_total` | counter | runtime, reason | `full` (the connection limit, every connection handshaken), `duplicate` (a CallerId held by a live connection), `unauthenticated` (a stream without a handshake), `forbidden` (a stream claiming another CallerId) |
//! | `tsercom_connections_closed_total` | counter | runtime, reason | closed by the server: `handshake_timeout`, `evicted` (no handshake, room made for a newcomer), `replaced` (a restart of the same CallerId took over) |
//! | `tsercom_delivery_resent_total` | counter | runtime | messages sent again after a reconnection ([acknowledged delivery](crate::delivery)), sampled every second |
//! | `tsercom_delivery_possibly_duplicated_total` | counter | runtime | of those, resent to a restarted peer (its previous process may have delivered them) |
//! | `tsercom_delivery_acknowledged_total` | counter | runtime | messages peers acknowledged |
//! | `tsercom_delivery_unacknowledged` | gauge | runtime | messages sent and not yet acknowledged |
//! | `tsercom_delivery_duplicates_total` | counter | runtime | messages received twice (resends) and dropped |
//! | `tsercom_delivery_gaps_total` | counter | runtime | numbers a peer gave up (its unacknowledged messages counted lost there, `reason="unacknowledged"`) |
//!
//! Out of process ([`RuntimeManager::start_out_of_process`](crate::RuntimeManager::start_out_of_process)),
//! the network runs in the child and the handle in the parent, each with
//! its own recorder. The child counts what crosses the network — samples,
//! events, bytes, reconnects, peer state, clock, the connection table,
//! `invalid_timestamp` drops, its `outbound` depth; the parent counts what
//! happens at the handle — `store_full`, `forgotten`, `no_peer`,
//! `queue_closed` and `send_queue_full` drops (the configured policies
//! apply there) and both depths. The child does not inherit
//! `TSERCOM_METRICS_ADDR` (two processes cannot listen on one port); it
//! serves at `TSERCOM_CHILD_METRICS_ADDR` when that is set. Counts are not
//! forwarded between the processes: scrape both.

#[cfg(feature = "prometheus")]
mod prometheus;

#[cfg(feature = "prometheus")]
pub(crate) use prometheus::serve_from_env;
#[cfg(feature = "prometheus")]
pub use prometheus::{render, serve_prometheus};

use std::time::Duration;

use ::metrics::{Counter, Gauge, Unit, counter, describe_counter, describe_gauge, gauge};

use crate::caller_id::CallerId;
use crate::runtime::Role;
use crate::time::Estimate;

/// The environment variable naming the address a process serves its
/// metrics on (feature `prometheus`), e.g. `127.0.0.1:9464`; read when a
/// [`RuntimeManager`](crate::RuntimeManager) starts.
pub const ADDR_ENV: &str = "TSERCOM_METRICS_ADDR";
/// The environment variable naming the address the out-of-process child
/// serves its metrics on (it becomes the child's `TSERCOM_METRICS_ADDR`).
pub const CHILD_ADDR_ENV: &str = "TSERCOM_CHILD_METRICS_ADDR";

/// Data samples an aggregator received.
pub const SAMPLES_RECEIVED: &str = "tsercom_samples_received_total";
/// Data samples a producer sent.
pub const SAMPLES_SENT: &str = "tsercom_samples_sent_total";
/// Events a producer received.
pub const EVENTS_RECEIVED: &str = "tsercom_events_received_total";
/// Events an aggregator sent.
pub const EVENTS_SENT: &str = "tsercom_events_sent_total";
/// Encoded bytes received.
pub const BYTES_RECEIVED: &str = "tsercom_bytes_received_total";
/// Encoded bytes sent.
pub const BYTES_SENT: &str = "tsercom_bytes_sent_total";
/// Messages lost, by `reason`.
pub const DROPPED: &str = "tsercom_samples_dropped_total";
/// A dialer's sessions with a peer after its first.
pub const RECONNECTS: &str = "tsercom_reconnects_total";
/// Open streams with a peer.
pub const PEER_CONNECTED: &str = "tsercom_peer_connected";
/// A peer's clock minus ours.
pub const CLOCK_OFFSET: &str = "tsercom_clock_offset_seconds";
/// The round trip of the clock exchange.
pub const ROUND_TRIP: &str = "tsercom_round_trip_seconds";
/// The newest received message's age on arrival.
pub const DELIVERY_LAG: &str = "tsercom_delivery_lag_seconds";
/// Items waiting, by `queue`.
pub const QUEUE_DEPTH: &str = "tsercom_queue_depth";
/// Connections a server accepted.
pub const CONNECTIONS_ACCEPTED: &str = "tsercom_connections_accepted_total";
/// Connections open now.
pub const CONNECTIONS_OPEN: &str = "tsercom_connections_open";
/// Connections or streams refused, by `reason`.
pub const CONNECTIONS_REFUSED: &str = "tsercom_connections_refused_total";
/// Connections closed by the server, by `reason`.
pub const CONNECTIONS_CLOSED: &str = "tsercom_connections_closed_total";
/// Messages sent again after a reconnection.
pub const DELIVERY_RESENT: &str = "tsercom_delivery_resent_total";
/// Messages resent to a restarted peer.
pub const DELIVERY_POSSIBLY_DUPLICATED: &str = "tsercom_delivery_possibly_duplicated_total";
/// Messages peers acknowledged.
pub const DELIVERY_ACKNOWLEDGED: &str = "tsercom_delivery_acknowledged_total";
/// Messages sent and not yet acknowledged.
pub const DELIVERY_UNACKNOWLEDGED: &str = "tsercom_delivery_unacknowledged";
/// Messages received twice and dropped.
pub const DELIVERY_DUPLICATES: &str = "tsercom_delivery_duplicates_total";
/// Numbers a peer gave up (seen as a jump).
pub const DELIVERY_GAPS: &str = "tsercom_delivery_gaps_total";

/// A runtime's acknowledged-delivery metrics, set from its counters.
pub(crate) struct DeliveryMetrics {
    resent: Counter,
    possibly_duplicated: Counter,
    acknowledged: Counter,
    unacknowledged: Gauge,
    duplicates: Counter,
    gaps: Counter,
}

impl DeliveryMetrics {
    pub(crate) fn new(runtime: &str) -> Self {
        let r = runtime.to_owned();
        DeliveryMetrics {
            resent: counter!(DELIVERY_RESENT, "runtime" => r.clone()),
            possibly_duplicated: counter!(DELIVERY_POSSIBLY_DUPLICATED, "runtime" => r.clone()),
            acknowledged: counter!(DELIVERY_ACKNOWLEDGED, "runtime" => r.clone()),
            unacknowledged: gauge!(DELIVERY_UNACKNOWLEDGED, "runtime" => r.clone()),
            duplicates: counter!(DELIVERY_DUPLICATES, "runtime" => r.clone()),
            gaps: counter!(DELIVERY_GAPS, "runtime" => r),
        }
    }

    pub(crate) fn show(&self, stats: &crate::delivery::DeliveryStats) {
        self.resent.absolute(stats.resent);
        self.possibly_duplicated.absolute(stats.possibly_duplicated);
        self.acknowledged.absolute(stats.acknowledged);
        #[allow(clippy::cast_precision_loss)] // a gauge
        self.unacknowledged.set(stats.unacknowledged as f64);
        self.duplicates.absolute(stats.duplicates);
        self.gaps.absolute(stats.gaps);
    }
}

/// Attaches a description and unit to every tsercom metric in the
/// installed recorder (`serve_prometheus`, feature `prometheus`, does it
/// for tsercom's own).
pub fn describe() {
    describe_counter!(
        SAMPLES_RECEIVED,
        Unit::Count,
        "Data samples an aggregator received on its streams."
    );
    describe_counter!(
        SAMPLES_SENT,
        Unit::Count,
        "Data samples a producer handed to a peer's stream."
    );
    describe_counter!(EVENTS_RECEIVED, Unit::Count, "Events a producer received.");
    describe_counter!(
        EVENTS_SENT,
        Unit::Count,
        "Events an aggregator handed to a peer's stream."
    );
    describe_counter!(
        BYTES_RECEIVED,
        Unit::Bytes,
        "Encoded size of the messages received (protobuf, without gRPC framing)."
    );
    describe_counter!(
        BYTES_SENT,
        Unit::Bytes,
        "Encoded size of the messages sent (protobuf, without gRPC framing)."
    );
    describe_counter!(DROPPED, Unit::Count, "Messages lost, by reason.");
    describe_counter!(
        RECONNECTS,
        Unit::Count,
        "A dialer's sessions with a peer after its first."
    );
    describe_gauge!(
        PEER_CONNECTED,
        Unit::Count,
        "Open streams with the peer (1 while connected)."
    );
    describe_gauge!(
        CLOCK_OFFSET,
        Unit::Seconds,
        "The peer's clock minus this runtime's."
    );
    describe_gauge!(
        ROUND_TRIP,
        Unit::Seconds,
        "Round trip of the clock exchange behind the offset."
    );
    describe_gauge!(
        DELIVERY_LAG,
        Unit::Seconds,
        "Age of the newest received message on arrival (this runtime's clock minus its timestamp)."
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Items waiting, sampled every second."
    );
    describe_counter!(
        CONNECTIONS_ACCEPTED,
        Unit::Count,
        "Connections the server accepted."
    );
    describe_gauge!(CONNECTIONS_OPEN, Unit::Count, "Connections open now.");
    describe_counter!(
        CONNECTIONS_REFUSED,
        Unit::Count,
        "Connections or streams refused, by reason."
    );
    describe_counter!(
        CONNECTIONS_CLOSED,
        Unit::Count,
        "Connections the server closed, by reason."
    );
    describe_counter!(
        DELIVERY_RESENT,
        Unit::Count,
        "Messages sent again after a reconnection (not yet acknowledged)."
    );
    describe_counter!(
        DELIVERY_POSSIBLY_DUPLICATED,
        Unit::Count,
        "Messages resent to a restarted peer (its previous process may have delivered them)."
    );
    describe_counter!(
        DELIVERY_ACKNOWLEDGED,
        Unit::Count,
        "Messages peers acknowledged."
    );
    describe_gauge!(
        DELIVERY_UNACKNOWLEDGED,
        Unit::Count,
        "Messages sent and not yet acknowledged."
    );
    describe_counter!(
        DELIVERY_DUPLICATES,
        Unit::Count,
        "Messages received twice (resends) and dropped."
    );
    describe_counter!(
        DELIVERY_GAPS,
        Unit::Count,
        "Message numbers a peer gave up."
    );
}

/// The `peer` label: the first 8 hex digits of a CallerId.
pub(crate) fn peer_label(id: &CallerId) -> String {
    let mut text = id.as_uuid().simple().to_string();
    text.truncate(8);
    text
}

/// One peer's handles, registered once per connection (the hot path then
/// pays an increment on a registered handle, nothing more).
#[derive(Debug)]
pub(crate) struct PeerMetrics {
    received: Counter,
    received_bytes: Counter,
    sent: Counter,
    sent_bytes: Counter,
    connected: Gauge,
    offset: Gauge,
    round_trip: Gauge,
    lag: Gauge,
    /// Arrivals so far: the lag gauge is set on every [`LAG_EVERY`]-th.
    arrivals: std::sync::atomic::AtomicU64,
    /// The message time (whole seconds) of the arrival that last set it.
    lag_second: std::sync::atomic::AtomicI64,
    reconnects: Counter,
    invalid_timestamps: Counter,
    malformed: Counter,
}

/// The lag gauge is set on the first arrival, every this many after, and
/// on the first arrival of each new second of message time: a clock read
/// per message cost more than a gauge scraped every few seconds needs (at
/// 1 M messages/s it is still set every 64 µs).
const LAG_EVERY: u64 = 64;

impl PeerMetrics {
    /// `runtime`'s handles for `peer`; `role` says whether what it
    /// receives are samples (an aggregator) or events (a producer).
    pub(crate) fn new(runtime: &str, role: Role, peer: &CallerId) -> Self {
        let labels = [("runtime", runtime.to_owned()), ("peer", peer_label(peer))];
        let (received, sent) = match role {
            Role::Producer => (EVENTS_RECEIVED, SAMPLES_SENT),
            Role::Aggregator => (SAMPLES_RECEIVED, EVENTS_SENT),
        };
        PeerMetrics {
            received: counter!(received, &labels),
            received_bytes: counter!(BYTES_RECEIVED, &labels),
            sent: counter!(sent, &labels),
            sent_bytes: counter!(BYTES_SENT, &labels),
            connected: gauge!(PEER_CONNECTED, &labels),
            offset: gauge!(CLOCK_OFFSET, &labels),
            round_trip: gauge!(ROUND_TRIP, &labels),
            lag: gauge!(DELIVERY_LAG, &labels),
            arrivals: std::sync::atomic::AtomicU64::new(0),
            lag_second: std::sync::atomic::AtomicI64::new(i64::MIN),
            reconnects: counter!(RECONNECTS, &labels),
            invalid_timestamps: dropped(runtime, "invalid_timestamp"),
            malformed: dropped(runtime, "malformed"),
        }
    }

    /// One message of `bytes` received.
    pub(crate) fn received(&self, bytes: usize) {
        self.received_many(1, bytes);
    }

    /// `count` messages of `bytes` in all received.
    pub(crate) fn received_many(&self, count: usize, bytes: usize) {
        self.received.increment(count as u64);
        self.received_bytes.increment(bytes as u64);
    }

    /// One message of `bytes` sent.
    pub(crate) fn sent(&self, bytes: usize) {
        self.sent.increment(1);
        self.sent_bytes.increment(bytes as u64);
    }

    /// A stream with the peer opened (`true`) or closed (`false`).
    pub(crate) fn connected(&self, up: bool) {
        if up {
            self.connected.increment(1.0);
        } else {
            self.connected.decrement(1.0);
        }
    }

    /// A new clock estimate.
    pub(crate) fn clock(&self, estimate: &Estimate) {
        self.offset.set(nanos_to_seconds(estimate.offset_nanos));
        self.round_trip.set(nanos_to_seconds(estimate.delay_nanos));
    }

    /// A message stamped `sent` arrived now (`now()`, both on this
    /// runtime's timebase); the clock is read for one arrival in
    /// [`LAG_EVERY`].
    pub(crate) fn arrived(
        &self,
        sent: &crate::time::Timestamp,
        now: impl FnOnce() -> crate::time::Timestamp,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.arrivals.fetch_add(1, Relaxed);
        // Also when a second of message time passed since the last one set
        // (read from the message, no clock read): a slow stream's gauge
        // stays current.
        let second = sent.seconds();
        if n.is_multiple_of(LAG_EVERY) || second > self.lag_second.load(Relaxed) {
            self.lag_second.store(second, Relaxed);
            self.lag.set(nanos_to_seconds(now().nanos_since(sent)));
        }
    }

    /// A session with the peer after its first.
    pub(crate) fn reconnected(&self) {
        self.reconnects.increment(1);
    }

    /// A message refused for its timestamp.
    pub(crate) fn invalid_timestamp(&self) {
        self.invalid_timestamps.increment(1);
    }

    /// A message that did not decode or was over the size limit.
    pub(crate) fn malformed(&self) {
        self.malformed.increment(1);
    }
}

/// `tsercom_samples_dropped_total{runtime, reason}`.
pub(crate) fn dropped(runtime: &str, reason: &'static str) -> Counter {
    counter!(DROPPED, "runtime" => runtime.to_owned(), "reason" => reason)
}

/// `tsercom_queue_depth{runtime, queue}`.
pub(crate) fn queue_depth(runtime: &str, queue: &'static str) -> Gauge {
    gauge!(QUEUE_DEPTH, "runtime" => runtime.to_owned(), "queue" => queue)
}

/// How often queue depths are sampled.
pub(crate) const DEPTH_INTERVAL: Duration = Duration::from_secs(1);

/// A server's connection-table handles.
#[derive(Debug)]
pub(crate) struct ServerMetrics {
    pub(crate) accepted: Counter,
    pub(crate) open: Gauge,
    pub(crate) refused_full: Counter,
    pub(crate) refused_duplicate: Counter,
    pub(crate) refused_unauthenticated: Counter,
    pub(crate) refused_forbidden: Counter,
    pub(crate) closed_handshake_timeout: Counter,
    pub(crate) closed_evicted: Counter,
    pub(crate) closed_replaced: Counter,
}

impl ServerMetrics {
    pub(crate) fn new(runtime: &str) -> Self {
        let refused = |reason: &'static str| counter!(CONNECTIONS_REFUSED, "runtime" => runtime.to_owned(), "reason" => reason);
        let closed = |reason: &'static str| counter!(CONNECTIONS_CLOSED, "runtime" => runtime.to_owned(), "reason" => reason);
        ServerMetrics {
            accepted: counter!(CONNECTIONS_ACCEPTED, "runtime" => runtime.to_owned()),
            open: gauge!(CONNECTIONS_OPEN, "runtime" => runtime.to_owned()),
            refused_full: refused("full"),
            refused_duplicate: refused("duplicate"),
            refused_unauthenticated: refused("unauthenticated"),
            refused_forbidden: refused("forbidden"),
            closed_handshake_timeout: closed("handshake_timeout"),
            closed_evicted: closed("evicted"),
            closed_replaced: closed("replaced"),
        }
    }
}

#[allow(clippy::cast_precision_loss)] // seconds as f64: sub-nanosecond loss only past 2^53 ns (104 days)
fn nanos_to_seconds(nanos: i128) -> f64 {
    nanos as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_label_is_eight_hex_digits() {
        let id = CallerId::parse("6907461f-0000-4000-8000-000000000001").expect("valid id");
        assert_eq!(peer_label(&id), "6907461f");
    }

    #[test]
    fn seconds_from_nanos() {
        assert!((nanos_to_seconds(1_500_000_000) - 1.5).abs() < 1e-12);
        assert!((nanos_to_seconds(-250_000) + 0.000_25).abs() < 1e-12);
    }
}
