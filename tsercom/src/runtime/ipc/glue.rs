//! Per-runtime glue, type-erased: each registered runtime's typed queues
//! on either side of the socket. The child's side turns `Event` frames into
//! the runtime's events; the parent's side turns `Data`, `Caller`, `Clock`
//! and `Peer` frames into what the user's handle shows, and forwards what
//! the handle sends as `Event` frames.

use prost::Message;
use tokio::sync::mpsc;

use super::frame::frame;
use crate::caller_id::CallerId;
use crate::data::RemoteDataAggregator;
use crate::delivery::DeliveryStats;
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::proto::ipc::{self, frame::Kind};
use crate::runtime::router::EventRouter;
use crate::time::{Estimate, Timestamp};

/// The child's side of one runtime: events from the parent go in here.
pub(crate) trait ChildSide: Send + Sync {
    fn on_event(&self, event: ipc::Event) -> BoxFuture<'_, ()>;
    /// The runtime's acknowledged-delivery counters.
    fn delivery(&self) -> DeliveryStats;
}

/// The parent's side of one runtime: frames from the child go in here.
pub(crate) trait ParentSide: Send + Sync {
    fn name(&self) -> &str;
    fn on_data(&self, data: ipc::Data) -> BoxFuture<'_, Result<()>>;
    /// Consecutive samples of one caller, in order.
    fn on_data_batch(&self, batch: ipc::DataBatch) -> BoxFuture<'_, Result<()>>;
    fn on_caller(&self, caller: ipc::Caller) -> Result<()>;
    fn on_clock(&self, clock: ipc::Clock) -> Result<()>;
    fn on_peer(&self, peer: ipc::Peer) -> Result<()>;
    fn on_listening(&self, listening: ipc::Listening) -> Result<()>;
    fn on_caller_name(&self, name: ipc::CallerName) -> Result<()>;
    /// The child's delivery counters, shown on the handle's stats.
    fn on_delivery(&self, counts: &ipc::DeliveryCounts);
    /// Closes the handle's outbound side only (the child is gone: sends
    /// fail at once with `Closed`); what arrived stays readable.
    fn close_events(&self);
    fn close(&self);
}

pub(crate) struct ChildPart<E> {
    pub(crate) name: String,
    pub(crate) events: EventRouter<E>,
}

impl<E: Message + Default + Clone + 'static> ChildSide for ChildPart<E> {
    fn on_event(&self, event: ipc::Event) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (Ok(caller), Ok(value)) = (
                CallerId::parse(&event.caller_id),
                E::decode(event.payload.as_slice()),
            ) else {
                tracing::error!(runtime = %self.name, "malformed event frame from the parent");
                return;
            };
            match self.events.send_to_async(caller, value).await {
                Ok(()) => {}
                // The caller left meanwhile: its events go with it.
                Err(Error::UnknownCaller(_) | Error::Closed(_)) => {}
                Err(e) => tracing::warn!(runtime = %self.name, error = %e, "event not delivered"),
            }
        })
    }

    fn delivery(&self) -> DeliveryStats {
        self.events.delivery_counters().stats()
    }
}

pub(crate) struct ParentPart<D, E> {
    pub(crate) name: String,
    pub(crate) index: u32,
    pub(crate) data: RemoteDataAggregator<D>,
    pub(crate) events: EventRouter<E>,
    pub(crate) tx: mpsc::Sender<ipc::Frame>,
    pub(crate) tokio: tokio::runtime::Handle,
    /// Each caller's current registration (`ipc.Caller.generation`).
    pub(crate) generations: std::sync::Mutex<std::collections::HashMap<CallerId, u64>>,
}

