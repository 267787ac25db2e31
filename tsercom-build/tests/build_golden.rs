//! Golden files for the whole files tsercom-build generates: prost's
//! messages, tonic's clients and servers, the field wiring and the service
//! descriptors, exactly as written to `OUT_DIR`.
//!
//! A mismatch fails the test. After a deliberate change, regenerate them
//! with
//!
//! ```text
//! TSERCOM_BLESS=1 cargo test -p tsercom-build --test build_golden
//! ```
//!
//! and review the change with `git diff tsercom-build/tests/golden`.

use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("TSERCOM_BLESS").is_some_and(|v| v != "0") {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} does not match the generated code (first difference at line {}):\n  expected: {:?}\n  actual:   {:?}\n\
             if the change is intended, run `TSERCOM_BLESS=1 cargo test -p tsercom-build --test build_golden` \
             and review `git diff {}`",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end of file>"),
            actual.lines().nth(line).unwrap_or("<end of file>"),
            path.display()
        );
    }
}

fn generated(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).expect("generated file")
}

/// The prost/tonic code reaches its crates only through `__private`.
fn assert_no_bare_crate_paths(generated: &str) {
    for line in generated.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for bare in ["::prost::", " prost::", "tonic::", "::prost_types::"] {
            if code.contains(bare) {
                assert!(
                    code.contains(&format!(
                        "__private::{}",
                        bare.trim_start_matches(':').trim()
                    )),
                    "bare path {bare:?} in generated line: {line}"
                );
            }
        }
    }
}

#[test]
fn representative_proto_whole_output() {
    let out = tempfile::tempdir().expect("tempdir");
    let compiled = tsercom_build::configure()
        .out_dir(out.path())
        .compile(&["full.proto"], &[fixtures().join("full")])
        .expect("compiles");
    let full = generated(out.path(), "golden.full.rs");
    check_golden("full.rs", &full);
    check_golden("full_units.rs", &generated(out.path(), "golden.units.rs"));
    assert_no_bare_crate_paths(&full);
    assert_eq!(
        compiled.wired_fields(),
        [
            "golden.full.Command.timestamp: Timestamped",
            "golden.full.Reading.caller: HasCallerId",
            "golden.full.Reading.timestamp: Timestamped",
        ]
        .map(String::from)
    );
}

#[test]
fn representative_proto_server_only_renamed_support_crate() {
    let out = tempfile::tempdir().expect("tempdir");
    tsercom_build::configure()
        .out_dir(out.path())
        .support_crate("::my_tsercom")
        .build_client(false)
        .compile(&["full.proto"], &[fixtures().join("full")])
        .expect("compiles");
    let full = generated(out.path(), "golden.full.rs");
    check_golden("full_server_renamed.rs", &full);
    assert!(!full.contains("::tsercom::"));
    assert!(!full.contains("sensor_client"));
}

#[test]
fn wiring_for_default_support_crate() {
    let out = tempfile::tempdir().expect("tempdir");
    let compiled = tsercom_build::configure()
        .out_dir(out.path())
        .timestamp_field("golden.v1.Pair", "second")
        .compile(&["wiring.proto"], &[fixtures()])
        .expect("compiles");
    let generated = generated(out.path(), "golden.v1.rs");
    check_golden("wiring_default.rs", &generated);
    assert_eq!(
        compiled.wired_fields(),
        [
            "golden.v1.Outer.Inner.Deepest.who: HasCallerId",
            "golden.v1.Outer.Inner.at: Timestamped",
            "golden.v1.Pair.second: Timestamped",
            "golden.v1.Sample.caller: HasCallerId",
            "golden.v1.Sample.timestamp: Timestamped",
            "golden.v1.snake_named.self: Timestamped",
        ]
        .map(String::from)
    );
    assert_no_bare_crate_paths(&generated);
}

#[test]
fn wiring_for_renamed_support_crate() {
    let out = tempfile::tempdir().expect("tempdir");
    tsercom_build::configure()
        .out_dir(out.path())
        .support_crate("::my_tsercom")
        .timestamp_field("golden.v1.Pair", "first")
        .compile(&["wiring.proto"], &[fixtures()])
        .expect("compiles");
    let generated = generated(out.path(), "golden.v1.rs");
    check_golden("wiring_renamed.rs", &generated);
    assert!(generated.contains("::my_tsercom::proto::ServerTimestamp"));
    assert!(!generated.contains("::tsercom::"));
}

#[test]
fn files_read_are_every_proto_on_disk() {
    let out = tempfile::tempdir().expect("tempdir");
    let compiled = tsercom_build::configure()
        .out_dir(out.path())
        .timestamp_field("golden.v1.Pair", "first")
        .compile(&["wiring.proto"], &[fixtures()])
        .expect("compiles");
    assert_eq!(compiled.files_read(), [fixtures().join("wiring.proto")]);
}
