//! The `historyPage` query on the wire: many tickers' requests in one GraphQL document of
//! aliased fields (`h0: historyPage(...) h1: historyPage(...)`), and its answer read back per
//! field: each bar dated by its stored time, and where to go on from (`next`).
//!
//! One document per frame rather than one per ticker: a page of 50 tickers opens with one
//! round trip, not 50 queued behind the browser's six connections per host. Values travel
//! as variables, so symbols need no escaping.
//!
//! An API without `historyPage` (the reference sample's) fails the whole document in validation
//! (`FieldUndefined`, HTTP 200): that is [`Answer::Unsupported`], after which the dashboard
//! stays live-only and never asks again.

use quotecast_shared::channel::Channel;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::quote::{Quote, parse_quote_payload};
use serde_json::Value;

use super::backfill::{FieldError, Page, Request};

/// Most fields in one document: bounds one answer's size (50 × 120 bars is ~1.5 MB).
pub const MAX_FIELDS: usize = 10;

/// The document asking for each `(symbol, request)`, fields aliased `h0`, `h1`, … in order.
pub fn document(requests: &[(String, Request)]) -> GraphqlRequest {
    let mut params = Vec::with_capacity(requests.len());
    let mut fields = Vec::with_capacity(requests.len());
    for i in 0..requests.len() {
        params.push(format!("$n{i}: String!, $l{i}: Int, $a{i}: Float"));
        fields.push(format!(
            "h{i}: historyPage(name: $n{i}, limit: $l{i}, after: $a{i}) \
             {{ items {{ name data timestamp }} next }}"
        ));
    }
    let mut request = GraphqlRequest::new(format!(
        "query History({}) {{ {} }}",
        params.join(", "),
        fields.join(" ")
    ));
    for (i, (symbol, r)) in requests.iter().enumerate() {
        request = request
            .with_variable(&format!("n{i}"), symbol.as_str())
            .with_variable(&format!("l{i}"), r.limit)
            .with_variable(
                &format!("a{i}"),
                r.after.map_or(Value::Null, |a| Value::from(a as f64)),
            );
    }
    request
}

/// What one GraphQL answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The API has no `historyPage` field: live only from now on.
    Unsupported,
    /// Per request, in order: its page, or why that field failed.
    Fields(Vec<Result<Page, FieldError>>),
}

/// The `errorType`s that asking again does not change: no data source behind the field
/// (`quotecast appsync` without a store), or a caller the schema does not let read it.
const PERMANENT: &[&str] = &[
    "DataSourceUnavailable",
    "Unauthorized",
    "UnauthorizedException",
];

/// Reads the answer to [`document`] for `count` requests; `received_at_ms` dates bars in the
/// reference format (which carry no time) when the server gave no stored time.
pub fn read_answer(body: &Value, count: usize, received_at_ms: i64) -> Answer {
    let errors: Vec<&Value> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
        .unwrap_or_default();
    let undefined = errors.iter().any(|e| {
        let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
        (text("message").contains("FieldUndefined") || text("errorType") == "FieldUndefined")
            && text("message").contains("history")
    });
    if undefined {
        return Answer::Unsupported;
    }
    let data = body.get("data").filter(|d| d.is_object());
    Answer::Fields(
        (0..count)
            .map(|i| {
                let alias = format!("h{i}");
                match data.and_then(|d| d.get(&alias)) {
                    // A server that knows the field but holds nothing (or not yet) answers null.
                    Some(Value::Null) if field_error(&errors, &alias).is_none() => {
                        Ok(Page::default())
                    }
                    // Only an explicit `next: null` ends paging: a page without a readable
                    // `next` is an answer that cannot be trusted, asked for again.
                    Some(page @ Value::Object(_)) => match page.get("next") {
                        Some(Value::Null) => Ok(None),
                        Some(next) => ms(next).map(Some).ok_or(()),
                        None => Err(()),
                    }
                    .map(|next| Page {
                        bars: page
                            .get("items")
                            .and_then(Value::as_array)
                            .map(|items| {
                                items
                                    .iter()
                                    .filter_map(|item| bar(item, received_at_ms))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        next,
                    })
                    .map_err(|()| {
                        FieldError::transient("a history page without a readable `next`")
                    }),
                    _ => Err(field_error(&errors, &alias)
                        .or_else(|| errors.first().map(|e| describe(e)))
                        .unwrap_or_else(|| FieldError::transient("no answer for this ticker"))),
                }
            })
            .collect(),
    )
}

/// One item: a `Bar` whose `data` is a quote, dated by its stored `timestamp` when its data
/// carries no time (the reference format). An unreadable one is skipped: the rest of the page
/// is still good, paging goes on from `next`, and a hole it leaves is a gap like any other.
fn bar(item: &Value, received_at_ms: i64) -> Option<Quote> {
    let stored_at = item.get("timestamp").and_then(ms);
    let channel: Channel = serde_json::from_value(item.clone()).ok()?;
    parse_quote_payload(
        &channel.data,
        &channel.name,
        stored_at.unwrap_or(received_at_ms),
    )
    .ok()
}

/// A time in ms from a GraphQL `Float`, which AppSync may write in exponent form (`1.7E12`).
fn ms(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.round() as i64)
    })
}

