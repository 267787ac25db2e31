//! The child's data sink: what a runtime pushes and reports (data, callers,
//! clock estimates, peers) as frames to the parent, which applies them to
//! the handle's aggregator (`glue::ParentPart`).

use tokio::sync::mpsc;

use super::frame::{frame, send_control};
use crate::caller_id::CallerId;
use crate::data::{PeerInfo, PeerState};
use crate::error::{Error, Result};
use crate::proto::ipc::{self, frame::Kind};
use crate::time::{Estimate, Timestamp};

/// Runtime `runtime`'s data, as frames on the socket to the parent.
#[derive(Clone)]
pub(crate) struct IpcSink {
    runtime: u32,
    tx: mpsc::Sender<ipc::Frame>,
}

impl IpcSink {
    pub(crate) fn new(runtime: u32, tx: mpsc::Sender<ipc::Frame>) -> Self {
        IpcSink { runtime, tx }
    }

    fn caller(&self, caller: CallerId, registered: bool, generation: u64) -> ipc::Caller {
        ipc::Caller {
            runtime: self.runtime,
            caller_id: caller.to_string(),
            registered,
            peer: String::new(),
            state_only: false,
            generation,
            reason: String::new(),
        }
    }

    /// Shows the caller connected (at `peer`) or disconnected; the parent
    /// leaves its event queue alone.
    pub(crate) fn set_state(
        &self,
        caller: CallerId,
        connected: bool,
        peer: Option<String>,
        generation: u64,
        reason: String,
    ) {
        let c = ipc::Caller {
            peer: peer.unwrap_or_default(),
            state_only: true,
            reason,
            ..self.caller(caller, connected, generation)
        };
        send_control(&self.tx, frame(Kind::Caller(c)));
    }

    pub(crate) fn register(&self, caller: CallerId, peer: Option<String>, generation: u64) {
        let c = ipc::Caller {
            peer: peer.unwrap_or_default(),
            ..self.caller(caller, true, generation)
        };
        send_control(&self.tx, frame(Kind::Caller(c)));
    }

    pub(crate) fn deregister(&self, caller: CallerId, generation: u64, reason: String) {
        let c = ipc::Caller {
            reason,
            ..self.caller(caller, false, generation)
        };
        send_control(&self.tx, frame(Kind::Caller(c)));
    }

    pub(crate) fn set_clock(&self, caller: CallerId, estimate: Estimate) {
        let c = ipc::Clock {
            runtime: self.runtime,
            caller_id: caller.to_string(),
            offset_nanos: clamp_i64(estimate.offset_nanos),
            delay_nanos: clamp_i64(estimate.delay_nanos),
            samples: u32::try_from(estimate.samples).unwrap_or(u32::MAX),
        };
        send_control(&self.tx, frame(Kind::Clock(c)));
    }

    /// `None`: the peer `target` is gone.
    pub(crate) fn set_name(&self, caller: CallerId, name: String) {
        let n = ipc::CallerName {
            runtime: self.runtime,
            caller_id: caller.to_string(),
            name,
        };
        send_control(&self.tx, frame(Kind::CallerName(n)));
    }

    pub(crate) fn listening(&self, addrs: &[std::net::SocketAddr]) {
        let l = ipc::Listening {
            runtime: self.runtime,
            addrs: addrs.iter().map(ToString::to_string).collect(),
        };
        send_control(&self.tx, frame(Kind::Listening(l)));
    }

    pub(crate) fn peer(&self, info: Option<PeerInfo>, target: &str) {
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
        let p = ipc::Peer {
            runtime: self.runtime,
            target: target.to_owned(),
            caller_id: caller.map(|c| c.to_string()).unwrap_or_default(),
            state,
            detail,
        };
        send_control(&self.tx, frame(Kind::Peer(p)));
    }

    pub(crate) fn refused(&self, caller: CallerId) {
        let d = ipc::Data {
            runtime: self.runtime,
            caller_id: caller.to_string(),
            timestamp: None,
            payload: Vec::new(),
            refused: true,
            duplicate: false,
        };
        send_control(&self.tx, frame(Kind::Data(d)));
    }

    pub(crate) fn duplicate_refused(&self, caller: CallerId) {
        let d = ipc::Data {
            runtime: self.runtime,
            caller_id: caller.to_string(),
            timestamp: None,
            payload: Vec::new(),
            refused: false,
            duplicate: true,
        };
        send_control(&self.tx, frame(Kind::Data(d)));
    }

    pub(crate) async fn push<D: prost::Message>(
        &self,
        caller: CallerId,
        timestamp: Timestamp,
        data: D,
    ) -> Result<()> {
        let d = ipc::Data {
            runtime: self.runtime,
            caller_id: caller.to_text(),
            timestamp: Some(timestamp.to_proto()),
            payload: data.encode_to_vec(),
            refused: false,
            duplicate: false,
        };
        // The IPC queue blocks when full (back-pressure); the data policy
        // applies at the parent's aggregator.
        self.tx
            .send(frame(Kind::Data(d)))
            .await
            .map_err(|_| Error::Closed("IPC to the parent process".into()))
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}
