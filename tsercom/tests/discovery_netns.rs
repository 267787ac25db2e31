//! mDNS with real multicast between network namespaces that this test
//! creates (hosts joined by veth pairs to a bridge in a hub namespace) and
//! removes. Every mDNS daemon runs in a child process inside a namespace:
//! nothing is sent in the main namespace. Without root (or `ip`), each test
//! is skipped with a printed reason, or fails when `CI` is set (CI runs as
//! root: a skip there would hide a regression).
//!
//! Children are this test binary, re-run with a role in the environment;
//! in that mode the test function plays the role (publish or browse, until
//! its stdin closes) and exits the process.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tsercom::CallerId;
use tsercom::discovery::{self, DiscoveryEvent, Interfaces, ServiceInfo};

const ROLE: &str = "TSERCOM_NETNS_ROLE";
const CALLER: &str = "TSERCOM_NETNS_CALLER";
const NAME: &str = "TSERCOM_NETNS_NAME";
const TEST: &str = "TSERCOM_NETNS_TEST";
const IFACES: &str = "TSERCOM_NETNS_INTERFACES";
const SERVICE: &str = "_tsxtest._tcp";
const PORT: u16 = 50_051;
const WAIT: Duration = Duration::from_secs(30);

fn describe(kind: &str, info: &ServiceInfo) -> String {
    let addrs: Vec<String> = info.addresses.iter().map(ToString::to_string).collect();
    let id = info.caller_id.map(|c| c.to_string()).unwrap_or_default();
    format!(
        "{kind} {} {id} {} {}",
        info.instance,
        info.port,
        addrs.join(",")
    )
}

