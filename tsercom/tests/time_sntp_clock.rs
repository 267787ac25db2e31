//! `SntpClock` as a runtime's clock: it follows our SNTP server (strict)
//! and a Python-tsercom-shaped one (compatibility mode), a runtime stamps
//! with it, it falls back to the local clock at once without a server, a
//! `DENY` kiss stops its queries; and the client against the real Python
//! tsercom `TimeSyncServer` (PyPI 1.1.x, run by the Python in
//! `TSERCOM_PYTHON`, which `.ci/run` installs into a virtual environment).

mod sntp_fake;

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sntp_fake::{FakeServer, MODE4_V4, PYTHON_SKEW_NANOS, python_reply, runtime, strict_reply};
use tsercom::Error;
use tsercom::runtime::{BoxFuture, Runtime, RuntimeContext, RuntimeInitializer, StopReason};
use tsercom::time::sntp::{
    SntpClock, SntpConfig, SntpMode, SntpRejection, SntpServer, SntpStatus, query_with,
};
use tsercom::time::{Clock, OffsetClock, SyncState, SystemClock, Timestamp};
use tsercom::{CallerId, Role, RuntimeConfig, RuntimeManager};

/// A runtime that, at start, pushes one sample stamped with its configured
/// clock, as the library's services stamp what they send.
struct StampsWithItsClock(RuntimeConfig);

struct Stamper(RuntimeContext<f64, f64>);

impl RuntimeInitializer for StampsWithItsClock {
    type Inbound = f64;
    type Outbound = f64;
    type Handle = tsercom::RuntimeHandle<f64, f64>;

    fn name(&self) -> String {
        "sntp-stamper".into()
    }

    fn config(&self) -> tsercom::Result<RuntimeConfig> {
        Ok(self.0.clone())
    }

    fn create(&mut self, ctx: RuntimeContext<f64, f64>) -> tsercom::Result<Box<dyn Runtime>> {
        Ok(Box::new(Stamper(ctx)))
    }
}

impl Runtime for Stamper {
    fn start(&mut self) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            let endpoint = self.0.register_caller(CallerId::random(), None);
            let now = self.0.config().clock.0.now();
            endpoint.push(1.0, now).await
        })
    }

    fn stop(&mut self, _reason: StopReason) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Waits (bounded) until `clock`'s status satisfies `what`.
fn wait_status(clock: &SntpClock, what: impl Fn(&SntpStatus) -> bool) {
    let mut watch = clock.watch();
    runtime()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|s| what(s))).await
        })
        .expect("bounded wait")
        .expect("the clock's thread is alive");
}

/// Runs a stamper over `clock`; returns (its stamp - system time before,
/// system time after - system time before), in nanoseconds.
fn stamp_offset(clock: SntpClock) -> (i128, i128) {
    let config = RuntimeConfig::new(Role::Producer).with_clock(clock);
    let mut manager = RuntimeManager::new();
    let handle = manager
        .register(StampsWithItsClock(config))
        .expect("register");
    let before = Timestamp::now();
    manager.start_in_process().expect("start");
    let after = Timestamp::now();
    let received = handle.received().take_new();
    manager.shutdown().expect("shutdown");
    let stamp = received[0].1[0].timestamp;
    (stamp.nanos_since(&before), after.nanos_since(&before))
}

#[test]
fn sntp_clock_drives_a_runtime_in_either_mode() {
    let rt = runtime();
    let strict = rt
        .block_on(SntpServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            Arc::new(OffsetClock {
                base: SystemClock,
                offset_nanos: PYTHON_SKEW_NANOS,
            }),
        ))
        .expect("bind");
    let python = FakeServer::start(python_reply);
    for (addr, mode) in [
        (strict.local_addr(), SntpMode::Strict),
        (python.addr, SntpMode::PythonTsercom),
    ] {
        let clock = SntpClock::spawn(
            SntpConfig::new(addr)
                .with_mode(mode)
                .with_interval(Duration::from_millis(20)),
        )
        .expect("spawn");
        assert!(
            rt.block_on(clock.wait_synchronized(Duration::from_secs(30))),
            "{:?}",
            clock.status()
        );
        // Several exchanges, so the estimate is a min-delay one.
        wait_status(&clock, |s| s.exchanges >= 4);
        let SyncState::Synchronized(estimate) = clock.state() else {
            panic!("{mode:?}: not synchronized");
        };
        assert!(
            (estimate.offset_nanos - PYTHON_SKEW_NANOS).abs() <= estimate.delay_nanos / 2 + 2,
            "{mode:?}: {estimate:?}"
        );
        let (offset, window) = stamp_offset(clock.clone());
        let slack = estimate.delay_nanos / 2 + 2;
        assert!(
            offset >= PYTHON_SKEW_NANOS - slack && offset <= PYTHON_SKEW_NANOS + window + slack,
            "{mode:?}: stamp {offset} ns after the start, expected about +30 s"
        );
    }
}

