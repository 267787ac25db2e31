//! The one error type of `tsercom-build`.

use std::fmt;
use std::path::PathBuf;

/// A place in a `.proto` file: the path as the build saw it and a 1-based
/// line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, as a filesystem path where one is known, else its import name.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What went wrong while compiling protos.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The proto compiler rejected a file: syntax error, unknown type,
    /// missing import, ...
    Proto,
    /// A message has two fields that could carry the CallerId or the
    /// timestamp and nothing says which one to wire.
    AmbiguousWiring,
    /// A builder setting names a message or field that does not exist, or
    /// that has the wrong type.
    InvalidSetting,
    /// Code generation or writing the output failed.
    Codegen,
    /// Reading or writing a file failed.
    Io,
}

/// An error from [`Builder::compile`](crate::Builder::compile).
///
/// Its `Display` (and `Debug`, so that `.expect(..)` in a build script prints
/// it readably) is `file:line:col: message` where a location is known.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    location: Option<Location>,
    message: String,
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        location: Option<Location>,
        message: impl Into<String>,
    ) -> Self {
        Error {
            kind,
            location,
            message: message.into(),
        }
    }

    /// The category of the error.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Where in a proto file the error is, when known.
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    /// The message, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{location}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl fmt::Debug for Error {
    // Debug is what `expect()` prints in a failing build script: keep it the
    // readable message rather than a struct dump.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
