//! [`BoxFuture`]: the one boxed-future alias, in a leaf module that
//! `runtime`, `discovery`, `rpc` and `service` all import without
//! importing each other. Public as `tsercom::runtime::BoxFuture`.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, as [`Runtime`](crate::runtime::Runtime)
/// methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
