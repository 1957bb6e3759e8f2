//! The Yahoo chart source against a local HTTP server answering in the chart API's format,
//! with bar values from the reference sample's fallback data.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use quotecast_producer::source::yahoo::{Yahoo, parse_chart};
use quotecast_producer::source::{QuoteSource, SourceError};
use serde_json::{Value, json};

const REFERENCE: &str = include_str!("../../../shared/tests/fixtures/reference-fallback-bars.json");

struct Api {
    /// How many bars the chart currently has.
    bars: AtomicUsize,
    calls: AtomicUsize,
    /// Bars (by index) that come as nulls besides the third one.
    also_missing: Mutex<Vec<usize>>,
}

/// A chart response: `n` one-minute bars, oldest first, the third one missing (nulls).
fn chart(symbol: &str, n: usize) -> Value {
    chart_missing(symbol, n, &[2])
}

/// The seconds timestamp of bar `i` of [`chart`].
fn bar_time(i: usize) -> i64 {
    1_700_000_000 + 60 * i as i64
}

/// A chart response of `n` one-minute bars, oldest first, the bars at `missing` nulls.
fn chart_missing(symbol: &str, n: usize, missing: &[usize]) -> Value {
    let file: Value = serde_json::from_str(REFERENCE).unwrap();
    let mut bars: Vec<Value> = file["bars"].as_array().unwrap().clone();
    bars.reverse();
    let bars = &bars[..n];
    let series = |field: &str| -> Vec<Value> {
        bars.iter()
            .enumerate()
            .map(|(i, b)| {
                if missing.contains(&i) {
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
        "timestamp": (0..n).map(bar_time).collect::<Vec<_>>(),
        "indicators": {"quote": [{"open": series("open"), "high": series("high"), "low": series("low"), "close": series("close"), "volume": series("volume")}]}
    }], "error": null}})
}

async fn handler(State(api): State<Arc<Api>>, Path(symbol): Path<String>) -> (StatusCode, String) {
    api.calls.fetch_add(1, Ordering::SeqCst);
    match symbol.as_str() {
        "AMZN" | "TSLA" => {
            let mut missing = api.also_missing.lock().unwrap().clone();
            missing.push(2);
            (StatusCode::OK, chart_missing(&symbol, api.bars.load(Ordering::SeqCst), &missing).to_string())
        }
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
        also_missing: Mutex::new(Vec::new()),
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

/// The timestamps (ms) and links of one symbol's quotes.
fn links(quotes: &[quotecast_shared::Quote], symbol: &str) -> Vec<(i64, Option<i64>)> {
    quotes
        .iter()
        .filter(|q| q.symbol == symbol)
        .map(|q| (q.timestamp, q.prev_timestamp))
        .collect()
}

#[tokio::test]
async fn each_bar_links_to_the_bar_before_it_across_polls_and_containers() {
    let (url, api) = start().await;
    let ms = |i: usize| bar_time(i) * 1000;
    let mut warm = yahoo(&url, &["AMZN", "TSLA"]);
    let first = warm.poll(0).await.unwrap();
    let mut expected = vec![(ms(0), None), (ms(1), Some(ms(0)))];
    // Bar 2 is missing: bar 3 links to bar 1, the bar before it that exists.
    expected.push((ms(3), Some(ms(1))));
    expected.extend((4..10).map(|i| (ms(i), Some(ms(i - 1)))));
    assert_eq!(links(&first, "AMZN"), expected);
    assert_eq!(
        links(&first, "TSLA"),
        expected,
        "each symbol its own series"
    );

    // The next invocation in the same container: the new bars link on from the last one.
    api.bars.store(12, Ordering::SeqCst);
    let next = warm.poll(0).await.unwrap();
    let expected_next = vec![(ms(10), Some(ms(9))), (ms(11), Some(ms(10)))];
    assert_eq!(links(&next, "AMZN"), expected_next);

    // A cold container sees the whole response: its first bar has no link, and every bar it
    // shares with the warm one has the same link.
    let mut cold = yahoo(&url, &["AMZN"]);
    let all = links(&cold.poll(0).await.unwrap(), "AMZN");
    assert_eq!(all[0], (ms(0), None));
    assert_eq!(all[all.len() - 2..], expected_next[..]);
    let mut warm_all = expected.clone();
    warm_all.extend(expected_next.clone());
    assert_eq!(all, warm_all);

    // Yahoo drops a bar the warm source already emitted (bar 11 now null) and adds two:
    // the response links bar 12 to bar 10, but subscribers hold bar 11, and so does the source.
    api.also_missing.lock().unwrap().push(11);
    api.bars.store(14, Ordering::SeqCst);
    let after_drop = warm.poll(0).await.unwrap();
    assert_eq!(
        links(&after_drop, "AMZN"),
        [(ms(12), Some(ms(11))), (ms(13), Some(ms(12)))]
    );
    // Without memory only the response's series is known.
    let mut cold = yahoo(&url, &["AMZN"]);
    let all = links(&cold.poll(0).await.unwrap(), "AMZN");
    assert_eq!(all[all.len() - 2], (ms(12), Some(ms(10))));
}

#[test]
fn a_response_series_only_moves_forward() {
    // Bar 4 repeats bar 3's time and bar 6 goes back before bar 5: both are skipped, and
    // bar 7 links to bar 5, the last one kept.
    let mut c = chart_missing("AMZN", 8, &[]);
    let times = &mut c["chart"]["result"][0]["timestamp"];
    times[4] = json!(bar_time(3));
    times[6] = json!(bar_time(5) - 30);
    let quotes = parse_chart("AMZN", &c.to_string()).unwrap();
    let ms = |i: usize| bar_time(i) * 1000;
    assert_eq!(
        links(&quotes, "AMZN"),
        [
            (ms(0), None),
            (ms(1), Some(ms(0))),
            (ms(2), Some(ms(1))),
            (ms(3), Some(ms(2))),
            (ms(5), Some(ms(3))),
            (ms(7), Some(ms(5))),
        ]
    );
    // The close chain follows the bars kept.
    assert_eq!(quotes[4].previous_close, Some(quotes[3].close));
    assert_eq!(quotes[5].previous_close, Some(quotes[4].close));
}
