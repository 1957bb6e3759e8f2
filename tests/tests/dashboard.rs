//! The dashboard's release bundle in a real headless Chromium against the real local stack
//! (embedded Kafka, producer, event source mapping, consumer, AppSync-compatible server):
//! what a user does and sees, including a server restart, a network cut, a dropped frame
//! and a producer that stops.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use quotecast::stack::{RunningStack, StackConfig, start};
use quotecast_e2e::browser::cut_proxy::CutProxy;
use quotecast_e2e::browser::{Browser, dashboard_dir};
use quotecast_e2e::{API_KEY, LocalAppSync, stack_config};
use quotecast_shared::Quote;
use quotecast_shared::channel::Channel;

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
    let v = card_numbers(browser, symbol, &["updates", "first", "last"]).await?;
    Some((v[0], v[1], v[2]))
}

/// The numbers a card carries in `data-<name>` for each of `names`, read in one script so
/// that no frame lands between them; `None` until the card has its first bar.
async fn card_numbers(browser: &Browser, symbol: &str, names: &[&str]) -> Option<Vec<i64>> {
    let script = "const c = document.querySelector(`article[data-symbol='${arguments[0]}']`);
                  if (!c || !c.dataset.first) return null;
                  return arguments[1].map(name => Number(c.dataset[name]));";
    let v = browser
        .client
        .execute(script, vec![symbol.into(), names.into()])
        .await
        .ok()?;
    (0..names.len())
        .map(|i| v.get(i).and_then(serde_json::Value::as_i64))
        .collect()
}

/// Asserts the card holds every bar from its first to its last, each once: bars are
/// `tick_ms` apart, so `updates` distinct bars over `first..=last` leave no room for a gap.
async fn assert_no_bar_missing(browser: &Browser, symbol: &str, tick_ms: i64) -> (i64, i64, i64) {
    let (n, first, last) = counters(browser, symbol).await.unwrap();
    assert_no_gap(symbol, (n, first, last), tick_ms);
    (n, first, last)
}

fn assert_no_gap(symbol: &str, (n, first, last): (i64, i64, i64), tick_ms: i64) {
    assert_eq!(
        n,
        (last - first) / tick_ms + 1,
        "{symbol}: gap or duplicate: {n} bars over {first}..={last}"
    );
}

