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
/// Consecutive samples of one caller among them go as one `DataBatch`.
pub(super) async fn write_frames<W: AsyncWriteExt + Unpin>(
    mut w: W,
    mut rx: mpsc::Receiver<ipc::Frame>,
) -> Result<()> {
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    let mut batch = Coalescer::default();
    while let Some(f) = rx.recv().await {
        let mut last = matches!(f.kind, Some(Kind::Stopped(_)));
        buf.clear();
        batch.add(f, &mut buf)?;
        while !last && buf.len() + batch.bytes < WRITE_BATCH {
            let Ok(f) = rx.try_recv() else { break };
            last = matches!(f.kind, Some(Kind::Stopped(_)));
            batch.add(f, &mut buf)?;
        }
        batch.flush(&mut buf)?;
        w.write_all(&buf).await.map_err(ipc_io)?;
        w.flush().await.map_err(ipc_io)?;
        if last {
            break;
        }
    }
    w.flush().await.map_err(ipc_io)
}

/// Most samples in one `DataBatch`.
const MAX_BATCH: usize = 1024;

/// Gathers consecutive `Data` samples of one caller into a `DataBatch`;
/// any other frame first writes the batch, so the order stays as queued.
#[derive(Default)]
struct Coalescer {
    pending: Option<ipc::DataBatch>,
    /// The pending samples' payload bytes (for the write's size bound).
    bytes: usize,
}

impl Coalescer {
    fn add(&mut self, f: ipc::Frame, buf: &mut Vec<u8>) -> Result<()> {
        let d = match f.kind {
            Some(Kind::Data(d)) if !d.refused && !d.duplicate => d,
            kind => {
                self.flush(buf)?;
                return encode_frame(&ipc::Frame { kind }, buf);
            }
        };
        // A batch stays within one write's worth of bytes: a large sample
        // goes alone, as it would have without batching (a frame is
        // refused past MAX_FRAME).
        let joins = self.pending.as_ref().is_some_and(|b| {
            b.runtime == d.runtime
                && b.caller_id == d.caller_id
                && b.samples.len() < MAX_BATCH
                && self.bytes + d.payload.len() + 16 <= WRITE_BATCH
        });
        if !joins {
            self.flush(buf)?;
        }
        self.bytes += d.payload.len() + 16;
        let sample = ipc::BatchedSample {
            timestamp: d.timestamp,
            payload: d.payload,
        };
        match &mut self.pending {
            Some(b) if joins => b.samples.push(sample),
            pending => {
                *pending = Some(ipc::DataBatch {
                    runtime: d.runtime,
                    caller_id: d.caller_id,
                    samples: vec![sample],
                });
            }
        }
        Ok(())
    }

