//! `quotecast smoke`: after a deployment, check what its users depend on, from outside.
//!
//! It reads the deployment's `config.json` (what every browser reads), then, with the public
//! API key only: connects the real-time socket, subscribes to one ticker, checks that the
//! key is refused on `publish`, reads `history` if the API has it, and waits (bounded) for
//! a live quote. Each step's failure is its own [`SmokeFailure`] with the reason, so the exit
//! code and the message say what to fix.

use std::time::{Duration, Instant};

use quotecast_shared::Channel;
use quotecast_shared::dashboard_config::DashboardConfig;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::ServerMessage;
use quotecast_shared::subscription::{filter_for, quote_from_payload};
use serde_json::Value;

use quotecast_consumer::appsync::Auth;

use quotecast_appsync_client::{ClientError, GraphqlHttp, RealtimeClient, Transport};

/// The channel the publish check writes to, should the key (wrongly) be allowed to: no
/// dashboard subscribes to it.
pub const PROBE_CHANNEL: &str = "QUOTECAST-SMOKE-PROBE";

/// The subscription id the check uses.
const SUBSCRIPTION_ID: &str = "smoke";

#[derive(Debug, Clone)]
pub struct SmokeOptions {
    /// The ticker to wait for; the config's first default symbol when `None`.
    pub symbol: Option<String>,
    /// How long to wait for the first live quote (bars may be a minute apart or more).
    pub quote_timeout: Duration,
    /// How long each network step (connect, ack, a request) may take.
    pub step_timeout: Duration,
}

impl Default for SmokeOptions {
    fn default() -> Self {
        SmokeOptions {
            symbol: None,
            quote_timeout: Duration::from_secs(120),
            step_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether the API serves quote history, and what it returned.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryCheck {
    /// The schema has no `history` field (the reference sample's API): live only.
    Absent,
    /// `history` answered with this many bars.
    Bars(usize),
}

#[derive(Debug, Clone)]
pub struct SmokeReport {
    pub symbol: String,
    /// Socket open → `connection_ack`.
    pub connect: Duration,
    /// `start` → `start_ack`.
    pub subscribe: Duration,
    /// Subscription acknowledged → first live quote of `symbol`.
    pub first_quote: Duration,
    /// How the public key's `publish` was refused.
    pub publish_refusal: String,
    pub history: HistoryCheck,
}

impl std::fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(f, "smoke test passed")?;
        writeln!(f, "  connect:      {:.0} ms", ms(self.connect))?;
        writeln!(
            f,
            "  subscribe:    {:.0} ms ({})",
            ms(self.subscribe),
            self.symbol
        )?;
        writeln!(f, "  first quote:  {:.0} ms", ms(self.first_quote))?;
        writeln!(
            f,
            "  public key:   refused on publish ({})",
            self.publish_refusal
        )?;
        match self.history {
            HistoryCheck::Absent => write!(f, "  history:      not in this API (live only)"),
            HistoryCheck::Bars(n) => write!(f, "  history:      {n} bars"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmokeFailure {
    #[error("cannot read the deployment's config.json at {url}: {reason}")]
    Config { url: String, reason: String },
    #[error("the real-time endpoint {url} did not accept the public key: {reason}")]
    Connect { url: String, reason: String },
    #[error("subscribing to {symbol} failed: {reason}")]
    Subscribe { symbol: String, reason: String },
    #[error(
        "the public API key may publish: {url} accepted a publish signed only with it; the key is in every browser, so anyone can send fake quotes (give `publish` @aws_iam only)"
    )]
    PublicKeyMayPublish { url: String },
    #[error("the publish check could not be made at {url}: {reason}")]
    PublishCheck { url: String, reason: String },
    #[error("`history` is in the API but failed: {0}")]
    History(String),
    #[error(
        "no quote for {symbol} within {waited:?}: is the producer running and the consumer publishing?"
    )]
    NoQuote { symbol: String, waited: Duration },
    #[error("the subscription for {symbol} ended: {reason}")]
    Lost { symbol: String, reason: String },
}

/// Fetches and checks a deployment's `config.json`.
pub async fn fetch_config(url: &str, timeout: Duration) -> Result<DashboardConfig, SmokeFailure> {
    let failure = |reason: String| SmokeFailure::Config {
        url: url.to_owned(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| failure(e.to_string()))?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| failure(e.to_string()))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failure(e.to_string()))?;
    if !status.is_success() {
        return Err(failure(format!("HTTP {status}")));
    }
    DashboardConfig::from_json(&text).map_err(|e| failure(e.to_string()))
}