/// The child's part; exits the process.
fn play(role: &str) -> ! {
    // The parent ends us by closing stdin.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = stop_tx.send(());
    });
    let interfaces = std::env::var(IFACES)
        .ok()
        .and_then(|s| Interfaces::parse(&s).ok())
        .unwrap_or_default();
    let code = match role {
        "publish" => {
            let id = std::env::var(CALLER)
                .ok()
                .and_then(|s| CallerId::parse(&s).ok());
            let name = std::env::var(NAME).unwrap_or_else(|_| "probe".into());
            match id.map(|id| discovery::publish(SERVICE, &name, PORT, id, &interfaces)) {
                Some(Ok(publisher)) => {
                    println!("\nPUBLISHED {}", publisher.fullname());
                    let _ = stop_rx.recv_timeout(Duration::from_secs(120));
                    drop(publisher); // goodbye
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
            match (rt, discovery::browse(SERVICE, &interfaces)) {
                (Ok(rt), Ok(mut browser)) => {
                    println!("\nBROWSING");
                    rt.block_on(async {
                        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
                        loop {
                            if stop_rx.try_recv().is_ok() {
                                return 0;
                            }
                            let next = tokio::time::timeout(
                                Duration::from_millis(200),
                                browser.next_event(),
                            );
                            match next.await {
                                Ok(Some(DiscoveryEvent::Added(info))) => {
                                    println!("\n{}", describe("ADDED", &info))
                                }
                                Ok(Some(DiscoveryEvent::Updated(info))) => {
                                    println!("\n{}", describe("UPDATED", &info))
                                }
                                Ok(Some(DiscoveryEvent::Removed { instance })) => {
                                    println!("\nREMOVED {instance}")
                                }
                                Ok(Some(_)) => {}
                                Ok(None) => return 3,
                                Err(_) if tokio::time::Instant::now() > deadline => return 4,
                                Err(_) => {}
                            }
                        }
                    })
                }
                _ => 5,
            }
        }
        "announce-raw" => raw_peer::announce(&stop_rx),
        "connect" => raw_peer::connect(&stop_rx, interfaces),
        "flood" => ptr_flood::flood(&stop_rx),
        _ => 6,
    };
    std::process::exit(code)
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

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// `hosts` namespaces, each with one veth into a bridge in a hub
/// namespace; host i has 10.213.<net>.<i+1>/24 and fd00:213:<net>::<i+1>/64.
/// Everything is removed on drop.
struct Net {
    hub: String,
    hosts: Vec<String>,
    net: u32,
}

impl Net {
    /// `ipv6 = false`: IPv6 disabled in the hosts before their links come
    /// up, so a host's veth sends nothing by itself (no router
    /// solicitations, no MLD reports): every packet on it is the test's.
    fn create_with(hosts: usize, ipv6: bool) -> Result<Self, String> {
        let net = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}{net}", std::process::id() % 100_000);
        let mut me = Net {
            hub: format!("tsx{tag}h"),
            hosts: Vec::new(),
            net,
        };
        ip(&["netns", "add", &me.hub])?;
        ip(&["-n", &me.hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &me.hub, "link", "set", "br0", "up"])?;
        for i in 0..hosts {
            let ns = format!("tsx{tag}n{i}");
            ip(&["netns", "add", &ns])?;
            me.hosts.push(ns.clone());
            if !ipv6 {
                for key in ["all", "default"] {
                    let setting = format!("net.ipv6.conf.{key}.disable_ipv6=1");
                    ip(&["netns", "exec", &ns, "sysctl", "-qw", &setting])?;
                }
            }
            let (inner, outer) = (format!("tsx{tag}i{i}"), format!("tsx{tag}o{i}"));
            ip(&[
                "link", "add", &inner, "type", "veth", "peer", "name", &outer,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &outer, "netns", &me.hub])?;
            ip(&["-n", &me.hub, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", &me.hub, "link", "set", &outer, "up"])?;
            let v4 = format!("10.213.{net}.{}/24", i + 1);
            let v6 = format!("fd00:213:{net}::{}/64", i + 1);
            ip(&["-n", &ns, "addr", "add", &v4, "dev", &inner])?;
            if ipv6 {
                ip(&["-n", &ns, "addr", "add", &v6, "dev", &inner, "nodad"])?;
            }
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(me)
    }

    /// Packets the hub received from host `host`'s veth: everything that
    /// host sent on its non-loopback interface.
    fn sent_by(&self, host: usize) -> u64 {
        let tag = format!("{}{}", std::process::id() % 100_000, self.net);
        let path = format!("/sys/class/net/tsx{tag}o{host}/statistics/rx_packets");
        let out = Command::new("ip")
            .args(["netns", "exec", &self.hub, "cat", &path])
            .output()
            .expect("read the hub's counter");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("counter {path}: {e}"))
    }

    /// `/proc/net/igmp` of host `host`: the IPv4 groups joined per device.
    fn igmp(&self, host: usize) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.hosts[host], "cat", "/proc/net/igmp"])
            .output()
            .expect("read /proc/net/igmp");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn v4(&self, host: usize) -> String {
        format!("10.213.{}.{}", self.net, host + 1)
    }

    fn v6(&self, host: usize) -> String {
        format!("fd00:213:{}::{}", self.net, host + 1)
    }

    fn spawn(&self, host: usize, test: &str, role: &str, caller: &CallerId, name: &str) -> Proc {
        self.spawn_on(host, test, role, caller, name, "all")
    }

    /// [`spawn`](Self::spawn) with an interface selection
    /// ([`Interfaces::parse`] syntax).
    fn spawn_on(
        &self,
        host: usize,
        test: &str,
        role: &str,
        caller: &CallerId,
        name: &str,
        interfaces: &str,
    ) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.hosts[host]])
            .arg(std::env::current_exe().expect("test binary"))
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(TEST, test)
            .env(CALLER, caller.to_string())
            .env(NAME, name)
            .env(IFACES, interfaces)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child in namespace");
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let keep = [
                        "SERVING",
                        "CONNECTED",
                        "DECOY",
                        "PUBLISHED",
                        "BROWSING",
                        "ADDED",
                        "UPDATED",
                        "REMOVED",
                        "ERROR",
                        "FLOODED",
                    ]
                    .iter()
                    .any(|m| line.starts_with(m));
                    if keep && tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Proc {
            child: Some(child),
            lines,
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.hosts {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["netns", "del", &self.hub]);
    }
}

