//! The recorder: a bounded queue fed by the tap, and a thread that writes
//! MCAP files from it.

use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::config::{Compression, RecordConfig, Rotation, Target};
use super::queue::RecordQueue;
use super::{CALLER_METADATA, Kind, PROFILE, SESSION_METADATA, topic};
use crate::caller_id::CallerId;
use crate::data::CallerInfo;
use crate::error::{Error, Result};
use crate::queue::QueueStats;
use crate::time::Timestamp;

/// One sample on its way to the file.
pub(crate) struct Entry<P> {
    pub(crate) caller: CallerId,
    pub(crate) time: Timestamp,
    pub(crate) arrival: Timestamp,
    pub(crate) payload: P,
}

/// What the writer thread encodes.
pub(crate) trait Payload: Send + 'static {
    fn encode_into(&self, buf: &mut Vec<u8>);
}

/// A message, encoded on the writer thread (the tap only clones it).
pub(crate) struct Msg<D>(pub(crate) D);

impl<D: prost::Message + Send + 'static> Payload for Msg<D> {
    fn encode_into(&self, buf: &mut Vec<u8>) {
        // Encoding into a Vec cannot run out of room.
        let _infallible = self.0.encode(buf);
    }
}

/// Bytes already encoded (a relay that never decodes).
pub(crate) struct Raw(pub(crate) Vec<u8>);

impl Payload for Raw {
    fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.0);
    }
}

/// Counters of one recorder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordStats {
    /// Samples taken into the recorder's queue.
    pub queued: u64,
    /// Samples dropped by the queue's policy because the writer was behind
    /// (ingestion went on).
    pub dropped: u64,
    /// Messages written to files.
    pub written: u64,
    /// Encoded message bytes written (before compression).
    pub payload_bytes: u64,
    /// File bytes written (after compression, with MCAP framing).
    pub file_bytes: u64,
    /// The files started, in order.
    pub files: Vec<PathBuf>,
    /// Why the writer stopped early, if it did (e.g. a full disk); samples
    /// arriving after that are dropped and counted.
    pub error: Option<String>,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    payload_bytes: AtomicU64,
    file_bytes: AtomicU64,
    files: Mutex<Vec<PathBuf>>,
    error: Mutex<Option<String>>,
}

/// A running recording; [`stop`](Self::stop) it (or drop it) to finish
/// the file. Started by `record` on a handle.
pub struct Recorder {
    counters: Arc<Counters>,
    queue_stats: Box<dyn Fn() -> QueueStats + Send + Sync>,
    close: Option<Box<dyn FnOnce() + Send + Sync>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Where the session's description comes from (the handle's callers).
pub(crate) type CallersFn = Arc<dyn Fn() -> Vec<CallerInfo> + Send + Sync>;

/// What a writer thread needs besides its queue.
pub(crate) struct Session {
    pub(crate) runtime: String,
    pub(crate) kind: Kind,
    pub(crate) callers: CallersFn,
    /// Told when the writer stops early (besides the log line and
    /// [`RecordStats::error`]).
    pub(crate) on_error: Option<ReportFn>,
}

/// Where a writer's failure is reported (e.g. a manager's error sink).
pub(crate) type ReportFn = Box<dyn Fn(Error) + Send + Sync>;

impl Recorder {
    /// Starts the writer thread on `queue`; `close` stops the feeding
    /// (detaches the tap) and closes the queue.
    pub(crate) fn spawn<P: Payload>(
        config: RecordConfig,
        session: Session,
        queue: Arc<RecordQueue<Entry<P>>>,
        close: Box<dyn FnOnce() + Send + Sync>,
    ) -> Result<Recorder> {
        config.check()?;
        let mut session = session;
        let on_error = session.on_error.take();
        let counters = Arc::new(Counters::default());
        // The first file is opened here, so a bad path fails `record`.
        let mut files = Files::new(config, session, Arc::clone(&counters))?;
        let first = files.open()?;
        let thread = {
            let queue = Arc::clone(&queue);
            let counters = Arc::clone(&counters);
            std::thread::Builder::new()
                .name("tsercom-recorder".into())
                .spawn(move || {
                    if let Err(e) = files.run(first, &queue) {
                        tracing::error!(error = %e, "recording stopped");
                        *counters.error.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(e.to_string());
                        if let Some(report) = on_error {
                            report(e);
                        }
                    }
                })
                .map_err(|e| Error::Thread {
                    what: "tsercom-recorder thread".into(),
                    source: e,
                })?
        };
        Ok(Recorder {
            counters,
            queue_stats: Box::new(move || queue.stats()),
            close: Some(close),
            thread: Some(thread),
        })
    }

