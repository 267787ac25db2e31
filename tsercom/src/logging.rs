//! Logging in one line: `tsercom::logging::init()` prints tsercom's
//! lifecycle events (serving, connected, disconnected and why, peer
//! unreachable, duplicate refused, samples refused, data forgotten) to
//! stderr, honouring `RUST_LOG` (e.g. `RUST_LOG=tsercom=debug`). Without
//! `RUST_LOG`: INFO for tsercom and your crate, WARN for the HTTP/2, gRPC,
//! TLS and mDNS libraries underneath, so their internals stay out of INFO.
//!
//! tsercom logs through [`tracing`], re-exported as [`tsercom::tracing`](crate::tracing):
//! your own `tracing::info!` lines go to the same place.

/// The filter when `RUST_LOG` is not set.
pub const DEFAULT_FILTER: &str = "info,h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn,rustls=warn,mdns_sd=warn,hickory_proto=warn,hickory_resolver=warn";

/// Turns logging on (stderr, `RUST_LOG` or [`DEFAULT_FILTER`]); does
/// nothing when a global subscriber is already set (yours wins).
pub fn init() {
    let _ = try_init();
}

/// As [`init`], saying whether it took effect.
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) when `RUST_LOG` does not
/// parse, or a global subscriber is already set.
pub fn try_init() -> crate::Result<()> {
    use std::io::IsTerminal;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => tracing_subscriber::EnvFilter::try_new(&spec)
            .map_err(|e| crate::Error::Invalid {
                what: "RUST_LOG",
                reason: format!("{spec:?}: {e}"),
            })?,
        _ => tracing_subscriber::EnvFilter::new(DEFAULT_FILTER),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init()
        .map_err(|e| crate::Error::Invalid {
            what: "logging",
            reason: e.to_string(),
        })
}
