//! Input coercion: a JSON value (a variable, or a literal turned into JSON) checked against a
//! GraphQL input type.
//!
//! `AWSJSON` is JSON *text*: the text must parse, and it is kept as written. A raw JSON value
//! where text is expected is accepted from variables and normalised to compact text (AppSync's
//! behaviour there is unverified; accepting it is friendlier and loses nothing). A literal in
//! the document must be a string, as AppSync requires.

use async_graphql_parser::types::{BaseType, Type};
use quotecast_aws_local::json::{self, Shape};
use serde_json::Value;

use super::schema::Schema;

/// Where a value came from; literals are held to the document rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Source {
    Literal,
    Variable,
}

/// Coerces `value` to `ty`, or says why it cannot be.
pub fn coerce(schema: &Schema, ty: &Type, value: &Value, source: Source) -> Result<Value, String> {
    if value.is_null() {
        return if ty.nullable {
            Ok(Value::Null)
        } else {
            Err(format!("null is not allowed for non-null type '{ty}'"))
        };
    }
    match &ty.base {
        BaseType::List(inner) => match value {
            Value::Array(items) => items
                .iter()
                .map(|v| coerce(schema, inner, v, source))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            // A single value where a list is expected is a list of one.
            single => Ok(Value::Array(vec![coerce(schema, inner, single, source)?])),
        },
        BaseType::Named(name) => coerce_scalar(schema, name, value, source),
    }
}

fn coerce_scalar(
    schema: &Schema,
    name: &str,
    value: &Value,
    source: Source,
) -> Result<Value, String> {
    let invalid = || format!("'{}' is not a valid '{name}'", shorten(value));
    match name {
        "String" => value.is_string().then(|| value.clone()).ok_or_else(invalid),
        "ID" => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::String(n.to_string())),
            _ => Err(invalid()),
        },
        "Int" => value
            .as_i64()
            .filter(|i| i32::try_from(*i).is_ok())
            .map(Value::from)
            .ok_or_else(invalid),
        "Float" => value.is_number().then(|| value.clone()).ok_or_else(invalid),
        "Boolean" => value
            .is_boolean()
            .then(|| value.clone())
            .ok_or_else(invalid),
        "AWSJSON" => match (value, source) {
            // A key written twice is refused too (read last-wins, it would mean another
            // object), and so is more than its length allows: a publish parses it again to
            // test filters.
            (Value::String(text), _) => {
                match json::check(text.as_bytes(), Shape::for_body(text.len())) {
                    Ok(()) => Ok(value.clone()),
                    Err(e) => Err(format!("'{}' is not valid AWSJSON: {e}", shorten(value))),
                }
            }
            (raw, Source::Variable) => Ok(Value::String(raw.to_string())),
            (_, Source::Literal) => Err(format!(
                "'{}' is not a valid 'AWSJSON': AWSJSON literals are JSON text in a string",
                shorten(value)
            )),
        },
        other if schema.is_scalar(other) => {
            value.is_string().then(|| value.clone()).ok_or_else(invalid)
        }
        other => Err(format!("'{other}' is not an input type")),
    }
}

/// A value for an error message, cut to a readable length.
fn shorten(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 80 {
        format!("{}...", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}
