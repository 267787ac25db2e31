//! trybuild: what `#[tsercom::runtime]` accepts (compiled and run) and what
//! it refuses (compiled, the errors compared with the reviewed `.stderr`
//! files). `TRYBUILD=overwrite` rewrites them after a deliberate change.
//!
//! The cases live in this crate because they need generated protos: this is
//! the crate whose build.rs compiles `proto/sensors.proto` and
//! `proto/legacy.proto`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
