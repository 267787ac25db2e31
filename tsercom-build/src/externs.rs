//! Checks the builder's extern paths before prost writes them into code: a
//! Rust path that is not one would make generated code that does not parse
//! (or, worse, names something else). The error points at the first place
//! in a proto that uses the mapped type, as `file:line:col`.

use std::path::PathBuf;

use prost_types::{DescriptorProto, FileDescriptorProto};

use crate::error::{Error, ErrorKind, Location, Result};
use crate::wiring::location_of;

/// Fails on the first `(proto, rust)` whose `rust` is not a Rust type.
pub(crate) fn check(
    extern_paths: &[(String, String)],
    files: &[FileDescriptorProto],
    display: &dyn Fn(&str) -> PathBuf,
) -> Result<()> {
    for (proto, rust) in extern_paths {
        let Err(e) = syn::parse_str::<syn::Type>(rust) else {
            continue;
        };
        let prefix = format!(".{}", proto.trim_start_matches('.'));
        // The first use in a file, by position.
        let used = files.iter().find_map(|f| {
            uses(f, &prefix, display)
                .into_iter()
                .min_by_key(|(location, _)| {
                    location
                        .as_ref()
                        .map_or((usize::MAX, usize::MAX), |l| (l.line, l.column))
                })
        });
        let message = match &used {
            Some((_, type_name)) => format!(
                "`{}` cannot be named in Rust: in `extern_path(\"{proto}\", \"{rust}\")`, `{rust}` is not a Rust type ({e})",
                type_name.trim_start_matches('.')
            ),
            None => {
                format!("`extern_path(\"{proto}\", \"{rust}\")`: `{rust}` is not a Rust type ({e})")
            }
        };
        return Err(Error::new(
            ErrorKind::InvalidSetting,
            used.and_then(|(location, _)| location),
            message,
        ));
    }
    Ok(())
}

fn matches(type_name: &str, prefix: &str) -> bool {
    type_name == prefix
        || type_name
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The location and type name of every field or method type in `file`
/// under `prefix`.
fn uses(
    file: &FileDescriptorProto,
    prefix: &str,
    display: &dyn Fn(&str) -> PathBuf,
) -> Vec<(Option<Location>, String)> {
    // The most precise span the source info has: the type name, else the
    // field or method, else the enclosing message.
    let name = display(file.name());
    let located = |(path, type_name): (Vec<i32>, String)| {
        let location = (1..=path.len())
            .rev()
            .find_map(|len| location_of(file, &path[..len], &name));
        (location, type_name)
    };
    let mut found = Vec::new();
    for (m, message) in file.message_type.iter().enumerate() {
        in_message(message, vec![4, index(m)], prefix, &mut found);
    }
    for (s, service) in file.service.iter().enumerate() {
        for (m, method) in service.method.iter().enumerate() {
            for (field, type_name) in [(2, method.input_type()), (3, method.output_type())] {
                if matches(type_name, prefix) {
                    found.push((vec![6, index(s), 2, index(m), field], type_name.to_owned()));
                }
            }
        }
    }
    found.into_iter().map(located).collect()
}

/// The source paths (of the field's type name) and type names of the
/// fields of `message`, and of its nested messages, under `prefix`.
fn in_message(
    message: &DescriptorProto,
    path: Vec<i32>,
    prefix: &str,
    found: &mut Vec<(Vec<i32>, String)>,
) {
    for (f, field) in message.field.iter().enumerate() {
        if matches(field.type_name(), prefix) {
            let mut field_path = path.clone();
            // `type_name` is field 6 of `FieldDescriptorProto`.
            field_path.extend([2, index(f), 6]);
            found.push((field_path, field.type_name().to_owned()));
        }
    }
    for (n, nested) in message.nested_type.iter().enumerate() {
        let mut nested_path = path.clone();
        nested_path.extend([3, index(n)]);
        in_message(nested, nested_path, prefix, found);
    }
}

fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}
