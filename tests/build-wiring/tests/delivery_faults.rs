//! Acknowledged delivery under real faults, with real processes
//! (`src/bin/fault_producer.rs`, `src/bin/fault_aggregator.rs`): each run
//! publishes numbered samples and checks, per producer, that every number
//! arrives exactly once, or is accounted for.
//!
//! - on loopback: a producer SIGKILLed during a flood and restarted; an
//!   aggregator SIGKILLed during a flood and restarted (same CallerId, same
//!   address);
//! - in two network namespaces this test creates, joined by a veth pair:
//!   the link down for 10 s (then up), and 30 % random packet loss
//!   (nftables `numgen random`) for 20 s.
//!
//! Namespaces need root: without it those tests are skipped with the
//! reason printed, or fail when `CI` is set (CI runs as root).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tsercom::CallerId;

const WAIT: Duration = Duration::from_secs(120);

/// A test program, its stdout read line by line (with arrival times).
struct Proc {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
    addr: String,
}

impl Proc {
    fn spawn(mut command: Command) -> Proc {
        command.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = command.spawn().expect("spawn the test program");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut proc = Proc {
            child,
            lines,
            seen: Vec::new(),
            addr: String::new(),
        };
        let ready = proc.wait_line("ready ", WAIT);
        proc.addr = ready
            .split(' ')
            .nth(2)
            .expect("ready <id> <addr>")
            .to_owned();
        proc
    }

    /// Waits for a line starting with `prefix`; returns it.
    fn wait_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.seen.push((at, line.clone()));
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no `{prefix}` line within {timeout:?} ({e}); saw {:?}",
                    self.tail()
                ),
            }
        }
    }

    /// Reads what arrived so far without waiting.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    fn tail(&self) -> Vec<&str> {
        let n = self.seen.len();
        self.seen[n.saturating_sub(5)..]
            .iter()
            .map(|(_, l)| l.as_str())
            .collect()
    }

    /// The aggregator's latest `progress` count.
    fn progress(&mut self) -> u64 {
        self.drain();
        self.seen
            .iter()
            .rev()
            .find_map(|(_, l)| l.strip_prefix("progress "))
            .and_then(|rest| rest.split(' ').nth(1))
            .map_or(0, |n| n.parse().expect("progress count"))
    }

    /// Waits for the program's next line (`false`: none within `timeout`).
    fn next_line(&mut self, timeout: Duration) -> bool {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits until the aggregator's progress reaches `n` (woken by each
    /// line it prints).
    fn wait_progress(&mut self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.progress() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                self.next_line(left),
                "progress stayed at {} (< {n}) for {timeout:?}",
                self.progress()
            );
        }
    }

    /// When the progress first went past `count` after `since`.
    fn first_progress_after(&mut self, since: Instant, count: u64) -> Option<Instant> {
        self.drain();
        self.seen.iter().find_map(|(at, l)| {
            let n: u64 = l
                .strip_prefix("progress ")?
                .split(' ')
                .nth(1)?
                .parse()
                .ok()?;
            (*at >= since && n > count).then_some(*at)
        })
    }

    /// Closes stdin (the program shuts down) and returns its last line
    /// starting with `prefix`.
    fn finish(mut self, prefix: &str) -> String {
        drop(self.child.stdin.take());
        let line = self.wait_line(prefix, WAIT);
        let status = self.child.wait().expect("wait");
        assert!(
            status.success(),
            "the program failed: {status}; {:?}",
            self.tail()
        );
        line
    }

    /// SIGKILL, by its PID.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // A failed test: end what it started (its own child, by PID).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn program(name: &str) -> PathBuf {
    match name {
        "producer" => env!("CARGO_BIN_EXE_fault_producer").into(),
        _ => env!("CARGO_BIN_EXE_fault_aggregator").into(),
    }
}

/// `key=value` of a `stats` line.
fn stat(line: &str, key: &str) -> u64 {
    line.split(' ')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        .parse()
        .expect("a number")
}

