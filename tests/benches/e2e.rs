//! End-to-end latency (`cargo xtask bench e2e`): producer send → Kafka (embedded broker) →
//! event source mapping emulator → consumer handler → AppSync-compatible server →
//! WebSocket subscriber, at 1,000 quotes/s, with a batching window of 0 (publish only, and
//! with every bar stored in the history first) and of 500 ms (with history).
//!
//! Quotes are stamped with their send time (ms) by the publisher — the producer's own Kafka
//! code — so latency is receipt time minus stamp, on one clock.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quotecast_e2e::LocalAppSync;
use quotecast_esm::{EsmConfig, EventSourceMapping};
use quotecast_msk::EmbeddedBroker;
use quotecast_producer::handler::now_ms;
use quotecast_producer::kafka::{KafkaSecurity, KafkaSettings, QuotePublisher};
use quotecast_shared::Quote;
use quotecast_shared::realtime::ServerMessage;

const RATE: u64 = 1000;
const SECONDS: u64 = 12;
const WARMUP_MS: i64 = 2000;

/// With `history`, the consumer stores every bar (the server's history store, through its
/// DynamoDB endpoint) before publishing it, as `quotecast dev` and the Lambda do.
async fn run(window: Duration, history: bool) {
    let appsync = if history {
        LocalAppSync::start_with_history("bench-e2e").await.0
    } else {
        LocalAppSync::start().await
    };
    let mut sub = appsync.subscriber("all").await;
    let broker = EmbeddedBroker::start("quotes", 4).unwrap();
    let url = appsync.graphql_url();
    let consumer = if history {
        quotecast_e2e::history_consumer(&url, &appsync.dynamodb_url(), &[])
    } else {
        quotecast_e2e::iam_consumer(&url)
    };
    let mut esm_config = EsmConfig::new(broker.bootstrap_servers(), "quotes");
    esm_config.batching_window = window;
    let esm = EventSourceMapping::connect(esm_config).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let esm_task = tokio::spawn(
        esm.run(quotecast::stack::ConsumerHandler(consumer), async move {
            let _ = stopped.await;
        }),
    );

    let started_ms = now_ms();
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let received = received.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut latencies: Vec<i64> = Vec::new();
            sub.set_timeout(Duration::from_secs(3));
            while !done.load(Ordering::Relaxed) {
                let Ok(msg) = sub.recv().await else { break };
                if let ServerMessage::Data { payload, .. } = msg {
                    let q =
                        Quote::from_json(payload["data"]["subscribe"]["data"].as_str().unwrap())
                            .unwrap();
                    received.fetch_add(1, Ordering::Relaxed);
                    if q.timestamp >= started_ms + WARMUP_MS {
                        latencies.push(now_ms() - q.timestamp);
                    }
                }
            }
            latencies
        })
    };

    let publisher = QuotePublisher::new(&KafkaSettings {
        bootstrap_servers: broker.bootstrap_servers().to_owned(),
        security: KafkaSecurity::Plaintext,
        topic: "quotes".to_owned(),
        message_timeout: Duration::from_secs(10),
    })
    .unwrap();
    let mut ticks = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (RATE / 100) as usize;
    let mut sent = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(SECONDS) {
        ticks.tick().await;
        let now = now_ms();
        let quotes: Vec<Quote> = (0..per_tick)
            .map(|i| {
                Quote::new(
                    format!("S{:03}", (sent as usize + i) % 100),
                    now,
                    [10.0, 11.0, 9.0, 10.5],
                    sent + i as u64,
                )
                .unwrap()
            })
            .collect();
        sent += publisher.publish(&quotes).await.unwrap() as u64;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while received.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done.store(true, Ordering::Relaxed);
    let mut latencies = reader.await.unwrap();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "batching window {} ms{}: {} quotes sent at {RATE}/s, {} delivered ({:.3} %)",
        window.as_millis(),
        if history {
            ", history stored first"
        } else {
            ", publish only"
        },
        sent,
        received.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed) as f64 * 100.0 / sent as f64
    );
    println!(
        "  latency send → WebSocket receipt: p50 {} ms, p99 {} ms, max {} ms ({} samples after {} s warm-up)",
        pct(0.5),
        pct(0.99),
        latencies[latencies.len() - 1],
        latencies.len(),
        WARMUP_MS / 1000
    );
    let _ = stop.send(());
    esm_task.await.unwrap().unwrap();
}

#[tokio::main]
async fn main() {
    run(Duration::ZERO, false).await;
    run(Duration::ZERO, true).await;
    run(Duration::from_millis(500), true).await;
}
