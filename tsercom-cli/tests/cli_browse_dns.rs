//! `tsercom browse dns:…` as a real process querying a real DNS server the
//! test starts on 127.0.0.1 (hickory-server, an in-memory zone
//! `fleet.example.` holding one DNS-SD instance): the instance's name,
//! CallerId, address, port and TXT, as plain lines. Unicast DNS, loopback
//! only: no namespace needed.

mod run;

#[path = "../../tsercom/tests/dns_zone/mod.rs"]
mod dns_zone;

use run::tsercom;
use tsercom::CallerId;

const PORT: u16 = 50160;

#[test]
fn browse_finds_an_instance_over_unicast_dns_sd() {
    let id = CallerId::random();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    // The instance `thermo` of `_sensors._tcp` at `thermo-host:50160`
    // (`A 127.0.0.1`).
    let (server, dns) = rt.block_on(async {
        let (server, zone, dns) = dns_zone::dns_server().await;
        dns_zone::register(
            &zone,
            "thermo",
            PORT,
            &[format!("caller_id={id}"), "name=thermo".to_owned()],
            2,
        )
        .await;
        (server, dns)
    });

    let out = tsercom(&[
        "browse",
        "dns:_sensors._tcp.fleet.example",
        "--dns-server",
        &dns.to_string(),
        "--dns-interval",
        "0.2",
        "--count",
        "1",
        "--duration",
        "50",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browse failed: {stderr}\n{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("added"))
        .unwrap_or_else(|| panic!("an instance found:\n{stdout}\n{stderr}"));
    for expected in [
        "thermo._sensors._tcp.fleet.example".to_owned(),
        format!("caller_id={id}"),
        "addresses=127.0.0.1".to_owned(),
        format!("port={PORT}"),
        format!("txt: caller_id={id}"),
    ] {
        assert!(line.contains(&expected), "{expected:?} in {line:?}");
    }
    assert!(!stdout.contains('\u{1b}'), "plain lines");
    drop(server);
    drop(rt);
}
