//! A runtime's periodic upkeep on the handle side: queue depths sampled
//! for the metrics, departed callers swept from the store.

use crate::data::RemoteDataAggregator;
use crate::runtime::router::EventRouter;

/// Sets `tsercom_queue_depth{runtime, queue}` every second until the
/// runtime closes: `outbound` (every peer's outbound queue) and, where the store
/// lives, `unread`; with `delivery` (the runtime runs in this process), the
/// `tsercom_delivery_*` metrics from its counters.
pub(super) fn sample_depths<D: Send + 'static, E: Send + 'static>(
    tokio: &tokio::runtime::Handle,
    name: &str,
    data: Option<RemoteDataAggregator<D>>,
    events: EventRouter<E>,
    delivery: bool,
) {
    let delivery = delivery.then(|| {
        (
            events.delivery_counters(),
            crate::metrics::DeliveryMetrics::new(name),
        )
    });
    let events_depth = crate::metrics::queue_depth(name, "outbound");
    let unread = data.map(|data| (data, crate::metrics::queue_depth(name, "unread")));
    tokio.spawn(async move {
        let mut tick = tokio::time::interval(crate::metrics::DEPTH_INTERVAL);
        loop {
            tick.tick().await;
            if events.is_closed() {
                break;
            }
            events_depth.set(events.depth() as f64);
            if let Some((data, gauge)) = &unread {
                gauge.set(data.unread_total() as f64);
            }
            if let Some((counters, metrics)) = &delivery {
                metrics.show(&counters.stats());
            }
        }
    });
}

/// Sweeps `data` every second until it closes, so callers that left are
/// freed or forgotten on time even when nothing arrives (sweeping on
/// arrivals alone left an idle aggregator's departed callers in place).
pub(super) fn sweep_departed<D: Send + 'static>(
    tokio: &tokio::runtime::Handle,
    data: RemoteDataAggregator<D>,
) {
    tokio.spawn(async move {
        let mut tick = tokio::time::interval(crate::data::SWEEP_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !data.sweep_if_due() {
                break;
            }
        }
    });
}
