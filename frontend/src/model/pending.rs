//! What arrives between two animation frames, held until the next one.
//!
//! Updates are applied at most once per frame, so 1,000 quotes/s cost ~17 small batches a
//! second, not 1,000 renders. A hidden tab gets no frames at all: per ticker only the last
//! [`HISTORY`] bars are kept (older ones would scroll out of the chart anyway), so memory
//! stays bounded however long the tab is hidden.

use std::collections::{BTreeMap, HashMap, VecDeque};

use quotecast_shared::quote::Quote;
use quotecast_shared::realtime::client::ConnectionState;

use super::ticker::HISTORY;

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
}

/// Everything gathered for one frame.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub quotes: HashMap<String, VecDeque<Quote>>,
    pub unreadable: HashMap<String, u64>,
    /// The latest state of each connection that changed.
    pub connections: BTreeMap<usize, ConnectionState>,
    pub refused: Vec<(String, String)>,
}

impl Batch {
    pub fn push(&mut self, update: Update) {
        match update {
            Update::Quote(q) => {
                let bars = self.quotes.entry(q.symbol.clone()).or_default();
                bars.push_back(q);
                if bars.len() > HISTORY {
                    bars.pop_front();
                }
            }
            Update::Unreadable { symbol } => *self.unreadable.entry(symbol).or_default() += 1,
            Update::Connection { index, state } => {
                self.connections.insert(index, state);
            }
            Update::Refused { symbol, message } => self.refused.push((symbol, message)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty()
            && self.unreadable.is_empty()
            && self.connections.is_empty()
            && self.refused.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_each_ticker_and_keeps_the_latest_of_everything() {
        let mut b = Batch::default();
        assert!(b.is_empty());
        for t in 0..(HISTORY as i64 * 3) {
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
        assert_eq!(amzn.len(), HISTORY);
        assert_eq!(amzn.front().unwrap().timestamp, HISTORY as i64 * 2);
        assert_eq!(amzn.back().unwrap().timestamp, HISTORY as i64 * 3 - 1);
        assert_eq!(b.quotes["TSLA"].len(), 1);
        assert_eq!(b.unreadable["TSLA"], 2);
        assert_eq!(b.connections[&1], ConnectionState::Live);
        assert_eq!(b.refused, [("X".to_owned(), "no".to_owned())]);
        assert!(!b.is_empty());
    }
}
