//! A ticker's subscription filter and the quote in a `data` payload: the vocabulary crate's,
//! which `quotecast smoke` and the load generator use too.

pub use quotecast_shared::subscription::{filter_for, quote_from_payload};
