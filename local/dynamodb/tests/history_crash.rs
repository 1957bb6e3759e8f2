//! A crash of the process that holds the history store (no clean close): what was written
//! more than one checkpoint interval before it is on disk, and the store opens again.
//!
//! The crash is real: the test runs itself as a child process that writes and then aborts.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use quotecast_dynamodb::{DEFAULT_TABLE_NAME, HistoryStore, Item};
use serde_json::json;

const CHILD: &str = "QUOTECAST_HISTORY_CRASH_DIR";

fn items(n: i64) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let attributes = json!({"data": {"S": "{}"}, "expiresAt": {"N": "4102444800"}});
            Item::new(
                "AMZN",
                1_700_000_000_000 + i,
                attributes.as_object().cloned().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn writes_older_than_a_checkpoint_survive_a_crash() {
    if let Ok(dir) = std::env::var(CHILD) {
        // The child: write, wait past the checkpoint interval, die without closing.
        let store = HistoryStore::open(dir.as_ref(), DEFAULT_TABLE_NAME).unwrap();
        store.write(items(25), Vec::new()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        std::process::abort();
    }
    let dir = std::env::temp_dir().join(format!("quotecast-history-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writes_older_than_a_checkpoint_survive_a_crash",
            "--nocapture",
        ])
        .env(CHILD, &dir)
        .status()
        .unwrap();
    assert!(!status.success(), "the child was meant to crash");
    let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
    assert_eq!(
        store.item_count().unwrap(),
        25,
        "acknowledged and checkpointed"
    );
    assert_eq!(store.latest("AMZN", 60).unwrap().len(), 25);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
