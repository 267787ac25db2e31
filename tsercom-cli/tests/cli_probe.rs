//! `tsercom probe` as a real process against a real producer runtime on
//! loopback: its CallerId, protocol version, health, served services and
//! clock line (output piped: plain lines); TLS with a pinned certificate,
//! a wrong pin refused; an unreachable peer an error and a failure status.

mod run;

use run::{loopback, tsercom};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;

use tsercom::rpc::{ServerTls, pem_fingerprint};
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

/// A producer hosting `Sensor` on loopback, with a known CallerId and
/// optionally TLS (certificate, key).
#[tsercom::runtime(producer, listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
    id: Option<CallerId>,
    tls: Option<(PathBuf, PathBuf)>,
}

impl Hooks for Thermometer {
    fn configure(&self, mut config: RuntimeConfig) -> RuntimeConfig {
        if let Some(id) = self.id {
            config = config.with_identity(Identity::Fixed(id));
        }
        if let Some((cert, key)) = &self.tls {
            config = config.with_tls(
                ServerTls::Tls {
                    cert: cert.clone(),
                    key: key.clone(),
                },
                tsercom::rpc::ClientTls::Insecure,
            );
        }
        config
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts a producer; returns its manager (serving once this returns).
fn producer(addr: SocketAddr, id: CallerId, tls: Option<(PathBuf, PathBuf)>) -> RuntimeManager {
    let mut manager = RuntimeManager::new();
    manager
        .register(Thermometer {
            listen: Some(addr),
            id: Some(id),
            tls,
        })
        .expect("register");
    manager.start_in_process().expect("start");
    manager.check_error().expect("the producer serves");
    manager
}

#[test]
fn probe_shows_a_producers_identity_health_services_and_clock() {
    let id = CallerId::random();
    let addr = loopback();
    let mut manager = producer(addr, id, None);

    let out = tsercom(&["probe", &addr.to_string(), "--exchanges", "4"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "probe failed: {stderr}\n{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [
        format!("target:       {addr}"),
        format!("caller id:    {id}"),
        "protocol:     1 (this tool speaks 1: compatible)".to_owned(),
        "health:       SERVING".to_owned(),
        "service:      sensors.Sensor (SERVING)".to_owned(),
        "service:      tsercom.Peer (SERVING)".to_owned(),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "{expected:?} in:\n{stdout}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("connected:    in ") && l.ends_with("(plaintext)")),
        "{stdout}"
    );
    // The clock: a signed offset well under a second on one host, a round
    // trip from 4 exchanges.
    let offset = lines
        .iter()
        .find_map(|l| l.strip_prefix("clock offset: "))
        .expect("a clock offset line");
    let ms: f64 = offset
        .split(" ms")
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a number of ms in {offset:?}"));
    assert!(ms.abs() < 1000.0, "offset {ms} ms on one host");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("round trip:   ") && l.ends_with("(best of 4 exchanges)")),
        "{stdout}"
    );
    // Piped: plain lines, no terminal escapes.
    assert!(!stdout.contains('\u{1b}'), "no ANSI codes when piped");
    manager
        .check_error()
        .expect("the probe left the producer unharmed");
    manager.shutdown().expect("shutdown");
}

#[test]
fn probe_over_tls_checks_the_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert = dir.path().join("server.crt");
    let key = dir.path().join("server.key");
    std::fs::write(&cert, certified.cert.pem()).expect("write cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write key");
    let pin = pem_fingerprint(&cert).expect("fingerprint");

    let id = CallerId::random();
    let addr = loopback();
    let mut manager = producer(addr, id, Some((cert, key)));

    let out = tsercom(&["probe", &addr.to_string(), "--pin", &pin]);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "pinned probe failed: {stderr}\n{stdout}"
    );
    assert!(stdout.contains(&format!("caller id:    {id}")), "{stdout}");
    assert!(stdout.contains("(TLS, pinned certificate)"), "{stdout}");

    let wrong = "00".repeat(32);
    let out = tsercom(&[
        "probe",
        &addr.to_string(),
        "--pin",
        &wrong,
        "--timeout",
        "20",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "a wrong pin is refused: {stdout}");
    assert!(
        stderr.starts_with("tsercom: ") && !stdout.contains("caller id:"),
        "an error, no identity: {stderr}\n{stdout}"
    );
    manager.shutdown().expect("shutdown");
}

#[test]
fn probe_of_nothing_fails_with_a_message() {
    let addr = loopback(); // nothing listens there once the listener is dropped
    let out = tsercom(&["probe", &addr.to_string(), "--timeout", "20"]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains(&format!("connecting to {addr}")),
        "names what failed: {stderr}"
    );
}

#[test]
fn probe_help_lists_its_options() {
    let out = tsercom(&["probe", "--help"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    for option in [
        "--ca",
        "--pin",
        "--cert",
        "--key",
        "--domain",
        "--exchanges",
    ] {
        assert!(stdout.contains(option), "{option} in:\n{stdout}");
    }
}
