//! When a card redraws: at once after a quiet spell, then at most once per tick of the
//! dashboard's refresh clock while bars keep coming.
//!
//! A redraw rewrites the price, the change, the readout, five chart paths and a dozen SVG
//! labels; the browser then re-lays out and repaints the card. Fifty tickers at twenty bars
//! a second each asked for 1,000 of those a second and the page drew 3 frames a second
//! (with only the chart throttled, 10; BENCHMARKS.md). No one reads a price that lives
//! 50 ms, so a busy card follows the clock (≤ one tick late) while a card that has been
//! quiet — the normal case, a bar a second or a minute — draws its new bar at once.

use super::ticker::TickerState;

/// What a card draws from a ticker's state, in brief: when it differs from the one drawn,
/// the card is behind.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Drawn {
    /// Bars merged so far, bars held, unreadable updates, whether history is loading.
    updates: u64,
    held: usize,
    unreadable: u64,
    loading: bool,
    /// The newest bar's time and prices (a redelivered newest bar may correct them).
    last: Option<(i64, [u64; 4])>,
}

impl Drawn {
    /// Whether this is worth drawing at once even on a busy card: the first bars after an
    /// empty card, or the end of the first history load (`loading` flips). The full chart
    /// then appears when its bars arrive, not up to a tick later.
    pub fn is_urgent_after(&self, before: Option<&Drawn>) -> bool {
        before.is_none_or(|b| b.held == 0 || b.loading != self.loading)
    }

    pub fn of(s: &TickerState) -> Drawn {
        Drawn {
            updates: s.updates,
            held: s.len(),
            unreadable: s.unreadable,
            loading: s.loading,
            last: s.last().map(|q| {
                let prices = [q.open, q.high, q.low, q.close].map(f64::to_bits);
                (q.timestamp, prices)
            }),
        }
    }
}

/// The decision state of one card (or one part of it).
#[derive(Debug, Clone)]
pub struct Throttle {
    /// When the card was last drawn (ms), if ever.
    laid_at: Option<i64>,
    /// The refresh clock's count at the last decision.
    tick_seen: u64,
    /// How long without a layout counts as quiet: a quiet card draws at once.
    quiet_ms: i64,
    /// Shortest time between two layouts on ticks (0: every tick).
    min_gap_ms: i64,
}

impl Throttle {
    /// A throttle under which a card quiet for `quiet_ms` draws a change at once, and a busy
    /// one on the first tick at least `min_gap_ms` after its last layout (0: every tick; more
    /// for what costs more to redraw and tells less when it changes fast, the card's table).
    pub fn new(quiet_ms: i64, min_gap_ms: i64) -> Throttle {
        Throttle {
            laid_at: None,
            tick_seen: 0,
            quiet_ms,
            min_gap_ms,
        }
    }

    /// Records a layout made outside [`Throttle::due`] (an urgent one): what follows within
    /// the period waits for the clock as usual.
    pub fn laid(&mut self, now: i64) {
        self.laid_at = Some(now);
    }

