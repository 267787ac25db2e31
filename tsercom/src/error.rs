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
