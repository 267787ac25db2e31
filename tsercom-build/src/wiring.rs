//! Field wiring: finds, from the descriptors, every message with a field of
//! type `tsercom.CallerId` or `tsercom.ServerTimestamp` (whatever the field is
//! called) and generates `HasCallerId` / `Timestamped` impls for it.

use std::collections::{BTreeMap, BTreeSet};

use heck::{ToSnakeCase, ToUpperCamelCase};
use proc_macro2::TokenStream;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorProto};
use quote::{format_ident, quote};

use crate::error::{Error, ErrorKind, Location, Result};

/// The full proto name of tsercom's CallerId message.
pub(crate) const CALLER_ID_TYPE: &str = ".tsercom.CallerId";
/// The full proto name of tsercom's ServerTimestamp message.
pub(crate) const TIMESTAMP_TYPE: &str = ".tsercom.ServerTimestamp";

/// Which wiring a field provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Wire {
    CallerId,
    Timestamp,
}

impl Wire {
    fn type_name(self) -> &'static str {
        match self {
            Wire::CallerId => CALLER_ID_TYPE,
            Wire::Timestamp => TIMESTAMP_TYPE,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Wire::CallerId => "tsercom.CallerId",
            Wire::Timestamp => "tsercom.ServerTimestamp",
        }
    }

    fn setting(self) -> &'static str {
        match self {
            Wire::CallerId => "caller_id_field",
            Wire::Timestamp => "timestamp_field",
        }
    }
}

/// Builder choices for messages with more than one candidate field, keyed
/// by `(wire, full message name without leading dot)`.
pub(crate) type Choices = BTreeMap<(Wire, String), String>;

/// One wired field of one message.
#[derive(Debug)]
pub(crate) struct Wiring {
    /// Rust path of the message relative to its package module,
    /// e.g. `["outer", "Inner"]`.
    pub(crate) rust_path: Vec<String>,
    /// Full proto name of the message, e.g. `sensors.Outer.Inner`.
    pub(crate) proto_name: String,
    pub(crate) wire: Wire,
    pub(crate) field_name: String,
}

/// Looks up a location in a file's source info.
pub(crate) fn location_of(
    file: &FileDescriptorProto,
    path: &[i32],
    display_name: &std::path::Path,
) -> Option<Location> {
    let info = file.source_code_info.as_ref()?;
    let loc = info.location.iter().find(|l| l.path == path)?;
    let line = usize::try_from(*loc.span.first()?).ok()? + 1;
    let column = usize::try_from(*loc.span.get(1)?).ok()? + 1;
    Some(Location {
        file: display_name.to_path_buf(),
        line,
        column,
    })
}

/// Finds every wired field in `file` (one of the files being generated).
pub(crate) fn analyze(
    file: &FileDescriptorProto,
    display_name: &std::path::Path,
    choices: &Choices,
    used_choices: &mut BTreeSet<(Wire, String)>,
) -> Result<Vec<Wiring>> {
    let mut out = Vec::new();
    let package = file.package();
    for (index, message) in file.message_type.iter().enumerate() {
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        walk(
            file,
            display_name,
            message,
            package,
            &mut Vec::new(),
            vec![4, index],
            choices,
            used_choices,
            &mut out,
        )?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)] // recursive walker: the state is the recursion's, not a config
