//! Procedural macros for tsercom. Use them through the `tsercom` crate,
//! which re-exports them; this crate is an implementation detail.
//!
//! The `#[tsercom::runtime(...)]` attribute lands here (see the macros
//! issue); until then the crate exports nothing.
