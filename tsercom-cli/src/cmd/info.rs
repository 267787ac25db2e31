//! `tsercom info`: what a recording holds.

use std::collections::BTreeMap;
use std::path::PathBuf;

use tsercom::Timestamp;
use tsercom::record::Recording;

use crate::{CliResult, ctx};

/// Describe recordings: session, schema, time range, channels (one per
/// producer) with their message counts, the producers' addresses and clock
/// offsets, chunks and compression. A file cut short (a crash) is read up
/// to its last complete chunk and shown as truncated.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The recording's files (a rotated recording's parts in order).
    #[arg(required = true, value_name = "FILE.mcap")]
    files: Vec<PathBuf>,
}

fn time(t: Timestamp) -> String {
    format!("{t} ({} ns)", t.unix_nanos())
}

pub(crate) fn run(args: &Args) -> CliResult {
    let recording = Recording::open(&args.files).map_err(|e| e.to_string())?;
    for file in recording.files() {
        let buf = std::fs::read(file).map_err(ctx(file.display()))?;
        let state = if recording.truncated().contains(file) {
            "truncated (read up to its last complete chunk)".to_owned()
        } else {
            "complete".to_owned()
        };
        println!(
            "file:        {} ({} bytes, {state})",
            file.display(),
            buf.len()
        );
        if let Ok(Some(summary)) = mcap::Summary::read(&buf) {
            let compressed: u64 = summary
                .chunk_indexes
                .iter()
                .map(|c| c.compressed_size)
                .sum();
            let uncompressed: u64 = summary
                .chunk_indexes
                .iter()
                .map(|c| c.uncompressed_size)
                .sum();
            let mut compressions: Vec<&str> = summary
                .chunk_indexes
                .iter()
                .map(|c| {
                    if c.compression.is_empty() {
                        "none"
                    } else {
                        c.compression.as_str()
                    }
                })
                .collect();
            compressions.sort_unstable();
            compressions.dedup();
            #[allow(clippy::cast_precision_loss)] // a ratio for display
            let ratio = if compressed > 0 {
                uncompressed as f64 / compressed as f64
            } else {
                1.0
            };
            println!(
                "  chunks:    {} ({}; {uncompressed} bytes in {compressed}, ratio {ratio:.2})",
                summary.chunk_indexes.len(),
                compressions.join(", ")
            );
        }
    }
    println!("runtime:     {}", recording.runtime().unwrap_or("?"));
    println!(
        "kind:        {}",
        recording.kind().map_or("?", tsercom::record::Kind::as_str)
    );
    match recording.schema() {
        Some(s) => println!(
            "schema:      {} (protobuf, {} byte descriptor set)",
            s.name(),
            s.descriptor_set().len()
        ),
        None => println!("schema:      (no messages)"),
    }
    println!("messages:    {}", recording.messages().len());
    if let Some((first, last)) = recording.time_range() {
        println!("start:       {}", time(first));
        println!("end:         {}", time(last));
        #[allow(clippy::cast_precision_loss)] // seconds for display
        let seconds = last.nanos_since(&first) as f64 / 1e9;
        println!("duration:    {seconds:.3} s");
    }
    let mut per_caller: BTreeMap<String, (u64, Option<Timestamp>, Option<Timestamp>)> =
        BTreeMap::new();
    for m in recording.messages() {
        let e = per_caller.entry(m.caller.to_string()).or_default();
        e.0 += 1;
        e.1 = Some(e.1.map_or(m.timestamp, |t| t.min(m.timestamp)));
        e.2 = Some(e.2.map_or(m.timestamp, |t| t.max(m.timestamp)));
    }
    println!("channels:    {}", per_caller.len());
    let runtime = recording.runtime().unwrap_or("?");
    let kind = recording.kind().map_or("?", tsercom::record::Kind::as_str);
    for (caller, (count, first, last)) in &per_caller {
        println!("  /{runtime}/{kind}/{caller}: {count} messages");
        if let (Some(first), Some(last)) = (first, last) {
            println!("    from {first} to {last}");
        }
        if let Some(c) = recording
            .callers()
            .iter()
            .find(|c| c.id.is_some_and(|id| id.to_string() == *caller))
        {
            if let Some(peer) = &c.peer {
                println!("    peer {peer}");
            }
            if let (Some(offset), Some(delay)) = (c.clock_offset_nanos, c.clock_delay_nanos) {
                println!("    clock offset {offset} ns (round trip {delay} ns)");
            }
        }
    }
    Ok(())
}
