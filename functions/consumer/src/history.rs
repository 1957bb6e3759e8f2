//! The quote history table: one item per bar, written with DynamoDB's `BatchWriteItem`.
//!
//! A signed JSON-RPC call (DynamoDB's JSON 1.0 protocol) without the whole AWS SDK, like
//! `secrets.rs`: the same signer, one HTTP client per container. The same code writes to
//! DynamoDB on AWS and to the local stack's DynamoDB-compatible endpoint.
//!
//! Item: `symbol` (S, partition key) = the channel name; `timestamp` (N, sort key) = the
//! bar's time in ms; `data` (S) = the channel data exactly as published; `expiresAt` (N) =
//! epoch seconds after which DynamoDB's TTL may delete it. A bar written twice (a replay)
//! replaces itself: same key, same content.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::retry::Retryable;
use crate::signing::{SigningError, host_of, sign_post};

/// DynamoDB's limit on requests in one `BatchWriteItem`.
pub const MAX_BATCH_ITEMS: usize = 25;
/// DynamoDB's item size limit is 400 KB; a bar whose item would pass this is not stored
/// (logged by the caller) rather than failing every call it is part of.
pub const MAX_ITEM_BYTES: usize = 390 * 1024;

/// One bar to store.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryBar {
    pub symbol: String,
    pub timestamp: i64,
    pub data: String,
}

