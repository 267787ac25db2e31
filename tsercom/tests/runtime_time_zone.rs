//! All timestamps are UTC: the `TZ` variable changes nothing. The test runs
//! its own binary again under several `TZ` values and compares what each
//! prints with the UTC rendering computed here.

use std::process::Command;

use tsercom::Timestamp;

const PROBE_ENV: &str = "TSERCOM_TZ_PROBE";

/// What the child prints: fixed timestamps rendered, and `now()` checked
/// against `SystemTime` (which is UTC-based by definition).
fn render() -> String {
    let fixed = [
        0_i128,
        1_700_000_000_123_456_789,
        951_782_400_000_000_000,
        -1,
    ];
    let mut out: Vec<String> = fixed
        .iter()
        .map(|n| {
            Timestamp::from_unix_nanos(*n)
                .expect("in range")
                .to_string()
        })
        .collect();
    let before = Timestamp::from_system_time(std::time::SystemTime::now()).expect("in range");
    let now = Timestamp::now();
    let after = Timestamp::from_system_time(std::time::SystemTime::now()).expect("in range");
    out.push(format!("now-in-order={}", before <= now && now <= after));
    out.join("\n")
}

#[test]
fn tz_probe_child() {
    // Run by the parent test with PROBE_ENV set; alone it checks the same
    // rendering in whatever TZ the test runner has.
    let rendered = render();
    if std::env::var_os(PROBE_ENV).is_some() {
        println!("BEGIN\n{rendered}\nEND");
    }
    assert!(
        rendered.contains("2023-11-14T22:13:20.123456789Z"),
        "{rendered}"
    );
    assert!(rendered.ends_with("now-in-order=true"), "{rendered}");
}

#[test]
fn tz_changes_nothing() {
    let expected = render();
    let exe = std::env::current_exe().expect("test binary");
    for tz in [
        "UTC",
        "Asia/Kolkata",
        "America/St_Johns",
        "Pacific/Chatham",
        "EST5EDT",
        "garbage/zone",
    ] {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "tz_probe_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(PROBE_ENV, "1")
            .env("TZ", tz)
            .output()
            .expect("run child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "TZ={tz}: child failed:\n{stdout}");
        let body = stdout
            .split_once("BEGIN\n")
            .and_then(|(_, rest)| rest.split_once("\nEND"))
            .map(|(body, _)| body.to_owned())
            .unwrap_or_else(|| panic!("TZ={tz}: no output:\n{stdout}"));
        assert_eq!(body, expected, "TZ={tz}");
    }
}
