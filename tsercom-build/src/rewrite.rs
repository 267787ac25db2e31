//! The two adjustments prost's and tonic's output need, each limited to
//! what it knows to be theirs; never a name that could be a user's type.
//!
//! Generated code is included into a user's module, reaches tonic and
//! prost only through `<support>::__private` (users depend on `tsercom`
//! alone), and must compile where the user shadows prelude names.
//!
//! - **prost** is told its paths through its own settings (`prost_path`,
//!   `prost_types_path`) and writes `::core::option::Option`, so its output
//!   is kept as is, except for the bare `Some` / `None` of the
//!   `from_str_name` functions it writes for enums: they become absolute.
//!   They are expressions, where prost never names a user's type (messages
//!   are braced structs, enum variants are written `Self::Variant`).
//! - **tonic** writes its templates inside its own `<service>_client` /
//!   `<service>_server` modules, so the user's names do not reach them; it
//!   names its crate as `tonic::...`, which becomes
//!   `<support>::__private::tonic::...`. Nothing else is touched: its other
//!   bare names are the prelude, its `use tonic::codegen::*` glob, or the
//!   items it declares there (a service named `Sync` is the trait `Sync`),
//!   and it names the user's types `super::...`, `::...`, `crate::...` or
//!   `()`, never with a bare `tonic` first segment.

use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Item, Path, parse_quote};

/// The lints that generated code must not trip in a user's `-D warnings`
/// build: prost and tonic output has no docs where the proto has no
/// comments, and its style is not the user's to fix.
pub(crate) fn generated_allow() -> Attribute {
    parse_quote!(#[allow(
        missing_docs,
        unreachable_pub,
        missing_debug_implementations,
        unused_qualifications,
        non_camel_case_types,
        clippy::all,
        clippy::pedantic,
        clippy::nursery
    )])
}

/// prost's output for one package, with its enums' `Some` / `None`
/// absolute.
pub(crate) fn prost_output(source: &str) -> syn::Result<Vec<Item>> {
    let mut file = syn::parse_file(source)?;
    OptionVariants.visit_file_mut(&mut file);
    Ok(with_allow(file.items))
}

/// tonic's output for one package, reaching tonic through `private`
/// (`<support>::__private`).
pub(crate) fn tonic_output(source: &str, private: &Path) -> syn::Result<Vec<Item>> {
    let mut file = syn::parse_file(source)?;
    TonicRoot { private }.visit_file_mut(&mut file);
    Ok(with_allow(file.items))
}

fn with_allow(mut items: Vec<Item>) -> Vec<Item> {
    for item in &mut items {
        if let Some(attrs) = item_attrs(item) {
            attrs.insert(0, generated_allow());
        }
    }
    items
}

/// `Some` and `None` written as single-segment expression paths.
struct OptionVariants;

impl VisitMut for OptionVariants {
    fn visit_expr_path_mut(&mut self, node: &mut syn::ExprPath) {
        if node.qself.is_none() && node.path.leading_colon.is_none() {
            if node.path.is_ident("Some") {
                node.path = parse_quote!(::core::option::Option::Some);
            } else if node.path.is_ident("None") {
                node.path = parse_quote!(::core::option::Option::None);
            }
        }
        visit_mut::visit_expr_path_mut(self, node);
    }

    fn visit_pat_mut(&mut self, _pat: &mut syn::Pat) {
        // Patterns bind or match; prost writes none with these names.
    }
}

/// Paths whose first segment is a bare `tonic`.
struct TonicRoot<'a> {
    private: &'a Path,
}

impl TonicRoot<'_> {
    fn is_tonic(path: &Path) -> bool {
        path.leading_colon.is_none() && path.segments.first().is_some_and(|s| s.ident == "tonic")
    }

    /// `tonic::a::b` → `<private>::tonic::a::b`; a `<T as Trait>::` prefix
    /// (`qself.position` segments) grows by what was added.
    fn rewrite(&self, qself: Option<&mut syn::QSelf>, path: &mut Path) {
        if !Self::is_tonic(path) {
            return;
        }
        let private = self.private;
        let rest = &path.segments;
        let before = path.segments.len();
        *path = parse_quote!(#private::#rest);
        if let Some(qself) = qself
            && qself.position > 0
        {
            qself.position += path.segments.len() - before;
        }
    }
}

