//! The local twin of Amazon DynamoDB, for the quote history: the table the consumer writes
//! and the AppSync twin's `history` resolver reads.
//!
//! On AWS the consumer writes each quote to a DynamoDB table (`BatchWriteItem`) and an
//! AppSync resolver queries it. Here [`store`] is that table (redb, in the data directory),
//! laid out as [`table`] says, [`writer`] its one writing thread (group commit, TTL sweeps),
//! and [`endpoint`] serves the DynamoDB JSON 1.0 operations the consumer and tools use, so
//! the consumer runs unchanged against `quotecast dev`. [`wire`] holds the attribute values,
//! limits and error shapes of that protocol, [`expression`] the key conditions of `Query`.
//! [`data_source`] lends the store to the AppSync twin as its `history` data source;
//! [`server`] serves the endpoint on a port of its own.
//!
//! What it implements of DynamoDB: one table with a string partition key `symbol`, a number
//! sort key `timestamp` and TTL on `expiresAt`; `BatchWriteItem`, `PutItem`, `Query` (key
//! conditions, paging, `ScanIndexForward`, `Limit`, 1 MB pages) and `DescribeTable`, signed
//! with SigV4 for `dynamodb`, refused in DynamoDB's words (`__type`) within its documented
//! limits (25 writes, 400 KB items, 32 levels, 16 MB requests).
//! What it deliberately leaves out: other tables and operations (`UnknownOperationException`),
//! filter and projection expressions, secondary indexes, streams, transactions, and
//! DynamoDB's eventual consistency: every read here is strongly consistent.
//!
//! One store per process: the `history` resolver reads the very items the endpoint wrote.

pub mod data_source;
pub mod endpoint;
pub mod expression;
pub mod server;
pub mod store;
pub mod table;
pub mod wire;
mod writer;

pub use endpoint::DynamoDb;
pub use store::{HistoryStore, Page, QueryOptions, SortKeyCondition};
pub use table::{DEFAULT_TABLE_NAME, Item, Key, StoreError};
pub use writer::{MAX_GROUP_ITEMS, SWEEP_INTERVAL, SWEEP_STEP, TTL_HORIZON_SECS};
