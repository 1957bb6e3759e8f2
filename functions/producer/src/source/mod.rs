//! Where quotes come from, behind one trait so configuration picks the source.
//!
//! A source is asked for what is new up to "now" and answers with validated quotes in time
//! order per symbol; it remembers what it already gave, so a scheduled invocation publishes
//! each bar once. Every quote links (`prevTimestamp`) to the bar before it in its symbol's
//! series, so a subscriber can tell it missed one; each source's module says what its series
//! is across invocations.

pub mod replay;
pub mod sim;
pub mod yahoo;

use quotecast_shared::{Quote, QuoteError};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{symbol}: HTTP {status} from the quote service: {body}")]
    Http {
        symbol: String,
        status: u16,
        body: String,
    },
    #[error("{symbol}: the quote service could not be reached: {reason}")]
    Network { symbol: String, reason: String },
    #[error("{symbol}: the quote service answered with an error: {code}: {description}")]
    Service {
        symbol: String,
        code: String,
        description: String,
    },
    #[error("{symbol}: no bars in the response")]
    Empty { symbol: String },
    #[error("{symbol}: malformed response: {reason}")]
    Malformed { symbol: String, reason: String },
    #[error("{path}:{line}: {reason}")]
    File {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("cannot read {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{context}: invalid bar: {error}")]
    InvalidBar { context: String, error: QuoteError },
}

/// A source of quotes.
#[allow(async_fn_in_trait)]
pub trait QuoteSource: Send {
    /// Quotes that became available up to `now_ms` (ms since the epoch) and were not returned
    /// before, in time order per symbol.
    fn poll(
        &mut self,
        now_ms: i64,
    ) -> impl std::future::Future<Output = Result<Vec<Quote>, SourceError>> + Send;
}
