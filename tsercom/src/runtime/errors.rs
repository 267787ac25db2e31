//! Where runtime failures collect until the user's code looks.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::error::Error;

/// Where a child process sends its failures (to the parent).
pub(crate) type Forward = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Every failure reported by any runtime, in order.
#[derive(Clone, Default)]
pub(crate) struct ErrorSink {
    inner: Arc<(Mutex<Vec<Error>>, Condvar)>,
    forward: Option<Forward>,
}

impl std::fmt::Debug for ErrorSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorSink").finish_non_exhaustive()
    }
}

impl ErrorSink {
    fn lock(&self) -> MutexGuard<'_, Vec<Error>> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A sink that sends every report to `forward` instead of keeping it.
    pub(crate) fn forwarding(forward: Forward) -> Self {
        ErrorSink {
            inner: Arc::default(),
            forward: Some(forward),
        }
    }

    pub(crate) fn report(&self, runtime: &str, message: impl Into<String>) {
        self.push(runtime, message.into(), None);
    }

    /// As [`report`](Self::report), keeping `error` as the source of the
    /// [`Error::Runtime`] the user gets.
    pub(crate) fn report_error(&self, runtime: &str, error: Error) {
        self.push(runtime, error.to_string(), Some(Box::new(error)));
    }

    fn push(&self, runtime: &str, message: String, source: Option<Box<Error>>) {
        tracing::error!(runtime, %message, "runtime failed");
        if let Some(forward) = &self.forward {
            return forward(runtime, &message);
        }
        self.lock().push(Error::Runtime {
            runtime: runtime.to_owned(),
            message,
            source,
        });
        self.inner.1.notify_all();
    }

    /// Every error since the last take.
    pub(crate) fn take(&self) -> Vec<Error> {
        std::mem::take(&mut *self.lock())
    }

    /// Waits until there is an error, then takes them all.
    pub(crate) fn wait(&self) -> Vec<Error> {
        loop {
            let errors = self.wait_for(Duration::from_secs(3600));
            if !errors.is_empty() {
                return errors;
            }
        }
    }

    /// Waits at most `timeout` for an error, then takes them all (none
    /// when the time ran out).
    pub(crate) fn wait_for(&self, timeout: Duration) -> Vec<Error> {
        let deadline = std::time::Instant::now() + timeout;
        let mut errors = self.lock();
        while errors.is_empty() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            errors = self
                .inner
                .1
                .wait_timeout(errors, left.min(Duration::from_secs(1)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        std::mem::take(&mut *errors)
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
