//! mDNS publish → browse with real multicast between two network
//! namespaces joined by a veth pair, created (and removed) by this test.
//! Every mDNS daemon runs in a child process inside a namespace: nothing is
//! sent in the main namespace. Without root (or `ip`), the test is skipped
//! with a printed reason.
//!
//! The child processes are this test binary, re-run with a role in the
//! environment; in that mode the test function plays the role and exits.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tsercom::CallerId;
use tsercom::discovery::mdns::{MdnsBrowser, MdnsPublisher};
use tsercom::discovery::{Discovery, DiscoveryEvent};

const ROLE: &str = "TSERCOM_NETNS_ROLE";
const CALLER: &str = "TSERCOM_NETNS_CALLER";
const SERVICE: &str = "_tsxtest._tcp";
const PORT: u16 = 50_051;
const WAIT: Duration = Duration::from_secs(30);
const TEST: &str = "mdns_publish_browse_across_namespaces";

/// The child's part; exits the process.
fn play(role: &str) -> ! {
    let code = match role {
        "publish" => {
            let id = std::env::var(CALLER)
                .ok()
                .and_then(|s| CallerId::parse(&s).ok());
            match id.map(|id| MdnsPublisher::publish(SERVICE, "probe", PORT, id)) {
                Some(Ok(publisher)) => {
                    println!("\nPUBLISHED {}", publisher.fullname());
                    // Serve until the parent closes our stdin (bounded by
                    // the parent's own timeouts), then say goodbye.
                    let mut sink = Vec::new();
                    let _ = std::io::stdin().read_to_end(&mut sink);
                    drop(publisher);
                    0
                }
                Some(Err(e)) => {
                    println!("\nERROR {e}");
                    1
                }
                None => 2,
            }
        }
        "browse" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match (rt, MdnsBrowser::browse(SERVICE)) {
                (Ok(rt), Ok(mut browser)) => rt.block_on(async {
                    loop {
                        match tokio::time::timeout(WAIT, browser.next_event()).await {
                            Ok(Some(DiscoveryEvent::Added(info))) => {
                                let addrs: Vec<String> =
                                    info.addresses.iter().map(ToString::to_string).collect();
                                let id = info.caller_id.map(|c| c.to_string()).unwrap_or_default();
                                println!("\nADDED {id} {} {}", info.port, addrs.join(","));
                            }
                            Ok(Some(DiscoveryEvent::Removed { instance })) => {
                                println!("\nREMOVED {instance}");
                                return 0;
                            }
                            Ok(Some(_)) => {}
                            Ok(None) | Err(_) => return 3,
                        }
                    }
                }),
                _ => 4,
            }
        }
        _ => 5,
    };
    std::process::exit(code)
}

/// Namespaces and the veth pair; removed on drop.
struct Netns {
    a: String,
    b: String,
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

impl Netns {
    fn create() -> Result<Self, String> {
        let pid = std::process::id();
        let net = Netns {
            a: format!("tsx{pid}a"),
            b: format!("tsx{pid}b"),
        };
        ip(&["netns", "add", &net.a])?;
        ip(&["netns", "add", &net.b])?;
        let (va, vb) = (format!("tsx{pid}va"), format!("tsx{pid}vb"));
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        ip(&["link", "set", &va, "netns", &net.a])?;
        ip(&["link", "set", &vb, "netns", &net.b])?;
        for (ns, dev, addr) in [
            (&net.a, &va, "10.213.0.1/24"),
            (&net.b, &vb, "10.213.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn spawn(&self, ns: &str, role: &str, caller: &CallerId) -> Child {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(std::env::current_exe().expect("test binary"))
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(CALLER, caller.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child in namespace")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace removes the veth end inside it (and its peer).
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// Lines a child prints that start with one of our markers.
fn marker_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let keep = ["PUBLISHED", "ADDED", "REMOVED", "ERROR"]
                    .iter()
                    .any(|m| line.starts_with(m));
                if keep && tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Ends a child this test started, by its PID, if still running.
fn end(mut child: Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
    }
    let _ = child.wait();
}

#[test]
fn mdns_publish_browse_across_namespaces() {
    if let Ok(role) = std::env::var(ROLE) {
        play(&role);
    }
    let net = match Netns::create() {
        Ok(net) => net,
        Err(reason) => {
            println!(
                "skipped: cannot create network namespaces ({reason}); needs root and iproute2"
            );
            return;
        }
    };
    let caller = CallerId::random();
    let mut browser = net.spawn(&net.b, "browse", &caller);
    let browsed = marker_lines(&mut browser);
    let mut publisher = net.spawn(&net.a, "publish", &caller);
    let published = marker_lines(&mut publisher);

    let line = published.recv_timeout(WAIT).expect("publisher started");
    assert!(line.starts_with("PUBLISHED probe-"), "{line}");
    let added = browsed.recv_timeout(WAIT).expect("browser saw the service");
    let parts: Vec<&str> = added.split(' ').collect();
    assert_eq!(parts.first(), Some(&"ADDED"), "{added}");
    assert_eq!(
        parts.get(1),
        Some(&caller.to_string().as_str()),
        "CallerId from TXT: {added}"
    );
    assert_eq!(parts.get(2), Some(&PORT.to_string().as_str()), "{added}");
    let addrs = parts.get(3).copied().unwrap_or_default();
    assert!(
        addrs.split(',').any(|a| a == "10.213.0.1"),
        "the publisher's veth address: {added}"
    );
    assert!(
        !addrs
            .split(',')
            .any(|a| a.starts_with("127.") || a == "::1"),
        "loopback never advertised to another host: {added}"
    );

    // Unpublish: closing the publisher's stdin makes it say goodbye.
    drop(publisher.stdin.take());
    let removed = browsed.recv_timeout(WAIT).expect("browser saw the goodbye");
    assert!(removed.starts_with("REMOVED probe-"), "{removed}");
    end(publisher);
    end(browser);
    drop(net);
}
