//! The producer Lambda of quotecast: quotes from a source into Kafka, keyed by symbol.
//!
//! Sources ([`source`]): a deterministic market simulator (the local default), Yahoo
//! Finance's chart API, or a replay file. Publishing ([`kafka`]): idempotent, compressed,
//! every delivery confirmed before the handler returns. [`Producer::invoke`] is a plain async
//! function: the Lambda entry (`main.rs`) runs it per scheduled event, the local stack on a
//! timer.

pub mod auth_watch;
pub mod aws;
pub mod config;
pub mod handler;
pub mod kafka;
pub mod source;

pub use config::{Config, ConfigError};
pub use handler::{Producer, ProducerError, Report};
