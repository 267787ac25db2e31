//! LZ4 frames interoperate with Python's `lz4.frame` (what Python
//! tsercom's tensor chunks use), both ways, for payloads from empty to
//! several blocks (linked and independent, with and without a content
//! checksum). Runs the Python in `TSERCOM_PYTHON` (`.ci/run` installs `lz4`
//! into its virtual environment); without it: fails under `CI`, else
//! prints why and skips.

use std::process::Command;

use tsercom::proto::TensorChunk;
use tsercom::proto::tensor_chunk::CompressionType;
use tsercom::tensor::{Chunk, DType, lz4_compress, lz4_decompress};

fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut x = 0x1234_5678u32;
    let mut noise = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let floats = |n: usize, f: &mut dyn FnMut(usize) -> f32| -> Vec<u8> {
        (0..n).flat_map(|i| f(i).to_le_bytes()).collect()
    };
    vec![
        ("empty", Vec::new()),
        ("small", floats(4, &mut |i| i as f32)),
        // Mostly zeros: compresses; 400 KB is several 64 KiB blocks.
        (
            "sparse_400k",
            floats(100_000, &mut |i| if i % 97 == 0 { i as f32 } else { 0.0 }),
        ),
        // Random mantissas: does not compress (stored blocks).
        (
            "noise_1m",
            floats(262_144, &mut |_| (noise() >> 8) as f32 / 65_536.0),
        ),
    ]
}

#[test]
fn lz4_frames_round_trip_through_python() {
    let Some(python) = std::env::var_os("TSERCOM_PYTHON") else {
        let why = "TSERCOM_PYTHON (a Python with tsercom 1.1.x and lz4 from PyPI, as .ci/run makes) is not set";
        assert!(std::env::var_os("CI").is_none(), "{why}");
        println!("skipped: {why}");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let payloads = payloads();
    for (name, raw) in &payloads {
        std::fs::write(dir.path().join(format!("{name}.raw")), raw).expect("write");
        std::fs::write(
            dir.path().join(format!("{name}.rust.lz4")),
            lz4_compress(raw),
        )
        .expect("write");
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/lz4_frames.py");
    let out = Command::new(python)
        .arg(script)
        .arg(dir.path())
        .output()
        .expect("run the Python lz4 check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Python could not read Rust's frames:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", payloads.len())),
        "{stdout}"
    );
    for (name, raw) in &payloads {
        for variant in ["py", "py-indep-checksum"] {
            let frame =
                std::fs::read(dir.path().join(format!("{name}.{variant}.lz4"))).expect("read");
            assert_eq!(
                lz4_decompress(&frame, raw.len()).as_ref(),
                Ok(raw),
                "{name}.{variant}: Python's frame decodes here"
            );
            // As a chunk of a float32 tensor of exactly that size.
            let chunk = TensorChunk {
                timestamp: Some(tsercom::Timestamp::UNIX_EPOCH.to_proto()),
                starting_index: 0,
                data_bytes: frame,
                compression: CompressionType::Lz4 as i32,
            };
            let parsed = Chunk::from_proto(&chunk, DType::F32, raw.len() / 4).expect("chunk");
            assert_eq!(&parsed.data, raw);
        }
    }
}
