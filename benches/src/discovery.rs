//! `discovery`: time from publish to `Added` over real multicast between
//! two network namespaces the harness creates (and removes); every mDNS
//! daemon runs in a child process inside a namespace. Skipped with a
//! printed reason when namespaces cannot be made (not root).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tsercom::CallerId;
use tsercom::discovery::mdns::{MdnsBrowser, MdnsPublisher};
use tsercom::discovery::{Discovery, DiscoveryEvent};

const SERVICE: &str = "_tsxbench._tcp";

fn now_nanos() -> i128 {
    tsercom::Timestamp::now().unix_nanos()
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
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = stop_tx.send(());
    });
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

/// `rounds` publishes, each measured from just before publishing to the
/// browser's `Added`; `None` when namespaces are unavailable.
pub(crate) fn run(rounds: usize) -> tsercom::Result<Option<Vec<Duration>>> {
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
        let nanos = u64::try_from((added - published).max(0)).unwrap_or_default();
        times.push(Duration::from_nanos(nanos));
        drop(publisher); // goodbye
        browser.expect("REMOVED")?;
    }
    drop(browser);
    drop(net);
    Ok(Some(times))
}
