//! Run: `cargo run -p tsercom-examples --example quickstart`
//!
//! A producer (a tonic `Sensor` server on 127.0.0.1) and an aggregator (a
//! client) in one process: the aggregator sends a command, the producer
//! streams readings stamped with its CallerId and the time, and the
//! aggregator prints them. Loopback only; exits 0 by itself.
//!
//! This is the foundation-level demo: it uses the generated service and the
//! CallerId / timestamp wiring directly. The `#[tsercom::runtime]` version
//! (discovery, clock sync, reconnection, poll-style handle) replaces it when
//! the runtime lands.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tsercom::tonic::{Request, Response, Status, Streaming};
use tsercom::{CallerId, HasCallerId, Timestamp, Timestamped};
use tsercom_examples::sensor_client::SensorClient;
use tsercom_examples::sensor_server::{Sensor, SensorServer};
use tsercom_examples::{Command, Reading};

const READINGS: usize = 5;

struct Thermometer {
    id: CallerId,
}

#[tsercom::tonic::async_trait]
impl Sensor for Thermometer {
    type StreamStream = Pin<Box<dyn Stream<Item = Result<Reading, Status>> + Send>>;

    async fn stream(
        &self,
        request: Request<Streaming<Command>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let id = self.id;
        let mut commands = request.into_inner();
        let first = commands.message().await?;
        let action = first.map(|c| c.action).unwrap_or_default();
        println!("producer {id}: got command {action:?}");
        let readings = tokio_stream::iter(0..READINGS).map(move |i| {
            let mut reading = Reading {
                celsius: 20.0 + i as f64 * 0.25,
                ..Reading::default()
            };
            reading.set_caller_id(id);
            reading.set_timestamp(Timestamp::now());
            Ok(reading)
        });
        Ok(Response::new(Box::pin(readings)))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let producer = Thermometer {
        id: CallerId::random(),
    };
    let server = tokio::spawn(
        tsercom::tonic::transport::Server::builder()
            .add_service(SensorServer::new(producer))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let mut aggregator = SensorClient::connect(format!("http://{addr}")).await?;
    let mut command = Command {
        action: "start".into(),
        ..Command::default()
    };
    command.set_timestamp(Timestamp::now());
    let mut readings = aggregator
        .stream(tokio_stream::iter([command]))
        .await?
        .into_inner();
    let mut count = 0;
    while let Some(reading) = readings.message().await? {
        let caller = reading
            .caller_id()?
            .map(|c| c.to_string())
            .unwrap_or_default();
        let time = reading
            .timestamp()?
            .map(|t| t.to_string())
            .unwrap_or_default();
        println!("aggregator: {caller} {time} {:.2} °C", reading.celsius);
        count += 1;
    }
    server.abort();
    println!("received {count} readings");
    if count == READINGS {
        Ok(())
    } else {
        Err(format!("expected {READINGS} readings, got {count}").into())
    }
}
