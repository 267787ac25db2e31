//! The expansion of `#[tsercom::runtime(...)]` (documented, with an example,
//! in `tsercom::service`).

use heck::ToSnakeCase;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Fields, Item};

use crate::args::{self, Addrs, Args, Direction, Errors, InterfaceSelection, Role};

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

/// Addresses as a `Vec<String>` expression (in `config(&self)`); `which`
/// is `PEERS` or `LISTEN`, the suffix of the runtime's own override
/// variable, which wins over `env("VAR")` (so `VAR` may then be unset).
fn addrs(addrs: Option<&Addrs>, krate: &syn::Path, name: &str, which: &str) -> TokenStream {
    match addrs {
        None => quote!(::std::vec::Vec::<::std::string::String>::new()),
        Some(Addrs::Literal(lits)) => {
            quote!(::std::vec![#(::std::string::String::from(#lits)),*])
        }
        Some(Addrs::Env(var)) => quote!(#krate::service::env_addrs_for(#name, #which, #var)?),
        Some(Addrs::Field(member)) => quote_spanned!(member.span()=>
            #krate::service::AsAddrs::as_addrs(&self.#member)
        ),
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

    // What the handle receives and sends, by role; the method's request is
    // what the dialer sends, by direction.
    let (inbound, outbound, handle, role) = match args.role {
        Role::Producer => (
            quote!(#event),
            quote!(#data),
            quote!(#krate::ProducerHandle<#data, #event>),
            quote!(#krate::Role::Producer),
        ),
        Role::Aggregator => (
            quote!(#data),
            quote!(#event),
            quote!(#krate::AggregatorHandle<#data, #event>),
            quote!(#krate::Role::Aggregator),
        ),
    };
    let (request, response) = match args.direction {
        Direction::Host => (&inbound, &outbound),
        Direction::Dial => (&outbound, &inbound),
    };
    // The method of that shape: `Service` stands for the one method that
    // has it, or `method = Name` names it; either way a compile error at
    // the user's token names the shape when it does not fit.
    let method = match &args.method {
        Some(m) => {
            let span = m.span();
            quote_spanned!(span=> <#module::method::#m as #module::Fits<#request, #response>>::Method)
        }
        None => {
            let span = args.service.span();
            quote_spanned!(span=> <#module::Service as #module::Fits<#request, #response>>::Method)
        }
    };
    // What the handle receives: what the dialer streams, on a host; what
    // the host streams back, on a dialer.
    let inbound_side = match args.direction {
        Direction::Host => quote!(#krate::service::Side::Request),
        Direction::Dial => quote!(#krate::service::Side::Response),
    };
    let (base_config, create) = match args.direction {
        Direction::Host => {
            let publish = args.publish.as_ref().map_or_else(
                || quote!(::core::option::Option::None),
                |p| quote!(::core::option::Option::Some(#p)),
            );
            let listen = match (&args.listen, args.port) {
                (None, Some(port)) => {
                    let text = format!("0.0.0.0:{port}");
                    quote!(::std::vec![::std::string::String::from(#text)])
                }
                (listen, _) => addrs(listen.as_ref(), krate, &name, "LISTEN"),
            };
            (
                quote!(#krate::service::host_config(#role, #name, #publish, #listen)?),
                quote!(#krate::service::host::<#method, Self>(ctx, hooks)),
            )
        }
        Direction::Dial => {
            let discover = args.discover.as_ref().map_or_else(
                || quote!(::core::option::Option::None),
                |d| quote!(::core::option::Option::Some(#d)),
            );
            let peers = addrs(args.peers.as_ref(), krate, &name, "PEERS");
            (
                quote!(#krate::service::dial_config(#role, #discover, #peers)?),
                quote!(#krate::service::dial::<#method, Self>(ctx, hooks)),
            )
        }
    };
    let interfaces = args
        .interfaces
        .as_ref()
        .map_or_else(TokenStream::new, |spec| {
            let ty = quote!(#krate::discovery::Interfaces);
            let value = match spec {
                InterfaceSelection::All => quote!(#ty::All),
                InterfaceSelection::Loopback => quote!(#ty::LoopbackOnly),
                InterfaceSelection::Ipv4 => quote!(#ty::Family(#krate::discovery::IpFamily::V4)),
                InterfaceSelection::Ipv6 => quote!(#ty::Family(#krate::discovery::IpFamily::V6)),
                InterfaceSelection::Named(names) => {
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

        #[automatically_derived]
        impl #krate::runtime::RuntimeInitializer for #ident {
            type Inbound = #inbound;
            type Outbound = #outbound;
            type Handle = #handle;

            fn name(&self) -> ::std::string::String {
                ::std::string::String::from(#name)
            }

            fn config(&self) -> #krate::Result<#krate::runtime::RuntimeConfig> {
                #[allow(unused_mut)]
                let mut config: #krate::runtime::RuntimeConfig = #base_config;
                #interfaces
                let config: #krate::runtime::RuntimeConfig = #krate::service::env_overrides(#name, config)?;
                #user_config
                ::core::result::Result::Ok(<Self as #krate::service::Hooks>::configure(self, config))
            }

            fn inbound_descriptor(&self) -> ::core::option::Option<#krate::runtime::MessageDescriptor> {
                #krate::service::message_descriptor::<#method>(#inbound_side)
            }

            fn create(
                &mut self,
                ctx: #krate::runtime::RuntimeContext<Self::Inbound, Self::Outbound>,
            ) -> #krate::Result<::std::boxed::Box<dyn #krate::runtime::Runtime>> {
                let hooks: Self = ::core::mem::take(self);
                #create
            }
        }
    }
}