/// The error whose `path` starts at `alias`.
fn field_error(errors: &[&Value], alias: &str) -> Option<FieldError> {
    errors
        .iter()
        .find(|e| {
            e.get("path")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                == Some(alias)
        })
        .map(|e| describe(e))
}

fn describe(error: &Value) -> FieldError {
    let text = |k: &str| error.get(k).and_then(Value::as_str);
    let message = match (text("errorType"), text("message")) {
        (Some(t), Some(m)) => format!("{t}: {m}"),
        (None, Some(m)) => m.to_owned(),
        (Some(t), None) => t.to_owned(),
        (None, None) => "unknown error".to_owned(),
    };
    FieldError {
        message,
        permanent: text("errorType").is_some_and(|t| PERMANENT.contains(&t)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn quote_text(t: i64) -> String {
        Quote::new("AMZN", t, [1.0, 2.0, 0.5, 1.5], 10)
            .unwrap()
            .to_json()
    }

    #[test]
    fn one_document_of_aliased_fields_with_variables() {
        let doc = document(&[
            (
                "AMZN".to_owned(),
                Request {
                    after: None,
                    limit: 120,
                    until: None,
                },
            ),
            (
                "BRK.B".to_owned(),
                Request {
                    after: Some(1_764_000_000_000),
                    limit: 500,
                    until: Some(9),
                },
            ),
        ]);
        assert_eq!(
            doc.query,
            "query History($n0: String!, $l0: Int, $a0: Float, $n1: String!, $l1: Int, $a1: Float) { \
             h0: historyPage(name: $n0, limit: $l0, after: $a0) { items { name data timestamp } next } \
             h1: historyPage(name: $n1, limit: $l1, after: $a1) { items { name data timestamp } next } }"
        );
        assert_eq!(doc.variables["n1"], "BRK.B");
        assert_eq!(doc.variables["l0"], 120);
        assert_eq!(doc.variables["a0"], Value::Null);
        assert_eq!(doc.variables["a1"].as_f64(), Some(1_764_000_000_000.0));
    }

    #[test]
    fn reads_bars_per_field_and_tolerates_null_and_junk() {
        let body = json!({
            "data": {
                "h0": {"items": [
                    {"name": "AMZN", "data": quote_text(1_000), "timestamp": 1_000},
                    {"name": "AMZN", "data": "not json", "timestamp": 1_500},
                    {"name": "AMZN", "data": quote_text(2_000), "timestamp": 2.0e3},
                    // Double-encoded, as AppSync may write a resolver's string for AWSJSON.
                    {"name": "AMZN", "data": serde_json::to_string(&quote_text(2_200)).unwrap(), "timestamp": 2_200},
                ], "next": 2.5e3},
                "h1": null,
                "h2": null,
            },
            "errors": [{"path": ["h2"], "errorType": "BadRequestException", "message": "limit"}],
        });
        let Answer::Fields(fields) = read_answer(&body, 3, 0) else {
            panic!("fields expected")
        };
        let page = fields[0].as_ref().unwrap();
        let times: Vec<i64> = page.bars.iter().map(|q| q.timestamp).collect();
        assert_eq!(times, [1_000, 2_000, 2_200]);
        assert_eq!(page.next, Some(2_500), "AppSync may write a Float as 2.5E3");
        assert_eq!(fields[1], Ok(Page::default()));
        assert_eq!(
            fields[2],
            Err(FieldError::transient("BadRequestException: limit"))
        );
    }

    #[test]
    fn an_api_without_history_is_unsupported() {
        let body = json!({"data": null, "errors": [{
            "errorType": "ValidationError",
            "message": "Validation error of type FieldUndefined: Field 'history' in type 'Query' is undefined @ 'h0'",
        }]});
        assert_eq!(read_answer(&body, 1, 0), Answer::Unsupported);
        let other = json!({"errors": [{"message": "boom"}]});
        let boom = FieldError::transient("boom");
        assert_eq!(
            read_answer(&other, 2, 0),
            Answer::Fields(vec![Err(boom.clone()), Err(boom)])
        );
        assert_eq!(
            read_answer(&json!("garbage"), 1, 0),
            Answer::Fields(vec![Err(FieldError::transient(
                "no answer for this ticker"
            ))])
        );
    }

    #[test]
    fn a_refusal_that_asking_again_cannot_change_is_permanent() {
        let refused = |error_type: &str| {
            let body = json!({"data": {"h0": null}, "errors": [
                {"path": ["h0"], "errorType": error_type, "message": "no"}
            ]});
            match read_answer(&body, 1, 0) {
                Answer::Fields(mut fields) => fields.remove(0).unwrap_err(),
                Answer::Unsupported => panic!("fields expected"),
            }
        };
        for permanent in [
            "DataSourceUnavailable",
            "Unauthorized",
            "UnauthorizedException",
        ] {
            let e = refused(permanent);
            assert!(e.permanent, "{permanent}");
            assert_eq!(e.message, format!("{permanent}: no"));
        }
        for transient in [
            "InternalFailure",
            "ThrottlingException",
            "BadRequestException",
        ] {
            assert!(!refused(transient).permanent, "{transient}");
        }
    }

    /// Bars in the reference format carry no time: each is dated by its stored time, so a
    /// page of them is as many bars on the card, not one replaced by the next.
    #[test]
    fn reference_bars_keep_their_stored_times() {
        use crate::model::ticker::TickerState;

        let reference = r#"{"topic":"amazon","value":"{\"Open\":1,\"High\":2,\"Low\":0.5,\"Close\":1.5,\"Adj Close\":1.5,\"Volume\":10}"}"#;
        let items: Vec<Value> = (0..120)
            .map(|i| json!({"name": "AMZN", "data": reference, "timestamp": 1.7e12 + f64::from(i) * 1e3}))
            .collect();
        let body = json!({"data": {"h0": {"items": items, "next": null}}});
        let Answer::Fields(mut fields) = read_answer(&body, 1, 99) else {
            panic!("fields expected")
        };
        let page = fields.remove(0).unwrap();
        let mut state = TickerState::default();
        for q in page.bars {
            state.apply(q);
        }
        assert_eq!(state.len(), 120);
        assert_eq!(state.last().map(|q| q.timestamp), Some(1_700_000_119_000));
        // Without a stored time (an older server), the arrival time as before.
        let body =
            json!({"data": {"h0": {"items": [{"name": "AMZN", "data": reference}], "next": null}}});
        let Answer::Fields(fields) = read_answer(&body, 1, 99) else {
            panic!("fields expected")
        };
        assert_eq!(fields[0].as_ref().unwrap().bars[0].timestamp, 99);
        // A page without a readable `next` is not taken for the end.
        for next in [None, Some(json!("soon"))] {
            let mut page = json!({"items": []});
            if let Some(n) = next {
                page["next"] = n;
            }
            let Answer::Fields(fields) = read_answer(&json!({"data": {"h0": page}}), 1, 0) else {
                panic!("fields expected")
            };
            assert!(
                fields[0].as_ref().is_err_and(|e| !e.permanent),
                "{fields:?}"
            );
        }
    }
}
