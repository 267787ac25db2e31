//! Test crate: the code generated for `proto/core.proto`, whose message,
//! service, field and package names collide with Rust's prelude and
//! keywords, included as a user would.

/// The proto package `core`.
pub mod core {
    tsercom::include_proto!("core");
}

/// The same package included where the user's module shadows prelude
/// traits and declares `core`, `std` and `tsercom` modules: the generated
/// code names none of them. (The values `Some`, `None`, `Ok` are not
/// shadowed here: prost-derive's own expansion names them bare.)
#[allow(dead_code)] // the shadowing items are the point
pub mod shadowed {
    mod core {}
    mod std {}
    mod tsercom {}
    trait Send {}
    trait Sync {}
    trait Clone {}
    trait Into {}

    ::tsercom::include_proto!("core");
}
