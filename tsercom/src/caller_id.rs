//! `CallerId`: the identity of a data producer.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::proto;

/// Longest CallerId text accepted from a peer or a file, before parsing.
pub const MAX_CALLER_ID_LEN: usize = 256;

/// The identity of one data producer: a UUID.
///
/// On the wire it is `tsercom.CallerId { string id = 1; }` holding the
/// canonical hyphenated lower-case form, as the Python library writes it.
/// Parsing accepts the hyphenated form in either case and normalises to lower
/// case, so `CallerId -> proto -> CallerId` is always lossless and
/// `proto -> CallerId -> proto` is lossless for canonical text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallerId(Uuid);

impl CallerId {
    /// A new random (version 4) id.
    pub fn random() -> Self {
        CallerId(Uuid::new_v4())
    }

    /// Parses the hyphenated UUID form, e.g.
    /// `"67e55044-10b1-426f-9247-bb680e5fe0c8"`.
    ///
    /// # Errors
    /// [`Error::InvalidCallerId`] when the text is empty, longer than
    /// [`MAX_CALLER_ID_LEN`], or not a hyphenated UUID.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidCallerId {
            value: text.chars().take(300).collect(),
            reason,
        };
        if text.is_empty() {
            return Err(invalid("empty"));
        }
        if text.len() > MAX_CALLER_ID_LEN {
            return Err(invalid("longer than 256 characters"));
        }
        let bytes = text.as_bytes();
        let hyphenated = bytes.len() == 36 && [8, 13, 18, 23].iter().all(|&i| bytes[i] == b'-');
        if !hyphenated {
            return Err(invalid(
                "not a UUID in hyphenated form (8-4-4-4-12 hex digits)",
            ));
        }
        Uuid::try_parse(text)
            .map(CallerId)
            .map_err(|_| invalid("not a UUID in hyphenated form (8-4-4-4-12 hex digits)"))
    }

    /// Loads the id stored at `path`, or creates a random one there when
    /// nothing is (exactly once, even when several processes race: see
    /// [`identity_file`](crate::identity_file)). Parent directories are
    /// created. Does not lock the file; a runtime holds it with
    /// [`identity_file::acquire`](crate::identity_file::acquire).
    ///
    /// # Errors
    /// [`Error::CorruptCallerIdFile`] when the file exists but does not hold
    /// a valid id (it is never replaced), [`Error::IdentityFile`] when the
    /// path is not a regular file (a FIFO, a device, a dangling link) or is
    /// too long, [`Error::Io`] when it cannot be read or written.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self> {
        crate::identity_file::load_or_create(path.as_ref())
    }

    /// Where a producer named `name` keeps its id by default:
    /// `$TSERCOM_STATE_DIR/<file>` if that variable is set, else
    /// `$XDG_STATE_HOME/tsercom/<file>`, else
    /// `~/.local/state/tsercom/<file>`, where `<file>` is
    /// `<name>.caller_id`, or `<name>@<instance>.caller_id` when
    /// `TSERCOM_INSTANCE` is set (several instances of one program on one
    /// host, each with its own identity).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `name` or `TSERCOM_INSTANCE` is empty or not
    /// a plain file name, or when no home directory is known.
    pub fn default_path(name: &str) -> Result<PathBuf> {
        let plain = |name: &str| {
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
        };
        if !plain(name) {
            return Err(Error::Invalid {
                what: "caller id name",
                reason: format!("{name:?} is not a plain file name"),
            });
        }
        let file = match std::env::var("TSERCOM_INSTANCE") {
            Ok(instance) if plain(&instance) => format!("{name}@{instance}.caller_id"),
            Ok(instance) => {
                return Err(Error::Invalid {
                    what: "TSERCOM_INSTANCE",
                    reason: format!("{instance:?} is not a plain file name"),
                });
            }
            Err(_) => format!("{name}.caller_id"),
        };
        if let Some(dir) = std::env::var_os("TSERCOM_STATE_DIR").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join(file));
        }
        if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
            return Ok(PathBuf::from(dir).join("tsercom").join(file));
        }
        let home = std::env::var_os("HOME")
            .filter(|d| !d.is_empty())
            .ok_or(Error::Invalid {
                what: "state directory",
                reason: "none of TSERCOM_STATE_DIR, XDG_STATE_HOME or HOME is set".into(),
            })?;
        Ok(PathBuf::from(home).join(".local/state/tsercom").join(file))
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }

    /// The proto message for this id.
    pub fn to_proto(&self) -> proto::CallerId {
        proto::CallerId {
            id: self.to_string(),
        }
    }
}

impl From<Uuid> for CallerId {
    fn from(uuid: Uuid) -> Self {
        CallerId(uuid)
    }
}

impl FromStr for CallerId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        CallerId::parse(s)
    }
}

