//! The resolver harness: the three files of `schema/resolvers/` run unmodified in Node
//! (`tests/resolvers/run.mjs`, with the small `@aws-appsync/utils` runtime there) and compared
//! with their native twins in the local server. `history.js`'s DynamoDB `Query` is executed by
//! AWS's JavaScript SDK v3 against moto's server and against our DynamoDB twin, for the same
//! items and arguments; a difference fails, and so does a `Query` that is not strongly
//! consistent. `publish.js` and `subscribe.js` (NONE data source) run on the same arguments
//! and filter texts as a real `publish` and `start` on the local server.
//!
//! Needs `node` and the SDK (`cargo xtask setup` installs it in
//! `target/tools/resolver-harness`), and moto (`target/tools/venv/bin/moto_server`).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use quotecast_e2e::{ACCESS_KEY_ID, LocalAppSync, SECRET, moto, project_root};
use quotecast_shared::graphql::GraphqlRequest;
use serde_json::{Map, Value, json};

const TABLE: &str = "quotecast-history";
const T0: i64 = 1_700_000_000_000;
const STEP: i64 = 60_000;

/// The table's items: 30 bars of AMZN (bar 3 without `data`, bar 7 with a number for it,
/// bar 11 with a JSON array), 3 of TSLA, one of a 512-character name, as DynamoDB JSON.
fn items() -> Vec<Value> {
    let bar = |symbol: &str, i: i64| {
        let t = T0 + i * STEP;
        let quote = json!({"symbol": symbol, "timestamp": t, "open": 1.0, "high": 2.5,
                           "low": 0.5, "close": 1.5, "volume": i});
        json!({"symbol": {"S": symbol}, "timestamp": {"N": t.to_string()},
               "data": {"S": quote.to_string()}, "expiresAt": {"N": "4102444800"}})
    };
    let mut items: Vec<Value> = (0..30).map(|i| bar("AMZN", i)).collect();
    items[3].as_object_mut().unwrap().remove("data");
    items[7]["data"] = json!({"N": "12"});
    items[11]["data"] = json!({"S": "[1,2]"});
    items.extend((0..3).map(|i| bar("TSLA", i)));
    items.push(bar(&"X".repeat(512), 0));
    items
}

/// `(field, arguments)` of every case: defaults, limits, `after`, the end, unknown and bad
/// names, bad arguments, pages that hold unreadable items.
fn cases() -> Vec<(&'static str, Value)> {
    let mut cases = Vec::new();
    for field in ["history", "historyPage"] {
        for args in [
            json!({"name": "AMZN"}),
            json!({"name": "AMZN", "limit": 3}),
            json!({"name": "AMZN", "limit": 1000}),
            json!({"name": "AMZN", "after": T0 + 2 * STEP, "limit": 5}),
            json!({"name": "AMZN", "after": T0, "limit": 4}),
            json!({"name": "AMZN", "after": T0 + 27 * STEP, "limit": 2}),
            json!({"name": "AMZN", "after": T0 + 29 * STEP}),
            json!({"name": "AMZN", "after": 0}),
            json!({"name": "TSLA", "limit": 2}),
            json!({"name": "ZZZZ"}),
            json!({"name": "ZZZZ", "after": 0}),
            json!({"name": ""}),
            json!({"name": "X".repeat(512)}),
            json!({"name": "X".repeat(513)}),
            json!({"name": "AMZN", "limit": 0}),
            json!({"name": "AMZN", "limit": 1001}),
            json!({"name": "AMZN", "limit": -5}),
            json!({"name": "AMZN", "after": -1}),
            json!({"name": "AMZN", "after": 1.5}),
            json!({"name": "AMZN", "after": 1e22}),
        ] {
            cases.push((field, args));
        }
    }
    cases
}

/// `schema/resolvers/<file>`.
fn resolver(file: &str) -> std::path::PathBuf {
    project_root().join("schema/resolvers").join(file)
}

/// Runs `history.js` on every case against `endpoint` (writing `items` first, creating the
/// table if asked).
fn history_harness(endpoint: &str, key: (&str, &str), create_table: bool) -> Vec<Value> {
    let cases: Vec<Value> = cases()
        .iter()
        .map(|(field, args)| json!({"resolver": resolver("history.js"), "field": field, "args": args}))
        .collect();
    harness(
        endpoint,
        key,
        Some(json!({"createTable": create_table, "items": items()})),
        cases,
    )
}

