//! `record`: the handle path's ingest with recording off and on (MCAP,
//! zstd level 3 and uncompressed chunks): ingest samples/s, what the
//! recorder wrote and dropped, its sustained rate, MB/s written and the
//! compression ratio.
//!
//! `tap only` records into a writer that stalls until ingest is over: the
//! cost of the tap itself (a clone and a queue push per sample), with no
//! writer competing for the CPU.
//!
//! The workload is `handle`'s in-process flood (a runtime pushes samples —
//! a timestamp and 4 doubles, 50 bytes encoded — as fast as the store
//! takes them; the user's thread takes them): the tap's cost is the most
//! visible there (no network in the way). The recorder writes to a file in
//! the system's temporary directory; it keeps up or drops (counted), never
//! slowing ingest.

use std::time::{Duration, Instant};

use tsercom::RuntimeManager;
use tsercom::record::{Compression, Kind, RecordConfig, RecordStats, Schema};

use crate::handle::Flood;
use crate::{target_line, write_json};

/// One run of one mode.
struct Run {
    /// Ingest: samples/s until all were taken from the handle.
    ingest: f64,
    /// The recorder's counters (none with recording off).
    stats: Option<RecordStats>,
    /// From the start of ingest until the recorder finished its file.
    total: Duration,
    /// Chunk bytes before and after compression (from the file's index).
    chunks: (u64, u64),
}

/// What a run records to.
#[derive(Clone, Copy)]
enum Mode {
    Off,
    /// A file, with this compression.
    File(Compression),
    /// A writer that blocks until ingest is over (a stalled disk): the tap
    /// alone, everything past the queue dropped.
    Stalled,
}

/// A sink that discards; while shut, every write blocks.
#[derive(Clone, Default)]
struct Stall(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Stall {
    fn set_shut(&self, shut: bool) {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner()) = shut;
        self.0.1.notify_all();
    }
}

