//! `history` latency under ingest (`cargo xtask bench history`): the whole local stack
//! (`quotecast dev`'s code) ingesting 1,000 quotes/s (50 symbols, a bar each every 50 ms,
//! each stored then published), and `history(name, limit: 60)` queries with the public key at
//! a fixed rate from their own tasks.
//!
//! Latency is measured from each query's scheduled start, not from when it was sent, so a
//! slow answer delays no later measurement (no coordinated omission).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use quotecast::stack::{StackConfig, start};
use quotecast_appsync_client::GraphqlHttp;
use quotecast_e2e::*;
use quotecast_shared::graphql::GraphqlRequest;

const SYMBOLS: usize = 50;
const TICK_MS: u64 = 50;
const WARMUP: Duration = Duration::from_secs(5);
const QUERIES_PER_SECOND: u64 = 100;
const SECONDS: u64 = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let symbols: Vec<String> = (0..SYMBOLS).map(|i| format!("H{i:02}")).collect();
    let names: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let stack = start(StackConfig {
        partitions: 4,
        ..stack_config(&names, Duration::from_millis(TICK_MS))
    })
    .await
    .unwrap();
    tokio::time::sleep(WARMUP).await;
    let delivered_before = stack.esm_stats.lock().unwrap().records_delivered;
    let reader = Arc::new(GraphqlHttp::new(
        &format!("http://{}/graphql", stack.addr),
        API_KEY,
    ));
    let request = Arc::new(GraphqlRequest::new(
        "query($n: String!) { history(name: $n, limit: 60) { name data } }",
    ));

    let interval = Duration::from_micros(1_000_000 / QUERIES_PER_SECOND);
    let total = (QUERIES_PER_SECOND * SECONDS) as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let scheduled = started + interval * i as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let reader = reader.clone();
        let request = Arc::new(
            (*request)
                .clone()
                .with_variable("n", symbols[i % SYMBOLS].as_str()),
        );
        tasks.push(tokio::spawn(async move {
            let (status, body) = reader.post(&request).await.unwrap();
            let latency = scheduled.elapsed();
            assert_eq!(status, 200);
            let bars = body["data"]["history"].as_array().map_or(0, Vec::len);
            (latency, bars)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut short = 0;
    for t in tasks {
        let (latency, bars) = t.await.unwrap();
        latencies.push(latency);
        if bars < 60 {
            short += 1;
        }
    }
    let window = started.elapsed();
    let ingested = stack.esm_stats.lock().unwrap().records_delivered - delivered_before;
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "history(limit: 60) at {QUERIES_PER_SECOND}/s for {SECONDS} s, while the stack ingests \
         {SYMBOLS} symbols every {TICK_MS} ms ({:.0} records/s stored and published meanwhile)",
        ingested as f64 / window.as_secs_f64()
    );
    println!(
        "  latency from schedule: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} queries, {} with fewer than 60 bars)",
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(latencies[latencies.len() - 1]),
        latencies.len(),
        short
    );
    stack.stop().await;
}
