//! tsercom's wire messages, generated at build time from `proto/tsercom/`
//! (package `tsercom`; same message names and field numbers as the Python
//! tsercom library, so the two interoperate).

include!(concat!(env!("OUT_DIR"), "/tsercom.rs"));

/// The encoded descriptors of tsercom's protos (for server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = crate::include_file_descriptor_set!();

/// Frames between a parent process and its runtime child process
/// (internal; not part of the Python wire format).
#[doc(hidden)]
pub mod ipc {
    include!(concat!(env!("OUT_DIR"), "/tsercom.ipc.rs"));
}
