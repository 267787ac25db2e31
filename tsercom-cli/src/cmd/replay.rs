//! `tsercom replay`: re-stream a recording to an aggregator that listens,
//! as a producer would.

use std::path::PathBuf;

use prost::Message as _;
use prost_reflect::DescriptorPool;
use tsercom::CallerId;
use tsercom::record::{Pace, Recording, Replay};

use crate::dial::Peer;
use crate::schema::{Shape, StreamMethod, methods_taking, stream_method};
use crate::{CliResult, ctx};

/// Re-stream a recording to an aggregator, as a producer would.
///
/// Dials `--to` (a tsercom runtime hosting a stream method whose request
/// is the recorded message, e.g. an aggregator with `listen = ...` and
/// `rpc Upload(stream Reading) returns (stream Command)`), shakes hands as
/// a producer, keeps the clock offset, and sends the recorded messages at
/// the recorded pace (or scaled, or as fast as possible), their timestamps
/// shifted to now (or kept) and converted to the aggregator's clock. The
/// messages' schema comes from the recording itself.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The recording's files (a rotated recording's parts in order).
    #[arg(required = true, value_name = "FILE.mcap")]
    files: Vec<PathBuf>,
    /// The aggregator to dial, `host:port`.
    #[arg(long, value_name = "HOST:PORT")]
    to: String,
    /// The method to call, `package.Service/Method`; by default the one
    /// bidirectional stream method of the recording's descriptors that
    /// takes the recorded message.
    #[arg(long, value_name = "SERVICE/METHOD")]
    method: Option<String>,
    /// `recorded`, `fast` (as fast as possible), or a speed factor (`2`:
    /// twice as fast).
    #[arg(long, default_value = "recorded")]
    pace: String,
    /// Start this many seconds after the recording's first message.
    #[arg(long, value_name = "SECONDS")]
    seek: Option<f64>,
    /// Only this producer's messages (a CallerId).
    #[arg(long, value_name = "CALLER_ID")]
    caller: Option<String>,
    /// Keep the recorded timestamps instead of shifting the first to now.
    #[arg(long)]
    original_times: bool,
}

fn pace(s: &str) -> CliResult<Pace> {
    match s {
        "recorded" => Ok(Pace::Recorded),
        "fast" => Ok(Pace::AsFastAsPossible),
        factor => match factor.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Pace::Scaled(f)),
            _ => Err(format!(
                "--pace {factor}: expected `recorded`, `fast` or a positive factor"
            )),
        },
    }
}

pub(crate) fn run(args: Args) -> CliResult {
    let pace = pace(&args.pace)?;
    let recording = Recording::open(&args.files).map_err(|e| e.to_string())?;
    let schema = recording
        .schema()
        .ok_or("the recording has no messages")?
        .clone();
    let pool =
        DescriptorPool::decode(schema.descriptor_set()).map_err(ctx("the recording's schema"))?;
    let method: StreamMethod = match &args.method {
        Some(m) => stream_method(&pool, m)?,
        None => {
            let mut fits = methods_taking(&pool, schema.name());
            if fits.len() != 1 {
                let names: Vec<&str> = fits.iter().map(|m| m.path.as_str()).collect();
                return Err(format!(
                    "{} stream methods take `{}` ({}); choose one with --method",
                    fits.len(),
                    schema.name(),
                    names.join(", ")
                ));
            }
            fits.remove(0)
        }
    };
    if method.method.input().full_name() != schema.name() {
        return Err(format!(
            "{} takes `{}`, the recording holds `{}`",
            method.path,
            method.method.input().full_name(),
            schema.name()
        ));
    }
    let shape = Shape::new(method.method.input());
    let mut replay = Replay::new(&recording).pace(pace);
    if let Some(s) = args.seek {
        let (first, _) = recording
            .time_range()
            .ok_or("the recording has no messages")?;
        let offset = std::time::Duration::try_from_secs_f64(s).map_err(ctx("--seek"))?;
        let at = first
            .offset_by_nanos(offset.as_nanos().try_into().map_err(ctx("--seek"))?)
            .map_err(|e| e.to_string())?;
        replay = replay.seek(at);
    }
    if let Some(c) = &args.caller {
        replay = replay.only([CallerId::parse(c).map_err(|e| e.to_string())?]);
    }

    let rt = crate::runtime()?;
    let me = CallerId::random();
    let peer = rt.block_on(Peer::dial(&args.to, me))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1024);
    let incoming = rt.block_on(peer.open(
        &method.path,
        me,
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))?;
    // What the aggregator sends back (events) is read and counted.
    let events = rt.spawn(async move {
        let mut incoming = incoming;
        let mut n = 0u64;
        while let Ok(Some(_)) = incoming.message().await {
            n += 1;
        }
        n
    });
    eprintln!("replaying to {} ({}) on {}", args.to, peer.id, method.path);
    let now = tsercom::Timestamp::now();
    let original = args.original_times;
    let stats = replay
        .each(|m, origin| {
            let mut message = shape.decode(&m.data).map_err(invalid)?;
            let time = if original {
                m.timestamp
            } else {
                now.offset_by_nanos(m.timestamp.nanos_since(&origin))?
            };
            // On the aggregator's clock, as a dialing producer sends.
            shape
                .set_timestamp(&mut message, peer.clock.to_timebase(time))
                .map_err(invalid)?;
            tx.blocking_send(message.encode_to_vec())
                .map_err(|_| tsercom::Error::Closed(format!("the stream to {}", args.to)))
        })
        .map_err(|e| e.to_string())?;
    // The request stream ends; the aggregator then ends its side.
    drop(tx);
    let events = rt
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(10), events).await })
        .ok()
        .and_then(Result::ok);
    println!(
        "replayed {} messages from {} producers to {} ({} skipped{})",
        stats.replayed,
        stats.callers,
        args.to,
        stats.skipped,
        events.map_or(String::new(), |n| format!(", {n} events back"))
    );
    Ok(())
}

fn invalid(reason: String) -> tsercom::Error {
    tsercom::Error::Invalid {
        what: "recorded message",
        reason,
    }
}
