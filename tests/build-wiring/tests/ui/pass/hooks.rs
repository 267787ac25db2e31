//! Custom hooks: configuration from the struct's fields, connect and
//! disconnect callbacks, the service's other RPCs.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use tsercom::runtime::{RuntimeConfig, RuntimeInitializer};
use tsercom::service::Hooks;
use tsercom::tonic::service::Routes;
use tsercom::tonic::{Request, Response, Status, Streaming};
use tsercom::CallerId;
use tsercom_test_build_wiring::sensor_server::{Sensor, SensorServer};
use tsercom_test_build_wiring::{sensor_tsercom, Command, Reading};

#[tsercom::runtime(producer, listen = "127.0.0.1:0", service = Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    port: u16,
    connects: AtomicUsize,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        config.with_listen([SocketAddr::from(([127, 0, 0, 1], self.port))])
    }

    fn on_connect(&self, _peer: CallerId, _addr: Option<SocketAddr>) {
        self.connects.fetch_add(1, Ordering::Relaxed);
    }

    fn on_disconnect(&self, _peer: CallerId, reason: &str) {
        eprintln!("disconnected: {reason}");
    }

    fn other_rpcs(&self) -> Option<Routes> {
        Some(Routes::new(SensorServer::new(Pings)))
    }
}

/// Answers `Ping`; the stream stays tsercom's.
struct Pings;

#[tsercom::tonic::async_trait]
impl Sensor for Pings {
    type StreamStream = tsercom::tonic::codegen::BoxStream<Reading>;

    async fn stream(
        &self,
        _request: Request<Streaming<Command>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        Err(Status::unimplemented("served by tsercom"))
    }

    async fn ping(
        &self,
        request: Request<tsercom::proto::TestConnectionCall>,
    ) -> Result<Response<tsercom::proto::TestConnectionResponse>, Status> {
        let _ = request;
        Ok(Response::new(tsercom::proto::TestConnectionResponse::default()))
    }
}

fn main() {
    let thermometer = Thermometer {
        port: 50998,
        connects: AtomicUsize::new(0),
    };
    assert_eq!(
        thermometer.config().unwrap().listen,
        vec!["127.0.0.1:50998".parse().unwrap()]
    );
    assert!(thermometer.other_rpcs().is_some());
    let _: Option<sensor_tsercom::Service> = None;
}
