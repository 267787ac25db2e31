//! Shared test runtime for the runtime tests: a scripted runtime that
//! registers callers, pushes data at start and stop, and answers events.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tsercom::runtime::{
    BoxFuture, Endpoint, Runtime, RuntimeContext, RuntimeInitializer, StopReason,
};
use tsercom::{CallerId, Error, RuntimeConfig, Timestamp};

/// A CallerId that is the same in the parent and in the re-executed child.
pub fn fixed_id(n: u64) -> CallerId {
    CallerId::parse(&format!("00000000-0000-4000-8000-{n:012x}")).expect("valid")
}

/// Generous: "should happen" waits never decide a test's outcome by timing.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn t(n: i64) -> Timestamp {
    Timestamp::new(1_700_000_000 + n, 0).expect("in range")
}

pub type Ep = Arc<Endpoint<f64, f64>>;

/// A runtime that registers `callers`, pushes `at_start` for each at start
/// and `at_stop` at stop, and (if `reply`) answers every event `e` with a
/// sample `e + 0.5`.
#[derive(Clone, Default)]
pub struct Script {
    pub callers: Vec<CallerId>,
    pub at_start: Vec<f64>,
    pub at_stop: Vec<f64>,
    pub reply: bool,
    pub fail_create: Option<&'static str>,
    pub fail_start: Option<&'static str>,
    pub panic_in_task: bool,
    pub config: Option<RuntimeConfig>,
    /// Listen on a loopback port chosen by the system and report it.
    pub listen: bool,
}

pub struct Init {
    pub name: &'static str,
    pub script: Script,
    pub stops: Arc<Mutex<u32>>,
    pub starts: Arc<Mutex<u32>>,
}

impl Init {
    pub fn new(name: &'static str, script: Script) -> Self {
        Init {
            name,
            script,
            stops: Arc::default(),
            starts: Arc::default(),
        }
    }
}

struct Scripted {
    ctx: RuntimeContext<f64, f64>,
    script: Script,
    endpoints: Vec<Ep>,
    stops: Arc<Mutex<u32>>,
    starts: Arc<Mutex<u32>>,
    listener: Option<std::net::TcpListener>,
}

impl RuntimeInitializer for Init {
    type Inbound = f64;
    type Outbound = f64;
    type Handle = tsercom::RuntimeHandle<f64, f64>;

    fn name(&self) -> String {
        self.name.to_owned()
    }

    fn config(&self) -> tsercom::Result<RuntimeConfig> {
        Ok(self.script.config.clone().unwrap_or_default())
    }

    fn create(&mut self, ctx: RuntimeContext<f64, f64>) -> tsercom::Result<Box<dyn Runtime>> {
        if let Some(why) = self.script.fail_create {
            return Err(Error::Invalid {
                what: "test runtime",
                reason: why.into(),
            });
        }
        Ok(Box::new(Scripted {
            ctx,
            script: self.script.clone(),
            endpoints: Vec::new(),
            stops: Arc::clone(&self.stops),
            starts: Arc::clone(&self.starts),
            listener: None,
        }))
    }
}

impl Runtime for Scripted {
    fn start(&mut self) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            *self.starts.lock().expect("lock") += 1;
            if let Some(why) = self.script.fail_start {
                return Err(Error::Invalid {
                    what: "start",
                    reason: why.into(),
                });
            }
            if self.script.panic_in_task {
                self.ctx.spawn(async { panic!("boom in a task") });
            }
            if self.script.listen {
                let any: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
                let socket = |source| Error::Socket {
                    protocol: "tcp",
                    addr: any,
                    source,
                };
                let listener = std::net::TcpListener::bind(any).map_err(socket)?;
                let addr = listener.local_addr().map_err(socket)?;
                self.ctx.report_listening(&[addr]);
                self.listener = Some(listener);
            }
            for (i, caller) in self.script.callers.iter().enumerate() {
                let ep: Ep = Arc::new(
                    self.ctx
                        .register_caller(*caller, Some(format!("127.0.0.1:{}", 1000 + i))),
                );
                for (n, v) in self.script.at_start.iter().enumerate() {
                    ep.push(*v, t(i64::try_from(n).expect("small"))).await?;
                }
                if self.script.reply {
                    let replier = Arc::clone(&ep);
                    self.ctx.spawn(async move {
                        let mut n = 1000;
                        while let Some(event) = replier.next_event().await {
                            replier.push(event + 0.5, t(n)).await?;
                            n += 1;
                        }
                        Ok(())
                    });
                }
                self.endpoints.push(ep);
            }
            Ok(())
        })
    }

    fn stop(&mut self, _reason: StopReason) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            *self.stops.lock().expect("lock") += 1;
            for ep in &self.endpoints {
                for (n, v) in self.script.at_stop.iter().enumerate() {
                    ep.push(*v, t(500 + i64::try_from(n).expect("small")))
                        .await?;
                }
            }
            Ok(())
        })
    }
}

pub fn values(samples: &[tsercom::data::Sample<f64>]) -> Vec<f64> {
    samples.iter().map(|s| s.data).collect()
}

/// Takes until `n` samples of `caller` arrived (each wait bounded by WAIT).
pub fn take_n(handle: &tsercom::RuntimeHandle<f64, f64>, caller: CallerId, n: usize) -> Vec<f64> {
    let mut got = Vec::new();
    while got.len() < n {
        assert!(handle.received().wait_new(WAIT), "timed out with {got:?}");
        got.extend(values(&handle.received().take_new_for(caller)));
    }
    got
}