/// Runs the harness on `cases` (`{resolver, type, field, args}`) with a DynamoDB data source at
/// `endpoint`, after `setup`.
fn harness(
    endpoint: &str,
    key: (&str, &str),
    setup: Option<Value>,
    cases: Vec<Value>,
) -> Vec<Value> {
    let root = project_root();
    let modules = root.join("target/tools/resolver-harness");
    assert!(
        modules
            .join("node_modules/@aws-sdk/client-dynamodb")
            .is_dir(),
        "AWS's JavaScript SDK is not installed in {}: run `cargo xtask setup`",
        modules.display()
    );
    let input = json!({
        "endpoint": endpoint,
        "region": quotecast_aws_local::LOCAL_REGION,
        "accessKeyId": key.0,
        "secretAccessKey": key.1,
        "table": TABLE,
        "setup": setup,
        "cases": cases,
    });
    let mut child = Command::new("node")
        .current_dir(root.join("tests/resolvers"))
        .args(["--import", "./register.mjs", "run.mjs"])
        .env("RESOLVER_HARNESS_MODULES", &modules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run `cargo xtask setup`"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the harness failed: {stderr}");
    let answer: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    answer["cases"].as_array().unwrap().clone()
}

/// A JSON value with every number as an `f64`, so `1.0` and `1` compare equal (JavaScript
/// writes the first as the second).
fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One bar as GraphQL gives it for `field` (a `Channel`, or a `Bar` with its time), `data`
/// read to its JSON value (AWSJSON is JSON text on the wire; the resolver returns it parsed).
fn bar(field: &str, bar: &Value) -> Value {
    let data = match &bar["data"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        other => other.clone(),
    };
    let mut out = Map::new();
    out.insert("name".into(), bar["name"].clone());
    out.insert("data".into(), numbers_as_f64(&data));
    if field == "historyPage" {
        out.insert("timestamp".into(), numbers_as_f64(&bar["timestamp"]));
    }
    Value::Object(out)
}

/// A field's answer, comparable across homes: its bars (and `next`), or its error.
fn answer(field: &str, result: Option<&Value>, error: Option<(&str, &str)>) -> Value {
    if let Some((kind, message)) = error {
        return json!({"error": {"type": kind, "message": message}});
    }
    let result = result.unwrap_or(&Value::Null);
    match field {
        "history" => json!(
            result
                .as_array()
                .map(|bars| bars.iter().map(|b| bar(field, b)).collect::<Vec<_>>())
        ),
        _ => json!({
            "items": result["items"].as_array().map(|bars| bars.iter().map(|b| bar(field, b)).collect::<Vec<_>>()),
            "next": numbers_as_f64(&result["next"]),
        }),
    }
}

