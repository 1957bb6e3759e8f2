//! The page: load `config.json`, then the dashboard, or a message saying what to fix.

use leptos::prelude::*;

use super::dashboard::Dashboard;
use crate::browser::web::{CONFIG_PATH, load_config};

#[component]
pub fn App() -> impl IntoView {
    let loaded = RwSignal::new(None);
    leptos::task::spawn_local(async move { loaded.set(Some(load_config().await)) });
    view! {
        <header class="top">
            <h1>"quotecast"</h1>
            <p class="tagline">"Real-time quotes from Kafka over AppSync"</p>
        </header>
        {move || match loaded.get() {
            None => view! { <p class="loading">"Loading configuration…"</p> }.into_any(),
            Some(Ok(config)) => view! { <Dashboard config /> }.into_any(),
            Some(Err(message)) => {
                view! {
                    <section class="problem" role="alert">
                        <h2>"The dashboard cannot start"</h2>
                        <p>{message}</p>
                        <p>
                            "It reads " <code>{CONFIG_PATH}</code>
                            " next to this page: the GraphQL URL (" <code>"graphqlUrl"</code>
                            "), the API key (" <code>"apiKey"</code>
                            ") and the tickers to show. `cargo xtask dev` serves one; on AWS the deploy writes it."
                        </p>
                    </section>
                }
                    .into_any()
            }
        }}
    }
}
