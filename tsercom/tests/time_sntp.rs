//! SNTP against our server, decoded by an independent RFC 5905 decoder
//! written here (not the library's), with the server clock skewed +2.5 s;
//! garbage datagrams are ignored and counted and the server keeps serving.
//! The client against fake servers written here: each defect of RFC 4330
//! §5 is its own rejection (never a timeout); a reply shaped like Python
//! tsercom's `TimeSyncServer` is refused in strict mode and read in its
//! mode; `SntpClock` as a runtime's clock, with and without a server.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tsercom::time::sntp::{SntpServer, query};
use tsercom::time::{OffsetClock, OffsetEstimator, SystemClock};

const SKEW_NANOS: i128 = 2_500_000_000;

/// RFC 5905 §6: a 64-bit timestamp is 32 bits of seconds since 1900 and 32
/// bits of fraction. This decoder assumes era 0 (until 2036), which the test
/// date satisfies.
fn ntp_to_unix_nanos(bytes: &[u8]) -> i128 {
    let secs = i128::from(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    let frac = i128::from(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
    (secs - 2_208_988_800) * 1_000_000_000 + (frac * 1_000_000_000) / (1_i128 << 32)
}

fn unix_nanos_to_ntp(nanos: i128) -> [u8; 8] {
    let secs = nanos.div_euclid(1_000_000_000) + 2_208_988_800;
    let frac = (nanos.rem_euclid(1_000_000_000) << 32) / 1_000_000_000;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&u32::try_from(secs).expect("era 0").to_be_bytes());
    out[4..].copy_from_slice(&u32::try_from(frac).expect("fraction").to_be_bytes());
    out
}

fn now_nanos() -> i128 {
    i128::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos(),
    )
    .expect("fits")
}

/// One exchange by hand: returns (offset, delay) in nanoseconds.
fn independent_exchange(socket: &UdpSocket) -> (i128, i128) {
    let mut request = [0u8; 48];
    request[0] = 0b00_100_011; // LI 0, VN 4, mode 3
    let t1 = now_nanos();
    request[40..48].copy_from_slice(&unix_nanos_to_ntp(t1));
    socket.send(&request).expect("send");
    let mut reply = [0u8; 128];
    let len = socket
        .recv(&mut reply)
        .expect("a reply within the socket timeout");
    let t4 = now_nanos();
    assert_eq!(len, 48);
    assert_eq!(reply[0] & 0b111, 4, "mode 4 (server)");
    assert_eq!((reply[0] >> 3) & 0b111, 4, "version echoed");
    assert_eq!(reply[0] >> 6, 0, "no leap warning: synchronized");
    assert_eq!(reply[1], 1, "stratum 1");
    assert_eq!(&reply[24..32], &request[40..48], "originate = our transmit");
    let t2 = ntp_to_unix_nanos(&reply[32..40]);
    let t3 = ntp_to_unix_nanos(&reply[40..48]);
    let offset = ((t2 - t1) + (t3 - t4)) / 2;
    let delay = (t4 - t1) - (t3 - t2);
    (offset, delay)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn standard_client_measures_the_true_offset() {
    let rt = runtime();
    let server = rt
        .block_on(SntpServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            Arc::new(OffsetClock {
                base: SystemClock,
                offset_nanos: SKEW_NANOS,
            }),
        ))
        .expect("bind");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    socket.connect(server.local_addr()).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    for _ in 0..5 {
        let (offset, delay) = independent_exchange(&socket);
        // Within RTT/2, plus 2 ns of NTP fraction rounding.
        let error = (offset - SKEW_NANOS).abs();
        assert!(
            error <= delay / 2 + 2,
            "offset {offset} ns, delay {delay} ns"
        );
    }
    assert_eq!(server.stats().served.load(Ordering::Relaxed), 5);
}

