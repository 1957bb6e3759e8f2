//! What the dashboard knows about one ticker: its bars in time order, and what is derived
//! from them (last price, change, direction, the holes between them).
//!
//! Bars come from two places that overlap: the live subscription and the history API
//! (loaded on open, after every resubscribe and to fill a hole). So bars are *merged* by
//! timestamp: a bar already held is replaced (a redelivery carries the same bar), a new one
//! goes where its time says, so the series is never out of order and never holds a bar
//! twice, whichever source delivered it first.
//!
//! Each of our quotes names the bar before it (`prevTimestamp`); where the bar held before
//! it is another one, something is missing in between: a *hole*. Holes are what the
//! backfill loads ([`super::backfill`]) and what the chart draws as a gap when history
//! cannot fill them.

use std::collections::VecDeque;

use quotecast_shared::quote::Quote;

/// Bars held per ticker: the chart's widest range. Older ones are dropped first.
pub const HELD: usize = 240;

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

/// What merging one bar did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    /// A bar not held before.
    New,
    /// A bar with the same timestamp was held; this one replaced it.
    Replaced,
    /// Older than everything held while the series is full: it would scroll out at once.
    Dropped,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickerState {
    bars: VecDeque<Quote>,
    /// Timestamp of the oldest bar ever merged: with `updates` and the last timestamp it
    /// shows whether any bar is missing since (`updates == (last - first) / interval + 1`).
    pub first_timestamp: Option<i64>,
    /// Distinct bars merged since the ticker was added (a replaced bar is not counted again).
    pub updates: u64,
    /// Messages for this ticker that could not be read as a quote.
    pub unreadable: u64,
    /// The first history load has not come back yet (the card says "loading…").
    pub loading: bool,
    /// Why history is not loaded at all (a permanent refusal), shown instead of "loading…".
    pub history_unavailable: Option<String>,
}

impl TickerState {
    /// Merges one bar by its timestamp.
    pub fn apply(&mut self, quote: Quote) -> Merged {
        let at = self
            .bars
            .binary_search_by_key(&quote.timestamp, |q| q.timestamp);
        match at {
            Ok(i) => {
                self.bars[i] = quote;
                Merged::Replaced
            }
            Err(0) if self.bars.len() >= HELD => Merged::Dropped,
            Err(i) => {
                let t = quote.timestamp;
                self.first_timestamp = Some(self.first_timestamp.map_or(t, |f| f.min(t)));
                self.bars.insert(i, quote);
                if self.bars.len() > HELD {
                    self.bars.pop_front();
                }
                self.updates += 1;
                Merged::New
            }
        }
    }

    pub fn last(&self) -> Option<&Quote> {
        self.bars.back()
    }

    pub fn len(&self) -> usize {
        self.bars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    /// All bars held, oldest first.
    pub fn bars(&self) -> &VecDeque<Quote> {
        &self.bars
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

    /// The newest `n` bars, newest first, for the table.
    pub fn recent(&self, n: usize) -> impl Iterator<Item = &Quote> {
        self.bars.iter().rev().take(n)
    }

    /// Missing stretches between held bars, oldest first, as `(after, before)`: the bar held
    /// at `after` is followed by the one at `before`, whose `prevTimestamp` names a later
    /// bar than `after`. History from `after` up to `before` fills one.
    pub fn holes(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.bars
            .iter()
            .zip(self.bars.iter().skip(1))
            .filter_map(|(a, b)| {
                b.prev_timestamp
                    .filter(|p| *p > a.timestamp)
                    .map(|_| (a.timestamp, b.timestamp))
            })
    }
}

/// Whether `bar` does not continue `before` in its series (a hole, or a series that
/// restarted): the chart breaks its line there. Bars without a link (the reference
/// sample's) always continue.
pub fn breaks_after(before: &Quote, bar: &Quote) -> bool {
    bar.prev_timestamp.is_some_and(|p| p != before.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(t: i64, close: f64) -> Quote {
        Quote::new("AMZN", t, [close, close + 1.0, close - 1.0, close], 10).unwrap()
    }

    /// A bar of a series on a 1 s grid, linked to the one before it.
    fn linked(t: i64) -> Quote {
        bar(t, t as f64)
            .with_prev_timestamp(Some(t - 1_000))
            .unwrap()
    }

    fn times(s: &TickerState) -> Vec<i64> {
        s.bars().iter().map(|q| q.timestamp).collect()
    }

    #[test]
    fn merges_by_time_without_repeats() {
        let mut s = TickerState::default();
        assert_eq!(s.apply(bar(2_000, 11.0)), Merged::New);
        assert_eq!(s.apply(bar(4_000, 13.0)), Merged::New);
        assert_eq!(s.apply(bar(1_000, 10.0)), Merged::New, "history: older");
        assert_eq!(s.apply(bar(3_000, 12.0)), Merged::New, "a hole filled");
        assert_eq!(s.apply(bar(2_000, 99.0)), Merged::Replaced);
        assert_eq!(times(&s), [1_000, 2_000, 3_000, 4_000]);
        assert_eq!(s.bars()[1].close, 99.0);
        assert_eq!(s.first_timestamp, Some(1_000));
        assert_eq!(s.updates, 4, "a replaced bar is not counted twice");
        assert_eq!(s.len(), 4);
        let newest: Vec<i64> = s.recent(2).map(|q| q.timestamp).collect();
        assert_eq!(newest, [4_000, 3_000]);
    }

    #[test]
    fn keeps_the_newest_bars_when_full() {
        let mut s = TickerState::default();
        for t in 0..(HELD as i64 + 10) {
            s.apply(bar(1_000 + t, t as f64 + 1.0));
        }
        assert_eq!(s.len(), HELD);
        assert_eq!(s.bars()[0].timestamp, 1_010);
        assert_eq!(
            s.apply(bar(5, 1.0)),
            Merged::Dropped,
            "would scroll out at once"
        );
        assert_eq!(s.len(), HELD);
        assert_eq!(s.first_timestamp, Some(1_000), "the oldest ever merged");
        assert_eq!(s.recent(TABLE_ROWS).count(), TABLE_ROWS);
    }

    #[test]
    fn finds_holes_from_prev_timestamp() {
        let mut s = TickerState::default();
        for t in [1_000, 2_000, 5_000, 6_000, 9_000] {
            s.apply(linked(t));
        }
        assert_eq!(
            s.holes().collect::<Vec<_>>(),
            [(2_000, 5_000), (6_000, 9_000)]
        );
        s.apply(linked(3_000));
        s.apply(linked(4_000));
        assert_eq!(s.holes().collect::<Vec<_>>(), [(6_000, 9_000)]);
        // Unlinked bars (the reference payload) and a first bar never make a hole.
        let mut r = TickerState::default();
        r.apply(bar(1_000, 1.0));
        r.apply(bar(7_000, 1.0));
        assert_eq!(r.holes().count(), 0);
    }

    #[test]
    fn a_bar_breaks_the_line_when_it_does_not_follow() {
        assert!(!breaks_after(&linked(1_000), &linked(2_000)));
        assert!(breaks_after(&linked(1_000), &linked(3_000)));
        assert!(!breaks_after(&linked(1_000), &bar(9_000, 1.0)));
        let restarted = bar(9_000, 1.0).with_prev_timestamp(Some(500)).unwrap();
        assert!(breaks_after(&linked(1_000), &restarted));
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
