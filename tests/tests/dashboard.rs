//! The dashboard's release bundle in a real headless Chromium against the real local stack
//! (embedded Kafka, producer, event source mapping, consumer, AppSync-compatible server):
//! what a user does and sees, including a server restart.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use fantoccini::Locator;
use quotecast_e2e::browser::{Browser, dashboard_dir};
use quotecast_e2e::{API_KEY, LocalAppSync, stack_config};
use quotecast_local::stack::{RunningStack, StackConfig, start};

const TICK_MS: i64 = 250;

async fn stack_on(port: u16, default_symbols: &[&str]) -> RunningStack {
    start(StackConfig {
        port,
        seed: 11,
        dashboard_dir: dashboard_dir(),
        default_symbols: default_symbols.iter().map(|s| s.to_string()).collect(),
        ..stack_config(
            &["AMZN", "TSLA", "MSFT", "NFLX"],
            Duration::from_millis(TICK_MS as u64),
        )
    })
    .await
    .unwrap()
}

/// Console errors, minus the ones a browser logs by itself while a server is away.
fn errors(entries: &[quotecast_e2e::browser::ConsoleEntry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| e.level == "SEVERE")
        .map(|e| e.message.clone())
        .collect()
}

/// The card's `(updates, first, last)` bar counters, read in one script so that no frame
/// lands between them.
async fn counters(browser: &Browser, symbol: &str) -> Option<(i64, i64, i64)> {
    let script = "const c = document.querySelector(`article[data-symbol='${arguments[0]}']`);
                  if (!c || !c.dataset.first) return null;
                  return [c.dataset.updates, c.dataset.first, c.dataset.last].map(Number);";
    let v = browser
        .client
        .execute(script, vec![symbol.into()])
        .await
        .ok()?;
    let n = |i: usize| v.get(i).and_then(serde_json::Value::as_i64);
    Some((n(0)?, n(1)?, n(2)?))
}

async fn updates(browser: &Browser, symbol: &str) -> i64 {
    counters(browser, symbol).await.map_or(0, |(n, _, _)| n)
}

async fn badge(browser: &Browser) -> Option<String> {
    browser.attr("#status", "data-state").await
}

async fn wait_for_badge(browser: &Browser, state: &str, limit: Duration) {
    let what = format!("the badge to show {state}");
    browser
        .wait_for(&what, limit, || async {
            (badge(browser).await.as_deref() == Some(state)).then_some(())
        })
        .await;
}