/// The card's `data-stale`: "true" once its feed has been quiet for three bar intervals.
async fn stale(browser: &Browser, symbol: &str) -> Option<String> {
    browser
        .attr(&format!("article[data-symbol='{symbol}']"), "data-stale")
        .await
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

    // The producer stops (held, as if it died): three bar intervals later — at least 3 s —
    // the cards go stale; when it resumes, they are live again.
    assert_eq!(stale(&browser, "AMZN").await.as_deref(), Some("false"));
    stack.pause_producer(true);
    browser
        .wait_for(
            "both cards to go stale",
            Duration::from_secs(10),
            || async {
                (stale(&browser, "AMZN").await.as_deref() == Some("true")
                    && stale(&browser, "NFLX").await.as_deref() == Some("true"))
                .then_some(())
            },
        )
        .await;
    let freshness = browser
        .text("article[data-symbol='AMZN'] .freshness")
        .await
        .unwrap();
    assert!(freshness.starts_with("stale since "), "{freshness:?}");
    stack.pause_producer(false);
    browser
        .wait_for("both cards live again", Duration::from_secs(10), || async {
            (stale(&browser, "AMZN").await.as_deref() == Some("false")
                && stale(&browser, "NFLX").await.as_deref() == Some("false"))
            .then_some(())
        })
        .await;
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
    // A second of history first, so that an added card has bars too old to arrive live.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let added_at = quotecast_producer::handler::now_ms();
    input.send_keys("amzn\u{E007}").await.unwrap();
    input.send_keys("TSLA\u{E007}").await.unwrap();
    browser
        .wait_for("both tickers updating", Duration::from_secs(30), || async {
            (updates(&browser, "AMZN").await >= 3 && updates(&browser, "TSLA").await >= 3)
                .then_some(())
        })
        .await;
    // An added ticker opens on its history too: bars from before it was added.
    for symbol in ["AMZN", "TSLA"] {
        let (_, first, _) = counters(&browser, symbol).await.unwrap();
        assert!(
            first < added_at - 2 * TICK_MS,
            "{symbol}'s first bar {first} is not from history (added at {added_at})"
        );
    }
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
    // The state and its label are read in one wait: the countdown may end, and the badge turn
    // "connecting", between two separate reads. A label that never counts down times out here.
    browser
        .wait_for(
            "the badge to show reconnecting with a countdown",
            Duration::from_secs(20),
            || async {
                let label = browser.text("#status").await.unwrap_or_default();
                (badge(&browser).await.as_deref() == Some("reconnecting")
                    && label.starts_with("reconnecting in "))
                .then_some(())
            },
        )
        .await;
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

/// A site serving the bundle with `config.json`s of our choosing under `/<name>/`, and
/// forwarding `POST /graphql` to `appsync` (counted), so that the page's `history` requests
/// are same-origin: the local server answers no CORS preflight (AppSync does).
struct Site {
    addr: SocketAddr,
    graphql_posts: Arc<AtomicUsize>,
}

/// `config.json` for a page on `site` whose API is `appsync` (real-time directly, GraphQL
/// through the site).
fn config_via(site: SocketAddr, appsync: &LocalAppSync, key: &str, symbols: &[&str]) -> String {
    serde_json::json!({
        "graphqlUrl": format!("http://{site}/graphql"),
        "realtimeUrl": format!("ws://{}/graphql/realtime", appsync.addr),
        "apiKey": key,
        "defaultSymbols": symbols,
        "maxSubscriptionsPerConnection": 2,
    })
    .to_string()
}

async fn bind_site() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn serve_with_configs(
    listener: tokio::net::TcpListener,
    appsync: SocketAddr,
    configs: Vec<(&'static str, String)>,
) -> Site {
    let index = std::fs::read_to_string(dashboard_dir().join("index.html")).unwrap();
    let graphql_posts = Arc::new(AtomicUsize::new(0));
    let posts = graphql_posts.clone();
    let forward = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let posts = posts.clone();
        async move {
            posts.fetch_add(1, Ordering::SeqCst);
            let mut request = reqwest::Client::new()
                .post(format!("http://{appsync}/graphql"))
                .body(body);
            for name in ["content-type", "x-api-key"] {
                if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
                    request = request.header(name, v);
                }
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                [("content-type", "application/json")],
                text,
            )
        }
    };
    let mut router = Router::new().route("/graphql", post(forward));
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
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Site {
        addr,
        graphql_posts,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_or_a_broken_config_says_what_to_fix() {
    let appsync = LocalAppSync::start().await;
    let listener = bind_site().await;
    let wrong_key = config_via(
        listener.local_addr().unwrap(),
        &appsync,
        "da2-notthekey",
        &["AMZN"],
    );
    let no_key = format!(r#"{{"graphqlUrl": "{}"}}"#, appsync.graphql_url());
    let site = serve_with_configs(
        listener,
        appsync.addr,
        vec![("wrong-key", wrong_key), ("no-key", no_key)],
    )
    .await;
    let site = site.addr;
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
    let listener = bind_site().await;
    let config = config_via(listener.local_addr().unwrap(), &appsync, API_KEY, &symbols);
    let site = serve_with_configs(listener, appsync.addr, vec![("five", config)]).await;
    let site = site.addr;
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
    // The attributes follow every bar; the text a busy card shows catches up on the next
    // refresh tick (250 ms), since these bars came in quick succession.
    browser
        .wait_for(
            "the reference close as the price",
            Duration::from_secs(2),
            || async {
                let price = browser.text("article[data-symbol='AMZN'] .price").await;
                (price.as_deref() == Some("3.20")).then_some(())
            },
        )
        .await;

    let console = browser.console().await;
    assert_eq!(
        errors(&console),
        Vec::<String>::new(),
        "console: {console:?}"
    );
    browser.close().await;
}

/// Waits in the page until every card holds at least `bars` bars; the time since navigation
/// start (ms), or `None` after 15 s.
async fn page_time_to_bars(browser: &Browser, bars: i64) -> Option<f64> {
    let script = "const done = arguments[arguments.length - 1];
                  const want = arguments[0];
                  const full = () => {
                    const cards = [...document.querySelectorAll('article[data-symbol]')];
                    return cards.length > 0 && cards.every(c => Number(c.dataset.bars) >= want);
                  };
                  const check = () => {
                    if (full()) return done(performance.now());
                    if (performance.now() > 15000) return done(null);
                    requestAnimationFrame(check);
                  };
                  check();";
    let v = browser
        .client
        .execute_async(script, vec![bars.into()])
        .await
        .unwrap();
    v.as_f64()
}

/// `1234567` → `1,234,567`, as the readout writes volumes.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The bar at `timestamp` as the API's `history` holds it.
async fn stored_bar(stack: &RunningStack, symbol: &str, timestamp: i64) -> Quote {
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/graphql", stack.addr))
        .header("x-api-key", API_KEY)
        .json(&serde_json::json!({
            "query": "query H($n: String!, $a: Float) { history(name: $n, limit: 1, after: $a) { name data } }",
            "variables": { "n": symbol, "a": (timestamp - 1) as f64 },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = body["data"]["history"][0]["data"]
        .as_str()
        .unwrap()
        .to_owned();
    let quote = Quote::from_json(&data).unwrap();
    assert_eq!(quote.timestamp, timestamp, "{body}");
    quote
}

async fn readout(browser: &Browser, symbol: &str) -> (String, i64) {
    let css = format!("article[data-symbol='{symbol}'] .readout");
    let text = browser.text(&css).await.unwrap();
    let t = browser.attr(&css, "data-timestamp").await.unwrap();
    (text, t.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opens_on_the_history_and_the_crosshair_reads_a_bar() {
    // One bar a second, as `quotecast dev` runs by default, for 30 s before anyone looks.
    let stack = start(StackConfig {
        seed: 11,
        dashboard_dir: dashboard_dir(),
        default_symbols: vec!["AMZN".into(), "TSLA".into(), "MSFT".into()],
        ..stack_config(&["AMZN", "TSLA", "MSFT"], Duration::from_secs(1))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{}/index.html", stack.addr))
        .await
        .unwrap();
    let at = page_time_to_bars(&browser, 25).await;
    println!("page load -> 25 bars on every card: {at:?} ms");
    let at = at.expect("25 bars on every card within 15 s");
    assert!(at <= 1_000.0, "25 bars on every card took {at} ms");
    for symbol in ["AMZN", "TSLA", "MSFT"] {
        assert_no_bar_missing(&browser, symbol, 1_000).await;
        let change = browser
            .text(&format!("article[data-symbol='{symbol}'] .change"))
            .await
            .unwrap();
        assert!(!change.contains("waiting"), "{symbol}: {change}");
    }

    // Point at a bar left of the newest: the readout shows that bar's values.
    let chart = browser
        .client
        .find(Locator::Css("article[data-symbol='AMZN'] svg.chart"))
        .await
        .unwrap();
    let (width, _) = {
        let r = chart.rectangle().await.unwrap();
        (r.2, r.3)
    };
    let mouse = MouseActions::new("mouse".to_owned()).then(PointerAction::MoveToElement {
        element: chart.clone(),
        duration: None,
        x: width * 0.2,
        y: 0.0,
    });
    browser.client.perform_actions(mouse).await.unwrap();
    let (text, t) = browser
        .wait_for("the crosshair readout", Duration::from_secs(5), || async {
            let focused = browser
                .attr("article[data-symbol='AMZN'] .readout", "class")
                .await?
                .contains("focused");
            focused.then_some(())?;
            Some(readout(&browser, "AMZN").await)
        })
        .await;
    let (_, _, last) = counters(&browser, "AMZN").await.unwrap();
    assert!(t < last, "a bar before the newest: {t} vs {last}");
    let bar = stored_bar(&stack, "AMZN", t).await;
    for part in [
        format!("O {:.2}", bar.open),
        format!("H {:.2}", bar.high),
        format!("L {:.2}", bar.low),
        format!("C {:.2}", bar.close),
        format!("V {}", grouped(bar.volume)),
    ] {
        assert!(text.contains(&part), "{text:?} lacks {part:?}");
    }
    // The keyboard moves the crosshair one bar left.
    chart.send_keys("\u{E012}").await.unwrap();
    let (_, before) = readout(&browser, "AMZN").await;
    assert!(before < t, "ArrowLeft: {before} after {t}");
    let shot = browser.screenshot("dashboard-chart.png").await;
    println!("screenshot: {}", shot.display());
    let console = browser.console().await;
    assert_eq!(
        errors(&console),
        Vec::<String>::new(),
        "console: {console:?}"
    );
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cut_and_a_dropped_frame_lose_no_bar() {
    let stack = stack_on(0, &["AMZN", "TSLA"]).await;
    let proxy = CutProxy::start(stack.addr).await;
    let browser = Browser::start().await;
    // Page, config.json, history and the WebSocket all through the proxy.
    browser
        .client
        .goto(&format!("http://{}/index.html", proxy.addr))
        .await
        .unwrap();
    browser
        .wait_for("bars on both cards", Duration::from_secs(30), || async {
            (updates(&browser, "AMZN").await >= 8 && updates(&browser, "TSLA").await >= 8)
                .then_some(())
        })
        .await;

    // One `data` frame lost on a live connection: the next bar's prevTimestamp shows the
    // hole, and history fills it; the connection is never interrupted.
    let (_, _, before_drop) = counters(&browser, "AMZN").await.unwrap();
    proxy.drop_data_frames(1);
    browser
        .wait_for("a frame to be dropped", Duration::from_secs(10), || async {
            (proxy.dropped() == 1).then_some(())
        })
        .await;
    browser
        .wait_for("bars past the drop", Duration::from_secs(20), || async {
            let (_, _, last) = counters(&browser, "AMZN").await?;
            let (_, _, tsla) = counters(&browser, "TSLA").await?;
            (last > before_drop + 8 * TICK_MS && tsla > before_drop + 8 * TICK_MS).then_some(())
        })
        .await;
    assert_no_bar_missing(&browser, "AMZN", TICK_MS).await;
    assert_no_bar_missing(&browser, "TSLA", TICK_MS).await;
    assert_eq!(badge(&browser).await.as_deref(), Some("live"));

    // Cut the network for 6 s while quotes keep flowing.
    let (_, _, before_cut) = counters(&browser, "AMZN").await.unwrap();
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let at_restore = quotecast_producer::handler::now_ms();
    proxy.restore();
    browser
        .wait_for(
            "live again with bars past the cut",
            Duration::from_secs(45),
            || async {
                let (_, _, amzn) = counters(&browser, "AMZN").await?;
                let (_, _, tsla) = counters(&browser, "TSLA").await?;
                (badge(&browser).await.as_deref() == Some("live")
                    && amzn > at_restore + 2_000
                    && tsla > at_restore + 2_000)
                    .then_some(())
            },
        )
        .await;
    for symbol in ["AMZN", "TSLA"] {
        // One read: quotes keep arriving, and a bar landing between two reads would make
        // the held count differ from the counters by one.
        let v = card_numbers(&browser, symbol, &["updates", "first", "last", "bars"])
            .await
            .unwrap();
        let (n, first, held) = (v[0], v[1], v[3]);
        assert_no_gap(symbol, (n, first, v[2]), TICK_MS);
        assert!(
            first < before_cut,
            "{symbol}: history reaches back before the cut"
        );
        assert_eq!(held, n.min(240), "{symbol}: data-bars");
        let gaps = browser
            .attr(
                &format!("article[data-symbol='{symbol}'] svg.chart"),
                "data-gaps",
            )
            .await;
        assert_eq!(gaps.as_deref(), Some("0"), "{symbol}");
    }
    browser.close().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_feed_goes_stale_and_a_reference_api_runs_live_only() {
    // The reference sample's schema: no `history`. The dashboard notices once and runs on
    // live bars alone, quietly.
    let reference = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/reference/schema.graphql"
    ))
    .unwrap();
    let appsync = LocalAppSync::start_with(|c| c.schema_sdl = Some(reference.into())).await;
    let listener = bind_site().await;
    let config = config_via(listener.local_addr().unwrap(), &appsync, API_KEY, &["AMZN"]);
    let site = serve_with_configs(listener, appsync.addr, vec![("reference", config)]).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{}/reference/", site.addr))
        .await
        .unwrap();
    browser
        .wait_for("the subscription", Duration::from_secs(20), || async {
            (appsync.app.hub.subscription_count() == 1).then_some(())
        })
        .await;
    // A feed of one bar a second, dated now, linked to the one before. Without auth
    // directives (the reference's schema) the API key publishes and IAM may not.
    let http = appsync.reader();
    let mut prev = None;
    for _ in 0..4 {
        let t = quotecast_producer::handler::now_ms();
        let quote = Quote::new("AMZN", t, [10.0, 11.0, 9.0, 10.5], 100)
            .unwrap()
            .with_prev_timestamp(prev)
            .unwrap();
        prev = Some(t);
        assert_eq!(
            http.publish(&[Channel::for_quote(&quote)]).await.unwrap().0,
            200
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    browser
        .wait_for("four bars on the card", Duration::from_secs(10), || async {
            (updates(&browser, "AMZN").await == 4).then_some(())
        })
        .await;
    assert_eq!(stale(&browser, "AMZN").await.as_deref(), Some("false"));
    let freshness = browser
        .text("article[data-symbol='AMZN'] .freshness")
        .await
        .unwrap();
    assert!(freshness.starts_with("last bar "), "{freshness:?}");
    assert_eq!(
        site.graphql_posts.load(Ordering::SeqCst),
        1,
        "history asked once, then live-only"
    );

    // The feed stops: three intervals (1 s) later — at least 3 s — the card is stale.
    browser
        .wait_for("the card to go stale", Duration::from_secs(8), || async {
            (stale(&browser, "AMZN").await.as_deref() == Some("true")).then_some(())
        })
        .await;
    let freshness = browser
        .text("article[data-symbol='AMZN'] .freshness")
        .await
        .unwrap();
    let since = quotecast_e2e::browser::time_of_day(prev.unwrap());
    assert_eq!(freshness, format!("stale since {since}"));
    let class = browser
        .attr("article[data-symbol='AMZN']", "class")
        .await
        .unwrap();
    assert!(class.contains("stale"), "{class}");
    let shot = browser.screenshot("dashboard-stale.png").await;
    println!("screenshot: {}", shot.display());

    // The next bar makes it live again.
    let t = quotecast_producer::handler::now_ms();
    let quote = Quote::new("AMZN", t, [10.0, 11.0, 9.0, 10.5], 100)
        .unwrap()
        .with_prev_timestamp(prev)
        .unwrap();
    assert_eq!(
        http.publish(&[Channel::for_quote(&quote)]).await.unwrap().0,
        200
    );
    browser
        .wait_for(
            "the card to be live again",
            Duration::from_secs(5),
            || async { (stale(&browser, "AMZN").await.as_deref() == Some("false")).then_some(()) },
        )
        .await;
    let change = browser
        .text("article[data-symbol='AMZN'] .change")
        .await
        .unwrap();
    assert!(!change.contains("loading"), "{change:?}");
    assert_eq!(site.graphql_posts.load(Ordering::SeqCst), 1);
    let console = browser.console().await;
    assert_eq!(
        errors(&console),
        Vec::<String>::new(),
        "console: {console:?}"
    );
    browser.close().await;
}
