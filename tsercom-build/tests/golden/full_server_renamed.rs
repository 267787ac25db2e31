#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
/// A reading from a sensor.
#[derive(Clone, PartialEq, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct Reading {
    #[prost(message, optional, tag = "1")]
    pub timestamp: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
    #[prost(message, optional, tag = "2")]
    pub caller: ::core::option::Option<::my_tsercom::proto::CallerId>,
    #[prost(double, tag = "3")]
    pub value: f64,
    #[prost(enumeration = "super::units::Unit", tag = "4")]
    pub unit: i32,
    /// Where it was taken.
    #[prost(message, optional, tag = "5")]
    pub place: ::core::option::Option<reading::Place>,
    #[prost(map = "string, string", tag = "6")]
    pub labels: ::std::collections::HashMap<
        ::my_tsercom::__private::prost::alloc::string::String,
        ::my_tsercom::__private::prost::alloc::string::String,
    >,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw: ::core::option::Option<::my_tsercom::__private::prost::alloc::vec::Vec<u8>>,
    #[prost(oneof = "reading::Source", tags = "7, 8")]
    pub source: ::core::option::Option<reading::Source>,
}
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
/// Nested message and enum types in `Reading`.
pub mod reading {
    #[derive(Clone, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
    #[prost(prost_path = "::my_tsercom::__private::prost")]
    pub struct Place {
        #[prost(string, tag = "1")]
        pub room: ::my_tsercom::__private::prost::alloc::string::String,
    }
    #[derive(Clone, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Oneof)]
    #[prost(prost_path = "::my_tsercom::__private::prost")]
    pub enum Source {
        #[prost(string, tag = "7")]
        Device(::my_tsercom::__private::prost::alloc::string::String),
        #[prost(int32, tag = "8")]
        Channel(i32),
    }
}
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
/// A command to a sensor.
#[derive(Clone, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct Command {
    #[prost(message, optional, tag = "1")]
    pub timestamp: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
    #[prost(string, tag = "2")]
    pub action: ::my_tsercom::__private::prost::alloc::string::String,
}
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    unused_qualifications,
    non_camel_case_types,
    clippy::all,
    clippy::pedantic,
    clippy::nursery
)]
/// Generated server implementations.
pub mod sensor_server {
    #![allow(
        unused_variables,
        dead_code,
        missing_docs,
        clippy::wildcard_imports,
        clippy::let_unit_value,
    )]
    use ::my_tsercom::__private::tonic::codegen::*;
    /// Generated trait containing gRPC methods that should be implemented for use with SensorServer.
    #[async_trait]
    pub trait Sensor: std::marker::Send + std::marker::Sync + 'static {
        /// Server streaming response type for the Stream method.
        type StreamStream: ::my_tsercom::__private::tonic::codegen::tokio_stream::Stream<
                Item = std::result::Result<
                    super::Reading,
                    ::my_tsercom::__private::tonic::Status,
                >,
            >
            + std::marker::Send
            + 'static;
        /// Data flows from the sensor; commands flow to it.
        async fn stream(
            &self,
            request: ::my_tsercom::__private::tonic::Request<
                ::my_tsercom::__private::tonic::Streaming<super::Command>,
            >,
        ) -> std::result::Result<
            ::my_tsercom::__private::tonic::Response<Self::StreamStream>,
            ::my_tsercom::__private::tonic::Status,
        >;
        /// Server streaming response type for the Upload method.
        type UploadStream: ::my_tsercom::__private::tonic::codegen::tokio_stream::Stream<
                Item = std::result::Result<
                    super::Command,
                    ::my_tsercom::__private::tonic::Status,
                >,
            >
            + std::marker::Send
            + 'static;
        /// The other direction.
        async fn upload(
            &self,
            request: ::my_tsercom::__private::tonic::Request<
                ::my_tsercom::__private::tonic::Streaming<super::Reading>,
            >,
        ) -> std::result::Result<
            ::my_tsercom::__private::tonic::Response<Self::UploadStream>,
            ::my_tsercom::__private::tonic::Status,
        >;
        async fn latest(
            &self,
            request: ::my_tsercom::__private::tonic::Request<()>,
        ) -> std::result::Result<
            ::my_tsercom::__private::tonic::Response<super::Reading>,
            ::my_tsercom::__private::tonic::Status,
        >;
        /// Server streaming response type for the Watch method.
        type WatchStream: ::my_tsercom::__private::tonic::codegen::tokio_stream::Stream<
                Item = std::result::Result<
                    super::Reading,
                    ::my_tsercom::__private::tonic::Status,
                >,
            >
            + std::marker::Send
            + 'static;
        async fn watch(
            &self,
            request: ::my_tsercom::__private::tonic::Request<super::Command>,
        ) -> std::result::Result<
            ::my_tsercom::__private::tonic::Response<Self::WatchStream>,
            ::my_tsercom::__private::tonic::Status,
        >;
        async fn batch(
            &self,
            request: ::my_tsercom::__private::tonic::Request<
                ::my_tsercom::__private::tonic::Streaming<super::Reading>,
            >,
        ) -> std::result::Result<
            ::my_tsercom::__private::tonic::Response<()>,
            ::my_tsercom::__private::tonic::Status,
        >;
    }
    /// A sensor.
    #[derive(Debug)]
    pub struct SensorServer<T> {
        inner: Arc<T>,
        accept_compression_encodings: EnabledCompressionEncodings,
        send_compression_encodings: EnabledCompressionEncodings,
        max_decoding_message_size: Option<usize>,
        max_encoding_message_size: Option<usize>,
    }
    impl<T> SensorServer<T> {
        pub fn new(inner: T) -> Self {
            Self::from_arc(Arc::new(inner))
        }
        pub fn from_arc(inner: Arc<T>) -> Self {
            Self {
                inner,
                accept_compression_encodings: Default::default(),
                send_compression_encodings: Default::default(),
                max_decoding_message_size: None,
                max_encoding_message_size: None,
            }
        }
        pub fn with_interceptor<F>(
            inner: T,
            interceptor: F,
        ) -> InterceptedService<Self, F>
        where
            F: ::my_tsercom::__private::tonic::service::Interceptor,
        {
            InterceptedService::new(Self::new(inner), interceptor)
        }
        /// Enable decompressing requests with the given encoding.
        #[must_use]
        pub fn accept_compressed(mut self, encoding: CompressionEncoding) -> Self {
            self.accept_compression_encodings.enable(encoding);
            self
        }
        /// Compress responses with the given encoding, if the client supports it.
        #[must_use]
        pub fn send_compressed(mut self, encoding: CompressionEncoding) -> Self {
            self.send_compression_encodings.enable(encoding);
            self
        }
        /// Limits the maximum size of a decoded message.
        ///
        /// Default: `4MB`
        #[must_use]
        pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
            self.max_decoding_message_size = Some(limit);
            self
        }
        /// Limits the maximum size of an encoded message.
        ///
        /// Default: `usize::MAX`
        #[must_use]
        pub fn max_encoding_message_size(mut self, limit: usize) -> Self {
            self.max_encoding_message_size = Some(limit);
            self
        }
    }
    impl<T, B> ::my_tsercom::__private::tonic::codegen::Service<http::Request<B>>
    for SensorServer<T>
    where
        T: Sensor,
        B: Body + std::marker::Send + 'static,
        B::Error: Into<StdError> + std::marker::Send + 'static,
    {
        type Response = http::Response<::my_tsercom::__private::tonic::body::Body>;
        type Error = std::convert::Infallible;
        type Future = BoxFuture<Self::Response, Self::Error>;
        fn poll_ready(
            &mut self,
            _cx: &mut Context<'_>,
        ) -> Poll<std::result::Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            match req.uri().path() {
                "/golden.full.Sensor/Stream" => {
                    #[allow(non_camel_case_types)]
                    struct StreamSvc<T: Sensor>(pub Arc<T>);
                    impl<
                        T: Sensor,
                    > ::my_tsercom::__private::tonic::server::StreamingService<
                        super::Command,
                    > for StreamSvc<T> {
                        type Response = super::Reading;
                        type ResponseStream = T::StreamStream;
                        type Future = BoxFuture<
                            ::my_tsercom::__private::tonic::Response<
                                Self::ResponseStream,
                            >,
                            ::my_tsercom::__private::tonic::Status,
                        >;
                        fn call(
                            &mut self,
                            request: ::my_tsercom::__private::tonic::Request<
                                ::my_tsercom::__private::tonic::Streaming<super::Command>,
                            >,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move {
                                <T as Sensor>::stream(&inner, request).await
                            };
                            Box::pin(fut)
                        }
                    }
                    let accept_compression_encodings = self.accept_compression_encodings;
                    let send_compression_encodings = self.send_compression_encodings;
                    let max_decoding_message_size = self.max_decoding_message_size;
                    let max_encoding_message_size = self.max_encoding_message_size;
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = StreamSvc(inner);
                        let codec = ::my_tsercom::__private::tonic_prost::ProstCodec::default();
                        let mut grpc = ::my_tsercom::__private::tonic::server::Grpc::new(
                                codec,
                            )
                            .apply_compression_config(
                                accept_compression_encodings,
                                send_compression_encodings,
                            )
                            .apply_max_message_size_config(
                                max_decoding_message_size,
                                max_encoding_message_size,
                            );
                        let res = grpc.streaming(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                "/golden.full.Sensor/Upload" => {
                    #[allow(non_camel_case_types)]
                    struct UploadSvc<T: Sensor>(pub Arc<T>);
                    impl<
                        T: Sensor,
                    > ::my_tsercom::__private::tonic::server::StreamingService<
                        super::Reading,
                    > for UploadSvc<T> {
                        type Response = super::Command;
                        type ResponseStream = T::UploadStream;
                        type Future = BoxFuture<
                            ::my_tsercom::__private::tonic::Response<
                                Self::ResponseStream,
                            >,
                            ::my_tsercom::__private::tonic::Status,
                        >;
                        fn call(
                            &mut self,
                            request: ::my_tsercom::__private::tonic::Request<
                                ::my_tsercom::__private::tonic::Streaming<super::Reading>,
                            >,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move {
                                <T as Sensor>::upload(&inner, request).await
                            };
                            Box::pin(fut)
                        }
                    }
                    let accept_compression_encodings = self.accept_compression_encodings;
                    let send_compression_encodings = self.send_compression_encodings;
                    let max_decoding_message_size = self.max_decoding_message_size;
                    let max_encoding_message_size = self.max_encoding_message_size;
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = UploadSvc(inner);
                        let codec = ::my_tsercom::__private::tonic_prost::ProstCodec::default();
                        let mut grpc = ::my_tsercom::__private::tonic::server::Grpc::new(
                                codec,
                            )
                            .apply_compression_config(
                                accept_compression_encodings,
                                send_compression_encodings,
                            )
                            .apply_max_message_size_config(
                                max_decoding_message_size,
                                max_encoding_message_size,
                            );
                        let res = grpc.streaming(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                "/golden.full.Sensor/Latest" => {
                    #[allow(non_camel_case_types)]
                    struct LatestSvc<T: Sensor>(pub Arc<T>);
                    impl<
                        T: Sensor,
                    > ::my_tsercom::__private::tonic::server::UnaryService<()>
                    for LatestSvc<T> {
                        type Response = super::Reading;
                        type Future = BoxFuture<
                            ::my_tsercom::__private::tonic::Response<Self::Response>,
                            ::my_tsercom::__private::tonic::Status,
                        >;
                        fn call(
                            &mut self,
                            request: ::my_tsercom::__private::tonic::Request<()>,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move {
                                <T as Sensor>::latest(&inner, request).await
                            };
                            Box::pin(fut)
                        }
                    }
                    let accept_compression_encodings = self.accept_compression_encodings;
                    let send_compression_encodings = self.send_compression_encodings;
                    let max_decoding_message_size = self.max_decoding_message_size;
                    let max_encoding_message_size = self.max_encoding_message_size;
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = LatestSvc(inner);
                        let codec = ::my_tsercom::__private::tonic_prost::ProstCodec::default();
                        let mut grpc = ::my_tsercom::__private::tonic::server::Grpc::new(
                                codec,
                            )
                            .apply_compression_config(
                                accept_compression_encodings,
                                send_compression_encodings,
                            )
                            .apply_max_message_size_config(
                                max_decoding_message_size,
                                max_encoding_message_size,
                            );
                        let res = grpc.unary(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                "/golden.full.Sensor/Watch" => {
                    #[allow(non_camel_case_types)]
                    struct WatchSvc<T: Sensor>(pub Arc<T>);
                    impl<
                        T: Sensor,
                    > ::my_tsercom::__private::tonic::server::ServerStreamingService<
                        super::Command,
                    > for WatchSvc<T> {
                        type Response = super::Reading;
                        type ResponseStream = T::WatchStream;
                        type Future = BoxFuture<
                            ::my_tsercom::__private::tonic::Response<
                                Self::ResponseStream,
                            >,
                            ::my_tsercom::__private::tonic::Status,
                        >;
                        fn call(
                            &mut self,
                            request: ::my_tsercom::__private::tonic::Request<
                                super::Command,
                            >,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move {
                                <T as Sensor>::watch(&inner, request).await
                            };
                            Box::pin(fut)
                        }
                    }
                    let accept_compression_encodings = self.accept_compression_encodings;
                    let send_compression_encodings = self.send_compression_encodings;
                    let max_decoding_message_size = self.max_decoding_message_size;
                    let max_encoding_message_size = self.max_encoding_message_size;
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = WatchSvc(inner);
                        let codec = ::my_tsercom::__private::tonic_prost::ProstCodec::default();
                        let mut grpc = ::my_tsercom::__private::tonic::server::Grpc::new(
                                codec,
                            )
                            .apply_compression_config(
                                accept_compression_encodings,
                                send_compression_encodings,
                            )
                            .apply_max_message_size_config(
                                max_decoding_message_size,
                                max_encoding_message_size,
                            );
                        let res = grpc.server_streaming(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                "/golden.full.Sensor/Batch" => {
                    #[allow(non_camel_case_types)]
                    struct BatchSvc<T: Sensor>(pub Arc<T>);
                    impl<
                        T: Sensor,
                    > ::my_tsercom::__private::tonic::server::ClientStreamingService<
                        super::Reading,
                    > for BatchSvc<T> {
                        type Response = ();
                        type Future = BoxFuture<
                            ::my_tsercom::__private::tonic::Response<Self::Response>,
                            ::my_tsercom::__private::tonic::Status,
                        >;
                        fn call(
                            &mut self,
                            request: ::my_tsercom::__private::tonic::Request<
                                ::my_tsercom::__private::tonic::Streaming<super::Reading>,
                            >,
                        ) -> Self::Future {
                            let inner = Arc::clone(&self.0);
                            let fut = async move {
                                <T as Sensor>::batch(&inner, request).await
                            };
                            Box::pin(fut)
                        }
                    }
                    let accept_compression_encodings = self.accept_compression_encodings;
                    let send_compression_encodings = self.send_compression_encodings;
                    let max_decoding_message_size = self.max_decoding_message_size;
                    let max_encoding_message_size = self.max_encoding_message_size;
                    let inner = self.inner.clone();
                    let fut = async move {
                        let method = BatchSvc(inner);
                        let codec = ::my_tsercom::__private::tonic_prost::ProstCodec::default();
                        let mut grpc = ::my_tsercom::__private::tonic::server::Grpc::new(
                                codec,
                            )
                            .apply_compression_config(
                                accept_compression_encodings,
                                send_compression_encodings,
                            )
                            .apply_max_message_size_config(
                                max_decoding_message_size,
                                max_encoding_message_size,
                            );
                        let res = grpc.client_streaming(method, req).await;
                        Ok(res)
                    };
                    Box::pin(fut)
                }
                _ => {
                    Box::pin(async move {
                        let mut response = http::Response::new(
                            ::my_tsercom::__private::tonic::body::Body::default(),
                        );
                        let headers = response.headers_mut();
                        headers
                            .insert(
                                ::my_tsercom::__private::tonic::Status::GRPC_STATUS,
                                (::my_tsercom::__private::tonic::Code::Unimplemented as i32)
                                    .into(),
                            );
                        headers
                            .insert(
                                http::header::CONTENT_TYPE,
                                ::my_tsercom::__private::tonic::metadata::GRPC_CONTENT_TYPE,
                            );
                        Ok(response)
                    })
                }
            }
        }
    }
    impl<T> Clone for SensorServer<T> {
        fn clone(&self) -> Self {
            let inner = self.inner.clone();
            Self {
                inner,
                accept_compression_encodings: self.accept_compression_encodings,
                send_compression_encodings: self.send_compression_encodings,
                max_decoding_message_size: self.max_decoding_message_size,
                max_encoding_message_size: self.max_encoding_message_size,
            }
        }
    }
    /// Generated gRPC service name
    pub const SERVICE_NAME: &str = "golden.full.Sensor";
    impl<T> ::my_tsercom::__private::tonic::server::NamedService for SensorServer<T> {
        const NAME: &'static str = SERVICE_NAME;
    }
}
#[automatically_derived]
impl ::my_tsercom::__private::HasCallerId for Reading {
    const CALLER_ID_FIELD: &'static str = "caller";
    fn caller_id_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::CallerId> {
        self.caller.as_ref()
    }
    fn caller_id_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::CallerId> {
        &mut self.caller
    }
}
#[automatically_derived]
impl ::my_tsercom::__private::Timestamped for Reading {
    const TIMESTAMP_FIELD: &'static str = "timestamp";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::ServerTimestamp> {
        self.timestamp.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::ServerTimestamp> {
        &mut self.timestamp
    }
}
#[automatically_derived]
impl ::my_tsercom::__private::Timestamped for Command {
    const TIMESTAMP_FIELD: &'static str = "timestamp";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::ServerTimestamp> {
        self.timestamp.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::ServerTimestamp> {
        &mut self.timestamp
    }
}
/// tsercom's description of service `golden.full.Sensor`, for `#[tsercom::runtime(service = Sensor, ...)]`.
#[allow(dead_code, unreachable_pub, non_camel_case_types)]
pub mod sensor_tsercom {
    /// The encoded `FileDescriptorSet` `tsercom-build` wrote next
    /// to this code (the crate's protos, imports included), for
    /// server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = ::core::include_bytes!(
        "file_descriptor_set.bin"
    );
    /// The service; stands for its method of a shape that exactly
    /// one method has (see [`Fits`]).
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Service;
    /// The service's bidirectional stream methods.
    pub mod method {
        /// `golden.full.Sensor.Stream`: `rpc Stream(stream golden.full.Command) returns (stream golden.full.Reading)`.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Stream;
        impl ::my_tsercom::__private::StreamService for Stream {
            type Request = super::super::Command;
            type Response = super::super::Reading;
            const SERVICE: &'static str = "golden.full.Sensor";
            const METHOD: &'static str = "Stream";
            const PATH: &'static str = "/golden.full.Sensor/Stream";
            const DESCRIPTOR_SET: &'static [u8] = super::FILE_DESCRIPTOR_SET;
            fn request_timestamp(
                message: &mut Self::Request,
            ) -> ::core::option::Option<
                &mut ::core::option::Option<
                    ::my_tsercom::__private::proto::ServerTimestamp,
                >,
            > {
                ::core::option::Option::Some(
                    ::my_tsercom::__private::Timestamped::timestamp_field_mut(message),
                )
            }
            fn response_timestamp(
                message: &mut Self::Response,
            ) -> ::core::option::Option<
                &mut ::core::option::Option<
                    ::my_tsercom::__private::proto::ServerTimestamp,
                >,
            > {
                ::core::option::Option::Some(
                    ::my_tsercom::__private::Timestamped::timestamp_field_mut(message),
                )
            }
            fn request_caller_id(
                message: &Self::Request,
            ) -> ::core::option::Option<
                ::core::option::Option<&::my_tsercom::__private::proto::CallerId>,
            > {
                {
                    let _ = message;
                    ::core::option::Option::None
                }
            }
        }
        impl super::Fits<super::super::Command, super::super::Reading> for Stream {
            type Method = Self;
        }
        /// `golden.full.Sensor.Upload`: `rpc Upload(stream golden.full.Reading) returns (stream golden.full.Command)`.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Upload;
        impl ::my_tsercom::__private::StreamService for Upload {
            type Request = super::super::Reading;
            type Response = super::super::Command;
            const SERVICE: &'static str = "golden.full.Sensor";
            const METHOD: &'static str = "Upload";
            const PATH: &'static str = "/golden.full.Sensor/Upload";
            const DESCRIPTOR_SET: &'static [u8] = super::FILE_DESCRIPTOR_SET;
            fn request_timestamp(
                message: &mut Self::Request,
            ) -> ::core::option::Option<
                &mut ::core::option::Option<
                    ::my_tsercom::__private::proto::ServerTimestamp,
                >,
            > {
                ::core::option::Option::Some(
                    ::my_tsercom::__private::Timestamped::timestamp_field_mut(message),
                )
            }
            fn response_timestamp(
                message: &mut Self::Response,
            ) -> ::core::option::Option<
                &mut ::core::option::Option<
                    ::my_tsercom::__private::proto::ServerTimestamp,
                >,
            > {
                ::core::option::Option::Some(
                    ::my_tsercom::__private::Timestamped::timestamp_field_mut(message),
                )
            }
            fn request_caller_id(
                message: &Self::Request,
            ) -> ::core::option::Option<
                ::core::option::Option<&::my_tsercom::__private::proto::CallerId>,
            > {
                ::core::option::Option::Some(
                    ::my_tsercom::__private::HasCallerId::caller_id_field(message),
                )
            }
        }
        impl super::Fits<super::super::Reading, super::super::Command> for Upload {
            type Method = Self;
        }
    }
    /// Which method has the shape `rpc M(stream Req) returns
    /// (stream Resp)`: implemented by [`Service`] for every shape
    /// exactly one method has, and by each method for its own.
    #[diagnostic::on_unimplemented(
        message = "no single bidirectional method of `golden.full.Sensor` fits: this runtime needs `rpc M(stream {Req}) returns (stream {Resp})`",
        label = "no single method of this shape here",
        note = "the bidirectional methods of `golden.full.Sensor`: `rpc Stream(stream golden.full.Command) returns (stream golden.full.Reading)`, `rpc Upload(stream golden.full.Reading) returns (stream golden.full.Command)`",
        note = "a producer that hosts (or an aggregator that dials) needs `rpc M(stream Event) returns (stream Data)`; an aggregator that hosts (or a producer that dials) needs `rpc M(stream Data) returns (stream Event)`"
    )]
    pub trait Fits<Req, Resp> {
        /// The method.
        type Method: ::my_tsercom::__private::StreamService<
                Request = Req,
                Response = Resp,
            >;
    }
    impl Fits<super::Command, super::Reading> for Service {
        type Method = method::Stream;
    }
    impl Fits<super::Reading, super::Command> for Service {
        type Method = method::Upload;
    }
}
