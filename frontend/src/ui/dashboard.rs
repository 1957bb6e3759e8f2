//! The dashboard proper: the selection, the feed behind it, and the once-per-frame update.
//!
//! Each ticker has its own signal, so a quote re-renders one card. Quotes, connection
//! states and history answers go into a [`Batch`] as they arrive and are applied together on
//! the next animation frame; then each ticker's [`Loader`] says what history to load next
//! (after a (re)subscribe, to fill a hole), and those requests leave together.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use leptos::prelude::*;
use quotecast_shared::realtime::client::ConnectionState;

use super::badge::StatusBadge;
use super::card::TickerCard;
use super::picker::Picker;
use super::redraw::{Now, REFRESH, RefreshClock};
use super::ticker_entry::TickerEntry;
use crate::browser::clock::now_ms;
use crate::browser::feed::{Feed, UpdateSink};
use crate::browser::history::HistoryClient;
use crate::browser::web;
use crate::model::backfill::{Loader, Page};
use crate::model::chart::RANGES;
use crate::model::config::DashboardConfig;
use crate::model::pending::{Batch, HistoryAnswer};
use crate::model::selection::{check_add, initial, symbols_from_query};

/// The signals the page draws from.
#[derive(Clone, Copy)]
struct Board {
    tickers: RwSignal<Vec<TickerEntry>>,
    connections: RwSignal<Vec<Option<ConnectionState>>>,
    notice: RwSignal<Option<String>>,
}

impl Board {
    /// Whether every card holds a chart's default range of bars.
    fn charts_full(&self) -> bool {
        self.tickers.with_untracked(|entries| {
            !entries.is_empty()
                && entries
                    .iter()
                    .all(|e| e.state.with_untracked(|s| s.len() >= RANGES[0]))
        })
    }

    fn symbols(&self) -> Vec<String> {
        self.tickers
            .with_untracked(|t| t.iter().map(|e| e.symbol.clone()).collect())
    }

    /// Applies one frame's worth of updates and sends the history requests they call for;
    /// whether it held a quote for a watched ticker.
    fn apply(&self, mut batch: Batch, feed: &Feed, history: &HistoryClient) -> bool {
        let now = now_ms();
        let mut quoted = false;
        let mut answers: HashMap<String, Vec<_>> = HashMap::new();
        for (symbol, request, answer) in std::mem::take(&mut batch.history) {
            answers.entry(symbol).or_default().push((request, answer));
        }
        let mut wanted = Vec::new();
        self.tickers.with_untracked(|entries| {
            for entry in entries {
                let quotes = batch.quotes.remove(&entry.symbol);
                let unreadable = batch.unreadable.remove(&entry.symbol).unwrap_or(0);
                let answers = answers.remove(&entry.symbol).unwrap_or_default();
                if let Some(i) = batch.subscribed.iter().position(|s| *s == entry.symbol) {
                    batch.subscribed.swap_remove(i);
                    entry.loader.update_value(Loader::subscribed);
                }
                quoted |= quotes.is_some();
                let changed = quotes.is_some() || unreadable > 0 || !answers.is_empty();
                if changed {
                    entry.state.update(|s| {
                        for q in quotes.into_iter().flatten() {
                            s.apply(q);
                        }
                        s.unreadable += unreadable;
                    });
                }
                for (request, answer) in answers {
                    match answer {
                        HistoryAnswer::Page(Page { bars, next }) => {
                            let last = bars.last().map(|q| q.timestamp);
                            entry.state.update(|s| {
                                for q in bars {
                                    s.apply(q);
                                }
                            });
                            entry
                                .loader
                                .update_value(|l| l.answered(request, last, next));
                        }
                        HistoryAnswer::Failed(error) => {
                            entry
                                .loader
                                .update_value(|l| l.failed(request, now, &error));
                        }
                    }
                }
                if history.supported() {
                    let next = entry.state.with_untracked(|s| {
                        entry.loader.try_update_value(|l| l.next(s, now)).flatten()
                    });
                    if let Some(request) = next {
                        wanted.push((entry.symbol.clone(), request));
                    }
                }
                let loading = history.supported() && entry.loader.with_value(Loader::loading);
                if entry.state.with_untracked(|s| s.loading) != loading {
                    entry.state.update(|s| s.loading = loading);
                }
                let unavailable = entry
                    .loader
                    .with_value(|l| l.unavailable().map(str::to_owned));
                if entry
                    .state
                    .with_untracked(|s| s.history_unavailable != unavailable)
                {
                    entry.state.update(|s| s.history_unavailable = unavailable);
                }
            }
        });
        if !wanted.is_empty() {
            history.load(wanted);
        }
        if !batch.connections.is_empty() {
            self.connections.update(|c| {
                for (index, state) in batch.connections {
                    if c.len() <= index {
                        c.resize(index + 1, None);
                    }
                    c[index] = Some(state);
                }
            });
        }
        for (symbol, message) in batch.refused {
            feed.unwatch(&symbol);
            self.tickers.update(|t| t.retain(|e| e.symbol != symbol));
            self.notice.set(Some(format!(
                "{symbol} was removed: the API refused it ({message})."
            )));
        }
        quoted
    }
}

