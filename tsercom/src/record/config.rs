//! What a recording writes and where: [`Schema`], [`RecordConfig`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost::Message as _;

use crate::error::{Error, Result};
use crate::queue::{OverflowPolicy, QueueConfig};

/// A message type's schema: the encoded `FileDescriptorSet` that describes
/// it (imports included) and its full proto name.
#[derive(Clone, PartialEq, Eq)]
pub struct Schema {
    name: String,
    descriptor_set: Arc<[u8]>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.name)
            .field("descriptor_set_bytes", &self.descriptor_set.len())
            .finish()
    }
}

impl Schema {
    /// The schema of message `name` (e.g. `"sensors.Reading"`) in
    /// `descriptor_set` — for a crate's own protos,
    /// `tsercom::include_file_descriptor_set!()`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the bytes are not a `FileDescriptorSet` or
    /// do not describe `name`.
    pub fn new(descriptor_set: &[u8], name: &str) -> Result<Schema> {
        let set =
            prost_types::FileDescriptorSet::decode(descriptor_set).map_err(|e| Error::Invalid {
                what: "file descriptor set",
                reason: e.to_string(),
            })?;
        let name = name.trim_start_matches('.');
        if !describes(&set, name) {
            return Err(Error::Invalid {
                what: "schema",
                reason: format!("the file descriptor set has no message `{name}`"),
            });
        }
        Ok(Schema {
            name: name.to_owned(),
            descriptor_set: descriptor_set.into(),
        })
    }

    /// The message's full proto name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The encoded `FileDescriptorSet`.
    pub fn descriptor_set(&self) -> &[u8] {
        &self.descriptor_set
    }
}

fn describes(set: &prost_types::FileDescriptorSet, name: &str) -> bool {
    fn nested(prefix: &str, messages: &[prost_types::DescriptorProto], name: &str) -> bool {
        messages.iter().any(|m| {
            let full = if prefix.is_empty() {
                m.name().to_owned()
            } else {
                format!("{prefix}.{}", m.name())
            };
            full == name || nested(&full, &m.nested_type, name)
        })
    }
    set.file
        .iter()
        .any(|f| nested(f.package(), &f.message_type, name))
}

/// Chunk compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Zstandard at this level (1–22; 3 is zstd's default).
    Zstd(u32),
    /// Uncompressed chunks.
    None,
}

/// When to start a new file. Both limits may be set; the first reached
/// rotates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// Bytes per file (checked after each message; a file ends a chunk
    /// beyond it).
    pub max_bytes: Option<u64>,
    /// Wall-clock time per file.
    pub max_duration: Option<Duration>,
}

impl Rotation {
    pub(crate) fn is_on(&self) -> bool {
        self.max_bytes.is_some() || self.max_duration.is_some()
    }
}

pub(crate) enum Target {
    Path(PathBuf),
    Writer(Mutex<Option<Box<dyn Write + Send>>>),
}

/// Where and how to record; passed to `record` on a handle.
pub struct RecordConfig {
    pub(crate) target: Target,
    pub(crate) schema: Schema,
    pub(crate) compression: Compression,
    pub(crate) chunk_size: u64,
    pub(crate) flush_interval: Duration,
    pub(crate) rotation: Rotation,
    pub(crate) queue: QueueConfig,
}

impl std::fmt::Debug for RecordConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.target {
            Target::Path(p) => p.display().to_string(),
            Target::Writer(_) => "<writer>".to_owned(),
        };
        f.debug_struct("RecordConfig")
            .field("target", &target)
            .field("schema", &self.schema)
            .field("compression", &self.compression)
            .field("chunk_size", &self.chunk_size)
            .field("flush_interval", &self.flush_interval)
            .field("rotation", &self.rotation)
            .field("queue", &self.queue)
            .finish()
    }
}

impl RecordConfig {
    /// Recording to the file `path` (with rotation: `<stem>-0000.mcap`,
    /// … next to it) with `schema`; zstd level 3, 1 MiB chunks flushed at
    /// least every second, no rotation, a queue of 65 536 samples dropping
    /// the newest when full.
    pub fn new(path: impl AsRef<Path>, schema: Schema) -> Self {
        Self::with_target(Target::Path(path.as_ref().to_path_buf()), schema)
    }

    /// Recording into any writer (a pipe, a socket, memory) instead of a
    /// file; no rotation.
    pub fn to_writer(writer: impl Write + Send + 'static, schema: Schema) -> Self {
        Self::with_target(Target::Writer(Mutex::new(Some(Box::new(writer)))), schema)
    }

