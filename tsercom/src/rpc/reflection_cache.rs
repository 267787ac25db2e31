//! Server reflection built once per process and shared: every server that
//! serves the same services from the same descriptor sets (a process
//! hosting many runtimes of one kind) uses one reflection service, whose
//! symbol index (tens of KiB) is built and held once instead of per server.

use std::any::Any;
use std::sync::Mutex;

use crate::error::Result;

/// What a reflection service answers for: the services it lists and the
/// descriptor sets it resolves (by address: they are `'static` data
/// embedded by tsercom-build).
type Key = (Vec<&'static str>, Vec<(usize, usize)>);

/// The services built so far. Keys come from the program's own static
/// names and descriptor sets, so the list is bounded by the distinct
/// server shapes the program has.
static BUILT: Mutex<Vec<(Key, Box<dyn Any + Send + Sync>)>> = Mutex::new(Vec::new());

/// The service for `names` and `sets`: a clone of the one built earlier
/// for the same key, else `build()`'s (kept for later servers). A failed
/// build is returned and not kept.
pub(super) fn shared<T: Clone + Send + Sync + 'static>(
    names: &[&'static str],
    sets: &[&'static [u8]],
    build: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let key: Key = (
        names.to_vec(),
        sets.iter()
            .map(|s| (s.as_ptr() as usize, s.len()))
            .collect(),
    );
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(service) = built
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, s)| s.downcast_ref::<T>())
    {
        return Ok(service.clone());
    }
    let service = build()?;
    built.push((key, Box::new(service.clone())));
    Ok(service)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SET_A: &[u8] = b"descriptor set a";
    static SET_B: &[u8] = b"descriptor set b";

    #[test]
    fn one_service_per_key_built_once() {
        let builds = AtomicUsize::new(0);
        let build = || {
            builds.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(builds.load(Ordering::Relaxed)))
        };
        let names = ["test.cache.One", "test.cache.Two"];
        let first = shared(&names, &[SET_A], build).expect("built");
        let again = shared(&names, &[SET_A], build).expect("cached");
        assert!(Arc::ptr_eq(&first, &again), "the same service");
        assert_eq!(builds.load(Ordering::Relaxed), 1);
        let other_set = shared(&names, &[SET_B], build).expect("built");
        let other_names = shared(&names[..1], &[SET_A], build).expect("built");
        assert!(!Arc::ptr_eq(&first, &other_set));
        assert!(!Arc::ptr_eq(&first, &other_names));
        assert_eq!(builds.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_failed_build_is_not_kept() {
        let names = ["test.cache.Failing"];
        let failed = shared::<Arc<u8>>(&names, &[SET_A], || {
            Err(crate::error::Error::WrongState("no"))
        });
        assert!(failed.is_err());
        let built = shared(&names, &[SET_A], || Ok(Arc::new(7u8))).expect("built");
        assert_eq!(*built, 7);
    }
}
