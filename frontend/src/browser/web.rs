//! The page's surroundings: fetching `config.json`, the saved selection in `localStorage`,
//! and the share link in the address bar. Failures here are reported, never fatal: a
//! browser without storage (private mode) still shows quotes.

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestCache, RequestInit, Response};

use crate::model::config::DashboardConfig;
use crate::model::selection::{STORAGE_KEY, to_list, to_query};

/// Where the configuration is read from, relative to the page so that a dashboard hosted
/// under a path prefix finds its own.
pub const CONFIG_PATH: &str = "config.json";

/// Loads and checks `config.json`; the error is a sentence for the user.
pub async fn load_config() -> Result<DashboardConfig, String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_cache(RequestCache::NoStore);
    let response = JsFuture::from(window.fetch_with_str_and_init(CONFIG_PATH, &init))
        .await
        .map_err(|e| format!("could not fetch {CONFIG_PATH}: {}", js_text(&e)))?;
    let response: Response = response
        .dyn_into()
        .map_err(|_| format!("could not fetch {CONFIG_PATH}"))?;
    if !response.ok() {
        return Err(format!(
            "{CONFIG_PATH} answered HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    let text = JsFuture::from(response.text().map_err(|e| js_text(&e))?)
        .await
        .map_err(|e| format!("could not read {CONFIG_PATH}: {}", js_text(&e)))?
        .as_string()
        .unwrap_or_default();
    DashboardConfig::from_json(&text).map_err(|e| e.to_string())
}

/// The page's query string (`?symbols=…`).
pub fn location_search() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .unwrap_or_default()
}

/// The selection this browser saved, if any.
pub fn saved_selection() -> Option<String> {
    let storage = web_sys::window()?.local_storage().ok()??;
    storage.get_item(STORAGE_KEY).ok()?
}

/// Saves the selection and puts its share link in the address bar (without a new history
/// entry).
pub fn remember_selection(symbols: &[String]) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Ok(Some(storage)) = window.local_storage() {
        let _ = storage.set_item(STORAGE_KEY, &to_list(symbols));
    }
    let location = window.location();
    let path = location.pathname().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    let url = format!("{path}{}{hash}", to_query(symbols));
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// Performance mark set in the frame that applies the first live quote: page load to first
/// quote, as a user waits for it (read by the dashboard benchmark; visible in DevTools).
pub const FIRST_QUOTE_MARK: &str = "quotecast:first-quote";
/// Performance mark set in the frame where every card first holds a chart's default range
/// of bars (page load to full charts).
pub const FULL_CHARTS_MARK: &str = "quotecast:full-charts";

/// Sets a performance mark (once per name is the caller's business).
pub fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

fn js_text(value: &wasm_bindgen::JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            value
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{value:?}"))
}
