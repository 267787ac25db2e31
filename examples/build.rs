//! Compiles the examples' protos.

fn main() {
    tsercom_build::configure()
        .compile(&["proto/sensors.proto"], &["proto"])
        .expect("compile protos");
}
