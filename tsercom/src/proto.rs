//! tsercom's wire messages, generated at build time from `proto/tsercom/`
//! (package `tsercom`; same message names and field numbers as the Python
//! tsercom library, so the two interoperate).

include!(concat!(env!("OUT_DIR"), "/tsercom.rs"));