impl HistoryBar {
    /// The item's size as DynamoDB counts it, near enough: names plus values.
    pub fn item_bytes(&self) -> usize {
        "symbol".len()
            + self.symbol.len()
            + "timestamp".len()
            + 20
            + "data".len()
            + self.data.len()
            + "expiresAt".len()
            + 12
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum HistoryError {
    #[error("DynamoDB could not be reached: {0}")]
    Network(String),
    #[error("DynamoDB refused BatchWriteItem on {table}: HTTP {status} {kind}: {message}")]
    Aws {
        table: String,
        status: u16,
        kind: String,
        message: String,
    },
    #[error("DynamoDB answered BatchWriteItem with something that is not its JSON: {0}")]
    Malformed(String),
    #[error("the BatchWriteItem request could not be written as JSON: {0}")]
    Encode(String),
    #[error("DynamoDB left {0} history items unprocessed")]
    Unprocessed(usize),
    #[error(transparent)]
    Signing(#[from] SigningError),
}

impl HistoryError {
    /// DynamoDB's error name without its namespace (`…#ValidationException` → `ValidationException`).
    fn kind(&self) -> Option<&str> {
        match self {
            HistoryError::Aws { kind, .. } => Some(kind.rsplit('#').next().unwrap_or(kind)),
            _ => None,
        }
    }
}

impl Retryable for HistoryError {
    /// Throttling, DynamoDB's own failures, 5xx and the network could pass; a refusal of the
    /// request or of the caller (validation, missing table, access denied) will not.
    fn is_retryable(&self) -> bool {
        match self {
            HistoryError::Network(_) | HistoryError::Unprocessed(_) => true,
            HistoryError::Aws { status, .. } if *status >= 500 => true,
            HistoryError::Aws { .. } => matches!(
                self.kind(),
                Some(
                    "ProvisionedThroughputExceededException"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                        | "LimitExceededException"
                        | "TransactionInProgressException"
                )
            ),
            HistoryError::Malformed(_) | HistoryError::Encode(_) | HistoryError::Signing(_) => {
                false
            }
        }
    }
}

/// Where and how the history is written.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryTarget {
    /// `HISTORY_TABLE`.
    pub table: String,
    /// `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL`, else DynamoDB's regional endpoint.
    pub endpoint: String,
    /// `HISTORY_RETENTION_HOURS`: how long a bar is kept (its `expiresAt`).
    pub retention: Duration,
}

pub struct HistoryWriter {
    http: reqwest::Client,
    target: HistoryTarget,
    region: String,
    credentials: Credentials,
}

impl HistoryWriter {
    pub fn new(
        target: HistoryTarget,
        region: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<HistoryWriter, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(HistoryWriter {
            http,
            target,
            region: region.to_owned(),
            credentials,
        })
    }

    pub fn table(&self) -> &str {
        &self.target.table
    }

    /// Writes `bars` in calls of at most 25, all at once. Returns the bars DynamoDB left
    /// unprocessed (to be sent again), or the first error; on an error some calls may have
    /// been written, which a retry rewrites harmlessly. Two bars with the same key must not
    /// be in `bars` (DynamoDB refuses such a call): see [`dedup_last_wins`].
    pub async fn write(&self, bars: &[HistoryBar]) -> Result<Vec<HistoryBar>, HistoryError> {
        let expires_at = expiry(SystemTime::now(), self.target.retention);
        let calls: Vec<_> = bars
            .chunks(MAX_BATCH_ITEMS)
            .map(|chunk| self.batch_write(chunk, expires_at))
            .collect();
        // All at once (at most 10: `PUBLISH_CHUNK_SIZE` ≤ 250): one round of requests, so
        // a write ends within one `REQUEST_TIMEOUT_MS` and the invocation's deadline holds.
        let in_flight = calls.len().max(1);
        let mut results = futures_util::stream::iter(calls).buffer_unordered(in_flight);
        let mut unprocessed = Vec::new();
        let mut first_error = None;
        while let Some(result) = results.next().await {
            match result {
                Ok(rest) => unprocessed.extend(rest),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(unprocessed),
        }
    }

    /// One `BatchWriteItem` of at most 25 bars; returns those left unprocessed.
    async fn batch_write(
        &self,
        bars: &[HistoryBar],
        expires_at: u64,
    ) -> Result<Vec<HistoryBar>, HistoryError> {
        let requests: Vec<WriteRequest<'_>> = bars
            .iter()
            .map(|bar| WriteRequest {
                put_request: PutRequest {
                    item: item(bar, expires_at),
                },
            })
            .collect();
        let body = serde_json::to_string(&BatchWriteBody {
            request_items: [(self.target.table.as_str(), requests)].into(),
        })
        .map_err(|e| HistoryError::Encode(e.to_string()))?;
        let endpoint = &self.target.endpoint;
        let base = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.BatchWriteItem"),
            ("host", host_of(endpoint)),
        ];
        let mut request = self.http.post(endpoint.as_str());
        for (k, v) in sign_post(
            endpoint,
            &base,
            body.as_bytes(),
            "dynamodb",
            &self.region,
            &self.credentials,
        )? {
            if k != "host" {
                request = request.header(k, v);
            }
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| HistoryError::Network(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| HistoryError::Network(e.to_string()))?;
        let reply: Value = serde_json::from_str(&text).map_err(|_| {
            if status >= 500 {
                HistoryError::Aws {
                    table: self.target.table.clone(),
                    status,
                    kind: String::new(),
                    message: text.chars().take(200).collect(),
                }
            } else {
                HistoryError::Malformed(text.chars().take(200).collect())
            }
        })?;
        if status != 200 {
            let field = |name: &str| reply.get(name).and_then(Value::as_str).unwrap_or_default();
            return Err(HistoryError::Aws {
                table: self.target.table.clone(),
                status,
                kind: field("__type").to_owned(),
                message: format!("{}{}", field("message"), field("Message")),
            });
        }
        Ok(unprocessed(&reply, &self.target.table, bars))
    }
}

/// The bars of `sent` that a `BatchWriteItem` answer lists under `UnprocessedItems`.
fn unprocessed(reply: &Value, table: &str, sent: &[HistoryBar]) -> Vec<HistoryBar> {
    let Some(left) = reply
        .get("UnprocessedItems")
        .and_then(|u| u.get(table))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let keys: Vec<(Option<&str>, Option<&str>)> = left
        .iter()
        .map(|r| {
            let item = &r["PutRequest"]["Item"];
            (
                item["symbol"]["S"].as_str(),
                item["timestamp"]["N"].as_str(),
            )
        })
        .collect();
    let mut rest: Vec<HistoryBar> = sent
        .iter()
        .filter(|bar| {
            let ts = bar.timestamp.to_string();
            keys.iter()
                .any(|(s, t)| *s == Some(bar.symbol.as_str()) && *t == Some(ts.as_str()))
        })
        .cloned()
        .collect();
    // An answer that lists items we cannot match still means they were not written: send
    // the whole call again rather than lose them.
    if rest.len() < left.len() {
        rest = sent.to_vec();
    }
    rest
}

// `BatchWriteItem`'s input as typed borrows, serialised straight into the body: building it
// as `serde_json::Value` maps first cost an allocation per key and value (a profile of the
// consumer bench, BENCHMARKS.md).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteBody<'a> {
    request_items: BTreeMap<&'a str, Vec<WriteRequest<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WriteRequest<'a> {
    put_request: PutRequest<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest<'a> {
    item: Item<'a>,
}

/// The DynamoDB item of one bar, in DynamoDB JSON.
#[derive(Serialize)]
struct Item<'a> {
    symbol: Text<'a>,
    timestamp: Number,
    data: Text<'a>,
    #[serde(rename = "expiresAt")]
    expires_at: Number,
}

/// A string attribute value, `{"S": "…"}`.
#[derive(Serialize)]
struct Text<'a> {
    #[serde(rename = "S")]
    s: &'a str,
}

/// A number attribute value, `{"N": "…"}` (DynamoDB sends numbers as strings).
#[derive(Serialize)]
struct Number {
    #[serde(rename = "N")]
    n: String,
}

fn item(bar: &HistoryBar, expires_at: u64) -> Item<'_> {
    Item {
        symbol: Text { s: &bar.symbol },
        timestamp: Number {
            n: bar.timestamp.to_string(),
        },
        data: Text { s: &bar.data },
        expires_at: Number {
            n: expires_at.to_string(),
        },
    }
}

