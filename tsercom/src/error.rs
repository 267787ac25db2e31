//! The one error type of tsercom.

use std::path::PathBuf;

/// Everything that can go wrong in tsercom.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A CallerId string is not acceptable.
    #[error("invalid caller id {value:?}: {reason}")]
    InvalidCallerId {
        /// The offending text (truncated to 300 characters).
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// A timestamp lies outside the range protobuf timestamps can represent
    /// (0001-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999999Z), or has
    /// nanoseconds outside `0..1_000_000_000`.
    #[error(
        "timestamp out of range: seconds = {seconds}, nanos = {nanos} (valid: seconds in \
         -62135596800..=253402300799, nanos in 0..=999999999)"
    )]
    TimestampOutOfRange {
        /// Seconds since the Unix epoch, as given.
        seconds: i128,
        /// Nanoseconds, as given.
        nanos: i64,
    },

    /// A required field of a message is not set.
    #[error("message `{message}` has no `{field}`")]
    MissingField {
        /// The proto message name.
        message: &'static str,
        /// The missing field.
        field: &'static str,
    },

    /// A stored CallerId file exists but does not hold a valid id. It is
    /// never silently replaced: delete it to get a new identity.
    #[error("caller id file {path} is corrupt: {reason}")]
    CorruptCallerIdFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A bounded queue is full and its policy is
    /// [`OverflowPolicy::Error`](crate::OverflowPolicy::Error).
    #[error("queue `{queue}` is full (capacity {capacity})")]
    QueueFull {
        /// Which queue.
        queue: String,
        /// Its capacity.
        capacity: usize,
    },

    /// A queue or channel was closed because its other end stopped.
    #[error("`{0}` is closed")]
    Closed(String),

    /// An event was addressed to a caller that is not registered.
    #[error("no caller {0} is registered")]
    UnknownCaller(crate::CallerId),

    /// An invalid argument or configuration value.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },

    /// The manager is in the wrong state for the call (e.g. `register`
    /// after start, starting twice).
    #[error("{0}")]
    WrongState(&'static str),

    /// A runtime failed; `runtime` names it.
    #[error("runtime `{runtime}`: {message}")]
    Runtime {
        /// The runtime's name.
        runtime: String,
        /// What happened (its error, or its panic message).
        message: String,
    },

    /// One or more runtimes failed; every failure since the last check.
    #[error("{} runtime error(s): {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Runtimes(Vec<Error>),

    /// A certificate or key file is missing, unreadable or malformed, or a
    /// TLS configuration is refused.
    #[error("TLS {what} {path}: {reason}")]
    Tls {
        /// What the file should hold ("certificate", "private key", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// Connecting to a peer failed.
    #[error("connecting to {target}: {reason}")]
    Connect {
        /// Where.
        target: String,
        /// Why (the transport's message).
        reason: String,
    },

    /// An SNTP reply arrived and was rejected (RFC 4330 §5, or the
    /// [`SntpMode`](crate::time::sntp::SntpMode) asked for).
    #[error("SNTP reply from {from} rejected: {reason}")]
    SntpRejected {
        /// The server.
        from: std::net::SocketAddr,
        /// Why.
        reason: crate::time::sntp::SntpRejection,
    },

    /// No SNTP reply at all (not even a rejected one) within the timeout.
    #[error("no SNTP reply from {server} within {waited:?}")]
    SntpNoReply {
        /// The server.
        server: std::net::SocketAddr,
        /// How long the client waited.
        waited: std::time::Duration,
    },

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with tsercom's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
