//! Test crate: the generated code of `proto/sensors.proto` and
//! `proto/legacy.proto`, included as a user would.

tsercom::include_proto!("sensors");

/// The encoded `FileDescriptorSet` of this crate's protos (imports
/// included): the recording tests' schema, and the CLI tests' `--descriptors`.
pub const FILE_DESCRIPTOR_SET: &[u8] = tsercom::include_file_descriptor_set!();

/// The package written with the Python library's import spellings.
pub mod legacy {
    tsercom::include_proto!("legacy");
}

/// A tensor stream's service (`proto/tensors.proto`).
pub mod tensors {
    tsercom::include_proto!("tensors");

    /// Length of the e2e tensor stream's tensor.
    pub const LEN: usize = 4096;

    /// Step `k` (from 1) of the e2e tensor stream: element 0 becomes `k`,
    /// 40 scattered elements change; the rest stays.
    pub fn step(state: &mut [f32], k: u32) {
        let n = state.len();
        state[0] = k as f32;
        for j in 0..40usize {
            let i = (k as usize * 131 + j * 257) % n;
            state[i.max(1)] = k as f32 + j as f32 / 64.0;
        }
    }

    /// The tensor after steps `1..=k`.
    pub fn after(k: u32) -> Vec<f32> {
        let mut state = vec![0.0; LEN];
        for s in 1..=k {
            step(&mut state, s);
        }
        state
    }
}

/// For the test programs in `src/bin`: a flag that turns false when stdin
/// closes (the test that started the program ended or dropped it).
pub fn stdin_open() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    stdin_watch().0
}

/// As [`stdin_open`], with a receiver that gets `()` (or disconnects)
/// when stdin closes, to wait for it.
pub fn stdin_watch() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::mpsc::Receiver<()>,
) {
    use std::io::BufRead;
    let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&open);
    let (closed_tx, closed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        flag.store(false, std::sync::atomic::Ordering::Release);
        let _ = closed_tx.send(());
    });
    (open, closed)
}

/// For the test programs in `src/bin`: the CallerId `E2E_ID` names, or a
/// random one.
///
/// # Errors
/// A malformed `E2E_ID`.
pub fn e2e_caller_id() -> tsercom::Result<tsercom::CallerId> {
    std::env::var("E2E_ID")
        .ok()
        .map(|s| tsercom::CallerId::parse(&s))
        .transpose()
        .map(|id| id.unwrap_or_else(tsercom::CallerId::random))
}
