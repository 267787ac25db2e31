//! Server reflection and health on a generated runtime: a real gRPC
//! reflection client (tonic-reflection's v1 client) lists the user's
//! service beside tsercom's own, resolves it to its file and finds its
//! methods and its imports; the health service reports it SERVING.

use std::net::SocketAddr;
use std::time::Duration;

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};
use tsercom::RuntimeManager;
use tsercom::tonic::transport::Channel;
use tsercom::well_known_types::FileDescriptorProto;
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

const WAIT: Duration = Duration::from_secs(60);

#[tsercom::runtime(producer, listen = self.addr, service = sensors::Sensor, data = Reading, event = Command)]
#[derive(Default)]
struct Thermometer {
    addr: Option<SocketAddr>,
}

/// A channel to `addr`, where the runtime already serves (its address is
/// read from its handle once started).
async fn channel_to(addr: SocketAddr) -> Channel {
    tsercom::tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect_timeout(WAIT)
        .connect()
        .await
        .expect("the runtime serves")
}

async fn reflect(channel: &Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel.clone());
    let mut replies = client
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }]))
        .await
        .expect("reflection call")
        .into_inner();
    let reply: ServerReflectionResponse = replies
        .message()
        .await
        .expect("a reply")
        .expect("one reply");
    reply.message_response.expect("an answer")
}

async fn health(channel: &Channel, service: &str) -> i32 {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

#[test]
fn reflection_lists_the_users_service_and_health_reports_it() {
    let mut manager = RuntimeManager::new();
    let thermometer = manager
        .register(Thermometer {
            addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    manager.check_error().expect("no runtime error");
    let addr = thermometer.listening()[0];

    let tokio = tokio::runtime::Runtime::new().expect("tokio");
    let channel = tokio.block_on(channel_to(addr));

    // The services served: the user's beside tsercom's own, and none of the
    // other services the crate's protos declare (they are not served).
    let MessageResponse::ListServicesResponse(list) = tokio.block_on(reflect(
        &channel,
        MessageRequest::ListServices(String::new()),
    )) else {
        panic!("not a service list");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "sensors.Sensor",
            "tsercom.Delivery",
            "tsercom.Peer",
        ],
    );

    // The service's file, through the symbol: its methods with their
    // types, and the imports it needs (tsercom's protos) resolve too.
    let MessageResponse::FileDescriptorResponse(files) = tokio.block_on(reflect(
        &channel,
        MessageRequest::FileContainingSymbol("sensors.Sensor".into()),
    )) else {
        panic!("not a file descriptor answer");
    };
    let files: Vec<FileDescriptorProto> = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost::Message::decode(bytes.as_slice()).expect("a FileDescriptorProto"))
        .collect();
    let file = files
        .iter()
        .find(|f| f.service.iter().any(|s| s.name() == "Sensor"))
        .expect("the file declaring sensors.Sensor");
    assert_eq!(file.package(), "sensors");
    let service = file
        .service
        .iter()
        .find(|s| s.name() == "Sensor")
        .expect("Sensor");
    let methods: Vec<(&str, &str, &str, bool, bool)> = service
        .method
        .iter()
        .map(|m| {
            (
                m.name(),
                m.input_type(),
                m.output_type(),
                m.client_streaming(),
                m.server_streaming(),
            )
        })
        .collect();
    assert!(
        methods.contains(&("Stream", ".sensors.Command", ".sensors.Reading", true, true)),
        "{methods:?}"
    );
    assert!(
        methods.iter().any(|m| m.0 == "Ping" && !m.3 && !m.4),
        "{methods:?}"
    );
    for import in &file.dependency {
        let MessageResponse::FileDescriptorResponse(dep) = tokio.block_on(reflect(
            &channel,
            MessageRequest::FileByFilename(import.clone()),
        )) else {
            panic!("import {import} does not resolve");
        };
        assert!(!dep.file_descriptor_proto.is_empty(), "{import}");
    }

    // Health: the user's service SERVING beside the server's.
    assert_eq!(
        tokio.block_on(health(&channel, "sensors.Sensor")),
        ServingStatus::Serving as i32
    );
    assert_eq!(
        tokio.block_on(health(&channel, "")),
        ServingStatus::Serving as i32
    );
    manager.check_error().expect("no runtime error");
    manager.shutdown().expect("shutdown");
}
