//! `discovery`: over real multicast between two network namespaces the
//! harness creates (and removes), every mDNS daemon in a child process
//! inside a namespace: time from publish to `Added` (mdns-sd publisher and
//! browser), and from publish to the first sample taken from the handle of
//! an aggregator that discovered the producer (`#[tsercom::runtime]`
//! producer with `publish`, aggregator with `discover`: browse, connect,
//! handshake, clock sync, stream). Skipped with a printed reason when
//! namespaces cannot be made (not root).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tsercom::CallerId;
use tsercom::discovery::mdns::{MdnsBrowser, MdnsPublisher};
use tsercom::discovery::{Discovery, DiscoveryEvent};

const SERVICE: &str = "_tsxbench._tcp";

/// The aggregator of the discovery run: browses `SERVICE` over mDNS.
#[tsercom::runtime(aggregator, discover = "_tsxbench._tcp", service = crate::bench::Feed, data = crate::bench::Sample, event = crate::bench::Ack, config = finder_config)]
struct Finder;

fn finder_config(config: tsercom::RuntimeConfig) -> tsercom::RuntimeConfig {
    crate::stream::collector_config(config, 0, true)
}

fn now_nanos() -> i128 {
    tsercom::Timestamp::now().unix_nanos()
}

/// A receiver that gets `()` when stdin closes (the parent ends a child by
/// closing its stdin).
fn stop_on_stdin_close() -> mpsc::Receiver<()> {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = stop_tx.send(());
    });
    stop_rx
}

/// Child: publish until stdin closes; prints the time just before publishing.
pub(crate) fn child_publish() -> tsercom::Result<()> {
    let id = CallerId::random();
    println!("PUBLISHING {}", now_nanos());
    let publisher = MdnsPublisher::publish(SERVICE, "bench", 50_052, id)?;
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(publisher);
    Ok(())
}

/// Child: browse until stdin closes; prints the time of each Added/Removed.
pub(crate) fn child_browse() -> tsercom::Result<()> {
    let stop_rx = stop_on_stdin_close();
    let rt = crate::runtime()?;
    let mut browser = MdnsBrowser::browse(SERVICE)?;
    println!("BROWSING");
    rt.block_on(async {
        while stop_rx.try_recv().is_err() {
            match tokio::time::timeout(Duration::from_millis(200), browser.next_event()).await {
                Ok(Some(DiscoveryEvent::Added(_))) => println!("ADDED {}", now_nanos()),
                Ok(Some(DiscoveryEvent::Removed { .. })) => println!("REMOVED {}", now_nanos()),
                Ok(Some(_)) | Err(_) => {}
                Ok(None) => break,
            }
        }
    });
    Ok(())
}

/// Child: a generated producer that publishes; prints the time just before
/// starting; streams a sample per millisecond while an aggregator is
/// connected; stops when stdin closes.
pub(crate) fn child_producer() -> tsercom::Result<()> {
    let stop_rx = stop_on_stdin_close();
    let mut manager = tsercom::RuntimeManager::new();
    let handle = manager.register(crate::stream::Producer {
        listen: None,
        publish: Some(SERVICE.into()),
        unacknowledged: false,
    })?;
    println!("PUBLISHING {}", now_nanos());
    manager.start_in_process()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while stop_rx.try_recv().is_err() && std::time::Instant::now() < deadline {
        if !handle.callers().is_empty() {
            handle.publish(crate::bench::Sample::default())?;
        }
        std::thread::sleep(Duration::from_millis(1)); // the sensor's period
        manager.check_error()?;
    }
    manager.shutdown()
}

