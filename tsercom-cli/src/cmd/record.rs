//! `tsercom record`: dial producers that host a stream method and record
//! what they stream to an MCAP file, decoding nothing but the timestamp
//! (through the descriptors given).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message as _;
use prost_reflect::DescriptorPool;
use tsercom::CallerId;
use tsercom::data::{CallerInfo, ConnectionState};
use tsercom::record::{Compression, Kind, RawSource, RecordConfig, Recorder, Schema};

use crate::dial::Peer;
use crate::schema::{Shape, stream_method};
use crate::{CliResult, ctx};

/// Record what producers stream to an MCAP file.
///
/// Dials each `--peer` (a tsercom runtime that hosts the method, e.g. a
/// `#[tsercom::runtime(producer, listen = ...)]`), shakes hands, keeps its
/// clock offset, opens `--method` and records every message it streams:
/// one channel per producer, timestamps converted to this machine's clock
/// (the recording's timebase), the message's schema from `--descriptors`.
/// Ends after `--count` messages, after `--duration`, when every peer
/// ended its stream, or on Ctrl-C; the file is then finished (its index
/// written). A peer that drops is not redialed.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A producer to dial, `host:port` (repeat for several).
    #[arg(long = "peer", required = true, value_name = "HOST:PORT")]
    peers: Vec<String>,
    /// The stream method the producers host, `package.Service/Method`
    /// (e.g. `sensors.Sensor/Stream`).
    #[arg(long, value_name = "SERVICE/METHOD")]
    method: String,
    /// The encoded `FileDescriptorSet` describing the method and its
    /// messages (tsercom-build writes `file_descriptor_set.bin` in the
    /// build's OUT_DIR; `protoc --include_imports -o` makes one too).
    #[arg(long, value_name = "FILE")]
    descriptors: PathBuf,
    /// The MCAP file to write (with rotation: `<stem>-0000.mcap`, ...).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Stop after this many messages in all.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Start a new file after this many bytes.
    #[arg(long, value_name = "BYTES")]
    rotate_bytes: Option<u64>,
    /// Start a new file after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    rotate_seconds: Option<f64>,
    /// Chunk compression: a zstd level (1-22), or 0 for none.
    #[arg(long, default_value_t = 3, value_name = "LEVEL")]
    zstd: u32,
    /// The name recorded as the session's runtime.
    #[arg(long, default_value = "tsercom-record")]
    name: String,
}

fn seconds(s: f64, what: &str) -> CliResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(ctx(format!("{what} {s}")))
}

pub(crate) fn run(args: Args) -> CliResult {
    let bytes = std::fs::read(&args.descriptors)
        .map_err(ctx(format!("reading {}", args.descriptors.display())))?;
    let pool = DescriptorPool::decode(bytes.as_slice()).map_err(ctx(format!(
        "{} is not a FileDescriptorSet",
        args.descriptors.display()
    )))?;
    let method = stream_method(&pool, &args.method)?;
    let shape = Shape::new(method.method.output());
    let schema = Schema::new(&bytes, shape.message.full_name()).map_err(|e| e.to_string())?;
    let mut config = RecordConfig::new(&args.output, schema).compression(match args.zstd {
        0 => Compression::None,
        level => Compression::Zstd(level),
    });
    if let Some(b) = args.rotate_bytes {
        config = config.rotate_bytes(b);
    }
    if let Some(s) = args.rotate_seconds {
        config = config.rotate_every(seconds(s, "--rotate-seconds")?);
    }
    let deadline = args
        .duration
        .map(|s| seconds(s, "--duration"))
        .transpose()?;
    let (recorder, source) =
        Recorder::raw(config, &args.name, Kind::Data).map_err(|e| e.to_string())?;

    let rt = crate::runtime()?;
    let me = CallerId::random();
    let count = Arc::new(AtomicU64::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let outcome: CliResult = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for target in &args.peers {
            let peer = Peer::dial(target, me).await?;
            source.set_caller(CallerInfo {
                id: peer.id,
                state: ConnectionState::Connected,
                peer: Some(target.clone()),
                name: None,
                stored: 0,
                unread: 0,
                clock: peer.estimate(),
                duplicates_refused: 0,
            });
            let incoming = peer.open(&method.path, me, tokio_stream::pending()).await?;
            eprintln!("recording {} from {target} ({})", method.path, peer.id);
            tasks.spawn(relay(
                peer,
                incoming,
                shape.clone(),
                source.clone(),
                Arc::clone(&count),
                args.count,
                Arc::clone(&enough),
            ));
        }
        let all_ended = async {
            while let Some(ended) = tasks.join_next().await {
                match ended {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("tsercom: {e}"),
                    Err(e) => eprintln!("tsercom: a peer's task failed: {e}"),
                }
            }
        };
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = all_ended => eprintln!("every peer ended its stream"),
            () = timeout => {}
            () = enough.notified() => {}
            _ = tokio::signal::ctrl_c() => eprintln!("interrupted"),
        }
        Ok(())
    });
    // The peers' tasks end with the runtime; the recorder then writes what
    // it holds and finishes the file.
    drop(rt);
    drop(source);
    let stats = recorder.stop().map_err(|e| e.to_string())?;
    outcome?;
    let files: Vec<String> = stats
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    println!(
        "recorded {} messages ({} bytes encoded, {} bytes written, {} dropped) to {}",
        stats.written,
        stats.payload_bytes,
        stats.file_bytes,
        stats.dropped,
        files.join(", ")
    );
    Ok(())
}

/// Records one peer's stream: each message's timestamp converted to this
/// machine's clock (written back into the message, as a dialing runtime
/// does), or its arrival when it has none.
async fn relay(
    peer: Peer,
    mut incoming: tsercom::tonic::Streaming<Vec<u8>>,
    shape: Shape,
    source: RawSource,
    count: Arc<AtomicU64>,
    limit: Option<u64>,
    enough: Arc<tokio::sync::Notify>,
) -> CliResult {
    loop {
        let bytes = match incoming.message().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ok(()),
            Err(status) => return Err(format!("{}: {status}", peer.target)),
        };
        // Numbered before it is kept: with several peers, exactly `limit`.
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        if limit.is_some_and(|l| n > l) {
            return Ok(());
        }
        let mut message = shape.decode(&bytes)?;
        let time = match shape.timestamp(&message)? {
            Some(t) => peer.clock.to_local(t),
            None => peer.clock.local_now(),
        };
        shape.set_timestamp(&mut message, time)?;
        source.push(peer.id, time, message.encode_to_vec());
        if limit == Some(n) {
            enough.notify_one();
            return Ok(());
        }
    }
}
