//! Which proto message a stream method carries, read from the service's
//! own `FileDescriptorSet` ([`StreamService::DESCRIPTOR_SET`]): how a
//! generated runtime names the schema of what its handle receives (a
//! recording started from the configuration needs it).

use prost::Message as _;

use super::StreamService;
use crate::runtime::MessageDescriptor;

/// One side of a stream method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// What the dialer streams (the method's input).
    Request,
    /// What the host streams back (the method's output).
    Response,
}

/// The message `M` carries on `side`, described by `M`'s descriptor set;
/// `None` when the set is empty or does not declare `M`'s method.
pub fn message_descriptor<M: StreamService>(side: Side) -> Option<MessageDescriptor> {
    let name = method_type(M::DESCRIPTOR_SET, M::SERVICE, M::METHOD, side)?;
    Some(MessageDescriptor {
        descriptor_set: M::DESCRIPTOR_SET,
        full_name: name,
    })
}

/// The full name (no leading `.`) of `service`'s `method`'s input or
/// output type in the encoded set.
fn method_type(set: &[u8], service: &str, method: &str, side: Side) -> Option<String> {
    let set = prost_types::FileDescriptorSet::decode(set).ok()?;
    set.file.iter().find_map(|file| {
        file.service
            .iter()
            .filter(|s| qualified(file.package(), s.name()) == service)
            .flat_map(|s| s.method.iter())
            .find(|m| m.name() == method)
            .map(|m| match side {
                Side::Request => m.input_type(),
                Side::Response => m.output_type(),
            })
            .map(|t| t.trim_start_matches('.').to_owned())
    })
}

fn qualified(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_owned()
    } else {
        format!("{package}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::{
        DescriptorProto, FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto,
        ServiceDescriptorProto,
    };

    fn set() -> Vec<u8> {
        let message = |name: &str| DescriptorProto {
            name: Some(name.into()),
            ..Default::default()
        };
        FileDescriptorSet {
            file: vec![FileDescriptorProto {
                name: Some("s.proto".into()),
                package: Some("pkg".into()),
                message_type: vec![message("In"), message("Out")],
                service: vec![ServiceDescriptorProto {
                    name: Some("Svc".into()),
                    method: vec![MethodDescriptorProto {
                        name: Some("Stream".into()),
                        input_type: Some(".pkg.In".into()),
                        output_type: Some(".pkg.Out".into()),
                        client_streaming: Some(true),
                        server_streaming: Some(true),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn a_methods_input_and_output_are_named_from_the_set() {
        let set = set();
        assert_eq!(
            method_type(&set, "pkg.Svc", "Stream", Side::Request).as_deref(),
            Some("pkg.In")
        );
        assert_eq!(
            method_type(&set, "pkg.Svc", "Stream", Side::Response).as_deref(),
            Some("pkg.Out")
        );
        assert_eq!(method_type(&set, "pkg.Svc", "Other", Side::Request), None);
        assert_eq!(method_type(&set, "Svc", "Stream", Side::Request), None);
        assert_eq!(method_type(&[], "pkg.Svc", "Stream", Side::Request), None);
        assert_eq!(
            method_type(b"\xff", "pkg.Svc", "Stream", Side::Request),
            None
        );
    }
}
