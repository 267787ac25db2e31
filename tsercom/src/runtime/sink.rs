//! `DataSink`: where a runtime's data and caller news go — the handle's
//! aggregator (in process) or, in the child process, the IPC socket to the
//! parent ([`IpcSink`], which builds the frames).
//!
//! An enum rather than a trait object: `push` runs once per sample, and a
//! trait's async method would box a future for each.

use super::ipc::IpcSink;
use crate::caller_id::CallerId;
use crate::data::{PeerInfo, RemoteDataAggregator};
use crate::error::Result;
use crate::time::{Estimate, Timestamp};

/// Where a runtime's data goes: the handle's aggregator (in process) or the
/// IPC socket to the parent (in the child process).
pub(crate) enum DataSink<D> {
    Local(RemoteDataAggregator<D>),
    Ipc(IpcSink),
}

impl<D> Clone for DataSink<D> {
    fn clone(&self) -> Self {
        match self {
            DataSink::Local(a) => DataSink::Local(a.clone()),
            DataSink::Ipc(s) => DataSink::Ipc(s.clone()),
        }
    }
}

impl<D: prost::Message> DataSink<D> {
    /// Shows the caller connected (at `peer`) or disconnected, leaving its
    /// event queue alone.
    pub(crate) fn set_state(
        &self,
        caller: CallerId,
        connected: bool,
        peer: Option<String>,
        generation: u64,
        reason: String,
    ) {
        match self {
            DataSink::Local(a) if connected => a.register(caller, peer, generation),
            DataSink::Local(a) => a.deregister(caller, generation, reason),
            DataSink::Ipc(s) => s.set_state(caller, connected, peer, generation, reason),
        }
    }

    pub(crate) fn register(&self, caller: CallerId, peer: Option<String>, generation: u64) {
        match self {
            DataSink::Local(a) => a.register(caller, peer, generation),
            DataSink::Ipc(s) => s.register(caller, peer, generation),
        }
    }

    pub(crate) fn set_name(&self, caller: CallerId, name: String) {
        match self {
            DataSink::Local(a) => a.set_name(caller, name),
            DataSink::Ipc(s) => s.set_name(caller, name),
        }
    }

    pub(crate) fn set_clock(&self, caller: CallerId, estimate: Estimate) {
        match self {
            DataSink::Local(a) => a.set_clock(caller, estimate),
            DataSink::Ipc(s) => s.set_clock(caller, estimate),
        }
    }

    pub(crate) fn peer(&self, info: Option<PeerInfo>, target: &str) {
        match self {
            DataSink::Local(a) => match info {
                Some(info) => a.set_peer(info),
                None => a.remove_peer(target),
            },
            DataSink::Ipc(s) => s.peer(info, target),
        }
    }

    pub(crate) fn listening(&self, addrs: Vec<std::net::SocketAddr>) {
        match self {
            DataSink::Local(a) => a.set_listening(addrs),
            DataSink::Ipc(s) => s.listening(&addrs),
        }
    }

    pub(crate) fn deregister(&self, caller: CallerId, generation: u64, reason: String) {
        match self {
            DataSink::Local(a) => a.deregister(caller, generation, reason),
            DataSink::Ipc(s) => s.deregister(caller, generation, reason),
        }
    }

    pub(crate) fn refused(&self, caller: CallerId) {
        match self {
            DataSink::Local(a) => a.refused(caller),
            DataSink::Ipc(s) => s.refused(caller),
        }
    }

    pub(crate) fn duplicate_refused(&self, caller: CallerId) {
        match self {
            DataSink::Local(a) => a.duplicate_refused(caller),
            DataSink::Ipc(s) => s.duplicate_refused(caller),
        }
    }

    /// Delivers a sample of `size` encoded bytes (measured by the caller,
    /// which counts them too).
    pub(crate) async fn push(
        &self,
        caller: CallerId,
        timestamp: Timestamp,
        data: D,
        size: usize,
    ) -> Result<()> {
        match self {
            DataSink::Local(a) => a.push_sized(caller, timestamp, data, size).await,
            DataSink::Ipc(s) => s.push(caller, timestamp, data).await,
        }
    }

    /// Delivers `batch` (time, data, encoded size) in order, leaving it
    /// empty; `progress` hears how many are delivered so far before any
    /// wait. Returns how many were delivered and the error that stopped
    /// the rest (see `RemoteDataAggregator::push_batch_sized`).
    pub(crate) async fn push_batch(
        &self,
        caller: CallerId,
        batch: &mut Vec<(Timestamp, D, usize)>,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> (usize, Result<()>) {
        match self {
            DataSink::Local(a) => a.push_batch_sized(caller, batch, progress).await,
            // The child's writer batches the frames (`ipc::frame`).
            DataSink::Ipc(s) => {
                let mut done = 0;
                for (timestamp, data, _) in batch.drain(..) {
                    if let Err(e) = s.push(caller, timestamp, data).await {
                        return (done, Err(e));
                    }
                    done += 1;
                    progress(done);
                }
                (done, Ok(()))
            }
        }
    }
}
