//! The Yahoo chart source against a local HTTP server answering in the chart API's format,
//! with bar values from the reference sample's fallback data.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use quotecast_producer::source::yahoo::Yahoo;
use quotecast_producer::source::{QuoteSource, SourceError};
use serde_json::{Value, json};

const REFERENCE: &str = include_str!("../../../shared/tests/fixtures/reference-fallback-bars.json");

struct Api {
    /// How many bars the chart currently has.
    bars: AtomicUsize,
    calls: AtomicUsize,
}

/// A chart response: `n` one-minute bars, oldest first, the third one missing (nulls).
fn chart(symbol: &str, n: usize) -> Value {
    let file: Value = serde_json::from_str(REFERENCE).unwrap();
    let mut bars: Vec<Value> = file["bars"].as_array().unwrap().clone();
    bars.reverse();
    let bars = &bars[..n];
    let series = |field: &str| -> Vec<Value> {
        bars.iter()
            .enumerate()
            .map(|(i, b)| {
                if i == 2 {
                    Value::Null
                } else {
                    b[field].clone()
                }
            })
            .collect()
    };
    json!({"chart": {"result": [{
        "meta": {"currency": "USD", "symbol": symbol, "exchangeName": "NMS", "instrumentType": "EQUITY",
                 "regularMarketPrice": 190.72, "chartPreviousClose": 189.5, "dataGranularity": "1m", "range": "1h"},
        "timestamp": (0..n).map(|i| 1_700_000_000 + 60 * i as i64).collect::<Vec<_>>(),
        "indicators": {"quote": [{"open": series("open"), "high": series("high"), "low": series("low"), "close": series("close"), "volume": series("volume")}]}
    }], "error": null}})
}

async fn handler(State(api): State<Arc<Api>>, Path(symbol): Path<String>) -> (StatusCode, String) {
    api.calls.fetch_add(1, Ordering::SeqCst);
    match symbol.as_str() {
        "AMZN" | "TSLA" => (StatusCode::OK, chart(&symbol, api.bars.load(Ordering::SeqCst)).to_string()),
        "GONE" => (StatusCode::NOT_FOUND, json!({"chart": {"result": null, "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"}}}).to_string()),
        "DOWN" => (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable".to_owned()),
        "EMPTY" => (StatusCode::OK, json!({"chart": {"result": [], "error": null}}).to_string()),
        "GARBLED" => (StatusCode::OK, "<html>rate limited</html>".to_owned()),
        "RAGGED" => {
            let mut c = chart("RAGGED", 5);
            c["chart"]["result"][0]["indicators"]["quote"][0]["close"] = json!([1.0]);
            (StatusCode::OK, c.to_string())
        }
        _ => (StatusCode::FORBIDDEN, "forbidden".to_owned()),
    }
}

async fn start() -> (String, Arc<Api>) {
    let api = Arc::new(Api {
        bars: AtomicUsize::new(10),
        calls: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/v8/finance/chart/{symbol}", get(handler))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, api)
}

fn yahoo(url: &str, symbols: &[&str]) -> Yahoo {
    Yahoo::new(
        url,
        symbols.iter().map(|s| (*s).to_owned()).collect(),
        Duration::from_secs(2),
    )
    .unwrap()
    .with_retry_delay(Duration::from_millis(5))
}

#[tokio::test]
async fn bars_come_oldest_first_missing_ones_skipped_and_each_only_once() {
    let (url, api) = start().await;
    let mut source = yahoo(&url, &["AMZN", "TSLA"]);
    let first = source.poll(0).await.unwrap();
    assert_eq!(first.len(), 2 * 9, "10 bars each, one of them null");
    let amzn: Vec<_> = first.iter().filter(|q| q.symbol == "AMZN").collect();
    assert!(amzn.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    assert_eq!(
        amzn[0].timestamp, 1_700_000_000_000,
        "seconds become milliseconds"
    );
    let file: Value = serde_json::from_str(REFERENCE).unwrap();
    let oldest = &file["bars"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(amzn[0].close, oldest["close"].as_f64().unwrap());
    assert_eq!(amzn[0].volume, oldest["volume"].as_u64().unwrap());
    assert_eq!(amzn[1].previous_close, Some(amzn[0].close));
    assert!(
        source.poll(0).await.unwrap().is_empty(),
        "nothing new, nothing published"
    );
    api.bars.store(12, Ordering::SeqCst);
    let next = source.poll(0).await.unwrap();
    assert_eq!(next.len(), 4, "only the two new bars of each symbol");
}

#[tokio::test]
async fn service_errors_are_reported_clearly() {
    let (url, api) = start().await;
    let err = |symbol: &'static str| {
        let url = url.clone();
        async move { yahoo(&url, &[symbol]).poll(0).await.unwrap_err() }
    };
    match err("GONE").await {
        SourceError::Service {
            symbol,
            code,
            description,
        } => {
            assert_eq!((symbol.as_str(), code.as_str()), ("GONE", "Not Found"));
            assert!(description.contains("delisted"));
        }
        other => panic!("{other}"),
    }
    let before = api.calls.load(Ordering::SeqCst);
    assert!(matches!(
        err("DOWN").await,
        SourceError::Http { status: 503, .. }
    ));
    assert_eq!(
        api.calls.load(Ordering::SeqCst) - before,
        3,
        "5xx is retried, then reported"
    );
    let before = api.calls.load(Ordering::SeqCst);
    assert!(matches!(
        err("NOPE").await,
        SourceError::Http { status: 403, .. }
    ));
    assert_eq!(
        api.calls.load(Ordering::SeqCst) - before,
        1,
        "4xx is not retried"
    );
    assert!(matches!(err("EMPTY").await, SourceError::Empty { .. }));
    assert!(matches!(
        err("GARBLED").await,
        SourceError::Malformed { .. }
    ));
    assert!(
        matches!(err("RAGGED").await, SourceError::Malformed { reason, .. } if reason.contains("other lengths"))
    );
    let mut unreachable = yahoo("http://127.0.0.1:1", &["AMZN"]);
    assert!(matches!(
        unreachable.poll(0).await.unwrap_err(),
        SourceError::Network { .. }
    ));
}
