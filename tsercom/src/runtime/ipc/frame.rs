//! The socket's framing: each `tsercom.ipc.Frame` as a 4-byte big-endian
//! length then its protobuf encoding; reading one frame, writing batches,
//! and queueing control frames without blocking.

use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::proto::ipc::{self, frame::Kind};

/// Largest frame accepted on the socket.
pub(crate) const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Most bytes gathered for one write.
const WRITE_BATCH: usize = 64 * 1024;

pub(crate) fn frame(kind: Kind) -> ipc::Frame {
    ipc::Frame { kind: Some(kind) }
}

/// Appends `f` to `buf` as the socket carries it: a 4-byte big-endian
/// length, then the protobuf encoding.
pub fn encode_frame(f: &ipc::Frame, buf: &mut Vec<u8>) -> Result<()> {
    let len = u32::try_from(f.encoded_len()).map_err(|_| Error::Protocol {
        what: "IPC frame",
        reason: "larger than 4 GiB".into(),
    })?;
    buf.extend_from_slice(&len.to_be_bytes());
    // Encoding into a growable Vec cannot run out of room.
    f.encode(buf).map_err(|e| Error::Protocol {
        what: "IPC frame",
        reason: e.to_string(),
    })
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin>(r: &mut R) -> Result<Option<ipc::Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(source) => return Err(ipc_io(source)),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(Error::Protocol {
            what: "IPC frame",
            reason: format!("length {len} exceeds the maximum {MAX_FRAME}"),
        });
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(ipc_io)?;
    ipc::Frame::decode(buf.as_slice())
        .map(Some)
        .map_err(|source| Error::Decode {
            what: "IPC frame",
            source,
        })
}

pub(super) fn ipc_io(source: std::io::Error) -> Error {
    Error::Ipc {
        what: "IPC socket",
        source,
    }
}

/// Writes frames from `rx` until it closes or a `Stopped` frame was written.
/// The frames already queued are gathered into one write (up to
/// [`WRITE_BATCH`] bytes): one system call for a burst, not one per frame.
pub(super) async fn write_frames<W: AsyncWriteExt + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<ipc::Frame>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    while let Some(f) = rx.recv().await {
        let mut last = matches!(f.kind, Some(Kind::Stopped(_)));
        buf.clear();
        encode_frame(&f, &mut buf)?;
        while !last && buf.len() < WRITE_BATCH {
            let Ok(f) = rx.try_recv() else { break };
            last = matches!(f.kind, Some(Kind::Stopped(_)));
            encode_frame(&f, &mut buf)?;
        }
        w.write_all(&buf).await.map_err(ipc_io)?;
        w.flush().await.map_err(ipc_io)?;
        if last {
            break;
        }
    }
    w.flush().await.map_err(ipc_io)
}

/// Sends a control frame without blocking: immediately when the IPC queue
/// has room, else from a task (the parent tolerates data arriving before its
/// caller's registration).
pub(crate) fn send_control(tx: &mpsc::Sender<ipc::Frame>, frame: ipc::Frame) {
    if let Err(mpsc::error::TrySendError::Full(frame)) = tx.try_send(frame) {
        let tx = tx.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move { tx.send(frame).await });
            }
            Err(_) => tracing::warn!("IPC queue full outside the runtime: control frame not sent"),
        }
    }
}
