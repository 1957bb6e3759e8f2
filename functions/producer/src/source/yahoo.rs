//! Yahoo Finance's public chart API (`/v8/finance/chart/<symbol>?range=1h&interval=1m`), the
//! data the reference sample read through yfinance.
//!
//! Response shape: `{"chart": {"result": [{"meta": {...}, "timestamp": [s...], "indicators":
//! {"quote": [{"open": [...], "high": [...], "low": [...], "close": [...], "volume": [...]}]}}],
//! "error": null}}`; missing bars are `null` in every array and are skipped. Errors come as
//! `{"chart": {"result": null, "error": {"code", "description"}}}`, often with HTTP 404.
//!
//! `prevTimestamp` links each bar to the bar before it in the response's series (a skipped
//! bar is no link), even when that bar was emitted by an earlier poll or is older than
//! anything emitted now; a bar whose time is not after the one before it is skipped, so the
//! series only moves forward. The response's first bar has no link. A source that remembers
//! the last bar it emitted for the symbol links its poll's first new bar to that one, which
//! is never earlier than the response's bar before it and is what a subscriber holds (they
//! differ only when Yahoo dropped or re-timed a bar since). In a warm container the memory
//! holds across invocations; in a cold one the response's own series gives the link.

use std::collections::HashMap;
use std::time::Duration;

use quotecast_shared::Quote;
use serde::Deserialize;

use super::{QuoteSource, SourceError};

/// Attempts per symbol and poll (throttling and server errors are retried).
const ATTEMPTS: u32 = 3;

pub struct Yahoo {
    http: reqwest::Client,
    base_url: String,
    symbols: Vec<String>,
    range: String,
    interval: String,
    retry_delay: Duration,
    /// Timestamp (ms) of the last bar returned per symbol: what is new, and what the next
    /// new bar links to.
    last: HashMap<String, i64>,
}

#[derive(Deserialize)]
struct Envelope {
    chart: Chart,
}

#[derive(Deserialize)]
struct Chart {
    result: Option<Vec<ChartResult>>,
    error: Option<ChartError>,
}

#[derive(Deserialize)]
struct ChartError {
    code: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct ChartResult {
    #[serde(default)]
    timestamp: Vec<i64>,
    indicators: Indicators,
}

#[derive(Deserialize)]
struct Indicators {
    quote: Vec<Series>,
}

#[derive(Deserialize)]
struct Series {
    open: Vec<Option<f64>>,
    high: Vec<Option<f64>>,
    low: Vec<Option<f64>>,
    close: Vec<Option<f64>>,
    volume: Vec<Option<f64>>,
}

impl Yahoo {
    pub fn new(
        base_url: &str,
        symbols: Vec<String>,
        timeout: Duration,
    ) -> Result<Yahoo, reqwest::Error> {
        Ok(Yahoo {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .user_agent("quotecast/0.1")
                .build()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            symbols,
            range: "1h".to_owned(),
            interval: "1m".to_owned(),
            retry_delay: Duration::from_millis(500),
            last: HashMap::new(),
        })
    }

    /// Shortens the pause between attempts (tests).
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    async fn fetch(&self, symbol: &str) -> Result<String, SourceError> {
        let url = format!(
            "{}/v8/finance/chart/{symbol}?range={}&interval={}",
            self.base_url, self.range, self.interval
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retry = match self.http.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    return r.text().await.map_err(|e| SourceError::Network {
                        symbol: symbol.to_owned(),
                        reason: e.to_string(),
                    });
                }
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap_or_default();
                    // The chart API explains itself in the body, also on 4xx.
                    if let Some(e) = service_error(symbol, &body) {
                        return Err(e);
                    }
                    let err = SourceError::Http {
                        symbol: symbol.to_owned(),
                        status,
                        body: body.chars().take(200).collect(),
                    };
                    if status == 429 || status >= 500 {
                        err
                    } else {
                        return Err(err);
                    }
                }
                Err(e) => SourceError::Network {
                    symbol: symbol.to_owned(),
                    reason: e.to_string(),
                },
            };
            if attempt >= ATTEMPTS {
                return Err(retry);
            }
            tokio::time::sleep(self.retry_delay * attempt).await;
        }
    }
}

