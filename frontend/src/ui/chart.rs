//! A card's chart: candles or a close line over the last 60 / 120 / 240 bars, price and time
//! axes, the last-price marker, gaps, and a crosshair with a readout of the bar under the
//! pointer, or under the keyboard's focus (←/→, Home/End).
//!
//! The geometry comes from [`crate::model::chart`]; the view holds a fixed set of elements
//! (two candle paths, a line, gaps, the crosshair) whose `d` changes, and one group whose
//! markup (grid, labels, last price) is written whole, so an update costs a few attribute
//! writes and the bundle a handful of reactive nodes.

use leptos::ev;
use leptos::prelude::*;
use quotecast_shared::quote::Quote;
use wasm_bindgen::JsCast;

use super::redraw::shown;
use crate::model::chart::{Chart, HEIGHT, RANGES, Style, WIDTH};
use crate::model::format;
use crate::model::ticker::TickerState;

/// The chart laid out, and the timestamps of the bars it shows (for the crosshair).
#[derive(Clone, PartialEq, Default)]
struct Laid {
    chart: Chart,
    times: Vec<i64>,
}

/// `12:00:05  O 1.00  H 2.00  L 0.50  C 1.50  V 1,200`.
fn readout(q: &Quote) -> String {
    format!(
        "{}  O {}  H {}  L {}  C {}  V {}",
        format::time_of_day(q.timestamp),
        format::price(q.open),
        format::price(q.high),
        format::price(q.low),
        format::price(q.close),
        format::volume(q.volume)
    )
}

#[component]
pub fn PriceChart(
    state: RwSignal<TickerState>,
    /// When the card redraws ([`super::card::redraws`]).
    redraw: Memo<u64>,
    symbol: String,
) -> impl IntoView {
    let style = RwSignal::new(Style::Candles);
    let range = RwSignal::new(RANGES[0]);
    // The bar under the crosshair, by time: it stays on its bar as new ones arrive.
    let focus = RwSignal::new(None::<i64>);
    let laid = Memo::new(move |_| {
        let (style, range) = (style.get(), range.get());
        shown(redraw, state, |s| {
            let bars = s.bars();
            let window: Vec<&Quote> = bars.range(bars.len().saturating_sub(range)..).collect();
            Laid {
                chart: Chart::new(&window, range, style),
                times: window.iter().map(|q| q.timestamp).collect(),
            }
        })
    });
    // The focused bar's index in the window, and the bar.
    let focused = Memo::new(move |_| {
        let t = focus.get()?;
        let i = laid.with(|l| l.times.binary_search(&t).ok())?;
        let bar = shown(redraw, state, |s| {
            s.bars()
                .binary_search_by_key(&t, |q| q.timestamp)
                .ok()
                .map(|j| s.bars()[j].clone())
        })?;
        Some((i, bar))
    });
    let point = move |ev: ev::PointerEvent| {
        let Some(el) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let rect = el.get_bounding_client_rect();
        if rect.width() <= 0.0 {
            return;
        }
        let x = (f64::from(ev.client_x()) - rect.left()) / rect.width() * WIDTH;
        let t = laid.with(|l| l.chart.index_at(x).and_then(|i| l.times.get(i).copied()));
        focus.set(t);
    };
    let key = move |ev: ev::KeyboardEvent| {
        let times = laid.with(|l| l.times.clone());
        let Some(last) = times.len().checked_sub(1) else {
            return;
        };
        let at = focused
            .with(|f| f.as_ref().map(|(i, _)| *i))
            .unwrap_or(last);
        let to = match ev.key().as_str() {
            "ArrowLeft" => at.saturating_sub(1),
            "ArrowRight" => (at + 1).min(last),
            "Home" => 0,
            "End" => last,
            _ => return,
        };
        ev.prevent_default();
        focus.set(times.get(to).copied());
    };
    let on_focus = move |_| {
        if focus.get_untracked().is_none() {
            focus.set(laid.with_untracked(|l| l.times.last().copied()));
        }
    };
    let label = format!("{symbol} price chart; arrow keys move the crosshair");
    view! {
        <div class="chart-controls" role="group" aria-label=format!("{symbol} chart options")>
            <button
                type="button"
                class="style"
                aria-pressed=move || (style.get() == Style::Line).to_string()
                on:click=move |_| {
                    style.update(|s| *s = if *s == Style::Line { Style::Candles } else { Style::Line })
                }
            >
                "Line"
            </button>
            {RANGES
                .iter()
                .map(|&n| {
                    view! {
                        <button
                            type="button"
                            class="range"
                            aria-pressed=move || (range.get() == n).to_string()
                            disabled=move || { n > RANGES[0] && shown(redraw, state, |s| s.len() <= n / 2) }
                            on:click=move |_| range.set(n)
                        >
                            {n.to_string()}
                        </button>
                    }
                })
                .collect::<Vec<_>>()}
        </div>
        <svg
            class="chart"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            tabindex="0"
            aria-label=label
            data-gaps=move || laid.with(|l| l.chart.gap_count.to_string())
            on:pointermove=point
            on:pointerdown=point
            on:pointerleave=move |_| focus.set(None)
            on:keydown=key
            on:focus=on_focus
            on:blur=move |_| focus.set(None)
        >
            <g inner_html=move || laid.with(|l| l.chart.overlay())></g>
            <path class="gaps" d=move || laid.with(|l| l.chart.gaps.clone())></path>
            <path class="candles up" d=move || laid.with(|l| l.chart.up.clone())></path>
            <path class="candles down" d=move || laid.with(|l| l.chart.down.clone())></path>
            <path class="line" d=move || laid.with(|l| l.chart.line.clone())></path>
            <path
                class="crosshair"
                d=move || {
                    focused
                        .with(|f| f.as_ref().map(|(i, bar)| (*i, bar.close)))
                        .map(|(i, close)| laid.with(|l| l.chart.crosshair(i, close)))
                        .unwrap_or_default()
                }
            ></path>
        </svg>
        <p
            class="readout"
            class:focused=move || focused.with(Option::is_some)
            data-timestamp=move || {
                focused
                    .with(|f| f.as_ref().map(|(_, q)| q.timestamp))
                    .or_else(|| shown(redraw, state, |s| s.last().map(|q| q.timestamp)))
                    .map(|t| t.to_string())
            }
            aria-live="off"
        >
            {move || {
                focused
                    .with(|f| f.as_ref().map(|(_, q)| readout(q)))
                    .or_else(|| shown(redraw, state, |s| s.last().map(readout)))
                    .unwrap_or_default()
            }}
        </p>
    }
}
