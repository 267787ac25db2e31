//! Reading recordings back: [`Recording`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::config::Schema;
use super::{CALLER_METADATA, Kind, SESSION_METADATA};
use crate::caller_id::CallerId;
use crate::error::{Error, Result};
use crate::time::Timestamp;

/// One recorded sample.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedMessage {
    /// Who sent it.
    pub caller: CallerId,
    /// Its timestamp on the recording runtime's timebase (`log_time`).
    pub timestamp: Timestamp,
    /// When it arrived at the recording handle (`publish_time`).
    pub arrival: Timestamp,
    /// Its sequence number in its channel (per file).
    pub sequence: u32,
    /// The encoded message.
    pub data: Vec<u8>,
}

/// A peer of the recorded session, from the metadata and the channels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedCaller {
    /// Its CallerId.
    pub id: Option<CallerId>,
    /// Its address when first seen.
    pub peer: Option<String>,
    /// Its runtime name, when it gave one.
    pub name: Option<String>,
    /// Its clock offset to the recording runtime when first seen (ns).
    pub clock_offset_nanos: Option<i128>,
    /// The round trip that offset was measured with (ns).
    pub clock_delay_nanos: Option<i128>,
    /// Messages recorded from it.
    pub messages: u64,
}

/// One or more recorded files (a rotated recording's parts), read whole:
/// the messages in timestamp order (equal timestamps in file order), the
/// peers, the schema. A file cut short (a crash) is read up to its last
/// complete chunk and listed in [`truncated`](Self::truncated).
#[derive(Clone, Debug)]
pub struct Recording {
    files: Vec<PathBuf>,
    truncated: Vec<PathBuf>,
    schema: Option<Schema>,
    runtime: Option<String>,
    kind: Option<Kind>,
    messages: Vec<RecordedMessage>,
    callers: Vec<RecordedCaller>,
    metadata: Vec<(String, BTreeMap<String, String>)>,
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Recording {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

impl Recording {
    /// Reads `files` (e.g. `["session.mcap"]`, or a rotated recording's
    /// parts in order).
    ///
    /// # Errors
    /// [`Error::Io`] for a file that cannot be read; [`Error::Recording`]
    /// for one that is not MCAP, a channel without a CallerId, or parts
    /// with different schemas.
    pub fn open<P: AsRef<Path>>(files: impl IntoIterator<Item = P>) -> Result<Recording> {
        let mut rec = Recording {
            files: Vec::new(),
            truncated: Vec::new(),
            schema: None,
            runtime: None,
            kind: None,
            messages: Vec::new(),
            callers: Vec::new(),
            metadata: Vec::new(),
        };
        let mut callers: HashMap<CallerId, RecordedCaller> = HashMap::new();
        for path in files {
            let path = path.as_ref();
            rec.read_file(path, &mut callers)?;
            rec.files.push(path.to_path_buf());
        }
        rec.messages.sort_by_key(|m| m.timestamp);
        let mut callers: Vec<RecordedCaller> = callers.into_values().collect();
        callers.sort_by_key(|c| c.id);
        rec.callers = callers;
        Ok(rec)
    }

    fn read_file(
        &mut self,
        path: &Path,
        callers: &mut HashMap<CallerId, RecordedCaller>,
    ) -> Result<()> {
        let buf = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if !buf.starts_with(mcap::MAGIC) {
            return Err(invalid(
                path,
                "not an MCAP file (no MCAP magic at its start)",
            ));
        }
        let complete = buf.len() >= 2 * mcap::MAGIC.len() && buf.ends_with(mcap::MAGIC);

        // Top-level records: metadata.
        let records = mcap::read::LinearReader::new_with_options(
            &buf,
            mcap::read::Options::IgnoreEndMagic.into(),
        )
        .map_err(|e| invalid(path, e))?;
        for record in records {
            let Ok(record) = record else { break };
            if let mcap::records::Record::Metadata(m) = record {
                if m.name == SESSION_METADATA {
                    if let Some(r) = m.metadata.get("runtime") {
                        self.runtime.get_or_insert_with(|| r.clone());
                    }
                    if let Some(k) = m.metadata.get("kind").and_then(|k| Kind::parse(k)) {
                        self.kind.get_or_insert(k);
                    }
                } else if m.name == CALLER_METADATA
                    && let Some(id) = m
                        .metadata
                        .get("caller_id")
                        .and_then(|s| CallerId::parse(s).ok())
                {
                    let c = callers.entry(id).or_insert_with(|| RecordedCaller {
                        id: Some(id),
                        ..RecordedCaller::default()
                    });
                    if c.peer.is_none() {
                        c.peer = m.metadata.get("peer").cloned();
                    }
                    if c.name.is_none() {
                        c.name = m.metadata.get("name").cloned();
                    }
                    if c.clock_offset_nanos.is_none() {
                        c.clock_offset_nanos = m
                            .metadata
                            .get("clock_offset_nanos")
                            .and_then(|s| s.parse().ok());
                        c.clock_delay_nanos = m
                            .metadata
                            .get("clock_delay_nanos")
                            .and_then(|s| s.parse().ok());
                    }
                }
                self.metadata.push((m.name, m.metadata));
            }
        }

        // Messages, through the chunks.
        let mut cut = !complete;
        let stream =
            mcap::MessageStream::new_with_options(&buf, mcap::read::Options::IgnoreEndMagic.into())
                .map_err(|e| invalid(path, e))?;
        let mut channel_callers: HashMap<u16, CallerId> = HashMap::new();
        for message in stream {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    if complete {
                        return Err(invalid(path, e));
                    }
                    cut = true;
                    break;
                }
            };
            let channel = &message.channel;
            let caller = match channel_callers.get(&channel.id) {
                Some(c) => *c,
                None => {
                    let id = channel
                        .metadata
                        .get("caller_id")
                        .map(String::as_str)
                        .or_else(|| channel.topic.rsplit('/').next())
                        .and_then(|s| CallerId::parse(s).ok())
                        .ok_or_else(|| {
                            invalid(
                                path,
                                format!("channel `{}` names no caller_id", channel.topic),
                            )
                        })?;
                    if let Some(s) = &channel.schema {
                        let schema = Schema::new(&s.data, &s.name)
                            .map_err(|e| invalid(path, format!("schema `{}`: {e}", s.name)))?;
                        match &self.schema {
                            None => self.schema = Some(schema),
                            Some(known) if known.name() != schema.name() => {
                                return Err(invalid(
                                    path,
                                    format!(
                                        "schema `{}` differs from `{}` of the earlier parts",
                                        schema.name(),
                                        known.name()
                                    ),
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                    let c = callers.entry(id).or_insert_with(|| RecordedCaller {
                        id: Some(id),
                        ..RecordedCaller::default()
                    });
                    if c.peer.is_none() {
                        c.peer = channel.metadata.get("peer").cloned();
                    }
                    channel_callers.insert(channel.id, id);
                    id
                }
            };
            let nanos = |n: u64| Timestamp::from_unix_nanos(i128::from(n));
            let timestamp = nanos(message.log_time).map_err(|e| invalid(path, e))?;
            let arrival = nanos(message.publish_time).map_err(|e| invalid(path, e))?;
            if let Some(c) = callers.get_mut(&caller) {
                c.messages += 1;
            }
            self.messages.push(RecordedMessage {
                caller,
                timestamp,
                arrival,
                sequence: message.sequence,
                data: message.data.into_owned(),
            });
        }
        if cut {
            self.truncated.push(path.to_path_buf());
        }
        Ok(())
    }

    /// The files read, in order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The files that were cut short (read up to their last complete
    /// chunk).
    pub fn truncated(&self) -> &[PathBuf] {
        &self.truncated
    }

    /// The messages' schema (`None` for a recording without messages).
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref()
    }

    /// The recorded runtime's name.
    pub fn runtime(&self) -> Option<&str> {
        self.runtime.as_deref()
    }

    /// Data (an aggregator's) or events (a producer's).
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// Every message, in timestamp order.
    pub fn messages(&self) -> &[RecordedMessage] {
        &self.messages
    }

    /// The peers, by CallerId.
    pub fn callers(&self) -> &[RecordedCaller] {
        &self.callers
    }

    /// Every metadata record (name, key/values), in file order.
    pub fn metadata(&self) -> &[(String, BTreeMap<String, String>)] {
        &self.metadata
    }

    /// The first and last timestamps.
    pub fn time_range(&self) -> Option<(Timestamp, Timestamp)> {
        Some((
            self.messages.first()?.timestamp,
            self.messages.last()?.timestamp,
        ))
    }

    /// Every message decoded as `D`, with its caller and timestamp.
    ///
    /// # Errors
    /// [`Error::Decode`] for a message that does not decode as `D`.
    pub fn decode<D: prost::Message + Default>(&self) -> Result<Vec<(CallerId, Timestamp, D)>> {
        self.messages
            .iter()
            .map(|m| Ok((m.caller, m.timestamp, decode(&m.data)?)))
            .collect()
    }
}

pub(crate) fn decode<D: prost::Message + Default>(data: &[u8]) -> Result<D> {
    D::decode(data).map_err(|source| Error::Decode {
        what: "recorded message",
        source,
    })
}
