//! The dashboard's edges to the browser: WebSockets and timers for the real-time client,
//! `fetch` (`config.json`, the `history` query), `localStorage`, the address bar, and the
//! one table written without the view ([`bar_table`]).

pub mod bar_table;
pub mod clock;
pub mod feed;
pub mod history;
pub mod socket;
pub mod web;