impl VisitMut for TonicRoot<'_> {
    fn visit_path_mut(&mut self, path: &mut Path) {
        self.rewrite(None, path);
        visit_mut::visit_path_mut(self, path);
    }

    fn visit_type_path_mut(&mut self, node: &mut syn::TypePath) {
        self.rewrite(node.qself.as_mut(), &mut node.path);
        visit_mut::visit_type_path_mut(self, node);
    }

    fn visit_expr_path_mut(&mut self, node: &mut syn::ExprPath) {
        self.rewrite(node.qself.as_mut(), &mut node.path);
        visit_mut::visit_expr_path_mut(self, node);
    }

    fn visit_item_use_mut(&mut self, item: &mut syn::ItemUse) {
        if item.leading_colon.is_none()
            && let syn::UseTree::Path(use_path) = &item.tree
            && use_path.ident == "tonic"
        {
            // A use tree cannot start with `::`; that goes on the item.
            let segments = &self.private.segments;
            let tree = &item.tree;
            item.tree = parse_quote!(#segments::#tree);
            item.leading_colon = self.private.leading_colon;
        }
    }

    fn visit_attribute_mut(&mut self, _attr: &mut Attribute) {
        // Attribute arguments are opaque tokens (`#[async_trait]`, derive
        // lists); tonic writes no crate path there.
    }
}

fn item_attrs(item: &mut Item) -> Option<&mut Vec<Attribute>> {
    Some(match item {
        Item::Const(i) => &mut i.attrs,
        Item::Enum(i) => &mut i.attrs,
        Item::Fn(i) => &mut i.attrs,
        Item::Impl(i) => &mut i.attrs,
        Item::Mod(i) => &mut i.attrs,
        Item::Static(i) => &mut i.attrs,
        Item::Struct(i) => &mut i.attrs,
        Item::Trait(i) => &mut i.attrs,
        Item::Type(i) => &mut i.attrs,
        Item::Union(i) => &mut i.attrs,
        Item::Use(i) => &mut i.attrs,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn text(items: Vec<Item>) -> String {
        prettyplease::unparse(&syn::File {
            shebang: None,
            attrs: Vec::new(),
            items,
        })
    }

    fn tonic(src: &str) -> String {
        text(tonic_output(src, &parse_quote!(::tsercom::__private)).expect("valid rust"))
    }

    #[test]
    fn tonic_paths_go_through_private() {
        let out =
            tonic("use tonic::codegen::*; fn f() -> tonic::Status { tonic::Status::ok(\"\") }");
        assert!(
            out.contains("use ::tsercom::__private::tonic::codegen::*;"),
            "{out}"
        );
        assert!(
            out.contains("::tsercom::__private::tonic::Status::ok"),
            "{out}"
        );
        assert!(!out.contains(" tonic::"), "{out}");
    }

    #[test]
    fn tonic_output_keeps_every_other_name() {
        // A service named `Sync` with a method `send`: the trait is tonic's
        // item, not the marker.
        let src = "pub mod sync_server { use tonic::codegen::*; pub trait Sync: std::marker::Send + std::marker::Sync {} \
                   fn f<T: Sync>(x: Option<Box<u8>>) -> std::result::Result<super::Result, ()> { <T as Sync>::send(); Ok(super::Result) } }";
        let out = tonic(src);
        assert!(out.contains("<T as Sync>::send()"), "{out}");
        assert!(out.contains("T: Sync"), "{out}");
        assert!(out.contains("Option<Box<u8>>"), "{out}");
        assert!(
            out.contains("std::result::Result<super::Result, ()>"),
            "{out}"
        );
        assert!(out.contains("Ok(super::Result)"), "{out}");
    }

    #[test]
    fn qualified_tonic_paths_keep_their_trait_prefix() {
        let out = tonic("type X<T> = <T as tonic::client::GrpcService<u8>>::ResponseBody;");
        assert!(
            out.contains(
                "<T as ::tsercom::__private::tonic::client::GrpcService<u8>>::ResponseBody"
            ),
            "{out}"
        );
    }

    #[test]
    fn support_path_is_configurable() {
        let out = text(
            tonic_output(
                "fn f() -> tonic::Code { make() }",
                &parse_quote!(crate::__private),
            )
            .expect("valid"),
        );
        assert!(out.contains("crate::__private::tonic::Code"), "{out}");
    }

    #[test]
    fn prost_output_changes_only_some_and_none() {
        let src = "pub struct Result { pub x: ::core::option::Option<Option> } \
                   impl Kind { pub fn from_str_name(value: &str) -> ::core::option::Option<Self> { \
                   match value { \"A\" => Some(Self::A), _ => None } } }";
        let items = prost_output(src).expect("valid rust");
        let out = items
            .iter()
            .map(|i| i.to_token_stream().to_string())
            .collect::<String>();
        assert!(
            out.contains(":: core :: option :: Option < Option >"),
            "{out}"
        );
        assert!(
            out.contains(":: core :: option :: Option :: Some (Self :: A)"),
            "{out}"
        );
        assert!(
            out.contains("_ => :: core :: option :: Option :: None"),
            "{out}"
        );
    }
}
