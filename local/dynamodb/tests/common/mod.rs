//! The DynamoDB twin on a free loopback port, for the tests of this crate.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use quotecast_aws_local::iam::IamKeys;
use quotecast_dynamodb::server::Server;
use quotecast_dynamodb::{DynamoDb, HistoryStore};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ACCESS_KEY_ID: &str = "AKIDQUOTECASTTEST";
pub const SECRET: &str = "quotecast/test/secret+key";

/// What the endpoint serves: a store, and the test IAM key.
pub struct Config {
    history: Option<HistoryStore>,
    unverified_bodies: usize,
}

pub fn config() -> Config {
    Config {
        history: None,
        unverified_bodies: quotecast_dynamodb::endpoint::MAX_UNVERIFIED_BODIES,
    }
}

impl Config {
    pub fn with_history(mut self, store: HistoryStore) -> Self {
        self.history = Some(store);
        self
    }

    pub fn with_unverified_bodies(mut self, bodies: usize) -> Self {
        self.unverified_bodies = bodies;
        self
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub async fn start(config: Config) -> TestServer {
    let store = config.history.expect("a DynamoDB endpoint serves a store");
    let keys = IamKeys::new(
        HashMap::from([(ACCESS_KEY_ID.to_owned(), SECRET.to_owned())]),
        Duration::from_secs(15 * 60),
    );
    let db = DynamoDb::with_unverified_bodies(
        store,
        keys,
        Duration::from_secs(20),
        config.unverified_bodies,
    );
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), db)
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestServer {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}
