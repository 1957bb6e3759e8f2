//! The DynamoDB twin's endpoint on a port of its own (`POST /`, `X-Amz-Target`), driven by AWS's own
//! Rust SDK over a real socket, with a history store in a scratch directory; and the same
//! scenario against moto's server (`quotecast_aws_local::moto`, installed by `cargo xtask
//! setup`), which must give the same items, order and error types.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    PutRequest, ScalarAttributeType, Select, WriteRequest,
};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use common::{ACCESS_KEY_ID, SECRET, TestServer};
use quotecast_aws_local::moto;
use quotecast_dynamodb::{DEFAULT_TABLE_NAME, HistoryStore, StoreError};

const TABLE: &str = DEFAULT_TABLE_NAME;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("quotecast-dynamodb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The DynamoDB twin on its own port with a store in `dir`.
async fn local(dir: &Path) -> (TestServer, HistoryStore) {
    let store = HistoryStore::open(dir, TABLE).unwrap();
    let server = common::start(common::config().with_history(store.clone())).await;
    (server, store)
}

fn endpoint(server: &TestServer) -> String {
    format!("http://{}", server.addr)
}

/// AWS's SDK for `url`, no retries (so every refusal is seen as it came).
fn sdk(url: &str, key_id: &str, secret: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(key_id, secret, None, None, "test"))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

fn item(symbol: &str, ts: &str, data: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("symbol".to_owned(), AttributeValue::S(symbol.to_owned())),
        ("timestamp".to_owned(), AttributeValue::N(ts.to_owned())),
        ("data".to_owned(), AttributeValue::S(data.to_owned())),
    ])
}

fn put(item: HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
        .build()
}

fn delete(symbol: &str, ts: i64) -> WriteRequest {
    let key = HashMap::from([
        ("symbol".to_owned(), AttributeValue::S(symbol.to_owned())),
        ("timestamp".to_owned(), AttributeValue::N(ts.to_string())),
    ]);
    WriteRequest::builder()
        .delete_request(DeleteRequest::builder().set_key(Some(key)).build().unwrap())
        .build()
}

fn bars(symbol: &str, stamps: impl Iterator<Item = i64>) -> Vec<WriteRequest> {
    stamps
        .map(|t| put(item(symbol, &t.to_string(), &format!("{{\"close\":{t}}}"))))
        .collect()
}

/// `ok`, or the error code the endpoint answered with.
async fn batch(client: &Client, table: &str, requests: Vec<WriteRequest>) -> String {
    match client
        .batch_write_item()
        .request_items(table, requests)
        .send()
        .await
    {
        Ok(out) => match out.unprocessed_items() {
            Some(u) if !u.is_empty() => "unprocessed".to_owned(),
            _ => "ok".to_owned(),
        },
        Err(e) => e.code().unwrap_or("no code").to_owned(),
    }
}

/// An item as sorted text, to compare whole items across endpoints.
fn show(item: &HashMap<String, AttributeValue>) -> String {
    let sorted: BTreeMap<_, _> = item.iter().collect();
    format!("{sorted:?}")
}

fn stamp(item: &HashMap<String, AttributeValue>) -> i64 {
    match item.get("timestamp") {
        Some(AttributeValue::N(n)) => n.parse().unwrap(),
        other => panic!("no timestamp: {other:?}"),
    }
}

/// A query on `symbol`: timestamps (and whether there is more), or the error code.
async fn query(
    client: &Client,
    table: &str,
    symbol: &str,
    sort: Option<(&str, &[i64])>,
    limit: Option<i32>,
    forward: bool,
) -> String {
    let mut q = client
        .query()
        .table_name(table)
        .expression_attribute_values(":s", AttributeValue::S(symbol.to_owned()))
        .scan_index_forward(forward)
        .set_limit(limit);
    let mut expression = "symbol = :s".to_owned();
    if let Some((condition, values)) = sort {
        expression = format!("{expression} AND {condition}");
        q = q.expression_attribute_names("#ts", "timestamp");
        for (i, v) in values.iter().enumerate() {
            q = q.expression_attribute_values(format!(":t{i}"), AttributeValue::N(v.to_string()));
        }
    }
    match q.key_condition_expression(expression).send().await {
        Ok(out) => {
            let stamps: Vec<i64> = out.items().iter().map(stamp).collect();
            assert_eq!(out.count() as usize, stamps.len());
            assert_eq!(out.scanned_count() as usize, stamps.len());
            let more = if out.last_evaluated_key().is_some() {
                " more"
            } else {
                ""
            };
            format!("{stamps:?}{more}")
        }
        Err(e) => e.code().unwrap_or("no code").to_owned(),
    }
}

