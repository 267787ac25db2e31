//! Editing a proto, or a proto it imports, regenerates the code on the next
//! `cargo build`; an unchanged tree does not rerun the build script.
//!
//! Builds a small user crate (copied to a temporary directory) with the real
//! cargo, offline, into `target/regen-check` so that later runs are
//! incremental.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Runs `cargo run` verbosely; returns (stdout, stderr).
fn cargo_run(dir: &Path) -> (String, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "--offline", "-vv"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", workspace().join("target/regen-check"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "cargo run failed:\n{stderr}");
    (stdout, stderr)
}

fn ran_build_script(stderr: &str) -> bool {
    stderr.lines().any(|l| {
        l.contains("Running") && l.contains("regen-fixture") && l.contains("build-script-build")
    })
}

#[test]
fn editing_a_proto_regenerates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("regen-fixture");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("regen-fixture"),
        &dir,
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml.in"))
        .expect("manifest template")
        .replace(
            "@TSERCOM@",
            &workspace().join("tsercom").display().to_string(),
        )
        .replace(
            "@TSERCOM_BUILD@",
            &workspace().join("tsercom-build").display().to_string(),
        );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write manifest");
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy lock");

    let (stdout, _) = cargo_run(&dir);
    assert!(
        stdout.contains("value: 0.0") && !stdout.contains("note"),
        "{stdout}"
    );

    // Nothing changed: the build script does not run again.
    let (_, stderr) = cargo_run(&dir);
    assert!(
        !ran_build_script(&stderr),
        "build script reran with nothing changed:\n{stderr}"
    );

    // Edit the proto named in build.rs.
    let proto = dir.join("proto/regen.proto");
    let text = std::fs::read_to_string(&proto).expect("read proto");
    std::fs::write(
        &proto,
        text.replace("Unit unit = 3;", "Unit unit = 3;\n  string note = 4;"),
    )
    .expect("edit");
    let (stdout, stderr) = cargo_run(&dir);
    assert!(
        ran_build_script(&stderr),
        "edit did not rerun the build script"
    );
    assert!(stdout.contains("note: \"\""), "{stdout}");

    // Edit a proto that is only imported.
    let units = dir.join("proto/units.proto");
    let text = std::fs::read_to_string(&units).expect("read proto");
    std::fs::write(&units, text.replace("CELSIUS = 0;", "KELVIN = 0;")).expect("edit");
    let (stdout, _) = cargo_run(&dir);
    assert!(stdout.contains("unit: Kelvin"), "{stdout}");
}
