//! `/config.json`: read by the vocabulary crate's one parser, which `quotecast smoke` uses too.

pub use quotecast_shared::dashboard_config::*;
