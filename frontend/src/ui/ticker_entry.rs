//! One watched ticker as the dashboard holds it: its symbol, its state, and what history to
//! load for it next. The dashboard makes them; each card draws one.

use leptos::prelude::*;

use crate::model::backfill::Loader;
use crate::model::ticker::TickerState;

/// One watched ticker and its state.
#[derive(Clone)]
pub struct TickerEntry {
    pub symbol: String,
    pub state: RwSignal<TickerState>,
    /// What history to load next; not drawn, so not a signal.
    pub loader: StoredValue<Loader>,
}

impl TickerEntry {
    pub fn new(symbol: &str) -> Self {
        TickerEntry {
            symbol: symbol.to_owned(),
            state: RwSignal::new(TickerState::default()),
            loader: StoredValue::new(Loader::opening()),
        }
    }
}
