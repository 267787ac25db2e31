//! Run: `cargo run -p tsercom-examples --example tls` (`-- --seconds 10` to run longer)
//!
//! The quickstart over mutual TLS: the producer only accepts clients with a
//! certificate from the example's CA, and the aggregator only trusts a
//! server certificate from it (checked against the name `localhost`). The
//! CA and both certificates are generated on the first run (rcgen) into
//! `tls-example/` under tsercom's state directory and reused afterwards.
//! Loopback only; exits 0 by itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tsercom::rpc::{ClientTls, ServerTls};
use tsercom::runtime::RuntimeConfig;
use tsercom::{CallerId, RuntimeManager};
use tsercom_examples::*;

#[tsercom::runtime(producer, listen = "127.0.0.1:50152", service = Sensor, data = Reading, event = Command, config = server_tls)]
struct Thermometer;

#[tsercom::runtime(aggregator, peers = ["localhost:50152"], service = Sensor, data = Reading, event = Command, config = client_tls)]
struct Collector;

fn dir() -> PathBuf {
    CallerId::default_path("tls-example")
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("tls-example")))
        .unwrap_or_else(|| PathBuf::from("tls-example"))
}

fn server_tls(config: RuntimeConfig) -> RuntimeConfig {
    let d = dir();
    config.with_tls(
        ServerTls::MutualTls {
            cert: d.join("server.crt"),
            key: d.join("server.key"),
            client_ca: d.join("ca.pem"),
        },
        ClientTls::Insecure,
    )
}

fn client_tls(config: RuntimeConfig) -> RuntimeConfig {
    let d = dir();
    let tls = ClientTls::Mutual {
        ca: d.join("ca.pem"),
        cert: d.join("client.crt"),
        key: d.join("client.key"),
        domain: Some("localhost".into()),
    };
    config.with_tls(ServerTls::Insecure, tls)
}

/// A CA and a server and a client certificate, unless already there.
fn ensure_certificates(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    if dir.join("client.key").exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tsercom example CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    std::fs::write(dir.join("ca.pem"), ca_params.self_signed(&ca_key)?.pem())?;
    let issuer = Issuer::new(ca_params, ca_key);
    for (name, usage) in [
        ("server", ExtendedKeyUsagePurpose::ServerAuth),
        ("client", ExtendedKeyUsagePurpose::ClientAuth),
    ] {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        std::fs::write(
            dir.join(format!("{name}.crt")),
            params.signed_by(&key, &issuer)?.pem(),
        )?;
        // Written last: its presence means the set is complete.
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())?;
    }
    println!("generated certificates in {}", dir.display());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = std::env::args().skip_while(|a| a != "--seconds").nth(1);
    let seconds: u32 = seconds.and_then(|s| s.parse().ok()).unwrap_or(3);
    ensure_certificates(&dir())?;
    let mut manager = RuntimeManager::new();
    let thermometer = manager.register(Thermometer)?;
    let collector = manager.register(Collector)?;
    manager.start_in_process()?;
    let mut reading = Reading::default();
    for tick in 0..seconds * 10 {
        reading.celsius = 20.0 + f64::from(tick % 50) / 10.0;
        thermometer.publish(reading.clone())?;
        for (caller, batch) in collector.data().take_new() {
            let last = &batch[batch.len() - 1];
            let (n, time, celsius) = (batch.len(), last.timestamp, last.data.celsius);
            println!("[mTLS] {caller}: {n} reading(s), last at {time}: {celsius:.1} °C");
        }
        manager.check_error()?;
        // The sensor's sampling period.
        std::thread::sleep(Duration::from_millis(100));
    }
    manager.shutdown()?;
    Ok(())
}
