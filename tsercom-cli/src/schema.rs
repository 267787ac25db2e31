//! Messages known only at run time, through their descriptors: the
//! stream method to call, and the `tsercom.ServerTimestamp` field to read
//! and rewrite.

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use tsercom::Timestamp;

use crate::{CliResult, ctx};

/// The proto name of tsercom's timestamp message.
const SERVER_TIMESTAMP: &str = "tsercom.ServerTimestamp";

/// A bidirectional stream method, e.g. `sensors.Sensor/Stream`.
#[derive(Debug, Clone)]
pub(crate) struct StreamMethod {
    /// `/sensors.Sensor/Stream`.
    pub(crate) path: String,
    pub(crate) method: MethodDescriptor,
}

/// Finds `name` (`package.Service/Method` or `package.Service.Method`)
/// in `pool`; it must stream both ways.
pub(crate) fn stream_method(pool: &DescriptorPool, name: &str) -> CliResult<StreamMethod> {
    let name = name.trim_start_matches('/');
    let (service, method) = name
        .rsplit_once('/')
        .or_else(|| name.rsplit_once('.'))
        .ok_or_else(|| format!("`{name}` is not `package.Service/Method`"))?;
    let service_desc = pool.get_service_by_name(service).ok_or_else(|| {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
        format!(
            "no service `{service}` in the descriptors (services: {})",
            known.join(", ")
        )
    })?;
    let method_desc = service_desc
        .methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| format!("service `{service}` has no method `{method}`"))?;
    if !(method_desc.is_client_streaming() && method_desc.is_server_streaming()) {
        return Err(format!(
            "`{service}/{method}` is not a bidirectional stream (rpc M(stream A) returns (stream B))"
        ));
    }
    Ok(StreamMethod {
        path: format!("/{service}/{method}"),
        method: method_desc,
    })
}

/// The bidirectional stream methods whose request is `message`.
pub(crate) fn methods_taking(pool: &DescriptorPool, message: &str) -> Vec<StreamMethod> {
    pool.services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .filter(|m| {
            m.is_client_streaming() && m.is_server_streaming() && m.input().full_name() == message
        })
        .map(|m| StreamMethod {
            path: format!("/{}/{}", m.parent_service().full_name(), m.name()),
            method: m,
        })
        .collect()
}

/// A message type and its wired timestamp field (the first singular
/// `tsercom.ServerTimestamp` field, as `tsercom-build` picks by default).
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) message: MessageDescriptor,
    timestamp: Option<FieldDescriptor>,
}

impl Shape {
    pub(crate) fn new(message: MessageDescriptor) -> Shape {
        let timestamp = message.fields().find(|f| {
            !f.is_list()
                && matches!(f.kind(), Kind::Message(m) if m.full_name() == SERVER_TIMESTAMP)
        });
        Shape { message, timestamp }
    }

    pub(crate) fn decode(&self, bytes: &[u8]) -> CliResult<DynamicMessage> {
        DynamicMessage::decode(self.message.clone(), bytes)
            .map_err(ctx(format!("a `{}` message", self.message.full_name())))
    }

    /// The message's timestamp, when it has one set.
    pub(crate) fn timestamp(&self, message: &DynamicMessage) -> CliResult<Option<Timestamp>> {
        let Some(field) = &self.timestamp else {
            return Ok(None);
        };
        if !message.has_field(field) {
            return Ok(None);
        }
        let Value::Message(value) = &*message.get_field(field) else {
            return Ok(None);
        };
        let ts: tsercom::proto::ServerTimestamp =
            value.transcode_to().map_err(ctx("the timestamp field"))?;
        Timestamp::from_proto(&ts)
            .map(Some)
            .map_err(ctx("the timestamp field"))
    }

    /// Sets the message's timestamp (when its type has the field).
    pub(crate) fn set_timestamp(&self, message: &mut DynamicMessage, time: Timestamp) -> CliResult {
        let Some(field) = &self.timestamp else {
            return Ok(());
        };
        let Kind::Message(desc) = field.kind() else {
            return Ok(());
        };
        let value = DynamicMessage::decode(desc, time.to_proto().encode_to_vec().as_slice())
            .map_err(ctx("encoding a timestamp"))?;
        message.set_field(field, Value::Message(value));
        Ok(())
    }
}
