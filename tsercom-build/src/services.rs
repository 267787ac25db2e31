//! Service descriptors for `#[tsercom::runtime]`: for every service, a module
//! `<service>_tsercom` with a `Service` type describing its bidirectional
//! stream method (`StreamService`), and two marker traits, `Data` and
//! `Event`, implemented only for the method's response and request types, so
//! that a wrong `data = ...` / `event = ...` is a compile error naming the
//! method and the types it carries.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use prost_types::{FileDescriptorProto, MethodDescriptorProto, ServiceDescriptorProto};
use quote::{format_ident, quote};

use crate::wiring::{to_snake, to_upper_camel};

/// How proto type names map to Rust paths, seen from a service module.
pub(crate) struct TypePaths<'a> {
    /// The support crate path, e.g. `::tsercom`.
    pub(crate) support: &'a str,
    /// Whether `.tsercom` types are extern (the usual case).
    pub(crate) tsercom_extern: bool,
    /// The builder's extern paths (proto prefix → Rust path).
    pub(crate) externs: &'a [(String, String)],
    /// Full proto names (without leading dot) of messages with a
    /// `Timestamped` impl.
    pub(crate) timestamped: &'a BTreeSet<String>,
}

impl TypePaths<'_> {
    /// The Rust path of `.pkg.Outer.Inner`, as seen from the module
    /// `<current package>::<service>_tsercom`.
    fn rust_path(
        &self,
        type_name: &str,
        current_package: &str,
        file: &[FileDescriptorProto],
    ) -> String {
        let name = type_name.trim_start_matches('.');
        // The longest extern prefix wins, as in prost-build.
        let mut externs: Vec<(String, String)> = self.externs.to_vec();
        if self.tsercom_extern {
            externs.push((".tsercom".into(), format!("{}::proto", self.support)));
        }
        externs.push((
            ".google.protobuf".into(),
            format!("{}::well_known_types", self.support),
        ));
        let found = externs
            .iter()
            .filter(|(proto, _)| {
                let proto = proto.trim_start_matches('.');
                name == proto || name.starts_with(&format!("{proto}."))
            })
            .max_by_key(|(proto, _)| proto.len());
        if let Some((proto, rust)) = found {
            let rest = name[proto.trim_start_matches('.').len()..].trim_start_matches('.');
            if rest.is_empty() {
                return rust.clone();
            }
            return format!("{rust}::{}", nested_path(rest));
        }
        let package = package_of(name, file);
        let inside = name[package.len()..].trim_start_matches('.');
        let mut path = vec!["super".to_owned()];
        if package != current_package {
            let depth = if current_package.is_empty() {
                0
            } else {
                current_package.split('.').count()
            };
            path.extend(std::iter::repeat_n("super".to_owned(), depth));
            path.extend(package.split('.').filter(|p| !p.is_empty()).map(to_snake));
        }
        path.push(nested_path(inside));
        path.join("::")
    }
}

/// `Outer.Inner` → `outer::Inner`.
fn nested_path(inside: &str) -> String {
    let parts: Vec<&str> = inside.split('.').collect();
    let mut out: Vec<String> = parts[..parts.len() - 1]
        .iter()
        .map(|p| to_snake(p))
        .collect();
    out.push(to_upper_camel(parts[parts.len() - 1]));
    out.join("::")
}

/// The package declaring the full name `name` (the longest package that is
/// a prefix of it).
fn package_of<'a>(name: &str, files: &'a [FileDescriptorProto]) -> &'a str {
    files
        .iter()
        .map(FileDescriptorProto::package)
        .filter(|p| p.is_empty() || name.starts_with(&format!("{p}.")))
        .max_by_key(|p| p.len())
        .unwrap_or("")
}

fn is_bidi(method: &MethodDescriptorProto) -> bool {
    method.client_streaming() && method.server_streaming()
}

