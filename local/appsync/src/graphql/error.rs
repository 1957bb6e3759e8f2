//! GraphQL errors in AppSync's response shape (`APPSYNC_SPEC.md` §C.3).

use async_graphql_parser::Pos;
use serde_json::{Value, json};

/// One entry of a response's `errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphqlError {
    pub message: String,
    pub error_type: Option<String>,
    pub locations: Vec<Pos>,
    pub path: Option<Vec<String>>,
}

impl GraphqlError {
    /// A validation error: AppSync gives these no `errorType` and a `graphql-java` message.
    pub fn validation(kind: &str, detail: impl std::fmt::Display, pos: Pos) -> Self {
        GraphqlError {
            message: format!("Validation error of type {kind}: {detail}"),
            error_type: None,
            locations: vec![pos],
            path: None,
        }
    }

    pub fn plain(message: impl Into<String>) -> Self {
        GraphqlError {
            message: message.into(),
            error_type: None,
            locations: Vec::new(),
            path: None,
        }
    }

    /// An error of one field during execution, with its path and type.
    pub fn field(error_type: &str, message: impl Into<String>, key: &str, pos: Pos) -> Self {
        GraphqlError {
            message: message.into(),
            error_type: Some(error_type.to_owned()),
            locations: vec![pos],
            path: Some(vec![key.to_owned()]),
        }
    }

    pub fn to_json(&self) -> Value {
        let locations: Vec<Value> = self
            .locations
            .iter()
            .map(|p| json!({"line": p.line, "column": p.column, "sourceName": null}))
            .collect();
        let mut obj = json!({
            "path": self.path,
            "locations": locations,
            "message": self.message,
        });
        if let Some(t) = &self.error_type {
            obj["errorType"] = json!(t);
            obj["data"] = Value::Null;
            obj["errorInfo"] = Value::Null;
        }
        obj
    }
}