fn service_error(symbol: &str, body: &str) -> Option<SourceError> {
    let envelope: Envelope = serde_json::from_str(body).ok()?;
    let e = envelope.chart.error?;
    Some(SourceError::Service {
        symbol: symbol.to_owned(),
        code: e.code.unwrap_or_default(),
        description: e.description.unwrap_or_default(),
    })
}

/// The bars of one chart response, oldest first, missing ones and ones not after the bar
/// before them skipped, each linked to the bar before it in the response (the first to none).
pub fn parse_chart(symbol: &str, body: &str) -> Result<Vec<Quote>, SourceError> {
    let malformed = |reason: String| SourceError::Malformed {
        symbol: symbol.to_owned(),
        reason,
    };
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| malformed(e.to_string()))?;
    if let Some(e) = service_error(symbol, body) {
        return Err(e);
    }
    let result = envelope
        .chart
        .result
        .and_then(|r| r.into_iter().next())
        .ok_or_else(|| SourceError::Empty {
            symbol: symbol.to_owned(),
        })?;
    let series = result
        .indicators
        .quote
        .into_iter()
        .next()
        .ok_or_else(|| malformed("no quote series".to_owned()))?;
    let n = result.timestamp.len();
    if [
        series.open.len(),
        series.high.len(),
        series.low.len(),
        series.close.len(),
        series.volume.len(),
    ]
    .iter()
    .any(|l| *l != n)
    {
        return Err(malformed(format!(
            "{n} timestamps but series of other lengths"
        )));
    }
    let mut quotes: Vec<Quote> = Vec::with_capacity(n);
    let mut previous_close = None;
    for i in 0..n {
        let timestamp = result.timestamp[i].saturating_mul(1000);
        let prev_timestamp = quotes.last().map(|q| q.timestamp);
        if prev_timestamp.is_some_and(|prev| prev >= timestamp) {
            // A repeated or out-of-order time: the series only moves forward.
            continue;
        }
        let (Some(o), Some(h), Some(l), Some(c), Some(v)) = (
            series.open[i],
            series.high[i],
            series.low[i],
            series.close[i],
            series.volume[i],
        ) else {
            continue;
        };
        let volume = if v.is_finite() && v >= 0.0 {
            v.round() as u64
        } else {
            0
        };
        let quote = Quote::new(symbol, timestamp, [o, h, l, c], volume)
            .and_then(|q| q.with_previous_close(previous_close))
            .and_then(|q| q.with_prev_timestamp(prev_timestamp))
            .map_err(|error| SourceError::InvalidBar {
                context: format!("{symbol} at {}", result.timestamp[i]),
                error,
            })?;
        previous_close = Some(c);
        quotes.push(quote);
    }
    if quotes.is_empty() {
        return Err(SourceError::Empty {
            symbol: symbol.to_owned(),
        });
    }
    Ok(quotes)
}

impl QuoteSource for Yahoo {
    async fn poll(&mut self, _now_ms: i64) -> Result<Vec<Quote>, SourceError> {
        let mut out = Vec::new();
        for symbol in self.symbols.clone() {
            let body = self.fetch(&symbol).await?;
            let bars = parse_chart(&symbol, &body)?;
            let last = self.last.get(&symbol).copied();
            let mut new: Vec<Quote> = bars
                .into_iter()
                .filter(|q| last.is_none_or(|last| q.timestamp > last))
                .collect();
            if let (Some(first), Some(last)) = (new.first_mut(), last) {
                // Every response bar after `last` is new, so `last` is the latest bar before
                // `first` that anyone knows of: the response's own link, or a later one (a
                // bar the response no longer has, or the live bar Yahoo sometimes appends).
                if first.prev_timestamp != Some(last) {
                    *first = first
                        .clone()
                        .with_prev_timestamp(Some(last))
                        .map_err(|error| SourceError::InvalidBar {
                            context: format!("{symbol} at {}", first.timestamp / 1000),
                            error,
                        })?;
                }
            }
            if let Some(newest) = new.last() {
                self.last.insert(symbol.clone(), newest.timestamp);
            }
            out.extend(new);
        }
        Ok(out)
    }
}
