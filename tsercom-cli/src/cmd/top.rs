//! `tsercom top`: a live fleet table from a process's Prometheus metrics
//! endpoint (tsercom's feature `prometheus`): one row per runtime and peer
//! (CallerId prefix), redrawn in place on a terminal, plain lines when
//! piped, a summary on exit.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::{CliResult, ctx};

/// Show a live table of an aggregator's (or producer's) peers from its
/// metrics endpoint (`TSERCOM_METRICS_ADDR` or
/// `tsercom::metrics::serve_prometheus`): state, messages per second and
/// in all, delivery lag, clock offset, round trip, reconnects; drops per
/// runtime below.
/// Redraws in place on a terminal, prints plain lines otherwise; prints a
/// summary when it ends (Ctrl-C, `--count` or `--duration`).
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The metrics endpoint, `host:port`.
    #[arg(long, value_name = "HOST:PORT")]
    metrics: String,
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
    /// Stop after this many refreshes.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
}

/// One series: name and sorted labels.
type Series = (String, BTreeMap<String, String>);

/// Parses the Prometheus text exposition's samples.
fn parse(body: &str) -> BTreeMap<Series, f64> {
    let mut samples = BTreeMap::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap_or(rest);
                let labels = rest
                    .split(',')
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once('=')?;
                        Some((k.to_owned(), v.trim_matches('"').to_owned()))
                    })
                    .collect();
                (name, labels)
            }
        };
        samples.insert((name.to_owned(), labels), value);
    }
    samples
}

/// `GET /metrics` at `target`; the body.
fn scrape(target: &str) -> CliResult<String> {
    let what = || format!("scraping {target}");
    let addr = target
        .to_socket_addrs()
        .map_err(ctx(what()))?
        .next()
        .ok_or_else(|| format!("{}: no address", what()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(ctx(what()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(ctx(what()))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    )
    .map_err(ctx(what()))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(ctx(what()))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{}: not an HTTP response", what()))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200") {
        return Err(format!("{}: {status}", what()));
    }
    Ok(body.to_owned())
}

/// A peer of a runtime, as the metrics show it.
#[derive(Debug, Default, Clone, PartialEq)]
struct Row {
    connected: f64,
    /// Messages received (samples on an aggregator, events on a producer).
    received: f64,
    sent: f64,
    offset: Option<f64>,
    round_trip: Option<f64>,
    /// Age of the newest message received, on arrival.
    lag: Option<f64>,
    reconnects: f64,
}

/// Rows by (runtime, peer) and drops by runtime.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    rows: BTreeMap<(String, String), Row>,
    drops: BTreeMap<String, f64>,
}

fn snapshot(samples: &BTreeMap<Series, f64>) -> Snapshot {
    let mut snap = Snapshot::default();
    for ((name, labels), value) in samples {
        let Some(runtime) = labels.get("runtime") else {
            continue;
        };
        if name == "tsercom_samples_dropped_total" {
            *snap.drops.entry(runtime.clone()).or_default() += value;
            continue;
        }
        let Some(peer) = labels.get("peer") else {
            continue;
        };
        let row = snap
            .rows
            .entry((runtime.clone(), peer.clone()))
            .or_default();
        match name.as_str() {
            "tsercom_peer_connected" => row.connected = *value,
            "tsercom_samples_received_total" | "tsercom_events_received_total" => {
                row.received += value;
            }
            "tsercom_samples_sent_total" | "tsercom_events_sent_total" => row.sent += value,
            "tsercom_clock_offset_seconds" => row.offset = Some(*value),
            "tsercom_round_trip_seconds" => row.round_trip = Some(*value),
            "tsercom_delivery_lag_seconds" => row.lag = Some(*value),
            "tsercom_reconnects_total" => row.reconnects = *value,
            _ => {}
        }
    }
    snap
}

/// The table, each line within 80 columns.
fn render(now: &Snapshot, before: Option<(&Snapshot, Duration)>) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<10} {:<8} {:<4} {:>8} {:>9} {:>7} {:>9} {:>7} {:>6}",
        "RUNTIME", "PEER", "UP", "IN/S", "IN", "LAG ms", "OFFSET ms", "RTT ms", "RECONN"
    )];
    for ((runtime, peer), row) in &now.rows {
        let rate = before
            .and_then(|(prev, dt)| {
                let prev = prev.rows.get(&(runtime.clone(), peer.clone()))?;
                let secs = dt.as_secs_f64();
                (secs > 0.0).then(|| (row.received - prev.received).max(0.0) / secs)
            })
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"));
        let ms = |v: Option<f64>, signed: bool| match v {
            None => "-".to_owned(),
            Some(v) if signed => format!("{:+.3}", v * 1e3),
            Some(v) => format!("{:.3}", v * 1e3),
        };
        let mut name = runtime.clone();
        if name.chars().count() > 10 {
            name = name.chars().take(9).collect::<String>() + "~";
        }
        lines.push(format!(
            "{:<10} {:<8} {:<4} {:>8} {:>9} {:>7} {:>9} {:>7} {:>6}",
            name,
            peer,
            if row.connected > 0.0 { "up" } else { "down" },
            rate,
            row.received,
            ms(row.lag, false),
            ms(row.offset, true),
            ms(row.round_trip, false),
            row.reconnects,
        ));
    }
    if now.rows.is_empty() {
        lines.push("(no peers yet)".to_owned());
    }
    for (runtime, dropped) in &now.drops {
        lines.push(format!("{runtime}: {dropped} dropped"));
    }
    lines
}

