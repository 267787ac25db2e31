//! Compiles the test protos exactly as a user crate would.

fn main() {
    tsercom_build::configure()
        // `Envelope` has two ServerTimestamp fields: pick one.
        .timestamp_field("sensors.Envelope", "sent")
        .compile(
            &[
                "proto/sensors.proto",
                "proto/legacy.proto",
                "proto/tensors.proto",
            ],
            &["proto"],
        )
        .expect("compile protos");
}
