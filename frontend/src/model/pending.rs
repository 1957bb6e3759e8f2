//! What arrives between two animation frames, held until the next one.
//!
//! Updates are applied at most once per frame, so 1,000 quotes/s cost ~17 small batches a
//! second, not 1,000 renders. A hidden tab gets no frames at all: per ticker only the last
//! [`PENDING_BARS`] bars are kept (older ones would scroll out of the chart anyway), so memory
//! stays bounded however long the tab is hidden. The bars dropped there are not lost: the
//! next bar applied does not follow the last one held, and that hole is loaded from history.
//! History answers wait here too, so every signal is written from the frame callback.

use std::collections::{HashMap, VecDeque};

use quotecast_shared::quote::Quote;
use quotecast_shared::realtime::client::ConnectionState;

use super::backfill::{FieldError, Page, Request};

/// Live bars held per ticker between two frames.
pub const PENDING_BARS: usize = 60;

/// The answer to one ticker's `history` request.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryAnswer {
    Page(Page),
    /// The request failed: sent again later, or never when the failure is permanent.
    Failed(FieldError),
}

/// One thing the feed reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Quote(Quote),
    /// A message for `symbol` that is not a quote in either format.
    Unreadable {
        symbol: String,
    },
    /// Connection `index` of the pool is now in `state`.
    Connection {
        index: usize,
        state: ConnectionState,
    },
    /// The API refused the subscription for `symbol` for good.
    Refused {
        symbol: String,
        message: String,
    },
    /// The subscription for `symbol` is live (again): time to load what it missed.
    Subscribed {
        symbol: String,
    },
    /// History for `symbol` came back.
    History {
        symbol: String,
        request: Request,
        answer: HistoryAnswer,
    },
}

/// Everything gathered for one frame.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub quotes: HashMap<String, VecDeque<Quote>>,
    pub unreadable: HashMap<String, u64>,
    /// Connection states as reported, `(index, state)` in order: the last of an index wins.
    /// (Vectors rather than ordered maps and sets here: each map type instantiated costs the
    /// bundle kilobytes, and a frame holds a handful of entries.)
    pub connections: Vec<(usize, ConnectionState)>,
    pub refused: Vec<(String, String)>,
    pub subscribed: Vec<String>,
    pub history: Vec<(String, Request, HistoryAnswer)>,
}

impl Batch {
    pub fn push(&mut self, update: Update) {
        match update {
            Update::Quote(q) => {
                let bars = self.quotes.entry(q.symbol.clone()).or_default();
                bars.push_back(q);
                if bars.len() > PENDING_BARS {
                    bars.pop_front();
                }
            }
            Update::Unreadable { symbol } => *self.unreadable.entry(symbol).or_default() += 1,
            Update::Connection { index, state } => {
                self.connections.push((index, state));
            }
            Update::Refused { symbol, message } => self.refused.push((symbol, message)),
            Update::Subscribed { symbol } => {
                if !self.subscribed.contains(&symbol) {
                    self.subscribed.push(symbol);
                }
            }
            Update::History {
                symbol,
                request,
                answer,
            } => self.history.push((symbol, request, answer)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty()
            && self.unreadable.is_empty()
            && self.connections.is_empty()
            && self.refused.is_empty()
            && self.subscribed.is_empty()
            && self.history.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_each_ticker_and_keeps_the_latest_of_everything() {
        let mut b = Batch::default();
        assert!(b.is_empty());
        for t in 0..(PENDING_BARS as i64 * 3) {
            b.push(Update::Quote(
                Quote::new("AMZN", t, [1.0, 1.0, 1.0, 1.0], 1).unwrap(),
            ));
        }
        b.push(Update::Quote(Quote::new("TSLA", 7, [1.0; 4], 1).unwrap()));
        b.push(Update::Unreadable {
            symbol: "TSLA".into(),
        });
        b.push(Update::Unreadable {
            symbol: "TSLA".into(),
        });
        b.push(Update::Connection {
            index: 1,
            state: ConnectionState::Connecting,
        });
        b.push(Update::Connection {
            index: 1,
            state: ConnectionState::Live,
        });
        b.push(Update::Refused {
            symbol: "X".into(),
            message: "no".into(),
        });
        let amzn = &b.quotes["AMZN"];
        assert_eq!(amzn.len(), PENDING_BARS);
        assert_eq!(amzn.front().unwrap().timestamp, PENDING_BARS as i64 * 2);
        assert_eq!(amzn.back().unwrap().timestamp, PENDING_BARS as i64 * 3 - 1);
        assert_eq!(b.quotes["TSLA"].len(), 1);
        assert_eq!(b.unreadable["TSLA"], 2);
        assert_eq!(b.connections.last(), Some(&(1, ConnectionState::Live)));
        assert_eq!(b.refused, [("X".to_owned(), "no".to_owned())]);
        assert!(!b.is_empty());
        let mut h = Batch::default();
        h.push(Update::Subscribed {
            symbol: "AMZN".into(),
        });
        assert!(!h.is_empty());
        let request = Request {
            after: None,
            limit: 1,
            until: None,
        };
        h.push(Update::History {
            symbol: "AMZN".into(),
            request,
            answer: HistoryAnswer::Page(Page::default()),
        });
        assert_eq!(h.history.len(), 1);
        h.push(Update::Subscribed {
            symbol: "AMZN".into(),
        });
        assert_eq!(h.subscribed, ["AMZN"], "once");
    }
}