/// The values an aggregator wrote (little-endian `u64`s).
fn values(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

/// How `got` compares with every number of `expected`, once each.
#[derive(Debug, Default)]
struct Tally {
    missing: Vec<u64>,
    duplicates: u64,
    out_of_order: u64,
    foreign: u64,
}

fn tally(got: &[u64], expected: std::ops::Range<u64>) -> Tally {
    let mut seen = vec![0u32; usize::try_from(expected.end - expected.start).expect("fits")];
    let mut t = Tally::default();
    let mut last = None;
    for &v in got {
        if !expected.contains(&v) {
            t.foreign += 1;
            continue;
        }
        let slot = &mut seen[usize::try_from(v - expected.start).expect("fits")];
        *slot += 1;
        if *slot > 1 {
            t.duplicates += 1;
        }
        if last.is_some_and(|l| v < l) {
            t.out_of_order += 1;
        }
        last = Some(v);
    }
    t.missing = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n == 0)
        .map(|(i, _)| expected.start + i as u64)
        .collect();
    t
}

fn producer(addr: &str, id: CallerId, start: u64, count: u64, rate: u64) -> Command {
    let mut c = Command::new(program("producer"));
    c.env("E2E_DIRECTION", "dial")
        .env("E2E_ADDR", addr)
        .env("E2E_ID", id.to_string())
        .env("E2E_START", start.to_string())
        .env("E2E_COUNT", count.to_string())
        .env("E2E_RATE", rate.to_string());
    c
}

fn aggregator(addr: &str, id: CallerId, out: &Path) -> Command {
    let mut c = Command::new(program("aggregator"));
    c.env("E2E_DIRECTION", "host")
        .env("E2E_ADDR", addr)
        .env("E2E_ID", id.to_string())
        .env("E2E_OUT", out);
    c
}

#[test]
fn a_producer_killed_during_a_flood_and_restarted_delivers_all_it_published_after_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("values");
    let mut agg = Proc::spawn(aggregator("127.0.0.1:0", CallerId::random(), &out));
    let addr = agg.addr.clone();
    let producer_id = CallerId::random();
    // The first run floods and is killed mid-way.
    let first = Proc::spawn(producer(&addr, producer_id, 0, 1_000_000, 20_000));
    agg.wait_progress(20_000, WAIT);
    first.kill();
    // The restart (same CallerId, a new process) publishes other numbers.
    const AFTER: std::ops::Range<u64> = 10_000_000..10_060_000;
    let mut second = Proc::spawn(producer(
        &addr,
        producer_id,
        AFTER.start,
        AFTER.end - AFTER.start,
        20_000,
    ));
    second.wait_line("published ", WAIT);
    let before = agg.progress();
    let stats = second.finish("stats ");
    // Everything the restart published arrived once (it waited for
    // acknowledgments as it stopped).
    let agg_stats = agg.finish("stats ");
    let got = values(&out);
    let t = tally(&got, AFTER);
    assert!(
        t.missing.is_empty(),
        "after the restart, none missing: {} missing (first {:?}); producer {stats}",
        t.missing.len(),
        &t.missing[..t.missing.len().min(5)]
    );
    assert_eq!(t.duplicates, 0, "nothing twice");
    assert_eq!(stat(&stats, "lost"), 0, "{stats}");
    assert_eq!(stat(&stats, "unacknowledged"), 0, "{stats}");
    // And what the killed run delivered arrived at most once.
    let killed = tally(&got, 0..1_000_000);
    assert_eq!(killed.duplicates, 0, "the killed run's numbers: none twice");
    assert!(before > 0, "the aggregator was receiving");
    println!(
        "producer restart: {stats}; aggregator {agg_stats}; killed run delivered {}; \
         taken out of publish order (timestamp order after a clock estimate moved): {}",
        1_000_000 - killed.missing.len(),
        t.out_of_order
    );
}

