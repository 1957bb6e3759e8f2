//! The whole local data path with real parts: embedded Kafka broker, producer handler, event
//! source mapping emulator, consumer handler, AppSync-compatible server, WebSocket subscriber.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use quotecast::stack::{StackConfig, start};
use quotecast_appsync_client::{ClientError, RealtimeClient};
use quotecast_consumer::{Config, Consumer};
use quotecast_e2e::fault_proxy::{Fault, FaultProxy};
use quotecast_e2e::{
    API_KEY, LocalAppSync, iam_writer, plaintext_publisher, stack_config, stack_subscriber,
};
use quotecast_esm::{BatchHandler, EsmConfig, EventSourceMapping};
use quotecast_msk::EmbeddedBroker;
use quotecast_producer::source::sim::Simulator;
use quotecast_shared::Quote;
use quotecast_shared::lambda::KafkaBatchResponse;
use quotecast_shared::realtime::ServerMessage;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

/// Collects quotes per channel until `want` arrived or `quiet` passed without a frame.
async fn collect(
    c: &mut RealtimeClient,
    want: usize,
    quiet: Duration,
) -> BTreeMap<String, Vec<Quote>> {
    let mut got: BTreeMap<String, Vec<Quote>> = BTreeMap::new();
    let mut n = 0;
    c.set_timeout(quiet);
    while n < want {
        match c.recv().await {
            Ok(ServerMessage::Data { payload, .. }) => {
                let ch = &payload["data"]["subscribe"];
                let q = Quote::from_json(ch["data"].as_str().unwrap()).unwrap();
                assert_eq!(ch["name"], q.symbol.as_str());
                got.entry(q.symbol.clone()).or_default().push(q);
                n += 1;
            }
            Ok(other) => panic!("{}", other.encode()),
            Err(ClientError::Timeout(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_delivers_every_quote_per_symbol_in_order() {
    let stack = start(StackConfig {
        default_symbols: vec!["AMZN".to_owned()],
        ..stack_config(
            &["AMZN", "TSLA", "MSFT", "NFLX"],
            Duration::from_millis(100),
        )
    })
    .await
    .unwrap();
    let host = stack.addr.to_string();
    let config: Value = reqwest::get(format!("http://{host}/config.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["apiKey"], API_KEY);
    assert_eq!(config["graphqlUrl"], format!("http://{host}/graphql"));
    let mut sub = stack_subscriber(stack.addr, Some(r#"{"name":{"in":["AMZN","TSLA"]}}"#)).await;
    let started = Instant::now();
    let got = collect(&mut sub, 60, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        ["AMZN", "TSLA"],
        "only the subscribed symbols"
    );
    for (symbol, quotes) in &got {
        assert!(quotes.len() >= 25, "{symbol}: {}", quotes.len());
        for w in quotes.windows(2) {
            assert_eq!(
                w[1].timestamp - w[0].timestamp,
                100,
                "{symbol}: no gap, no reordering, no duplicate"
            );
            assert_eq!(
                w[1].previous_close,
                Some(w[0].close),
                "{symbol}: chained bars"
            );
        }
    }
    // The consumer's counts, as its EMF lines carry them on Lambda, at `GET /metrics`;
    // read once the feed is held and the last batch is through, so they add up exactly.
    stack.pause_producer(true);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let response = reqwest::get(format!("http://{host}/metrics"))
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let value = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let published = value("quotecast_consumer_published_total");
    assert!(published >= 60, "{text}");
    assert_eq!(value("quotecast_consumer_stored_total"), published);
    assert_eq!(value("quotecast_consumer_failed_total"), 0);
    assert_eq!(value("quotecast_consumer_bar_age_ms_count"), published);
    let summary = stack.consumer_totals.take_summary();
    assert_eq!(summary.published, published);
    assert!(
        summary.p99_age_ms.is_some_and(|ms| ms < 60_000),
        "{summary:?}"
    );
    stack.stop().await;
}

/// The consumer handler, with every third invocation failing before it publishes anything.
struct FlakyLambda {
    inner: Consumer,
    calls: AtomicUsize,
}

impl BatchHandler for FlakyLambda {
    async fn invoke(&self, event: Value) -> Result<KafkaBatchResponse, String> {
        if self.calls.fetch_add(1, Ordering::SeqCst) % 3 == 1 {
            return Err("injected: function error".to_owned());
        }
        self.inner
            .handle_json(event)
            .await
            .map_err(|e| e.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_malformed_records_lose_nothing_and_reorder_nothing() {
    let appsync = LocalAppSync::start().await;
    let mut sub = appsync.subscriber("all").await;
    let broker = EmbeddedBroker::start("quotes", 3).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();

    // Every fourth publish request fails with 500; with retries practically ruled out (a
    // first wait of up to 60 s against a 1 s deadline) the consumer reports a partial batch
    // failure and the mapping delivers those partitions again.
    let proxy = FaultProxy::start(
        &appsync.graphql_url(),
        Arc::new(|n, _| {
            if n % 4 == 2 {
                Fault::Fail(500)
            } else {
                Fault::Forward
            }
        }),
    )
    .await;
    let url = proxy.url();
    let config = Config::from_pairs(&[
        ("APPSYNC_URL", &url),
        ("AUTH_MODE", "AWS_IAM"),
        ("AWS_REGION", "us-east-1"),
        ("RETRY_BUDGET_MS", "1000"),
        ("RETRY_BASE_MS", "60000"),
        ("RETRY_MAX_DELAY_MS", "60000"),
        ("PUBLISH_CHUNK_SIZE", "20"),
    ])
    .unwrap();
    let lambda = FlakyLambda {
        inner: Consumer::new(&config, iam_writer()).unwrap(),
        calls: AtomicUsize::new(0),
    };
    let mut esm_config = EsmConfig::new(&bootstrap, "quotes");
    esm_config.batch_size = 50;
    esm_config.batching_window = Duration::from_millis(20);
    esm_config.retry_base = Duration::from_millis(5);
    esm_config.retry_max = Duration::from_millis(50);
    let esm = EventSourceMapping::connect(esm_config).await.unwrap();
    let stats = esm.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let esm_task = tokio::spawn(esm.run(lambda, async move {
        let _ = stopped.await;
    }));

    // 3 symbols × 150 bars, with malformed records between them on the same partitions.
    let symbols: Vec<String> = ["AMZN", "TSLA", "MSFT"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let quotes = Simulator::new(11, &symbols, 1000, 0).advance_to(150_000);
    let publisher = plaintext_publisher(&bootstrap);
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for (i, chunk) in quotes.chunks(30).enumerate() {
        publisher.publish(chunk).await.unwrap();
        let junk: [&[u8]; 3] = [
            b"not json",
            &[0xff, 0xfe, 0x00],
            br#"{"symbol":"AMZN","timestamp":1,"open":1,"high":0,"low":1,"close":1,"volume":1}"#,
        ];
        let key = &symbols[i % 3];
        raw.send(
            FutureRecord::to("quotes")
                .key(key.as_bytes())
                .payload(junk[i % 3]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    }

    let got = collect(&mut sub, quotes.len(), Duration::from_secs(15)).await;
    for symbol in &symbols {
        let want: Vec<&Quote> = quotes.iter().filter(|q| &q.symbol == symbol).collect();
        let have: Vec<&Quote> = got
            .get(symbol)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        assert_eq!(have, want, "{symbol}: every quote, once, in order");
    }
    let s = *stats.lock().unwrap();
    assert!(
        s.failed_invocations > 0,
        "function errors were injected: {s:?}"
    );
    assert!(
        s.partial_failures > 0,
        "partial batch failures happened: {s:?}"
    );
    assert!(
        proxy.counts().0 > proxy.counts().1,
        "some requests were failed by the proxy"
    );
    let _ = stop.send(());
    esm_task.await.unwrap().unwrap();
}

/// A function that always fails, counting its calls.
struct BrokenLambda(Arc<AtomicUsize>);

impl BatchHandler for BrokenLambda {
    async fn invoke(&self, _event: Value) -> Result<KafkaBatchResponse, String> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err("injected: always fails".to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_the_retries_of_a_failing_batch_and_commits_nothing() {
    let broker = EmbeddedBroker::start("quotes", 1).unwrap();
    let bootstrap = broker.bootstrap_servers().to_owned();
    let publisher = plaintext_publisher(&bootstrap);
    let quotes = Simulator::new(3, &["AMZN".to_owned()], 1000, 0).advance_to(5_000);
    publisher.publish(&quotes).await.unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let mut esm_config = EsmConfig::new(&bootstrap, "quotes");
    esm_config.batching_window = Duration::ZERO;
    esm_config.retry_base = Duration::from_millis(200);
    esm_config.retry_max = Duration::from_secs(30);
    let esm = EventSourceMapping::connect(esm_config).await.unwrap();
    let stats = esm.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(esm.run(BrokenLambda(calls.clone()), async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(20);
    while calls.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "the mapping never retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Retries back off towards 30 s; shutdown must not wait for them, nor run them for ever.
    let _ = stop.send(());
    let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(ended.is_ok(), "the mapping kept retrying after shutdown");
    ended.unwrap().unwrap().unwrap();
    let stats = *stats.lock().unwrap();
    assert_eq!(
        stats.records_delivered, 0,
        "a failed batch must stay uncommitted"
    );
}
