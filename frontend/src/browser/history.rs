//! Loads bars from the `historyPage` query over `fetch`, with the dashboard's API key, and
//! reports each ticker's answer to the update sink (applied on the next frame, like live
//! bars).
//!
//! Requests made in the same frame travel together, up to [`MAX_FIELDS`] per document, each
//! document its own `fetch` so they run in parallel. The first answer that says the API has
//! no `history` field turns loading off for the page's life: against the reference sample's
//! API the dashboard is live-only, quietly (a GraphQL validation error is an HTTP 200, so the
//! browser logs nothing).

use std::cell::Cell;
use std::rc::Rc;

use quotecast_shared::graphql::GraphqlRequest;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

use super::clock::now_ms;
use super::feed::UpdateSink;
use crate::model::backfill::{FieldError, Page, Request};
use crate::model::config::DashboardConfig;
use crate::model::history::{Answer, MAX_FIELDS, document, read_answer};
use crate::model::pending::{HistoryAnswer, Update};

pub struct HistoryClient {
    url: String,
    api_key: String,
    supported: Rc<Cell<bool>>,
    sink: UpdateSink,
}

impl HistoryClient {
    pub fn new(config: &DashboardConfig, sink: UpdateSink) -> Self {
        HistoryClient {
            url: config.graphql_url.clone(),
            api_key: config.api_key.clone(),
            supported: Rc::new(Cell::new(true)),
            sink,
        }
    }

    /// False once the API said it has no `historyPage`.
    pub fn supported(&self) -> bool {
        self.supported.get()
    }

    /// Sends `requests`; each ticker's answer comes back through the sink.
    pub fn load(&self, requests: Vec<(String, Request)>) {
        for chunk in requests.chunks(MAX_FIELDS) {
            let chunk = chunk.to_vec();
            let (url, key) = (self.url.clone(), self.api_key.clone());
            let supported = self.supported.clone();
            let sink = self.sink.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let answers = match post(&url, &key, &document(&chunk)).await {
                    Ok(body) => match read_answer(&body, chunk.len(), now_ms()) {
                        Answer::Unsupported => {
                            supported.set(false);
                            // Answered with nothing: the cards stop saying "loading…".
                            vec![HistoryAnswer::Page(Page::default()); chunk.len()]
                        }
                        Answer::Fields(fields) => fields
                            .into_iter()
                            .map(|f| match f {
                                Ok(page) => HistoryAnswer::Page(page),
                                Err(e) => HistoryAnswer::Failed(e),
                            })
                            .collect(),
                    },
                    Err(e) => vec![HistoryAnswer::Failed(FieldError::transient(e)); chunk.len()],
                };
                for ((symbol, request), answer) in chunk.into_iter().zip(answers) {
                    sink(Update::History {
                        symbol,
                        request,
                        answer,
                    });
                }
            });
        }
    }
}

/// POSTs a GraphQL request with the API key; the JSON body of any HTTP 200.
async fn post(url: &str, api_key: &str, request: &GraphqlRequest) -> Result<Value, String> {
    let window = web_sys::window().ok_or("no window")?;
    let headers = Headers::new().map_err(|_| "no Headers")?;
    headers
        .set("content-type", "application/json")
        .and_then(|_| headers.set("x-api-key", api_key))
        .map_err(|_| "bad header")?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&request.to_json().into());
    let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| "history request failed".to_owned())?;
    let response: Response = response.dyn_into().map_err(|_| "not a Response")?;
    if !response.ok() {
        return Err(format!("history answered HTTP {}", response.status()));
    }
    let text = JsFuture::from(response.text().map_err(|_| "no body")?)
        .await
        .map_err(|_| "history body lost".to_owned())?
        .as_string()
        .unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| format!("history answer is not JSON: {e}"))
}