/// Every item of `symbol` by pages of `page` (ExclusiveStartKey), and the page sizes.
async fn all_pages(client: &Client, table: &str, symbol: &str, page: i32) -> String {
    let mut start = None;
    let mut sizes = Vec::new();
    let mut items = Vec::new();
    loop {
        let out = client
            .query()
            .table_name(table)
            .key_condition_expression("symbol = :s")
            .expression_attribute_values(":s", AttributeValue::S(symbol.to_owned()))
            .limit(page)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        sizes.push(out.items().len());
        items.extend(out.items().iter().map(stamp));
        start = out.last_evaluated_key().cloned();
        if start.is_none() || sizes.len() > 100 {
            break;
        }
    }
    format!("{items:?} in pages {sizes:?}")
}

/// The scenario both endpoints run: what each step gave, to compare.
async fn scenario(client: &Client) -> Vec<(&'static str, String)> {
    let mut seen = Vec::new();
    seen.push((
        "put 25",
        batch(client, TABLE, bars("AMZN", (1..=25).rev())).await,
    ));
    seen.push((
        "put other",
        batch(client, TABLE, bars("AMZNX", 1..=3)).await,
    ));
    seen.push((
        "latest 5",
        query(client, TABLE, "AMZN", None, Some(5), false).await,
    ));
    let after = query(
        client,
        TABLE,
        "AMZN",
        Some(("#ts > :t0", &[20])),
        None,
        true,
    )
    .await;
    seen.push(("after 20", after));
    let between = Some(("#ts BETWEEN :t0 AND :t1", &[5, 8][..]));
    seen.push((
        "between",
        query(client, TABLE, "AMZN", between, None, true).await,
    ));
    seen.push((
        "<= 2",
        query(
            client,
            TABLE,
            "AMZN",
            Some(("#ts <= :t0", &[2])),
            None,
            true,
        )
        .await,
    ));
    seen.push((
        "< 2",
        query(client, TABLE, "AMZN", Some(("#ts < :t0", &[2])), None, true).await,
    ));
    seen.push((
        ">= 24",
        query(
            client,
            TABLE,
            "AMZN",
            Some(("#ts >= :t0", &[24])),
            None,
            false,
        )
        .await,
    ));
    seen.push((
        "= 7",
        query(client, TABLE, "AMZN", Some(("#ts = :t0", &[7])), None, true).await,
    ));
    seen.push(("none", query(client, TABLE, "NONE", None, None, true).await));
    // A put replaces the item of the same key (a replay is harmless).
    let replaced = vec![put(item("AMZN", "3", "replaced"))];
    seen.push(("replace 3", batch(client, TABLE, replaced).await));
    let out = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("symbol = :s AND #ts = :t")
        .expression_attribute_names("#ts", "timestamp")
        .expression_attribute_values(":s", AttributeValue::S("AMZN".into()))
        .expression_attribute_values(":t", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    seen.push((
        "item 3",
        out.items().iter().map(show).collect::<Vec<_>>().join("; "),
    ));
    seen.push((
        "delete 1, put 26",
        batch(
            client,
            TABLE,
            vec![delete("AMZN", 1), bars("AMZN", 26..=26).remove(0)],
        )
        .await,
    ));
    seen.push(("pages of 10", all_pages(client, TABLE, "AMZN", 10).await));
    let count = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("symbol = :s")
        .expression_attribute_values(":s", AttributeValue::S("AMZN".into()))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    seen.push((
        "count",
        format!("{} {}", count.count(), count.items().len()),
    ));
    let latest = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("symbol = :s")
        .expression_attribute_values(":s", AttributeValue::S("AMZN".into()))
        .scan_index_forward(false)
        .limit(2)
        .send()
        .await
        .unwrap();
    seen.push((
        "latest 2 items",
        latest
            .items()
            .iter()
            .map(show)
            .collect::<Vec<_>>()
            .join("; "),
    ));
    let table = client
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let keys: Vec<String> = table
        .key_schema()
        .iter()
        .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
        .collect();
    let mut types: Vec<String> = table
        .attribute_definitions()
        .iter()
        .map(|a| format!("{} {}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    types.sort();
    seen.push((
        "describe",
        format!(
            "{} {keys:?} {types:?}",
            table.table_name().unwrap_or_default()
        ),
    ));
    // Refusals: each changes nothing.
    let no_sort_key = HashMap::from([("symbol".to_owned(), AttributeValue::S("AMZN".into()))]);
    let twice = item("AMZN", "31", "x");
    let refusals = [
        // The bad item first: moto stores the items before a bad one (DynamoDB does not,
        // nor does the local endpoint: checked below).
        (
            "missing key",
            vec![put(no_sort_key), put(item("AMZN", "30", "x"))],
        ),
        // The same item twice, attributes in the same order: moto only sees duplicates that
        // serialise alike (DynamoDB refuses any repeated key: checked locally below).
        ("duplicates", vec![put(twice.clone()), put(twice)]),
        (
            "wrong key type",
            vec![put(HashMap::from([
                ("symbol".to_owned(), AttributeValue::N("1".into())),
                ("timestamp".to_owned(), AttributeValue::N("32".into())),
            ]))],
        ),
        (
            "too large",
            vec![put(item("AMZN", "33", &"x".repeat(410_000)))],
        ),
        (
            "hash key over 2048 bytes",
            vec![put(item(&"X".repeat(2049), "34", "x"))],
        ),
    ];
    for (name, requests) in refusals {
        seen.push((name, batch(client, TABLE, requests).await));
    }

    seen.push((
        "unknown table",
        batch(client, "nope", bars("AMZN", 40..=40)).await,
    ));
    seen.push((
        "query unknown table",
        query(client, "nope", "AMZN", None, None, true).await,
    ));
    let described = client.describe_table().table_name("nope").send().await;
    seen.push((
        "describe unknown",
        described
            .unwrap_err()
            .code()
            .unwrap_or("no code")
            .to_owned(),
    ));
    seen.push((
        "after refusals",
        query(
            client,
            TABLE,
            "AMZN",
            Some(("#ts >= :t0", &[20])),
            None,
            true,
        )
        .await,
    ));
    seen
}

/// What the scenario must give (DynamoDB's documented behaviour; moto agrees on all of it).
fn expected() -> Vec<(&'static str, String)> {
    let item = |t: i64, data: &str| {
        format!("{{\"data\": S({data:?}), \"symbol\": S(\"AMZN\"), \"timestamp\": N(\"{t}\")}}")
    };
    vec![
        ("put 25", "ok".into()),
        ("put other", "ok".into()),
        ("latest 5", "[25, 24, 23, 22, 21] more".into()),
        ("after 20", "[21, 22, 23, 24, 25]".into()),
        ("between", "[5, 6, 7, 8]".into()),
        ("<= 2", "[1, 2]".into()),
        ("< 2", "[1]".into()),
        (">= 24", "[25, 24]".into()),
        ("= 7", "[7]".into()),
        ("none", "[]".into()),
        ("replace 3", "ok".into()),
        ("item 3", item(3, "replaced")),
        ("delete 1, put 26", "ok".into()),
        (
            "pages of 10",
            format!("{:?} in pages [10, 10, 5]", (2..=26).collect::<Vec<i64>>()),
        ),
        ("count", "25 0".into()),
        (
            "latest 2 items",
            format!(
                "{}; {}",
                item(26, "{\"close\":26}"),
                item(25, "{\"close\":25}")
            ),
        ),
        (
            "describe",
            format!(
                "{TABLE} [\"symbol HASH\", \"timestamp RANGE\"] [\"symbol S\", \"timestamp N\"]"
            ),
        ),
        ("missing key", "ValidationException".into()),
        ("duplicates", "ValidationException".into()),
        ("wrong key type", "ValidationException".into()),
        ("too large", "ValidationException".into()),
        ("hash key over 2048 bytes", "ValidationException".into()),
        ("unknown table", "ResourceNotFoundException".into()),
        ("query unknown table", "ResourceNotFoundException".into()),
        ("describe unknown", "ResourceNotFoundException".into()),
        (
            "after refusals",
            format!("{:?}", (20..=26).collect::<Vec<i64>>()),
        ),
    ]
}

#[tokio::test]
async fn the_sdk_writes_queries_and_describes_the_local_table() {
    let dir = scratch("scenario");
    let (server, store) = local(&dir).await;
    let client = sdk(&endpoint(&server), ACCESS_KEY_ID, SECRET);
    let seen = scenario(&client).await;
    for (got, wanted) in seen.iter().zip(expected()) {
        assert_eq!(*got, wanted);
    }
    assert_eq!(seen.len(), expected().len());
    // The store the resolver reads holds what the endpoint wrote.
    let latest = store.latest("AMZN", 2).unwrap();
    assert_eq!(
        latest.iter().map(|i| i.timestamp).collect::<Vec<_>>(),
        [25, 26]
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Refusals DynamoDB makes (its documentation) and moto does not (so they are not in the
/// shared scenario).
#[tokio::test]
async fn over_25_writes_and_fractional_sort_keys_are_refused_whole() {
    let dir = scratch("refusals");
    let (server, store) = local(&dir).await;
    let client = sdk(&endpoint(&server), ACCESS_KEY_ID, SECRET);
    let e = client
        .batch_write_item()
        .request_items(TABLE, bars("AMZN", 1..=26))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    let mut requests = bars("AMZN", 1..=3);
    requests.push(put(item("AMZN", "1.5", "x")));
    let e = client
        .batch_write_item()
        .request_items(TABLE, requests)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"));
    assert!(e.message().unwrap().contains("whole number"), "{e:?}");
    for huge in ["9223372036854775808", "1e3"] {
        let e = client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item("AMZN", huge, "x")))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{huge}");
    }
    let e = client
        .query()
        .table_name(TABLE)
        .key_condition_expression("symbol = :s AND timestamp > :t")
        .expression_attribute_values(":s", AttributeValue::S("AMZN".into()))
        .expression_attribute_values(":t", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap_err();
    assert!(e.message().unwrap().contains("reserved keyword"), "{e:?}");
    // Numbers outside DynamoDB's documented range (1E-130 to 9.99…E+125 in magnitude; moto
    // 5.x takes them): refused with DynamoDB's messages, in a batch and alone.
    for (number, why) in [
        ("1E+126", "Number overflow"),
        ("1e9999", "Number overflow"),
        ("1E-131", "Number underflow"),
    ] {
        let mut out_of_range = item("AMZN", "9", "x");
        out_of_range.insert("close".into(), AttributeValue::N(number.into()));
        let e = client
            .put_item()
            .table_name(TABLE)
            .set_item(Some(out_of_range.clone()))
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{number}");
        assert!(e.message().unwrap().starts_with(why), "{number}: {e:?}");
        let e = client
            .batch_write_item()
            .request_items(TABLE, vec![put(out_of_range)])
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{number}");
    }
    // One key twice in a batch, as two different items, or as a put and a delete.
    for requests in [
        vec![put(item("AMZN", "7", "x")), put(item("AMZN", "7", "y"))],
        vec![put(item("AMZN", "7", "x")), delete("AMZN", 7)],
    ] {
        let e = client
            .batch_write_item()
            .request_items(TABLE, requests)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            e.message(),
            Some("Provided list of item keys contains duplicates")
        );
    }
    // A batch is refused whole: the good items before a bad one are not written either.
    let no_sort_key = HashMap::from([("symbol".to_owned(), AttributeValue::S("AMZN".into()))]);
    let requests = vec![put(item("AMZN", "8", "x")), put(no_sort_key)];
    let e = client
        .batch_write_item()
        .request_items(TABLE, requests)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.message(),
        Some("One or more parameter values were invalid: Missing the key timestamp in the item")
    );
    assert_eq!(store.item_count().unwrap(), 0);
    // PutItem is a write like the others.
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(item("AMZN", "-5", "negative")))
        .send()
        .await
        .unwrap();
    assert_eq!(store.latest("AMZN", 5).unwrap()[0].timestamp, -5);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unsigned_and_wrongly_signed_requests_are_refused_and_write_nothing() {
    let dir = scratch("auth");
    let (server, store) = local(&dir).await;
    let url = endpoint(&server);
    let wrong_secret = sdk(&url, ACCESS_KEY_ID, "not-the-secret");
    let e = wrong_secret
        .batch_write_item()
        .request_items(TABLE, bars("AMZN", 1..=2))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"), "{e:?}");
    let unknown_key = sdk(&url, "AKIDUNKNOWN000000000", SECRET);
    let e = unknown_key
        .batch_write_item()
        .request_items(TABLE, bars("AMZN", 1..=2))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"), "{e:?}");
    let body = batch_body(1);
    let unsigned = reqwest::Client::new()
        .post(&url)
        .header("x-amz-target", "DynamoDB_20120810.BatchWriteItem")
        .header("content-type", "application/x-amz-json-1.0")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    let refusal: serde_json::Value = unsigned.json().await.unwrap();
    assert_eq!(
        refusal,
        serde_json::json!({
            "__type": "com.amazon.coral.service#MissingAuthenticationTokenException",
            "message": "Request is missing Authentication Token",
        })
    );
    // An AppSync signature is not a DynamoDB one.
    let appsync = raw(&url, "BatchWriteItem", body.as_bytes(), "appsync").await;
    assert_eq!(appsync.0, 400);
    assert_eq!(
        appsync.1["__type"],
        "com.amazon.coral.service#InvalidSignatureException"
    );
    assert_eq!(store.item_count().unwrap(), 0);
    let written = raw(&url, "BatchWriteItem", body.as_bytes(), "dynamodb").await;
    assert_eq!(written, (200, serde_json::json!({"UnprocessedItems": {}})));
    assert_eq!(store.item_count().unwrap(), 1);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn batch_body(n: i64) -> String {
    let requests: Vec<serde_json::Value> = (1..=n)
        .map(|t| {
            serde_json::json!({"PutRequest": {"Item": {
                "symbol": {"S": "AMZN"}, "timestamp": {"N": t.to_string()}, "data": {"S": "{}"}
            }}})
        })
        .collect();
    serde_json::json!({"RequestItems": {TABLE: requests}}).to_string()
}

/// The headers of `POST url` of `operation` with `body`, signed for `service` with the test
/// key by AWS's own signer.
fn signed_headers(url: &str, operation: &str, body: &[u8], service: &str) -> Vec<(String, String)> {
    let host = url.trim_start_matches("http://").to_owned();
    let target = format!("DynamoDB_20120810.{operation}");
    let base = [
        ("content-type", "application/x-amz-json-1.0"),
        ("host", host.as_str()),
        ("x-amz-target", target.as_str()),
    ];
    let identity = Credentials::new(ACCESS_KEY_ID, SECRET, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let signable =
        SignableRequest::new("POST", url, base.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method("POST").uri(url);
    for (k, v) in base {
        request = request.header(k, v);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// `POST url` of `operation` with `body`, signed for `service` with the test key by AWS's
/// own signer: the status and the JSON body.
async fn raw(url: &str, operation: &str, body: &[u8], service: &str) -> (u16, serde_json::Value) {
    let mut post = reqwest::Client::new().post(url).body(body.to_vec());
    for (k, v) in signed_headers(url, operation, body, service) {
        post = post.header(k, v);
    }
    let response = post.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    if status != 404 {
        assert_eq!(
            content_type.as_deref(),
            Some("application/x-amz-json-1.0"),
            "{text}"
        );
    }
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn protocol_errors_have_dynamodbs_shapes() {
    let dir = scratch("protocol");
    let (server, store) = local(&dir).await;
    let url = endpoint(&server);
    let (status, body) = raw(&url, "Scan", b"{}", "dynamodb").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"],
        "com.amazon.coral.service#UnknownOperationException"
    );
    let (status, body) = raw(&url, "BatchWriteItem", b"{not json", "dynamodb").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("com.amazon.coral.service#SerializationException"))
    );
    let (status, body) = raw(
        &url,
        "BatchWriteItem",
        br#"{"RequestItems": 5}"#,
        "dynamodb",
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("com.amazon.coral.service#SerializationException"))
    );
    let (status, body) = raw(
        &url,
        "DescribeTable",
        br#"{"TableName": "nope"}"#,
        "dynamodb",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found: Table: nope not found",
        })
    );
    let (status, body) = raw(
        &url,
        "BatchWriteItem",
        batch_body(26).as_bytes(),
        "dynamodb",
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("com.amazon.coral.validate#ValidationException"))
    );
    // 33 levels of nesting: one too many.
    let deep = (1..33).fold(
        serde_json::json!({"S": "x"}),
        |inner, _| serde_json::json!({"L": [inner]}),
    );
    let put = serde_json::json!({"TableName": TABLE, "Item": {
        "symbol": {"S": "AMZN"}, "timestamp": {"N": "1"}, "deep": deep
    }});
    let (status, body) = raw(&url, "PutItem", put.to_string().as_bytes(), "dynamodb").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("com.amazon.coral.validate#ValidationException")),
        "{body}"
    );
    // A declared body over 16 MB is refused before it is read.
    let response = reqwest::Client::new()
        .post(&url)
        .header("x-amz-target", "DynamoDB_20120810.BatchWriteItem")
        .header("content-length", (16 * 1024 * 1024 + 1).to_string())
        .body("")
        .send()
        .await;
    // Unsigned: refused on its headers, so nothing is read either way.
    if let Ok(response) = response {
        assert_eq!(response.status(), 400);
    }
    assert_eq!(store.item_count().unwrap(), 0);
    server.stop().await;
    // (Without a store there is no endpoint: `local/quotecast/tests/history_query.rs`.)
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key written twice in one JSON object is refused, not read last-wins: a `BatchWriteItem`
/// naming its table twice was acknowledged whole (`UnprocessedItems: {}`) with half of it
/// never stored.
#[tokio::test]
async fn a_key_repeated_in_a_request_is_refused_and_nothing_is_written() {
    let dir = scratch("repeated-key");
    let (server, store) = local(&dir).await;
    let url = endpoint(&server);
    let put = |t: i64| {
        format!(
            r#"{{"PutRequest": {{"Item": {{"symbol": {{"S": "AMZN"}}, "timestamp": {{"N": "{t}"}}}}}}}}"#
        )
    };
    let twice = format!(
        r#"{{"RequestItems": {{"{TABLE}": [{}], "{TABLE}": [{}]}}}}"#,
        put(1),
        put(2)
    );
    let (status, body) = raw(&url, "BatchWriteItem", twice.as_bytes(), "dynamodb").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("com.amazon.coral.service#SerializationException")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("duplicate key"),
        "{body}"
    );
    // Deeper: an attribute named twice inside an item.
    let attribute_twice = format!(
        r#"{{"TableName": "{TABLE}", "Item": {{"symbol": {{"S": "AMZN"}}, "timestamp": {{"N": "3"}}, "timestamp": {{"N": "4"}}}}}}"#
    );
    let (status, _) = raw(&url, "PutItem", attribute_twice.as_bytes(), "dynamodb").await;
    assert_eq!(status, 400);
    assert_eq!(store.item_count().unwrap(), 0);
    // Each once: both stored.
    let once = format!(
        r#"{{"RequestItems": {{"{TABLE}": [{}, {}]}}}}"#,
        put(1),
        put(2)
    );
    let (status, body) = raw(&url, "BatchWriteItem", once.as_bytes(), "dynamodb").await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"UnprocessedItems": {}}))
    );
    assert_eq!(store.item_count().unwrap(), 2);
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Anyone who knows an access key id (printed, not secret) passes the header check, so the
/// bodies read before their signature is proven are bounded: past the bound a request is
/// throttled at once, and room comes back when those bodies end.
#[tokio::test]
async fn bodies_awaiting_their_signature_are_bounded() {
    use tokio::io::AsyncWriteExt;

    let dir = scratch("unverified");
    let store = HistoryStore::open(&dir, TABLE).unwrap();
    let server = common::start(
        common::config()
            .with_history(store.clone())
            .with_unverified_bodies(2),
    )
    .await;
    let url = endpoint(&server);
    let describe = format!(r#"{{"TableName": "{TABLE}"}}"#);
    // Two requests whose headers are signed for a 1,000-byte body that never comes.
    let body = vec![b' '; 1_000];
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut socket = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut head = String::from("POST / HTTP/1.1\r\ncontent-length: 1000\r\n");
        for (k, v) in signed_headers(&url, "DescribeTable", &body, "dynamodb") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body[..10]).await.unwrap();
        held.push(socket);
    }
    // Until both are being read, a third may still get through; then it is throttled.
    let mut throttled = None;
    for _ in 0..100 {
        let (status, body) = raw(&url, "DescribeTable", describe.as_bytes(), "dynamodb").await;
        if status == 400 {
            throttled = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let throttled = throttled.expect("a third body was read while two awaited their signature");
    assert_eq!(
        throttled["__type"],
        "com.amazon.coral.availability#ThrottlingException"
    );
    drop(held);
    let mut served = false;
    for _ in 0..100 {
        let (status, _) = raw(&url, "DescribeTable", describe.as_bytes(), "dynamodb").await;
        if status == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "room came back when the held bodies ended");
    server.stop().await;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens the store in `dir` again, waiting for the last handle of the server before to go.
async fn reopen(dir: &Path) -> HistoryStore {
    for _ in 0..100 {
        match HistoryStore::open(dir, TABLE) {
            Err(StoreError::Locked { .. }) => tokio::time::sleep(Duration::from_millis(50)).await,
            other => return other.unwrap(),
        }
    }
    panic!("the store stayed locked after the server stopped");
}

#[tokio::test]
async fn what_was_written_survives_a_restart_and_expired_items_are_swept() {
    let dir = scratch("restart");
    let (server, store) = local(&dir).await;
    let client = sdk(&endpoint(&server), ACCESS_KEY_ID, SECRET);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let with_ttl = |t: i64, expires: i64| {
        let mut i = item("AMZN", &t.to_string(), "{}");
        i.insert("expiresAt".into(), AttributeValue::N(expires.to_string()));
        put(i)
    };
    let requests = vec![
        with_ttl(1, now - 60),
        with_ttl(2, now + 3600),
        put(item("AMZN", "3", "{}")),
        with_ttl(4, now - 1),
    ];
    assert_eq!(batch(&client, TABLE, requests).await, "ok");
    drop(client);
    drop(store);
    server.stop().await;

    let store = reopen(&dir).await;
    // Opening sweeps at once; the explicit sweep makes sure it is done.
    let _ = store.sweep_expired().await.unwrap();
    let server = common::start(common::config().with_history(store.clone())).await;
    let client = sdk(&endpoint(&server), ACCESS_KEY_ID, SECRET);
    assert_eq!(
        query(&client, TABLE, "AMZN", None, None, true).await,
        "[2, 3]"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The history table as the template defines it, on moto.
async fn create_table(client: &Client) {
    client
        .create_table()
        .table_name(TABLE)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("symbol")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("timestamp")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("symbol")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("timestamp")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn moto_gives_the_same_results_as_the_local_endpoint() {
    let moto = moto::start().await;
    let remote = sdk(&moto.url, "AKIDMOTO", "moto");
    create_table(&remote).await;
    let on_moto = scenario(&remote).await;

    let dir = scratch("parity");
    let (server, _store) = local(&dir).await;
    let on_local = scenario(&sdk(&endpoint(&server), ACCESS_KEY_ID, SECRET)).await;
    for (local, moto) in on_local.iter().zip(&on_moto) {
        assert_eq!(local, moto, "the local endpoint and moto differ");
    }
    assert_eq!(on_local.len(), on_moto.len());
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The consumer's own `BatchWriteItem` client (what writes DynamoDB on AWS: hand-written JSON,
/// its own signer) against moto and against the local endpoint: both accept it, and AWS's SDK
/// reads back the same items from both.
#[tokio::test]
async fn the_consumers_writer_is_accepted_by_moto_and_the_local_endpoint() {
    use quotecast_consumer::history::{HistoryBar, HistoryTarget, HistoryWriter};

    let bars: Vec<HistoryBar> = (0..60)
        .map(|i| HistoryBar {
            symbol: if i % 2 == 0 { "AMZN" } else { "BRK.B" }.to_owned(),
            timestamp: 1_700_000_000_000 + i,
            data: format!(r#"{{"symbol":"x","note":"caf\u00e9 \"q\" ✓","i":{i}}}"#),
        })
        .collect();
    let writer = |endpoint: &str, key_id: &str, secret: &str| {
        HistoryWriter::new(
            HistoryTarget {
                table: TABLE.to_owned(),
                endpoint: endpoint.to_owned(),
                retention: Duration::from_secs(3600),
            },
            "us-east-1",
            aws_credential_types::Credentials::new(key_id, secret, None, None, "test"),
            Duration::from_secs(5),
        )
        .unwrap()
    };
    let read_back = |client: Client| async move {
        let mut out = Vec::new();
        for symbol in ["AMZN", "BRK.B"] {
            let items = client
                .query()
                .table_name(TABLE)
                .key_condition_expression("symbol = :s")
                .expression_attribute_values(":s", AttributeValue::S(symbol.to_owned()))
                .send()
                .await
                .unwrap()
                .items()
                .to_vec();
            for item in items {
                let mut item = item.clone();
                // Written "now + 1 h" by each writer at its own moment: only its presence is compared.
                assert!(matches!(
                    item.remove("expiresAt"),
                    Some(AttributeValue::N(_))
                ));
                let Some(AttributeValue::S(data)) = item.get("data").cloned() else {
                    panic!("no data: {}", show(&item));
                };
                out.push((stamp(&item), data, show(&item)));
            }
        }
        out
    };

    let moto = moto::start().await;
    let remote = sdk(&moto.url, "AKIDMOTO", "moto");
    create_table(&remote).await;
    let unprocessed = writer(&format!("{}/", moto.url), "AKIDMOTO", "moto")
        .write(&bars)
        .await
        .unwrap();
    assert!(unprocessed.is_empty());
    let on_moto = read_back(remote).await;

    let dir = scratch("consumer-writer");
    let (server, _store) = local(&dir).await;
    let url = format!("{}/", endpoint(&server));
    let unprocessed = writer(&url, ACCESS_KEY_ID, SECRET)
        .write(&bars)
        .await
        .unwrap();
    assert!(unprocessed.is_empty());
    let on_local = read_back(sdk(&endpoint(&server), ACCESS_KEY_ID, SECRET)).await;
    assert_eq!(on_local.len(), 60);
    assert_eq!(on_local, on_moto, "the same items on both");
    // What the consumer sent is what comes back, byte for byte.
    for (timestamp, data, _) in &on_local {
        let sent = bars.iter().find(|b| b.timestamp == *timestamp).unwrap();
        assert_eq!(data, &sent.data);
    }
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
