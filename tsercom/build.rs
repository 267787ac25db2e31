//! Generates `tsercom::proto` from `proto/tsercom/*.proto` (embedded in
//! tsercom-build) with the same pure-Rust pipeline users get.

fn main() {
    let result = tsercom_build::configure()
        .support_crate("crate")
        .compile_tsercom_types(true)
        .compile(
            &[
                "tsercom/caller_id.proto",
                "tsercom/time.proto",
                "tsercom/common.proto",
                "tsercom/tensor.proto",
                "tsercom/peer.proto",
                "tsercom/delivery.proto",
                "tsercom/ipc.proto",
            ],
            &[] as &[&str],
        );
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