#[test]
fn library_client_and_estimator_agree() {
    runtime().block_on(async {
        let server = SntpServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            Arc::new(OffsetClock {
                base: SystemClock,
                offset_nanos: SKEW_NANOS,
            }),
        )
        .await
        .expect("bind");
        let mut estimator = OffsetEstimator::new(8);
        for _ in 0..8 {
            let exchange = query(server.local_addr(), &SystemClock, Duration::from_secs(30))
                .await
                .expect("exchange");
            estimator.add(exchange);
        }
        let estimate = estimator.estimate().expect("estimate");
        let error = (estimate.offset_nanos - SKEW_NANOS).abs();
        assert!(error <= estimate.delay_nanos / 2 + 2, "{estimate:?}");
    });
}

#[test]
fn query_without_a_server_times_out_instead_of_blocking() {
    let rt = runtime();
    // A bound UDP socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let result = rt.block_on(query(addr, &SystemClock, Duration::from_millis(200)));
    assert!(
        matches!(result, Err(tsercom::Error::SntpNoReply { .. })),
        "{result:?}"
    );
}

#[test]
fn garbage_is_counted_and_the_server_keeps_serving() {
    let rt = runtime();
    let server = rt
        .block_on(SntpServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            Arc::new(SystemClock),
        ))
        .expect("bind");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    socket.connect(server.local_addr()).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let garbage: [&[u8]; 4] = [b"", b"hello", &[0xff; 47], &[0u8; 48]];
    for g in garbage {
        socket.send(g).expect("send garbage");
    }
    // The valid request is answered after all the garbage was processed.
    let (_, delay) = independent_exchange(&socket);
    assert!(delay >= 0);
    assert_eq!(server.stats().malformed.load(Ordering::Relaxed), 4);
    assert_eq!(server.stats().served.load(Ordering::Relaxed), 1);
}

// ---------------------------------------------------------------------------
// The client against fake servers.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tsercom::Error;
use tsercom::time::sntp::{
    NtpField, SntpClock, SntpConfig, SntpMode, SntpRejection, SntpStatus, query_with,
};
use tsercom::time::{Clock, SyncState, Timestamp};

/// How a fake server answers one request (the request's 48 bytes).
type Answer = fn(&[u8; 48]) -> Vec<u8>;

/// Whether a rejection is the expected one.
type Expected = fn(&SntpRejection) -> bool;

/// A UDP server on 127.0.0.1 answering every request with `answer` until
/// dropped (its thread polls a stop flag between bounded reads).
struct FakeServer {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    fn start(answer: Answer) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind fake server");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while !flag.load(Ordering::Relaxed) {
                let Ok((len, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let mut request = [0u8; 48];
                if len >= 48 {
                    request.copy_from_slice(&buf[..48]);
                }
                socket.send_to(&answer(&request), peer).expect("reply");
            }
        });
        FakeServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A well-formed strict reply to `request` from a server `skew` ahead;
/// `first` is the LI/VN/mode byte.
fn strict_reply(request: &[u8; 48], first: u8, stratum: u8, skew: i128) -> [u8; 48] {
    let now = unix_nanos_to_ntp(now_nanos() + skew);
    let mut r = [0u8; 48];
    r[0] = first;
    r[1] = stratum;
    r[12..16].copy_from_slice(b"GPS\0");
    r[24..32].copy_from_slice(&request[40..48]);
    r[32..40].copy_from_slice(&now);
    r[40..48].copy_from_slice(&now);
    r
}

const MODE4_V4: u8 = 0b00_100_100;

/// The reply Python tsercom 1.1.3's `TimeSyncServer` builds
/// (`struct.pack("!B B B b 11I", 4 << 3 | 4, 1, 0 × 9, server_sec,
/// server_frac, client_sec, client_frac)` where `client_sec, client_frac`
/// are items 10 and 11 of the request unpacked with the same format, i.e.
/// request bytes 28..36): originate 0, receive = its clock, transmit =
/// request bytes 28..36. Its clock here is +30 s.
fn python_reply(request: &[u8; 48]) -> Vec<u8> {
    let mut r = vec![0u8; 48];
    r[0] = MODE4_V4;
    r[1] = 1;
    r[32..40].copy_from_slice(&unix_nanos_to_ntp(now_nanos() + PYTHON_SKEW_NANOS));
    r[40..48].copy_from_slice(&request[28..36]);
    r
}

