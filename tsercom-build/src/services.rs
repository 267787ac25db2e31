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
    let signature = |m: &MethodDescriptorProto| {
        format!(
            "rpc {}(stream {}) returns (stream {})",
            m.name(),
            m.input_type().trim_start_matches('.'),
            m.output_type().trim_start_matches('.')
        )
    };
    // Methods by shape: a shape that one method has lets `Service` stand
    // for it; a shape that several have needs `method = Name`.
    let mut shapes: Vec<((&str, &str), Vec<&MethodDescriptorProto>)> = Vec::new();
    for m in &bidi {
        let shape = (m.input_type(), m.output_type());
        match shapes.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, methods)) => methods.push(m),
            None => shapes.push((shape, vec![m])),
        }
    }
    let listed = if bidi.is_empty() {
        format!(
            "`{full}` has no bidirectional streaming method: add one, e.g. `rpc Stream(stream Command) returns (stream Reading)`"
        )
    } else {
        let all: Vec<String> = bidi.iter().map(|m| format!("`{}`", signature(m))).collect();
        format!("the bidirectional methods of `{full}`: {}", all.join(", "))
    };
    let ambiguous: Vec<String> = shapes
        .iter()
        .filter(|(_, methods)| methods.len() > 1)
        .map(|(_, methods)| {
            let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
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

    let methods = bidi.iter().map(|method| {
        let method_name = method.name();
        let ident = format_ident!("{}", to_upper_camel(method_name));
        let path = format!("/{full}/{method_name}");
        let input = method.input_type().trim_start_matches('.');
        let output = method.output_type().trim_start_matches('.');
        // Seen from the `method` submodule: one level deeper.
        let deeper = |p: String| {
            if p.starts_with("super") {
                format!("super::{p}")
            } else {
                p
            }
        };
        let request: syn::Path = syn::parse_str(&deeper(paths.rust_path(
            method.input_type(),
            package,
            all_files,
        )))
        .unwrap_or_else(|_| syn::parse_quote!(super::super::InvalidPath));
        let response: syn::Path = syn::parse_str(&deeper(paths.rust_path(
            method.output_type(),
            package,
            all_files,
        )))
        .unwrap_or_else(|_| syn::parse_quote!(super::super::InvalidPath));
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
        let doc = format!(" `{full}.{method_name}`: `{}`.", signature(method));
        quote! {
            #[doc = #doc]
            #[derive(Clone, Copy, Debug, Default)]
            pub struct #ident;

            impl #private::StreamService for #ident {
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

            impl super::Fits<#request, #response> for #ident {
                type Method = Self;
            }
        }
    });
    let unique = shapes
        .iter()
        .filter(|(_, methods)| methods.len() == 1)
        .map(|(_, methods)| {
            let method = methods[0];
            let ident = format_ident!("{}", to_upper_camel(method.name()));
            let request: syn::Path =
                syn::parse_str(&paths.rust_path(method.input_type(), package, all_files))
                    .unwrap_or_else(|_| syn::parse_quote!(super::InvalidPath));
            let response: syn::Path =
                syn::parse_str(&paths.rust_path(method.output_type(), package, all_files))
                    .unwrap_or_else(|_| syn::parse_quote!(super::InvalidPath));
            quote! {
                impl Fits<#request, #response> for Service {
                    type Method = method::#ident;
                }
            }
        });
    quote! {
        #[doc = #module_doc]
        #[allow(dead_code, unreachable_pub, non_camel_case_types)] // used only by `#[tsercom::runtime]`
        pub mod #module {
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
    }
}
