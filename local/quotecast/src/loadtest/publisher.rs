//! The publishing side of a load test: batches of aliased `publish` mutations on a fixed
//! schedule.
//!
//! Request `k` is due at `start + k × interval` and carries that due time as its stamp, not
//! the moment it finally went out. A publisher that waits for a free in-flight slot, or that
//! the runtime did not wake on time, would otherwise stamp late and hide exactly the delay a
//! real producer on a fixed clock would see (coordinated omission): with the due time in the
//! stamp, a stall shows up as latency, and the report says how far behind schedule the
//! publisher fell.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quotecast_shared::Channel;
use tokio::sync::Semaphore;

use super::{LoadTest, symbol};
use quotecast_appsync_client::GraphqlHttp;

/// Requests in flight at once; beyond that the publisher falls behind its schedule, which
/// the stamps and the report then show.
const IN_FLIGHT: usize = 8;

/// When the schedule starts, on both clocks: `Instant` to sleep on, epoch micros to stamp.
#[derive(Clone, Copy)]
pub(super) struct Schedule {
    pub start: Instant,
    pub start_micros: u64,
}

pub(super) struct Published {
    pub publishes: u64,
    pub requests: u64,
    pub errors: u64,
    /// Frames the subscriptions should receive for what was published.
    pub expected: u64,
    /// From the schedule's start until the last request was answered.
    pub elapsed: Duration,
    /// From the schedule's start until the last request went out.
    pub sent_within: Duration,
    /// How late (after its due time) a request went out: the worst and the mean.
    pub behind_max: Duration,
    pub behind_mean: Duration,
}

pub(super) async fn run(
    test: &LoadTest,
    per_symbol: &HashMap<String, u64>,
    schedule: Schedule,
) -> Published {
    let http = GraphqlHttp::with_auth(&test.graphql_url, test.publish_auth.clone());
    let batch = test.batch.max(1);
    let requests_per_sec = (test.rate as f64 / batch as f64).max(0.001);
    let interval = Duration::from_secs_f64(1.0 / requests_per_sec);
    // Every request due inside the window is sent, however late: the count depends on the
    // schedule only, so a slow server cannot quietly shrink the load it is given.
    let due = (test.duration.as_secs_f64() * requests_per_sec).ceil() as u64;
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let errors = Arc::new(AtomicU64::new(0));
    let (mut seq, mut requests, mut expected) = (0u64, 0u64, 0u64);
    let (mut behind_max, mut behind_total) = (Duration::ZERO, Duration::ZERO);
    let mut sent_within = Duration::ZERO;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..due {
        let offset = interval.mul_f64(k as f64);
        let due_at = schedule.start + offset;
        tokio::time::sleep_until(due_at.into()).await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let behind = due_at.elapsed();
        behind_max = behind_max.max(behind);
        behind_total += behind;
        sent_within = schedule.start.elapsed();
        let stamp = schedule.start_micros + offset.as_micros() as u64;
        let channels: Vec<Channel> = (0..batch)
            .map(|_| {
                let name = symbol((seq as usize) % test.symbols.max(1));
                expected += per_symbol.get(&name).copied().unwrap_or(0);
                seq += 1;
                Channel::new(name, format!(r#"{{"t":{stamp},"seq":{seq}}}"#))
            })
            .collect();
        requests += 1;
        let http = http.clone();
        let errors = errors.clone();
        tasks.spawn(async move {
            let ok = matches!(http.publish(&channels).await, Ok((200, body)) if body.get("errors").is_none());
            if !ok {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    Published {
        publishes: seq,
        requests,
        errors: errors.load(Ordering::Relaxed),
        expected,
        elapsed: schedule.start.elapsed(),
        sent_within,
        behind_max,
        behind_mean: behind_total.div_f64(requests.max(1) as f64),
    }
}
