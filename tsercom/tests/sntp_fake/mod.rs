//! Shared by the SNTP tests: NTP timestamp encoding written here (not the
//! library's), a tokio runtime, and fake SNTP servers on 127.0.0.1.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn unix_nanos_to_ntp(nanos: i128) -> [u8; 8] {
    let secs = nanos.div_euclid(1_000_000_000) + 2_208_988_800;
    let frac = (nanos.rem_euclid(1_000_000_000) << 32) / 1_000_000_000;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&u32::try_from(secs).expect("era 0").to_be_bytes());
    out[4..].copy_from_slice(&u32::try_from(frac).expect("fraction").to_be_bytes());
    out
}

pub fn now_nanos() -> i128 {
    i128::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos(),
    )
    .expect("fits")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// How a fake server answers one request (the request's 48 bytes).
pub type Answer = fn(&[u8; 48]) -> Vec<u8>;

/// A UDP server on 127.0.0.1 answering every request with `answer` until
/// dropped (its thread polls a stop flag between bounded reads).
pub struct FakeServer {
    pub addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(answer: Answer) -> Self {
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
pub fn strict_reply(request: &[u8; 48], first: u8, stratum: u8, skew: i128) -> [u8; 48] {
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

pub const MODE4_V4: u8 = 0b00_100_100;

/// The reply Python tsercom 1.1.3's `TimeSyncServer` builds
/// (`struct.pack("!B B B b 11I", 4 << 3 | 4, 1, 0 × 9, server_sec,
/// server_frac, client_sec, client_frac)` where `client_sec, client_frac`
/// are items 10 and 11 of the request unpacked with the same format, i.e.
/// request bytes 28..36): originate 0, receive = its clock, transmit =
/// request bytes 28..36. Its clock here is +30 s.
pub fn python_reply(request: &[u8; 48]) -> Vec<u8> {
    let mut r = vec![0u8; 48];
    r[0] = MODE4_V4;
    r[1] = 1;
    r[32..40].copy_from_slice(&unix_nanos_to_ntp(now_nanos() + PYTHON_SKEW_NANOS));
    r[40..48].copy_from_slice(&request[28..36]);
    r
}

pub const PYTHON_SKEW_NANOS: i128 = 30_000_000_000;
