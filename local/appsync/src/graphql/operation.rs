//! What a request becomes once validated: the operation and its root fields, as the
//! executors and the API limits read them (apart from `prepare.rs`, which makes them, so
//! what reads an operation need not import what builds one).

use async_graphql_parser::Pos;
use async_graphql_parser::types::OperationType;
use serde_json::{Map, Value};

use super::selection::Selection;

/// A validated operation, ready to execute.
#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: OperationType,
    pub name: Option<String>,
    pub root_type: String,
    /// Root fields in document order (the order mutations run in).
    pub fields: Vec<RootField>,
}

/// One root field: `key: name(args) { selection }`.
#[derive(Debug, Clone)]
pub struct RootField {
    pub key: String,
    pub name: String,
    pub args: Map<String, Value>,
    /// `None` for a scalar field (`__typename`).
    pub selection: Option<Selection>,
    pub pos: Pos,
}