async fn cards(browser: &Browser) -> Vec<String> {
    let mut out = Vec::new();
    for card in browser
        .client
        .find_all(Locator::Css("article[data-symbol]"))
        .await
        .unwrap()
    {
        out.push(card.attr("data-symbol").await.unwrap().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_bundle_shows_live_quotes_without_console_errors() {
    let stack = stack_on(0, &["MSFT"]).await;
    let browser = Browser::start().await;
    // A share link wins over the configured defaults.
    browser
        .client
        .goto(&format!("http://{}/?symbols=amzn,NFLX", stack.addr))
        .await
        .unwrap();
    // The heading is drawn by the wasm bundle, which may still be loading on a busy machine.
    browser
        .wait_for("the page to render", Duration::from_secs(10), || async {
            (browser.text("h1").await.as_deref() == Some("quotecast")).then_some(())
        })
        .await;
    browser
        .wait_for(
            "two quotes on the AMZN card",
            Duration::from_secs(30),
            || async { (updates(&browser, "AMZN").await >= 2).then_some(()) },
        )
        .await;
    assert_eq!(cards(&browser).await, ["AMZN", "NFLX"]);
    assert_eq!(badge(&browser).await.as_deref(), Some("live"));
    let price = browser
        .text("article[data-symbol='AMZN'] .price")
        .await
        .unwrap();
    assert!(
        price.parse::<f64>().is_ok_and(|p| p > 0.0),
        "price {price:?}"
    );
    let rows = browser
        .client
        .find_all(Locator::Css(
            "article[data-symbol='AMZN'] tbody tr:not(.empty)",
        ))
        .await
        .unwrap();
    assert!(!rows.is_empty());
    let console = browser.console().await;
    assert_eq!(
        errors(&console),
        Vec::<String>::new(),
        "console: {console:?}"
    );
    // Phone width: one column, nothing wider than the screen.
    browser.client.set_window_size(390, 844).await.unwrap();
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow.as_i64(),
        Some(0),
        "the page scrolls sideways at phone width"
    );
    browser.screenshot("dashboard-phone.png").await;
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_adds_and_removes_tickers_and_rides_out_a_server_restart() {
    let stack = stack_on(0, &[]).await;
    let addr: SocketAddr = stack.addr;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{addr}/"))
        .await
        .unwrap();
    browser
        .wait_for("the ticker input", Duration::from_secs(20), || async {
            browser.client.find(Locator::Css("#add-symbol")).await.ok()
        })
        .await;
    assert!(cards(&browser).await.is_empty(), "no defaults configured");

    // Add two tickers by typing, as a user does (Enter submits).
    let input = browser
        .client
        .find(Locator::Css("#add-symbol"))
        .await
        .unwrap();
    input.send_keys("amzn\u{E007}").await.unwrap();
    input.send_keys("TSLA\u{E007}").await.unwrap();
    browser
        .wait_for("both tickers updating", Duration::from_secs(30), || async {
            (updates(&browser, "AMZN").await >= 3 && updates(&browser, "TSLA").await >= 3)
                .then_some(())
        })
        .await;
    assert_eq!(cards(&browser).await, ["AMZN", "TSLA"]);
    assert_eq!(stack.app.hub.subscription_count(), 2);

    // Remove one with its button: its subscription stops, the other is not interrupted.
    browser
        .client
        .find(Locator::Css("button[aria-label='Remove TSLA']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for(
            "TSLA's subscription to stop",
            Duration::from_secs(10),
            || async { (stack.app.hub.subscription_count() == 1).then_some(()) },
        )
        .await;
    assert_eq!(cards(&browser).await, ["AMZN"]);
    let before = updates(&browser, "AMZN").await;
    browser
        .wait_for("AMZN to keep updating", Duration::from_secs(20), || async {
            (updates(&browser, "AMZN").await >= before + 4).then_some(())
        })
        .await;
    // Every bar since AMZN was added, none twice: bars are TICK_MS apart.
    let (n, first, last) = counters(&browser, "AMZN").await.unwrap();
    assert_eq!(
        n,
        (last - first) / TICK_MS + 1,
        "gap or duplicate: {n} bars over {first}..={last}"
    );
    let console = browser.console().await;
    assert_eq!(
        errors(&console),
        Vec::<String>::new(),
        "console: {console:?}"
    );

    // The selection survives a reload and is in the address bar.
    browser.client.refresh().await.unwrap();
    browser
        .wait_for("AMZN after reload", Duration::from_secs(20), || async {
            (updates(&browser, "AMZN").await >= 1).then_some(())
        })
        .await;
    assert_eq!(cards(&browser).await, ["AMZN"]);
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.query(), Some("symbols=AMZN"));

    // Restart the server: the badge goes reconnecting, then live, and quotes resume.
    stack.stop().await;
    wait_for_badge(&browser, "reconnecting", Duration::from_secs(20)).await;
    let label = browser.text("#status").await.unwrap();
    assert!(label.starts_with("reconnecting in "), "{label:?}");
    let at_restart = updates(&browser, "AMZN").await;
    let stack = stack_on(addr.port(), &[]).await;
    browser
        .wait_for(
            "live again with new quotes",
            Duration::from_secs(45),
            || async {
                (badge(&browser).await.as_deref() == Some("live")
                    && updates(&browser, "AMZN").await >= at_restart + 2)
                    .then_some(())
            },
        )
        .await;
    assert_eq!(
        stack.app.hub.subscription_count(),
        1,
        "only AMZN is resubscribed"
    );
    let shot = browser.screenshot("dashboard.png").await;
    println!("screenshot: {}", shot.display());
    // While the server was away the browser logged failed WebSocket handshakes; nothing else.
    let console = browser.console().await;
    let unexpected: Vec<String> = errors(&console)
        .into_iter()
        .filter(|m| !m.contains("WebSocket connection to"))
        .collect();
    assert_eq!(unexpected, Vec::<String>::new(), "console: {console:?}");
    browser.close().await;
    stack.stop().await;
}

/// The bundle with a `config.json` of our choosing under `/<name>/`.
async fn serve_with_configs(configs: Vec<(&'static str, String)>) -> SocketAddr {
    let index = std::fs::read_to_string(dashboard_dir().join("index.html")).unwrap();
    let mut router = Router::new();
    for (name, config) in configs {
        let page = index.clone();
        router = router
            .route(
                &format!("/{name}/config.json"),
                get(move || async move { config }),
            )
            .route(
                &format!("/{name}/"),
                get(move || async move { axum::response::Html(page) }),
            );
    }
    let router = router.fallback_service(tower_http::services::ServeDir::new(dashboard_dir()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_or_a_broken_config_says_what_to_fix() {
    let appsync = LocalAppSync::start().await;
    let wrong_key = serde_json::json!({
        "graphqlUrl": appsync.graphql_url(),
        "apiKey": "da2-notthekey",
        "defaultSymbols": ["AMZN"],
    })
    .to_string();
    let site = serve_with_configs(vec![
        ("wrong-key", wrong_key),
        (
            "no-key",
            format!(r#"{{"graphqlUrl": "{}"}}"#, appsync.graphql_url()),
        ),
    ])
    .await;
    let browser = Browser::start().await;

    browser
        .client
        .goto(&format!("http://{site}/wrong-key/"))
        .await
        .unwrap();
    wait_for_badge(&browser, "offline", Duration::from_secs(20)).await;
    let alert = browser.text(".alert").await.unwrap();
    assert!(alert.contains("UnauthorizedException"), "{alert}");
    assert!(alert.contains("Check `apiKey` in config.json"), "{alert}");
    // Refused for good: no retry storm against the API.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(badge(&browser).await.as_deref(), Some("offline"));
    assert_eq!(appsync.app.connection_count(), 0);

    browser
        .client
        .goto(&format!("http://{site}/no-key/"))
        .await
        .unwrap();
    let problem = browser
        .wait_for(
            "the configuration problem",
            Duration::from_secs(20),
            || async { browser.text(".problem").await },
        )
        .await;
    assert!(problem.contains("config.json has no `apiKey`"), "{problem}");
    assert!(cards(&browser).await.is_empty());
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_tickers_than_one_connection_allows_spread_over_connections() {
    // A server that allows two subscriptions per connection, and a dashboard told so.
    let appsync = LocalAppSync::start_with(|c| c.max_subscriptions_per_connection = 2).await;
    let symbols = ["AMZN", "TSLA", "MSFT", "NFLX", "AAPL"];
    let config = serde_json::json!({
        "graphqlUrl": appsync.graphql_url(),
        "apiKey": API_KEY,
        "defaultSymbols": symbols,
        "maxSubscriptionsPerConnection": 2,
    })
    .to_string();
    let site = serve_with_configs(vec![("five", config)]).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{site}/five/"))
        .await
        .unwrap();
    browser
        .wait_for("five subscriptions", Duration::from_secs(20), || async {
            (appsync.app.hub.subscription_count() == 5).then_some(())
        })
        .await;
    assert_eq!(appsync.app.connection_count(), 3, "2 + 2 + 1");
    let http = appsync.http();
    for t in 1..=3_i64 {
        let channels: Vec<_> = symbols
            .iter()
            .map(|s| {
                let quote =
                    quotecast_shared::Quote::new(*s, t * 1000, [1.0, 2.0, 0.5, 1.5], 10).unwrap();
                quotecast_shared::channel::Channel::for_quote(&quote)
            })
            .collect();
        let (status, _) = http.publish(&channels).await.unwrap();
        assert_eq!(status, 200);
    }
    browser
        .wait_for(
            "three bars on every card",
            Duration::from_secs(20),
            || async {
                for s in symbols {
                    if updates(&browser, s).await != 3 {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await;
    assert_eq!(badge(&browser).await.as_deref(), Some("live"));

    // The reference sample's payload (no symbol, no time: the bar is dated on arrival).
    let reference = r#"{"topic":"amazon","value":"{\"Open\":3.1,\"High\":3.3,\"Low\":3.0,\"Close\":3.2,\"Adj Close\":3.2,\"Volume\":1200.0}"}"#;
    let channel = quotecast_shared::channel::Channel::new("AMZN", reference);
    assert_eq!(http.publish(&[channel]).await.unwrap().0, 200);
    browser
        .wait_for(
            "the reference bar on AMZN",
            Duration::from_secs(20),
            || async { (updates(&browser, "AMZN").await == 4).then_some(()) },
        )
        .await;
    let price = browser.text("article[data-symbol='AMZN'] .price").await;
    assert_eq!(price.as_deref(), Some("3.20"));

    let console = browser.console().await;
    assert_eq!(
        errors(&console),
        Vec::<String>::new(),
        "console: {console:?}"
    );
    browser.close().await;
}
