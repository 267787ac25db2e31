//! The user's side of a runtime: a [`ProducerHandle`] publishes data and
//! reads the aggregators' events; an [`AggregatorHandle`] reads every
//! producer's data and sends events. Both wrap a [`RuntimeHandle`], the
//! role-free handle of hand-written runtimes (what comes in, what goes out).

use super::router::{EventRouter, To};
use crate::caller_id::CallerId;
use crate::data::{CallerInfo, DataStats, RemoteDataAggregator};
use crate::error::Result;
use crate::queue::QueueStats;
use crate::time::Timestamp;

/// Counters of one runtime's handle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandleStats {
    /// What came in (received, dropped by policy, evicted by retention).
    pub inbound: DataStats,
    /// What went out, summed over peers' queues (pushed, dropped by policy).
    pub outbound: QueueStats,
    /// What went out, per peer connected now (its queue's pushed and
    /// dropped), by CallerId.
    pub by_peer: Vec<(CallerId, QueueStats)>,
    /// What was sent to all while no peer was connected: `pushed` there
    /// (handed to the first peer since), `dropped` by its bound.
    pub no_peer: QueueStats,
    /// How many such items wait for a peer now.
    pub no_peer_waiting: usize,
    /// Acknowledged delivery, both directions: resent, acknowledged,
    /// unacknowledged now, lost, duplicates dropped, history (out of
    /// process, as the child last reported them: every second and at its
    /// shutdown).
    pub delivery: crate::delivery::DeliveryStats,
}

/// The role-free handle of one runtime: `In` is what its peers send (read
/// it with [`received`](Self::received)), `Out` what the user sends them.
/// Cheap to clone; usable from any thread; never needed for the networking
/// to progress. Generated runtimes hand out a [`ProducerHandle`] or an
/// [`AggregatorHandle`] instead; hand-written ones may use either.
pub struct RuntimeHandle<In, Out> {
    pub(crate) name: String,
    pub(crate) inbound: RemoteDataAggregator<In>,
    pub(crate) outbound: EventRouter<Out>,
}

impl<In, Out> Clone for RuntimeHandle<In, Out> {
    fn clone(&self) -> Self {
        RuntimeHandle {
            name: self.name.clone(),
            inbound: self.inbound.clone(),
            outbound: self.outbound.clone(),
        }
    }
}

impl<In, Out> std::fmt::Debug for RuntimeHandle<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<In: Clone, Out: Clone> RuntimeHandle<In, Out> {
    /// The runtime's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the runtime's peers sent, stored per CallerId.
    pub fn received(&self) -> &RemoteDataAggregator<In> {
        &self.inbound
    }

    /// Sends `item` to one peer or to all. Per peer, items arrive in the
    /// order sent. Under the `Block` policy this waits for room in the
    /// peer's queue.
    ///
    /// # Errors
    /// [`Error::UnknownCaller`](crate::Error::UnknownCaller) for an
    /// unregistered peer, [`Error::QueueFull`](crate::Error::QueueFull)
    /// under the `Error` policy, [`Error::Closed`](crate::Error::Closed)
    /// after shutdown.
    pub fn send(&self, item: Out, to: To) -> Result<()> {
        self.outbound.send(item, to)
    }

    /// Sends a batch to every peer with one hand-off per peer's queue (in
    /// order, after anything sent before).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_many(&self, items: Vec<Out>, to: To) -> Result<()> {
        self.outbound.send_many(items, to)
    }

    /// [`send`](Self::send) from async code: under `Block` it waits for
    /// room without blocking a tokio worker thread.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_async(&self, item: Out, to: To) -> Result<()> {
        self.outbound.send_async(item, to).await
    }

    /// The peers known to this runtime: CallerId, address, connection
    /// state, clock estimate.
    pub fn callers(&self) -> Vec<CallerInfo> {
        self.inbound.callers()
    }

    /// Waits until `done` holds for [`callers`](Self::callers) (checked
    /// at every change of a caller's state or address), or `timeout`;
    /// see [`RemoteDataAggregator::wait_callers`].
    pub fn wait_callers(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[CallerInfo]) -> bool,
    ) -> Option<Vec<CallerInfo>> {
        self.inbound.wait_callers(timeout, done)
    }

    /// The peers this runtime dials, reached or not (a mistyped static
    /// peer shows as [`PeerState::Unreachable`](crate::data::PeerState::Unreachable)
    /// with the error); empty for a runtime that only hosts.
    pub fn peers(&self) -> Vec<crate::data::PeerInfo> {
        self.inbound.peers()
    }

    /// The addresses this runtime listens on, with the ports actually
    /// bound (listen on port 0 and read the port here); empty for a
    /// runtime that only dials. Known once the manager's start returned.
    pub fn listening(&self) -> Vec<std::net::SocketAddr> {
        self.inbound.listening()
    }

    /// Waits until `done` holds for [`peers`](Self::peers), or `timeout`.
    pub fn wait_peers(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[crate::data::PeerInfo]) -> bool,
    ) -> Option<Vec<crate::data::PeerInfo>> {
        self.inbound.wait_peers(timeout, done)
    }

    /// Counters of both directions.
    pub fn stats(&self) -> HandleStats {
        HandleStats {
            inbound: self.inbound.stats(),
            outbound: self.outbound.stats(),
            by_peer: self.outbound.stats_by_peer(),
            no_peer: self.outbound.no_peer_stats().0,
            no_peer_waiting: self.outbound.no_peer_stats().1,
            delivery: self.outbound.delivery_counters().stats(),
        }
    }
}

