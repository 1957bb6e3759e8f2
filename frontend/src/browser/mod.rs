//! The dashboard's edges to the browser: WebSockets and timers for the real-time client,
//! `fetch`, `localStorage` and the address bar.

pub mod clock;
pub mod feed;
pub mod socket;
pub mod web;
