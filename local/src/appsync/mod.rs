//! An AppSync-compatible server for the quotecast schema.
//!
//! Laid out like tokio's mini-redis: [`server`] accepts connections and shuts down
//! gracefully; [`http`] serves `POST /graphql`; [`realtime`] upgrades WebSockets and runs one
//! [`connection`] handler per socket; [`hub`] is the shared pub/sub state that fans a publish
//! out to matching subscriptions; [`outbox`] is each connection's bounded send queue. Wire
//! formats come from `quotecast_shared`; `APPSYNC_SPEC.md` §A–C is the contract.

pub mod auth;
pub mod body;
pub mod config;
pub mod connection;
pub mod graphql;
pub mod history;
pub mod http;
pub mod hub;
pub mod outbox;
pub mod realtime;
pub mod resolvers;
pub mod server;
pub mod sigv4;

pub use config::Config;
pub use server::{AppSync, Server};
