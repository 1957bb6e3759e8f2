//! The table's shape, shared by the store that reads it and the thread that writes it: its
//! key attributes, how redb lays items and their expiry out, what an item is, and the
//! store's errors.
//!
//! Its own file so that `store`, `writer` and `wire` all depend on it and none of them on
//! each other in a loop.

use std::path::PathBuf;
use std::sync::Arc;

use redb::TableDefinition;
use serde_json::{Map, Value};

/// File name of the store inside its directory.
pub const FILE_NAME: &str = "history.redb";
/// The table name served when none is configured.
pub const DEFAULT_TABLE_NAME: &str = "quotecast-history";
/// The partition key attribute (type S).
pub const PARTITION_KEY: &str = "symbol";
/// The sort key attribute (type N, whole milliseconds).
pub const SORT_KEY: &str = "timestamp";
/// The TTL attribute (type N, epoch seconds), as the table's `TimeToLiveSpecification` names it.
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// Items by `(symbol, timestamp)`: the item's DynamoDB JSON.
pub(crate) const ITEMS: TableDefinition<(&str, i64), &[u8]> = TableDefinition::new("items");
/// The expiry index: `(expiresAt, symbol, timestamp)` of every item that has a TTL.
pub(crate) const EXPIRY: TableDefinition<(i64, &str, i64), ()> = TableDefinition::new("expiry");

/// Why the store could not do what was asked. Every failed write is one of these: a write
/// never reports success it did not have.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the history directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    #[error(
        "the history store {path} is in use by another process (is another `quotecast dev` running with the same data directory?)"
    )]
    Locked { path: PathBuf },
    #[error("cannot open the history store {path}: {source}")]
    Open {
        path: PathBuf,
        source: Arc<redb::Error>,
    },
    #[error("history store failure: {0}")]
    Storage(Arc<redb::Error>),
    #[error("a stored history item is unreadable: {0}")]
    Corrupt(String),
    #[error("the history store's writer thread could not start: {0}")]
    Thread(Arc<std::io::Error>),
    #[error("the history store is closed")]
    Closed,
}

impl<E: Into<redb::Error>> From<E> for StoreError {
    fn from(e: E) -> Self {
        StoreError::Storage(Arc::new(e.into()))
    }
}

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub symbol: String,
    pub timestamp: i64,
}

/// One item: its key, and all of its attributes in DynamoDB JSON (the key attributes
/// included, e.g. `{"symbol":{"S":"AMZN"},"timestamp":{"N":"1700000000000"},
/// "data":{"S":"{…}"},"expiresAt":{"N":"1700086400"}}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub symbol: String,
    pub timestamp: i64,
    pub attributes: Map<String, Value>,
}

impl Item {
    /// An item with these attributes; the key attributes are set from `symbol` and
    /// `timestamp` (whatever `attributes` said).
    pub fn new(symbol: &str, timestamp: i64, mut attributes: Map<String, Value>) -> Item {
        attributes.insert(PARTITION_KEY.to_owned(), typed("S", symbol.to_owned()));
        attributes.insert(SORT_KEY.to_owned(), typed("N", timestamp.to_string()));
        Item {
            symbol: symbol.to_owned(),
            timestamp,
            attributes,
        }
    }

    pub fn key(&self) -> Key {
        Key {
            symbol: self.symbol.clone(),
            timestamp: self.timestamp,
        }
    }

    /// When DynamoDB's TTL would delete the item (epoch seconds), if ever: its `expiresAt`
    /// attribute, when that is a number (a fraction is cut off). Items without one, or with
    /// one of another type, never expire, as in DynamoDB.
    pub fn expires_at(&self) -> Option<i64> {
        ttl_seconds(self.attributes.get(TTL_ATTRIBUTE)?.get("N")?.as_str()?)
    }
}

/// `{type: value}`, one DynamoDB attribute value.
fn typed(kind: &str, value: String) -> Value {
    let mut v = Map::new();
    v.insert(kind.to_owned(), Value::String(value));
    Value::Object(v)
}

/// Epoch seconds of a TTL attribute's number text.
pub(crate) fn ttl_seconds(n: &str) -> Option<i64> {
    if let Ok(whole) = n.parse::<i64>() {
        return Some(whole);
    }
    let f = n.parse::<f64>().ok().filter(|f| f.is_finite())?;
    // Saturating cast: a TTL beyond i64 seconds is "never" in practice.
    Some(f.floor() as i64)
}