/// Epoch seconds `retention` after `now`: the TTL attribute.
pub fn expiry(now: SystemTime, retention: Duration) -> u64 {
    (now + retention)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Keeps, of bars with the same (symbol, timestamp), only the last: a later record of a
/// partition is the newer version of that bar, and DynamoDB refuses a call with a key twice.
pub fn dedup_last_wins(bars: Vec<HistoryBar>) -> Vec<HistoryBar> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<HistoryBar> = bars
        .into_iter()
        .rev()
        .filter(|b| seen.insert((b.symbol.clone(), b.timestamp)))
        .collect();
    kept.reverse();
    kept
}

/// DynamoDB's regional endpoint, unless the environment overrides it the way the AWS SDKs
/// read it (`AWS_ENDPOINT_URL_DYNAMODB`, then `AWS_ENDPOINT_URL`).
pub fn endpoint(get: impl Fn(&str) -> Option<String>, region: &str) -> String {
    get("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|| get("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| format!("https://dynamodb.{region}.amazonaws.com/"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bar(symbol: &str, timestamp: i64, data: &str) -> HistoryBar {
        HistoryBar {
            symbol: symbol.into(),
            timestamp,
            data: data.into(),
        }
    }

    #[test]
    fn the_last_version_of_a_bar_wins_and_order_holds() {
        let bars = vec![
            bar("A", 1, "old"),
            bar("B", 1, "b"),
            bar("A", 2, "a2"),
            bar("A", 1, "new"),
        ];
        assert_eq!(
            dedup_last_wins(bars),
            vec![bar("B", 1, "b"), bar("A", 2, "a2"), bar("A", 1, "new")]
        );
    }

    #[test]
    fn unprocessed_items_are_matched_by_key_and_unknown_ones_resend_all() {
        let sent = vec![bar("A", 1, "x"), bar("A", 2, "y"), bar("B", 2, "z")];
        let reply = json!({"UnprocessedItems": {"t": [
            {"PutRequest": {"Item": item(&sent[1], 9)}}
        ]}});
        assert_eq!(unprocessed(&reply, "t", &sent), vec![sent[1].clone()]);
        assert!(unprocessed(&json!({"UnprocessedItems": {}}), "t", &sent).is_empty());
        let odd = json!({"UnprocessedItems": {"t": [{"PutRequest": {"Item": {}}}]}});
        assert_eq!(unprocessed(&odd, "t", &sent), sent);
    }

    #[test]
    fn which_refusals_are_worth_a_retry() {
        let aws = |status: u16, kind: &str| HistoryError::Aws {
            table: "t".into(),
            status,
            kind: kind.into(),
            message: String::new(),
        };
        let p = "com.amazonaws.dynamodb.v20120810#";
        assert!(aws(400, &format!("{p}ProvisionedThroughputExceededException")).is_retryable());
        assert!(aws(400, &format!("{p}ThrottlingException")).is_retryable());
        assert!(aws(500, &format!("{p}InternalServerError")).is_retryable());
        assert!(aws(503, "").is_retryable());
        assert!(!aws(400, "com.amazon.coral.validate#ValidationException").is_retryable());
        assert!(!aws(400, &format!("{p}ResourceNotFoundException")).is_retryable());
        assert!(!aws(400, "com.amazon.coral.service#AccessDeniedException").is_retryable());
        assert!(HistoryError::Unprocessed(3).is_retryable());
    }

    #[test]
    fn items_carry_the_key_the_data_and_the_expiry() {
        let amzn = bar("AMZN", 1_700_000_000_000, "{\"a\":1}");
        let i = item(&amzn, 1_700_086_400);
        assert_eq!(
            serde_json::to_value(i).unwrap(),
            json!({"symbol": {"S": "AMZN"}, "timestamp": {"N": "1700000000000"},
                   "data": {"S": "{\"a\":1}"}, "expiresAt": {"N": "1700086400"}})
        );
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(expiry(now, Duration::from_secs(3600)), 4600);
        assert_eq!(
            endpoint(|_| None, "eu-west-1"),
            "https://dynamodb.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            endpoint(
                |k| (k == "AWS_ENDPOINT_URL").then(|| "http://x".to_owned()),
                "r"
            ),
            "http://x"
        );
    }
}