    fn with_target(target: Target, schema: Schema) -> Self {
        RecordConfig {
            target,
            schema,
            compression: Compression::Zstd(3),
            chunk_size: 1 << 20,
            flush_interval: Duration::from_secs(1),
            rotation: Rotation::default(),
            queue: QueueConfig::new(65_536, OverflowPolicy::DropNewest),
        }
    }

    /// With this chunk compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// With chunks of about this many (uncompressed) bytes.
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }

    /// Ends the current chunk and flushes the file at least this often
    /// (what a crash can lose).
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Starts a new file after this many bytes.
    pub fn rotate_bytes(mut self, bytes: u64) -> Self {
        self.rotation.max_bytes = Some(bytes.max(1));
        self
    }

    /// Starts a new file after this long.
    pub fn rotate_every(mut self, duration: Duration) -> Self {
        self.rotation.max_duration = Some(duration.max(Duration::from_millis(1)));
        self
    }

    /// With this queue between the tap and the writer. Its policy must
    /// not block ingestion: `DropNewest` or `DropOldest` (`Block` and
    /// `Error` are refused by `record`).
    pub fn queue(mut self, queue: QueueConfig) -> Self {
        self.queue = queue;
        self
    }

    /// The schema recorded.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub(crate) fn check(&self) -> Result<()> {
        if !matches!(
            self.queue.policy,
            OverflowPolicy::DropNewest | OverflowPolicy::DropOldest
        ) {
            return Err(Error::Invalid {
                what: "recording queue policy",
                reason: format!(
                    "{:?} would stall ingestion; use DropNewest or DropOldest",
                    self.queue.policy
                ),
            });
        }
        if self.queue.capacity == 0 {
            return Err(Error::Invalid {
                what: "recording queue",
                reason: "capacity 0".into(),
            });
        }
        if let Compression::Zstd(level) = self.compression
            && !(1..=22).contains(&level)
        {
            return Err(Error::Invalid {
                what: "zstd level",
                reason: format!("{level} is not in 1..=22"),
            });
        }
        if matches!(self.target, Target::Writer(_)) && self.rotation.is_on() {
            return Err(Error::Invalid {
                what: "recording",
                reason: "rotation needs a file path, not a writer".into(),
            });
        }
        Ok(())
    }

    /// The path of file `index` (rotation on) or the path itself.
    pub(crate) fn file_path(path: &Path, rotation: &Rotation, index: u32) -> PathBuf {
        if !rotation.is_on() {
            return path.to_path_buf();
        }
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into());
        let ext = path
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mcap".into());
        path.with_file_name(format!("{stem}-{index:04}.{ext}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_a_message_of_the_set() {
        let set = prost_types::FileDescriptorSet {
            file: vec![prost_types::FileDescriptorProto {
                name: Some("a.proto".into()),
                package: Some("pkg".into()),
                message_type: vec![prost_types::DescriptorProto {
                    name: Some("Outer".into()),
                    nested_type: vec![prost_types::DescriptorProto {
                        name: Some("Inner".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        assert!(Schema::new(&set, "pkg.Outer").is_ok());
        assert_eq!(
            Schema::new(&set, ".pkg.Outer.Inner")
                .expect("nested")
                .name(),
            "pkg.Outer.Inner"
        );
        assert!(Schema::new(&set, "pkg.Missing").is_err());
        assert!(Schema::new(b"\xff\xff", "pkg.Outer").is_err());
    }

    #[test]
    fn rotated_files_are_numbered_next_to_the_path() {
        let on = Rotation {
            max_bytes: Some(1),
            max_duration: None,
        };
        assert_eq!(
            RecordConfig::file_path(Path::new("/d/s.mcap"), &on, 3),
            Path::new("/d/s-0003.mcap")
        );
        assert_eq!(
            RecordConfig::file_path(Path::new("/d/s.mcap"), &Rotation::default(), 3),
            Path::new("/d/s.mcap")
        );
    }

    #[test]
    fn policies_that_would_stall_ingestion_are_refused() {
        let set = prost_types::FileDescriptorSet {
            file: vec![prost_types::FileDescriptorProto {
                package: Some("p".into()),
                message_type: vec![prost_types::DescriptorProto {
                    name: Some("M".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec();
        let schema = Schema::new(&set, "p.M").expect("schema");
        let blocking = RecordConfig::new("x.mcap", schema.clone())
            .queue(QueueConfig::new(8, OverflowPolicy::Block));
        assert!(blocking.check().is_err());
        assert!(RecordConfig::new("x.mcap", schema.clone()).check().is_ok());
        let rotating_writer = RecordConfig::to_writer(Vec::new(), schema).rotate_bytes(10);
        assert!(rotating_writer.check().is_err());
    }
}
