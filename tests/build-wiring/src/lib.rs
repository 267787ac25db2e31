//! Test crate: the generated code of `proto/sensors.proto` and
//! `proto/legacy.proto`, included as a user would.

tsercom::include_proto!("sensors");

/// The package written with the Python library's import spellings.
pub mod legacy {
    tsercom::include_proto!("legacy");
}

/// For the test programs in `src/bin`: a flag that turns false when stdin
/// closes (the test that started the program ended or dropped it).
pub fn stdin_open() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::io::BufRead;
    let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&open);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        flag.store(false, std::sync::atomic::Ordering::Release);
    });
    open
}
