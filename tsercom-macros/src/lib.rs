//! Procedural macros for tsercom. Use them through the `tsercom` crate,
//! which re-exports them; this crate is an implementation detail.

mod args;
mod expand;
mod values;

use proc_macro::TokenStream;

/// Turns a struct into a tsercom runtime: a producer that hosts a service's
/// stream method, or an aggregator that finds producers and dials them.
/// See `tsercom::runtime` (the re-export) for the keys and the expansion.
#[proc_macro_attribute]
pub fn runtime(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::runtime(attr.into(), item.into()).into()
}
