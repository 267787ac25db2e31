//! A CallerId file survives a process restart; a corrupt one is reported.
//! The "restart" is a real second process: this test binary run again.

use std::process::Command;

const PATH_ENV: &str = "TSERCOM_CALLER_ID_PROBE";

#[test]
fn caller_id_probe_child() {
    // With PATH_ENV set (by the parent) it prints the id it loads or creates.
    if let Some(path) = std::env::var_os(PATH_ENV) {
        match tsercom::CallerId::load_or_create(&path) {
            Ok(id) => println!("\nID={id}"),
            Err(e) => println!("\nERR={e}"),
        }
    }
}

fn run_child(path: &std::path::Path) -> String {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "caller_id_probe_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PATH_ENV, path)
        .output()
        .expect("run child");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("ID=") || l.starts_with("ERR="))
        .expect("child printed a result")
        .to_owned()
}

#[test]
fn survives_restart_and_corruption_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state/producer.caller_id");
    let first = run_child(&path);
    assert!(first.starts_with("ID="), "{first}");
    let second = run_child(&path);
    assert_eq!(first, second, "the id survives a restart");
    let id = first.trim_start_matches("ID=");
    assert_eq!(
        tsercom::CallerId::load_or_create(&path)
            .expect("load")
            .to_string(),
        id
    );

    std::fs::write(&path, "12345").expect("corrupt");
    let third = run_child(&path);
    assert!(
        third.starts_with("ERR=")
            && third.contains("corrupt")
            && third.contains("producer.caller_id"),
        "{third}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "12345",
        "not replaced"
    );
}