impl std::io::Write for Stall {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut shut = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        while *shut {
            shut = self.0.1.wait(shut).unwrap_or_else(|e| e.into_inner());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn flood(samples: u64, mode: Mode) -> tsercom::Result<Run> {
    let mut manager = RuntimeManager::new();
    let handle = manager.register(Flood { samples })?;
    manager.start_in_process()?;
    let path =
        std::env::temp_dir().join(format!("tsercom-bench-record-{}.mcap", std::process::id()));
    let schema = Schema::new(tsercom::include_file_descriptor_set!(), "bench.Sample")?;
    let stall = Stall::default();
    let recorder = match mode {
        Mode::File(compression) => Some(handle.record(
            RecordConfig::new(&path, schema).compression(compression),
            Kind::Data,
        )?),
        Mode::Stalled => Some(handle.record(
            RecordConfig::to_writer(stall.clone(), schema).compression(Compression::None),
            Kind::Data,
        )?),
        Mode::Off => None,
    };
    // The file's header is written (by `record`); the disk stalls now.
    stall.set_shut(matches!(mode, Mode::Stalled));
    crate::handle::wait_for_caller(&handle)?;
    let start = Instant::now();
    crate::handle::go_and_take(&handle, &manager, samples)?;
    let ingest = start.elapsed();
    stall.set_shut(false);
    let stats = recorder.map(tsercom::record::Recorder::stop).transpose()?;
    let total = start.elapsed();
    let mut chunks = (0, 0);
    if matches!(mode, Mode::File(_)) {
        let buf = std::fs::read(&path).map_err(|source| tsercom::Error::Io {
            path: path.clone(),
            source,
        })?;
        if let Ok(Some(summary)) = mcap::Summary::read(&buf) {
            for c in &summary.chunk_indexes {
                chunks.0 += c.uncompressed_size;
                chunks.1 += c.compressed_size;
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    manager.shutdown()?;
    Ok(Run {
        ingest: samples as f64 / ingest.as_secs_f64(),
        stats,
        total,
        chunks,
    })
}

/// Median, minimum and maximum of `v` (`quiet::Spread`).
fn spread(v: Vec<f64>) -> (f64, f64, f64) {
    let s = crate::quiet::Spread::of(v);
    (s.median, s.min, s.max)
}

pub(crate) fn run(samples: u64, runs: usize, json_path: Option<&str>) -> tsercom::Result<()> {
    let runs = runs.max(1);
    let modes: [(&str, Mode); 4] = [
        ("off", Mode::Off),
        ("zstd-3", Mode::File(Compression::Zstd(3))),
        ("uncompressed", Mode::File(Compression::None)),
        ("tap only", Mode::Stalled),
    ];
    let mut results: Vec<(&str, Vec<Run>)> = modes.iter().map(|(m, _)| (*m, Vec::new())).collect();
    // Interleaved, so that a slow phase of the shared machine hits every
    // mode alike.
    for _ in 0..runs {
        for ((_, mode), (_, out)) in modes.iter().zip(results.iter_mut()) {
            out.push(flood(samples, *mode)?);
        }
    }
    println!(
        "record: {samples} samples per run, {runs} runs; median [min – max]\n{:<13} {:>26} {:>26} {:>12} {:>22} {:>16} {:>8}",
        "recording",
        "ingest samples/s",
        "recorder samples/s",
        "dropped %",
        "MB/s to file",
        "file B/sample",
        "ratio"
    );
    let mut json = Vec::new();
    let mut off_ingest = 0.0;
    for (mode, rs) in &results {
        let (ingest, ingest_lo, ingest_hi) = spread(rs.iter().map(|r| r.ingest).collect());
        if *mode == "off" {
            off_ingest = ingest;
            println!(
                "{mode:<13} {:>26} {:>26} {:>12} {:>22} {:>16} {:>8}",
                format!("{ingest:.0} [{ingest_lo:.0} – {ingest_hi:.0}]"),
                "-",
                "-",
                "-",
                "-",
                "-"
            );
            json.push(format!(
                "{{\"scenario\":\"record\",\"mode\":\"off\",\"samples\":{samples},\"runs\":{runs},\"ingest_median\":{ingest:.0},\"ingest_min\":{ingest_lo:.0},\"ingest_max\":{ingest_hi:.0}}}"
            ));
            continue;
        }
        let stat = |f: &dyn Fn(&Run, &RecordStats) -> f64| {
            spread(
                rs.iter()
                    .filter_map(|r| r.stats.as_ref().map(|s| f(r, s)))
                    .collect(),
            )
        };
        let written = stat(&|r, s| s.written as f64 / r.total.as_secs_f64());
        let dropped = stat(&|_, s| 100.0 * s.dropped as f64 / samples as f64);
        let mbps = stat(&|r, s| s.file_bytes as f64 / 1e6 / r.total.as_secs_f64());
        let per_sample = stat(&|_, s| s.file_bytes as f64 / (s.written.max(1)) as f64);
        let ratio = spread(
            rs.iter()
                .map(|r| r.chunks.0 as f64 / r.chunks.1.max(1) as f64)
                .collect(),
        );
        println!(
            "{mode:<13} {:>26} {:>26} {:>12} {:>22} {:>16} {:>8}",
            format!("{ingest:.0} [{ingest_lo:.0} – {ingest_hi:.0}]"),
            format!("{:.0} [{:.0} – {:.0}]", written.0, written.1, written.2),
            format!("{:.1} [{:.1}–{:.1}]", dropped.0, dropped.1, dropped.2),
            format!("{:.1} [{:.1} – {:.1}]", mbps.0, mbps.1, mbps.2),
            format!("{:.1}", per_sample.0),
            format!("{:.2}", ratio.0),
        );
        json.push(format!(
            "{{\"scenario\":\"record\",\"mode\":\"{mode}\",\"samples\":{samples},\"runs\":{runs},\"ingest_median\":{ingest:.0},\"ingest_min\":{ingest_lo:.0},\"ingest_max\":{ingest_hi:.0},\"recorder_samples_per_s_median\":{:.0},\"dropped_pct_median\":{:.2},\"file_mb_per_s_median\":{:.2},\"file_bytes_per_sample\":{:.2},\"compression_ratio\":{:.3}}}",
            written.0, dropped.0, mbps.0, per_sample.0, ratio.0
        ));
        target_line(
            &format!("ingest with recording ({mode}) ≥ 0.8× ingest without"),
            ingest >= 0.8 * off_ingest,
        );
    }
    write_json(json_path, "record", &json)
}
