//! Checking what a peer sent before it enters the data path: a bad
//! timestamp or CallerId is an `INVALID_ARGUMENT` status to that peer and a
//! log line — never a panic, never stored.

use tonic::Status;

use crate::caller_id::{CallerId, HasCallerId};
use crate::time::{Timestamp, Timestamped};

/// The message's timestamp, range-checked.
///
/// # Errors
/// `INVALID_ARGUMENT` naming the field when it is set but out of range.
pub fn checked_timestamp<M: Timestamped>(message: &M) -> Result<Option<Timestamp>, Status> {
    message.timestamp().map_err(|e| {
        tracing::warn!(field = M::TIMESTAMP_FIELD, error = %e, "rejected a message with a bad timestamp");
        Status::invalid_argument(format!("field `{}`: {e}", M::TIMESTAMP_FIELD))
    })
}

/// The message's CallerId, validated.
///
/// # Errors
/// `INVALID_ARGUMENT` naming the field when it is set but invalid.
pub fn checked_caller_id<M: HasCallerId>(message: &M) -> Result<Option<CallerId>, Status> {
    message.caller_id().map_err(|e| {
        tracing::warn!(field = M::CALLER_ID_FIELD, error = %e, "rejected a message with a bad caller id");
        Status::invalid_argument(format!("field `{}`: {e}", M::CALLER_ID_FIELD))
    })
}
