//! One OHLCV bar of one ticker: what the producer publishes and the dashboard draws.
//!
//! A [`Quote`] is valid by construction: deserialising goes through the same checks as
//! [`Quote::new`], so code holding a `Quote` never re-checks it. The reference sample's Kafka
//! payload (`{"topic": ..., "value": "{\"Open\": ...}"}`) is read by [`ReferenceQuote`].
//!
//! Each quote may name the bar before it in its symbol's series (`prevTimestamp`), so a
//! subscriber whose last bar is not that one knows it missed something. It is absent for a
//! series' first bar and in payloads written before it existed, which still parse.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest accepted ticker symbol, in bytes. Real tickers are far shorter; the bound keeps
/// channel names and filter strings (≤ 256 characters in AppSync) comfortably small.
pub const MAX_SYMBOL_LEN: usize = 32;

/// Why a quote was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuoteError {
    #[error("quote symbol is empty")]
    EmptySymbol,
    #[error("quote symbol is {len} bytes long; at most {MAX_SYMBOL_LEN} are allowed")]
    SymbolTooLong { len: usize },
    #[error("quote symbol {symbol:?} contains whitespace or control characters")]
    SymbolInvalid { symbol: String },
    #[error("quote field `{field}` is not a finite number")]
    NonFinite { field: &'static str },
    #[error("quote high {high} is below its low {low}")]
    HighBelowLow { high: f64, low: f64 },
    #[error("quote volume {volume} is negative")]
    NegativeVolume { volume: f64 },
    #[error("quote volume {volume} is not a whole number")]
    FractionalVolume { volume: f64 },
    #[error("quote timestamp {timestamp} is before 1970")]
    NegativeTimestamp { timestamp: i64 },
    #[error("quote prevTimestamp {prev} is before 1970")]
    NegativePrevTimestamp { prev: i64 },
    #[error("quote prevTimestamp {prev} is not before the quote's timestamp {timestamp}")]
    PrevTimestampNotBefore { prev: i64, timestamp: i64 },
    #[error("quote payload is not valid JSON for a quote: {0}")]
    Malformed(String),
}

/// One bar: prices for one interval of one ticker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "QuoteWire")]
pub struct Quote {
    pub symbol: String,
    /// End of the bar, milliseconds since the Unix epoch (UTC).
    pub timestamp: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
    /// The close of the bar before this one, so a viewer joining late can show change %.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<f64>,
    /// The timestamp (ms) of the bar before this one in the symbol's series; `None` for a
    /// series' first bar. Always before `timestamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_timestamp: Option<i64>,
}

/// The JSON shape of a quote before validation; volume is read as a number of any kind
/// so that a negative or fractional volume gets its own clear error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QuoteWire {
    symbol: String,
    timestamp: i64,
    open: f64,
    high: f64,
    low: f64,
    close: f64,
    volume: f64,
    #[serde(default)]
    previous_close: Option<f64>,
    #[serde(default)]
    prev_timestamp: Option<i64>,
}

impl TryFrom<QuoteWire> for Quote {
    type Error = QuoteError;

    fn try_from(w: QuoteWire) -> Result<Self, QuoteError> {
        let volume = volume_from_f64(w.volume)?;
        Quote::new(
            w.symbol,
            w.timestamp,
            [w.open, w.high, w.low, w.close],
            volume,
        )
        .and_then(|q| q.with_previous_close(w.previous_close))
        .and_then(|q| q.with_prev_timestamp(w.prev_timestamp))
    }
}

fn volume_from_f64(volume: f64) -> Result<u64, QuoteError> {
    if !volume.is_finite() {
        return Err(QuoteError::NonFinite { field: "volume" });
    }
    if volume < 0.0 {
        return Err(QuoteError::NegativeVolume { volume });
    }
    if volume.fract() != 0.0 {
        return Err(QuoteError::FractionalVolume { volume });
    }
    // Saturates above u64::MAX, which no real volume reaches.
    Ok(volume as u64)
}

