//! The store as the AppSync twin's `history` data source: what a DynamoDB `Query` from the
//! `history` resolver returns, reduced to what the resolver reads of each item.

use quotecast_aws_local::data_source::{DataSourceError, HistorySource, StoredBar, StoredPage};
use serde_json::Value;

use super::store::HistoryStore;
use super::table::Item;

impl HistorySource for HistoryStore {
    fn latest(&self, name: &str, limit: usize) -> Result<Vec<StoredBar>, DataSourceError> {
        bars(HistoryStore::latest(self, name, limit))
    }

    fn after(&self, name: &str, after: i64, limit: usize) -> Result<StoredPage, DataSourceError> {
        let page = HistoryStore::after(self, name, after, limit)
            .map_err(|e| DataSourceError(e.to_string()))?;
        Ok(StoredPage {
            bars: page.items.into_iter().map(bar).collect(),
            last_evaluated: page.last_evaluated,
        })
    }
}

fn bars(
    items: Result<Vec<Item>, super::table::StoreError>,
) -> Result<Vec<StoredBar>, DataSourceError> {
    let items = items.map_err(|e| DataSourceError(e.to_string()))?;
    Ok(items.into_iter().map(bar).collect())
}

/// The item's key and its `data` attribute when that is a string (`{"S": …}`).
fn bar(item: Item) -> StoredBar {
    let data = item
        .attributes
        .get("data")
        .and_then(|d| d.get("S"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    StoredBar {
        name: item.symbol,
        timestamp: item.timestamp,
        data,
    }
}