#[test]
fn an_aggregator_killed_during_a_flood_and_restarted_loses_only_what_it_had_acknowledged() {
    const ALL: std::ops::Range<u64> = 0..200_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let (out1, out2) = (dir.path().join("first"), dir.path().join("second"));
    let agg_id = CallerId::random();
    let first = Proc::spawn(aggregator("127.0.0.1:0", agg_id, &out1));
    let addr = first.addr.clone();
    let mut first = first;
    let mut prod = Proc::spawn(producer(
        &addr,
        CallerId::random(),
        ALL.start,
        ALL.end,
        20_000,
    ));
    first.wait_progress(30_000, WAIT);
    first.kill();
    // The same aggregator (CallerId, address) comes back.
    let mut second = Proc::spawn(aggregator(&addr, agg_id, &out2));
    prod.wait_line("published ", WAIT);
    let total_first = values(&out1).len() as u64;
    second.wait_progress(ALL.end - ALL.start - total_first - 20_000, WAIT);
    let stats = prod.finish("stats ");
    let agg_stats = second.finish("stats ");
    let mut got = values(&out1);
    let taken_by_first = got.len();
    let last_of_first = got.last().copied().expect("the first run took some");
    got.extend(values(&out2));
    let t = tally(&got, ALL);
    // The only duplicates: messages the killed process had stored, and
    // its user taken, but not yet acknowledged: resent to its restart,
    // counted by the producer as possibly duplicated.
    assert!(
        t.duplicates <= stat(&stats, "possibly_duplicated"),
        "duplicates only among those counted; {t:?}; {stats}; {agg_stats}",
        t = t.duplicates
    );
    let first_run: std::collections::HashSet<u64> = values(&out1).into_iter().collect();
    let second_run = values(&out2);
    let twice = second_run.iter().filter(|v| first_run.contains(v)).count() as u64;
    assert_eq!(
        twice, t.duplicates,
        "each duplicate is one the killed run had taken"
    );
    // What is missing is what the killed aggregator had stored and
    // acknowledged but its user had not yet taken: lost with its process,
    // right after the last number it took, and small (one take and one
    // acknowledgment interval of data).
    if let (Some(first_missing), Some(last_missing)) = (t.missing.first(), t.missing.last()) {
        assert_eq!(
            *first_missing,
            last_of_first + 1,
            "lost right after what it took"
        );
        assert_eq!(
            last_missing - first_missing + 1,
            t.missing.len() as u64,
            "one contiguous run"
        );
    }
    assert!(
        t.missing.len() <= 5_000,
        "only what it held unread: {} missing",
        t.missing.len()
    );
    assert_eq!(stat(&stats, "lost"), 0, "{stats}");
    println!(
        "aggregator restart: first took {taken_by_first}, lost with it {}, taken twice {}, resent {}; {stats}; {agg_stats}",
        t.missing.len(),
        t.duplicates,
        stat(&stats, "resent")
    );
}

// ---- network faults, between two namespaces ----

/// Two network namespaces this test creates — the producer's and the
/// aggregator's — joined by a veth pair; removed on drop.
struct Link {
    producer_ns: String,
    aggregator_ns: String,
    producer_dev: String,
    aggregator_ip: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Link {
    /// `None` (the reason printed) where namespaces cannot be made, unless
    /// `CI` is set: then it fails.
    fn create(tag: u8) -> Option<Link> {
        let n = std::process::id() % 10_000;
        let link = Link {
            producer_ns: format!("tsx-fault-p{n}-{tag}"),
            aggregator_ns: format!("tsx-fault-a{n}-{tag}"),
            producer_dev: format!("tsxp{n}{tag}"),
            aggregator_ip: format!("10.231.{tag}.2"),
        };
        let aggregator_dev = format!("tsxa{n}{tag}");
        let producer_ip = format!("10.231.{tag}.1/24");
        let aggregator_cidr = format!("{}/24", link.aggregator_ip);
        let (p, a) = (link.producer_ns.as_str(), link.aggregator_ns.as_str());
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", p])?;
            ip(&["netns", "add", a])?;
            ip(&[
                "-n",
                p,
                "link",
                "add",
                &link.producer_dev,
                "type",
                "veth",
                "peer",
                "name",
                &aggregator_dev,
                "netns",
                a,
            ])?;
            ip(&[
                "-n",
                p,
                "addr",
                "add",
                &producer_ip,
                "dev",
                &link.producer_dev,
            ])?;
            ip(&[
                "-n",
                a,
                "addr",
                "add",
                &aggregator_cidr,
                "dev",
                &aggregator_dev,
            ])?;
            for (ns, dev) in [
                (p, link.producer_dev.as_str()),
                (a, aggregator_dev.as_str()),
            ] {
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
            }
            Ok(())
        };
        match setup() {
            Ok(()) => Some(link),
            Err(why) => {
                drop(link);
                assert!(
                    std::env::var_os("CI").is_none(),
                    "cannot create network namespaces (needs root): {why}"
                );
                println!("skipped: cannot create network namespaces (needs root): {why}");
                None
            }
        }
    }

