//! The history store: one DynamoDB-shaped table of quotes in a redb file.
//!
//! Why redb: an embedded, crash-safe B-tree store in pure Rust, with MVCC, so a reader (the
//! `history` resolver, a `Query`) works on a snapshot and never waits for the writer. The
//! table's shape is fixed: partition key `symbol` (S), sort key `timestamp` (N, whole
//! milliseconds, an `i64`), so items live in one redb table keyed by `(symbol, timestamp)`
//! and a symbol's series is one contiguous, ordered key range. The value is the whole item
//! in DynamoDB JSON (`{"symbol":{"S":…},"timestamp":{"N":…},"data":{"S":…},…}`), as
//! `serde_json` bytes, so what a client put is what it reads back.
//!
//! Writes go through one thread ([`super::writer`]) that commits every pending request in
//! one transaction (group commit); see there for durability. Expiry (DynamoDB TTL on the
//! `expiresAt` attribute) is served by a second table keyed by `(expiresAt, symbol,
//! timestamp)`, so finding what has expired is one range scan from the start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTableMetadata};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::table::{EXPIRY, FILE_NAME, ITEMS, Item, Key, StoreError};
use super::writer::{self, Request, Row};

/// redb's page cache; the default (1 GiB) is far more than a developer's history needs.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Which sort keys a query wants (DynamoDB's key condition on the sort key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKeyCondition {
    /// The whole partition.
    Any,
    Eq(i64),
    Lt(i64),
    Le(i64),
    Gt(i64),
    Ge(i64),
    /// Both ends included.
    Between(i64, i64),
}

impl SortKeyCondition {
    /// The condition as an inclusive range, `None` if it holds for no `i64`.
    fn inclusive(self) -> Option<(i64, i64)> {
        let (lo, hi) = match self {
            SortKeyCondition::Any => (i64::MIN, i64::MAX),
            SortKeyCondition::Eq(t) => (t, t),
            SortKeyCondition::Lt(t) => (i64::MIN, t.checked_sub(1)?),
            SortKeyCondition::Le(t) => (i64::MIN, t),
            SortKeyCondition::Gt(t) => (t.checked_add(1)?, i64::MAX),
            SortKeyCondition::Ge(t) => (t, i64::MAX),
            SortKeyCondition::Between(a, b) => (a, b),
        };
        (lo <= hi).then_some((lo, hi))
    }
}

/// How a query reads its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// At most this many items (DynamoDB's `Limit`: items evaluated).
    pub limit: Option<usize>,
    /// Ascending sort keys (`ScanIndexForward`, DynamoDB's default) or descending.
    pub forward: bool,
    /// Resume after this sort key (`ExclusiveStartKey`), in the query's direction.
    pub exclusive_start: Option<i64>,
    /// Stop once the items read reach this many bytes (DynamoDB: 1 MB per page), always
    /// returning at least one item.
    pub max_bytes: usize,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            limit: None,
            forward: true,
            exclusive_start: None,
            max_bytes: usize::MAX,
        }
    }
}

/// A page of query results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// In the query's order.
    pub items: Vec<Item>,
    /// The sort key to resume after, when the page stopped at the limit or the byte cap
    /// (like DynamoDB, also when the limit fell exactly on the last item).
    pub last_evaluated: Option<i64>,
}

/// A handle to an open store; clones share it. The writer thread (and the expiry sweeps it
/// runs) stops, and the file is released, when the last handle is dropped or at
/// [`HistoryStore::close`].
#[derive(Clone)]
pub struct HistoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed; readers clone the `Arc` (the file is released when the last
    /// read in flight ends).
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    table_name: String,
    requests: Mutex<Option<std::sync::mpsc::Sender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HistoryStore")
            .field("path", &self.inner.path)
            .field("table_name", &self.inner.table_name)
            .finish_non_exhaustive()
    }
}