    /// Whether to lay out now. `changed`: what the card would show differs from what it
    /// shows; `tick`: the refresh clock's count; `now`: ms.
    pub fn due(&mut self, changed: bool, tick: u64, now: i64) -> bool {
        let ticked = std::mem::replace(&mut self.tick_seen, tick) != tick;
        if !changed {
            return false;
        }
        let since = self.laid_at.map_or(i64::MAX, |at| now - at);
        let quiet = since >= self.quiet_ms;
        if (ticked && since >= self.min_gap_ms) || quiet {
            self.laid_at = Some(now);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use quotecast_shared::quote::Quote;

    use super::*;

    fn quote(timestamp: i64, close: f64) -> Quote {
        Quote::new(
            "AMZN",
            timestamp,
            [close, close + 1.0, close - 1.0, close],
            10,
        )
        .unwrap()
    }

    #[test]
    fn what_a_card_draws_changes_with_any_bar_and_with_loading() {
        let mut s = TickerState::default();
        let empty = Drawn::of(&s);
        s.apply(quote(1_000, 1.0));
        let one = Drawn::of(&s);
        assert_ne!(one, empty);
        s.apply(quote(1_000, 1.0));
        assert_eq!(Drawn::of(&s), one, "the same bar again draws nothing new");
        s.apply(quote(1_000, 1.5));
        assert_ne!(Drawn::of(&s), one, "a corrected newest bar is drawn");
        let corrected = Drawn::of(&s);
        s.apply(quote(500, 1.0));
        assert_ne!(
            Drawn::of(&s),
            corrected,
            "an older bar from history is drawn"
        );
        let before = Drawn::of(&s);
        s.loading = true;
        assert_ne!(Drawn::of(&s), before);
        s.loading = false;
        s.unreadable += 1;
        assert_ne!(Drawn::of(&s), before);
    }

    const TICK: i64 = 250;

    #[test]
    fn a_quiet_chart_draws_a_new_bar_at_once() {
        let mut t = Throttle::new(TICK, 0);
        assert!(t.due(true, 0, 1_000), "the first layout");
        assert!(t.due(true, 0, 2_000), "a bar a second later");
        assert!(t.due(true, 0, 2_250), "exactly one period later");
    }

    #[test]
    fn the_first_bars_and_the_end_of_loading_are_urgent() {
        let mut s = TickerState::default();
        s.loading = true;
        let empty = Drawn::of(&s);
        // A live bar before the history answer: the card's first bar.
        s.apply(quote(60_000, 1.0));
        let first = Drawn::of(&s);
        assert!(first.is_urgent_after(None));
        assert!(first.is_urgent_after(Some(&empty)));
        s.apply(quote(61_000, 1.0));
        let second = Drawn::of(&s);
        assert!(!second.is_urgent_after(Some(&first)), "one more bar is not");
        // The history answer: many bars and the end of loading.
        for t in 0..60 {
            s.apply(quote(t * 1_000, 1.0));
        }
        s.loading = false;
        assert!(
            Drawn::of(&s).is_urgent_after(Some(&second)),
            "history has come"
        );
    }

    #[test]
    fn an_urgent_layout_starts_the_period_too() {
        let mut t = Throttle::new(TICK, 0);
        t.laid(1_000);
        assert!(!t.due(true, 0, 1_050));
        assert!(t.due(true, 1, 1_100));
    }

    #[test]
    fn a_table_throttle_redraws_about_once_a_second_when_busy() {
        let mut t = Throttle::new(1_000, 750);
        let (mut layouts, mut held, mut longest_held) = (0, None::<i64>, 0);
        for ms in (0..10_000).step_by(10) {
            let tick = ((ms + 130) / TICK) as u64;
            if ms % 50 == 0 {
                held.get_or_insert(ms);
            }
            if t.due(held.is_some(), tick, ms) {
                layouts += 1;
                longest_held = longest_held.max(ms - held.take().unwrap_or(ms));
            }
        }
        assert!((10..=14).contains(&layouts), "{layouts} layouts in 10 s");
        assert!(longest_held <= 1_000, "a bar waited {longest_held} ms");
        // Quiet, it draws at once.
        assert!(t.due(true, 1_000, 20_000));
    }

    #[test]
    fn nothing_new_is_never_laid_out() {
        let mut t = Throttle::new(TICK, 0);
        assert!(!t.due(false, 0, 1_000));
        assert!(!t.due(false, 1, 5_000), "a tick alone draws nothing");
    }

    #[test]
    fn a_busy_chart_waits_for_the_next_tick() {
        let mut t = Throttle::new(TICK, 0);
        assert!(t.due(true, 0, 1_000));
        // Bars every 50 ms: held until the clock ticks, whenever that is.
        assert!(!t.due(true, 0, 1_050));
        assert!(!t.due(true, 0, 1_100));
        assert!(t.due(true, 1, 1_120), "the tick draws what came meanwhile");
        assert!(!t.due(true, 1, 1_170));
        assert!(!t.due(true, 1, 1_220));
        assert!(t.due(true, 2, 1_370));
    }

    #[test]
    fn twenty_bars_a_second_cost_at_most_one_layout_per_tick_and_one_leading() {
        let mut t = Throttle::new(TICK, 0);
        let (mut layouts, mut held, mut longest_held) = (0, None::<i64>, 0);
        // 10 s of a bar every 50 ms, the clock ticking every 250 ms out of phase.
        for ms in (0..10_000).step_by(10) {
            let tick = ((ms + 130) / TICK) as u64;
            if ms % 50 == 0 {
                held.get_or_insert(ms);
            }
            if t.due(held.is_some(), tick, ms) {
                layouts += 1;
                longest_held = longest_held.max(ms - held.take().unwrap_or(ms));
            }
        }
        assert!((38..=45).contains(&layouts), "{layouts} layouts in 10 s");
        assert!(longest_held <= TICK, "a bar waited {longest_held} ms");
    }

    #[test]
    fn a_held_change_is_drawn_by_the_next_tick_even_right_after_a_layout() {
        let mut t = Throttle::new(TICK, 0);
        assert!(t.due(true, 0, 1_000));
        assert!(!t.due(true, 0, 1_010));
        // The tick lands 15 ms after the layout: it still draws the held change.
        assert!(t.due(true, 1, 1_015));
    }
}
