//! quotecast's local home: everything the product needs to run on one machine.
//!
//! [`appsync`] is a server that behaves like AWS AppSync for the quotecast schema (GraphQL over
//! HTTP and the AppSync real-time WebSocket protocol), so the dashboard, the consumer and any
//! AppSync client work against it unchanged. [`loadtest`] drives any AppSync endpoint, this
//! one or the real service, over the real protocol and measures it.

pub mod appsync;
pub mod broker;
pub mod client;
pub mod credentials;
pub mod esm;
pub mod history;
pub mod loadtest;
pub mod publish;
pub mod smoke;
pub mod stack;
pub mod writer;
