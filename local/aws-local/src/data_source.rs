//! The contract between an AppSync resolver and the table behind its data source.
//!
//! On AWS, `Query.history` is an APPSYNC_JS resolver on a DynamoDB data source: AppSync hands
//! the resolver's request to DynamoDB and the resolver reads the items it gets back. Locally
//! the AppSync twin (`quotecast-appsync`) reads through [`HistorySource`], and the DynamoDB
//! twin (`quotecast-dynamodb`) implements it over its store, so the AppSync crate knows
//! neither redb nor DynamoDB's JSON and the store knows nothing of GraphQL.

use std::fmt;

/// One stored bar as the `history` resolver reads it: the item's partition key, sort key and
/// its `data` attribute when that is a string (`None` when it is absent or of another type).
/// Shaped for that one resolver, as `history.js` reads just these three attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBar {
    pub name: String,
    pub timestamp: i64,
    pub data: Option<String>,
}

/// One `Query` page of bars after a time, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPage {
    pub bars: Vec<StoredBar>,
    /// The sort key of the last item the `Query` read when it stopped before the end of the
    /// channel (DynamoDB's `LastEvaluatedKey`, AppSync's `nextToken`): at `limit` items,
    /// at the 1 MB page, even when that item was unreadable or the last one stored. `None`
    /// only when the read reached the channel's end.
    pub last_evaluated: Option<i64>,
}

/// Why the table could not be read (the resolver reports it; it never means "no bars").
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DataSourceError(pub String);

/// A table of bars by `(name, timestamp)`, read as the `history` resolver's DynamoDB
/// `Query` reads it: at most `limit` items and at most one 1 MB page, oldest first.
pub trait HistorySource: Send + Sync + fmt::Debug {
    /// The `limit` most recent bars of `name`, oldest first.
    fn latest(&self, name: &str, limit: usize) -> Result<Vec<StoredBar>, DataSourceError>;
    /// Up to `limit` bars of `name` strictly after `after` (ms), oldest first, and where
    /// the read stopped.
    fn after(&self, name: &str, after: i64, limit: usize) -> Result<StoredPage, DataSourceError>;
}
