//! tsercom's own `.proto` files, embedded so that user protos can import
//! them with no files copied and no include path set.

use protox::file::{File, FileResolver};

/// `(import name, source)` of every tsercom proto.
pub(crate) const TSERCOM_PROTOS: &[(&str, &str)] = &[
    (
        "tsercom/caller_id.proto",
        include_str!("../../proto/tsercom/caller_id.proto"),
    ),
    (
        "tsercom/time.proto",
        include_str!("../../proto/tsercom/time.proto"),
    ),
    (
        "tsercom/common.proto",
        include_str!("../../proto/tsercom/common.proto"),
    ),
    (
        "tsercom/tensor.proto",
        include_str!("../../proto/tsercom/tensor.proto"),
    ),
    (
        "tsercom/peer.proto",
        include_str!("../../proto/tsercom/peer.proto"),
    ),
    (
        "tsercom/delivery.proto",
        include_str!("../../proto/tsercom/delivery.proto"),
    ),
    (
        "tsercom/ipc.proto",
        include_str!("../../proto/tsercom/ipc.proto"),
    ),
];

/// The spellings the Python tsercom library uses (`import "time.proto";`).
/// Each resolves to a file that publicly re-imports the canonical one, so a
/// build that mixes both spellings still defines every type once.
const PYTHON_ALIASES: &[(&str, &str)] = &[
    ("caller_id.proto", "tsercom/caller_id.proto"),
    ("time.proto", "tsercom/time.proto"),
    ("common.proto", "tsercom/common.proto"),
    ("tensor.proto", "tsercom/tensor.proto"),
];

/// Names of every embedded file (canonical and alias).
pub(crate) fn is_embedded(name: &str) -> bool {
    TSERCOM_PROTOS.iter().any(|(n, _)| *n == name) || PYTHON_ALIASES.iter().any(|(n, _)| *n == name)
}

/// Resolves `tsercom/*.proto` and the Python aliases from memory.
#[derive(Debug, Default)]
pub(crate) struct EmbeddedResolver;

impl FileResolver for EmbeddedResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if let Some((_, source)) = TSERCOM_PROTOS.iter().find(|(n, _)| *n == name) {
            return File::from_source(name, source);
        }
        if let Some((_, target)) = PYTHON_ALIASES.iter().find(|(n, _)| *n == name) {
            let source = format!(
                "// Alias of {target} for protos written for the Python tsercom library.\n\
                 syntax = \"proto3\";\nimport public \"{target}\";\n"
            );
            return File::from_source(name, &source);
        }
        Err(protox::Error::file_not_found(name))
    }
}
