//! One ticker: last price, change with its colour, how fresh the feed is (greyed out and
//! "stale since …" after three bar intervals without a bar), the chart and the table of the
//! last bars (the reference's Close, Open, High, Low, Volume).

use leptos::prelude::*;

use super::chart::PriceChart;
use super::redraw::{Now, Pace, redraws, shown};
use super::ticker_entry::TickerEntry;
use crate::browser::bar_table;
use crate::browser::clock::now_ms;
use crate::model::format;
use crate::model::freshness::{Freshness, age, freshness};
use crate::model::table;
use crate::model::ticker::TABLE_ROWS;

#[component]
pub fn TickerCard(entry: TickerEntry, on_remove: Callback<String>) -> impl IntoView {
    let TickerEntry { symbol, state, .. } = entry;
    // What the card shows follows `redraw`: 50 cards redrawn 20 times a second cost the page
    // most of its frames (BENCHMARKS.md), and no one reads a price that lives 50 ms. The
    // test attributes (`data-*`) follow every change.
    let redraw = redraws(state, Pace::EveryTick);
    // The table's rows, written into cells that stay ([`bar_table`]).
    let table_redraw = redraws(state, Pace::AboutOnceASecond);
    let rows =
        Memo::new(move |_| shown(table_redraw, state, |s| table::rows(s.recent(TABLE_ROWS))));
    let body = NodeRef::<leptos::html::Tbody>::new();
    Effect::new(move |before: Option<Vec<table::Row>>| {
        let rows = rows.get();
        if let Some(body) = body.get() {
            bar_table::write(&body, before.as_deref().unwrap_or_default(), &rows);
        }
        rows
    });
    let now = use_context::<Now>().map_or_else(|| RwSignal::new(now_ms()), |Now(n)| n);
    let fresh = Memo::new(move |_| shown(redraw, state, |s| freshness(s, now.get())));
    let remove = {
        let symbol = symbol.clone();
        move |_| on_remove.run(symbol.clone())
    };
    view! {
        <article
            class=move || format!("card {}", shown(redraw, state, |s| s.direction().class()))
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
                    shown(redraw, state, |s| s.last().map(|q| format::price(q.close)))
                        .unwrap_or_else(|| "—".to_owned())
                }}
            </p>
            <p class="change">
                {move || {
                    shown(redraw, state, |s| match s.change() {
                        Some((c, p)) => format::change(c, p),
                        None if s.loading => "loading…".to_owned(),
                        None => match &s.history_unavailable {
                            Some(why) => format!("waiting for quotes… (no history: {why})"),
                            None => "waiting for quotes…".to_owned(),
                        },
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
            <PriceChart state redraw symbol=symbol.clone() />
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
                <tbody node_ref=body></tbody>
            </table>
            {move || {
                let skipped = shown(redraw, state, |s| s.unreadable);
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
