//! `Query.history` over real HTTP, answered by the local twin of
//! `schema/resolvers/history.js` from the store the consumer writes: the same arguments,
//! defaults, order, limits and errors as the resolver.
#![allow(clippy::unwrap_used)]

// The AppSync twin's test harness (a bare AppSync server, the test keys, clients), shared
// rather than copied; a test that needs DynamoDB beside it composes a `LocalServer` itself.
#[path = "../../appsync/tests/common/mod.rs"]
mod common;

use common::*;
use quotecast_dynamodb::{HistoryStore, Item};
use quotecast_shared::graphql::GraphqlRequest;
use serde_json::{Map, Value, json};

const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 60_000;

/// A store's directory under cargo's `target/tmp`, not the machine's temporary directory.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "quotecast-history-query-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The item the consumer writes for bar `i` of `symbol`.
fn bar(symbol: &str, i: i64) -> Item {
    let timestamp = T0 + i * STEP;
    let mut quote = json!({"symbol": symbol, "timestamp": timestamp, "open": 1.0, "high": 2.0,
                           "low": 0.5, "close": 1.5, "volume": i});
    if i > 0 {
        quote["prevTimestamp"] = json!(timestamp - STEP);
    }
    let mut attributes = Map::new();
    attributes.insert("data".into(), json!({"S": quote.to_string()}));
    attributes.insert("expiresAt".into(), json!({"N": "4102444800"}));
    Item::new(symbol, timestamp, attributes)
}

async fn server_with(name: &str, items: Vec<Item>) -> (TestServer, HistoryStore) {
    let store = HistoryStore::open(&scratch(name), "quotecast-history").unwrap();
    store.write(items, Vec::new()).await.unwrap();
    let server = start(config().with_history(store.clone())).await;
    (server, store)
}

async fn history(server: &TestServer, args: &str) -> Value {
    let request = GraphqlRequest::new(format!("{{ history({args}) {{ name data }} }}"));
    let (status, body) = server.reader().post(&request).await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// The `timestamp` of each bar of a `history` answer, checking each is `{name, data}`.
fn times(body: &Value, symbol: &str) -> Vec<i64> {
    body["data"]["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no list: {body}"))
        .iter()
        .map(|bar| {
            assert_eq!(bar["name"], symbol);
            let data: Value = serde_json::from_str(bar["data"].as_str().unwrap()).unwrap();
            data["timestamp"].as_i64().unwrap()
        })
        .collect()
}

fn expected(range: std::ops::Range<i64>) -> Vec<i64> {
    range.map(|i| T0 + i * STEP).collect()
}

