//! Compiles the benchmark protos.

fn main() {
    tsercom_build::configure()
        .compile(&["proto/bench.proto"], &["proto"])
        .expect("compile protos");
}
