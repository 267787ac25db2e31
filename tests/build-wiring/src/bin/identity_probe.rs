//! Resolves a runtime identity the way a runtime does, for
//! `tests/identity_guarantees.rs`: `PROBE_PATH` set → the file at that
//! path (`Identity::PersistentAt`), else the default path of the name
//! `Robot` (`TSERCOM_STATE_DIR`, `TSERCOM_INSTANCE`). Prints `ID=<id>` or
//! `ERR=<error>`; with `PROBE_HOLD` set, then holds the identity until
//! stdin closes.

use std::io::BufRead;

use tsercom::runtime::Identity;

fn main() {
    let identity = match std::env::var_os("PROBE_PATH") {
        Some(path) => Identity::PersistentAt(path.into()),
        None => Identity::Persistent,
    };
    let held = match identity.resolve("Robot") {
        Ok(held) => {
            println!("ID={}", held.id);
            held
        }
        Err(e) => {
            println!("ERR={e}");
            return;
        }
    };
    if std::env::var_os("PROBE_HOLD").is_some() {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
    }
    drop(held);
}
