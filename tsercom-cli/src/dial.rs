//! Dialing a tsercom peer with messages known only at run time: connect,
//! the CallerId handshake, clock sync, and a bidirectional stream of raw
//! (encoded) messages on the method's path.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut};
use tsercom::rpc::ClientTls;
use tsercom::time::{Clock, SynchronizedClock, SystemClock};
use tsercom::tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tsercom::tonic::{self, Status};
use tsercom::{CallerId, service::CALLER_ID_METADATA};

use crate::{CliResult, ctx};

/// Messages as bytes, unchanged both ways.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

/// A connected, identified, clock-synchronized peer.
pub(crate) struct Peer {
    pub(crate) target: String,
    pub(crate) id: CallerId,
    pub(crate) channel: tonic::transport::Channel,
    pub(crate) clock: SynchronizedClock,
    _sync: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self._sync.abort();
    }
}

/// How long to wait for the first clock estimate before going on with
/// timestamps unconverted.
const SYNC_WAIT: Duration = Duration::from_secs(5);

impl Peer {
    /// Connects to `target` (`host:port`), shakes hands as `me`, and keeps
    /// the peer's clock offset (one exchange a second, min-RTT of 8).
    pub(crate) async fn dial(target: &str, me: CallerId) -> CliResult<Peer> {
        let channel = tsercom::rpc::connect(target, &ClientTls::Insecure)
            .await
            .map_err(ctx(format!("connecting to {target}")))?;
        let id = tsercom::rpc::handshake(channel.clone(), me, None)
            .await
            .map_err(ctx(format!("handshake with {target}")))?;
        let local: Arc<dyn Clock> = Arc::new(SystemClock);
        let clock = SynchronizedClock::new(Arc::clone(&local));
        let sync = tokio::spawn(tsercom::rpc::run_clock_sync(
            channel.clone(),
            local,
            clock.clone(),
            Duration::from_secs(1),
            8,
            None,
        ));
        if !clock.wait_synchronized(SYNC_WAIT).await {
            eprintln!("tsercom: no clock estimate from {target} yet; timestamps pass unconverted");
        }
        Ok(Peer {
            target: target.to_owned(),
            id,
            channel,
            clock,
            _sync: sync,
        })
    }

    /// The clock estimate now, as the metadata records it.
    pub(crate) fn estimate(&self) -> Option<tsercom::time::Estimate> {
        match self.clock.state() {
            tsercom::time::SyncState::Synchronized(e) => Some(e),
            _ => None,
        }
    }

    /// Opens the bidirectional stream on `path`, sending `outgoing` (raw
    /// messages), as `me`; returns the peer's stream.
    pub(crate) async fn open(
        &self,
        path: &str,
        me: CallerId,
        outgoing: impl tokio_stream::Stream<Item = Vec<u8>> + Send + 'static,
    ) -> CliResult<tonic::Streaming<Vec<u8>>> {
        let mut request = tonic::Request::new(outgoing);
        let value = tonic::metadata::MetadataValue::try_from(me.to_string())
            .map_err(ctx("caller id metadata"))?;
        request.metadata_mut().insert(CALLER_ID_METADATA, value);
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready()
            .await
            .map_err(ctx(format!("connecting to {}", self.target)))?;
        let path = tonic::codegen::http::uri::PathAndQuery::try_from(path)
            .map_err(ctx(format!("method path {path}")))?;
        let response = grpc
            .streaming(request, path, RawCodec)
            .await
            .map_err(ctx(format!("opening the stream to {}", self.target)))?;
        Ok(response.into_inner())
    }
}
