//! Quote history, locally: the store the consumer writes and the `history` query reads.
//!
//! On AWS the consumer writes each quote to a DynamoDB table (`BatchWriteItem`) and an
//! AppSync resolver queries it. Here [`store`] is that table (redb, in the data directory),
//! [`writer`] its one writing thread (group commit, TTL sweeps), and [`dynamodb`] serves the
//! DynamoDB JSON 1.0 operations the consumer and tools use on the server's port, so the
//! consumer runs unchanged against `quotecast dev`. [`wire`] holds the attribute values
//! and error shapes of that protocol, [`expression`] the key conditions of `Query`.
//!
//! One store per process: the server's `history` resolver reads the very items the
//! DynamoDB endpoint wrote.

pub mod dynamodb;
pub mod expression;
pub mod store;
pub mod wire;
mod writer;

pub use store::{
    DEFAULT_TABLE_NAME, HistoryStore, Item, Key, Page, QueryOptions, SortKeyCondition, StoreError,
};
pub use writer::{MAX_GROUP_ITEMS, SWEEP_INTERVAL, SWEEP_STEP};