/// One item a peer sent, as [`ProducerHandle::take_events`] returns it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Incoming<T> {
    /// The sender's CallerId (its address: [`ProducerHandle::callers`]).
    pub caller: CallerId,
    /// When it was sent, on this runtime's clock.
    pub timestamp: Timestamp,
    /// The message.
    pub data: T,
}

/// A producer's handle: publishes data `D` to every connected aggregator
/// and reads the events `E` they send back.
pub struct ProducerHandle<D, E> {
    pub(crate) raw: RuntimeHandle<E, D>,
}

/// An aggregator's handle: reads every producer's data `D` by CallerId and
/// sends events `E` to one producer or all.
pub struct AggregatorHandle<D, E> {
    pub(crate) raw: RuntimeHandle<D, E>,
}

impl<D, E> Clone for ProducerHandle<D, E> {
    fn clone(&self) -> Self {
        ProducerHandle {
            raw: self.raw.clone(),
        }
    }
}

impl<D, E> Clone for AggregatorHandle<D, E> {
    fn clone(&self) -> Self {
        AggregatorHandle {
            raw: self.raw.clone(),
        }
    }
}

impl<D, E> std::fmt::Debug for ProducerHandle<D, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerHandle")
            .field("name", &self.raw.name)
            .finish_non_exhaustive()
    }
}

impl<D, E> std::fmt::Debug for AggregatorHandle<D, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AggregatorHandle")
            .field("name", &self.raw.name)
            .finish_non_exhaustive()
    }
}

impl<D: Clone, E: Clone> ProducerHandle<D, E> {
    /// The runtime's name.
    pub fn name(&self) -> &str {
        self.raw.name()
    }

    /// Publishes one sample to every connected aggregator (stamped with
    /// this runtime's clock when its timestamp is unset). Under the `Block`
    /// policy this waits for room in each aggregator's queue.
    ///
    /// # Errors
    /// [`Error::QueueFull`](crate::Error::QueueFull) under the `Error`
    /// policy, [`Error::Closed`](crate::Error::Closed) after shutdown.
    pub fn publish(&self, sample: D) -> Result<()> {
        self.raw.send(sample, To::All)
    }

    /// Publishes a batch with one hand-off per aggregator's queue.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub fn publish_many(&self, samples: Vec<D>) -> Result<()> {
        self.raw.send_many(samples, To::All)
    }

    /// [`publish`](Self::publish) from async code: waits for queue room
    /// without blocking a tokio worker thread.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn publish_async(&self, sample: D) -> Result<()> {
        self.raw.send_async(sample, To::All).await
    }

    /// Publishes to one aggregator only.
    ///
    /// # Errors
    /// As [`RuntimeHandle::send`].
    pub fn publish_to(&self, sample: D, aggregator: CallerId) -> Result<()> {
        self.raw.send(sample, To::Caller(aggregator))
    }

    /// The events the aggregators sent since the last call, oldest first
    /// per aggregator, aggregators in CallerId order.
    pub fn take_events(&self) -> Vec<Incoming<E>> {
        self.raw
            .inbound
            .take_new()
            .into_iter()
            .flat_map(|(caller, samples)| {
                samples.into_iter().map(move |s| Incoming {
                    caller,
                    timestamp: s.timestamp,
                    data: s.data,
                })
            })
            .collect()
    }

    /// Every event kept, per aggregator, for queries beyond
    /// [`take_events`](Self::take_events) (waiting, most recent, ...).
    pub fn events(&self) -> &RemoteDataAggregator<E> {
        &self.raw.inbound
    }

    /// The aggregators known to this producer: CallerId, address, state.
    pub fn callers(&self) -> Vec<CallerInfo> {
        self.raw.callers()
    }

    /// Waits until `done` holds for [`callers`](Self::callers) (checked
    /// at every change of a caller's state or address), or `timeout`;
    /// see [`RemoteDataAggregator::wait_callers`].
    pub fn wait_callers(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[CallerInfo]) -> bool,
    ) -> Option<Vec<CallerInfo>> {
        self.raw.wait_callers(timeout, done)
    }

    /// The peers this runtime dials, reached or not (a mistyped static
    /// peer shows as [`PeerState::Unreachable`](crate::data::PeerState::Unreachable)
    /// with the error); empty for a runtime that only hosts.
    pub fn peers(&self) -> Vec<crate::data::PeerInfo> {
        self.raw.peers()
    }

    /// The addresses this runtime listens on, with the ports actually
    /// bound (listen on port 0 and read the port here); empty for a
    /// runtime that only dials. Known once the manager's start returned.
    pub fn listening(&self) -> Vec<std::net::SocketAddr> {
        self.raw.listening()
    }

    /// Waits until `done` holds for [`peers`](Self::peers), or `timeout`.
    pub fn wait_peers(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[crate::data::PeerInfo]) -> bool,
    ) -> Option<Vec<crate::data::PeerInfo>> {
        self.raw.wait_peers(timeout, done)
    }

    /// Counters: `outbound` is the published data, `inbound` the events.
    pub fn stats(&self) -> HandleStats {
        self.raw.stats()
    }
}

