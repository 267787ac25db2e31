//! Out-of-process mode: the runtimes run in a child process (the same
//! executable, re-executed), talking to the parent over a Unix-domain socket
//! with length-delimited protobuf frames (`proto/tsercom/ipc.proto`).
//!
//! ```text
//!  parent (user's process)                         child (same executable)
//!  RuntimeManager::start_out_of_process()
//!    bind socket, spawn child ───────────────────▶ main() runs again up to
//!                                                 start_out_of_process(), which
//!                              ◀── Hello(names) ── connects and builds the runtimes
//!                              ◀── Caller/Data ─── Endpoint::register / push
//!  handle.send ─────── Event ──────────────────▶ Endpoint::next_event
//!                              ◀── Failure ─────── errors, panics
//!  shutdown() ───────── Shutdown ───────────────▶ stop() each runtime once
//!                              ◀── Stopped ─────── then exits
//! ```
//!
//! The child re-runs the program's `main` up to `start_out_of_process()`;
//! it must register the same runtimes in the same order (checked: a
//! mismatch is an error). Code before that point runs in both processes.
//!
//! Inside: `frame` (the framing), `sink` (a child runtime's data as
//! frames), `glue` (each runtime's typed queues on either side), `parent`
//! (spawn, supervise, shut down the child), `child` (the child's main).

mod child;
mod frame;
mod glue;
mod parent;
mod sink;

pub(crate) use child::{ChildLaunch, run_child};
pub use frame::{encode_frame, read_frame};
pub(crate) use glue::{ChildPart, ChildSide, ParentPart, ParentSide};
pub(crate) use parent::{ParentPlan, ParentProcess, shutdown_parent, start_parent};
pub(crate) use sink::IpcSink;

/// Set in the child's environment: the socket to connect to.
pub(crate) const SOCKET_ENV: &str = "TSERCOM_CHILD_SOCKET";
/// Frames queued for the socket writer (per direction); senders wait when
/// it is full (back-pressure, nothing dropped).
pub(crate) const IPC_QUEUE: usize = 4096;

/// How often the child says it is alive (`ipc.Heartbeat`).
pub(crate) const HEARTBEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// With no frame from the child for this long, the parent reports it not
/// responding (stopped, or its socket stalled or half-closed).
pub(crate) const HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
