//! The subcommands, one module each.

pub(crate) mod browse;
pub(crate) mod info;
pub(crate) mod probe;
pub(crate) mod record;
pub(crate) mod replay;
pub(crate) mod top;
