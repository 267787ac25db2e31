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
#[derive(Clone, PartialEq, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct Sample {
    #[prost(message, optional, tag = "1")]
    pub timestamp: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
    #[prost(message, optional, tag = "2")]
    pub caller: ::core::option::Option<::my_tsercom::proto::CallerId>,
    #[prost(double, tag = "3")]
    pub value: f64,
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
#[derive(Clone, Copy, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct Outer {
    #[prost(message, optional, tag = "1")]
    pub inner: ::core::option::Option<outer::Inner>,
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
/// Nested message and enum types in `Outer`.
pub mod outer {
    #[derive(Clone, Copy, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
    #[prost(prost_path = "::my_tsercom::__private::prost")]
    pub struct Inner {
        #[prost(message, optional, tag = "1")]
        pub at: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
    }
    /// Nested message and enum types in `Inner`.
    pub mod inner {
        #[derive(Clone, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
        #[prost(prost_path = "::my_tsercom::__private::prost")]
        pub struct Deepest {
            #[prost(message, optional, tag = "1")]
            pub who: ::core::option::Option<::my_tsercom::proto::CallerId>,
        }
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
#[derive(Clone, Copy, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct Pair {
    #[prost(message, optional, tag = "1")]
    pub first: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
    #[prost(message, optional, tag = "2")]
    pub second: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
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
#[derive(Clone, Copy, PartialEq, Eq, Hash, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct SnakeNamed {
    #[prost(message, optional, tag = "1")]
    pub self_: ::core::option::Option<::my_tsercom::proto::ServerTimestamp>,
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
#[derive(Clone, PartialEq, ::my_tsercom::__private::prost::Message)]
#[prost(prost_path = "::my_tsercom::__private::prost")]
pub struct Unwired {
    #[prost(message, repeated, tag = "1")]
    pub many: ::my_tsercom::__private::prost::alloc::vec::Vec<
        ::my_tsercom::proto::CallerId,
    >,
    #[prost(map = "string, message", tag = "2")]
    pub by_name: ::std::collections::HashMap<
        ::my_tsercom::__private::prost::alloc::string::String,
        ::my_tsercom::proto::ServerTimestamp,
    >,
    #[prost(double, tag = "3")]
    pub value: f64,
}
#[automatically_derived]
impl ::my_tsercom::__private::HasCallerId for Sample {
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
impl ::my_tsercom::__private::Timestamped for Sample {
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
impl ::my_tsercom::__private::Timestamped for outer::Inner {
    const TIMESTAMP_FIELD: &'static str = "at";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::ServerTimestamp> {
        self.at.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::ServerTimestamp> {
        &mut self.at
    }
}
#[automatically_derived]
impl ::my_tsercom::__private::HasCallerId for outer::inner::Deepest {
    const CALLER_ID_FIELD: &'static str = "who";
    fn caller_id_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::CallerId> {
        self.who.as_ref()
    }
    fn caller_id_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::CallerId> {
        &mut self.who
    }
}
#[automatically_derived]
impl ::my_tsercom::__private::Timestamped for Pair {
    const TIMESTAMP_FIELD: &'static str = "first";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::ServerTimestamp> {
        self.first.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::ServerTimestamp> {
        &mut self.first
    }
}
#[automatically_derived]
impl ::my_tsercom::__private::Timestamped for SnakeNamed {
    const TIMESTAMP_FIELD: &'static str = "self";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::my_tsercom::__private::proto::ServerTimestamp> {
        self.self_.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::my_tsercom::__private::proto::ServerTimestamp> {
        &mut self.self_
    }
}