/// Child: a generated aggregator that discovers; prints the time of each
/// new producer's first sample taken from the handle.
pub(crate) fn child_aggregator() -> tsercom::Result<()> {
    let stop_rx = stop_on_stdin_close();
    let mut manager = tsercom::RuntimeManager::new();
    let handle = manager.register(Finder)?;
    manager.start_in_process()?;
    println!("BROWSING");
    let mut seen = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while stop_rx.try_recv().is_err() && std::time::Instant::now() < deadline {
        if handle.data().wait_new(Duration::from_millis(100)) {
            for (caller, _) in handle.data().take_new() {
                if seen.insert(caller) {
                    println!("FIRST {}", now_nanos());
                }
            }
        }
        manager.check_error()?;
    }
    manager.shutdown()
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

struct Net(Vec<String>);

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn create_net() -> Result<Net, String> {
    let pid = std::process::id() % 100_000;
    let (a, b) = (format!("tsb{pid}a"), format!("tsb{pid}b"));
    ip(&["netns", "add", &a])?;
    let mut net = Net(vec![a.clone()]);
    ip(&["netns", "add", &b])?;
    net.0.push(b.clone());
    let (va, vb) = (format!("tsb{pid}va"), format!("tsb{pid}vb"));
    ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
    ip(&["link", "set", &va, "netns", &a])?;
    ip(&["link", "set", &vb, "netns", &b])?;
    for (ns, dev, addr) in [(&a, &va, "10.214.0.1/24"), (&b, &vb, "10.214.0.2/24")] {
        ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    Ok(net)
}

struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(ns: &str, role: &str) -> tsercom::Result<Self> {
        let exe = std::env::current_exe().map_err(|source| tsercom::Error::Io {
            path: "current executable".into(),
            source,
        })?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .arg(role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| tsercom::Error::Io {
                path: "ip".into(),
                source,
            })?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Ok(Proc { child, lines })
    }

    fn expect(&self, prefix: &str) -> tsercom::Result<String> {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.starts_with(prefix) => return Ok(line),
                Ok(_) => {}
                Err(_) => {
                    return Err(tsercom::Error::WrongState(
                        "a discovery child did not answer in 30 s",
                    ));
                }
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn stamp(line: &str) -> i128 {
    line.split(' ')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_default()
}

/// Per round: publish → `Added`, and publish → first sample.
pub(crate) struct Times {
    pub(crate) added: Vec<Duration>,
    pub(crate) first_sample: Vec<Duration>,
}

fn between(from: i128, to: i128) -> Duration {
    Duration::from_nanos(u64::try_from((to - from).max(0)).unwrap_or_default())
}

/// `rounds` publishes of each kind; `None` when namespaces are unavailable.
pub(crate) fn run(rounds: usize) -> tsercom::Result<Option<Times>> {
    let net = match create_net() {
        Ok(net) => net,
        Err(reason) => {
            println!(
                "skipped: cannot create network namespaces ({reason}); needs root and iproute2"
            );
            return Ok(None);
        }
    };
    let browser = Proc::spawn(&net.0[1], "discovery-browse")?;
    browser.expect("BROWSING")?;
    let mut times = Vec::new();
    for _ in 0..rounds {
        let publisher = Proc::spawn(&net.0[0], "discovery-publish")?;
        let published = stamp(&publisher.expect("PUBLISHING")?);
        let added = stamp(&browser.expect("ADDED")?);
        times.push(between(published, added));
        drop(publisher); // goodbye
        browser.expect("REMOVED")?;
    }
    drop(browser);

    let aggregator = Proc::spawn(&net.0[1], "discovery-aggregator")?;
    aggregator.expect("BROWSING")?;
    let mut first_sample = Vec::new();
    for _ in 0..rounds {
        let producer = Proc::spawn(&net.0[0], "discovery-producer")?;
        let published = stamp(&producer.expect("PUBLISHING")?);
        let first = stamp(&aggregator.expect("FIRST")?);
        first_sample.push(between(published, first));
        drop(producer); // goodbye: the aggregator lets it go
    }
    drop(aggregator);
    drop(net);
    Ok(Some(Times {
        added: times,
        first_sample,
    }))
}
