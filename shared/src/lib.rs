//! The quotecast vocabulary, shared by every other crate.
//!
//! Each wire format of the system is defined here exactly once: the [`Quote`] a producer
//! publishes, the [`Channel`] envelope AppSync carries, the GraphQL documents of the schema,
//! the AppSync real-time protocol frames ([`realtime`]) and enhanced subscription filters
//! ([`filter`]). The crate does no I/O and has no async runtime so that it builds for both
//! native targets and `wasm32-unknown-unknown` (the dashboard).

pub mod channel;
pub mod dashboard_config;
pub mod filter;
pub mod graphql;
pub mod kafka_security;
pub mod lambda;
pub mod quote;
pub mod realtime;
pub mod subscription;

pub use channel::Channel;
pub use quote::{Quote, QuoteError};