/// Checks a ticker symbol: non-empty, at most [`MAX_SYMBOL_LEN`] bytes, no whitespace or
/// control characters (`BRK.B`, `^GSPC` and `BTC-USD` are all fine).
pub fn validate_symbol(symbol: &str) -> Result<(), QuoteError> {
    if symbol.is_empty() {
        return Err(QuoteError::EmptySymbol);
    }
    if symbol.len() > MAX_SYMBOL_LEN {
        return Err(QuoteError::SymbolTooLong { len: symbol.len() });
    }
    if symbol.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(QuoteError::SymbolInvalid {
            symbol: symbol.to_owned(),
        });
    }
    Ok(())
}

/// Trims and upper-cases a typed symbol and checks it (`brk.b` → `BRK.B`); the error is the
/// reason, ready to show. Only ASCII letters change case: tickers on every feed quotecast
/// reads are ASCII, other characters are kept as typed, and Unicode's case tables would be
/// about 4 KB of the dashboard's compressed bundle.
pub fn normalize_symbol(input: &str) -> Result<String, String> {
    let symbol = input.trim().to_ascii_uppercase();
    validate_symbol(&symbol).map_err(|e| e.to_string())?;
    Ok(symbol)
}

impl Quote {
    /// Builds a validated quote from `[open, high, low, close]`.
    pub fn new(
        symbol: impl Into<String>,
        timestamp: i64,
        [open, high, low, close]: [f64; 4],
        volume: u64,
    ) -> Result<Self, QuoteError> {
        let symbol = symbol.into();
        validate_symbol(&symbol)?;
        if timestamp < 0 {
            return Err(QuoteError::NegativeTimestamp { timestamp });
        }
        for (field, value) in [
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
        ] {
            if !value.is_finite() {
                return Err(QuoteError::NonFinite { field });
            }
        }
        if high < low {
            return Err(QuoteError::HighBelowLow { high, low });
        }
        Ok(Quote {
            symbol,
            timestamp,
            open,
            high,
            low,
            close,
            volume,
            previous_close: None,
            prev_timestamp: None,
        })
    }

    /// Sets the previous close, refusing a non-finite one.
    pub fn with_previous_close(mut self, previous_close: Option<f64>) -> Result<Self, QuoteError> {
        if previous_close.is_some_and(|p| !p.is_finite()) {
            return Err(QuoteError::NonFinite {
                field: "previousClose",
            });
        }
        self.previous_close = previous_close;
        Ok(self)
    }

    /// Links the quote to the bar before it in its series, refusing a link that is before
    /// 1970 or not strictly before this bar.
    pub fn with_prev_timestamp(mut self, prev_timestamp: Option<i64>) -> Result<Self, QuoteError> {
        if let Some(prev) = prev_timestamp {
            if prev < 0 {
                return Err(QuoteError::NegativePrevTimestamp { prev });
            }
            if prev >= self.timestamp {
                return Err(QuoteError::PrevTimestampNotBefore {
                    prev,
                    timestamp: self.timestamp,
                });
            }
        }
        self.prev_timestamp = prev_timestamp;
        Ok(self)
    }

    /// Parses our own JSON form of a quote.
    pub fn from_json(text: &str) -> Result<Self, QuoteError> {
        // Two steps so a well-formed but invalid quote keeps its typed error.
        let wire: QuoteWire =
            serde_json::from_str(text).map_err(|e| QuoteError::Malformed(e.to_string()))?;
        Quote::try_from(wire)
    }

    /// The JSON text carried as `Channel.data`.
    pub fn to_json(&self) -> String {
        // A validated quote holds only finite numbers and strings, which always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Change since the previous close, and the same as a percentage; `None` without a
    /// previous close (or with a zero one, where a percentage means nothing).
    pub fn change(&self) -> Option<(f64, f64)> {
        let prev = self.previous_close.filter(|p| *p != 0.0)?;
        let change = self.close - prev;
        Some((change, change / prev * 100.0))
    }
}

/// The reference sample's Kafka payload: `{"topic": "amazon", "value": "<JSON text>"}` where the
/// inner text holds `Open`, `High`, `Low`, `Close`, `Adj Close` and `Volume` (pandas column
/// names). It carries no symbol and no timestamp; the caller supplies both.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceQuote {
    pub topic: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub adj_close: Option<f64>,
    pub volume: f64,
}

/// `value`, the inner bar, is JSON *text* in the reference; a decoded object is accepted
/// too, because AppSync's AWSJSON round trip may already have parsed it. (Read as a `Value`
/// and matched, not as an untagged enum: see `ErrorObject`'s `Deserialize`.)
#[derive(Deserialize)]
struct ReferenceEnvelope {
    topic: String,
    value: Value,
}

