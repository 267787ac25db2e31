//! Golden files for the wiring code tsercom-build generates.
//!
//! On a mismatch the golden file is rewritten with the new output and the
//! test fails: review the change with `git diff` and commit it if intended.

use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn check_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        std::fs::write(&path, actual).expect("rewrite golden file");
        panic!(
            "{} did not match the generated code; it has been rewritten: review `git diff {}` and commit it if the change is intended",
            path.display(),
            path.display()
        );
    }
}

fn wiring_section(generated: &str) -> &str {
    let (_, wiring) = generated
        .split_once(tsercom_build::WIRING_MARKER)
        .expect("generated file has a wiring section");
    wiring
}

#[test]
fn wiring_for_default_support_crate() {
    let out = tempfile::tempdir().expect("tempdir");
    let compiled = tsercom_build::configure()
        .out_dir(out.path())
        .timestamp_field("golden.v1.Pair", "second")
        .compile(&["wiring.proto"], &[fixtures()])
        .expect("compiles");
    let generated =
        std::fs::read_to_string(out.path().join("golden.v1.rs")).expect("generated file");
    check_golden("wiring_default.rs", wiring_section(&generated));
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
    // The prost/tonic part reaches its crates only through `__private`.
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
fn wiring_for_renamed_support_crate() {
    let out = tempfile::tempdir().expect("tempdir");
    tsercom_build::configure()
        .out_dir(out.path())
        .support_crate("::my_tsercom")
        .timestamp_field("golden.v1.Pair", "first")
        .compile(&["wiring.proto"], &[fixtures()])
        .expect("compiles");
    let generated =
        std::fs::read_to_string(out.path().join("golden.v1.rs")).expect("generated file");
    check_golden("wiring_renamed.rs", wiring_section(&generated));
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
