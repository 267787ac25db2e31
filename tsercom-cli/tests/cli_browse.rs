//! `tsercom browse` as a real process finding a real producer runtime
//! over mDNS on the loopback interface — inside a network namespace this
//! test creates (`unshare -n`, only `lo`), so no multicast leaves it: the
//! instance's name, CallerId, address, port and TXT, as plain lines. Where
//! namespaces cannot be made (not root) the test fails under `CI` and is
//! skipped with the reason printed elsewhere.

mod run;

use run::{loopback, tsercom};

use std::net::SocketAddr;

#[path = "../../tests/build-wiring/tests/common/mod.rs"]
mod common;

use common::{IN_NETNS, rerun_in_network_namespace};
use tsercom::runtime::{Identity, RuntimeConfig};
use tsercom::service::Hooks;
use tsercom::{CallerId, RuntimeManager};
use tsercom_test_build_wiring::{self as sensors, Command, Reading};

#[tsercom::runtime(producer, publish = "_clibrowse._tcp", interfaces = "loopback", listen = self.listen, service = sensors::Sensor, data = Reading, event = Command, name = "thermo", hooks)]
#[derive(Default)]
struct Thermometer {
    listen: Option<SocketAddr>,
    id: Option<CallerId>,
}

impl Hooks for Thermometer {
    fn configure(&self, config: RuntimeConfig) -> RuntimeConfig {
        match self.id {
            Some(id) => config.with_identity(Identity::Fixed(id)),
            None => config,
        }
    }
}

#[test]
fn browse_finds_a_producer_over_loopback_mdns() {
    if std::env::var_os(IN_NETNS).is_none() {
        rerun_in_network_namespace("browse_finds_a_producer_over_loopback_mdns");
        return;
    }
    let id = CallerId::random();
    let addr = loopback();
    let mut manager = RuntimeManager::new();
    manager
        .register(Thermometer {
            listen: Some(addr),
            id: Some(id),
        })
        .expect("register");
    manager.start_in_process().expect("start");
    manager.check_error().expect("published");

    let out = tsercom(&[
        "browse",
        "_clibrowse._tcp",
        "--interfaces",
        "loopback",
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
        "._clibrowse._tcp.local.".to_owned(),
        "name=thermo".to_owned(),
        format!("caller_id={id}"),
        "addresses=127.0.0.1".to_owned(),
        format!("port={}", addr.port()),
        format!("txt: caller_id={id}"),
    ] {
        assert!(line.contains(&expected), "{expected:?} in {line:?}");
    }
    assert!(!stdout.contains('\u{1b}'), "plain lines");
    manager.shutdown().expect("shutdown");
}

#[test]
fn browse_refuses_a_malformed_service_type() {
    let out = tsercom(&["browse", "sensors", "--duration", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("_name._tcp"),
        "says what is expected: {stderr}"
    );
}
