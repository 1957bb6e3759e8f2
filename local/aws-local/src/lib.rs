//! What every local stand-in for an AWS service shares, so no two of them carry their own copy.
//!
//! Not a service of its own: the pieces that AppSync's and DynamoDB's local twins both need to
//! behave as AWS does at their edge. [`sigv4`] verifies AWS Signature Version 4 for a named
//! service; [`iam`] holds the IAM keys a server accepts and says who called or why not;
//! [`body`] reads a request body within a size limit and a deadline; [`json`] refuses a body
//! with a repeated key, or with more values than its length allows, before it is built;
//! [`http_server`] is the accept loop that bounds connections and header time for any
//! router; [`data_source`] is the contract between an AppSync resolver and the table behind its data source, so the
//! AppSync twin reads history without knowing how or where it is stored.
//!
//! Deliberately absent: anything of one service's wire format (GraphQL, DynamoDB JSON) or
//! storage. Those live in the crate of the service they belong to.

pub mod body;
pub mod data_source;
pub mod http_server;
pub mod iam;
pub mod json;
#[cfg(feature = "moto")]
pub mod moto;
pub mod sigv4;

/// The region every local service reports and every local signature is scoped to.
pub const LOCAL_REGION: &str = "us-east-1";