/// Runs every check against the deployment `config` describes.
pub async fn run(
    config: &DashboardConfig,
    options: &SmokeOptions,
) -> Result<SmokeReport, SmokeFailure> {
    let symbol = options
        .symbol
        .clone()
        .or_else(|| config.default_symbols.first().cloned())
        .unwrap_or_else(|| "AMZN".to_owned());
    let auth = config.auth();

    let started = Instant::now();
    let connect_failure = |e: ClientError| SmokeFailure::Connect {
        url: config.realtime_url.clone(),
        reason: e.to_string(),
    };
    let mut socket = tokio::time::timeout(
        options.step_timeout,
        RealtimeClient::connect(&config.realtime_url, &auth, Transport::Subprotocol),
    )
    .await
    .map_err(|_| connect_failure(ClientError::Timeout(options.step_timeout)))?
    .map_err(connect_failure)?;
    socket.set_timeout(options.step_timeout);
    socket.init().await.map_err(connect_failure)?;
    let connect = started.elapsed();

    let started = Instant::now();
    let request = GraphqlRequest::subscribe(Some(&filter_for(&symbol)));
    socket
        .subscribe(SUBSCRIPTION_ID, &request, &auth)
        .await
        .map_err(|e| SmokeFailure::Subscribe {
            symbol: symbol.clone(),
            reason: e.to_string(),
        })?;
    let subscribe = started.elapsed();
    let acknowledged = Instant::now();

    let http = GraphqlHttp::with_timeout(
        &config.graphql_url,
        Auth::ApiKey(config.api_key.clone()),
        options.step_timeout,
    );
    let publish_refusal = check_publish_refused(&http, &config.graphql_url).await?;
    let history = check_history(&http, &symbol).await?;

    wait_for_quote(&mut socket, &symbol, acknowledged, options.quote_timeout).await?;
    let first_quote = acknowledged.elapsed();
    Ok(SmokeReport {
        symbol,
        connect,
        subscribe,
        first_quote,
        publish_refusal,
        history,
    })
}

/// `errorType`s that say the caller may not do this (AppSync's field denial, and the
/// request-level one).
const DENIALS: [&str; 2] = ["Unauthorized", "UnauthorizedException"];

/// Sends a `publish` with the public key: it must be refused *as unauthorised* — HTTP 401 or
/// 403, or an `Unauthorized` error. Any other answer (a 400, a 5xx, a validation error) proves
/// nothing about the key and fails the check as inconclusive.
async fn check_publish_refused(http: &GraphqlHttp, url: &str) -> Result<String, SmokeFailure> {
    let probe = Channel::new(PROBE_CHANNEL, r#"{"smoke":true}"#);
    let inconclusive = |reason: String| SmokeFailure::PublishCheck {
        url: url.to_owned(),
        reason,
    };
    let (status, body) = http
        .publish(&[probe])
        .await
        .map_err(|e| inconclusive(e.to_string()))?;
    let Some(reason) = crate::publish::refusal(status, &body) else {
        return Err(SmokeFailure::PublicKeyMayPublish {
            url: url.to_owned(),
        });
    };
    let denied_by_type = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            e.get("errorType")
                .and_then(Value::as_str)
                .is_some_and(|t| DENIALS.contains(&t))
        });
    if matches!(status, 401 | 403) || (status == 200 && denied_by_type) {
        Ok(reason)
    } else {
        Err(inconclusive(format!(
            "expected an authorisation refusal, got {reason}"
        )))
    }
}

