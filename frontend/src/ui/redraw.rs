//! When a card redraws: the dashboard's refresh clock and time signal, and the memo a card
//! part follows instead of every change of its ticker's state.
//!
//! Its own file so the card, its chart and the dashboard that provides the clocks all depend
//! on it, and not on each other in a loop.

use leptos::prelude::*;

use crate::browser::clock::now_ms;
use crate::model::throttle::{Drawn, Throttle};
use crate::model::ticker::TickerState;

/// Ticks when busy cards should catch up; provided by the dashboard. Without one (a card on
/// its own) the card follows every update.
#[derive(Clone, Copy)]
pub struct RefreshClock(pub RwSignal<u64>);

/// The time the cards measure their bars' age against, ticking once a second; provided by
/// the dashboard. Without one (a card on its own) the card reads the clock when it renders.
#[derive(Clone, Copy)]
pub struct Now(pub RwSignal<i64>);

/// How often the dashboard's busy cards catch up.
pub const REFRESH: std::time::Duration = std::time::Duration::from_millis(250);

/// Reads the state as the card draws it: tracked through `redraw`, not through every change.
pub fn shown<T>(
    redraw: Memo<u64>,
    state: RwSignal<TickerState>,
    read: impl FnOnce(&TickerState) -> T,
) -> T {
    // Read, not only tracked: a memo never read is never computed, so it would never see
    // the state change.
    redraw.get();
    state.with_untracked(read)
}

/// How often a busy card redraws a part.
#[derive(Clone, Copy)]
pub enum Pace {
    /// On every tick of the refresh clock (250 ms): price, change, chart.
    EveryTick,
    /// About once a second: the table of bars, whose rows shift too fast to read anyway and
    /// whose cells cost the most to lay out again (BENCHMARKS.md).
    AboutOnceASecond,
}

/// Changes each time the card should redraw: on every change for a card on its own; under
/// the dashboard's refresh clock at once after a quiet spell or for an urgent change (the
/// first bars, the first history load: [`Drawn::is_urgent_after`]) and once per tick while
/// busy ([`Throttle`]).
pub fn redraws(state: RwSignal<TickerState>, pace: Pace) -> Memo<u64> {
    let clock = use_context::<RefreshClock>();
    let throttle = match pace {
        Pace::EveryTick => Throttle::new(REFRESH.as_millis() as i64, 0),
        Pace::AboutOnceASecond => Throttle::new(1_000, 750),
    };
    let throttle = StoredValue::new(throttle);
    let drawn = StoredValue::new(None::<Drawn>);
    Memo::new(move |prev: Option<&u64>| {
        let count = prev.copied().unwrap_or(0);
        let now_showing = state.with(Drawn::of);
        let changed = drawn.with_value(|d| *d != Some(now_showing));
        let urgent = drawn.with_value(|d| now_showing.is_urgent_after(d.as_ref()));
        let tick = clock.map(|RefreshClock(t)| t.get());
        let due = match tick {
            Some(tick) if !urgent => throttle
                .try_update_value(|t| t.due(changed, tick, now_ms()))
                .unwrap_or(true),
            Some(_) if changed => {
                throttle.update_value(|t| t.laid(now_ms()));
                true
            }
            _ => changed,
        };
        if due {
            drawn.set_value(Some(now_showing));
            count + 1
        } else {
            count
        }
    })
}
