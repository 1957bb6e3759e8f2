//! What the dashboard knows about one ticker: its recent bars, newest last, and what is
//! derived from them (last price, change, direction).
//!
//! Bars arrive in order per symbol, but a reconnect or a redelivered batch can repeat one:
//! a bar older than the newest is dropped, one with the same timestamp replaces it, so the
//! view never goes back in time and never shows a bar twice.

use std::collections::VecDeque;

use quotecast_shared::quote::Quote;

/// Bars kept per ticker (the chart's width).
pub const HISTORY: usize = 60;

/// Rows of the bar table.
pub const TABLE_ROWS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Flat,
}

impl Direction {
    pub fn class(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Flat => "flat",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickerState {
    bars: VecDeque<Quote>,
    /// Timestamp of the first bar applied: with `updates` and the last timestamp it shows
    /// whether any bar was missed since the ticker was added.
    pub first_timestamp: Option<i64>,
    /// Bars applied since the ticker was added (duplicates and stale ones not counted).
    pub updates: u64,
    /// Messages for this ticker that could not be read as a quote.
    pub unreadable: u64,
}

impl TickerState {
    /// Applies one bar; `false` when it was older than what is shown.
    pub fn apply(&mut self, quote: Quote) -> bool {
        match self.bars.back() {
            Some(last) if quote.timestamp < last.timestamp => return false,
            Some(last) if quote.timestamp == last.timestamp => {
                self.bars.pop_back();
            }
            _ => {}
        }
        self.first_timestamp.get_or_insert(quote.timestamp);
        self.bars.push_back(quote);
        if self.bars.len() > HISTORY {
            self.bars.pop_front();
        }
        self.updates += 1;
        true
    }

    pub fn last(&self) -> Option<&Quote> {
        self.bars.back()
    }

    /// Change and change % of the last close: against the quote's own previous close when
    /// it carries one (ours do), else against the bar before it (the reference's don't).
    pub fn change(&self) -> Option<(f64, f64)> {
        let last = self.bars.back()?;
        last.change().or_else(|| {
            let prev = self.bars.iter().rev().nth(1)?.close;
            (prev != 0.0).then(|| (last.close - prev, (last.close - prev) / prev * 100.0))
        })
    }

    pub fn direction(&self) -> Direction {
        match self.change() {
            Some((c, _)) if c > 0.0 => Direction::Up,
            Some((c, _)) if c < 0.0 => Direction::Down,
            _ => Direction::Flat,
        }
    }

    /// Closes, oldest first, for the chart.
    pub fn closes(&self) -> Vec<f64> {
        self.bars.iter().map(|q| q.close).collect()
    }

    /// The newest `n` bars, newest first, for the table.
    pub fn recent(&self, n: usize) -> impl Iterator<Item = &Quote> {
        self.bars.iter().rev().take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, close: f64) -> Quote {
        Quote::new("AMZN", t, [close, close + 1.0, close - 1.0, close], 10).unwrap()
    }

    #[test]
    fn keeps_bars_in_time_order_without_repeats() {
        let mut s = TickerState::default();
        assert!(s.apply(bar(1_000, 10.0)));
        assert!(s.apply(bar(2_000, 11.0)));
        assert!(!s.apply(bar(1_000, 99.0)), "an older bar is dropped");
        assert!(s.apply(bar(2_000, 12.0)), "the same bar again replaces it");
        assert_eq!(s.closes(), [10.0, 12.0]);
        assert_eq!(s.first_timestamp, Some(1_000));
        assert_eq!(s.updates, 3);
        let newest: Vec<i64> = s.recent(5).map(|q| q.timestamp).collect();
        assert_eq!(newest, [2_000, 1_000]);
    }

    #[test]
    fn keeps_only_the_history_window() {
        let mut s = TickerState::default();
        for t in 0..(HISTORY as i64 + 10) {
            s.apply(bar(t, t as f64 + 1.0));
        }
        let closes = s.closes();
        assert_eq!(closes.len(), HISTORY);
        assert_eq!(closes[0], 11.0);
        assert_eq!(s.recent(TABLE_ROWS).count(), TABLE_ROWS);
    }

    #[test]
    fn change_prefers_the_quotes_previous_close() {
        let mut s = TickerState::default();
        assert_eq!(s.change(), None);
        assert_eq!(s.direction(), Direction::Flat);
        s.apply(bar(1, 100.0));
        assert_eq!(
            s.change(),
            None,
            "one reference bar has nothing to compare with"
        );
        s.apply(bar(2, 90.0));
        assert_eq!(s.change(), Some((-10.0, -10.0)));
        assert_eq!(s.direction(), Direction::Down);
        s.apply(bar(3, 80.0).with_previous_close(Some(50.0)).unwrap());
        assert_eq!(s.change(), Some((30.0, 60.0)));
        assert_eq!(s.direction(), Direction::Up);
    }
}