#[test]
fn sntp_clock_without_a_server_falls_back_to_the_local_clock_at_once() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let clock = SntpClock::spawn(
        SntpConfig::new(silent.local_addr().expect("addr"))
            .with_timeout(Duration::from_millis(50))
            .with_interval(Duration::from_millis(10)),
    )
    .expect("spawn");
    assert_eq!(clock.state(), SyncState::NotSynchronized);
    assert!(clock.try_now().is_none());
    // A runtime on it starts and stamps with the local clock.
    let (offset, window) = stamp_offset(clock.clone());
    assert!(
        (0..=window).contains(&offset),
        "{offset} ns, window {window} ns"
    );
    // The background queries report their failures.
    wait_status(&clock, |s| s.failures >= 2);
    let status = clock.status();
    assert!(status.estimate.is_none());
    assert!(
        matches!(
            status.last_error.as_deref(),
            Some(Error::SntpNoReply { .. })
        ),
        "{status:?}"
    );
    let before = Instant::now();
    let _ = clock.now();
    assert!(before.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_deny_kiss_stops_the_queries() {
    let deny = FakeServer::start(|q| {
        let mut r = strict_reply(q, MODE4_V4, 0, 0);
        r[12..16].copy_from_slice(b"DENY");
        r.to_vec()
    });
    let clock =
        SntpClock::spawn(SntpConfig::new(deny.addr).with_interval(Duration::from_millis(10)))
            .expect("spawn");
    wait_status(&clock, |s| s.denied);
    let status = clock.status();
    assert_eq!((status.exchanges, status.failures), (0, 1));
    assert!(
        matches!(
            status.last_error.as_deref(),
            Some(Error::SntpRejected { reason: SntpRejection::KissOfDeath { code }, .. }) if code == "DENY"
        ),
        "{status:?}"
    );
}

/// The real Python tsercom `TimeSyncServer` (PyPI tsercom 1.1.x) in a
/// child process, run by the Python in `TSERCOM_PYTHON` (`.ci/run` makes a
/// virtual environment with it). Where that is not set: fails when `CI` is
/// set, else prints why and skips.
struct PythonServer {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        // Closing stdin ends it; kill (by its PID, through `Child`) if not.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python_server() -> Option<PythonServer> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let Some(python) = std::env::var_os("TSERCOM_PYTHON") else {
        let why =
            "TSERCOM_PYTHON (a Python with tsercom 1.1.x from PyPI, as .ci/run makes) is not set";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        println!("skipped: {why}");
        return None;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/python_sntp_server.py"
    );
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python TimeSyncServer");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut server = PythonServer {
        child,
        addr: ([127, 0, 0, 1], 0).into(),
    };
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the Python server printed its port");
    let port: u16 = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a port: {line:?}"));
    server.addr.set_port(port);
    Some(server)
}

#[test]
fn real_python_time_sync_server() {
    let Some(server) = python_server() else {
        return;
    };
    let addr = server.addr;
    let rt = runtime();
    let strict = rt.block_on(query_with(
        addr,
        &SystemClock,
        Duration::from_secs(10),
        SntpMode::Strict,
    ));
    println!("strict: {strict:?}");
    assert!(
        matches!(
            strict,
            Err(Error::SntpRejected {
                reason: SntpRejection::OriginMismatch {
                    shape_of: Some(SntpMode::PythonTsercom),
                    ..
                },
                ..
            })
        ),
        "{strict:?}"
    );
    for _ in 0..5 {
        let exchange = rt
            .block_on(query_with(
                addr,
                &SystemClock,
                Duration::from_secs(10),
                SntpMode::PythonTsercom,
            ))
            .expect("accepted in compatibility mode");
        // Same host, same clock: offset 0 within half the round trip
        // (Python truncates to whole nanoseconds' NTP fractions: + 2 ns).
        println!(
            "offset {} ns, delay {} ns",
            exchange.offset_nanos(),
            exchange.delay_nanos()
        );
        assert!(exchange.offset_nanos().abs() <= exchange.delay_nanos() / 2 + 2);
    }
}
