//! `DataSink`: where a runtime's data and caller news go — the handle's
//! aggregator (in process) or the IPC socket to the parent (in the child
//! process).

use super::ipc::send_control;
use crate::caller_id::CallerId;
use crate::data::{PeerInfo, PeerState, RemoteDataAggregator};
use crate::error::{Error, Result};
use crate::proto::ipc;
use crate::time::{Estimate, Timestamp};

/// Where a runtime's data goes: the handle's aggregator (in process) or the
/// IPC socket to the parent (in the child process).
pub(crate) enum DataSink<D> {
    Local(RemoteDataAggregator<D>),
    Ipc {
        runtime: u32,
        tx: tokio::sync::mpsc::Sender<ipc::Frame>,
    },
}

impl<D> Clone for DataSink<D> {
    fn clone(&self) -> Self {
        match self {
            DataSink::Local(a) => DataSink::Local(a.clone()),
            DataSink::Ipc { runtime, tx } => DataSink::Ipc {
                runtime: *runtime,
                tx: tx.clone(),
            },
        }
    }
}

impl<D: prost::Message> DataSink<D> {
    fn caller_frame(
        runtime: u32,
        caller: CallerId,
        registered: bool,
        peer: Option<String>,
        generation: u64,
    ) -> ipc::Frame {
        ipc::Frame {
            kind: Some(ipc::frame::Kind::Caller(ipc::Caller {
                runtime,
                caller_id: caller.to_string(),
                registered,
                peer: peer.unwrap_or_default(),
                state_only: false,
                generation,
                reason: String::new(),
            })),
        }
    }

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
            DataSink::Ipc { runtime, tx } => {
                let mut frame = Self::caller_frame(*runtime, caller, connected, peer, generation);
                if let Some(ipc::frame::Kind::Caller(c)) = &mut frame.kind {
                    c.state_only = true;
                    c.reason = reason;
                }
                send_control(tx, frame);
            }
        }
    }

    pub(crate) fn register(&self, caller: CallerId, peer: Option<String>, generation: u64) {
        match self {
            DataSink::Local(a) => a.register(caller, peer, generation),
            DataSink::Ipc { runtime, tx } => send_control(
                tx,
                Self::caller_frame(*runtime, caller, true, peer, generation),
            ),
        }
    }

    pub(crate) fn set_clock(&self, caller: CallerId, estimate: Estimate) {
        match self {
            DataSink::Local(a) => a.set_clock(caller, estimate),
            DataSink::Ipc { runtime, tx } => send_control(
                tx,
                ipc::Frame {
                    kind: Some(ipc::frame::Kind::Clock(ipc::Clock {
                        runtime: *runtime,
                        caller_id: caller.to_string(),
                        offset_nanos: clamp_i64(estimate.offset_nanos),
                        delay_nanos: clamp_i64(estimate.delay_nanos),
                        samples: u32::try_from(estimate.samples).unwrap_or(u32::MAX),
                    })),
                },
            ),
        }
    }

    pub(crate) fn peer(&self, info: Option<PeerInfo>, target: &str) {
        match self {
            DataSink::Local(a) => match info {
                Some(info) => a.set_peer(info),
                None => a.remove_peer(target),
            },
            DataSink::Ipc { runtime, tx } => {
                let (state, detail, caller) = match &info {
                    None => (4, String::new(), None),
                    Some(i) => {
                        let (state, detail) = match &i.state {
                            PeerState::Connected { addr, .. } => (1, addr.clone()),
                            PeerState::Unreachable { last_error, .. } => (2, last_error.clone()),
                            PeerState::Refused { reason, .. } => (3, reason.clone()),
                            _ => (0, String::new()),
                        };
                        (state, detail, i.caller)
                    }
                };
                send_control(
                    tx,
                    ipc::Frame {
                        kind: Some(ipc::frame::Kind::Peer(ipc::Peer {
                            runtime: *runtime,
                            target: target.to_owned(),
                            caller_id: caller.map(|c| c.to_string()).unwrap_or_default(),
                            state,
                            detail,
                        })),
                    },
                );
            }
        }
    }

    pub(crate) fn deregister(&self, caller: CallerId, generation: u64, reason: String) {
        match self {
            DataSink::Local(a) => a.deregister(caller, generation, reason),
            DataSink::Ipc { runtime, tx } => {
                let mut frame = Self::caller_frame(*runtime, caller, false, None, generation);
                if let Some(ipc::frame::Kind::Caller(c)) = &mut frame.kind {
                    c.reason = reason;
                }
                send_control(tx, frame);
            }
        }
    }

    pub(crate) fn refused(&self, caller: CallerId) {
        match self {
            DataSink::Local(a) => a.refused(caller),
            DataSink::Ipc { runtime, tx } => send_control(
                tx,
                ipc::Frame {
                    kind: Some(ipc::frame::Kind::Data(ipc::Data {
                        runtime: *runtime,
                        caller_id: caller.to_string(),
                        timestamp: None,
                        payload: Vec::new(),
                        refused: true,
                    })),
                },
            ),
        }
    }

    pub(crate) async fn push(&self, caller: CallerId, timestamp: Timestamp, data: D) -> Result<()> {
        match self {
            DataSink::Local(a) => a.push(caller, timestamp, data).await,
            DataSink::Ipc { runtime, tx } => {
                let frame = ipc::Frame {
                    kind: Some(ipc::frame::Kind::Data(ipc::Data {
                        runtime: *runtime,
                        caller_id: caller.to_string(),
                        timestamp: Some(timestamp.to_proto()),
                        payload: data.encode_to_vec(),
                        refused: false,
                    })),
                };
                // The IPC queue blocks when full (back-pressure); the data
                // policy applies at the parent's aggregator.
                tx.send(frame)
                    .await
                    .map_err(|_| Error::Closed("IPC to the parent process".into()))
            }
        }
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}
