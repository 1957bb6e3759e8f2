//! The load generator against a real server: it counts every frame and measures latency.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use quotecast_local::loadtest::LoadTest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_delivers_everything_and_reports_latency() {
    let server = start(config()).await;
    let test = LoadTest {
        graphql_url: server.graphql_url(),
        realtime_url: server.realtime_url(),
        api_key: API_KEY.to_owned(),
        publish_auth: iam_writer(),
        connections: 20,
        subscriptions_per_connection: 3,
        symbols: 7,
        rate: 400,
        batch: 4,
        duration: Duration::from_secs(1),
        warmup: Duration::ZERO,
    };
    let report = test.run().await.unwrap();
    assert_eq!(report.connections, 20);
    assert_eq!(report.subscriptions, 60);
    assert!(report.publishes >= 100, "{report}");
    assert_eq!(report.publish_errors, 0);
    // 60 subscriptions over 7 symbols: each publish matches 8 or 9 of them.
    assert!(
        report.expected_deliveries >= report.publishes * 8,
        "{report}"
    );
    assert_eq!(report.deliveries, report.expected_deliveries, "{report}");
    assert!(report.latency_p50_ms > 0.0 && report.latency_max_ms >= report.latency_p99_ms);
    assert_eq!(report.reader_errors, 0);
    assert!(
        eventually(|| server.app.hub.subscription_count() == 0).await,
        "readers closed their connections"
    );
    server.stop().await;
}