/// The descriptor modules for the services of `file`.
pub(crate) fn generate(
    file: &FileDescriptorProto,
    all_files: &[FileDescriptorProto],
    paths: &TypePaths<'_>,
    private: &syn::Path,
) -> TokenStream {
    let package = file.package();
    let modules = file
        .service
        .iter()
        .map(|service| generate_one(service, package, all_files, paths, private));
    quote!(#(#modules)*)
}

fn generate_one(
    service: &ServiceDescriptorProto,
    package: &str,
    all_files: &[FileDescriptorProto],
    paths: &TypePaths<'_>,
    private: &syn::Path,
) -> TokenStream {
    let full = if package.is_empty() {
        service.name().to_owned()
    } else {
        format!("{package}.{}", service.name())
    };
    let module = format_ident!(
        "{}_tsercom",
        to_snake(service.name()).trim_start_matches("r#")
    );
    let module_doc = format!(
        " tsercom's description of service `{full}`, for `#[tsercom::runtime(service = {}, ...)]`.",
        to_upper_camel(service.name())
    );
    let bidi: Vec<&MethodDescriptorProto> = service.method.iter().filter(|m| is_bidi(m)).collect();
    let [method] = bidi.as_slice() else {
        let why = if bidi.is_empty() {
            format!(
                "service `{full}` has no bidirectional streaming method (`rpc M(stream Event) returns (stream Data)`)"
            )
        } else {
            let names: Vec<&str> = bidi.iter().map(|m| m.name()).collect();
            format!(
                "service `{full}` has {} bidirectional streaming methods ({}); tsercom needs exactly one",
                bidi.len(),
                names.join(", ")
            )
        };
        let data_msg = format!("{why}, so `{{Self}}` cannot be its data type");
        let event_msg = format!("{why}, so `{{Self}}` cannot be its event type");
        return quote! {
            #[doc = #module_doc]
            #[allow(dead_code, unreachable_pub)] // used only by `#[tsercom::runtime]`
            pub mod #module {
                /// The service (it has no usable stream method: see `Data`).
                #[derive(Clone, Copy, Debug, Default)]
                pub struct Service;
                /// Implemented by the stream method's data type (none here).
                #[diagnostic::on_unimplemented(message = #data_msg, label = "no stream method to carry this")]
                pub trait Data {}
                /// Implemented by the stream method's event type (none here).
                #[diagnostic::on_unimplemented(message = #event_msg, label = "no stream method to carry this")]
                pub trait Event {}
            }
        };
    };
    let path = format!("/{full}/{}", method.name());
    let method_name = method.name();
    let input = method.input_type().trim_start_matches('.');
    let output = method.output_type().trim_start_matches('.');
    let request: syn::Path =
        syn::parse_str(&paths.rust_path(method.input_type(), package, all_files))
            .unwrap_or_else(|_| syn::parse_quote!(super::InvalidPath));
    let response: syn::Path =
        syn::parse_str(&paths.rust_path(method.output_type(), package, all_files))
            .unwrap_or_else(|_| syn::parse_quote!(super::InvalidPath));
    let stamp = |timestamped: bool| {
        if timestamped {
            quote!(::core::option::Option::Some(#private::Timestamped::timestamp_field_mut(message)))
        } else {
            quote!({
                let _ = message;
                ::core::option::Option::None
            })
        }
    };
    let request_stamp = stamp(paths.timestamped.contains(input));
    let response_stamp = stamp(paths.timestamped.contains(output));
    let signature = format!("rpc {method_name}(stream {input}) returns (stream {output})");
    let service_doc = format!(" `{full}`'s stream method: `{signature}`.");
    let data_msg = format!(
        "`{{Self}}` is not the data type of `{full}.{method_name}`, which returns `stream {output}`"
    );
    let data_label = format!("expected `{output}`");
    let event_msg = format!(
        "`{{Self}}` is not the event type of `{full}.{method_name}`, which takes `stream {input}`"
    );
    let event_label = format!("expected `{input}`");
    quote! {
        #[doc = #module_doc]
        #[allow(dead_code, unreachable_pub)] // used only by `#[tsercom::runtime]`
        pub mod #module {
            #[doc = #service_doc]
            #[derive(Clone, Copy, Debug, Default)]
            pub struct Service;

            impl #private::StreamService for Service {
                type Request = #request;
                type Response = #response;
                const SERVICE: &'static str = #full;
                const METHOD: &'static str = #method_name;
                const PATH: &'static str = #path;
                fn request_timestamp(
                    message: &mut Self::Request,
                ) -> ::core::option::Option<&mut ::core::option::Option<#private::proto::ServerTimestamp>> {
                    #request_stamp
                }
                fn response_timestamp(
                    message: &mut Self::Response,
                ) -> ::core::option::Option<&mut ::core::option::Option<#private::proto::ServerTimestamp>> {
                    #response_stamp
                }
            }

            /// Implemented only by the stream method's data (response) type.
            #[diagnostic::on_unimplemented(message = #data_msg, label = #data_label)]
            pub trait Data {}
            impl Data for #response {}

            /// Implemented only by the stream method's event (request) type.
            #[diagnostic::on_unimplemented(message = #event_msg, label = #event_label)]
            pub trait Event {}
            impl Event for #request {}
        }
    }
}
