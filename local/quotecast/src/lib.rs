//! The `quotecast` binary's library: AWS on one machine, composed.
//!
//! It stands in for no AWS service itself; it puts the local twins together and adds the
//! tools around them. [`server`] serves the AppSync twin (`quotecast-appsync`) and the
//! DynamoDB twin (`quotecast-dynamodb`) on one port; [`stack`] is `quotecast dev`: the
//! embedded broker (`quotecast-msk`), the producer on a timer, the event source mapping
//! (`quotecast-esm`) calling the consumer in-process, the server, and the dashboard.
//! [`publish`] and [`smoke`] are writers' and operators' tools against any AppSync endpoint,
//! [`loadtest`] drives one over the real protocol and measures it, [`credentials`] and
//! [`writer`] give writers their IAM key and endpoint.

pub mod credentials;
pub mod loadtest;
pub mod publish;
pub mod server;
pub mod smoke;
pub mod stack;
pub mod writer;
