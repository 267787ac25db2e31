//! Post-processing of the code prost and tonic generate, so that it reaches
//! every support crate through `<support>::__private` and compiles in a user
//! module that shadows prelude names (`Result`, `Option`, `Box`, `mod core`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Item, Path, parse_quote};

/// Prelude names that generated code uses bare, with their absolute paths.
const PRELUDE: &[(&str, &str)] = &[
    ("Option", "::core::option::Option"),
    ("Some", "::core::option::Option::Some"),
    ("None", "::core::option::Option::None"),
    ("Result", "::core::result::Result"),
    ("Ok", "::core::result::Result::Ok"),
    ("Err", "::core::result::Result::Err"),
    ("Box", "::std::boxed::Box"),
    ("Vec", "::std::vec::Vec"),
    ("String", "::std::string::String"),
    ("Default", "::core::default::Default"),
    ("Send", "::core::marker::Send"),
    ("Sync", "::core::marker::Sync"),
    ("Clone", "::core::clone::Clone"),
    ("Into", "::core::convert::Into"),
    ("From", "::core::convert::From"),
];

/// Crates that generated code names with a relative path; they become
/// absolute (`std`, `core`, `alloc`) or go through `__private`.
const PRIVATE_CRATES: &[&str] = &["tonic", "tonic_prost", "prost", "prost_types"];
const STD_CRATES: &[&str] = &["std", "core", "alloc"];

struct Rewriter {
    private: Path,
}

impl Rewriter {
    fn rewrite_path(&self, path: &mut Path) {
        if path.leading_colon.is_some() {
            return;
        }
        let Some(first) = path.segments.first() else {
            return;
        };
        let first_name = first.ident.to_string();
        if PRIVATE_CRATES.contains(&first_name.as_str()) {
            let private = &self.private;
            let rest = &path.segments;
            *path = parse_quote!(#private::#rest);
        } else if STD_CRATES.contains(&first_name.as_str()) {
            path.leading_colon = Some(Default::default());
        } else if let Some((_, absolute)) = PRELUDE.iter().find(|(name, _)| *name == first_name)
            && let Ok(mut replacement) = syn::parse_str::<Path>(absolute)
        {
            {
                // Keep generic arguments written on the bare name
                // (`Option<T>`, `Box::<T>::pin`).
                let mut rest = path.segments.clone().into_pairs();
                if let (Some(last), Some(first_pair)) =
                    (replacement.segments.last_mut(), rest.next())
                {
                    last.arguments = first_pair.into_value().arguments;
                }
                for pair in rest {
                    replacement.segments.push(pair.into_value());
                }
                *path = replacement;
            }
        }
    }
}

impl Rewriter {
    /// Rewrites a path with an optional `<T as Trait>::` prefix: the prefix's
    /// segment count (`qself.position`) grows by what the rewrite added.
    fn rewrite_qualified(&mut self, qself: Option<&mut syn::QSelf>, path: &mut Path) {
        let before = path.segments.len();
        self.rewrite_path(path);
        if let Some(qself) = qself
            && qself.position > 0
        {
            qself.position += path.segments.len() - before;
        }
    }
}

impl VisitMut for Rewriter {
    fn visit_path_mut(&mut self, path: &mut Path) {
        self.rewrite_path(path);
        visit_mut::visit_path_mut(self, path);
    }

    fn visit_type_path_mut(&mut self, node: &mut syn::TypePath) {
        self.rewrite_qualified(node.qself.as_mut(), &mut node.path);
        visit_mut::visit_type_path_mut(self, node);
    }

    fn visit_expr_path_mut(&mut self, node: &mut syn::ExprPath) {
        self.rewrite_qualified(node.qself.as_mut(), &mut node.path);
        visit_mut::visit_expr_path_mut(self, node);
    }

    fn visit_item_use_mut(&mut self, item: &mut syn::ItemUse) {
        if item.leading_colon.is_none()
            && let syn::UseTree::Path(use_path) = &item.tree
        {
            let name = use_path.ident.to_string();
            if PRIVATE_CRATES.contains(&name.as_str()) {
                // A use tree cannot start with `::`; that goes on the item.
                let segments = &self.private.segments;
                let tree = &item.tree;
                item.tree = parse_quote!(#segments::#tree);
                item.leading_colon = self.private.leading_colon;
                return;
            } else if STD_CRATES.contains(&name.as_str()) {
                item.leading_colon = Some(Default::default());
            }
        }
        visit_mut::visit_item_use_mut(self, item);
    }

    fn visit_attribute_mut(&mut self, _attr: &mut Attribute) {
        // Attribute arguments are opaque tokens (derive lists, `#[prost(..)]`);
        // prost already writes absolute paths there.
    }
}

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

/// Rewrites one generated module. `support` is the support crate path
/// (`::tsercom` or `crate`).
pub(crate) fn rewrite_generated(source: &str, support: &Path) -> syn::Result<String> {
    let mut file = syn::parse_file(source)?;
    let mut rewriter = Rewriter {
        private: parse_quote!(#support::__private),
    };
    rewriter.visit_file_mut(&mut file);
    for item in &mut file.items {
        if let Some(attrs) = item_attrs(item) {
            attrs.insert(0, generated_allow());
        }
    }
    Ok(prettyplease::unparse(&file))
}

/// Pretty-prints a token stream of items.
pub(crate) fn pretty(tokens: TokenStream) -> syn::Result<String> {
    let file: syn::File = syn::parse2(quote!(#tokens))?;
    Ok(prettyplease::unparse(&file))
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

    fn rewrite(src: &str) -> String {
        rewrite_generated(src, &parse_quote!(::tsercom)).expect("valid rust")
    }

    #[test]
    fn crate_paths_go_through_private() {
        let out =
            rewrite("use tonic::codegen::*; fn f() -> tonic::Status { tonic::Status::ok(\"\") }");
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
    fn prelude_names_become_absolute_and_keep_generics() {
        let out = rewrite(
            "fn f(x: Option<Box<u8>>) -> std::result::Result<(), ()> { let _ = Box::pin(1); Ok(()) }",
        );
        assert!(
            out.contains("::core::option::Option<::std::boxed::Box<u8>>"),
            "{out}"
        );
        assert!(out.contains("::std::boxed::Box::pin(1)"), "{out}");
        assert!(out.contains("::std::result::Result<(), ()>"), "{out}");
        assert!(out.contains("::core::result::Result::Ok(())"), "{out}");
    }

    #[test]
    fn qualified_paths_keep_their_trait_prefix() {
        let out = rewrite("type X<T> = <T as tonic::client::GrpcService<u8>>::ResponseBody;");
        assert!(
            out.contains(
                "<T as ::tsercom::__private::tonic::client::GrpcService<u8>>::ResponseBody"
            ),
            "{out}"
        );
        let out = rewrite("fn f<T>() { <T as Default>::default(); }");
        assert!(
            out.contains("<T as ::core::default::Default>::default()"),
            "{out}"
        );
    }

    #[test]
    fn support_path_is_configurable() {
        let out = rewrite_generated("fn f() -> tonic::Code { make() }", &parse_quote!(crate))
            .expect("valid");
        assert!(out.contains("crate::__private::tonic::Code"), "{out}");
    }
}
