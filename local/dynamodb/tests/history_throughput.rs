//! Write throughput of the history store (group commit, durable commits): writers each
//! sending 25-item batches (one full `BatchWriteItem`) as fast as they are answered.
//! Not part of `cargo test` (`#[ignore]`); run in release:
//! `cargo test --release -p quotecast-dynamodb --test history_throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use quotecast_dynamodb::{DEFAULT_TABLE_NAME, HistoryStore, Item};
use serde_json::json;

fn quote(symbol: &str, timestamp: i64) -> Item {
    let data = format!(
        r#"{{"symbol":"{symbol}","timestamp":{timestamp},"open":191.25,"high":191.5,"low":190.75,"close":191.0,"volume":12345,"prevTimestamp":{}}}"#,
        timestamp - 1000
    );
    let attributes = json!({"data": {"S": data}, "expiresAt": {"N": "4102444800"}});
    Item::new(symbol, timestamp, attributes.as_object().cloned().unwrap())
}

async fn run(store: &HistoryStore, writers: usize, batches: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let symbol = format!("SYM{w}");
                for b in 0..batches {
                    let base = 1_700_000_000_000 + (b as i64) * 25_000;
                    let puts = (0..25).map(|i| quote(&symbol, base + i * 1000)).collect();
                    store.write(puts, Vec::new()).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (writers * batches * 25) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run in release with --ignored --nocapture"]
async fn group_commit_throughput() {
    let dir = std::env::temp_dir().join(format!("quotecast-history-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
    for (writers, batches) in [(1, 400), (8, 400), (32, 200)] {
        let rate = run(&store, writers, batches).await;
        println!("{writers:>2} writers x 25-item batches: {rate:>9.0} items/s");
    }
    let started = Instant::now();
    let latest = store.latest("SYM0", 60).unwrap();
    println!("latest 60 of one symbol: {:?}", started.elapsed());
    assert_eq!(latest.len(), 60);
    drop(store);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let _ = std::fs::remove_dir_all(&dir);
}