#[derive(Deserialize)]
struct ReferenceBar {
    #[serde(rename = "Open")]
    open: f64,
    #[serde(rename = "High")]
    high: f64,
    #[serde(rename = "Low")]
    low: f64,
    #[serde(rename = "Close")]
    close: f64,
    #[serde(rename = "Adj Close", default)]
    adj_close: Option<f64>,
    #[serde(rename = "Volume")]
    volume: f64,
}

impl ReferenceQuote {
    /// Parses the reference payload.
    pub fn from_json(text: &str) -> Result<Self, QuoteError> {
        let envelope: ReferenceEnvelope =
            serde_json::from_str(text).map_err(|e| QuoteError::Malformed(e.to_string()))?;
        let bar: ReferenceBar = match envelope.value {
            Value::String(inner) => serde_json::from_str(&inner),
            object => serde_json::from_value(object),
        }
        .map_err(|e| QuoteError::Malformed(format!("reference `value`: {e}")))?;
        Ok(ReferenceQuote {
            topic: envelope.topic,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            adj_close: bar.adj_close,
            volume: bar.volume,
        })
    }

    /// Turns the bar into a validated [`Quote`] for `symbol` at `timestamp` (ms).
    pub fn into_quote(self, symbol: &str, timestamp: i64) -> Result<Quote, QuoteError> {
        let volume = volume_from_f64(self.volume)?;
        Quote::new(
            symbol,
            timestamp,
            [self.open, self.high, self.low, self.close],
            volume,
        )
    }
}

/// The member the consumer adds to a reference payload: the record's time (ms since the
/// epoch), so a live bar and its stored copy are dated alike whatever clock reads them.
pub const REFERENCE_TIME: &str = "timestamp";

/// The time a reference payload carries in [`REFERENCE_TIME`], if it is a whole number of
/// milliseconds from 0 on.
pub fn reference_time(payload: &Value) -> Option<i64> {
    let t = payload.get(REFERENCE_TIME)?;
    t.as_i64()
        .or_else(|| {
            t.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .filter(|t| *t >= 0)
}

/// A reference payload dated: its own [`REFERENCE_TIME`] if it has one, else `record_ms` added
/// to it. Returns the text to publish and the bar's time. Other members are kept (their
/// order may change); the reference sample's readers ignore members they do not know.
pub fn dated_reference(text: &str, record_ms: i64) -> Result<(String, i64), QuoteError> {
    let mut payload: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| QuoteError::Malformed(e.to_string()))?;
    if let Some(own) = reference_time(&Value::Object(payload.clone())) {
        return Ok((text.to_owned(), own));
    }
    payload.insert(REFERENCE_TIME.to_owned(), Value::from(record_ms));
    Ok((Value::Object(payload).to_string(), record_ms))
}

/// Reads `Channel.data` in either format: ours, or the reference sample's (which has no
/// symbol, so `channel_name` fills it in, and whose time is its [`REFERENCE_TIME`] when the
/// consumer dated it, else `received_at_ms`). `data` may also be
/// the JSON text *of* that text (double-encoded: what AppSync can make of an `AWSJSON` field
/// whose resolver returned a string, aws-mobile-appsync-sdk-js#533): one such layer is read
/// through, so a client works whichever AppSync writes.
pub fn parse_quote_payload(
    data: &str,
    channel_name: &str,
    received_at_ms: i64,
) -> Result<Quote, QuoteError> {
    let parsed = serde_json::from_str::<serde_json::Value>(data)
        .map_err(|e| QuoteError::Malformed(e.to_string()))?;
    let (data, parsed) = match parsed {
        serde_json::Value::String(inner) => {
            let parsed = serde_json::from_str::<serde_json::Value>(&inner)
                .map_err(|e| QuoteError::Malformed(e.to_string()))?;
            (std::borrow::Cow::Owned(inner), parsed)
        }
        parsed => (std::borrow::Cow::Borrowed(data), parsed),
    };
    if parsed.get("value").is_some() {
        let at = reference_time(&parsed).unwrap_or(received_at_ms);
        ReferenceQuote::from_json(&data)?.into_quote(channel_name, at)
    } else {
        Quote::from_json(&data)
    }
}