fn walk(
    file: &FileDescriptorProto,
    display_name: &std::path::Path,
    message: &DescriptorProto,
    proto_prefix: &str,
    rust_parents: &mut Vec<String>,
    source_path: Vec<i32>,
    choices: &Choices,
    used_choices: &mut BTreeSet<(Wire, String)>,
    out: &mut Vec<Wiring>,
) -> Result<()> {
    if message.options.as_ref().and_then(|o| o.map_entry) == Some(true) {
        return Ok(());
    }
    let full_name = if proto_prefix.is_empty() {
        message.name().to_owned()
    } else {
        format!("{proto_prefix}.{}", message.name())
    };

    for wire in [Wire::CallerId, Wire::Timestamp] {
        let candidates: Vec<(usize, &str)> = message
            .field
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.r#type() == Type::Message
                    && f.type_name() == wire.type_name()
                    && f.label() != Label::Repeated
                    // Fields of a real `oneof` live in an enum, not on the struct.
                    && (f.oneof_index.is_none() || f.proto3_optional())
            })
            .map(|(i, f)| (i, f.name()))
            .collect();
        let key = (wire, full_name.clone());
        let chosen = match (candidates.as_slice(), choices.get(&key)) {
            ([], None) => continue,
            (_, Some(choice)) => {
                used_choices.insert(key.clone());
                match candidates.iter().find(|(_, name)| name == choice) {
                    Some(&(_, name)) => name,
                    None => {
                        let valid: Vec<&str> = candidates.iter().map(|(_, n)| *n).collect();
                        return Err(Error::new(
                            ErrorKind::InvalidSetting,
                            location_of(file, &source_path, display_name),
                            format!(
                                "`{}(\"{full_name}\", \"{choice}\")`: message `{full_name}` has no singular \
                                 field `{choice}` of type `{}` (candidates: {})",
                                wire.setting(),
                                wire.describe(),
                                if valid.is_empty() {
                                    "none".to_owned()
                                } else {
                                    valid.join(", ")
                                }
                            ),
                        ));
                    }
                }
            }
            ([(_, name)], None) => name,
            ([(_, first), (second_index, second), ..], None) => {
                let mut field_path = source_path.clone();
                field_path.extend([2, i32::try_from(*second_index).unwrap_or(i32::MAX)]);
                return Err(Error::new(
                    ErrorKind::AmbiguousWiring,
                    location_of(file, &field_path, display_name),
                    format!(
                        "message `{full_name}` has two `{}` fields, `{first}` and `{second}`; \
                         pick the one tsercom wires with `.{}(\"{full_name}\", \"{first}\")` \
                         in build.rs",
                        wire.describe(),
                        wire.setting()
                    ),
                ));
            }
        };
        let mut rust_path = rust_parents.clone();
        rust_path.push(to_upper_camel(message.name()));
        out.push(Wiring {
            rust_path,
            proto_name: full_name.clone(),
            wire,
            field_name: chosen.to_owned(),
        });
    }

    rust_parents.push(to_snake(message.name()));
    for (index, nested) in message.nested_type.iter().enumerate() {
        let mut nested_path = source_path.clone();
        nested_path.extend([3, i32::try_from(index).unwrap_or(i32::MAX)]);
        walk(
            file,
            display_name,
            nested,
            &full_name,
            rust_parents,
            nested_path,
            choices,
            used_choices,
            out,
        )?;
    }
    rust_parents.pop();
    Ok(())
}

/// Generates the impls for a module's wired fields. `private` is the path
/// of the support crate's `__private` module.
pub(crate) fn generate(wirings: &[Wiring], private: &syn::Path) -> TokenStream {
    let impls = wirings.iter().map(|w| {
        let ty: syn::Path = syn::parse_str(&w.rust_path.join("::"))
            .unwrap_or_else(|_| syn::Path::from(format_ident!("{}", w.rust_path.join("_"))));
        let field = format_ident!("{}", to_snake(&w.field_name));
        let field_name = &w.field_name;
        match w.wire {
            Wire::CallerId => quote! {
                #[automatically_derived]
                impl #private::HasCallerId for #ty {
                    const CALLER_ID_FIELD: &'static str = #field_name;
                    fn caller_id_field(&self) -> ::core::option::Option<&#private::proto::CallerId> {
                        self.#field.as_ref()
                    }
                    fn caller_id_field_mut(&mut self) -> &mut ::core::option::Option<#private::proto::CallerId> {
                        &mut self.#field
                    }
                }
            },
            Wire::Timestamp => quote! {
                #[automatically_derived]
                impl #private::Timestamped for #ty {
                    const TIMESTAMP_FIELD: &'static str = #field_name;
                    fn timestamp_field(&self) -> ::core::option::Option<&#private::proto::ServerTimestamp> {
                        self.#field.as_ref()
                    }
                    fn timestamp_field_mut(&mut self) -> &mut ::core::option::Option<#private::proto::ServerTimestamp> {
                        &mut self.#field
                    }
                }
            },
        }
    });
    quote!(#(#impls)*)
}

// prost-build's identifier rules (prost-build/src/ident.rs), which decide the
// names of the generated structs, modules and fields; kept identical so the
// impls name what prost generated.
fn sanitize_identifier(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident.to_owned(),
    }
}

pub(crate) fn to_snake(s: &str) -> String {
    sanitize_identifier(&s.to_snake_case())
}

pub(crate) fn to_upper_camel(s: &str) -> String {
    sanitize_identifier(&s.to_upper_camel_case())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_prost() {
        assert_eq!(to_snake("Timestamp"), "timestamp");
        assert_eq!(to_snake("type"), "r#type");
        assert_eq!(to_snake("self"), "self_");
        assert_eq!(to_snake("ServerTS"), "server_ts");
        assert_eq!(to_upper_camel("reading_v2"), "ReadingV2");
    }
}
