//! The dashboard's logic without a browser: configuration, selection, per-ticker state,
//! frame batching, connection sharding, status and the chart. Everything here is tested
//! natively by `cargo test`.

pub mod config;
pub mod format;
pub mod payload;
pub mod pending;
pub mod selection;
pub mod shards;
pub mod sparkline;
pub mod status;
pub mod ticker;