    /// Encodes the pending samples into `buf`: one alone as a `Data` frame,
    /// more as a `DataBatch`.
    fn flush(&mut self, buf: &mut Vec<u8>) -> Result<()> {
        self.bytes = 0;
        let Some(mut b) = self.pending.take() else {
            return Ok(());
        };
        let kind = if b.samples.len() == 1 {
            let s = b.samples.pop().unwrap_or_default();
            Kind::Data(ipc::Data {
                runtime: b.runtime,
                caller_id: b.caller_id,
                timestamp: s.timestamp,
                payload: s.payload,
                refused: false,
                duplicate: false,
            })
        } else {
            Kind::DataBatch(b)
        };
        encode_frame(&frame(kind), buf)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data(caller: &str, n: u8) -> ipc::Frame {
        frame(Kind::Data(ipc::Data {
            runtime: 0,
            caller_id: caller.into(),
            timestamp: Some(
                crate::time::Timestamp::new(i64::from(n), 0)
                    .expect("a valid time")
                    .to_proto(),
            ),
            payload: vec![n],
            refused: false,
            duplicate: false,
        }))
    }

    /// What a frame carries, for comparing: kind, caller, payload bytes.
    fn shape(f: &ipc::Frame) -> (&'static str, String, Vec<u8>) {
        match &f.kind {
            Some(Kind::Data(d)) if d.refused => ("refused", d.caller_id.clone(), d.payload.clone()),
            Some(Kind::Data(d)) => ("data", d.caller_id.clone(), d.payload.clone()),
            Some(Kind::DataBatch(b)) => {
                for s in &b.samples {
                    let time = s.timestamp.as_ref().map(crate::time::Timestamp::from_proto);
                    let want = crate::time::Timestamp::new(i64::from(s.payload[0]), 0);
                    assert_eq!(
                        time.map(Result::ok),
                        Some(want.ok()),
                        "timestamp kept with its sample"
                    );
                }
                (
                    "batch",
                    b.caller_id.clone(),
                    b.samples.iter().flat_map(|s| s.payload.clone()).collect(),
                )
            }
            Some(Kind::Caller(c)) => ("caller", c.caller_id.clone(), Vec::new()),
            Some(Kind::Stopped(_)) => ("stopped", String::new(), Vec::new()),
            other => panic!("unexpected frame {other:?}"),
        }
    }

    /// What the writer puts on the socket for `frames`, all queued before
    /// it starts, read back frame by frame.
    async fn written(frames: Vec<ipc::Frame>) -> Vec<ipc::Frame> {
        let (tx, rx) = mpsc::channel(frames.len().max(1));
        for f in frames {
            tx.send(f).await.expect("room");
        }
        drop(tx);
        let (w, mut r) = tokio::io::duplex(1 << 22);
        write_frames(w, rx).await.expect("written");
        let mut got = Vec::new();
        while let Some(f) = read_frame(&mut r).await.expect("a frame") {
            got.push(f);
        }
        got
    }

    #[tokio::test]
    async fn queued_samples_of_one_caller_go_as_one_batch_in_order() {
        let caller = |id: &str| {
            frame(Kind::Caller(ipc::Caller {
                caller_id: id.into(),
                registered: true,
                ..Default::default()
            }))
        };
        let mut refused = data("b", 9);
        if let Some(Kind::Data(d)) = &mut refused.kind {
            d.refused = true;
            d.payload.clear();
        }
        let frames = vec![
            data("a", 0),
            data("a", 1),
            data("a", 2),
            caller("a"),
            data("a", 3),
            data("b", 4),
            data("b", 5),
            refused,
            data("b", 6),
            frame(Kind::Stopped(ipc::Stopped {})),
        ];
        let got: Vec<_> = written(frames).await.iter().map(shape).collect();
        let want = [
            ("batch", "a", vec![0, 1, 2]),
            ("caller", "a", vec![]),
            ("data", "a", vec![3]),
            ("batch", "b", vec![4, 5]),
            ("refused", "b", vec![]),
            ("data", "b", vec![6]),
            ("stopped", "", vec![]),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(k, c, p)| (k, c.to_owned(), p))
            .collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn a_large_sample_goes_alone() {
        let big = |n: u8| {
            let mut f = data("a", n);
            if let Some(Kind::Data(d)) = &mut f.kind {
                d.payload = vec![n; WRITE_BATCH];
            }
            f
        };
        let got: Vec<_> = written(vec![data("a", 1), big(2), data("a", 3)])
            .await
            .iter()
            .map(|f| {
                let (kind, _, payload) = shape(f);
                (kind, payload.len())
            })
            .collect();
        assert_eq!(got, [("data", 1), ("data", WRITE_BATCH), ("data", 1)]);
    }

    #[tokio::test]
    async fn a_batch_stops_at_its_sample_limit() {
        let frames = (0..MAX_BATCH + 3).map(|_| data("a", 7)).collect();
        let mut sizes = Vec::new();
        for f in written(frames).await {
            match f.kind {
                Some(Kind::DataBatch(b)) => sizes.push(b.samples.len()),
                Some(Kind::Data(_)) => sizes.push(1),
                other => panic!("unexpected frame {other:?}"),
            }
        }
        assert_eq!(sizes.iter().sum::<usize>(), MAX_BATCH + 3);
        assert!(sizes.iter().all(|&n| n <= MAX_BATCH), "{sizes:?}");
    }
}
