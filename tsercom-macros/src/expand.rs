//! The expansion of `#[tsercom::runtime(...)]` (documented, with an example,
//! in `tsercom::service`).

use std::net::SocketAddr;

use heck::ToSnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Item};

use crate::args::{self, Args, Errors, InterfacesSpec, Side};

/// The attribute's entry point: on any error, the item is emitted unchanged
/// next to the errors, so the rest of the crate (and IDEs) keep working.
pub(crate) fn runtime(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let parsed: Option<syn::ItemStruct> = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(s)) => Some(s),
        Ok(Item::Enum(e)) => {
            errors.push(
                e.enum_token.span(),
                "`#[tsercom::runtime]` goes on a struct (unit, or with named fields), not on an enum",
            );
            None
        }
        Ok(Item::Union(u)) => {
            errors.push(
                u.union_token.span(),
                "`#[tsercom::runtime]` goes on a struct (unit, or with named fields), not on a union",
            );
            None
        }
        Ok(other) => {
            errors.push(
                other.span(),
                "`#[tsercom::runtime]` goes on a struct (unit, or with named fields)",
            );
            None
        }
        Err(e) => {
            errors.push_error(e);
            None
        }
    };
    if let Some(s) = &parsed {
        if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
            errors.push(
                s.generics.span(),
                "`#[tsercom::runtime]` does not support generic structs: the runtime's name, \
                 data and event types must be fixed",
            );
        }
        if let Fields::Unnamed(fields) = &s.fields {
            errors.push(
                fields.span(),
                "`#[tsercom::runtime]` goes on a unit struct or one with named fields, not on a tuple struct",
            );
        }
    }
    let args = match args::parse(attr) {
        Ok(args) => Some(args),
        Err(e) => {
            errors.push_error(e);
            None
        }
    };
    match (errors.into_result(), parsed, args) {
        (Ok(()), Some(s), Some(args)) => generate(&s, &args),
        (Err(e), _, _) => {
            let errors = e.to_compile_error();
            quote!(#item #errors)
        }
        // Unreachable: no error means both parsed; emit the item regardless.
        _ => item,
    }
}

/// `Sensor` → `sensor_tsercom::Service`, keeping the path's prefix and the
/// span of the user's token.
fn descriptor_module(service: &syn::Path) -> syn::Path {
    let mut module = service.clone();
    if let Some(last) = module.segments.last_mut() {
        let snake = last.ident.to_string().to_snake_case();
        last.ident = format_ident!("{}_tsercom", snake, span = last.ident.span());
        last.arguments = syn::PathArguments::None;
    }
    module
}

fn has_derive_default(s: &syn::ItemStruct) -> bool {
    s.attrs.iter().any(|attr| {
        attr.path().is_ident("derive")
            && attr
                .parse_args_with(
                    syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                )
                .is_ok_and(|paths| {
                    paths
                        .iter()
                        .any(|p| p.segments.last().is_some_and(|s| s.ident == "Default"))
                })
    })
}