    /// The recorder's counters so far.
    pub fn stats(&self) -> RecordStats {
        let q = (self.queue_stats)();
        let c = &self.counters;
        RecordStats {
            queued: q.pushed,
            dropped: q.dropped,
            written: c.written.load(Ordering::Relaxed),
            payload_bytes: c.payload_bytes.load(Ordering::Relaxed),
            file_bytes: c.file_bytes.load(Ordering::Relaxed),
            files: c.files.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            error: c.error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Stops recording: what is queued is written, the file finished (its
    /// summary and index written), and the counters returned.
    ///
    /// # Errors
    /// [`Error::Io`] when writing failed (the files keep what was written
    /// up to their last complete chunk).
    pub fn stop(mut self) -> Result<RecordStats> {
        self.finish();
        let stats = self.stats();
        match &stats.error {
            Some(reason) => Err(Error::Io {
                path: stats.files.last().cloned().unwrap_or_default(),
                source: std::io::Error::other(reason.clone()),
            }),
            None => Ok(stats),
        }
    }

    fn finish(&mut self) {
        if let Some(close) = self.close.take() {
            close();
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            *self
                .counters
                .error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some("the recorder thread panicked".into());
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Counts what reaches the file; positions are what the MCAP writer asks
/// for (it never seeks back: chunks are written whole).
struct Sink {
    inner: Box<dyn Write + Send>,
    pos: u64,
    /// `pos`, for the rotation check (the writer owns the sink).
    shared_pos: Arc<AtomicU64>,
    counters: Arc<Counters>,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        self.shared_pos.store(self.pos, Ordering::Relaxed);
        self.counters
            .file_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Seek for Sink {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        match pos {
            SeekFrom::Current(0) | SeekFrom::End(0) => Ok(self.pos),
            SeekFrom::Start(p) if p == self.pos => Ok(self.pos),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the recording sink is append-only",
            )),
        }
    }
}

/// One open file.
struct File {
    writer: mcap::Writer<Sink>,
    schema_id: u16,
    channels: HashMap<CallerId, (u16, u32)>,
    opened: Instant,
    bytes: Arc<AtomicU64>,
    messages: u64,
}

/// The sequence of files of one recording.
struct Files {
    config: RecordConfig,
    session: Session,
    counters: Arc<Counters>,
    index: u32,
    started: Timestamp,
    buf: Vec<u8>,
}

impl Files {
    fn new(config: RecordConfig, session: Session, counters: Arc<Counters>) -> Result<Files> {
        Ok(Files {
            config,
            session,
            counters,
            index: 0,
            started: Timestamp::now(),
            buf: Vec::new(),
        })
    }

    fn io_error(&self, e: impl std::fmt::Display) -> Error {
        let path = self
            .counters
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
            .unwrap_or_else(|| "<writer>".into());
        Error::Io {
            path,
            source: std::io::Error::other(e.to_string()),
        }
    }

    fn open(&mut self) -> Result<File> {
        let inner: Box<dyn Write + Send> = match &self.config.target {
            Target::Path(path) => {
                let path = RecordConfig::file_path(path, &self.config.rotation, self.index);
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                let file = std::fs::File::create(&path).map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?;
                self.counters
                    .files
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(path);
                Box::new(std::io::BufWriter::with_capacity(1 << 16, file))
            }
            Target::Writer(w) => w
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or(Error::WrongState("the recording writer was already used"))?,
        };
        let bytes = Arc::new(AtomicU64::new(0));
        let sink = Sink {
            inner,
            pos: 0,
            shared_pos: Arc::clone(&bytes),
            counters: Arc::clone(&self.counters),
        };
        let compression = match self.config.compression {
            Compression::Zstd(_) => Some(mcap::Compression::Zstd),
            Compression::None => None,
        };
        let level = match self.config.compression {
            Compression::Zstd(level) => level,
            Compression::None => 0,
        };
        let mut writer = mcap::WriteOptions::new()
            .profile(PROFILE)
            .library(format!("tsercom {}", env!("CARGO_PKG_VERSION")))
            .compression(compression)
            .compression_level(level)
            .chunk_size(Some(self.config.chunk_size))
            // Chunks are built in memory and written whole: a file cut
            // anywhere reads up to its last complete chunk.
            .disable_seeking(true)
            .create(sink)
            .map_err(|e| self.io_error(e))?;
        let schema = &self.config.schema;
        let schema_id = writer
            .add_schema(schema.name(), "protobuf", schema.descriptor_set())
            .map_err(|e| self.io_error(e))?;
        let session = BTreeMap::from([
            ("runtime".to_owned(), self.session.runtime.clone()),
            ("kind".to_owned(), self.session.kind.as_str().to_owned()),
            ("message".to_owned(), schema.name().to_owned()),
            (
                "started_unix_nanos".to_owned(),
                self.started.unix_nanos().to_string(),
            ),
            ("file_index".to_owned(), self.index.to_string()),
            (
                "timebase".to_owned(),
                "log_time: the sample's timestamp on the recording runtime's clock; \
                 publish_time: its arrival (this machine's clock); ns since the Unix epoch"
                    .to_owned(),
            ),
        ]);
        writer
            .write_metadata(&mcap::records::Metadata {
                name: SESSION_METADATA.into(),
                metadata: session,
            })
            .map_err(|e| self.io_error(e))?;
        for caller in (self.session.callers)() {
            writer
                .write_metadata(&caller_metadata(&caller))
                .map_err(|e| self.io_error(e))?;
        }
        // The header and metadata reach the file now: even a recording
        // killed before its first chunk is a readable (empty) MCAP file.
        writer.flush().map_err(|e| self.io_error(e))?;
        Ok(File {
            writer,
            schema_id,
            channels: HashMap::new(),
            opened: Instant::now(),
            bytes,
            messages: 0,
        })
    }

    fn run<P: Payload>(&mut self, mut file: File, queue: &RecordQueue<Entry<P>>) -> Result<()> {
        let flush_every = self.config.flush_interval;
        // How long the writer may leave samples queued: the flush interval,
        // at most 50 ms (a half-full queue wakes it sooner).
        let tick = flush_every.min(std::time::Duration::from_millis(50));
        let mut batch = std::collections::VecDeque::new();
        let mut dirty = false;
        let mut last_flush = Instant::now();
        loop {
            let alive = queue.take(&mut batch, tick);
            for entry in batch.drain(..) {
                self.write(&mut file, &entry)?;
                dirty = true;
                if self.rotation_due(&file) {
                    self.finish(file)?;
                    self.index += 1;
                    file = self.open()?;
                    dirty = false;
                }
            }
            if !alive {
                break;
            }
            if last_flush.elapsed() >= flush_every {
                if dirty {
                    file.writer.flush().map_err(|e| self.io_error(e))?;
                    dirty = false;
                }
                last_flush = Instant::now();
            }
            if self.rotation_due(&file) {
                self.finish(file)?;
                self.index += 1;
                file = self.open()?;
                dirty = false;
            }
        }
        self.finish(file)
    }

    fn rotation_due(&self, file: &File) -> bool {
        let Rotation {
            max_bytes,
            max_duration,
        } = self.config.rotation;
        if file.messages == 0 {
            return false; // an idle recording makes no empty files
        }
        // Bytes that reached the file (finished chunks): a file ends at
        // most one chunk beyond the limit.
        let bytes = file.bytes.load(Ordering::Relaxed);
        max_bytes.is_some_and(|m| bytes >= m)
            || max_duration.is_some_and(|d| file.opened.elapsed() >= d)
    }

    fn finish(&mut self, mut file: File) -> Result<()> {
        file.writer.finish().map_err(|e| self.io_error(e))?;
        let mut sink = file.writer.into_inner();
        sink.flush().map_err(|e| self.io_error(e))
    }

    fn write<P: Payload>(&mut self, file: &mut File, entry: &Entry<P>) -> Result<()> {
        let (channel_id, sequence) = match file.channels.get_mut(&entry.caller) {
            Some((id, seq)) => {
                *seq = seq.wrapping_add(1);
                (*id, *seq)
            }
            None => {
                let info = (self.session.callers)()
                    .into_iter()
                    .find(|c| c.id == entry.caller);
                let mut meta = BTreeMap::from([
                    ("caller_id".to_owned(), entry.caller.to_string()),
                    ("runtime".to_owned(), self.session.runtime.clone()),
                    ("kind".to_owned(), self.session.kind.as_str().to_owned()),
                ]);
                if let Some(peer) = info.as_ref().and_then(|i| i.peer.clone()) {
                    meta.insert("peer".into(), peer);
                }
                let id = file
                    .writer
                    .add_channel(
                        file.schema_id,
                        &topic(&self.session.runtime, self.session.kind, entry.caller),
                        "protobuf",
                        &meta,
                    )
                    .map_err(|e| self.io_error(e))?;
                let info = info.unwrap_or_else(|| unknown_caller(entry.caller));
                file.writer
                    .write_metadata(&caller_metadata(&info))
                    .map_err(|e| self.io_error(e))?;
                file.channels.insert(entry.caller, (id, 0));
                (id, 0)
            }
        };
        self.buf.clear();
        entry.payload.encode_into(&mut self.buf);
        file.writer
            .write_to_known_channel(
                &mcap::records::MessageHeader {
                    channel_id,
                    sequence,
                    log_time: unix_nanos_u64(entry.time),
                    publish_time: unix_nanos_u64(entry.arrival),
                },
                &self.buf,
            )
            .map_err(|e| self.io_error(e))?;
        file.messages += 1;
        self.counters.written.fetch_add(1, Ordering::Relaxed);
        self.counters
            .payload_bytes
            .fetch_add(self.buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

fn caller_metadata(c: &CallerInfo) -> mcap::records::Metadata {
    let mut m = BTreeMap::from([
        ("caller_id".to_owned(), c.id.to_string()),
        ("state".to_owned(), format!("{:?}", c.state)),
    ]);
    if let Some(peer) = &c.peer {
        m.insert("peer".into(), peer.clone());
    }
    if let Some(name) = &c.name {
        m.insert("name".into(), name.clone());
    }
    if let Some(clock) = &c.clock {
        m.insert("clock_offset_nanos".into(), clock.offset_nanos.to_string());
        m.insert("clock_delay_nanos".into(), clock.delay_nanos.to_string());
        m.insert("clock_samples".into(), clock.samples.to_string());
    }
    mcap::records::Metadata {
        name: CALLER_METADATA.into(),
        metadata: m,
    }
}

fn unknown_caller(id: CallerId) -> CallerInfo {
    CallerInfo {
        id,
        state: crate::data::ConnectionState::Connected,
        peer: None,
        name: None,
        stored: 0,
        unread: 0,
        clock: None,
        duplicates_refused: 0,
    }
}

/// Nanoseconds since the epoch as MCAP stores them (times before 1970: 0).
pub(crate) fn unix_nanos_u64(t: Timestamp) -> u64 {
    u64::try_from(t.unix_nanos().max(0)).unwrap_or(u64::MAX)
}
