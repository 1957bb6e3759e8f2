//! GraphQL for the AppSync-compatible server: the schema, and requests parsed with a real
//! GraphQL parser (`async-graphql-parser`), validated against the schema and coerced.
//!
//! The executor itself is small because every resolver of the quotecast schema is a NONE
//! data source: mutations return their arguments, queries return `null`, subscriptions
//! register a filter. What matters is the shape: [`prepare`] turns a request into root fields
//! with coerced arguments and flattened selection sets (fragments, aliases, `@skip` and
//! `@include` resolved), and [`Selection::write`] writes a value as a selection set shapes it.

mod api_limits;
mod coerce;
mod documents;
mod error;
mod lexer;
mod limits;
mod operation;
mod prepare;
mod schema;
mod selection;

pub use api_limits::ApiLimits;
pub use documents::{Documents, MAX_CACHED, MAX_CACHED_BYTES, MAX_CACHED_TEXT};
pub use error::GraphqlError;
pub use limits::{MAX_DEPTH, MAX_EXPANDED_BYTES, MAX_NESTING, MAX_SELECTIONS, MAX_TOKENS};
pub use operation::{Operation, RootField};
pub use prepare::prepare;
pub use schema::{FieldDef, Schema, SchemaError, named as named_type};
pub use selection::{SelectedField, Selection, push_json_string};

pub use async_graphql_parser::types::OperationType;
