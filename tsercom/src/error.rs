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

    /// Another process holds this identity file: two runtimes never share
    /// one CallerId (their data would merge into one series).
    #[error(
        "identity file {path} is in use by {} (one CallerId per running instance); \
         give each instance its own identity: set TSERCOM_INSTANCE to a distinct name per \
         instance (or TSERCOM_STATE_DIR to a distinct directory), or configure \
         Identity::PersistentAt / Identity::Fixed",
        pid.map_or_else(|| "another process".to_owned(), |p| format!("process {p}"))
    )]
    IdentityInUse {
        /// The identity file.
        path: PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },

    /// An identity file's path is not a regular file of sane size (a FIFO,
    /// a device, a directory, a dangling link): refused, never read or
    /// replaced.
    #[error("identity file {path}: {reason}")]
    IdentityFile {
        /// The path.
        path: PathBuf,
        /// What is there instead.
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

    /// An invalid argument or configuration value (an address, a name, a
    /// setting, an environment variable). What a peer, a file or the
    /// child process sent has its own variants below.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Discovery failed: the mDNS daemon, the DNS resolver, the loopback
    /// browser's socket.
    #[error("discovery ({what}): {source}")]
    Discovery {
        /// Which part (`mDNS daemon`, `DNS resolver`, a loopback socket
        /// step).
        what: &'static str,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A peer or the runtime's child process broke the protocol: a step
    /// skipped or answered wrongly (a handshake in another protocol
    /// version, a clock-sync reply that does not echo the request, an IPC
    /// frame over the size limit).
    #[error("{what}: {reason}")]
    Protocol {
        /// Which exchange.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Bytes that should hold a protobuf message do not decode (an IPC
    /// frame, a sample's payload, a recorded message).
    #[error("{what} does not decode: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// prost's reason.
        #[source]
        source: prost::DecodeError,
    },
    /// A value a peer sent was refused (e.g. a sample's timestamp out of
    /// range): counted in [`DataStats::refused`](crate::data::DataStats::refused),
    /// and the stream goes on.
    #[error(
        "{what} from {peer} refused (counted in DataStats::refused; the stream goes on): {source}"
    )]
    Refused {
        /// The peer.
        peer: crate::CallerId,
        /// What was refused.
        what: &'static str,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// Something expected did not happen in time.
    #[error("{what}: not within {after:?}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// How long it was awaited.
        after: std::time::Duration,
    },
    /// Out of process: the child process exited before it connected.
    #[error("the runtime's child process exited before connecting ({0})")]
    ChildExited(std::process::ExitStatus),
    /// A recording file is not a readable MCAP recording.
    #[error("recording {path}: {reason}")]
    Recording {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Sent to a peer the connector does not know (never discovered, or
    /// removed).
    #[error("no peer {0} is known")]
    UnknownPeer(String),

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
        /// The error itself, when it was one of this process (in process;
        /// out of process only the message crosses): match on it, e.g.
        /// [`Error::rpc_code`] of a refusal.
        #[source]
        source: Option<Box<Error>>,
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

    /// The transport refused a TLS configuration built from readable files
    /// (e.g. a certificate and a key that do not match).
    #[error("TLS {what}: {source}")]
    TlsConfig {
        /// Which configuration ("server configuration").
        what: &'static str,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },

    /// A peer answered a tsercom RPC with an error status (e.g. a handshake
    /// refused with `ALREADY_EXISTS`: another live process holds this
    /// CallerId).
    #[error("{what}: {:?}: {}", .status.code(), .status.message())]
    Rpc {
        /// Which call.
        what: &'static str,
        /// The peer's status.
        #[source]
        status: Box<tonic::Status>,
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

    /// A tensor, chunk or initializer was refused.
    #[error("tensor: {0}")]
    Tensor(#[from] crate::tensor::TensorError),

    /// A network socket could not be bound or used.
    #[error("{protocol} {addr}: {source}")]
    Socket {
        /// `tcp` or `udp`.
        protocol: &'static str,
        /// The address being bound, or the peer being talked to.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A thread, or the tokio runtime on one, could not be started.
    #[error("{what}: {source}")]
    Thread {
        /// Which one (e.g. `tokio runtime`).
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Out of process: starting the child process, or the socket to it,
    /// failed.
    #[error("{what}: {source}")]
    Ipc {
        /// What failed (`IPC socket`, `current executable`).
        what: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
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

impl Error {
    /// The tsercom error this one wraps: a runtime's failure
    /// ([`Error::Runtime`], in process) or what a refused value was refused
    /// for ([`Error::Refused`]). `std::error::Error::source` gives the same
    /// error boxed (`Box<Error>`); this is the one to match on.
    pub fn caused_by(&self) -> Option<&Error> {
        match self {
            Error::Runtime { source, .. } => source.as_deref(),
            Error::Refused { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The gRPC status code a peer answered with, when this is
    /// [`Error::Rpc`].
    pub fn rpc_code(&self) -> Option<tonic::Code> {
        match self {
            Error::Rpc { status, .. } => Some(status.code()),
            _ => None,
        }
    }

    /// Whether the peer refused us for who we are (our CallerId is held by
    /// another live process, not allowed, or our protocol version is not
    /// spoken): retrying will not help until something changes.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self.rpc_code(),
            Some(
                tonic::Code::AlreadyExists
                    | tonic::Code::PermissionDenied
                    | tonic::Code::Unauthenticated
                    | tonic::Code::FailedPrecondition
            )
        )
    }
}

/// `Result` with tsercom's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
