//! A `Sensor` server that records every command it receives, shared by the
//! connection tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tsercom::tonic::{Request, Response, Status, Streaming};
use tsercom_test_build_wiring::sensor_server::Sensor;
use tsercom_test_build_wiring::{Command, Reading};

/// Generous: "should happen" waits never decide a test by timing.
pub const WAIT: Duration = Duration::from_secs(30);

/// Records each command's action; answers each with a `Reading`.
#[derive(Clone, Default)]
pub struct Recorder {
    pub actions: Arc<Mutex<Vec<String>>>,
    changed: Arc<Notify>,
}

impl Recorder {
    async fn wait_until(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.changed.notified();
                {
                    let actions = self.actions.lock().expect("lock");
                    if done(&actions) {
                        return actions.clone();
                    }
                }
                notified.await;
            }
        })
        .await
        .expect("the commands arrived in time")
    }

    /// Waits until `n` commands arrived; returns them all.
    pub async fn wait_for_count(&self, n: usize) -> Vec<String> {
        self.wait_until(|a| a.len() >= n).await
    }

    /// Waits until a command with `action` arrived.
    pub async fn wait_for(&self, action: &str) {
        self.wait_until(|a| a.iter().any(|x| x == action)).await;
    }
}

#[tsercom::tonic::async_trait]
impl Sensor for Recorder {
    type StreamStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<Reading, Status>> + Send + 'static>,
    >;

    async fn stream(
        &self,
        request: Request<Streaming<Command>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        use tokio_stream::StreamExt;
        let recorder = self.clone();
        let readings = request.into_inner().map(move |c| {
            c.map(|c| {
                recorder.actions.lock().expect("lock").push(c.action);
                recorder.changed.notify_waiters();
                Reading::default()
            })
        });
        Ok(Response::new(Box::pin(readings)))
    }

    async fn ping(
        &self,
        _: Request<tsercom::proto::TestConnectionCall>,
    ) -> Result<Response<tsercom::proto::TestConnectionResponse>, Status> {
        Ok(Response::new(tsercom::proto::TestConnectionResponse {}))
    }
}

/// A child process of a test (`e2e_producer`, `e2e_robot`) that printed
/// `ready <caller id>`; killed (by its PID, through `Child`) on drop.
pub struct Peer {
    pub child: std::process::Child,
    pub id: tsercom::CallerId,
    /// Where it listens, when it hosts (`ready <id> <addr>`): the port
    /// its system chose for `E2E_LISTEN=127.0.0.1:0`.
    pub listening: Option<std::net::SocketAddr>,
}

impl Peer {
    /// Where it listens (it must host).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.listening.expect("the peer reported where it listens")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (e.g. `-STOP`) to a peer process this test started, by
/// its PID.
pub fn signal(peer: &Peer, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &peer.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal}");
}

/// Loopback, any port: listen here and read the bound port from the
/// handle (`handle.listening()`), so no other process can take it first.
pub const LOOPBACK_ANY_PORT: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0),
);

/// A loopback port nobody listens on now, for a server that must bind the
/// same port again after a restart (so it must be known in advance). Bound
/// and released: another process could take it in between, which fails the
/// test loudly, never silently.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Spawns `command` (stdin and stdout piped) and waits for its
/// `ready <caller id>` line.
pub fn spawn_ready(command: &mut std::process::Command) -> Peer {
    use std::io::{BufRead, BufReader};
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn the peer process");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the peer reported ready");
    let mut words = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("unexpected peer output {line:?}"))
        .split(' ');
    let id = words
        .next()
        .and_then(|id| tsercom::CallerId::parse(id).ok())
        .unwrap_or_else(|| panic!("unexpected peer output {line:?}"));
    let listening = words.next().map(|addr| {
        addr.parse()
            .unwrap_or_else(|e| panic!("unexpected address in {line:?}: {e}"))
    });
    Peer {
        child,
        id,
        listening,
    }
}

/// Set in the test process re-run inside a network namespace.
pub const IN_NETNS: &str = "E2E_IN_NETNS";

/// Runs `test` (of the current test binary) again inside a new network
/// namespace with only `lo`, up (the namespace ends with its last process),
/// and asserts it passed. Where namespaces cannot be made (not root): fails
/// when `CI` is set (CI runs as root, so a skip there would hide a broken
/// setup), else prints why and returns `false`.
pub fn rerun_in_network_namespace(test: &str) -> bool {
    use std::process::Command as Process;
    match Process::new("unshare").args(["-n", "true"]).status() {
        Ok(status) if status.success() => {}
        other => {
            let why =
                format!("cannot create a network namespace (`unshare -n`: {other:?}); needs root");
            assert!(std::env::var_os("CI").is_none(), "{test}: {why}");
            println!("skipped: {why}");
            return false;
        }
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = Process::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        .env("TSERCOM_STATE_DIR", state.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the test in a namespace");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut out = String::new();
        if let Some(mut stdout) = child.stdout.take() {
            let _ = stdout.read_to_string(&mut out);
        }
        let _ = tx.send(child.wait().map(|status| (status, out)));
    });
    match rx.recv_timeout(Duration::from_secs(300)) {
        Ok(Ok((status, out))) => {
            println!("{out}");
            assert!(
                status.success(),
                "the test inside the namespace failed ({status}); its output is above"
            );
            // A renamed test would run nothing and pass: it must have run.
            assert!(
                out.contains("test result: ok. 1 passed"),
                "the test inside the namespace did not run `{test}`; its output is above"
            );
        }
        other => {
            // End the process this test started, by its PID.
            let _ = Process::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the test inside the namespace did not finish: {other:?}");
        }
    }
    true
}

/// Publishes `n` readings (`celsius` 0, 1, …) and waits until `aggregator`
/// has taken `n` in all (each wait bounded by [`WAIT`]); `each` runs after
/// every take (e.g. to check the manager for errors). Returns how many it
/// took.
pub fn publish_and_take(
    producer: &tsercom::ProducerHandle<Reading, Command>,
    aggregator: &tsercom::AggregatorHandle<Reading, Command>,
    n: usize,
    mut each: impl FnMut(),
) -> usize {
    for i in 0..n {
        producer
            .publish(Reading {
                celsius: i as f64,
                ..Reading::default()
            })
            .expect("publish");
    }
    let mut taken = 0;
    while taken < n {
        assert!(
            aggregator.data().wait_new(WAIT),
            "readings arrived ({taken} of {n})"
        );
        taken += aggregator
            .data()
            .take_new()
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>();
        each();
    }
    taken
}