fn from_harness(field: &str, case: &Value) -> Value {
    let error = case.get("error").map(|e| {
        (
            e["type"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default(),
        )
    });
    answer(field, case.get("result"), error)
}

async fn from_native(server: &LocalAppSync, field: &str, args: &Value) -> Value {
    let selection = if field == "history" {
        "name data"
    } else {
        "items { name data timestamp } next"
    };
    let request = GraphqlRequest::new(format!(
        "query($name: String!, $limit: Int, $after: Float) {{ r: {field}(name: $name, limit: $limit, after: $after) {{ {selection} }} }}"
    ))
    .with_variable("name", args["name"].clone())
    .with_variable("limit", args.get("limit").cloned().unwrap_or(Value::Null))
    .with_variable("after", args.get("after").cloned().unwrap_or(Value::Null));
    let (_, body) = server.reader().post(&request).await.unwrap();
    let error = body["errors"][0].as_object().map(|e| {
        (
            e["errorType"].as_str().unwrap_or_default(),
            e["message"].as_str().unwrap_or_default(),
        )
    });
    answer(field, Some(&body["data"]["r"]), error)
}

/// moto's answer with its one known difference from DynamoDB undone: when a `Query` stops at
/// `Limit` on the partition's last item, DynamoDB still returns a `LastEvaluatedKey` (it does
/// not look ahead; the next page is empty), and our twin does the same, but moto returns none.
/// So `historyPage`'s `next` is that item's time on AWS and null on moto; both keep the
/// client's rule (`next` null only at the end). Nothing else is forgiven.
fn moto_as_dynamodb(mut moto: Value, native: &Value, args: &Value) -> Value {
    let items = native["items"].as_array().map_or(0, Vec::len);
    let limit = args["limit"].as_u64().unwrap_or(60) as usize;
    let last = native["items"]
        .as_array()
        .and_then(|i| i.last())
        .map(|b| b["timestamp"].clone());
    if moto["next"].is_null() && items == limit && last.as_ref() == Some(&native["next"]) {
        moto["next"] = native["next"].clone();
    }
    moto
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_js_answers_as_its_native_twin_on_moto_and_on_our_dynamodb() {
    let moto = moto::start().await;
    let on_moto = history_harness(&moto.url, ("AKIDMOTO", "moto"), true);
    let (server, _store) = LocalAppSync::start_with_history("resolver-harness").await;
    let on_ours = history_harness(&server.dynamodb_url(), (ACCESS_KEY_ID, SECRET), false);

    let cases = cases();
    assert_eq!((on_moto.len(), on_ours.len()), (cases.len(), cases.len()));
    for (i, (field, args)) in cases.iter().enumerate() {
        let shown = format!(
            "{field}({})",
            args.to_string().chars().take(80).collect::<String>()
        );
        // Every Query the resolver asks for reads strongly consistent.
        for run in [&on_moto[i], &on_ours[i]] {
            if !run["request"].is_null() {
                assert_eq!(run["request"]["operation"], "Query", "{shown}");
                assert_eq!(
                    run["request"]["consistentRead"], true,
                    "{shown}: an eventually consistent read"
                );
            }
        }
        // `data` leaves the resolver parsed, as `publish` returns it: AppSync then writes it
        // as it writes a subscription's (a string there was the double-encoding trap).
        for run in [&on_moto[i], &on_ours[i]] {
            let bars = match field {
                &"history" => run["result"].as_array(),
                _ => run["result"]["items"].as_array(),
            };
            for bar in bars.into_iter().flatten() {
                assert!(bar["data"].is_object(), "{shown}: data is {}", bar["data"]);
            }
        }
        let native = from_native(&server, field, args).await;
        let moto = moto_as_dynamodb(from_harness(field, &on_moto[i]), &native, args);
        let ours = from_harness(field, &on_ours[i]);
        assert_eq!(
            moto, native,
            "{shown}: history.js on moto vs the native twin"
        );
        assert_eq!(
            ours, native,
            "{shown}: history.js on our DynamoDB vs the native twin"
        );
    }
}

/// A refused `start`'s `(errorType, message)`, or `None` when it was acknowledged.
async fn start_outcome(server: &LocalAppSync, filter: Option<&str>) -> Option<(String, String)> {
    let mut client = server.subscriber_client().await;
    match client
        .subscribe("s", &GraphqlRequest::subscribe(filter), &server.auth())
        .await
    {
        Ok(()) => None,
        Err(quotecast_appsync_client::ClientError::Unexpected(frame)) => {
            let frame: Value = serde_json::from_str(&frame).unwrap();
            let error = &frame["payload"]["errors"][0];
            Some((
                error["errorType"].as_str().unwrap_or_default().to_owned(),
                error["message"].as_str().unwrap_or_default().to_owned(),
            ))
        }
        Err(e) => panic!("{e}"),
    }
}

/// `publish.js` returns what the local server publishes for the same arguments, and
/// `subscribe.js` accepts and refuses the filter texts the local server accepts and refuses
/// at `start`, with the same `errorType` and message where the resolver decides (texts that
/// are not `{…}`); an accepted filter is the text's JSON, as given to AppSync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_js_and_subscribe_js_answer_as_their_native_twins() {
    let server = LocalAppSync::start().await;
    let channel = quotecast_shared::Channel::new("AMZN", r#"{"close":1.5,"symbol":"AMZN"}"#);
    let published = harness(
        "http://127.0.0.1:9",
        ("unused", "unused"),
        None,
        vec![
            json!({"resolver": resolver("publish.js"), "type": "Mutation", "field": "publish",
                    "args": {"name": channel.name, "data": serde_json::from_str::<Value>(&channel.data).unwrap()}}),
        ],
    );
    let (status, body) = server
        .http()
        .publish(std::slice::from_ref(&channel))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bar("history", &published[0]["result"]),
        bar("history", &body["data"]["m0"])
    );

    let filters: Vec<Option<&str>> = vec![
        None,
        Some(""),
        Some("   "),
        Some(r#"{"name":{"eq":"AMZN"}}"#),
        Some(r#" {"name":{"in":["AMZN","TSLA"]}} "#),
        Some(r#"{"name":{"beginsWith":"A"},"data.close":{"gt":100}}"#),
        Some("{not json"),
        Some("[1]"),
        Some(r#""x""#),
        Some("null"),
    ];
    let cases: Vec<Value> = filters
        .iter()
        .map(|f| {
            json!({"resolver": resolver("subscribe.js"), "type": "Subscription",
                        "field": "subscribe", "args": {"filter": f}})
        })
        .collect();
    let runs = harness("http://127.0.0.1:9", ("unused", "unused"), None, cases);
    for (filter, run) in filters.iter().zip(&runs) {
        let native = start_outcome(&server, *filter).await;
        match (&run["error"], native) {
            (Value::Null, None) => {
                let given = filter.map(str::trim).filter(|t| !t.is_empty());
                let recorded = run["filters"].as_array().unwrap();
                match given {
                    None => assert!(recorded.is_empty(), "{filter:?}: no filter set"),
                    Some(text) => assert_eq!(
                        recorded[0]["subscriptionFilter"],
                        serde_json::from_str::<Value>(text).unwrap(),
                        "{filter:?}"
                    ),
                }
            }
            (error, Some((kind, message))) if !error.is_null() => {
                assert_eq!(
                    (error["type"].as_str(), error["message"].as_str()),
                    (Some(kind.as_str()), Some(message.as_str())),
                    "{filter:?}"
                );
            }
            (error, native) => {
                panic!("{filter:?}: subscribe.js gave {error}, the local server {native:?}")
            }
        }
    }
}
