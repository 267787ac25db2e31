//! What feeds a [`Recorder`]: `record` on the handles (a tap on the
//! handle's incoming store), or a [`RawSource`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::queue::RecordQueue;
use super::writer::{Entry, Msg, Raw, Recorder, ReportFn, Session};
use super::{Kind, RecordConfig};
use crate::caller_id::CallerId;
use crate::data::{CallerInfo, RemoteDataAggregator};
use crate::error::Result;
use crate::runtime::{AggregatorHandle, ProducerHandle, RuntimeHandle};
use crate::time::Timestamp;

/// Records every sample `store` ingests from now until the recorder stops;
/// a writer that stops early is also reported to `on_error`.
pub(crate) fn record_store<D>(
    store: &RemoteDataAggregator<D>,
    runtime: &str,
    kind: Kind,
    config: RecordConfig,
    on_error: Option<ReportFn>,
) -> Result<Recorder>
where
    D: prost::Message + Clone + Send + Sync + 'static,
{
    config.check()?;
    let queue = Arc::new(RecordQueue::new(
        format!("recording of {runtime}"),
        config.queue,
    ));
    let tap_queue = Arc::clone(&queue);
    let tap_id = store.taps().attach(Arc::new(move |caller, time, data: &D| {
        // Never waits: drops by policy (counted); a closed queue (the
        // recorder stopping) refuses quietly.
        tap_queue.push(Entry {
            caller,
            time,
            arrival: Timestamp::now(),
            payload: Msg(data.clone()),
        });
    }));
    let close = {
        let store = store.clone();
        let queue = Arc::clone(&queue);
        Box::new(move || {
            store.taps().detach(tap_id);
            queue.close();
        })
    };
    let callers = {
        let store = store.clone();
        Arc::new(move || store.callers())
    };
    let session = Session {
        runtime: runtime.to_owned(),
        kind,
        callers,
        on_error,
    };
    Recorder::spawn(config, session, Arc::clone(&queue), close).inspect_err(|_| {
        store.taps().detach(tap_id);
        queue.close();
    })
}

impl<D, E> AggregatorHandle<D, E>
where
    D: prost::Message + Clone + Send + Sync + 'static,
    E: Clone,
{
    /// Starts recording every producer's data, as it arrives, to an MCAP
    /// file (see [`crate::record`]); stop with [`Recorder::stop`].
    /// Recording never slows ingestion: a recorder that falls behind
    /// drops (counted in [`Recorder::stats`]).
    ///
    /// # Errors
    /// A configuration that would stall ingestion, or a file that cannot
    /// be created.
    pub fn record(&self, config: RecordConfig) -> Result<Recorder> {
        record_store(&self.raw.inbound, self.raw.name(), Kind::Data, config, None)
    }
}

impl<D, E> ProducerHandle<D, E>
where
    D: Clone,
    E: prost::Message + Clone + Send + Sync + 'static,
{
    /// Starts recording every event the aggregators send, as it arrives
    /// (see [`AggregatorHandle::record`]).
    ///
    /// # Errors
    /// As [`AggregatorHandle::record`].
    pub fn record(&self, config: RecordConfig) -> Result<Recorder> {
        record_store(
            &self.raw.inbound,
            self.raw.name(),
            Kind::Events,
            config,
            None,
        )
    }
}

impl<In, Out> RuntimeHandle<In, Out>
where
    In: prost::Message + Clone + Send + Sync + 'static,
    Out: Clone,
{
    /// Starts recording what the runtime's peers send, labelled `kind`
    /// (see [`AggregatorHandle::record`]).
    ///
    /// # Errors
    /// As [`AggregatorHandle::record`].
    pub fn record(&self, config: RecordConfig, kind: Kind) -> Result<Recorder> {
        record_store(&self.inbound, &self.name, kind, config, None)
    }
}

/// Feeds a recorder with messages already encoded, from any source (a
/// relay, a command-line recorder that never decodes); made by
/// [`Recorder::raw`]. Cheap to clone; never blocks: when the writer is
/// behind, the queue's policy drops (counted).
#[derive(Clone)]
pub struct RawSource {
    queue: Arc<RecordQueue<Entry<Raw>>>,
    callers: Arc<Mutex<BTreeMap<CallerId, CallerInfo>>>,
}

impl std::fmt::Debug for RawSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSource").finish_non_exhaustive()
    }
}

impl RawSource {
    /// What the metadata says about `info.id` (address, clock offset) from
    /// now on: a `tsercom.caller` record is written with its first message.
    pub fn set_caller(&self, info: CallerInfo) {
        self.callers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(info.id, info);
    }

    /// Records one encoded message of `caller` taken at `time` (on the
    /// recording's timebase), arriving now.
    pub fn push(&self, caller: CallerId, time: Timestamp, message: Vec<u8>) {
        self.queue.push(Entry {
            caller,
            time,
            arrival: Timestamp::now(),
            payload: Raw(message),
        });
    }
}

impl Recorder {
    /// A recorder fed by hand with encoded messages through the returned
    /// [`RawSource`] (the messages must match `config`'s schema), for the
    /// session of `runtime`.
    ///
    /// # Errors
    /// As [`AggregatorHandle::record`].
    pub fn raw(config: RecordConfig, runtime: &str, kind: Kind) -> Result<(Recorder, RawSource)> {
        config.check()?;
        let queue = Arc::new(RecordQueue::new(
            format!("recording of {runtime}"),
            config.queue,
        ));
        let callers: Arc<Mutex<BTreeMap<CallerId, CallerInfo>>> = Arc::default();
        let source = RawSource {
            queue: Arc::clone(&queue),
            callers: Arc::clone(&callers),
        };
        let session = Session {
            runtime: runtime.to_owned(),
            kind,
            callers: Arc::new(move || {
                callers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect()
            }),
            on_error: None,
        };
        let close = {
            let queue = Arc::clone(&queue);
            Box::new(move || queue.close())
        };
        let recorder = Recorder::spawn(config, session, queue, close)?;
        Ok((recorder, source))
    }
}
