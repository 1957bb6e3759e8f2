//! The quotecast dashboard: Leptos CSR in the browser, speaking the AppSync real-time
//! protocol itself through `quotecast_shared`'s sans-IO client.
//!
//! `model` is plain logic tested natively; `browser` is the thin layer over web APIs;
//! `ui` is the components. The page reads `config.json` at start-up, so one build serves
//! the local stack and an S3 bucket.

pub mod browser;
pub mod model;
pub mod ui;

/// Mounts the dashboard on the page's body.
pub fn start() {
    leptos::mount::mount_to_body(ui::app::App);
}