#[tokio::test]
async fn the_latest_bars_come_oldest_first_and_after_pages_forward() {
    let mut items: Vec<Item> = (0..100).map(|i| bar("AMZN", i)).collect();
    items.extend((0..5).map(|i| bar("TSLA", i)));
    let (server, _store) = server_with("latest", items).await;

    // Default limit 60: the most recent 60, oldest first.
    let body = history(&server, r#"name: "AMZN""#).await;
    assert_eq!(times(&body, "AMZN"), expected(40..100));
    let body = history(&server, r#"name: "AMZN", limit: 3"#).await;
    assert_eq!(times(&body, "AMZN"), expected(97..100));
    // The public key reads it; nothing of another symbol leaks in.
    let body = history(&server, r#"name: "TSLA", limit: 1000"#).await;
    assert_eq!(times(&body, "TSLA"), expected(0..5));

    // `after`: the first `limit` bars strictly after it, oldest first.
    let after = T0 + 9 * STEP;
    let body = history(
        &server,
        &format!(r#"name: "AMZN", after: {after}, limit: 5"#),
    )
    .await;
    assert_eq!(times(&body, "AMZN"), expected(10..15));
    let last = T0 + 99 * STEP;
    let body = history(&server, &format!(r#"name: "AMZN", after: {last}"#)).await;
    assert_eq!(times(&body, "AMZN"), Vec::<i64>::new());

    // Each bar is the data a subscription delivered: it links to the one before it.
    let body = history(&server, r#"name: "AMZN", limit: 10"#).await;
    let bars: Vec<Value> = body["data"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| serde_json::from_str(b["data"].as_str().unwrap()).unwrap())
        .collect();
    for pair in bars.windows(2) {
        assert_eq!(pair[1]["prevTimestamp"], pair[0]["timestamp"]);
    }

    // Aliases and variables work as for any field; the selection set shapes each bar.
    let request = GraphqlRequest::new(
        "query($n: String!, $a: Float) { a: history(name: $n, limit: 2) { name } \
         b: history(name: $n, after: $a, limit: 1) { __typename data } }",
    )
    .with_variable("n", "AMZN")
    .with_variable("a", T0 as f64);
    let (_, body) = server.reader().post(&request).await.unwrap();
    assert_eq!(
        body["data"]["a"],
        json!([{"name": "AMZN"}, {"name": "AMZN"}])
    );
    assert_eq!(body["data"]["b"][0]["__typename"], "Channel");
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn unknown_names_are_empty_and_bad_arguments_are_refused_in_appsyncs_shape() {
    let (server, _store) = server_with("bad", vec![bar("AMZN", 0)]).await;
    for name in ["ZZZZ", "", "amzn", &"X".repeat(40), &"X".repeat(600)] {
        let body = history(&server, &format!("name: {name:?}")).await;
        assert_eq!(body["data"]["history"], json!([]), "{name}: {body}");
    }
    for (args, message) in [
        (
            r#"name: "AMZN", limit: 0"#,
            "limit must be between 1 and 1000, got 0",
        ),
        (
            r#"name: "AMZN", limit: 1001"#,
            "limit must be between 1 and 1000, got 1001",
        ),
        (
            r#"name: "AMZN", limit: -5"#,
            "limit must be between 1 and 1000, got -5",
        ),
        (
            r#"name: "AMZN", after: -1"#,
            "after must be a whole number of milliseconds ≥ 0, got -1",
        ),
        (
            r#"name: "AMZN", after: 1.5"#,
            "after must be a whole number of milliseconds ≥ 0, got 1.5",
        ),
        (
            r#"name: "AMZN", after: 1e22"#,
            "after must be a whole number of milliseconds ≥ 0, got 1e+22",
        ),
    ] {
        let body = history(&server, args).await;
        assert_eq!(body["data"]["history"], Value::Null, "{args}: {body}");
        let error = &body["errors"][0];
        assert_eq!(error["errorType"], "BadRequestException", "{args}: {body}");
        assert_eq!(error["message"], message, "{args}");
        assert_eq!(error["path"], json!(["history"]));
    }
    // A missing name is a validation error before any resolver runs.
    let body = history(&server, "limit: 5").await;
    assert!(body["data"].is_null(), "{body}");
}

/// Names are refused past 512 UTF-16 units, as `name.length` counts in history.js, even when
/// bars are stored under them; up to 512 they are read.
#[tokio::test]
async fn names_past_512_utf16_units_read_nothing_even_when_stored() {
    let clef = "\u{1D11E}"; // one character, two UTF-16 units
    let names = [
        ("X".repeat(512), true),
        ("X".repeat(513), false),
        (clef.repeat(256), true),
        (clef.repeat(257), false),
    ];
    let items = names.iter().map(|(name, _)| bar(name, 0)).collect();
    let (server, _store) = server_with("names", items).await;
    for (name, read) in &names {
        let body = history(&server, &format!("name: {name:?}")).await;
        let got = body["data"]["history"].as_array().map_or(0, Vec::len);
        assert_eq!(
            got,
            usize::from(*read),
            "{} units: {body}",
            name.encode_utf16().count()
        );
    }
}

#[tokio::test]
async fn an_unreadable_stored_item_is_skipped_never_a_failed_query() {
    let mut items: Vec<Item> = (0..4).map(|i| bar("AMZN", i)).collect();
    let broken = |i: i64, data: Value| {
        let mut attributes = Map::new();
        if !data.is_null() {
            attributes.insert("data".into(), data);
        }
        Item::new("AMZN", T0 + i * STEP, attributes)
    };
    items[1] = broken(1, json!({"S": "{not json"}));
    items[2] = broken(2, json!({"N": "12"}));
    items.push(broken(5, Value::Null));
    items.push(broken(6, json!({"S": "[1,2]"})));
    let (server, _store) = server_with("unreadable", items).await;
    let body = history(&server, r#"name: "AMZN""#).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        times(&body, "AMZN"),
        vec![T0, T0 + 3 * STEP],
        "only the readable bars"
    );
}

async fn history_page(server: &TestServer, args: &str) -> Value {
    let request = GraphqlRequest::new(format!(
        "{{ historyPage({args}) {{ items {{ name data timestamp }} next }} }}"
    ));
    let (status, body) = server.reader().post(&request).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["historyPage"].clone()
}

/// The stored time of each item of a `historyPage` answer.
fn page_times(page: &Value) -> Vec<i64> {
    let items = page["items"].as_array().unwrap_or_else(|| panic!("{page}"));
    items
        .iter()
        .map(|b| b["timestamp"].as_i64().unwrap())
        .collect()
}

/// Pages a channel the way a client would, from `after`, with `limit` per page; `by_count`
/// stops at the first page shorter than `limit` (README's rule before `historyPage`), else at
/// `next: null`.
async fn page_through(server: &TestServer, limit: usize, by_count: bool) -> Vec<i64> {
    let (mut after, mut got) = (0i64, Vec::new());
    for _ in 0..100 {
        let page = history_page(
            server,
            &format!(r#"name: "AMZN", after: {after}, limit: {limit}"#),
        )
        .await;
        let times = page_times(&page);
        got.extend(&times);
        match (by_count, page["next"].as_f64()) {
            (true, _) if times.len() < limit => return got,
            (true, _) => after = *times.last().unwrap(),
            (false, None) => return got,
            (false, Some(next)) => after = next as i64,
        }
    }
    panic!("paging did not end")
}

/// Why a client pages on `next`: a page comes back short when an unreadable item is skipped
/// or when it fills DynamoDB's 1 MB, not only at the end.
#[tokio::test]
async fn paging_on_next_reads_every_bar_where_a_short_page_would_end_it_early() {
    let mut items: Vec<Item> = (0..30).map(|i| bar("AMZN", i)).collect();
    // Bar 3 unreadable; bars 10..14 of 300 KB each, so a page of them stops at 1 MB.
    items[3] = Item::new("AMZN", T0 + 3 * STEP, Map::new());
    for item in &mut items[10..14] {
        let pad = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
        item.attributes.insert("data".into(), json!({ "S": pad }));
    }
    let (server, _store) = server_with("page", items).await;
    let readable: Vec<i64> = (0..30).filter(|i| *i != 3).map(|i| T0 + i * STEP).collect();

    let by_count = page_through(&server, 5, true).await;
    assert_eq!(
        by_count,
        readable[..4],
        "the old rule stops at the page that skipped bar 3"
    );
    assert_eq!(page_through(&server, 5, false).await, readable);
    assert_eq!(page_through(&server, 7, false).await, readable);

    // The page that holds the skipped item names it as where to continue.
    let page = history_page(&server, r#"name: "AMZN", after: 0, limit: 4"#).await;
    assert_eq!(page_times(&page), expected(0..3));
    assert_eq!(page["next"].as_i64(), Some(T0 + 3 * STEP));
    // A page stopped at 1 MB: four bars of seven, and where to continue.
    let after = T0 + 9 * STEP;
    let page = history_page(
        &server,
        &format!(r#"name: "AMZN", after: {after}, limit: 7"#),
    )
    .await;
    assert_eq!(page_times(&page), expected(10..14));
    assert_eq!(page["next"].as_i64(), Some(T0 + 13 * STEP));
    // The end, even when the limit falls on the last bar after an empty page.
    let last = T0 + 29 * STEP;
    let page = history_page(
        &server,
        &format!(r#"name: "AMZN", after: {}, limit: 1"#, last - STEP),
    )
    .await;
    assert_eq!(
        (page_times(&page), page["next"].as_i64()),
        (vec![last], Some(last))
    );
    let page = history_page(
        &server,
        &format!(r#"name: "AMZN", after: {last}, limit: 1"#),
    )
    .await;
    assert_eq!((page_times(&page), &page["next"]), (vec![], &Value::Null));
    // The most recent bars end at the end; items carry their own name and data as well.
    let page = history_page(&server, r#"name: "AMZN", limit: 2"#).await;
    assert_eq!(page_times(&page), expected(28..30));
    assert_eq!(page["next"], Value::Null);
    assert_eq!(page["items"][0]["name"], "AMZN");
    let data: Value = serde_json::from_str(page["items"][1]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["timestamp"].as_i64(), Some(last));
    // An unknown name: an empty page at its end.
    let page = history_page(&server, r#"name: "ZZZZ", after: 0"#).await;
    assert_eq!(page, json!({"items": [], "next": null}));
}

#[tokio::test]
async fn a_server_without_a_store_says_so_and_the_reference_schema_has_no_history() {
    let server = start(config()).await;
    let body = history(&server, r#"name: "AMZN""#).await;
    assert_eq!(body["data"]["history"], Value::Null);
    assert_eq!(body["errors"][0]["errorType"], "DataSourceUnavailable");

    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/reference/schema.graphql"
    ))
    .unwrap();
    let mut with_reference = config();
    with_reference.schema_sdl = Some(reference.into());
    let server = start(with_reference).await;
    let body = history(&server, r#"name: "AMZN""#).await;
    assert!(body["data"].is_null(), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("history"), "{message}");
}

/// `history` carries `@aws_api_key @aws_iam`: a SigV4-signed query reads the same bars; a
/// forged signature reads nothing.
#[tokio::test]
async fn iam_reads_history_too() {
    let (server, _store) = server_with("iam", (0..3).map(|i| bar("AMZN", i)).collect()).await;
    let body = json!({"query": r#"{ history(name: "AMZN") { name data } }"#}).to_string();
    let url = server.graphql_url();
    let post = |secret: &str| {
        let mut request = reqwest::Client::new().post(&url).body(body.clone());
        for (k, v) in iam_headers(&url, body.as_bytes(), secret) {
            if k != "host" {
                request = request.header(k, v);
            }
        }
        request.send()
    };
    let response = post(SECRET).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(times(&answer, "AMZN"), expected(0..3));
    let forged = post("not-the-secret").await.unwrap();
    assert_eq!(
        forged.status(),
        403,
        "AppSync refuses a bad signature with 403"
    );
    let answer: Value = forged.json().await.unwrap();
    assert!(answer.get("data").is_none_or(Value::is_null), "{answer}");
}

/// The binary composes services: the DynamoDB endpoint is mounted beside AppSync on
/// `POST /` only when there is a store, and AppSync's routes are there either way.
#[tokio::test]
async fn the_local_server_mounts_dynamodb_beside_appsync_only_with_a_store() {
    use quotecast::server::LocalServer;

    async fn serve(history: Option<HistoryStore>) -> (String, tokio::sync::oneshot::Sender<()>) {
        let server = LocalServer::bind("127.0.0.1:0".parse().unwrap(), config(), history)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        (format!("http://{addr}"), stop)
    }
    async fn describe(base: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{base}/"))
            .header("x-amz-target", "DynamoDB_20120810.DescribeTable")
            .header("content-type", "application/x-amz-json-1.0")
            .body(r#"{"TableName": "x"}"#)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    let (bare, stop) = serve(None).await;
    assert_eq!(
        describe(&bare).await.0,
        404,
        "no store, no DynamoDB endpoint"
    );
    let _ = stop.send(());

    let dir = scratch("composed");
    let _ = std::fs::remove_dir_all(&dir);
    let store = HistoryStore::open(&dir, quotecast_dynamodb::DEFAULT_TABLE_NAME).unwrap();
    let (composed, stop) = serve(Some(store.clone())).await;
    let (status, body) = describe(&composed).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#MissingAuthenticationTokenException"
    );
    let reader =
        quotecast_appsync_client::GraphqlHttp::new(&format!("{composed}/graphql"), API_KEY);
    let (status, answer) = reader
        .post(&GraphqlRequest::new(
            r#"query { history(name: "AMZN") { name } }"#,
        ))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["history"], json!([]), "{answer}");
    let _ = stop.send(());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The store behind `history`, counting the reads it is asked for.
#[derive(Debug)]
struct CountingReads {
    store: HistoryStore,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl quotecast_aws_local::data_source::HistorySource for CountingReads {
    fn latest(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<
        Vec<quotecast_aws_local::data_source::StoredBar>,
        quotecast_aws_local::data_source::DataSourceError,
    > {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        quotecast_aws_local::data_source::HistorySource::latest(&self.store, name, limit)
    }

    fn after(
        &self,
        name: &str,
        after: i64,
        limit: usize,
    ) -> Result<
        quotecast_aws_local::data_source::StoredPage,
        quotecast_aws_local::data_source::DataSourceError,
    > {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        quotecast_aws_local::data_source::HistorySource::after(&self.store, name, after, limit)
    }
}

/// One public-key request of 5,000 aliased `history(limit: 1000)` fields was 5,000 store
/// reads (≈4.9 M items decoded, ≈1 GB of answer); with the API's `ResolverCountLimit` it is
/// refused before any read.
#[tokio::test]
async fn five_thousand_aliased_history_fields_are_refused_without_a_read() {
    let store = HistoryStore::open(&scratch("aliases"), "quotecast-history").unwrap();
    store
        .write((0..10).map(|i| bar("AMZN", i)).collect(), Vec::new())
        .await
        .unwrap();
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = CountingReads {
        store: store.clone(),
        reads: reads.clone(),
    };
    let server = start(config().with_history(counting)).await;
    let fields: String = (0..5_000)
        .map(|i| format!(r#"h{i}: history(name: "AMZN", limit: 1000) {{ name }} "#))
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = server
        .reader()
        .post(&GraphqlRequest::new(format!("{{ {fields} }}")))
        .await
        .unwrap();
    println!(
        "5,000 aliased history fields refused in {:?}",
        started.elapsed()
    );
    assert_eq!(status, 200);
    assert_eq!(body["data"], Value::Null);
    assert_eq!(
        body["errors"][0]["errorType"],
        "ResolverExecutionLimitReached"
    );
    assert_eq!(
        reads.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no store read"
    );
    // Within the limit, each field is one read.
    let fields: String = (0..10)
        .map(|i| format!(r#"h{i}: history(name: "AMZN", limit: 1000) {{ name }} "#))
        .collect();
    let (_, body) = server
        .reader()
        .post(&GraphqlRequest::new(format!("{{ {fields} }}")))
        .await
        .unwrap();
    assert_eq!(
        body["data"]["h9"].as_array().map(Vec::len),
        Some(10),
        "{body}"
    );
    assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 10);
}
