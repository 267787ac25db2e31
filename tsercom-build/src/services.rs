//! Service descriptors for `#[tsercom::runtime]`: for every service, a module
//! `<service>_tsercom` with a type per bidirectional stream method
//! (`method::<Method>`, a `StreamService`), and a trait `Fits<Req, Resp>`
//! naming the method of a shape: implemented by each method for its own
//! shape, and by the module's `Service` for every shape exactly one method
//! has. The macro asks `Service` (or the method `method = Name` names) for
//! the shape its role and direction need, so a service without it is a
//! compile error naming the shape and listing the service's methods.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use prost_build::{Method, Service};
use prost_types::FileDescriptorProto;
use quote::{format_ident, quote};

use crate::error::{Error, ErrorKind, Result};
use crate::wiring::{location_of, to_snake, to_upper_camel};

/// What the descriptors need besides the services.
pub(crate) struct Context<'a> {
    /// The files being generated, to find a service's source location.
    pub(crate) files: &'a [FileDescriptorProto],
    /// The path of a file, by import name, for error locations.
    pub(crate) display: &'a dyn Fn(&str) -> std::path::PathBuf,
    /// Full proto names (without leading dot) of messages with a
    /// `Timestamped` impl.
    pub(crate) timestamped: &'a BTreeSet<String>,
    /// Full proto names (without leading dot) of messages with a
    /// `HasCallerId` impl.
    pub(crate) caller_ided: &'a BTreeSet<String>,
    /// `<support>::__private`.
    pub(crate) private: &'a syn::Path,
}

/// The Rust type prost chose for a method's request or response, as seen
/// from a module `depth` levels below the package's module. prost writes
/// types of the package's tree relative to it (`Reading`,
/// `super::other::Reading`), extern and well-known types absolute
/// (`::tsercom::proto::CallerId`, `crate::...`), and `()` for
/// `google.protobuf.Empty`.
fn seen_from(
    rust: &str,
    depth: usize,
    service: &Service,
    index: usize,
    output: bool,
    cx: &Context<'_>,
) -> Result<syn::Type> {
    let relative = !(rust.starts_with("::") || rust.starts_with("crate::") || rust == "()");
    let text = if relative {
        format!("{}{rust}", "super::".repeat(depth))
    } else {
        rust.to_owned()
    };
    syn::parse_str::<syn::Type>(&text).map_err(|e| {
        let (file, path) = method_source(service, index, output, cx);
        let location = file.and_then(|f| location_of(f, &path, &(cx.display)(f.name())));
        let proto = if output {
            &service.methods[index].output_proto_type
        } else {
            &service.methods[index].input_proto_type
        };
        Error::new(
            ErrorKind::Codegen,
            location,
            format!(
                "the Rust path `{rust}` of `{}` (in `rpc {}` of `{}`) is not a Rust type: {e}; \
                 check the `extern_path` that maps it",
                proto.trim_start_matches('.'),
                service.methods[index].proto_name,
                full_name(service),
            ),
        )
    })
}

/// The file declaring `service` and the source path of its method's input
/// (or output) type: `[6, service, 2, method, 2 | 3]`.
fn method_source<'a>(
    service: &Service,
    index: usize,
    output: bool,
    cx: &Context<'a>,
) -> (Option<&'a FileDescriptorProto>, Vec<i32>) {
    for file in cx.files.iter().filter(|f| f.package() == service.package) {
        if let Some(s) = file
            .service
            .iter()
            .position(|s| s.name() == service.proto_name)
        {
            let s = i32::try_from(s).unwrap_or(i32::MAX);
            let m = i32::try_from(index).unwrap_or(i32::MAX);
            return (Some(file), vec![6, s, 2, m, if output { 3 } else { 2 }]);
        }
    }
    (None, Vec::new())
}

