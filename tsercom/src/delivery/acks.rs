//! `tsercom.Delivery/Acknowledge`, both sides: the host serves it (bound to
//! the caller of its connection's handshake), the dialer opens it on each
//! connection. Each side streams its acknowledgments (coalesced, at most
//! one per `ack_interval`) and applies the other's to its outbox.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{Delivery, Inbox, Outbox};
use crate::caller_id::CallerId;
use crate::proto::{self, delivery_server};
use crate::rpc::PeerConnection;

/// The host's `tsercom.Delivery` service for a runtime sending `T`.
pub(crate) struct AckService<T> {
    delivery: Arc<Delivery<T>>,
}

impl<T> AckService<T> {
    pub(crate) fn new(delivery: Arc<Delivery<T>>) -> delivery_server::DeliveryServer<Self>
    where
        T: Clone + Send + Sync + 'static,
    {
        delivery_server::DeliveryServer::new(AckService { delivery })
    }
}

type AckStream = ReceiverStream<std::result::Result<proto::DeliveryAck, Status>>;

#[tonic::async_trait]
impl<T: Clone + Send + Sync + 'static> delivery_server::Delivery for AckService<T> {
    type AcknowledgeStream = AckStream;

    async fn acknowledge(
        &self,
        request: Request<Streaming<proto::DeliveryAck>>,
    ) -> std::result::Result<Response<AckStream>, Status> {
        let connection = request
            .extensions()
            .get::<PeerConnection>()
            .ok_or_else(|| {
                Status::unauthenticated("acknowledge: not on a connection of tsercom's server")
            })?;
        let caller = connection.authenticate("acknowledge", None)?.caller;
        let incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(4);
        let outbox = self.delivery.outbox(caller);
        let inbox = self.delivery.inbox(caller);
        tokio::spawn(apply_acks(caller, incoming, outbox));
        tokio::spawn(send_acks(inbox, self.delivery.config.ack_interval, tx, Ok));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// Applies the peer's acknowledgments of what this process sent it.
async fn apply_acks<T>(
    peer: CallerId,
    mut incoming: Streaming<proto::DeliveryAck>,
    outbox: Arc<Outbox<T>>,
) {
    let own = crate::rpc::incarnation();
    loop {
        match incoming.message().await {
            Ok(Some(ack)) if ack.incarnation == own => outbox.ack(ack.received),
            // For an earlier process with this id: not ours.
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(%peer, %status, "acknowledgment stream ended");
                break;
            }
        }
    }
}

/// Streams the inbox's acknowledgments into `tx` (as `wrap` makes them),
/// at most one per `interval`, always the latest; ends with the stream.
async fn send_acks<M: Send + 'static>(
    inbox: Arc<Inbox>,
    interval: Duration,
    tx: mpsc::Sender<M>,
    wrap: fn(proto::DeliveryAck) -> M,
) {
    let mut sent = (0, 0);
    loop {
        let now = inbox.current();
        if now != sent && now.0 != 0 {
            let (incarnation, received) = now;
            if tx
                .send(wrap(proto::DeliveryAck {
                    incarnation,
                    received,
                }))
                .await
                .is_err()
            {
                break;
            }
            sent = now;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = tx.closed() => break,
        }
        tokio::select! {
            () = inbox.changed_from(sent) => {}
            () = tx.closed() => break,
        }
    }
}

/// The dialer's side on one connection: opens `Acknowledge`; `None` when
/// the host does not serve it (plain streams then), an error status when
/// the call fails otherwise. The returned guard ends both directions.
pub(crate) async fn open<T: Clone + Send + Sync + 'static>(
    channel: tonic::transport::Channel,
    peer: CallerId,
    delivery: &Delivery<T>,
) -> std::result::Result<Option<AckTasks>, Status> {
    let (tx, rx) = mpsc::channel::<proto::DeliveryAck>(4);
    let mut client = proto::delivery_client::DeliveryClient::new(channel);
    let response = match client.acknowledge(ReceiverStream::new(rx)).await {
        Ok(response) => response,
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            tracing::info!(%peer, "the peer does not acknowledge: plain streams (what a broken connection held is not resent)");
            return Ok(None);
        }
        Err(status) => return Err(status),
    };
    let apply = tokio::spawn(apply_acks(
        peer,
        response.into_inner(),
        delivery.outbox(peer),
    ));
    let send = tokio::spawn(send_acks(
        delivery.inbox(peer),
        delivery.config.ack_interval,
        tx,
        |ack| ack,
    ));
    Ok(Some(AckTasks([apply, send])))
}

/// The dialer's acknowledgment tasks of one connection; dropped, they end.
pub(crate) struct AckTasks([tokio::task::JoinHandle<()>; 2]);

impl Drop for AckTasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
