//! A tensor producer process for `tests/tensor_e2e.rs`, written as a user
//! would: `#[tsercom::runtime]` hosting `TensorSensor` with
//! `data = tsercom.TensorFrame`, a `TensorSource` publishing.
//!
//! Environment: `E2E_LISTEN` (address, required), `TSERCOM_STATE_DIR`,
//! `E2E_TENSOR_MODE` (`sparse`, default, or `complete`), `E2E_TENSOR_LZ4`
//! (`1`: LZ4 frames), `E2E_READY_AFTER` (steps taken before printing
//! `ready <caller id> <address>`, default 25: an aggregator connecting then is a late
//! joiner). Takes step 1, 2, ... of `tensors::step` every 10 ms whether or
//! not an aggregator is connected; exits when stdin closes, or after 300 s.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tsercom::tensor::{Compression, Tensor, TensorSource};
use tsercom::{CallerId, RuntimeManager, Timestamp};
use tsercom_test_build_wiring::tensors::{self, Control};

#[tsercom::runtime(producer, listen = self.listen, service = tensors::TensorSensor, data = tsercom::proto::TensorFrame, event = Control)]
#[derive(Default)]
struct TensorProducer {
    listen: Option<SocketAddr>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen: SocketAddr = std::env::var("E2E_LISTEN")?.parse()?;
    let ready_after: u32 = std::env::var("E2E_READY_AFTER").map_or(Ok(25), |s| s.parse())?;
    let id = CallerId::load_or_create(CallerId::default_path("TensorProducer")?)?;
    let mut manager = RuntimeManager::new();
    let handle = manager.register(TensorProducer {
        listen: Some(listen),
    })?;
    manager.start_in_process()?;
    manager.check_error()?;
    let addr = handle.listening().first().copied().ok_or("not listening")?;

    let mut state = vec![0.0f32; tensors::LEN];
    let initial = Tensor::from_vec(&state);
    let source = match std::env::var("E2E_TENSOR_MODE").as_deref() {
        Ok("complete") => TensorSource::complete(initial),
        _ => TensorSource::sparse(initial),
    };
    let lz4 = std::env::var("E2E_TENSOR_LZ4").is_ok_and(|v| v == "1");
    let mut source = source.with_compression(if lz4 {
        Compression::Lz4
    } else {
        Compression::None
    });

    let stdin_open = tsercom_test_build_wiring::stdin_open();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut k = 0;
    while stdin_open.load(Ordering::Acquire) && Instant::now() < deadline {
        k += 1;
        tensors::step(&mut state, k);
        source.publish(&handle, &Tensor::from_vec(&state), Timestamp::now())?;
        if k == ready_after {
            println!("ready {id} {addr}");
        }
        // Paced by the wait for controls: 10 ms.
        if handle.events().wait_new(Duration::from_millis(10)) {
            let _ = handle.take_events();
        }
        manager.check_error()?;
    }
    manager.shutdown()?;
    Ok(())
}
