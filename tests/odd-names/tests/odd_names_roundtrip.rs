//! A proto whose names collide with Rust (messages `Result`, `Option`,
//! `Vec`, `String`, `Box`, `Default`; service `Sync` with a method `Send`;
//! fields `type`, `match`, `self`; package `core`) compiles, and its
//! messages round-trip through the wire format.

use prost::Message as _;
use tsercom::Timestamped as _;
use tsercom::service::StreamService;
use tsercom_test_odd_names::{core, shadowed};

fn holder() -> core::Holder {
    core::Holder {
        timestamp: None,
        caller: None,
        result: Some(core::Result {
            r#type: "result".to_owned(),
        }),
        option: Some(core::Option { r#match: 7 }),
        vec: Some(core::Vec {
            items: vec![core::Result {
                r#type: "item".to_owned(),
            }],
        }),
        string: Some(core::String {
            value: "text".to_owned(),
        }),
        r#box: Some(core::Box {
            inner: Some(core::Option { r#match: 9 }),
        }),
        default: Some(core::Default { self_: true }),
        results: vec![core::Result::default(), core::Result::default()],
        by_name: [(
            "key".to_owned(),
            core::String {
                value: "value".to_owned(),
            },
        )]
        .into_iter()
        .collect(),
        choice: Some(core::holder::Choice::Second(core::Option { r#match: 3 })),
        maybe: Some(core::Box { inner: None }),
        r#type: "type".to_owned(),
        r#match: -5,
        self_: true,
        kind: core::Kind::Some.into(),
        nested: Some(core::holder::Nested {
            vec: Some(core::Vec { items: vec![] }),
        }),
    }
}

#[test]
fn messages_named_like_prelude_types_round_trip() {
    let original = holder();
    let bytes = original.encode_to_vec();
    let decoded = core::Holder::decode(bytes.as_slice()).expect("decodes");
    assert_eq!(decoded, original);
    assert_eq!(decoded.kind(), core::Kind::Some);
    assert_eq!(
        core::Kind::from_str_name("KIND_SOME"),
        Some(core::Kind::Some)
    );
    assert_eq!(core::Kind::from_str_name("KIND_NONE"), None);
}

#[test]
fn wiring_and_descriptors_name_the_proto_types() {
    let mut message = holder();
    assert!(message.timestamp_field().is_none());
    assert_eq!(
        <core::Holder as tsercom::Timestamped>::TIMESTAMP_FIELD,
        "timestamp"
    );
    assert_eq!(
        <core::Holder as tsercom::HasCallerId>::CALLER_ID_FIELD,
        "caller"
    );
    assert!(
        <core::sync_tsercom::method::Default as StreamService>::request_timestamp(&mut message)
            .is_some()
    );
    assert_eq!(
        <core::sync_tsercom::method::Default as StreamService>::PATH,
        "/core.Sync/Default"
    );
}

/// The service trait is named `Sync` and its unary method `send`: a server
/// implementing it, and the generated client, compile and name the user's
/// types.
#[derive(Debug, Default)]
struct Server;

#[tsercom::tonic::async_trait]
impl core::sync_server::Sync for Server {
    async fn send(
        &self,
        request: tsercom::tonic::Request<core::Holder>,
    ) -> Result<tsercom::tonic::Response<core::Result>, tsercom::tonic::Status> {
        Ok(tsercom::tonic::Response::new(core::Result {
            r#type: request.into_inner().r#type,
        }))
    }

    type DefaultStream = std::pin::Pin<
        Box<
            dyn tsercom::tonic::codegen::tokio_stream::Stream<
                    Item = Result<core::Holder, tsercom::tonic::Status>,
                > + Send,
        >,
    >;

    async fn default(
        &self,
        _request: tsercom::tonic::Request<tsercom::tonic::Streaming<core::Holder>>,
    ) -> Result<tsercom::tonic::Response<Self::DefaultStream>, tsercom::tonic::Status> {
        Err(tsercom::tonic::Status::unimplemented("not in this test"))
    }
}

#[test]
fn service_named_sync_with_method_send_is_implementable() {
    let _server = core::sync_server::SyncServer::new(Server);
    fn client_type<T>(_: Option<core::sync_client::SyncClient<T>>) {}
    client_type::<tsercom::tonic::transport::Channel>(None);
}

#[test]
fn included_where_prelude_names_are_shadowed() {
    let original = shadowed::Holder {
        kind: shadowed::Kind::Some.into(),
        option: Some(shadowed::Option { r#match: 1 }),
        ..Default::default()
    };
    let decoded = shadowed::Holder::decode(original.encode_to_vec().as_slice()).expect("decodes");
    assert_eq!(decoded, original);
    assert_eq!(
        shadowed::Kind::from_str_name("KIND_SOME"),
        Some(shadowed::Kind::Some)
    );
}