/// A child this test started; ended (stdin closed, then killed by PID if
/// need be) on drop.
struct Proc {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// The next line starting with `prefix` (others skipped), within WAIT.
    fn expect(&self, prefix: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(e) => panic!("no {prefix} line within {WAIT:?}: {e}"),
            }
        }
    }

    /// Closes its stdin (it unpublishes or stops browsing and exits) and
    /// waits for the exit, bounded; past the bound it is killed on drop.
    fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        drop(child.stdin.take());
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = child.wait();
            let _ = tx.send(());
        });
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            // End the process this test started, by its PID, then fail.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the child {pid} did not exit after its stdin closed");
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// Parses "ADDED <instance> <caller> <port> <addrs>".
fn fields(line: &str) -> (String, String, String, Vec<String>) {
    let p: Vec<&str> = line.split(' ').collect();
    let addrs = p
        .get(4)
        .map(|a| a.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    (
        p.get(1).copied().unwrap_or_default().to_owned(),
        p.get(2).copied().unwrap_or_default().to_owned(),
        p.get(3).copied().unwrap_or_default().to_owned(),
        addrs,
    )
}

/// Role dispatch and skip: `None` when the caller should return.
fn setup(hosts: usize) -> Option<Net> {
    setup_with(hosts, true)
}

fn setup_with(hosts: usize, ipv6: bool) -> Option<Net> {
    if let Ok(role) = std::env::var(ROLE) {
        play(&role);
    }
    match Net::create_with(hosts, ipv6) {
        Ok(net) => Some(net),
        Err(reason) if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but network namespaces cannot be created ({reason}); needs root and iproute2"
            )
        }
        Err(reason) => {
            println!(
                "skipped: cannot create network namespaces ({reason}); needs root and iproute2"
            );
            None
        }
    }
}

#[test]
fn publish_browse_unpublish_restart_ipv4_ipv6() {
    let test = "publish_browse_unpublish_restart_ipv4_ipv6";
    let Some(net) = setup(2) else { return };
    let caller = CallerId::random();
    // The browser starts first.
    let browser = net.spawn(1, test, "browse", &caller, "");
    browser.expect("BROWSING");
    let publisher = net.spawn(0, test, "publish", &caller, "probe");
    publisher.expect("PUBLISHED probe-");

    let added = browser.expect("ADDED");
    let (instance, id, port, addrs) = fields(&added);
    assert!(instance.starts_with("probe-"), "{added}");
    assert_eq!(id, caller.to_string(), "CallerId from TXT: {added}");
    assert_eq!(port, PORT.to_string(), "{added}");
    assert!(addrs.contains(&net.v4(0)), "IPv4 address: {added}");
    assert!(
        !addrs.iter().any(|a| a.starts_with("127.") || a == "::1"),
        "loopback never advertised to another host: {added}"
    );
    // IPv6 (unique-local over the veth) arrives with the first answer or
    // as an update.
    let mut seen = addrs;
    while !seen.contains(&net.v6(0)) {
        let (_, _, _, more) = fields(&browser.expect("UPDATED"));
        seen = more;
    }

    // Unpublish → Removed.
    publisher.stop();
    assert_eq!(browser.expect("REMOVED"), format!("REMOVED {instance}"));

    // The same producer (same persisted CallerId) restarts: same instance.
    let publisher = net.spawn(0, test, "publish", &caller, "probe");
    let (again, id_again, _, _) = fields(&browser.expect("ADDED"));
    assert_eq!(
        (again, id_again),
        (instance, caller.to_string()),
        "seen as the same peer"
    );
    publisher.stop();
    browser.stop();
}

#[test]
fn three_publishers_one_browser() {
    let test = "three_publishers_one_browser";
    let Some(net) = setup(4) else { return };
    let browser = net.spawn(3, test, "browse", &CallerId::random(), "");
    browser.expect("BROWSING");
    let callers: Vec<CallerId> = (0..3).map(|_| CallerId::random()).collect();
    let publishers: Vec<Proc> = callers
        .iter()
        .enumerate()
        .map(|(i, c)| net.spawn(i, test, "publish", c, &format!("p{i}")))
        .collect();
    let mut found = std::collections::BTreeSet::new();
    while found.len() < 3 {
        let (_, id, _, _) = fields(&browser.expect("ADDED"));
        found.insert(id);
    }
    let expected: std::collections::BTreeSet<String> =
        callers.iter().map(ToString::to_string).collect();
    assert_eq!(found, expected);
    for p in publishers {
        p.stop();
    }
    browser.stop();
}

#[test]
fn one_publisher_three_browsers() {
    let test = "one_publisher_three_browsers";
    let Some(net) = setup(4) else { return };
    let caller = CallerId::random();
    let browsers: Vec<Proc> = (1..4)
        .map(|i| net.spawn(i, test, "browse", &caller, ""))
        .collect();
    for b in &browsers {
        b.expect("BROWSING");
    }
    let publisher = net.spawn(0, test, "publish", &caller, "solo");
    for b in &browsers {
        let (_, id, _, _) = fields(&b.expect("ADDED"));
        assert_eq!(id, caller.to_string());
    }
    publisher.stop();
    for b in browsers {
        b.expect("REMOVED");
        b.stop();
    }
}