/// What the summary says.
fn summary(first: &Snapshot, last: &Snapshot, elapsed: Duration) -> String {
    let peers = last.rows.len();
    let up = last.rows.values().filter(|r| r.connected > 0.0).count();
    let received: f64 = last.rows.values().map(|r| r.received).sum();
    let before: f64 = first.rows.values().map(|r| r.received).sum();
    let dropped: f64 = last.drops.values().sum();
    let reconnects: f64 = last.rows.values().map(|r| r.reconnects).sum();
    format!(
        "summary: {peers} peer(s), {up} up; {received} received ({} in {:.1} s); {dropped} dropped; {reconnects} reconnects",
        received - before,
        elapsed.as_secs_f64()
    )
}

pub(crate) fn run(args: &Args) -> CliResult {
    if !(args.interval.is_finite() && args.interval > 0.0) {
        return Err(format!("--interval {}: must be positive", args.interval));
    }
    let interval = Duration::from_secs_f64(args.interval);
    let deadline = args
        .duration
        .map(|d| Duration::try_from_secs_f64(d).map_err(ctx(format!("--duration {d}"))))
        .transpose()?
        .map(|d| Instant::now() + d);
    let terminal = std::io::stdout().is_terminal();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        // Ctrl-C ends the loop; the summary follows.
        let stop = std::sync::Arc::clone(&stop);
        let runtime = crate::runtime()?;
        std::thread::spawn(move || {
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
        });
    }
    let started = Instant::now();
    let mut first: Option<Snapshot> = None;
    let mut previous: Option<(Snapshot, Instant)> = None;
    let mut refreshes = 0u64;
    let mut out = std::io::stdout().lock();
    loop {
        let at = Instant::now();
        let snap = snapshot(&parse(&scrape(&args.metrics)?));
        let lines = render(
            &snap,
            previous
                .as_ref()
                .map(|(p, when)| (p, at.duration_since(*when))),
        );
        if terminal {
            // Home, then each line cleared to its end; the rest cleared.
            let _ = write!(out, "\x1b[H");
            for line in &lines {
                let _ = write!(out, "{line}\x1b[K\r\n");
            }
            let _ = write!(out, "\x1b[J");
        } else {
            let _ = writeln!(out, "-- {:.1} s", started.elapsed().as_secs_f64());
            for line in &lines {
                let _ = writeln!(out, "{line}");
            }
        }
        let _ = out.flush();
        refreshes += 1;
        if first.is_none() {
            first = Some(snap.clone());
        }
        previous = Some((snap, at));
        let done = args.count.is_some_and(|n| refreshes >= n)
            || deadline.is_some_and(|d| Instant::now() >= d);
        if done {
            break;
        }
        // Sleep in short steps so Ctrl-C ends promptly.
        let wake = at + interval;
        while Instant::now() < wake && !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50).min(wake - Instant::now()));
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
    }
    if let (Some(first), Some((last, _))) = (&first, &previous) {
        let _ = writeln!(out, "{}", summary(first, last, started.elapsed()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "# TYPE tsercom_samples_received_total counter\n\
tsercom_samples_received_total{runtime=\"collector\",peer=\"6907461f\"} 1200\n\
tsercom_peer_connected{runtime=\"collector\",peer=\"6907461f\"} 1\n\
tsercom_clock_offset_seconds{runtime=\"collector\",peer=\"6907461f\"} -0.0004\n\
tsercom_round_trip_seconds{runtime=\"collector\",peer=\"6907461f\"} 0.00012\n\
tsercom_delivery_lag_seconds{runtime=\"collector\",peer=\"6907461f\"} 0.0021\n\
tsercom_reconnects_total{runtime=\"collector\",peer=\"6907461f\"} 2\n\
tsercom_samples_dropped_total{runtime=\"collector\",reason=\"store_full\"} 3\n\
tsercom_samples_dropped_total{runtime=\"collector\",reason=\"forgotten\"} 1\n";

    #[test]
    fn rows_from_the_exposition() {
        let snap = snapshot(&parse(BODY));
        let row = &snap.rows[&("collector".to_owned(), "6907461f".to_owned())];
        assert_eq!(row.received, 1200.0);
        assert_eq!(row.connected, 1.0);
        assert_eq!(row.offset, Some(-0.0004));
        assert_eq!(row.lag, Some(0.0021));
        assert_eq!(row.reconnects, 2.0);
        assert_eq!(snap.drops["collector"], 4.0);
    }

    #[test]
    fn the_table_fits_80_columns_and_shows_rates() {
        let before = snapshot(&parse(&BODY.replace("} 1200", "} 200")));
        let now = snapshot(&parse(BODY));
        let lines = render(&now, Some((&before, Duration::from_secs(2))));
        for line in &lines {
            assert!(line.chars().count() <= 80, "{line:?}");
        }
        assert!(lines[1].contains("500.0"), "1000 in 2 s: {lines:?}");
        assert!(
            lines[1].contains("-0.400") && lines[1].contains("2.100") && lines[1].contains("up"),
            "{lines:?}"
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some("collector: 4 dropped")
        );
    }
}
