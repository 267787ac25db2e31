//! SNTP against our server, decoded by an independent RFC 5905 decoder
//! written here (not the library's), with the server clock skewed +2.5 s;
//! garbage datagrams are ignored and counted and the server keeps serving.

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
    let rt = runtime();
    rt.block_on(async {
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
    assert!(result.is_err());
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
