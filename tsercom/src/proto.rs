//! tsercom's wire messages, generated at build time from `proto/tsercom/`
//! (package `tsercom`; same message names and field numbers as the Python
//! tsercom library, so the two interoperate).

include!(concat!(env!("OUT_DIR"), "/tsercom.rs"));

/// Frames between a parent process and its runtime child process
/// (internal; not part of the Python wire format).
#[doc(hidden)]
pub mod ipc {
    include!(concat!(env!("OUT_DIR"), "/tsercom.ipc.rs"));
}
