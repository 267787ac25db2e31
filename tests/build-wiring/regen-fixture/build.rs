fn main() {
    tsercom_build::configure()
        .compile(&["proto/regen.proto"], &["proto"])
        .expect("compile protos");
}