#[test]
fn address_change_is_an_update() {
    let test = "address_change_is_an_update";
    let Some(net) = setup(2) else { return };
    let caller = CallerId::random();
    let browser = net.spawn(1, test, "browse", &caller, "");
    browser.expect("BROWSING");
    let publisher = net.spawn(0, test, "publish", &caller, "mover");
    browser.expect("ADDED");
    // The publisher's host gains an address: re-announced, seen as Updated.
    let extra = format!("10.213.{}.77", net.net);
    let dev = format!("tsx{}{}i0", std::process::id() % 100_000, net.net);
    ip(&[
        "-n",
        &net.hosts[0],
        "addr",
        "add",
        &format!("{extra}/24"),
        "dev",
        &dev,
    ])
    .expect("add address");
    loop {
        let (_, _, _, addrs) = fields(&browser.expect("UPDATED"));
        if addrs.contains(&extra) {
            break;
        }
    }
    publisher.stop();
    browser.stop();
}

/// The devices of a `/proc/net/igmp` listing that joined 224.0.0.251 (the
/// file writes it little-endian: `FB0000E0`).
fn mdns_group_devices(igmp: &str) -> Vec<String> {
    let mut device = String::new();
    let mut devices = Vec::new();
    for line in igmp.lines().skip(1) {
        if !line.starts_with(char::is_whitespace) {
            device = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .trim_end_matches(':')
                .to_owned();
        } else if line.split_whitespace().next() == Some("FB0000E0") {
            devices.push(device.clone());
        }
    }
    devices
}

