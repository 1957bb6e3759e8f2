//! The dashboard's edges to the browser: WebSockets and timers for the real-time client,
//! `fetch` (`config.json`, the `history` query), `localStorage` and the address bar.

pub mod clock;
pub mod feed;
pub mod history;
pub mod socket;
pub mod web;
