//! Test crate: the generated code of `proto/sensors.proto` and
//! `proto/legacy.proto`, included as a user would.

tsercom::include_proto!("sensors");

/// The package written with the Python library's import spellings.
pub mod legacy {
    tsercom::include_proto!("legacy");
}
