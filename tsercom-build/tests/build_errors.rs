//! Bad protos and bad settings fail with `file:line:col` and a message.

use std::path::{Path, PathBuf};

use tsercom_build::ErrorKind;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/errors")
}

fn compile(file: &str, builder: tsercom_build::Builder) -> tsercom_build::Error {
    let out = tempfile::tempdir().expect("tempdir");
    builder
        .out_dir(out.path())
        .compile(&[file], &[dir()])
        .expect_err("must fail")
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let err = compile("syntax.proto", tsercom_build::configure());
    assert_eq!(err.kind(), &ErrorKind::Proto);
    let text = err.to_string();
    let expected_prefix = format!("{}:6:3: ", dir().join("syntax.proto").display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(text.contains("expected ';'"), "{text}");
    // Debug (what `.expect()` prints in build.rs) is the same readable text.
    assert_eq!(format!("{err:?}"), text);
}

#[test]
fn missing_import_names_the_import_line() {
    let err = compile("missing_import.proto", tsercom_build::configure());
    assert_eq!(err.kind(), &ErrorKind::Proto);
    let text = err.to_string();
    let expected_prefix = format!("{}:4:1: ", dir().join("missing_import.proto").display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(text.contains("does/not/exist.proto"), "{text}");
}

#[test]
fn unknown_type_names_the_field_type() {
    let err = compile("unknown_type.proto", tsercom_build::configure());
    assert_eq!(err.kind(), &ErrorKind::Proto);
    let text = err.to_string();
    let expected_prefix = format!("{}:8:3: ", dir().join("unknown_type.proto").display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(text.contains("tsercom.NoSuchType"), "{text}");
}

#[test]
fn ambiguous_wiring_names_message_and_both_fields() {
    let err = compile("ambiguous.proto", tsercom_build::configure());
    assert_eq!(err.kind(), &ErrorKind::AmbiguousWiring);
    let text = err.to_string();
    let expected_prefix = format!("{}:8:3: ", dir().join("ambiguous.proto").display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(text.contains("`errors.Relay`"), "{text}");
    assert!(text.contains("`from`") && text.contains("`to`"), "{text}");
    assert!(
        text.contains(".caller_id_field(\"errors.Relay\", \"from\")"),
        "{text}"
    );
}

#[test]
fn ambiguity_is_resolved_by_a_builder_choice() {
    let out = tempfile::tempdir().expect("tempdir");
    let compiled = tsercom_build::configure()
        .out_dir(out.path())
        .caller_id_field("errors.Relay", "to")
        .compile(&["ambiguous.proto"], &[dir()])
        .expect("compiles");
    assert_eq!(
        compiled.wired_fields(),
        ["errors.Relay.to: HasCallerId".to_owned()]
    );
}

#[test]
fn a_choice_naming_a_wrong_field_is_an_error() {
    let err = compile(
        "ambiguous.proto",
        tsercom_build::configure().caller_id_field("errors.Relay", "via"),
    );
    assert_eq!(err.kind(), &ErrorKind::InvalidSetting);
    let text = err.to_string();
    assert!(
        text.contains("no singular field `via`") && text.contains("from, to"),
        "{text}"
    );
}

#[test]
fn a_choice_naming_no_message_is_an_error() {
    let err = compile(
        "ambiguous.proto",
        tsercom_build::configure()
            .caller_id_field("errors.Relay", "to")
            .timestamp_field("errors.Nope", "at"),
    );
    assert_eq!(err.kind(), &ErrorKind::InvalidSetting);
    assert!(err.to_string().contains("errors.Nope"), "{err}");
}

#[test]
fn a_missing_input_file_is_an_error() {
    let err = compile("nope.proto", tsercom_build::configure());
    assert_eq!(err.kind(), &ErrorKind::Proto);
    assert!(err.to_string().contains("nope.proto"), "{err}");
}

#[test]
fn an_invalid_support_crate_path_is_an_error() {
    let err = compile(
        "ambiguous.proto",
        tsercom_build::configure().support_crate("not a path"),
    );
    assert_eq!(err.kind(), &ErrorKind::InvalidSetting);
    assert!(err.to_string().contains("not a path"), "{err}");
}

#[test]
fn an_unresolvable_type_path_names_the_field_that_uses_it() {
    let err = compile(
        "extern.proto",
        tsercom_build::configure().extern_path(".units.Gauge", "::units::Gauge<"),
    );
    assert_eq!(err.kind(), &ErrorKind::InvalidSetting);
    let text = err.to_string();
    let expected_prefix = format!("{}:12:3: ", dir().join("extern.proto").display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(
        text.contains("`units.Gauge` cannot be named in Rust")
            && text.contains("extern_path(\".units.Gauge\", \"::units::Gauge<\")"),
        "{text}"
    );
}

#[test]
fn an_unresolvable_type_path_names_the_rpc_that_uses_it() {
    let err = compile(
        "extern.proto",
        tsercom_build::configure().extern_path(".units", "units as crate"),
    );
    assert_eq!(err.kind(), &ErrorKind::InvalidSetting);
    let text = err.to_string();
    let expected_prefix = format!("{}:7:21: ", dir().join("extern.proto").display());
    assert!(text.starts_with(&expected_prefix), "{text}");
    assert!(
        text.contains("`units.Probe` cannot be named in Rust"),
        "{text}"
    );
    assert!(!text.contains("InvalidPath"), "{text}");
}
