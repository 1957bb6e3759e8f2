//! `quotecast publish`: quotes from people and scripts, signed like every other writer.
//!
//! Input is checked whole before anything is sent, so a typo on line 40 of a file publishes
//! nothing rather than 39 quotes. Each request carries up to [`CHUNK`] aliased `publish`
//! mutations, in order; any refusal (HTTP status or a GraphQL error) stops the run and is
//! reported with what had already gone out.

use std::time::{Duration, Instant};

use quotecast_shared::{Channel, Quote};
use serde_json::Value;

use crate::writer::Writer;
use quotecast_appsync_client::GraphqlHttp;

/// Publishes per request.
pub const CHUNK: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum PublishInputError {
    #[error("{origin}: {reason}")]
    Invalid { origin: String, reason: String },
    #[error("{0}: no quotes in it")]
    Empty(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PublishFailure {
    #[error("cannot reach {url}: {reason} ({published} of {total} published)")]
    Network {
        url: String,
        reason: String,
        published: usize,
        total: usize,
    },
    #[error("{url} refused the publish: {reason} ({published} of {total} published)")]
    Refused {
        url: String,
        reason: String,
        published: usize,
        total: usize,
    },
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishReport {
    pub published: usize,
    pub requests: usize,
    pub elapsed: Duration,
}

/// One bar made from a single price (open = high = low = close), stamped `timestamp_ms`.
pub fn bar(symbol: &str, price: f64, timestamp_ms: i64) -> Result<Quote, PublishInputError> {
    let invalid = |reason: String| PublishInputError::Invalid {
        origin: format!("{symbol} {price}"),
        reason,
    };
    let symbol = quotecast_shared::quote::normalize_symbol(symbol).map_err(invalid)?;
    Quote::new(symbol, timestamp_ms, [price; 4], 0).map_err(|e| invalid(e.to_string()))
}

/// Quotes from a text in our quote JSON: one object, an array of them, or one object per line
/// (JSON lines). `origin` names the text in errors (a file name), which also give the array
/// index or line number.
pub fn quotes_from_text(text: &str, origin: &str) -> Result<Vec<Quote>, PublishInputError> {
    let invalid = |at: String, reason: String| PublishInputError::Invalid {
        origin: format!("{origin}{at}"),
        reason,
    };
    let quotes = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                Quote::from_json(&item.to_string())
                    .map_err(|e| invalid(format!(" [{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Ok(item @ Value::Object(_)) => {
            vec![
                Quote::from_json(&item.to_string())
                    .map_err(|e| invalid(String::new(), e.to_string()))?,
            ]
        }
        Ok(other) => {
            return Err(invalid(
                String::new(),
                format!("expected a quote object or an array of them, found {other}"),
            ));
        }
        // An array that does not parse is one broken document, not JSON lines.
        Err(e) if text.trim_start().starts_with('[') => {
            return Err(invalid(String::new(), e.to_string()));
        }
        // Not one JSON value: JSON lines, each a quote.
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                Quote::from_json(line).map_err(|e| invalid(format!(":{}", n + 1), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if quotes.is_empty() {
        return Err(PublishInputError::Empty(origin.to_owned()));
    }
    Ok(quotes)
}

/// What AppSync's answer says went wrong, if anything: the HTTP status and body, or the
/// GraphQL errors (`errorType: message`, the first three).
pub fn refusal(status: u16, body: &Value) -> Option<String> {
    let errors = body.get("errors").and_then(Value::as_array);
    if status == 200 && errors.is_none_or(|e| e.is_empty()) {
        return None;
    }
    let described: Vec<String> = errors
        .into_iter()
        .flatten()
        .take(3)
        .map(|e| {
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            match e.get("errorType").and_then(Value::as_str) {
                Some(t) => format!("{t}: {message}"),
                None => message.to_owned(),
            }
        })
        .collect();
    Some(if described.is_empty() {
        format!("HTTP {status} {body}")
    } else {
        format!("HTTP {status}, {}", described.join("; "))
    })
}

/// Publishes `quotes` in order through `writer`'s endpoint and credentials.
pub async fn publish(writer: &Writer, quotes: &[Quote]) -> Result<PublishReport, PublishFailure> {
    let http = GraphqlHttp::with_auth(&writer.graphql_url, writer.auth.clone());
    let started = Instant::now();
    let (mut published, mut requests) = (0, 0);
    for chunk in quotes.chunks(CHUNK) {
        let channels: Vec<Channel> = chunk.iter().map(Channel::for_quote).collect();
        requests += 1;
        let (status, body) =
            http.publish(&channels)
                .await
                .map_err(|e| PublishFailure::Network {
                    url: writer.graphql_url.clone(),
                    reason: e.to_string(),
                    published,
                    total: quotes.len(),
                })?;
        if let Some(reason) = refusal(status, &body) {
            // AppSync runs each aliased field on its own: some of this request may be out.
            let went_out = body
                .get("data")
                .and_then(Value::as_object)
                .map_or(0, |fields| fields.values().filter(|v| !v.is_null()).count());
            return Err(PublishFailure::Refused {
                url: writer.graphql_url.clone(),
                reason,
                published: published + went_out,
                total: quotes.len(),
            });
        }
        published += chunk.len();
    }
    Ok(PublishReport {
        published,
        requests,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const AMZN: &str =
        r#"{"symbol":"AMZN","timestamp":1,"open":1,"high":2,"low":0.5,"close":1.5,"volume":10}"#;

    #[test]
    fn reads_one_quote_an_array_and_json_lines() {
        assert_eq!(quotes_from_text(AMZN, "x").unwrap().len(), 1);
        assert_eq!(
            quotes_from_text(&format!("[{AMZN},{AMZN}]"), "x")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            quotes_from_text(&format!("{AMZN}\n\n{AMZN}\n{AMZN}\n"), "x")
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn bad_input_names_where_and_why_and_publishes_nothing() {
        let bad = AMZN.replace(r#""high":2"#, r#""high":0.1"#);
        let err = quotes_from_text(&format!("[{AMZN},{bad}]"), "q.json").unwrap_err();
        assert!(err.to_string().starts_with("q.json [1]: "), "{err}");
        assert!(err.to_string().contains("below its low"), "{err}");
        let err = quotes_from_text(&format!("{AMZN}\n{{oops"), "q.jsonl").unwrap_err();
        assert!(err.to_string().starts_with("q.jsonl:2: "), "{err}");
        assert!(matches!(
            quotes_from_text("[]", "e.json"),
            Err(PublishInputError::Empty(_))
        ));
        assert!(quotes_from_text("42", "n.json").is_err());
        let err = quotes_from_text(&format!("[{AMZN},\n{AMZN}"), "a.json").unwrap_err();
        assert!(err.to_string().starts_with("a.json: "), "{err}");
    }

    #[test]
    fn a_bar_from_one_price_is_checked() {
        let q = bar(" brk.b ", 412.5, 7).unwrap();
        assert_eq!(
            (q.symbol.as_str(), q.open, q.low, q.timestamp),
            ("BRK.B", 412.5, 412.5, 7)
        );
        assert!(bar("A B", 1.0, 0).is_err());
        assert!(bar("AMZN", f64::NAN, 0).is_err());
    }

    #[test]
    fn refusals_are_described_by_status_and_error_type() {
        assert_eq!(refusal(200, &serde_json::json!({"data": {"m0": {}}})), None);
        let denied = serde_json::json!({"data": {"m0": null}, "errors": [
            {"errorType": "Unauthorized", "message": "Not Authorized to access publish on type Mutation"}
        ]});
        assert_eq!(
            refusal(200, &denied).unwrap(),
            "HTTP 200, Unauthorized: Not Authorized to access publish on type Mutation"
        );
        assert!(
            refusal(401, &serde_json::json!({}))
                .unwrap()
                .starts_with("HTTP 401")
        );
    }
}
