//! End-to-end latency (`cargo xtask bench e2e`): producer send → Kafka (embedded broker) →
//! event source mapping emulator → consumer handler → AppSync-compatible server →
//! WebSocket subscriber, at 1,000 quotes/s, with a batching window of 0 (publish only, and
//! with every bar stored in the history first) and of 500 ms (with history).
//!
//! Quotes are stamped with their send time (ms) by the publisher — the producer's own Kafka
//! code — so latency is receipt time minus stamp, on one clock. The handler is wrapped to note
//! when it saw each quote, which splits every latency in two: the Kafka half (producer,
//! broker, mapping) and the AppSync half (history write, signed publish, fan-out, socket).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use quotecast_e2e::LocalAppSync;
use quotecast_esm::{BatchHandler, EsmConfig, EventSourceMapping};
use quotecast_msk::EmbeddedBroker;
use quotecast_producer::handler::now_ms;
use quotecast_producer::kafka::{KafkaSecurity, KafkaSettings, QuotePublisher};
use quotecast_shared::Quote;
use quotecast_shared::lambda::KafkaBatchResponse;
use quotecast_shared::realtime::ServerMessage;

const RATE: u64 = 1000;
const SECONDS: u64 = 12;
const WARMUP_MS: i64 = 2000;

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// The consumer's handler, noting when each quote (by its volume, unique per quote here)
/// reached it.
struct StagedHandler {
    inner: quotecast::stack::ConsumerHandler,
    invoked_us: Arc<Mutex<HashMap<u64, i64>>>,
}

impl BatchHandler for StagedHandler {
    async fn invoke(&self, event: serde_json::Value) -> Result<KafkaBatchResponse, String> {
        let at = now_us();
        {
            let mut invoked = self.invoked_us.lock().unwrap();
            for records in event["records"].as_object().unwrap().values() {
                for record in records.as_array().unwrap() {
                    let value = STANDARD.decode(record["value"].as_str().unwrap()).unwrap();
                    let quote = Quote::from_json(std::str::from_utf8(&value).unwrap()).unwrap();
                    invoked.insert(quote.volume, at);
                }
            }
        }
        self.inner.invoke(event).await
    }
}

/// p50, p99 and max of `values`, sorted in place.
fn spread<T: Copy + PartialOrd>(values: &mut [T]) -> (T, T, T) {
    values.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let at = |p: f64| values[((values.len() as f64 * p) as usize).min(values.len() - 1)];
    (at(0.5), at(0.99), values[values.len() - 1])
}

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
    let invoked_us = Arc::new(Mutex::new(HashMap::new()));
    let handler = StagedHandler {
        inner: quotecast::stack::ConsumerHandler(consumer),
        invoked_us: invoked_us.clone(),
    };
    let esm_task = tokio::spawn(esm.run(handler, async move {
        let _ = stopped.await;
    }));

    let started_ms = now_ms();
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let received = received.clone();
        let done = done.clone();
        tokio::spawn(async move {
            // (volume, send stamp in ms, receipt in µs)
            let mut latencies: Vec<(u64, i64, i64)> = Vec::new();
            sub.set_timeout(Duration::from_secs(3));
            while !done.load(Ordering::Relaxed) {
                let Ok(msg) = sub.recv().await else { break };
                if let ServerMessage::Data { payload, .. } = msg {
                    let q =
                        Quote::from_json(payload["data"]["subscribe"]["data"].as_str().unwrap())
                            .unwrap();
                    received.fetch_add(1, Ordering::Relaxed);
                    if q.timestamp >= started_ms + WARMUP_MS {
                        latencies.push((q.volume, q.timestamp, now_us()));
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
    let samples = reader.await.unwrap();
    let mut latencies: Vec<i64> = samples
        .iter()
        .map(|(_, stamp, receipt_us)| receipt_us / 1000 - stamp)
        .collect();
    let (p50, p99, max) = spread(&mut latencies);
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
        p50,
        p99,
        max,
        latencies.len(),
        WARMUP_MS / 1000
    );
    print_stages(&samples, &invoked_us.lock().unwrap());
    let _ = stop.send(());
    esm_task.await.unwrap().unwrap();
}

/// Splits each latency at the moment the handler saw the quote, and says where the slowest
/// 1 % spent their time.
fn print_stages(samples: &[(u64, i64, i64)], invoked_us: &HashMap<u64, i64>) {
    // (whole, kafka half, appsync half) in ms; the stamp has 1 ms resolution, the rest µs.
    let mut split: Vec<(f64, f64, f64)> = samples
        .iter()
        .filter_map(|(volume, stamp_ms, receipt_us)| {
            let invoked = *invoked_us.get(volume)?;
            let sent_us = stamp_ms * 1000;
            Some((
                (receipt_us - sent_us) as f64 / 1000.0,
                (invoked - sent_us) as f64 / 1000.0,
                (receipt_us - invoked) as f64 / 1000.0,
            ))
        })
        .collect();
    let (k50, k99, kmax) = spread(&mut split.iter().map(|s| s.1).collect::<Vec<_>>());
    let (a50, a99, amax) = spread(&mut split.iter().map(|s| s.2).collect::<Vec<_>>());
    split.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let slowest = &split[..split.len().div_ceil(100)];
    let mean =
        |f: fn(&(f64, f64, f64)) -> f64| slowest.iter().map(f).sum::<f64>() / slowest.len() as f64;
    println!(
        "  send → handler (producer, broker, mapping): p50 {k50:.1} ms, p99 {k99:.1} ms, max {kmax:.1} ms"
    );
    println!(
        "  handler → receipt (history, signed publish, fan-out, socket): p50 {a50:.1} ms, p99 {a99:.1} ms, max {amax:.1} ms"
    );
    println!(
        "  the slowest 1 % ({} quotes, {:.1} ms on average): {:.1} ms before the handler, {:.1} ms after",
        slowest.len(),
        mean(|s| s.0),
        mean(|s| s.1),
        mean(|s| s.2),
    );
}

#[tokio::main]
async fn main() {
    run(Duration::ZERO, false).await;
    run(Duration::ZERO, true).await;
    run(Duration::from_millis(500), true).await;
}