fn full_name(service: &Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

/// A method's (request, response) proto types.
type Shape<'a> = (&'a str, &'a str);

fn is_bidi(method: &Method) -> bool {
    method.client_streaming && method.server_streaming
}

/// The descriptor modules for `services` (one package's).
pub(crate) fn generate(services: &[Service], cx: &Context<'_>) -> Result<TokenStream> {
    let modules = services
        .iter()
        .map(|service| generate_one(service, cx))
        .collect::<Result<Vec<_>>>()?;
    Ok(quote!(#(#modules)*))
}

fn generate_one(service: &Service, cx: &Context<'_>) -> Result<TokenStream> {
    let private = cx.private;
    let full = full_name(service);
    let module = format_ident!(
        "{}_tsercom",
        to_snake(&service.proto_name).trim_start_matches("r#")
    );
    let module_doc = format!(
        " tsercom's description of service `{full}`, for `#[tsercom::runtime(service = {}, ...)]`.",
        service.name
    );
    // (index in the service, method) of every bidirectional method.
    let bidi: Vec<(usize, &Method)> = service
        .methods
        .iter()
        .enumerate()
        .filter(|(_, m)| is_bidi(m))
        .collect();
    let signature = |m: &Method| {
        format!(
            "rpc {}(stream {}) returns (stream {})",
            m.proto_name,
            m.input_proto_type.trim_start_matches('.'),
            m.output_proto_type.trim_start_matches('.')
        )
    };
    // Methods by shape: a shape that one method has lets `Service` stand
    // for it; a shape that several have needs `method = Name`.
    let mut shapes: Vec<(Shape<'_>, Vec<(usize, &Method)>)> = Vec::new();
    for &(index, m) in &bidi {
        let shape = (m.input_proto_type.as_str(), m.output_proto_type.as_str());
        match shapes.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, methods)) => methods.push((index, m)),
            None => shapes.push((shape, vec![(index, m)])),
        }
    }
    let listed = if bidi.is_empty() {
        format!(
            "`{full}` has no bidirectional streaming method: add one, e.g. `rpc Stream(stream Command) returns (stream Reading)`"
        )
    } else {
        let all: Vec<String> = bidi
            .iter()
            .map(|(_, m)| format!("`{}`", signature(m)))
            .collect();
        format!("the bidirectional methods of `{full}`: {}", all.join(", "))
    };
    let ambiguous: Vec<String> = shapes
        .iter()
        .filter(|(_, methods)| methods.len() > 1)
        .map(|(_, methods)| {
            let names: Vec<&str> = methods.iter().map(|(_, m)| m.proto_name.as_str()).collect();
            names.join(", ")
        })
        .collect();
    let choose = if ambiguous.is_empty() {
        "a producer that hosts (or an aggregator that dials) needs `rpc M(stream Event) returns (stream Data)`; an aggregator that hosts (or a producer that dials) needs `rpc M(stream Data) returns (stream Event)`".to_owned()
    } else {
        format!(
            "several methods have one shape ({}): choose one with `method = Name`",
            ambiguous.join("; ")
        )
    };
    let fits_msg = format!(
        "no single bidirectional method of `{full}` fits: this runtime needs `rpc M(stream {{Req}}) returns (stream {{Resp}})`"
    );
    let fits_label = "no single method of this shape here".to_owned();
    // Relative to the generated file (`include!`d code resolves
    // `include_bytes!` paths from its own file), which sits next to it.
    let descriptor_file = crate::DESCRIPTOR_SET_FILE;

    let mut methods = Vec::new();
    for &(index, method) in &bidi {
        let method_name = method.proto_name.as_str();
        let ident = format_ident!("{}", to_upper_camel(method_name));
        let path = format!("/{full}/{method_name}");
        let input = method.input_proto_type.trim_start_matches('.');
        let output = method.output_proto_type.trim_start_matches('.');
        // Seen from the `method` submodule: two levels below the package.
        let request = seen_from(&method.input_type, 2, service, index, false, cx)?;
        let response = seen_from(&method.output_type, 2, service, index, true, cx)?;
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
        let request_stamp = stamp(cx.timestamped.contains(input));
        let response_stamp = stamp(cx.timestamped.contains(output));
        let request_caller = if cx.caller_ided.contains(input) {
            quote!(::core::option::Option::Some(#private::HasCallerId::caller_id_field(message)))
        } else {
            quote!({
                let _ = message;
                ::core::option::Option::None
            })
        };
        let doc = format!(" `{full}.{method_name}`: `{}`.", signature(method));
        methods.push(quote! {
            #[doc = #doc]
            #[derive(Clone, Copy, Debug, Default)]
            pub struct #ident;

            impl #private::StreamService for #ident {
                type Request = #request;
                type Response = #response;
                const SERVICE: &'static str = #full;
                const METHOD: &'static str = #method_name;
                const PATH: &'static str = #path;
                const DESCRIPTOR_SET: &'static [u8] = super::FILE_DESCRIPTOR_SET;
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
                fn request_caller_id(
                    message: &Self::Request,
                ) -> ::core::option::Option<::core::option::Option<&#private::proto::CallerId>> {
                    #request_caller
                }
            }

            impl super::Fits<#request, #response> for #ident {
                type Method = Self;
            }
        });
    }
    let mut unique = Vec::new();
    for (_, methods) in &shapes {
        let &[(index, method)] = methods.as_slice() else {
            continue;
        };
        let ident = format_ident!("{}", to_upper_camel(&method.proto_name));
        // Seen from the service's module: one level below the package.
        let request = seen_from(&method.input_type, 1, service, index, false, cx)?;
        let response = seen_from(&method.output_type, 1, service, index, true, cx)?;
        unique.push(quote! {
            impl Fits<#request, #response> for Service {
                type Method = method::#ident;
            }
        });
    }
    Ok(quote! {
        #[doc = #module_doc]
        #[allow(dead_code, unreachable_pub, non_camel_case_types)] // used only by `#[tsercom::runtime]`
        pub mod #module {
            /// The encoded `FileDescriptorSet` `tsercom-build` wrote next
            /// to this code (the crate's protos, imports included), for
            /// server reflection.
            pub const FILE_DESCRIPTOR_SET: &[u8] = ::core::include_bytes!(#descriptor_file);

            /// The service; stands for its method of a shape that exactly
            /// one method has (see [`Fits`]).
            #[derive(Clone, Copy, Debug, Default)]
            pub struct Service;

            /// The service's bidirectional stream methods.
            pub mod method {
                #(#methods)*
            }

            /// Which method has the shape `rpc M(stream Req) returns
            /// (stream Resp)`: implemented by [`Service`] for every shape
            /// exactly one method has, and by each method for its own.
            #[diagnostic::on_unimplemented(message = #fits_msg, label = #fits_label, note = #listed, note = #choose)]
            pub trait Fits<Req, Resp> {
                /// The method.
                type Method: #private::StreamService<Request = Req, Response = Resp>;
            }

            #(#unique)*
        }
    })
}