impl<D: Clone, E: Clone> AggregatorHandle<D, E> {
    /// The runtime's name.
    pub fn name(&self) -> &str {
        self.raw.name()
    }

    /// Every producer's data, by CallerId, on this aggregator's clock.
    pub fn data(&self) -> &RemoteDataAggregator<D> {
        &self.raw.inbound
    }

    /// Sends `event` to one producer or to all.
    ///
    /// # Errors
    /// As [`RuntimeHandle::send`].
    pub fn send(&self, event: E, to: To) -> Result<()> {
        self.raw.send(event, to)
    }

    /// [`send`](Self::send) from async code: waits for queue room without
    /// blocking a tokio worker thread.
    ///
    /// # Errors
    /// As [`RuntimeHandle::send`].
    pub async fn send_async(&self, event: E, to: To) -> Result<()> {
        self.raw.send_async(event, to).await
    }

    /// The producers known to this aggregator: CallerId, address, state,
    /// clock estimate.
    pub fn callers(&self) -> Vec<CallerInfo> {
        self.raw.callers()
    }

    /// Waits until `done` holds for [`callers`](Self::callers) (checked
    /// at every change of a caller's state or address), or `timeout`;
    /// see [`RemoteDataAggregator::wait_callers`].
    pub fn wait_callers(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[CallerInfo]) -> bool,
    ) -> Option<Vec<CallerInfo>> {
        self.raw.wait_callers(timeout, done)
    }

    /// The peers this runtime dials, reached or not (a mistyped static
    /// peer shows as [`PeerState::Unreachable`](crate::data::PeerState::Unreachable)
    /// with the error); empty for a runtime that only hosts.
    pub fn peers(&self) -> Vec<crate::data::PeerInfo> {
        self.raw.peers()
    }

    /// The addresses this runtime listens on, with the ports actually
    /// bound (listen on port 0 and read the port here); empty for a
    /// runtime that only dials. Known once the manager's start returned.
    pub fn listening(&self) -> Vec<std::net::SocketAddr> {
        self.raw.listening()
    }

    /// Waits until `done` holds for [`peers`](Self::peers), or `timeout`.
    pub fn wait_peers(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(&[crate::data::PeerInfo]) -> bool,
    ) -> Option<Vec<crate::data::PeerInfo>> {
        self.raw.wait_peers(timeout, done)
    }

    /// Counters: `inbound` is the data, `outbound` the events.
    pub fn stats(&self) -> HandleStats {
        self.raw.stats()
    }
}

/// What [`RuntimeManager::register`](super::RuntimeManager::register)
/// returns for a runtime whose peers send `In` and whose user sends `Out`:
/// [`RuntimeHandle<In, Out>`], [`ProducerHandle<Out, In>`] or
/// [`AggregatorHandle<In, Out>`].
pub trait FromRuntimeHandle<In, Out>: Sized {
    /// Wraps the role-free handle.
    fn from_runtime_handle(raw: RuntimeHandle<In, Out>) -> Self;
}

impl<In, Out> FromRuntimeHandle<In, Out> for RuntimeHandle<In, Out> {
    fn from_runtime_handle(raw: RuntimeHandle<In, Out>) -> Self {
        raw
    }
}

impl<D, E> FromRuntimeHandle<E, D> for ProducerHandle<D, E> {
    fn from_runtime_handle(raw: RuntimeHandle<E, D>) -> Self {
        ProducerHandle { raw }
    }
}

impl<D, E> FromRuntimeHandle<D, E> for AggregatorHandle<D, E> {
    fn from_runtime_handle(raw: RuntimeHandle<D, E>) -> Self {
        AggregatorHandle { raw }
    }
}
