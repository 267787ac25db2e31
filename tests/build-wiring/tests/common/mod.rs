//! A `Sensor` server that records every command it receives, shared by the
//! connection tests.
#![allow(dead_code, unreachable_pub)] // each test binary uses a subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tsercom::tonic::{Request, Response, Status, Streaming};
use tsercom_test_build_wiring::sensor_server::Sensor;
use tsercom_test_build_wiring::{Command, Reading};

/// Generous: "should happen" waits never decide a test by timing.
pub const WAIT: Duration = Duration::from_secs(30);

/// Records each command's action; answers each with a `Reading`.
#[derive(Clone, Default)]
pub struct Recorder {
    pub actions: Arc<Mutex<Vec<String>>>,
    changed: Arc<Notify>,
}

impl Recorder {
    async fn wait_until(&self, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.changed.notified();
                {
                    let actions = self.actions.lock().expect("lock");
                    if done(&actions) {
                        return actions.clone();
                    }
                }
                notified.await;
            }
        })
        .await
        .expect("the commands arrived in time")
    }

    /// Waits until `n` commands arrived; returns them all.
    pub async fn wait_for_count(&self, n: usize) -> Vec<String> {
        self.wait_until(|a| a.len() >= n).await
    }

    /// Waits until a command with `action` arrived.
    pub async fn wait_for(&self, action: &str) {
        self.wait_until(|a| a.iter().any(|x| x == action)).await;
    }
}

#[tsercom::tonic::async_trait]
impl Sensor for Recorder {
    type StreamStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<Reading, Status>> + Send + 'static>,
    >;

    async fn stream(
        &self,
        request: Request<Streaming<Command>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        use tokio_stream::StreamExt;
        let recorder = self.clone();
        let readings = request.into_inner().map(move |c| {
            c.map(|c| {
                recorder.actions.lock().expect("lock").push(c.action);
                recorder.changed.notify_waiters();
                Reading::default()
            })
        });
        Ok(Response::new(Box::pin(readings)))
    }

    async fn ping(
        &self,
        _: Request<tsercom::proto::TestConnectionCall>,
    ) -> Result<Response<tsercom::proto::TestConnectionResponse>, Status> {
        Ok(Response::new(tsercom::proto::TestConnectionResponse {}))
    }
}
