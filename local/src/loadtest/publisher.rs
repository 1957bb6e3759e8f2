//! The publishing side of a load test: paced batches of aliased `publish` mutations.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quotecast_shared::Channel;
use tokio::sync::Semaphore;

use super::{LoadTest, now_micros, symbol};
use crate::client::GraphqlHttp;

/// Requests in flight at once; beyond that the publisher falls behind its rate (and says so).
const IN_FLIGHT: usize = 8;

pub(super) struct Published {
    pub publishes: u64,
    pub requests: u64,
    pub errors: u64,
    /// Frames the subscriptions should receive for what was published.
    pub expected: u64,
    pub elapsed: Duration,
}

pub(super) async fn run(test: &LoadTest, per_symbol: &HashMap<String, u64>) -> Published {
    let http = GraphqlHttp::with_auth(&test.graphql_url, test.publish_auth.clone());
    let batch = test.batch.max(1);
    let requests_per_sec = (test.rate as f64 / batch as f64).max(0.001);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / requests_per_sec));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (mut seq, mut requests, mut expected) = (0u64, 0u64, 0u64);
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < test.duration {
        ticker.tick().await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let stamp = now_micros();
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
        elapsed: started.elapsed(),
    }
}
