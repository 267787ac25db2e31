//! `handle`: samples/s through the handle path — a runtime pushes
//! `Sample`s (timestamp + 4 doubles) as fast as it can, the user's thread
//! takes them with `take_new()` until all arrived; in process and out of
//! process (runtime in a child process, IPC over a Unix socket), against a
//! plain bounded tokio channel. Nothing is dropped (Block policy), so the
//! number is sustained throughput. Interleaved runs, medians.

use std::time::{Duration, Instant};

use tsercom::data::Retention;
use tsercom::runtime::{
    BoxFuture, Endpoint, Runtime, RuntimeContext, RuntimeInitializer, StopReason,
};
use tsercom::{CallerId, OverflowPolicy, RuntimeConfig, RuntimeManager, Timestamp, To};

use crate::bench;
use crate::quiet::{Spread, steady};
use crate::stream::{Meter, Outcome};
use crate::{target_line, write_json};

/// The targets, samples/s.
const IN_PROCESS_TARGET: f64 = 5e6;
const OUT_OF_PROCESS_TARGET: f64 = 2e6;

/// The `i`-th sample of a handle run: timestamped `i` ns after a fixed
/// base, values counting up.
fn nth_sample(i: u64) -> tsercom::Result<(Timestamp, bench::Sample)> {
    let t = Timestamp::new(1_700_000_000, 0)?.offset_by_nanos(i128::from(i))?;
    let x = i as f64;
    let sample = bench::Sample {
        timestamp: Some(t.to_proto()),
        a: x,
        b: x + 1.0,
        c: x + 2.0,
        d: x + 3.0,
    };
    Ok((t, sample))
}

/// A runtime that, on the first event, pushes `samples` samples.
pub(crate) struct Flood {
    pub(crate) samples: u64,
}

struct Flooding {
    ctx: RuntimeContext<bench::Sample, f64>,
    samples: u64,
}

impl RuntimeInitializer for Flood {
    type Inbound = bench::Sample;
    type Outbound = f64;
    type Handle = tsercom::RuntimeHandle<bench::Sample, f64>;

    fn name(&self) -> String {
        "flood".into()
    }

    fn config(&self) -> tsercom::Result<RuntimeConfig> {
        Ok(RuntimeConfig::default()
            .with_retention(Retention {
                max_samples: 65_536,
                max_age: None,
            })
            .with_data_policy(OverflowPolicy::Block))
    }

    fn create(
        &mut self,
        ctx: RuntimeContext<bench::Sample, f64>,
    ) -> tsercom::Result<Box<dyn Runtime>> {
        Ok(Box::new(Flooding {
            ctx,
            samples: self.samples,
        }))
    }
}

impl Runtime for Flooding {
    fn start(&mut self) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async move {
            // Same id in the parent and in a child process.
            let caller = CallerId::parse("00000000-0000-4000-8000-00000000beef")?;
            let endpoint: Endpoint<bench::Sample, f64> = self.ctx.register_caller(caller, None);
            let samples = self.samples;
            self.ctx.spawn(async move {
                // Wait for "go" so that start-up is not measured.
                endpoint.next_event().await;
                for i in 0..samples {
                    let (t, sample) = nth_sample(i)?;
                    endpoint.push(sample, t).await?;
                }
                // Keep the endpoint (and the caller) until shutdown.
                while endpoint.next_event().await.is_some() {}
                Ok(())
            });
            Ok(())
        })
    }

    fn stop(&mut self, _: StopReason) -> BoxFuture<'_, tsercom::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Waits until the flood's caller is registered (it is by the time start
/// returns in process; out of process its registration frame may trail).
pub(crate) fn wait_for_caller(
    handle: &tsercom::RuntimeHandle<bench::Sample, f64>,
) -> tsercom::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while handle.callers().is_empty() {
        if Instant::now() > deadline {
            return Err(tsercom::Error::WrongState(
                "the benchmark caller never registered",
            ));
        }
        std::thread::yield_now(); // set-up, not measured
    }
    Ok(())
}

/// Starts the flood ("go") and takes from the handle until `samples`
/// arrived; returns the last sample's `a` (its index, to check the order).
pub(crate) fn go_and_take(
    handle: &tsercom::RuntimeHandle<bench::Sample, f64>,
    manager: &RuntimeManager,
    samples: u64,
) -> tsercom::Result<Option<f64>> {
    handle.send(1.0, To::All)?;
    let mut got = 0u64;
    let mut last = None;
    while got < samples {
        if !handle.received().wait_new(Duration::from_secs(30)) {
            manager.check_error()?;
            return Err(tsercom::Error::WrongState("no data for 30 s"));
        }
        for (_, batch) in handle.received().take_new() {
            got += batch.len() as u64;
            last = batch.last().map(|s| s.data.a);
        }
    }
    Ok(last)
}

