//! Leptos components: small, one job each, drawing from signals the dashboard owns.

pub mod app;
pub mod badge;
pub mod card;
pub mod chart;
pub mod dashboard;
pub mod picker;
pub mod redraw;
pub mod ticker_entry;
