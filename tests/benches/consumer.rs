//! Consumer benchmark (`cargo xtask bench consumer`):
//! 1. throughput: 1,000-record batches (4 partitions, 50 symbols) through the handler into
//!    the real local AppSync server with one subscriber reading everything, publish only and
//!    with the history (every bar stored through the server's DynamoDB endpoint first);
//! 2. cold start: the release `quotecast-consumer` binary (path in `QUOTECAST_CONSUMER_BIN`)
//!    started under a stand-in of the Lambda Runtime API, timed to its first `next` request
//!    (init done) and to its first response.
//!
//! Each cold start gets its own stand-in API (own port, own one-shot signals): a shared
//! `Notify` stores a permit when nobody waits, so the previous process's second `next` left
//! one behind and the next run read "init done" before its process had even started.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use quotecast_consumer::records::decode_event;
use quotecast_e2e::LocalAppSync;
use quotecast_e2e::kafka_event::KafkaEventBuilder;
use quotecast_shared::Quote;
use quotecast_shared::realtime::ServerMessage;
use tokio::sync::oneshot;

const BATCHES: usize = 50;

fn batch(n: usize) -> serde_json::Value {
    let mut b = KafkaEventBuilder::new();
    for i in 0..1000usize {
        let symbol = format!("S{:02}", i % 50);
        let partition = (i % 50 % 4) as i64;
        let q = Quote::new(
            &symbol,
            1_700_000_000_000 + i as i64,
            [10.0, 11.0, 9.0, 10.5],
            (n * 1000 + i) as u64,
        )
        .unwrap();
        b = b.record(
            "quotes",
            partition,
            (n * 1000 + i) as i64,
            Some(symbol.as_bytes()),
            Some(q.to_json().as_bytes()),
            &[],
        );
    }
    b.build()
}

/// With `history`, the server keeps a history store and the consumer writes every bar to it
/// (through the DynamoDB endpoint) before publishing it, as `quotecast dev` runs.
async fn throughput(history: bool) {
    let appsync = if history {
        LocalAppSync::start_with_history("bench-consumer").await.0
    } else {
        LocalAppSync::start().await
    };
    let mut sub = appsync.subscriber("all").await;
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok(msg) = sub.recv().await {
            if matches!(msg, ServerMessage::Data { .. }) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let url = appsync.graphql_url();
    let consumer = if history {
        quotecast_e2e::history_consumer(&url, &appsync.dynamodb_url(), &[])
    } else {
        quotecast_e2e::iam_consumer(&url)
    };
    let events: Vec<_> = (0..BATCHES)
        .map(|n| decode_event(batch(n)).unwrap())
        .collect();
    // Warm the connection pool.
    consumer.handle(&decode_event(batch(999)).unwrap()).await;
    let mut per_batch = Vec::with_capacity(BATCHES);
    let mut requests = 0;
    let started = Instant::now();
    for event in &events {
        let t = Instant::now();
        let (response, stats) = consumer.handle(event).await;
        per_batch.push(t.elapsed());
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(stats.published, 1000);
        assert_eq!(stats.stored, if history { 1000 } else { 0 });
        requests += stats.requests;
    }
    let elapsed = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < (BATCHES as u64 + 1) * 1000
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    per_batch.sort();
    println!(
        "consumer throughput{}: {BATCHES} batches of 1,000 records (4 partitions, 50 symbols), one subscriber",
        if history {
            " with history (each bar stored, then published)"
        } else {
            ", publish only"
        }
    );
    println!(
        "  records/s           {:.0}",
        (BATCHES * 1000) as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  requests per batch  {:.1}",
        requests as f64 / BATCHES as f64
    );
    println!(
        "  batch time          p50 {:.1} ms, max {:.1} ms",
        per_batch[BATCHES / 2].as_secs_f64() * 1e3,
        per_batch[BATCHES - 1].as_secs_f64() * 1e3
    );
    println!(
        "  delivered           {} of {}",
        received.load(Ordering::Relaxed),
        (BATCHES + 1) * 1000
    );
}

/// The stand-in Runtime API for one cold start: hands out one event, then records the
/// response. Each signal fires once, when its sender is taken.
struct Runtime {
    event: String,
    served: std::sync::atomic::AtomicBool,
    first_next: Mutex<Option<oneshot::Sender<Instant>>>,
    responded: Mutex<Option<oneshot::Sender<Instant>>>,
}

/// Fires `signal` with the current time if it has not fired yet.
fn fire(signal: &Mutex<Option<oneshot::Sender<Instant>>>) {
    let now = Instant::now();
    if let Some(tx) = signal.lock().unwrap().take() {
        let _ = tx.send(now);
    }
}

async fn next(State(rt): State<Arc<Runtime>>) -> impl IntoResponse {
    fire(&rt.first_next);
    if rt.served.swap(true, Ordering::SeqCst) {
        // Only one invocation: hold the second `next` until the process is killed.
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        (u64::MAX / 2).to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:consumer"
            .parse()
            .unwrap(),
    );
    (headers, rt.event.clone())
}

async fn response(State(rt): State<Arc<Runtime>>, body: String) -> &'static str {
    assert!(body.contains("batchItemFailures"), "{body}");
    fire(&rt.responded);
    "{}"
}