fn socket_addr(addr: &SocketAddr) -> TokenStream {
    let port = addr.port();
    match addr {
        SocketAddr::V4(v4) => {
            let octets = v4.ip().octets();
            quote!(::std::net::SocketAddr::from(([#(#octets),*], #port)))
        }
        SocketAddr::V6(v6) => {
            let segments = v6.ip().segments();
            quote!(::std::net::SocketAddr::from(([#(#segments),*], #port)))
        }
    }
}

fn generate(item: &syn::ItemStruct, args: &Args) -> TokenStream {
    let krate = &args.krate;
    let ident = &item.ident;
    let name = args
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), syn::LitStr::value);
    let module = descriptor_module(&args.service);
    let service_span = args.service.span();
    let descriptor = quote_spanned!(service_span=> #module::Service);
    let data = &args.data;
    let event = &args.event;

    let default_impl = match (&item.fields, has_derive_default(item)) {
        (Fields::Unit, false) => quote! {
            #[automatically_derived]
            impl ::core::default::Default for #ident {
                fn default() -> Self {
                    #ident
                }
            }
        },
        _ => TokenStream::new(),
    };
    let hooks_impl = if args.hooks {
        TokenStream::new()
    } else {
        quote! {
            #[automatically_derived]
            impl #krate::service::Hooks for #ident {}
        }
    };
    // Compile-time checks, spanned at the user's tokens: the types are the
    // stream method's.
    let data_check = quote_spanned!(data.span()=> __tsercom_data::<#data>(););
    let event_check = quote_spanned!(event.span()=> __tsercom_event::<#event>(););
    let checks = quote! {
        const _: fn() = || {
            fn __tsercom_data<T: ?::core::marker::Sized + #module::Data>() {}
            fn __tsercom_event<T: ?::core::marker::Sized + #module::Event>() {}
            #data_check
            #event_check
        };
    };

    let stream = quote!(<#descriptor as #krate::__private::StreamService>);
    let (data_type, event_type, base_config, create) = match args.side {
        Side::Producer => {
            let publish = args.publish.as_ref().map_or_else(
                || quote!(::core::option::Option::None),
                |p| quote!(::core::option::Option::Some(#p)),
            );
            let listen = args.listen.as_ref().map_or_else(
                || quote!(::core::option::Option::None),
                |a| {
                    let addr = socket_addr(a);
                    quote!(::core::option::Option::Some(#addr))
                },
            );
            (
                quote!(#stream::Request),
                quote!(#stream::Response),
                quote!(#krate::service::producer_config(#name, #publish, #listen)),
                quote!(#krate::service::producer::<#descriptor, Self>(ctx, hooks)),
            )
        }
        Side::Aggregator => {
            let discover = args.discover.as_ref().map_or_else(
                || quote!(::core::option::Option::None),
                |d| quote!(::core::option::Option::Some(#d)),
            );
            let peers = args.peers.iter().map(socket_addr);
            (
                quote!(#stream::Response),
                quote!(#stream::Request),
                quote!(#krate::service::aggregator_config(#discover, &[#(#peers),*])),
                quote!(#krate::service::aggregator::<#descriptor, Self>(ctx, hooks)),
            )
        }
    };
    let interfaces = args
        .interfaces
        .as_ref()
        .map_or_else(TokenStream::new, |spec| {
            let ty = quote!(#krate::discovery::Interfaces);
            let value = match spec {
                InterfacesSpec::All => quote!(#ty::All),
                InterfacesSpec::Loopback => quote!(#ty::LoopbackOnly),
                InterfacesSpec::V4 => quote!(#ty::Family(#krate::discovery::IpFamily::V4)),
                InterfacesSpec::V6 => quote!(#ty::Family(#krate::discovery::IpFamily::V6)),
                InterfacesSpec::Named(names) => {
                    quote!(#ty::Named(::std::vec![#(::std::string::String::from(#names)),*]))
                }
            };
            quote!(config.discovery.interfaces = #value;)
        });
    let user_config = args.config.as_ref().map_or_else(
        TokenStream::new,
        |f| quote_spanned!(f.span()=> let config: #krate::runtime::RuntimeConfig = #f(config);),
    );

    quote! {
        #item
        #default_impl
        #hooks_impl
        #checks

        #[automatically_derived]
        impl #krate::runtime::RuntimeInitializer for #ident {
            type Data = #data_type;
            type Event = #event_type;

            fn name(&self) -> ::std::string::String {
                ::std::string::String::from(#name)
            }

            fn config(&self) -> #krate::runtime::RuntimeConfig {
                #[allow(unused_mut)]
                let mut config: #krate::runtime::RuntimeConfig = #base_config;
                #interfaces
                #user_config
                <Self as #krate::service::Hooks>::configure(self, config)
            }

            fn create(
                &mut self,
                ctx: #krate::runtime::RuntimeContext<Self::Data, Self::Event>,
            ) -> #krate::Result<::std::boxed::Box<dyn #krate::runtime::Runtime>> {
                let hooks: Self = ::core::mem::take(self);
                #create
            }
        }
    }
}
