//! Shared by the CLI tests: running the `tsercom` binary to its end, and a
//! loopback address for a runtime to listen on.
#![allow(dead_code)] // each test binary uses a part

use std::net::SocketAddr;
use std::process::{Command as Process, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one `tsercom` run may take before the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// A free loopback port (the runtime's API takes an address, not a bound
/// listener).
pub(crate) fn loopback() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Runs `tsercom args...` to its end: its exit is waited for on a thread
/// (which also drains its output, so a long one cannot block on a full
/// pipe); past [`LIMIT`] it is killed by its PID and the test fails.
pub(crate) fn tsercom(args: &[&str]) -> Output {
    let child = Process::new(env!("CARGO_BIN_EXE_tsercom"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tsercom");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Fails only when the test already gave up waiting.
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            // End the process this test started, by its PID, then fail.
            let _ = Process::new("kill").args(["-9", &pid.to_string()]).status();
            let stderr = rx
                .recv()
                .ok()
                .and_then(Result::ok)
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            panic!("tsercom {args:?} did not end within {LIMIT:?}: {stderr}");
        }
    }
}