    /// `program` run inside namespace `ns`.
    fn command(ns: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    fn set_link(&self, up: bool) {
        ip(&[
            "-n",
            &self.producer_ns,
            "link",
            "set",
            &self.producer_dev,
            if up { "up" } else { "down" },
        ])
        .expect("set the link");
    }

    /// Drops `percent` % of the producer's packets, both ways (nftables
    /// `numgen random`); `None` removes the rule.
    fn set_loss(&self, percent: Option<u32>) {
        let script = match percent {
            Some(p) => format!(
                "table inet tsxloss {{\n\
                   chain in {{ type filter hook input priority 0; policy accept; numgen random mod 100 < {p} drop; }}\n\
                   chain out {{ type filter hook output priority 0; policy accept; numgen random mod 100 < {p} drop; }}\n\
                 }}\n"
            ),
            None => "delete table inet tsxloss\n".to_owned(),
        };
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &self.producer_ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft (Debian package `nftables`)");
        {
            use std::io::Write;
            nft.stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())
                .expect("write the ruleset");
        }
        assert!(nft.wait().expect("nft").success(), "nft -f: {script}");
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so
        // the pair.
        let _ = ip(&["netns", "del", &self.producer_ns]);
        let _ = ip(&["netns", "del", &self.aggregator_ns]);
    }
}

