//! Whether a ticker's feed is flowing: the age of its last bar, and "stale" once three bar
//! intervals have passed without one, so a frozen feed is not mistaken for a quiet market.
//!
//! The interval is the series' own: the last bar's distance to the bar before it
//! (`prevTimestamp`, or the bar held before it), so minute bars and second bars each go
//! stale at their own pace. Ages are measured from the bar's timestamp against the
//! browser's clock; a floor of [`MIN_STALE_MS`] keeps a fast series (250 ms bars) from
//! flickering stale over ordinary delivery latency or a few seconds of clock skew.

use super::ticker::TickerState;

/// Intervals without a bar before a ticker is stale.
pub const STALE_INTERVALS: i64 = 3;
/// A ticker is never stale sooner than this after its last bar.
pub const MIN_STALE_MS: i64 = 3_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No bar yet.
    Waiting,
    /// The last bar is `age_ms` old.
    Live { age_ms: i64 },
    /// No bar since `since_ms` (the last bar's time), for longer than three intervals.
    Stale { since_ms: i64 },
}

/// The series' bar interval, if two bars tell it.
pub fn interval_ms(state: &TickerState) -> Option<i64> {
    let last = state.last()?;
    let before = last
        .prev_timestamp
        .or_else(|| state.recent(2).nth(1).map(|q| q.timestamp))?;
    Some(last.timestamp - before).filter(|i| *i > 0)
}

pub fn freshness(state: &TickerState, now_ms: i64) -> Freshness {
    let Some(last) = state.last() else {
        return Freshness::Waiting;
    };
    let age_ms = (now_ms - last.timestamp).max(0);
    let limit = interval_ms(state)
        .map_or(MIN_STALE_MS, |i| i.saturating_mul(STALE_INTERVALS))
        .max(MIN_STALE_MS);
    if age_ms > limit {
        Freshness::Stale {
            since_ms: last.timestamp,
        }
    } else {
        Freshness::Live { age_ms }
    }
}

impl Freshness {
    pub fn is_stale(&self) -> bool {
        matches!(self, Freshness::Stale { .. })
    }
}

/// `0 s`, `12 s`, `3 min`, `2 h`: an age as a person reads it (the card's clock ticks
/// once a second, so no finer).
pub fn age(age_ms: i64) -> String {
    let secs = age_ms / 1000;
    match secs {
        ..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use quotecast_shared::quote::Quote;

    use super::*;

    fn state(bars: &[(i64, Option<i64>)]) -> TickerState {
        let mut s = TickerState::default();
        for (t, prev) in bars {
            s.apply(
                Quote::new("AMZN", *t, [1.0; 4], 1)
                    .unwrap()
                    .with_prev_timestamp(*prev)
                    .unwrap(),
            );
        }
        s
    }

    #[test]
    fn stale_after_three_intervals_and_live_again_with_the_next_bar() {
        let mut s = state(&[(60_000, Some(0))]);
        assert_eq!(interval_ms(&s), Some(60_000), "minute bars");
        assert_eq!(freshness(&s, 61_500), Freshness::Live { age_ms: 1_500 });
        assert!(
            !freshness(&s, 240_000).is_stale(),
            "exactly three intervals"
        );
        assert_eq!(
            freshness(&s, 240_001),
            Freshness::Stale { since_ms: 60_000 }
        );
        s.apply(
            Quote::new("AMZN", 240_000, [1.0; 4], 1)
                .unwrap()
                .with_prev_timestamp(Some(60_000))
                .unwrap(),
        );
        assert!(!freshness(&s, 240_001).is_stale());
    }

    #[test]
    fn the_interval_comes_from_the_link_or_the_bar_before() {
        assert_eq!(interval_ms(&state(&[])), None);
        assert_eq!(interval_ms(&state(&[(5_000, None)])), None);
        assert_eq!(
            interval_ms(&state(&[(1_000, None), (2_000, None)])),
            Some(1_000)
        );
        assert_eq!(freshness(&state(&[]), 9), Freshness::Waiting);
        // Fast bars are not stale before the floor; an unknown interval uses the floor.
        let fast = state(&[(1_000, Some(750))]);
        assert!(!freshness(&fast, 1_000 + MIN_STALE_MS).is_stale());
        assert!(freshness(&fast, 1_001 + MIN_STALE_MS).is_stale());
        assert!(freshness(&state(&[(1_000, None)]), 4_001).is_stale());
        // A clock behind the server's reads as age 0, not negative.
        assert_eq!(freshness(&fast, 0), Freshness::Live { age_ms: 0 });
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(400), "0 s");
        assert_eq!(age(12_300), "12 s");
        assert_eq!(age(185_000), "3 min");
        assert_eq!(age(7_200_000), "2 h");
    }
}
