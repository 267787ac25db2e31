//! Test crate: the code generated for `proto/core.proto`, whose message,
//! service, field and package names collide with Rust's prelude and
//! keywords, included as a user would.

/// The proto package `core`.
pub mod core {
    tsercom::include_proto!("core");
}