impl HistoryStore {
    /// Opens (or creates) `<dir>/history.redb`, creating `dir` if needed, serving the table
    /// `table_name`, and starts its writer thread, which sweeps expired items at once and
    /// then every [`writer::SWEEP_INTERVAL`].
    pub fn open(dir: &Path, table_name: &str) -> Result<HistoryStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir {
            path: dir.to_owned(),
            source: Arc::new(e),
        })?;
        let path = dir.join(FILE_NAME);
        // redb repairs a file that was not closed cleanly (a crash, a kill -9): it rolls back
        // to the last durable checkpoint, so the last moments of writes may be gone. Say so.
        let shown = path.display().to_string();
        let warned = std::sync::atomic::AtomicBool::new(false);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_repair_callback(move |_| {
                if warned.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                tracing::warn!(
                    path = shown.as_str(),
                    "history: the store was not closed cleanly; writes of the last 100 ms before \
                     that may be missing (clients see them as gaps)"
                );
            })
            .create(&path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => {
                    StoreError::Locked { path: path.clone() }
                }
                e => StoreError::Open {
                    path: path.clone(),
                    source: Arc::new(e.into()),
                },
            })?;
        // Both tables exist from here on, so readers never meet a missing one.
        let txn = db.begin_write()?;
        txn.open_table(ITEMS)?;
        txn.open_table(EXPIRY)?;
        txn.commit()?;
        let db = Arc::new(db);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = writer::spawn(db.clone(), rx).map_err(|e| StoreError::Thread(Arc::new(e)))?;
        Ok(HistoryStore {
            inner: Arc::new(Inner {
                db: RwLock::new(Some(db)),
                path,
                table_name: table_name.to_owned(),
                requests: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The DynamoDB table name this store serves.
    pub fn table_name(&self) -> &str {
        &self.inner.table_name
    }

    /// The redb file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.inner.requests.lock().map_err(|_| StoreError::Closed)?;
        requests
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(request)
            .map_err(|_| StoreError::Closed)
    }

    /// Puts `puts` (each replacing any item with its key, so a replay is harmless) and
    /// deletes `deletes`, atomically: all of it is committed (visible at once, durable at the
    /// next checkpoint, within 100 ms), or none of it and an error is returned. The caller makes sure no key appears twice in one call.
    pub async fn write(&self, puts: Vec<Item>, deletes: Vec<Key>) -> Result<(), StoreError> {
        let rows = puts
            .into_iter()
            .map(|item| {
                let expires = item.expires_at();
                let item = Item::new(&item.symbol, item.timestamp, item.attributes);
                let bytes = serde_json::to_vec(&item.attributes)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(Row {
                    symbol: item.symbol,
                    timestamp: item.timestamp,
                    bytes,
                    expires,
                })
            })
            .collect::<Result<Vec<Row>, StoreError>>()?;
        let deletes = deletes
            .into_iter()
            .map(|k| (k.symbol, k.timestamp))
            .collect();
        let (done, answer) = oneshot::channel();
        self.send(Request::Write {
            puts: rows,
            deletes,
            done,
        })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Deletes every item whose `expiresAt` is before now (and not more than five years
    /// before it: DynamoDB leaves those, [`writer::TTL_HORIZON_SECS`]), and returns how many. The writer
    /// thread does this by itself at open and every [`writer::SWEEP_INTERVAL`]; this is for
    /// tools and tests that cannot wait.
    pub async fn sweep_expired(&self) -> Result<usize, StoreError> {
        self.sweep_before(writer::now_seconds()).await
    }

    /// Deletes every item whose `expiresAt` is before `now` (epoch seconds) and not more than
    /// [`writer::TTL_HORIZON_SECS`] before it.
    async fn sweep_before(&self, now: i64) -> Result<usize, StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(Request::Sweep { now, done })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the writer thread once the writes sent before have been answered, and
    /// releases the file (once reads in flight end); later calls of every handle fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        let (done, answer) = oneshot::channel();
        if self.send(Request::Close { done }).is_ok() {
            let _ = answer.await;
        }
        self.inner.stop_writer();
        if let Ok(mut db) = self.inner.db.write() {
            db.take();
        }
    }

    /// The database, unless closed.
    fn db(&self) -> Result<Arc<Database>, StoreError> {
        self.inner
            .db
            .read()
            .ok()
            .and_then(|db| db.clone())
            .ok_or(StoreError::Closed)
    }

    /// The most recent `limit` items of `symbol`, oldest first; no more than one DynamoDB
    /// `Query` page reads (1 MB, at least one item), as `history.js` gets on AWS.
    pub fn latest(&self, symbol: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        let options = QueryOptions {
            limit: Some(limit),
            forward: false,
            max_bytes: super::wire::MAX_PAGE_BYTES,
            ..QueryOptions::default()
        };
        let mut items = self.query(symbol, SortKeyCondition::Any, options)?.items;
        items.reverse();
        Ok(items)
    }

    /// The first `limit` items of `symbol` with a timestamp after `after_ts`, oldest first,
    /// within one page (1 MB) like [`HistoryStore::latest`], and where the read stopped.
    pub fn after(&self, symbol: &str, after_ts: i64, limit: usize) -> Result<Page, StoreError> {
        let options = QueryOptions {
            limit: Some(limit),
            max_bytes: super::wire::MAX_PAGE_BYTES,
            ..QueryOptions::default()
        };
        self.query(symbol, SortKeyCondition::Gt(after_ts), options)
    }

    /// Items of `symbol` whose timestamp meets `condition`, in the order and up to the
    /// bounds of `options`. Reads a snapshot: never waits for the writer.
    pub fn query(
        &self,
        symbol: &str,
        condition: SortKeyCondition,
        options: QueryOptions,
    ) -> Result<Page, StoreError> {
        let Some((mut lo, mut hi)) = condition.inclusive() else {
            return Ok(Page::default());
        };
        if let Some(start) = options.exclusive_start {
            let narrowed = if options.forward {
                start.checked_add(1).map(|s| lo = lo.max(s))
            } else {
                start.checked_sub(1).map(|s| hi = hi.min(s))
            };
            if narrowed.is_none() || lo > hi {
                return Ok(Page::default());
            }
        }
        let limit = options.limit.unwrap_or(usize::MAX);
        let mut page = Page::default();
        if limit == 0 {
            return Ok(page);
        }
        let txn = self.db()?.begin_read()?;
        let table = txn.open_table(ITEMS)?;
        let range = table.range((symbol, lo)..=(symbol, hi))?;
        let mut bytes_read = 0usize;
        // Walk in the asked direction until the limit or the byte cap.
        let entries: Box<dyn Iterator<Item = _>> = if options.forward {
            Box::new(range)
        } else {
            Box::new(range.rev())
        };
        for entry in entries {
            let (key, value) = entry?;
            let timestamp = key.value().1;
            let bytes = value.value();
            bytes_read = bytes_read.saturating_add(bytes.len());
            // A value that does not decode (a damaged file) is skipped and logged: one bad
            // item never fails a query, here or through the endpoint.
            match decode(symbol, timestamp, bytes) {
                Ok(item) => page.items.push(item),
                Err(e) => tracing::warn!(error = %e, "history: unreadable stored item skipped"),
            }
            if page.items.len() >= limit || bytes_read >= options.max_bytes {
                page.last_evaluated = Some(timestamp);
                break;
            }
        }
        Ok(page)
    }

    /// Items in the table (DynamoDB's `ItemCount`).
    pub fn item_count(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read()?;
        Ok(txn.open_table(ITEMS)?.len()?)
    }
}

/// An item from its stored bytes.
fn decode(symbol: &str, timestamp: i64, bytes: &[u8]) -> Result<Item, StoreError> {
    let attributes: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{symbol} at {timestamp}: {e}")))?;
    Ok(Item {
        symbol: symbol.to_owned(),
        timestamp,
        attributes,
    })
}

impl Inner {
    /// Disconnects the writer thread and waits for it (at most the transaction it is in).
    fn stop_writer(&self) {
        if let Ok(mut requests) = self.requests.lock() {
            requests.take();
        }
        let thread = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for Inner {
    /// Stops the writer, so the file is free for the next open as soon as the last handle
    /// is gone.
    fn drop(&mut self) {
        self.stop_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{DEFAULT_TABLE_NAME, TTL_ATTRIBUTE, ttl_seconds};
    use serde_json::json;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("quotecast-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn bar(symbol: &str, timestamp: i64, close: f64) -> Item {
        let attributes = json!({"data": {"S": format!("{{\"close\":{close}}}")}});
        Item::new(
            symbol,
            timestamp,
            attributes.as_object().cloned().unwrap_or_default(),
        )
    }

    fn expiring(symbol: &str, timestamp: i64, expires: i64) -> Item {
        let mut item = bar(symbol, timestamp, 1.0);
        item.attributes
            .insert(TTL_ATTRIBUTE.to_owned(), json!({"N": expires.to_string()}));
        item
    }

    fn stamps(items: &[Item]) -> Vec<i64> {
        items.iter().map(|i| i.timestamp).collect()
    }

    #[tokio::test]
    async fn latest_after_and_query_read_one_symbols_series_in_order() {
        let dir = scratch("order");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        let puts = (1..=10).rev().map(|t| bar("AMZN", t, t as f64)).collect();
        store.write(puts, Vec::new()).await.unwrap();
        store
            .write(vec![bar("AMZM", 5, 0.0), bar("AMZNX", 5, 0.0)], Vec::new())
            .await
            .unwrap();
        assert_eq!(stamps(&store.latest("AMZN", 3).unwrap()), [8, 9, 10]);
        let page = store.after("AMZN", 4, 3).unwrap();
        assert_eq!(
            (stamps(&page.items), page.last_evaluated),
            (vec![5, 6, 7], Some(7))
        );
        let end = store.after("AMZN", 7, 5).unwrap();
        assert_eq!(
            (stamps(&end.items), end.last_evaluated),
            (vec![8, 9, 10], None)
        );
        assert_eq!(stamps(&store.latest("AMZN", 100).unwrap()).len(), 10);
        assert!(store.latest("NONE", 5).unwrap().is_empty());
        let page = store
            .query(
                "AMZN",
                SortKeyCondition::Between(3, 6),
                QueryOptions {
                    forward: false,
                    ..QueryOptions::default()
                },
            )
            .unwrap();
        assert_eq!(stamps(&page.items), [6, 5, 4, 3]);
        assert_eq!(page.last_evaluated, None);
        let options = QueryOptions {
            limit: Some(2),
            exclusive_start: Some(4),
            ..QueryOptions::default()
        };
        let page = store.query("AMZN", SortKeyCondition::Any, options).unwrap();
        assert_eq!(
            (stamps(&page.items), page.last_evaluated),
            (vec![5, 6], Some(6))
        );
        for (condition, wanted) in [
            (SortKeyCondition::Eq(4), vec![4]),
            (SortKeyCondition::Lt(3), vec![1, 2]),
            (SortKeyCondition::Le(3), vec![1, 2, 3]),
            (SortKeyCondition::Gt(8), vec![9, 10]),
            (SortKeyCondition::Ge(8), vec![8, 9, 10]),
            (SortKeyCondition::Gt(i64::MAX), vec![]),
            (SortKeyCondition::Lt(i64::MIN), vec![]),
        ] {
            let page = store
                .query("AMZN", condition, QueryOptions::default())
                .unwrap();
            assert_eq!(stamps(&page.items), wanted, "{condition:?}");
        }
        let read = store.latest("AMZN", 1).unwrap();
        assert_eq!(read[0].attributes["symbol"], json!({"S": "AMZN"}));
        assert_eq!(read[0].attributes["timestamp"], json!({"N": "10"}));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_put_replaces_the_same_key_and_deletes_remove() {
        let dir = scratch("replace");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        store
            .write(vec![bar("A", 1, 1.0), bar("A", 2, 2.0)], Vec::new())
            .await
            .unwrap();
        store
            .write(vec![bar("A", 1, 9.0)], Vec::new())
            .await
            .unwrap();
        let items = store.latest("A", 10).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].attributes["data"], json!({"S": "{\"close\":9}"}));
        let key = Key {
            symbol: "A".into(),
            timestamp: 2,
        };
        store.write(Vec::new(), vec![key]).await.unwrap();
        assert_eq!(stamps(&store.latest("A", 10).unwrap()), [1]);
        assert_eq!(store.item_count().unwrap(), 1);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_store_survives_reopening_and_refuses_a_second_open() {
        let dir = scratch("reopen");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        store
            .write(vec![bar("A", 7, 1.0)], Vec::new())
            .await
            .unwrap();
        let second = HistoryStore::open(&dir, DEFAULT_TABLE_NAME);
        assert!(
            matches!(second, Err(StoreError::Locked { .. })),
            "{second:?}"
        );
        drop(store);
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        assert_eq!(stamps(&store.latest("A", 10).unwrap()), [7]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn expired_items_are_swept_and_others_kept() {
        let dir = scratch("ttl");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        // All in the future, so the writer's own sweeps leave them; swept as of `at`.
        let at = writer::now_seconds() + 1_000;
        store
            .write(
                vec![
                    expiring("A", 1, at - 10),
                    expiring("A", 2, at + 3600),
                    bar("A", 3, 1.0),
                    expiring("B", 1, at - 1),
                    expiring("A", 4, at - 5),
                    expiring("A", 5, at),
                ],
                Vec::new(),
            )
            .await
            .unwrap();
        // Replaced with a later expiry: the old index entry must not delete it.
        store
            .write(vec![expiring("A", 4, at + 3600)], Vec::new())
            .await
            .unwrap();
        assert_eq!(store.sweep_before(at).await.unwrap(), 2);
        assert_eq!(stamps(&store.latest("A", 10).unwrap()), [2, 3, 4, 5]);
        assert!(store.latest("B", 10).unwrap().is_empty());
        assert_eq!(store.sweep_before(at).await.unwrap(), 0);
        // Deleting an item takes its expiry with it.
        let key = Key {
            symbol: "A".into(),
            timestamp: 5,
        };
        store.write(Vec::new(), vec![key]).await.unwrap();
        store
            .write(vec![bar("A", 5, 1.0)], Vec::new())
            .await
            .unwrap();
        assert_eq!(store.sweep_before(at + 1).await.unwrap(), 0);
        assert_eq!(stamps(&store.latest("A", 10).unwrap()), [2, 3, 4, 5]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_expiry_more_than_five_years_past_is_never_swept_as_in_dynamodb() {
        let dir = scratch("ttl-horizon");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        let now = writer::now_seconds();
        let horizon = writer::TTL_HORIZON_SECS;
        store
            .write(
                vec![
                    expiring("A", 1, now - horizon - 60),
                    expiring("A", 2, now - horizon + 60),
                    expiring("A", 3, 1_700_000_000_000),
                    expiring("A", 4, now - 60),
                ],
                Vec::new(),
            )
            .await
            .unwrap();
        let _ = store.sweep_expired().await.unwrap();
        // 1: too old to be a TTL, kept; 3: a time in milliseconds, far in the future, kept.
        assert_eq!(stamps(&store.latest("A", 10).unwrap()), [1, 3]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_sweep_larger_than_a_step_finishes_and_the_open_sweeps_by_itself() {
        let dir = scratch("ttl-many");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        let now = writer::now_seconds();
        let many = writer::SWEEP_STEP + 10;
        for chunk in (0..many as i64).collect::<Vec<_>>().chunks(500) {
            let puts = chunk.iter().map(|t| expiring("A", *t, now - 1)).collect();
            store.write(puts, Vec::new()).await.unwrap();
        }
        drop(store);
        // Opening sweeps at once, in steps, without being asked.
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while store.item_count().unwrap() > 0 {
            assert!(std::time::Instant::now() < deadline, "not swept at open");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn writes_after_close_fail() {
        let dir = scratch("close");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        store
            .write(vec![bar("A", 1, 1.0)], Vec::new())
            .await
            .unwrap();
        let other = store.clone();
        store.close().await;
        let e = other.write(vec![bar("A", 2, 1.0)], Vec::new()).await;
        assert!(matches!(e, Err(StoreError::Closed)), "{e:?}");
        assert!(matches!(other.latest("A", 1), Err(StoreError::Closed)));
        // The file is free while handles remain.
        let reopened = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        assert_eq!(stamps(&reopened.latest("A", 10).unwrap()), [1]);
        drop((store, other, reopened));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_damaged_stored_value_is_skipped_and_reads_stop_at_one_page() {
        let dir = scratch("damaged");
        let store = HistoryStore::open(&dir, DEFAULT_TABLE_NAME).unwrap();
        store
            .write(
                vec![bar("A", 1, 1.0), bar("A", 2, 2.0), bar("A", 3, 3.0)],
                Vec::new(),
            )
            .await
            .unwrap();
        // Bytes that are not an item's JSON, as a damaged file would hold.
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(ITEMS)
            .unwrap()
            .insert(("A", 2), b"{not json".as_slice())
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(stamps(&store.latest("A", 10).unwrap()), [1, 3]);
        let page = store.after("A", 0, 10).unwrap();
        assert_eq!(
            (stamps(&page.items), page.last_evaluated),
            (vec![1, 3], None)
        );

        // Items of 300 KB: a read stops once it holds a DynamoDB page (1 MB), as on AWS.
        let big = |t: i64| {
            let data = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
            let attributes = json!({"data": {"S": data}});
            Item::new("B", t, attributes.as_object().cloned().unwrap_or_default())
        };
        store
            .write((1..=8).map(big).collect(), Vec::new())
            .await
            .unwrap();
        assert_eq!(stamps(&store.latest("B", 8).unwrap()), [5, 6, 7, 8]);
        let page = store.after("B", 0, 8).unwrap();
        // Short of `limit`, and not the end: the page says where it stopped.
        assert_eq!(
            (stamps(&page.items), page.last_evaluated),
            (vec![1, 2, 3, 4], Some(4))
        );
        drop((db, store));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ttl_numbers_read_like_dynamodb() {
        assert_eq!(ttl_seconds("1700000000"), Some(1_700_000_000));
        assert_eq!(ttl_seconds("1700000000.9"), Some(1_700_000_000));
        assert_eq!(ttl_seconds("1.7e9"), Some(1_700_000_000));
        assert_eq!(ttl_seconds("x"), None);
        let mut item = bar("A", 1, 1.0);
        item.attributes
            .insert(TTL_ATTRIBUTE.to_owned(), json!({"S": "1700000000"}));
        assert_eq!(item.expires_at(), None);
    }
}