/// Reads the last bars with the public key; an API without `history` is live only.
async fn check_history(http: &GraphqlHttp, symbol: &str) -> Result<HistoryCheck, SmokeFailure> {
    let request = GraphqlRequest::new(
        "query History($name: String!) { history(name: $name, limit: 5) { name data } }",
    )
    .with_variable("name", symbol);
    let (status, body) = http
        .post(&request)
        .await
        .map_err(|e| SmokeFailure::History(e.to_string()))?;
    if let Some(bars) = body.pointer("/data/history").and_then(Value::as_array) {
        return readable_bars(bars).map(HistoryCheck::Bars);
    }
    let undefined = body
        .get("errors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("FieldUndefined") && m.contains("'history'"))
        });
    if undefined {
        return Ok(HistoryCheck::Absent);
    }
    Err(SmokeFailure::History(
        crate::publish::refusal(status, &body).unwrap_or_else(|| body.to_string()),
    ))
}

/// How many of a `history` answer's bars are quotes; one that is not fails the check.
/// `data` is read as the dashboard reads it, through one layer of double encoding (what
/// AppSync can make of an AWSJSON field whose resolver returned a string).
fn readable_bars(bars: &[Value]) -> Result<usize, SmokeFailure> {
    for bar in bars {
        let name = bar.get("name").and_then(Value::as_str).unwrap_or_default();
        let data = match bar.get("data") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        quotecast_shared::quote::parse_quote_payload(&data, name, 0).map_err(|e| {
            SmokeFailure::History(format!("a bar of {name} is not a quote ({e}): {data}"))
        })?;
    }
    Ok(bars.len())
}

/// Waits until `timeout` after `started` for the first `data` frame carrying a quote of
/// `symbol`.
async fn wait_for_quote(
    socket: &mut RealtimeClient,
    symbol: &str,
    started: Instant,
    timeout: Duration,
) -> Result<(), SmokeFailure> {
    let lost = |reason: String| SmokeFailure::Lost {
        symbol: symbol.to_owned(),
        reason,
    };
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(SmokeFailure::NoQuote {
                symbol: symbol.to_owned(),
                waited: timeout,
            });
        }
        socket.set_timeout(left);
        match socket.recv().await {
            Ok(ServerMessage::Data { payload, .. }) => {
                if quote_from_payload(&payload, 0).is_ok_and(|q| q.symbol == symbol) {
                    return Ok(());
                }
            }
            Ok(msg @ (ServerMessage::Error { .. } | ServerMessage::ConnectionError { .. })) => {
                return Err(lost(msg.encode()));
            }
            Ok(ServerMessage::Complete { .. }) => {
                return Err(lost("the server completed it".into()));
            }
            Ok(_) => {}
            Err(ClientError::Timeout(_)) => {
                return Err(SmokeFailure::NoQuote {
                    symbol: symbol.to_owned(),
                    waited: timeout,
                });
            }
            Err(e) => return Err(lost(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The history check reads a bar's data as JSON text, as the JSON text of that text
    /// (double-encoded) and as an object, and fails on one that is no quote.
    #[test]
    fn history_bars_are_read_however_appsync_encodes_them() {
        let quote = r#"{"symbol":"AMZN","timestamp":1,"open":1,"high":2,"low":0.5,"close":1.5,"volume":10}"#;
        let twice = serde_json::to_string(quote).unwrap();
        let object: Value = serde_json::from_str(quote).unwrap();
        let bars = [
            json!({"name": "AMZN", "data": quote}),
            json!({"name": "AMZN", "data": twice}),
            json!({"name": "AMZN", "data": object}),
        ];
        assert_eq!(readable_bars(&bars).unwrap(), 3);
        let junk = [json!({"name": "AMZN", "data": "\"not a quote\""})];
        let e = readable_bars(&junk).unwrap_err().to_string();
        assert!(e.contains("not a quote"), "{e}");
    }
}
