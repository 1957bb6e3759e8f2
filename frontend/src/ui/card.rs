//! One ticker: last price, change with its colour, the chart of recent closes and the table
//! of the last bars (the reference's Close, Open, High, Low, Volume).

use leptos::prelude::*;

use super::dashboard::TickerEntry;
use crate::model::format;
use crate::model::sparkline::{self, HEIGHT, WIDTH};
use crate::model::ticker::TABLE_ROWS;

#[component]
pub fn TickerCard(entry: TickerEntry, on_remove: Callback<String>) -> impl IntoView {
    let TickerEntry { symbol, state } = entry;
    let remove = {
        let symbol = symbol.clone();
        move |_| on_remove.run(symbol.clone())
    };
    view! {
        <article
            class=move || format!("card {}", state.with(|s| s.direction().class()))
            data-symbol=symbol.clone()
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
                        .unwrap_or_else(|| "waiting for quotes…".to_owned())
                }}
            </p>
            <svg
                class="spark"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                preserveAspectRatio="none"
                aria-hidden="true"
            >
                <path d=move || state.with(|s| sparkline::path(&s.closes()))></path>
            </svg>
            <table class="bars">
                <thead>
                    <tr>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Close"</th>
                        <th scope="col">"Open"</th>
                        <th scope="col">"High"</th>
                        <th scope="col">"Low"</th>
                        <th scope="col">"Volume"</th>
                    </tr>
                </thead>
                <tbody>
                    {move || {
                        state
                            .with(|s| {
                                s.recent(TABLE_ROWS)
                                    .map(|q| {
                                        view! {
                                            <tr>
                                                <td>{format::time_of_day(q.timestamp)}</td>
                                                <td>{format::price(q.close)}</td>
                                                <td>{format::price(q.open)}</td>
                                                <td>{format::price(q.high)}</td>
                                                <td>{format::price(q.low)}</td>
                                                <td>{format::volume(q.volume)}</td>
                                            </tr>
                                        }
                                    })
                                    .collect::<Vec<_>>()
                            })
                    }}
                </tbody>
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
