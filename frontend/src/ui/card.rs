//! One ticker: last price, change with its colour, how fresh the feed is (greyed out and
//! "stale since …" after three bar intervals without a bar), the chart and the table of the
//! last bars (the reference's Close, Open, High, Low, Volume).

use leptos::prelude::*;

use super::chart::PriceChart;
use super::dashboard::TickerEntry;
use crate::browser::clock::now_ms;
use crate::model::format;
use crate::model::freshness::{Freshness, age, freshness};
use crate::model::table;
use crate::model::ticker::{TABLE_ROWS, TickerState};

/// Ticks when the bar tables and busy charts should catch up; provided by the dashboard.
/// Without one (a card on its own) both follow every update.
#[derive(Clone, Copy)]
pub struct RefreshClock(pub RwSignal<u64>);

/// The time the cards measure their bars' age against, ticking once a second; provided by
/// the dashboard. Without one (a card on its own) the card reads the clock when it renders.
#[derive(Clone, Copy)]
pub struct Now(pub RwSignal<i64>);

/// How often the dashboard's tables and busy charts catch up.
pub const REFRESH: std::time::Duration = std::time::Duration::from_millis(250);

#[component]
pub fn TickerCard(entry: TickerEntry, on_remove: Callback<String>) -> impl IntoView {
    let TickerEntry { symbol, state, .. } = entry;
    // The table's rows, written whole ([`table::rows`]); under a dashboard's table clock
    // they are refreshed a few times a second rather than every frame (50 tables rewritten
    // 20 times a second cost the page a third of its frames, and no one reads a table
    // scrolling that fast).
    let clock = use_context::<RefreshClock>();
    let rows = Memo::new(move |_| {
        let rows = |s: &TickerState| table::rows(s.recent(TABLE_ROWS));
        match clock {
            Some(RefreshClock(tick)) => {
                tick.track();
                state.with_untracked(rows)
            }
            None => state.with(rows),
        }
    });
    let now = use_context::<Now>().map_or_else(|| RwSignal::new(now_ms()), |Now(n)| n);
    let fresh = Memo::new(move |_| state.with(|s| freshness(s, now.get())));
    let remove = {
        let symbol = symbol.clone();
        move |_| on_remove.run(symbol.clone())
    };
    view! {
        <article
            class=move || format!("card {}", state.with(|s| s.direction().class()))
            class:stale=move || fresh.with(Freshness::is_stale)
            data-symbol=symbol.clone()
            data-bars=move || state.with(|s| s.len().to_string())
            data-stale=move || fresh.with(Freshness::is_stale).to_string()
            data-updates=move || state.with(|s| s.updates.to_string())
            data-first=move || state.with(|s| s.first_timestamp.map(|t| t.to_string()))
            data-last=move || state.with(|s| s.last().map(|q| q.timestamp.to_string()))
            aria-label=symbol.clone()
        >
            <header class="card-head">
                <h2>{symbol.clone()}</h2>
                <button
                    class="remove"
                    type="button"
                    aria-label=format!("Remove {symbol}")
                    title=format!("Remove {symbol}")
                    on:click=remove
                >
                    "×"
                </button>
            </header>
            <p class="price">
                {move || {
                    state
                        .with(|s| s.last().map(|q| format::price(q.close)))
                        .unwrap_or_else(|| "—".to_owned())
                }}
            </p>
            <p class="change">
                {move || {
                    state
                        .with(|s| s.change().map(|(c, p)| format::change(c, p)))
                        .unwrap_or_else(|| {
                            if state.with(|s| s.loading) { "loading…" } else { "waiting for quotes…" }
                                .to_owned()
                        })
                }}
            </p>
            <p class="freshness" role="status">
                {move || match fresh.get() {
                    Freshness::Waiting => String::new(),
                    Freshness::Live { age_ms } => format!("last bar {} ago", age(age_ms)),
                    Freshness::Stale { since_ms } => {
                        format!("stale since {}", format::time_of_day(since_ms))
                    }
                }}
            </p>
            <PriceChart state symbol=symbol.clone() />
            <table class="bars">
                <thead>
                    <tr>
                        <th scope="col" title="UTC">"Time"</th>
                        <th scope="col">"Close"</th>
                        <th scope="col">"Open"</th>
                        <th scope="col">"High"</th>
                        <th scope="col">"Low"</th>
                        <th scope="col">"Volume"</th>
                    </tr>
                </thead>
                <tbody inner_html=move || rows.get()></tbody>
            </table>
            {move || {
                let skipped = state.with(|s| s.unreadable);
                (skipped > 0)
                    .then(|| {
                        view! {
                            <p class="note">{format!("{skipped} unreadable updates skipped")}</p>
                        }
                    })
            }}
        </article>
    }
}
