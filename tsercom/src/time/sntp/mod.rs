//! SNTP (RFC 5905 / RFC 4330) on UDP: a server that standard NTP clients
//! can measure offsets against, a client that checks replies as RFC 4330 §5
//! says (with an opt-in mode for Python tsercom's server), and
//! [`SntpClock`], a clock that follows a server in the background and can
//! be a runtime's clock.
//!
//! ```text
//!   client                      server
//!   T1 ── request (mode 3) ───▶ T2       strict:  originate = T1, receive = T2, transmit = T3
//!   T4 ◀──── reply (mode 4) ─── T3       Python tsercom: originate = 0, receive = T2,
//!                                          transmit = request bytes 28..36 (T1 in Python mode)
//!   strict:          offset = ((T2 - T1) + (T3 - T4)) / 2, delay = (T4 - T1) - (T3 - T2)
//!   Python tsercom:  offset = T2 - (T1 + T4) / 2,          delay = T4 - T1
//! ```
//!
//! Our server puts its clock in Receive and Transmit (the Python original
//! puts its time in Receive only and echoes request bytes 28..36, zero in
//! a standard request, as Transmit, so standard clients measure half of
//! the offset; see
//! [`SntpMode::PythonTsercom`] for reading it correctly). Every rejected
//! reply is an [`Error::SntpRejected`](crate::Error::SntpRejected) with an
//! [`SntpRejection`] saying why; only silence is
//! [`Error::SntpNoReply`](crate::Error::SntpNoReply). Ports are
//! configurable on both sides (default unprivileged: 123 needs root), and
//! every wait is bounded.

mod client;
mod clock;
mod packet;
mod server;

pub use client::{query, query_with};
pub use clock::{SntpClock, SntpConfig, SntpStatus};
pub use packet::{
    NTP_UNIX_OFFSET, NtpField, PACKET_LEN, SntpMode, SntpRejection, from_ntp, to_ntp,
};
pub use server::{SntpServer, SntpStats};

/// The default SNTP port of tsercom (unprivileged; standard NTP is 123).
pub const DEFAULT_SNTP_PORT: u16 = 12_123;
