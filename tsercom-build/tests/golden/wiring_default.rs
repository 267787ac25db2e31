
#[automatically_derived]
impl ::tsercom::__private::HasCallerId for Sample {
    const CALLER_ID_FIELD: &'static str = "caller";
    fn caller_id_field(
        &self,
    ) -> ::core::option::Option<&::tsercom::__private::proto::CallerId> {
        self.caller.as_ref()
    }
    fn caller_id_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::tsercom::__private::proto::CallerId> {
        &mut self.caller
    }
}
#[automatically_derived]
impl ::tsercom::__private::Timestamped for Sample {
    const TIMESTAMP_FIELD: &'static str = "timestamp";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::tsercom::__private::proto::ServerTimestamp> {
        self.timestamp.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::tsercom::__private::proto::ServerTimestamp> {
        &mut self.timestamp
    }
}
#[automatically_derived]
impl ::tsercom::__private::Timestamped for outer::Inner {
    const TIMESTAMP_FIELD: &'static str = "at";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::tsercom::__private::proto::ServerTimestamp> {
        self.at.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::tsercom::__private::proto::ServerTimestamp> {
        &mut self.at
    }
}
#[automatically_derived]
impl ::tsercom::__private::HasCallerId for outer::inner::Deepest {
    const CALLER_ID_FIELD: &'static str = "who";
    fn caller_id_field(
        &self,
    ) -> ::core::option::Option<&::tsercom::__private::proto::CallerId> {
        self.who.as_ref()
    }
    fn caller_id_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::tsercom::__private::proto::CallerId> {
        &mut self.who
    }
}
#[automatically_derived]
impl ::tsercom::__private::Timestamped for Pair {
    const TIMESTAMP_FIELD: &'static str = "second";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::tsercom::__private::proto::ServerTimestamp> {
        self.second.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::tsercom::__private::proto::ServerTimestamp> {
        &mut self.second
    }
}
#[automatically_derived]
impl ::tsercom::__private::Timestamped for SnakeNamed {
    const TIMESTAMP_FIELD: &'static str = "self";
    fn timestamp_field(
        &self,
    ) -> ::core::option::Option<&::tsercom::__private::proto::ServerTimestamp> {
        self.self_.as_ref()
    }
    fn timestamp_field_mut(
        &mut self,
    ) -> &mut ::core::option::Option<::tsercom::__private::proto::ServerTimestamp> {
        &mut self.self_
    }
}
