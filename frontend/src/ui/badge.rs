//! The connection badge: connecting / live / reconnecting in N s / offline, and why offline.

use leptos::prelude::*;
use quotecast_shared::realtime::client::ConnectionState;

use crate::model::status::{Badge, summarize};

#[component]
pub fn StatusBadge(
    /// Each connection's state by index; `None` until it reported one.
    connections: RwSignal<Vec<Option<ConnectionState>>>,
    now: RwSignal<i64>,
) -> impl IntoView {
    let badge = Memo::new(move |_| connections.with(|c| summarize(c.iter().flatten())));
    view! {
        <div
            id="status"
            class=move || format!("badge {}", badge.with(|b| b.name()))
            data-state=move || badge.with(|b| b.name())
            role="status"
            aria-live="polite"
        >
            {move || badge.with(|b| b.label(now.get()))}
        </div>
        {move || {
            badge
                .with(|b| match b {
                    Badge::Offline { reason } => Some(reason.clone()),
                    _ => None,
                })
                .map(|reason| view! { <p class="alert" role="alert">{reason}</p> })
        }}
    }
}
