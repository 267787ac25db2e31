//! SNTP against our server, decoded by an independent RFC 5905 decoder
//! written here (not the library's), with the server clock skewed +2.5 s;
//! garbage datagrams are ignored and counted and the server keeps serving.
//! The client against fake servers written here: each defect of RFC 4330
//! §5 is its own rejection (never a timeout); a reply shaped like Python
//! tsercom's `TimeSyncServer` is refused in strict mode and read in its
//! mode. `SntpClock` is tested in `time_sntp_clock.rs`.

mod sntp_fake;

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use sntp_fake::{
    Answer, FakeServer, MODE4_V4, PYTHON_SKEW_NANOS, now_nanos, python_reply, runtime,
    strict_reply, unix_nanos_to_ntp,
};
use tsercom::Error;
use tsercom::time::sntp::{NtpField, SntpMode, SntpRejection, SntpServer, query, query_with};
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

/// Whether a rejection is the expected one.
type Expected = fn(&SntpRejection) -> bool;
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