/// One flood through the handle, in this process or in a child process.
pub(crate) fn run(samples: u64, out_of_process: bool) -> tsercom::Result<Outcome> {
    let mut manager = RuntimeManager::new();
    if out_of_process {
        manager = manager.with_child_args(["handle-child", "--samples", &samples.to_string()]);
    }
    let handle = manager.register(Flood { samples })?;
    if out_of_process {
        manager.start_out_of_process()?;
    } else {
        manager.start_in_process()?;
    }
    wait_for_caller(&handle)?;
    let meter = Meter::start();
    let last = go_and_take(&handle, &manager, samples)?;
    let outcome = meter.finish(samples, Vec::new());
    if last != Some((samples - 1) as f64) {
        return Err(tsercom::Error::WrongState("samples arrived out of order"));
    }
    if handle.stats().inbound.dropped != 0 {
        return Err(tsercom::Error::WrongState(
            "samples were dropped under the Block policy",
        ));
    }
    manager.shutdown()?;
    Ok(outcome)
}

/// The baseline: what a user writes without tsercom to get samples from a
/// network task to their thread — a bounded tokio channel, `send().await`
/// on a runtime task, `blocking_recv()` on the user's thread (no
/// per-caller store, no queries).
fn channel_baseline(samples: u64) -> tsercom::Result<Outcome> {
    let rt = crate::runtime()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bench::Sample>(65_536);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(async move {
        if go_rx.await.is_err() {
            return;
        }
        for i in 0..samples {
            let Ok((_, sample)) = nth_sample(i) else {
                return;
            };
            if tx.send(sample).await.is_err() {
                return;
            }
        }
    });
    let meter = Meter::start();
    go_tx
        .send(())
        .map_err(|()| tsercom::Error::WrongState("the baseline task ended early"))?;
    let mut got = 0u64;
    while got < samples {
        if rx.blocking_recv().is_none() {
            return Err(tsercom::Error::WrongState(
                "the baseline channel closed early",
            ));
        }
        got += 1;
    }
    let outcome = meter.finish(samples, Vec::new());
    rt.shutdown_timeout(Duration::from_secs(5));
    Ok(outcome)
}

/// The `handle` scenario: `runs` interleaved runs of each path.
/// `only`: the paths to run (all when empty), for a profiler.
pub(crate) fn scenario(
    samples: u64,
    runs: usize,
    only: &[String],
    json: Option<&str>,
) -> tsercom::Result<()> {
    let modes = ["in-process", "out-of-process", "plain channel"];
    let keys = ["in-process", "out-of-process", "channel"];
    if let Some(bad) = only.iter().find(|o| !keys.contains(&o.as_str())) {
        return Err(tsercom::Error::Invalid {
            what: "--only",
            reason: format!("{bad:?}: one of {}", keys.join(", ")),
        });
    }
    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut disturbed = 0;
    for _ in 0..runs.max(1) {
        for (m, rates) in rates.iter_mut().enumerate() {
            if !only.is_empty() && !only.iter().any(|o| o == keys[m]) {
                continue;
            }
            let (outcome, d) = steady(|| match m {
                0 => run(samples, false),
                1 => run(samples, true),
                _ => channel_baseline(samples),
            })?;
            disturbed += d;
            rates.push(outcome.rate());
        }
    }
    println!(
        "handle: {samples} samples per run, {} runs, samples/s median (min–max); {disturbed} disturbed runs repeated",
        runs.max(1)
    );
    let spreads = rates.map(Spread::of);
    for (mode, s) in modes.iter().zip(&spreads) {
        println!("{mode:<16} {:>32}", s.show(1e6, 2) + " M");
    }
    println!(
        "in process: {:.2}× the plain channel",
        spreads[0].median / spreads[2].median
    );
    target_line(
        "handle in process ≥ 5 M samples/s",
        spreads[0].median >= IN_PROCESS_TARGET,
    );
    target_line(
        "handle out of process ≥ 2 M samples/s",
        spreads[1].median >= OUT_OF_PROCESS_TARGET,
    );
    let rows: Vec<String> = modes
        .iter()
        .zip(&spreads)
        .map(|(mode, s)| {
            format!(
                "{{\"scenario\":\"handle\",\"mode\":\"{mode}\",\"samples\":{samples},\"runs\":{runs},\"samples_per_second\":{}}}",
                s.json()
            )
        })
        .collect();
    write_json(json, "handle", &rows)
}
