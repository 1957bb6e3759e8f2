//! The local twin of AWS AppSync, for the quotecast schema.
//!
//! What it implements of AppSync: a GraphQL API over HTTP (`POST /graphql`) and AppSync's
//! real-time WebSocket protocol (`graphql-ws`, both handshake transports), with API-key and
//! IAM (SigV4) auth decided by the schema's auth directives, the NONE-data-source resolvers
//! of `schema/resolvers/*.js` (publish, and subscriptions with enhanced filters), the
//! `history` resolver over a data source ([`Config::history`]), and AppSync's documented
//! limits (payload, frame, subscriptions per connection, connection lifetime), refusing in
//! AppSync's error shapes. `APPSYNC_SPEC.md` §A–C is the contract.
//!
//! What it deliberately leaves out: introspection, other auth modes (Cognito, OIDC, Lambda),
//! caching, domain names and TLS (it answers on any host, over plain HTTP and WebSocket; the
//! `/graphql/realtime` path of custom domains is served), and any storage. It reads history through
//! `quotecast_aws_local::data_source::HistorySource` the way AppSync reaches a DynamoDB data
//! source, and knows neither the store nor DynamoDB's wire format; serving the table itself
//! is `quotecast-dynamodb`'s job, mounted beside this server by the `quotecast` binary.
//!
//! Laid out like tokio's mini-redis: [`server`] routes and shuts down gracefully; [`state`]
//! is what every handler shares; [`http`] serves `POST /graphql`; [`realtime`] upgrades
//! WebSockets and runs one [`connection`] handler per socket; [`hub`] is the shared pub/sub
//! state that fans a publish out to matching subscriptions; [`outbox`] is each connection's
//! bounded send queue, holding the WebSocket frames it is sent, encoded by the push
//! ([`websocket`]) and written by the connection's writer, whose writes [`write_pacer`] spaces
//! out while the server is busy. Wire formats come from `quotecast_shared`.

pub mod auth;
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
pub mod state;
pub mod websocket;
pub mod write_pacer;

pub use config::Config;
pub use server::{Server, serve};
pub use state::AppSync;