/// Starts a fresh stand-in Runtime API; returns its address and the two signals.
async fn runtime_api(
    event: String,
) -> (
    String,
    oneshot::Receiver<Instant>,
    oneshot::Receiver<Instant>,
) {
    let (first_next, first_next_rx) = oneshot::channel();
    let (responded, responded_rx) = oneshot::channel();
    let rt = Arc::new(Runtime {
        event,
        served: Default::default(),
        first_next: Mutex::new(Some(first_next)),
        responded: Mutex::new(Some(responded)),
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .with_state(rt);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (api, first_next_rx, responded_rx)
}

async fn cold_start(binary: &str) {
    let appsync = LocalAppSync::start().await;
    let event = batch(0).to_string();
    let mut times = Vec::new();
    for _ in 0..10 {
        let (api, first_next, responded) = runtime_api(event.clone()).await;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "consumer")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("APPSYNC_URL", appsync.graphql_url())
            .env("AUTH_MODE", "AWS_IAM")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", quotecast_e2e::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", quotecast_e2e::SECRET)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The handlers stamp the moment they saw the request, so a slow wake-up here does
        // not add to the measured time.
        let init = first_next.await.unwrap() - started;
        let first = responded.await.unwrap() - started;
        assert!(first > init, "response before init: {first:?} <= {init:?}");
        child.kill().await.unwrap();
        times.push((init, first));
    }
    // Init and first response sorted separately: the median of each.
    let mut inits: Vec<Duration> = times.iter().map(|t| t.0).collect();
    let mut firsts: Vec<Duration> = times.iter().map(|t| t.1).collect();
    inits.sort();
    firsts.sort();
    let (init, first) = (inits[inits.len() / 2], firsts[firsts.len() / 2]);
    println!("consumer cold start (release binary, median of 10, a fresh Runtime API each):");
    println!(
        "  init (process start → first `next`)      {:.1} ms (min {:.1}, max {:.1})",
        init.as_secs_f64() * 1e3,
        inits[0].as_secs_f64() * 1e3,
        inits[inits.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "  first invocation of 1,000 records done   {:.1} ms (min {:.1}, max {:.1})",
        first.as_secs_f64() * 1e3,
        firsts[0].as_secs_f64() * 1e3,
        firsts[firsts.len() - 1].as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    throughput(false).await;
    throughput(true).await;
    match std::env::var("QUOTECAST_CONSUMER_BIN") {
        Ok(binary) => cold_start(&binary).await,
        Err(_) => {
            println!("cold start: skipped (set QUOTECAST_CONSUMER_BIN to the release binary)")
        }
    }
}
