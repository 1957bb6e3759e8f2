//! `Query.history` and `Query.historyPage`, natively: the twin of `schema/resolvers/history.js`
//! over the server's history data source (locally, the table the consumer writes through the
//! DynamoDB twin).
//!
//! Same arguments, defaults, limits, order, continuation and error messages as the APPSYNC_JS
//! resolver (`local/quotecast/tests/history_query.rs` checks them over real sockets). One difference, on the
//! safe side: this twin parses every stored `data` text, so any item that is not a JSON
//! object is skipped and logged, where the resolver can only check that the text looks like
//! one (APPSYNC_JS has no try/catch around `JSON.parse`).

use serde_json::{Map, Value};

use quotecast_aws_local::data_source::{HistorySource, StoredBar, StoredPage};

/// Bars returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 60;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 1000;
/// Longer names are not looked up (DynamoDB refuses key values over 2,048 bytes; no channel
/// the consumer stores comes near: symbols ≤ 32 bytes, Kafka topics ≤ 249).
const MAX_NAME_LEN: usize = 512;
/// Beyond this `after` is not a time.
const MAX_AFTER: f64 = 9.2e18;

/// The `errorType` of a refused `history` call, as the resolver raises it.
pub const BAD_REQUEST: &str = "BadRequestException";

/// A checked `history(name, limit, after)` call.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    pub name: String,
    pub limit: usize,
    /// Bars strictly after this time (ms), oldest first; `None`: the most recent ones.
    pub after: Option<i64>,
}

impl HistoryRequest {
    /// Checks the coerced arguments; the error is the resolver's message.
    pub fn from_args(args: &Map<String, Value>) -> Result<HistoryRequest, String> {
        let name = args
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let limit = match args.get("limit").filter(|v| !v.is_null()) {
            None => DEFAULT_LIMIT,
            Some(v) => match v.as_i64() {
                Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
                _ => return Err(format!("limit must be between 1 and {MAX_LIMIT}, got {v}")),
            },
        };
        let after = match args.get("after").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(whole_ms(v).ok_or_else(|| {
                format!("after must be a whole number of milliseconds ≥ 0, got {v}")
            })?),
        };
        Ok(HistoryRequest { name, limit, after })
    }
}

/// A Float argument that holds a whole, non-negative number of milliseconds.
fn whole_ms(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return (n >= 0 && (n as f64) < MAX_AFTER).then_some(n);
    }
    let f = v.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f < MAX_AFTER).then_some(f as i64)
}

/// Why a `history` call could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the history store could not be read: {0}")]
    Store(String),
}

/// One answer: what `history` lists and what `historyPage` returns (`HistoryPage`'s fields).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryAnswer {
    /// `{name, data, timestamp}` objects, oldest first (a `Channel` selection writes only
    /// `name` and `data`; a `Bar` selection also the stored time).
    pub bars: Vec<Map<String, Value>>,
    /// Where to ask from next (`after`), `None` only when the read reached the channel's end:
    /// the sort key of the last item read, skipped or not, when the page stopped early.
    /// Always `None` for the most recent bars, which end at the end.
    pub next: Option<i64>,
}

impl HistoryAnswer {
    /// `HistoryPage { items, next }`, keyed by field name for a selection to write.
    pub fn page(self) -> Map<String, Value> {
        let mut page = Map::new();
        page.insert(
            "items".to_owned(),
            Value::Array(self.bars.into_iter().map(Value::Object).collect()),
        );
        page.insert(
            "next".to_owned(),
            self.next.map_or(Value::Null, Value::from),
        );
        page
    }
}

/// Runs `request` against `store`: the bars, oldest first, and where to continue.
pub fn resolve(
    store: &dyn HistorySource,
    request: &HistoryRequest,
) -> Result<HistoryAnswer, HistoryError> {
    // Counted in UTF-16 units, as `name.length` counts in history.js.
    if request.name.is_empty() || request.name.encode_utf16().count() > MAX_NAME_LEN {
        return Ok(HistoryAnswer {
            bars: Vec::new(),
            next: None,
        });
    }
    let page = match request.after {
        None => store
            .latest(&request.name, request.limit)
            .map(|bars| StoredPage {
                bars,
                last_evaluated: None,
            }),
        Some(after) => store.after(&request.name, after, request.limit),
    }
    .map_err(|e| HistoryError::Store(e.to_string()))?;
    Ok(HistoryAnswer {
        bars: page.bars.iter().filter_map(bar_of).collect(),
        next: page.last_evaluated,
    })
}

/// One stored item as the channel message it was, with its stored time, or `None` (logged)
/// if it is unreadable.
fn bar_of(item: &StoredBar) -> Option<Map<String, Value>> {
    let data =
        item.data.as_deref().map(str::trim).filter(|text| {
            serde_json::from_str::<Value>(text).is_ok_and(|parsed| parsed.is_object())
        });
    let Some(data) = data else {
        tracing::warn!(
            symbol = item.name,
            timestamp = item.timestamp,
            "history: skipped a stored item without a JSON object in `data`"
        );
        return None;
    };
    let mut bar = Map::new();
    bar.insert("name".to_owned(), Value::from(item.name.clone()));
    bar.insert("data".to_owned(), Value::from(data));
    bar.insert("timestamp".to_owned(), Value::from(item.timestamp));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn defaults_and_bounds_are_the_resolvers() {
        let r = HistoryRequest::from_args(&args(json!({"name": "AMZN"}))).unwrap();
        assert_eq!((r.limit, r.after), (DEFAULT_LIMIT, None));
        let r = HistoryRequest::from_args(&args(json!({"name": "AMZN", "limit": null})));
        assert_eq!(r.unwrap().limit, DEFAULT_LIMIT);
        for ok in [1, 1000] {
            let r = HistoryRequest::from_args(&args(json!({"name": "A", "limit": ok}))).unwrap();
            assert_eq!(r.limit, ok as usize);
        }
        for bad in [0, -1, 1001] {
            let e = HistoryRequest::from_args(&args(json!({"name": "A", "limit": bad})));
            assert_eq!(
                e.unwrap_err(),
                format!("limit must be between 1 and 1000, got {bad}")
            );
        }
        let r = HistoryRequest::from_args(&args(json!({"name": "A", "after": 1.7e12})));
        assert_eq!(r.unwrap().after, Some(1_700_000_000_000));
        for bad in [json!(-1), json!(1.5)] {
            let e = HistoryRequest::from_args(&args(json!({"name": "A", "after": bad})));
            assert!(e.unwrap_err().starts_with("after must be a whole number"));
        }
    }
}
