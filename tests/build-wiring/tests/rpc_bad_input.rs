//! A peer's message with an out-of-range timestamp or an invalid CallerId
//! gets INVALID_ARGUMENT naming the field; the server goes on serving.

use std::time::Duration;

use tsercom::rpc::{ClientTls, Server, checked_caller_id, checked_timestamp, connect};
use tsercom::tonic::{Code, Request, Response, Status, Streaming};
use tsercom::{CallerId, HasCallerId, Timestamp, Timestamped};
use tsercom_test_build_wiring::sensor_client::SensorClient;
use tsercom_test_build_wiring::sensor_server::{Sensor, SensorServer};
use tsercom_test_build_wiring::{Command, Reading};

struct Strict;

#[tsercom::tonic::async_trait]
impl Sensor for Strict {
    type StreamStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<Reading, Status>> + Send + 'static>,
    >;

    async fn stream(
        &self,
        request: Request<Streaming<Command>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        use tokio_stream::StreamExt;
        let readings = request.into_inner().map(|c| {
            let c = c?;
            let when = checked_timestamp(&c)?;
            let mut reading = Reading::default();
            if let Some(when) = when {
                reading.set_timestamp(when);
            }
            Ok(reading)
        });
        Ok(Response::new(Box::pin(readings)))
    }

    async fn ping(
        &self,
        _: Request<tsercom::proto::TestConnectionCall>,
    ) -> Result<Response<tsercom::proto::TestConnectionResponse>, Status> {
        Ok(Response::new(tsercom::proto::TestConnectionResponse {}))
    }
}

fn command(seconds: i64) -> Command {
    Command {
        when: Some(tsercom::proto::ServerTimestamp {
            timestamp: Some(tsercom::well_known_types::Timestamp { seconds, nanos: 0 }),
        }),
        action: "x".into(),
    }
}

#[tokio::test]
async fn out_of_range_timestamp_is_invalid_argument_and_the_server_goes_on() {
    let running = Server::new(CallerId::random())
        .add_service(SensorServer::new(Strict))
        .serve(&["127.0.0.1:0".parse().expect("addr")])
        .await
        .expect("serve");
    let channel = connect(&running.local_addrs()[0].to_string(), &ClientTls::Insecure)
        .await
        .expect("connect");
    let mut client = SensorClient::new(channel);

    let mut replies = client
        .stream(tokio_stream::iter([command(i64::MAX)]))
        .await
        .expect("open")
        .into_inner();
    let status = tokio::time::timeout(Duration::from_secs(30), replies.message())
        .await
        .expect("answered")
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("field `when`") && status.message().contains("out of range"),
        "{status:?}"
    );

    // The next valid stream is served.
    let mut replies = client
        .stream(tokio_stream::iter([command(1_700_000_000)]))
        .await
        .expect("open")
        .into_inner();
    let reading = replies.message().await.expect("ok").expect("a reading");
    assert_eq!(
        reading.timestamp().expect("valid"),
        Some(Timestamp::new(1_700_000_000, 0).expect("in range"))
    );
    running.stop().await;
}

#[test]
fn invalid_caller_id_is_invalid_argument_naming_the_field() {
    let mut reading = Reading::default();
    assert_eq!(checked_caller_id(&reading).expect("unset is fine"), None);
    reading.source = Some(tsercom::proto::CallerId { id: "nope".into() });
    let status = checked_caller_id(&reading).expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("field `source`"), "{status:?}");
    let id = CallerId::random();
    reading.set_caller_id(id);
    assert_eq!(checked_caller_id(&reading).expect("valid"), Some(id));
}