#[component]
pub fn Dashboard(config: DashboardConfig) -> impl IntoView {
    let start = initial(
        symbols_from_query(&web::location_search()),
        web::saved_selection().as_deref(),
        &config.default_symbols,
    );
    let board = Board {
        tickers: RwSignal::new(start.iter().map(|s| TickerEntry::new(s)).collect()),
        connections: RwSignal::new(Vec::new()),
        notice: RwSignal::new(None),
    };

    // The feed's sink only queues; the frame callback applies. So no signal is written
    // while the feed is in the middle of a call.
    let pending = Rc::new(RefCell::new(Batch::default()));
    let frame_requested = Rc::new(Cell::new(false));
    let first_quote_seen = Rc::new(Cell::new(false));
    let charts_full_seen = Rc::new(Cell::new(false));
    // Weak: the feed owns the sink, so a strong reference back would be a cycle.
    let feed_slot: Rc<RefCell<Weak<Feed>>> = Rc::new(RefCell::new(Weak::new()));
    let history_slot: Rc<RefCell<Weak<HistoryClient>>> = Rc::new(RefCell::new(Weak::new()));
    let sink: UpdateSink = {
        let feed_slot = feed_slot.clone();
        let history_slot = history_slot.clone();
        Rc::new(move |update| {
            pending.borrow_mut().push(update);
            if frame_requested.replace(true) {
                return;
            }
            let pending = pending.clone();
            let frame_requested = frame_requested.clone();
            let feed_slot = feed_slot.clone();
            let history_slot = history_slot.clone();
            let first_quote_seen = first_quote_seen.clone();
            let charts_full_seen = charts_full_seen.clone();
            request_animation_frame(move || {
                frame_requested.set(false);
                let batch = std::mem::take(&mut *pending.borrow_mut());
                let (Some(feed), Some(history)) = (
                    feed_slot.borrow().upgrade(),
                    history_slot.borrow().upgrade(),
                ) else {
                    return;
                };
                if board.apply(batch, &feed, &history) && !first_quote_seen.replace(true) {
                    web::mark(web::FIRST_QUOTE_MARK);
                }
                if !charts_full_seen.get() && board.charts_full() {
                    charts_full_seen.set(true);
                    web::mark(web::FULL_CHARTS_MARK);
                }
            });
        })
    };
    let feed = Rc::new(Feed::new(&config, sink.clone()));
    *feed_slot.borrow_mut() = Rc::downgrade(&feed);
    let history = Rc::new(HistoryClient::new(&config, sink));
    *history_slot.borrow_mut() = Rc::downgrade(&history);
    for symbol in &start {
        feed.watch(symbol);
    }
    // The opening history requests leave now, beside the subscriptions.
    board.apply(Batch::default(), &feed, &history);
    let feed = StoredValue::new_local(feed);
    let history = StoredValue::new_local(history);

    Effect::new(move |_| {
        let symbols: Vec<String> = board
            .tickers
            .with(|t| t.iter().map(|e| e.symbol.clone()).collect());
        web::remember_selection(&symbols);
    });

    let refresh = RwSignal::new(0_u64);
    provide_context(RefreshClock(refresh));
    if let Ok(tick) = set_interval_with_handle(move || refresh.update(|t| *t += 1), REFRESH) {
        on_cleanup(move || tick.clear());
    }

    // Sends the history requests the tickers' loaders want now (retries due, a ticker just
    // added), with no new updates to apply.
    let request_history =
        move || feed.with_value(|f| history.with_value(|h| board.apply(Batch::default(), f, h)));

    // Once a second: the cards' ages, and history requests waiting to be retried.
    let now = RwSignal::new(now_ms());
    provide_context(Now(now));
    let second = move || {
        now.set(now_ms());
        request_history();
    };
    if let Ok(clock) = set_interval_with_handle(second, Duration::from_secs(1)) {
        on_cleanup(move || clock.clear());
    }

    let on_add = Callback::new(move |text: String| -> Result<(), String> {
        let symbol = check_add(&board.symbols(), &text).map_err(|e| e.to_string())?;
        feed.with_value(|f| f.watch(&symbol));
        board.tickers.update(|t| t.push(TickerEntry::new(&symbol)));
        request_history();
        board.notice.set(None);
        Ok(())
    });
    let on_remove = Callback::new(move |symbol: String| {
        feed.with_value(|f| f.unwatch(&symbol));
        board.tickers.update(|t| t.retain(|e| e.symbol != symbol));
    });

    view! {
        <div class="controls">
            <Picker suggestions=config.suggestions.clone() on_add />
            <StatusBadge connections=board.connections now />
        </div>
        {move || board.notice.get().map(|n| view! { <p class="notice" role="status">{n}</p> })}
        <main class="grid" aria-label="Watched tickers">
            <Show when=move || board.tickers.with(|t| t.is_empty())>
                <p class="empty">"No tickers yet: add one above."</p>
            </Show>
            <For
                each=move || board.tickers.get()
                key=|entry| entry.symbol.clone()
                children=move |entry| view! { <TickerCard entry on_remove /> }
            />
        </main>
    }
}