#[test]
fn loopback_only_mode_finds_peers_on_lo_and_leaks_nothing() {
    let test = "loopback_only_mode_finds_peers_on_lo_and_leaks_nothing";
    // One host with a second interface (a veth to a hub), IPv6 off so the
    // veth is silent unless something is sent on it.
    let Some(net) = setup_with(1, false) else {
        return;
    };
    let before = net.sent_by(0);
    let caller = CallerId::random();
    let browser = net.spawn_on(0, test, "browse", &caller, "", "loopback");
    browser.expect("BROWSING");
    let publisher = net.spawn_on(0, test, "publish", &caller, "lo-probe", "loopback");
    publisher.expect("PUBLISHED lo-probe-");
    let added = browser.expect("ADDED");
    let (instance, id, port, addrs) = fields(&added);
    assert!(instance.starts_with("lo-probe-"), "{added}");
    assert_eq!(id, caller.to_string(), "CallerId from TXT: {added}");
    assert_eq!(port, PORT.to_string(), "{added}");
    assert_eq!(
        addrs,
        vec!["127.0.0.1".to_owned()],
        "only loopback: {added}"
    );

    // Both run: the mDNS group is joined on lo and nowhere else.
    let igmp = net.igmp(0);
    assert_eq!(mdns_group_devices(&igmp), vec!["lo".to_owned()], "{igmp}");

    // Goodbye → Removed; a restart with the same CallerId is the same peer.
    publisher.stop();
    assert_eq!(browser.expect("REMOVED"), format!("REMOVED {instance}"));
    let publisher = net.spawn_on(0, test, "publish", &caller, "lo-probe", "loopback");
    let (again, _, _, _) = fields(&browser.expect("ADDED"));
    assert_eq!(again, instance, "the same peer after a restart");
    publisher.stop();
    browser.stop();

    // Not one packet left through the veth...
    let after = net.sent_by(0);
    assert_eq!(
        after, before,
        "packets sent on the non-loopback interface in loopback-only mode"
    );

    // ...and the counter would have seen one: mdns-sd on all interfaces
    // sends on it (the control that makes the check above meaningful).
    let control = net.spawn_on(0, test, "publish", &caller, "control", "all");
    control.expect("PUBLISHED control-");
    let deadline = std::time::Instant::now() + WAIT;
    while net.sent_by(0) == after {
        assert!(
            std::time::Instant::now() < deadline,
            "the control publisher sent nothing on the veth within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50)); // polling a kernel counter: no event to wait on
    }
    control.stop();
}

#[test]
fn address_family_selection_limits_what_is_announced() {
    let test = "address_family_selection_limits_what_is_announced";
    let Some(net) = setup(2) else { return };
    for (family, expected) in [("ipv4", net.v4(0)), ("ipv6", net.v6(0))] {
        let caller = CallerId::random();
        let browser = net.spawn(1, test, "browse", &caller, "");
        browser.expect("BROWSING");
        let publisher = net.spawn_on(0, test, "publish", &caller, family, family);
        let added = browser.expect("ADDED");
        let (_, id, _, addrs) = fields(&added);
        assert_eq!(id, caller.to_string(), "{added}");
        let expected: std::net::IpAddr = expected.parse().expect("address");
        let parsed: Vec<std::net::IpAddr> = addrs.iter().filter_map(|a| a.parse().ok()).collect();
        assert!(parsed.contains(&expected), "{family}: {added}");
        let v6 = |a: &String| a.contains(':');
        match family {
            "ipv4" => assert!(!addrs.iter().any(v6), "only IPv4 announced: {added}"),
            _ => assert!(addrs.iter().all(v6), "only IPv6 announced: {added}"),
        }
        publisher.stop();
        browser.stop();
    }
}

#[test]
fn a_remote_peers_loopback_address_is_not_dialed() {
    let test = "a_remote_peers_loopback_address_is_not_dialed";
    let Some(net) = setup(2) else { return };
    // Addresses that sort after 127.0.0.1, so that "sorted, first" would
    // dial the loopback.
    let reachable = format!("172.29.{}.1", net.net);
    for host in 0..2 {
        let dev = format!("tsx{}{}i{host}", std::process::id() % 100_000, net.net);
        let addr = format!("172.29.{}.{}/24", net.net, host + 1);
        ip(&["-n", &net.hosts[host], "addr", "add", &addr, "dev", &dev]).expect("add address");
    }
    let caller = CallerId::random();
    // Host 1 browses and connects; a decoy listens on its own 127.0.0.1
    // at the peer's port, to catch a dial of the advertised loopback.
    let connector = net.spawn_on(1, test, "connect", &caller, "", "all");
    connector.expect("BROWSING");
    // Host 0 serves tsercom and announces 127.0.0.1 and its reachable
    // address (as a peer that advertises loopback would).
    let peer = net.spawn_on(0, test, "announce-raw", &caller, &reachable, "all");
    peer.expect("SERVING");
    let connected = connector.expect("CONNECTED");
    assert_eq!(
        connected,
        format!("CONNECTED {reachable}:{PORT} {caller}"),
        "the reachable address, with the announced CallerId"
    );
    assert_eq!(connector.expect("DECOY"), "DECOY untouched");
    peer.stop();
    connector.stop();
}

/// The children of `a_remote_peers_loopback_address_is_not_dialed`.
#[path = "netns_children/raw_peer.rs"]
mod raw_peer;

/// The child of `a_ptr_flood_is_bounded_by_the_loopback_browser`.
#[path = "netns_children/ptr_flood.rs"]
mod ptr_flood;

/// A flood of announcements of distinct instances on the loopback mDNS
/// group (6 000 instances, TTL 136 years; before the bound a PTR flood grew
/// the browser by 144 MB) is bounded: the loopback browser tracks 1 024
/// instances at most and ignores further new ones, while one it tracks
/// still updates. Inside a namespace this test creates (multicast never
/// leaves it).
#[test]
fn a_ptr_flood_is_bounded_by_the_loopback_browser() {
    let test = "a_ptr_flood_is_bounded_by_the_loopback_browser";
    let Some(net) = setup_with(1, false) else {
        return;
    };
    let caller = CallerId::random();
    let browser = net.spawn_on(0, test, "browse", &caller, "", "loopback");
    browser.expect("BROWSING");
    let flooder = net.spawn_on(0, test, "flood", &caller, "", "loopback");
    // Datagrams from one sender are read in order: once the end marker (an
    // update of flood-0, sent after the flood) is reported, every earlier
    // announcement was taken in or ignored.
    let mut added = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = browser
            .lines
            .recv_timeout(left)
            .expect("the end marker is reported in time");
        if line.starts_with("ADDED") {
            let (instance, _, _, _) = fields(&line);
            assert!(added.insert(instance.clone()), "added twice: {instance}");
        } else if line.starts_with("UPDATED") {
            let (instance, _, port, _) = fields(&line);
            if instance.starts_with("flood-0.") && port == ptr_flood::MARKER_PORT.to_string() {
                break;
            }
        }
    }
    assert_eq!(
        added.len(),
        tsercom::discovery::loopback::MAX_INSTANCES,
        "the browser tracks at most MAX_INSTANCES of the {} announced",
        ptr_flood::FLOOD
    );
    flooder.expect("FLOODED");
    flooder.stop();
    browser.stop();
}
