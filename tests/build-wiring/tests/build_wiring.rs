//! The generated wiring reads and stamps messages through tsercom's traits,
//! and the generated service runs over a real tonic connection.

use tsercom::{CallerId, HasCallerId, Timestamp, Timestamped};
use tsercom_test_build_wiring::{
    Batch, Choice, Command, Envelope, Keywords, Reading, envelope, legacy,
};

fn at(seconds: i64, nanos: u32) -> Timestamp {
    Timestamp::new(seconds, nanos).expect("in range")
}

/// Compile-time check that a type does not implement a trait is not
/// expressible directly; this helper reports whether it does, through
/// autoref specialisation.
macro_rules! implements {
    ($ty:ty: $tr:path) => {{
        struct Probe<T>(std::marker::PhantomData<T>);
        #[allow(dead_code)] // each expansion calls only one of the two probes
        trait No {
            fn yes(&self) -> bool {
                false
            }
        }
        impl<T> No for &Probe<T> {}
        #[allow(dead_code)] // each expansion calls only one of the two probes
        trait Yes {
            fn yes(&self) -> bool {
                true
            }
        }
        impl<T: $tr> Yes for Probe<T> {}
        (&Probe::<$ty>(std::marker::PhantomData)).yes()
    }};
}

#[test]
fn stamps_and_reads_a_timestamp_whatever_the_field_is_called() {
    let mut reading = Reading::default();
    assert_eq!(reading.timestamp().expect("unset is ok"), None);
    reading.set_timestamp(at(1_764_000_000, 123_456_789));
    assert_eq!(
        reading.timestamp().expect("valid"),
        Some(at(1_764_000_000, 123_456_789))
    );
    assert_eq!(<Reading as Timestamped>::TIMESTAMP_FIELD, "timestamp");

    let mut command = Command::default();
    command.set_timestamp(at(5, 6));
    assert_eq!(
        command.when.as_ref().and_then(|t| t.timestamp),
        Some(at(5, 6).to_prost())
    );
    assert_eq!(<Command as Timestamped>::TIMESTAMP_FIELD, "when");
}

#[test]
fn stamps_and_reads_a_caller_id() {
    let id = CallerId::random();
    let mut reading = Reading::default();
    reading.set_caller_id(id);
    assert_eq!(
        reading.source.as_ref().map(|c| c.id.clone()),
        Some(id.to_string())
    );
    assert_eq!(reading.caller_id().expect("valid"), Some(id));
    assert_eq!(<Reading as HasCallerId>::CALLER_ID_FIELD, "source");

    reading.source = Some(tsercom::proto::CallerId {
        id: "garbage".into(),
    });
    assert!(reading.caller_id().is_err());
}

#[test]
fn out_of_range_timestamps_from_a_peer_are_errors() {
    let reading = Reading {
        timestamp: Some(tsercom::proto::ServerTimestamp {
            timestamp: Some(tsercom::well_known_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
        }),
        ..Reading::default()
    };
    assert!(reading.timestamp().is_err());
}

#[test]
fn builder_choice_picks_one_of_two_fields() {
    let mut envelope = Envelope::default();
    envelope.set_timestamp(at(7, 0));
    assert!(envelope.sent.is_some());
    assert!(envelope.received.is_none());
    assert_eq!(<Envelope as Timestamped>::TIMESTAMP_FIELD, "sent");

    let mut inner = envelope::Inner::default();
    inner.set_timestamp(at(8, 0));
    assert_eq!(inner.timestamp().expect("valid"), Some(at(8, 0)));
}

#[test]
fn keyword_field_names_are_wired() {
    let mut k = Keywords::default();
    k.set_timestamp(at(9, 0));
    assert!(k.r#type.is_some());
    assert_eq!(<Keywords as Timestamped>::TIMESTAMP_FIELD, "type");
}

#[test]
fn repeated_and_oneof_fields_are_not_wired() {
    assert!(!implements!(Batch: Timestamped));
    assert!(!implements!(Choice: Timestamped));
    assert!(implements!(Reading: Timestamped));
    assert!(!implements!(Command: HasCallerId));
}

#[test]
fn python_import_spellings_compile_and_wire() {
    let id = CallerId::random();
    let mut sample = legacy::Sample::default();
    sample.set_caller_id(id);
    sample.set_timestamp(at(10, 0));
    assert_eq!(sample.caller_id().expect("valid"), Some(id));
    // The alias imports resolve to the same Rust types as tsercom's own.
    let _: &Option<tsercom::proto::ServerTimestamp> = &sample.timestamp;
}

mod service {
    use tsercom::tonic::{Request, Response, Status, Streaming};
    use tsercom_test_build_wiring::sensor_client::SensorClient;
    use tsercom_test_build_wiring::sensor_server::{Sensor, SensorServer};
    use tsercom_test_build_wiring::{Command, Reading};

    struct Echo;

    #[tsercom::tonic::async_trait]
    impl Sensor for Echo {
        type StreamStream = std::pin::Pin<
            Box<dyn tokio_stream::Stream<Item = Result<Reading, Status>> + Send + 'static>,
        >;

        async fn stream(
            &self,
            request: Request<Streaming<Command>>,
        ) -> Result<Response<Self::StreamStream>, Status> {
            use tokio_stream::StreamExt;
            let commands = request.into_inner();
            let readings = commands.map(|c| {
                c.map(|c| Reading {
                    timestamp: c.when,
                    celsius: c.action.len() as f64,
                    source: None,
                })
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

    #[tokio::test]
    async fn generated_service_runs_over_loopback() {
        use tsercom::Timestamped;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tokio::spawn(
            tsercom::tonic::transport::Server::builder()
                .add_service(SensorServer::new(Echo))
                .serve_with_incoming(incoming),
        );

        let mut client = SensorClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        client
            .ping(tsercom::proto::TestConnectionCall {})
            .await
            .expect("ping");

        let mut command = Command {
            when: None,
            action: "four".into(),
        };
        command.set_timestamp(tsercom::Timestamp::new(42, 1).expect("in range"));
        let mut replies = client
            .stream(tokio_stream::iter(vec![command]))
            .await
            .expect("open stream")
            .into_inner();
        let reading = replies
            .message()
            .await
            .expect("stream ok")
            .expect("one reading");
        assert_eq!(reading.celsius, 4.0);
        assert_eq!(
            reading.timestamp().expect("valid"),
            Some(tsercom::Timestamp::new(42, 1).expect("in range"))
        );
        server.abort();
    }
}