impl CallerId {
    /// The hyphenated text, as `to_string()` gives it, without the
    /// formatting machinery (once per sample on the IPC path).
    pub(crate) fn to_text(self) -> String {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.0.hyphenated().encode_lower(&mut buf).to_owned()
    }
}

impl fmt::Display for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallerId({})", self.0.hyphenated())
    }
}

impl From<CallerId> for proto::CallerId {
    fn from(id: CallerId) -> Self {
        id.to_proto()
    }
}

impl From<&CallerId> for proto::CallerId {
    fn from(id: &CallerId) -> Self {
        id.to_proto()
    }
}

impl TryFrom<&proto::CallerId> for CallerId {
    type Error = Error;
    fn try_from(p: &proto::CallerId) -> Result<Self> {
        CallerId::parse(&p.id)
    }
}

impl TryFrom<proto::CallerId> for CallerId {
    type Error = Error;
    fn try_from(p: proto::CallerId) -> Result<Self> {
        CallerId::parse(&p.id)
    }
}

/// A message with a `tsercom.CallerId` field. `tsercom-build` implements it
/// for every message that has one, whatever the field is called, so the
/// runtime can read and attach CallerIds generically.
pub trait HasCallerId {
    /// The proto name of the wired field.
    const CALLER_ID_FIELD: &'static str;

    /// The raw field.
    fn caller_id_field(&self) -> Option<&proto::CallerId>;

    /// The raw field, mutable.
    fn caller_id_field_mut(&mut self) -> &mut Option<proto::CallerId>;

    /// The id, parsed: `Ok(None)` when the field is unset.
    ///
    /// # Errors
    /// [`Error::InvalidCallerId`] when the field holds an invalid id.
    fn caller_id(&self) -> Result<Option<CallerId>> {
        self.caller_id_field().map(CallerId::try_from).transpose()
    }

    /// Sets the field to `id`.
    fn set_caller_id(&mut self, id: CallerId) {
        *self.caller_id_field_mut() = Some(id.to_proto());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn parse_accepts_canonical_and_round_trips() {
        let text = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let id = CallerId::parse(text).expect("valid");
        assert_eq!(id.to_string(), text);
        assert_eq!(id.to_text(), text);
        let proto = id.to_proto();
        assert_eq!(proto.id, text);
        assert_eq!(CallerId::try_from(&proto).expect("valid"), id);
    }

    #[test]
    fn parse_normalises_upper_case() {
        let id = CallerId::parse("67E55044-10B1-426F-9247-BB680E5FE0C8").expect("valid");
        assert_eq!(id.to_string(), "67e55044-10b1-426f-9247-bb680e5fe0c8");
        assert_eq!(id.to_text(), id.to_string());
    }

    #[test]
    fn parse_rejects_with_reasons() {
        let reason = |text: &str| match CallerId::parse(text) {
            Err(Error::InvalidCallerId { reason, .. }) => reason,
            other => panic!("expected an invalid caller id for {text:?}, got {other:?}"),
        };
        assert_eq!(reason(""), "empty");
        assert_eq!(reason(&"a".repeat(257)), "longer than 256 characters");
        assert!(reason("not-a-uuid").contains("not a UUID"));
        assert!(reason("67e5504410b1426f9247bb680e5fe0c8").contains("not a UUID"));
        assert!(reason("67e55044-10b1-426f-9247-bb680e5fe0cz").contains("not a UUID"));
        assert!(reason("67e55044-10b1-426f-9247-bb680e5fe0c8 ").contains("not a UUID"));
    }

    #[test]
    fn error_message_names_value_and_reason() {
        let err = CallerId::parse("xyz").expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("\"xyz\"") && text.contains("not a UUID"),
            "{text}"
        );
    }

    #[test]
    fn load_or_create_persists_and_reports_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/dir/producer.caller_id");
        let first = CallerId::load_or_create(&path).expect("created");
        let second = CallerId::load_or_create(&path).expect("loaded");
        assert_eq!(first, second);
        assert_eq!(
            fs::read_to_string(&path).expect("file"),
            format!("{first}\n")
        );

        fs::write(&path, "definitely not a uuid").expect("corrupt it");
        let err = CallerId::load_or_create(&path).expect_err("corrupt");
        assert!(matches!(err, Error::CorruptCallerIdFile { .. }), "{err}");
        assert!(err.to_string().contains("producer.caller_id"), "{err}");
        // Never silently replaced.
        assert_eq!(
            fs::read_to_string(&path).expect("file"),
            "definitely not a uuid"
        );

        fs::write(&path, [0xff, 0xfe]).expect("binary");
        assert!(matches!(
            CallerId::load_or_create(&path),
            Err(Error::CorruptCallerIdFile { .. })
        ));
    }

    #[test]
    fn default_path_rejects_non_file_names() {
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(CallerId::default_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_ids_differ_and_parse() {
        let a = CallerId::random();
        let b = CallerId::random();
        assert_ne!(a, b);
        assert_eq!(CallerId::parse(&a.to_string()).expect("valid"), a);
    }
}
