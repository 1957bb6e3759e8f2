//! The consumer Lambda of quotecast: every record of a Kafka batch, in order, into AppSync.
//!
//! The reference sample's consumer returned after the first record and posted one request per
//! record. This one handles every partition of the batch (concurrently), keeps each
//! partition's offset order, sends records as aliased `publish` mutations in as few requests
//! as the limits allow, skips (and counts) records it cannot read, retries throttling and
//! server errors with jittered backoff within a time budget, and reports what still failed as
//! a partial batch response so the event source mapping delivers it again. With a history
//! table configured, every bar is stored (DynamoDB `BatchWriteItem`) before it is published,
//! and counts as done only when both succeeded.
//!
//! [`Consumer::handle`] is a plain async function over a `KafkaEvent`: the Lambda entry
//! (`main.rs`) and the local stack call the same code.

pub mod appsync;
pub mod config;
pub mod handler;
pub mod history;
pub mod metrics;
pub mod records;
pub mod retry;
pub mod same_ms;
pub mod secrets;
pub mod signing;
pub mod stats;

pub use config::{Config, ConfigError};
pub use handler::{BatchStats, Consumer};