const PYTHON_SKEW_NANOS: i128 = 30_000_000_000;

fn query_fake(
    answer: Answer,
    mode: SntpMode,
    timeout: Duration,
) -> (tsercom::Result<tsercom::time::Exchange>, Duration) {
    let server = FakeServer::start(answer);
    let rt = runtime();
    let started = Instant::now();
    let result = rt.block_on(query_with(server.addr, &SystemClock, timeout, mode));
    (result, started.elapsed())
}

#[test]
fn each_rejected_reply_has_its_own_error_and_none_is_a_timeout() {
    fn kiss(request: &[u8; 48]) -> Vec<u8> {
        // A kiss as some servers send it: stratum 0, every time zero.
        let mut r = vec![0u8; 48];
        r[0] = 0b11_100_100;
        r[12..16].copy_from_slice(b"RATE");
        let _ = request;
        r
    }
    let cases: [(&str, Answer, Expected); 10] = [
        (
            "kiss",
            kiss,
            |r| matches!(r, SntpRejection::KissOfDeath { code } if code == "RATE"),
        ),
        (
            "deny kiss with our origin",
            |q| {
                let mut r = strict_reply(q, MODE4_V4, 0, 0);
                r[12..16].copy_from_slice(b"DENY");
                r.to_vec()
            },
            |r| matches!(r, SntpRejection::KissOfDeath { code } if code == "DENY"),
        ),
        (
            "leap indicator 3",
            |q| strict_reply(q, 0b11_100_100, 2, 100_000_000_000).to_vec(),
            |r| matches!(r, SntpRejection::Unsynchronized),
        ),
        (
            "stratum 16",
            |q| strict_reply(q, MODE4_V4, 16, 0).to_vec(),
            |r| matches!(r, SntpRejection::StratumOutOfRange { stratum: 16 }),
        ),
        (
            "zero transmit",
            |q| {
                let mut r = strict_reply(q, MODE4_V4, 2, 0);
                r[40..48].fill(0);
                r.to_vec()
            },
            |r| {
                *r == SntpRejection::ZeroTimestamp {
                    field: NtpField::Transmit,
                }
            },
        ),
        (
            "zero receive",
            |q| {
                let mut r = strict_reply(q, MODE4_V4, 2, 0);
                r[32..40].fill(0);
                r.to_vec()
            },
            |r| {
                *r == SntpRejection::ZeroTimestamp {
                    field: NtpField::Receive,
                }
            },
        ),
        (
            "transmit before receive",
            |q| {
                let mut r = strict_reply(q, MODE4_V4, 2, 0);
                r[32..40].copy_from_slice(&unix_nanos_to_ntp(now_nanos() + 1_000_000_000));
                r.to_vec()
            },
            |r| matches!(r, SntpRejection::Inverted { .. }),
        ),
        (
            "mode 3",
            |q| strict_reply(q, 0b00_100_011, 2, 0).to_vec(),
            |r| matches!(r, SntpRejection::WrongMode { mode: 3 }),
        ),
        (
            "version 5",
            |q| strict_reply(q, 0b00_101_100, 2, 0).to_vec(),
            |r| matches!(r, SntpRejection::UnsupportedVersion { version: 5 }),
        ),
        ("Python tsercom's shape, strictly", python_reply, |r| {
            matches!(
                r,
                SntpRejection::OriginMismatch {
                    field: NtpField::Originate,
                    received: 0,
                    shape_of: Some(SntpMode::PythonTsercom),
                    ..
                }
            )
        }),
    ];
    // These replies carry our timestamp (or are kisses): the query ends at
    // once, long before its 30 s timeout.
    for (name, answer, expected) in cases {
        let (result, elapsed) = query_fake(answer, SntpMode::Strict, Duration::from_secs(30));
        match result {
            Err(error @ Error::SntpRejected { .. }) => {
                let Error::SntpRejected { reason, .. } = &error else {
                    unreachable!()
                };
                assert!(expected(reason), "{name}: wrong reason {reason:?}");
                println!("{name}: {error}");
            }
            other => panic!("{name}: expected a rejection, got {other:?}"),
        }
        assert!(
            elapsed < Duration::from_secs(20),
            "{name}: waited {elapsed:?}"
        );
    }
}