/// A flood from the producer's namespace to the aggregator's, with
/// `fault` applied once the aggregator has 20 000; returns the tally, the
/// producer's and the aggregator's `stats` lines, and how long after
/// `fault` returned data flowed again.
fn flood_through(
    link: &Link,
    count: u64,
    fault: impl FnOnce(),
) -> (Tally, String, String, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("values");
    let mut agg_cmd = Link::command(&link.aggregator_ns, &program("aggregator"));
    agg_cmd
        .env("E2E_DIRECTION", "host")
        .env("E2E_ADDR", format!("{}:0", link.aggregator_ip))
        .env("E2E_ID", CallerId::random().to_string())
        .env("E2E_OUT", &out);
    let mut agg = Proc::spawn(agg_cmd);
    let mut prod_cmd = Link::command(&link.producer_ns, &program("producer"));
    prod_cmd
        .env("E2E_DIRECTION", "dial")
        .env("E2E_ADDR", &agg.addr)
        .env("E2E_ID", CallerId::random().to_string())
        .env("E2E_START", "0")
        .env("E2E_COUNT", count.to_string())
        .env("E2E_RATE", "10000");
    let mut prod = Proc::spawn(prod_cmd);
    agg.wait_progress(20_000, WAIT);
    fault();
    let back = Instant::now();
    let at_back = agg.progress();
    let deadline = back + WAIT;
    let flowing = loop {
        if let Some(at) = agg.first_progress_after(back, at_back) {
            break at;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(agg.next_line(left), "no data after the fault ended");
    };
    prod.wait_line("published ", WAIT * 2);
    agg.wait_progress(count, WAIT);
    let prod_stats = prod.finish("stats ");
    let agg_stats = agg.finish("stats ");
    let t = tally(&values(&out), 0..count);
    (t, prod_stats, agg_stats, flowing.duration_since(back))
}

#[test]
fn a_link_down_for_ten_seconds_loses_nothing_and_resumes_within_a_second() {
    let Some(link) = Link::create(1) else { return };
    let (t, prod, agg, resumed) = flood_through(&link, 200_000, || {
        link.set_link(false);
        // The fault's length is the test's subject, not a wait for an event.
        std::thread::sleep(Duration::from_secs(10));
        link.set_link(true);
    });
    println!(
        "link down 10 s: resumed {resumed:?} after the link came back; {prod}; {agg}; out of publish order {}",
        t.out_of_order
    );
    assert!(t.missing.is_empty(), "{} missing; {prod}", t.missing.len());
    assert_eq!(t.duplicates, 0, "{prod}; {agg}");
    assert_eq!(stat(&prod, "lost"), 0, "{prod}");
    assert!(
        stat(&prod, "resent") > 0,
        "what the link held was resent: {prod}"
    );
    assert!(
        resumed <= Duration::from_secs(1),
        "data flowed again {resumed:?} after the link's return"
    );
}

#[test]
fn thirty_percent_packet_loss_for_twenty_seconds_loses_nothing() {
    let Some(link) = Link::create(2) else { return };
    let (t, prod, agg, _) = flood_through(&link, 300_000, || {
        link.set_loss(Some(30));
        // The fault's length is the test's subject, not a wait for an event.
        std::thread::sleep(Duration::from_secs(20));
        link.set_loss(None);
    });
    println!(
        "30 % loss for 20 s: {prod}; {agg}; out of publish order {}",
        t.out_of_order
    );
    assert!(t.missing.is_empty(), "{} missing; {prod}", t.missing.len());
    assert_eq!(t.duplicates, 0, "{prod}; {agg}");
    assert_eq!(stat(&prod, "lost"), 0, "{prod}");
}

impl Proc {
    /// The aggregator's count as of `at` (its last progress line then).
    fn count_at(&mut self, at: Instant) -> u64 {
        self.drain();
        self.seen
            .iter()
            .filter(|(when, _)| *when <= at)
            .filter_map(|(_, l)| l.strip_prefix("progress ")?.split(' ').nth(1)?.parse().ok())
            .next_back()
            .unwrap_or(0)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }
}

#[test]
fn one_of_two_aggregators_stopped_never_slows_the_other_and_catches_up_or_counts() {
    const ALL: std::ops::Range<u64> = 0..150_000;
    const RATE: u64 = 10_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_a, out_b) = (dir.path().join("a"), dir.path().join("b"));
    let mut a = Proc::spawn(aggregator("127.0.0.1:0", CallerId::random(), &out_a));
    let b = Proc::spawn(aggregator("127.0.0.1:0", CallerId::random(), &out_b));
    let addrs = format!("{},{}", a.addr, b.addr);
    let mut prod = Proc::spawn(producer(
        &addrs,
        CallerId::random(),
        ALL.start,
        ALL.end,
        RATE,
    ));
    a.wait_progress(30_000, WAIT);
    let stopped = Instant::now();
    b.signal("-STOP");
    // B stays stopped this long: the window A's rate is measured over.
    std::thread::sleep(Duration::from_secs(5));
    b.signal("-CONT");
    // A's rate over the 5 s of B's stop against the 2 s before it.
    let before = a.count_at(stopped) - a.count_at(stopped - Duration::from_secs(2));
    let during = a.count_at(stopped + Duration::from_secs(5)) - a.count_at(stopped);
    #[allow(clippy::cast_precision_loss)]
    let (rate_before, rate_during) = (before as f64 / 2.0, during as f64 / 5.0);
    prod.wait_line("published ", WAIT);
    a.wait_progress(ALL.end, WAIT);
    let prod_stats = prod.finish("stats ");
    let a_stats = a.finish("stats ");
    let b_stats = b.finish("stats ");
    let ta = tally(&values(&out_a), ALL);
    let tb = tally(&values(&out_b), ALL);
    println!(
        "SIGSTOP one of two: A {rate_before:.0}/s before, {rate_during:.0}/s during; B missing {} after SIGCONT; {prod_stats}; A {a_stats}; B {b_stats}",
        tb.missing.len()
    );
    assert!(
        (rate_during - rate_before).abs() <= 0.1 * rate_before,
        "A's rate moved more than 10 %: {rate_before:.0}/s → {rate_during:.0}/s"
    );
    assert!(
        ta.missing.is_empty() && ta.duplicates == 0,
        "A got everything once: {ta:?}",
        ta = (ta.missing.len(), ta.duplicates)
    );
    assert_eq!(tb.duplicates, 0, "B: nothing twice");
    // B caught up what the producer kept for it; what it could not keep
    // (B's queue skipped by the broadcast's bounded wait) is counted.
    assert!(
        tb.missing.len() as u64 <= stat(&prod_stats, "dropped") + stat(&prod_stats, "lost"),
        "B's losses are counted: {} missing; {prod_stats}",
        tb.missing.len()
    );
}