impl<D, E> ParentSide for ParentPart<D, E>
where
    D: Message + Default + Clone + 'static,
    E: Message + Default + Clone + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn on_data(&self, data: ipc::Data) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let caller = CallerId::parse(&data.caller_id)?;
            if data.refused {
                self.data.refused(caller);
                return Ok(());
            }
            if data.duplicate {
                self.data.duplicate_refused(caller);
                return Ok(());
            }
            let (timestamp, value) = decode_sample::<D>(data.timestamp.as_ref(), &data.payload)?;
            self.data.push(caller, timestamp, value).await
        })
    }

    fn on_data_batch(&self, batch: ipc::DataBatch) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let caller = CallerId::parse(&batch.caller_id)?;
            // One bad or refused sample (the `Error` policy) does not take
            // the rest of the batch with it: each is pushed (and counted)
            // as if it had come alone; the first error is reported.
            let mut first_error = None;
            for s in &batch.samples {
                let pushed = match decode_sample::<D>(s.timestamp.as_ref(), &s.payload) {
                    Ok((timestamp, value)) => self.data.push(caller, timestamp, value).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = pushed {
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    fn on_delivery(&self, counts: &ipc::DeliveryCounts) {
        self.events.delivery_counters().set(&stats_of(counts));
    }

    fn on_clock(&self, c: ipc::Clock) -> Result<()> {
        let caller = CallerId::parse(&c.caller_id)?;
        self.data.set_clock(
            caller,
            Estimate {
                offset_nanos: i128::from(c.offset_nanos),
                delay_nanos: i128::from(c.delay_nanos),
                samples: c.samples as usize,
            },
        );
        Ok(())
    }

    fn on_caller_name(&self, n: ipc::CallerName) -> Result<()> {
        let caller = CallerId::parse(&n.caller_id)?;
        self.data.set_name(caller, n.name);
        Ok(())
    }

    fn on_listening(&self, l: ipc::Listening) -> Result<()> {
        let addrs = l
            .addrs
            .iter()
            .map(|a| {
                a.parse().map_err(|e| Error::Protocol {
                    what: "listening frame",
                    reason: format!("{a:?}: {e}"),
                })
            })
            .collect::<Result<Vec<std::net::SocketAddr>>>()?;
        self.data.set_listening(addrs);
        Ok(())
    }

    fn on_peer(&self, p: ipc::Peer) -> Result<()> {
        use crate::data::{PeerInfo, PeerState};
        let since = std::time::SystemTime::now();
        let state = match p.state {
            0 => PeerState::Connecting { since },
            1 => PeerState::Connected {
                since,
                addr: p.detail,
            },
            2 => PeerState::Unreachable {
                since,
                last_error: p.detail,
            },
            3 => PeerState::Refused {
                since,
                reason: p.detail,
            },
            _ => {
                self.data.remove_peer(&p.target);
                return Ok(());
            }
        };
        let caller = if p.caller_id.is_empty() {
            None
        } else {
            Some(CallerId::parse(&p.caller_id)?)
        };
        self.data.set_peer(PeerInfo {
            target: p.target,
            caller,
            state,
        });
        Ok(())
    }

    fn on_caller(&self, c: ipc::Caller) -> Result<()> {
        let caller = CallerId::parse(&c.caller_id)?;
        if c.state_only {
            // The child keeps the caller's endpoint (and so its events go
            // on queueing here); only what the handle shows changes.
            if c.registered {
                self.data
                    .register(caller, (!c.peer.is_empty()).then_some(c.peer), c.generation);
            } else {
                self.data.deregister(caller, c.generation, c.reason);
            }
            return Ok(());
        }
        if c.registered {
            let peer = (!c.peer.is_empty()).then_some(c.peer);
            self.data.register(caller, peer, c.generation);
            let queue = self.events.register(caller);
            self.generations
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(caller, c.generation);
            let (tx, index) = (self.tx.clone(), self.index);
            // Forward what the handle sends this caller, in order.
            self.tokio.spawn(async move {
                while let Some(event) = queue.pop().await {
                    let f = frame(Kind::Event(ipc::Event {
                        runtime: index,
                        caller_id: caller.to_string(),
                        payload: event.encode_to_vec(),
                    }));
                    if tx.send(f).await.is_err() {
                        break;
                    }
                }
            });
        } else {
            self.data.deregister(caller, c.generation, c.reason);
            // Only the queue of that registration (not a newer one's).
            let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
            if generations.get(&caller) == Some(&c.generation) {
                generations.remove(&caller);
                drop(generations);
                if let Some(queue) = self.events.queue_of(caller) {
                    self.events.deregister(caller, &queue);
                }
            }
        }
        Ok(())
    }

    fn close_events(&self) {
        self.events.close();
    }

    fn close(&self) {
        self.data.close();
        self.events.close();
    }
}

/// The frame carrying runtime `runtime`'s delivery counters.
pub(crate) fn counts_frame(runtime: u32, d: &DeliveryStats) -> ipc::DeliveryCounts {
    ipc::DeliveryCounts {
        runtime,
        resent: d.resent,
        possibly_duplicated: d.possibly_duplicated,
        acknowledged: d.acknowledged,
        unacknowledged: d.unacknowledged,
        lost: d.lost,
        duplicates: d.duplicates,
        gaps: d.gaps,
        history_sent: d.history_sent,
        history_received: d.history_received,
    }
}

/// The delivery counters a frame carries.
fn stats_of(c: &ipc::DeliveryCounts) -> DeliveryStats {
    DeliveryStats {
        resent: c.resent,
        possibly_duplicated: c.possibly_duplicated,
        acknowledged: c.acknowledged,
        unacknowledged: c.unacknowledged,
        lost: c.lost,
        duplicates: c.duplicates,
        gaps: c.gaps,
        history_sent: c.history_sent,
        history_received: c.history_received,
    }
}

/// One sample of a `Data` or `DataBatch` frame: its timestamp and its
/// decoded payload.
fn decode_sample<D: Message + Default>(
    timestamp: Option<&crate::proto::ServerTimestamp>,
    payload: &[u8],
) -> Result<(Timestamp, D)> {
    let timestamp =
        timestamp
            .map(Timestamp::from_proto)
            .transpose()?
            .ok_or(Error::MissingField {
                message: "tsercom.ipc.Data",
                field: "timestamp",
            })?;
    let value = D::decode(payload).map_err(|source| Error::Decode {
        what: "data frame payload",
        source,
    })?;
    Ok((timestamp, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Retention;
    use crate::proto::ServerTimestamp as Value;
    use crate::queue::{OverflowPolicy, QueueConfig};

    const CALLER: &str = "00000000-0000-4000-8000-0000000000aa";

    fn part(policy: OverflowPolicy, max_samples: usize) -> ParentPart<Value, Value> {
        let (tx, _rx) = mpsc::channel(1);
        ParentPart {
            name: "test".into(),
            index: 0,
            data: RemoteDataAggregator::new(
                Retention {
                    max_samples,
                    max_age: None,
                },
                policy,
            ),
            events: EventRouter::new(QueueConfig::default(), std::time::Duration::ZERO),
            tx,
            tokio: tokio::runtime::Handle::current(),
            generations: Default::default(),
        }
    }

    fn sample(seconds: i64, payload: Vec<u8>) -> ipc::BatchedSample {
        ipc::BatchedSample {
            timestamp: Some(Timestamp::new(seconds, 0).expect("a valid time").to_proto()),
            payload,
        }
    }

    fn batch(samples: Vec<ipc::BatchedSample>) -> ipc::DataBatch {
        ipc::DataBatch {
            runtime: 0,
            caller_id: CALLER.into(),
            samples,
        }
    }

    fn good(seconds: i64) -> ipc::BatchedSample {
        let value = Timestamp::new(seconds, 0).expect("a valid time").to_proto();
        sample(seconds, value.encode_to_vec())
    }

    #[tokio::test]
    async fn a_bad_sample_in_a_batch_is_reported_and_the_rest_stored() {
        let p = part(OverflowPolicy::Block, 16);
        let b = batch(vec![good(1), sample(2, vec![0xff]), good(3)]);
        let e = p.on_data_batch(b).await.expect_err("the bad payload");
        assert!(matches!(e, Error::Decode { .. }), "{e}");
        let caller = CallerId::parse(CALLER).expect("valid");
        let stored: Vec<i64> = p
            .data
            .take_new_for(caller)
            .iter()
            .map(|s| s.timestamp.seconds())
            .collect();
        assert_eq!(stored, [1, 3]);
    }

    #[tokio::test]
    async fn a_full_store_under_the_error_policy_counts_every_refused_sample() {
        let p = part(OverflowPolicy::Error, 1);
        let b = batch((1..=4).map(good).collect());
        let e = p.on_data_batch(b).await.expect_err("the store is full");
        assert!(matches!(e, Error::QueueFull { .. }), "{e}");
        let stats = p.data.stats();
        assert_eq!((stats.received, stats.dropped), (4, 3));
    }
}
