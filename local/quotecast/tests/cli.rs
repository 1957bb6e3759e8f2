//! The `quotecast` binary as a person runs it: `publish` signs with IAM and reports refusals,
//! `appsync --schema` refuses a schema it cannot serve.
#![allow(clippy::unwrap_used)]

// The AppSync twin's test harness (a bare AppSync server, the test keys, clients), shared
// rather than copied; a test that needs DynamoDB beside it composes a `LocalServer` itself.
#[path = "../../appsync/tests/common/mod.rs"]
mod common;

use std::process::{Command, Output};

use common::*;
use quotecast_shared::graphql::GraphqlRequest;

fn quotecast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quotecast"))
        .args(args)
        // Never the developer's own local stack or AWS profile.
        .env("QUOTECAST_DATA_DIR", "/nonexistent/quotecast-cli-test")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_signs_with_iam_and_the_quote_reaches_a_subscriber() {
    let server = start(config()).await;
    let mut subscriber = server.client().await;
    subscriber
        .subscribe("s", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    let url = server.graphql_url();
    let out = tokio::task::spawn_blocking(move || {
        quotecast(&[
            "publish",
            "--url",
            &url,
            "--access-key-id",
            ACCESS_KEY_ID,
            "--secret-access-key",
            SECRET,
            "brk.b",
            "412.5",
        ])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("published 1 quote(s)"));
    let frame = subscriber.recv().await.unwrap();
    let quotecast_shared::realtime::ServerMessage::Data { payload, .. } = frame else {
        panic!("expected data, got {frame:?}");
    };
    let quote = quotecast_shared::subscription::quote_from_payload(&payload, 0).unwrap();
    assert_eq!((quote.symbol.as_str(), quote.close), ("BRK.B", 412.5));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_with_the_public_key_is_refused_and_says_why() {
    let server = start(config()).await;
    let url = server.graphql_url();
    let out = tokio::task::spawn_blocking(move || {
        quotecast(&["publish", "--url", &url, "--api-key", API_KEY, "AMZN", "1"])
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Unauthorized: Not Authorized to access publish on type Mutation"),
        "{stderr}"
    );
    assert!(stderr.contains("0 of 1 published"), "{stderr}");
    server.stop().await;
}

#[test]
fn publish_checks_its_input_before_sending_anything() {
    let dir = std::env::temp_dir().join(format!("quotecast-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("quotes.jsonl");
    std::fs::write(
        &file,
        "{\"symbol\":\"AMZN\",\"timestamp\":1,\"open\":1,\"high\":2,\"low\":1,\"close\":1,\"volume\":1}\nnot json\n",
    )
    .unwrap();
    // Port 9 (discard) on loopback: if anything were sent, the error would be a network one.
    let out = quotecast(&[
        "publish",
        "--url",
        "http://127.0.0.1:9/graphql",
        "--access-key-id",
        "A",
        "--secret-access-key",
        "B",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("quotes.jsonl:2:"),
        "{}",
        text(&out.stderr)
    );
    let out = quotecast(&["publish", "AMZN", "1"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no local credentials at /nonexistent/quotecast-cli-test"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn appsync_refuses_a_schema_it_cannot_serve() {
    let dir = std::env::temp_dir().join(format!("quotecast-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.graphql");
    std::fs::write(&bad, "type Query { a: Nope }").unwrap();
    let out = quotecast(&["appsync", "--port", "0", "--schema", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not usable"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn smoke_exits_non_zero_and_names_the_step_that_failed() {
    let out = quotecast(&["smoke", "--config", "http://127.0.0.1:9/config.json"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr)
            .contains("cannot read the deployment's config.json at http://127.0.0.1:9/config.json"),
        "{}",
        text(&out.stderr)
    );
}

/// `kill` (SIGTERM, as `docker stop` and systemd send) stops `quotecast dev` in order like
/// Ctrl-C does: "stopped." and exit 0, so the history store's last checkpoint is made.
#[cfg(unix)]
#[test]
fn dev_stops_in_order_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = std::env::temp_dir().join(format!("quotecast-sigterm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_quotecast"))
        .args(["dev", "--port", "0", "--data-dir", dir.to_str().unwrap()])
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("Ctrl-C stops everything") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}: {rest:?}");
    assert!(rest.iter().any(|l| l == "stopped."), "{rest:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
