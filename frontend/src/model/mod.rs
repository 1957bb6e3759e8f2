//! The dashboard's logic without a browser: configuration, selection, per-ticker state,
//! frame batching, connection sharding, status, history loading (merge, backfill, gaps),
//! staleness, the chart and when it redraws. Everything here is tested natively by `cargo test`.

pub mod backfill;
pub mod chart;
pub mod config;
pub mod format;
pub mod freshness;
pub mod history;
pub mod payload;
pub mod pending;
pub mod selection;
pub mod shards;
pub mod status;
pub mod table;
pub mod throttle;
pub mod ticker;