#[test]
fn strays_are_reported_by_what_they_were_after_the_timeout() {
    // Too short to identify, or the origin of another request: the client
    // keeps waiting (they may be strays), then says what it got.
    let short: Answer = |_| vec![0x24; 12];
    let (result, _) = query_fake(short, SntpMode::Strict, Duration::from_millis(300));
    assert!(
        matches!(
            result,
            Err(Error::SntpRejected {
                reason: SntpRejection::Truncated { len: 12 },
                ..
            })
        ),
        "{result:?}"
    );
    let other_origin: Answer = |q| {
        let mut r = strict_reply(q, MODE4_V4, 2, 0);
        r[31] ^= 1;
        r.to_vec()
    };
    let (result, _) = query_fake(other_origin, SntpMode::Strict, Duration::from_millis(300));
    let Err(
        error @ Error::SntpRejected {
            reason: SntpRejection::OriginMismatch { shape_of: None, .. },
            ..
        },
    ) = result
    else {
        panic!("{result:?}");
    };
    assert!(!error.to_string().contains("within"), "{error}");
    // Only silence is a timeout.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let result = runtime().block_on(query_with(
        addr,
        &SystemClock,
        Duration::from_millis(200),
        SntpMode::Strict,
    ));
    assert!(
        matches!(result, Err(Error::SntpNoReply { .. })),
        "{result:?}"
    );
}

#[test]
fn python_tsercom_mode_reads_its_servers_reply() {
    let mut estimator = OffsetEstimator::new(8);
    for _ in 0..5 {
        let (result, _) = query_fake(
            python_reply,
            SntpMode::PythonTsercom,
            Duration::from_secs(30),
        );
        let exchange = result.expect("accepted in compatibility mode");
        // offset = T2 - (T1 + T4) / 2: the truth within half the round trip
        // (plus NTP fraction rounding).
        let error = (exchange.offset_nanos() - PYTHON_SKEW_NANOS).abs();
        assert!(error <= exchange.delay_nanos() / 2 + 2, "{exchange:?}");
        estimator.add(exchange);
    }
    let estimate = estimator.estimate().expect("estimate");
    assert!((estimate.offset_nanos - PYTHON_SKEW_NANOS).abs() <= estimate.delay_nanos / 2 + 2);
    // And our own server is not mistaken for one.
    let rt = runtime();
    let result = rt.block_on(async {
        let server = SntpServer::bind("127.0.0.1:0".parse().expect("addr"), Arc::new(SystemClock))
            .await
            .expect("bind");
        query_with(
            server.local_addr(),
            &SystemClock,
            Duration::from_secs(30),
            SntpMode::PythonTsercom,
        )
        .await
    });
    assert!(
        matches!(
            result,
            Err(Error::SntpRejected {
                reason: SntpRejection::OriginMismatch {
                    shape_of: Some(SntpMode::Strict),
                    ..
                },
                ..
            })
        ),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------
// SntpClock as a runtime's clock.

use tsercom::runtime::{BoxFuture, Runtime, RuntimeContext, RuntimeInitializer, StopReason};
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

/// Against the real Python tsercom `TimeSyncServer` at
/// `TSERCOM_PYTHON_SNTP`: run `tsercom/tests/python/check_python_sntp.sh`.
#[test]
#[ignore = "needs Python tsercom: tsercom/tests/python/check_python_sntp.sh"]
fn real_python_time_sync_server() {
    let addr = std::env::var("TSERCOM_PYTHON_SNTP")
        .expect("TSERCOM_PYTHON_SNTP=host:port")
        .parse()
        .expect("an address");
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
