//! Compiles `proto/core.proto` as a user crate would.

fn main() {
    tsercom_build::configure()
        .compile(&["proto/core.proto"], &["proto"])
        .expect("compile protos");
}
