//! The nested input form of `toSubscriptionFilter`, parsed into an expression tree.
//!
//! Top-level keys are ANDed; several operators on one field are ORed; `and` / `or` take
//! arrays of sub-filters and nest freely. The tree is kept (not only its expansion) because
//! evaluating it directly is the reference the property tests hold the expansion to.

use serde_json::{Map, Value};

use super::FilterError;
use super::model::{Condition, Operator};

/// A filter expression before expansion.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Passes when every part passes (an empty `All` always passes).
    All(Vec<Expr>),
    /// Passes when some part passes.
    Any(Vec<Expr>),
    Cond(Condition),
}

impl Expr {
    /// Parses a `toSubscriptionFilter` input object.
    pub fn parse(value: &Value) -> Result<Expr, FilterError> {
        parse_object(value, "filter")
    }

    /// Evaluates the expression as written, without expanding it.
    pub fn matches(&self, event: &Value) -> bool {
        match self {
            Expr::All(parts) => parts.iter().all(|p| p.matches(event)),
            Expr::Any(parts) => parts.iter().any(|p| p.matches(event)),
            Expr::Cond(c) => c.matches(event),
        }
    }
}

fn parse_object(value: &Value, at: &str) -> Result<Expr, FilterError> {
    let obj = value
        .as_object()
        .ok_or_else(|| FilterError::NotAnObject { at: at.to_owned() })?;
    let parts = obj
        .iter()
        .map(|(key, value)| match key.as_str() {
            "and" => Ok(Expr::All(parse_list("and", value)?)),
            "or" => Ok(Expr::Any(parse_list("or", value)?)),
            field => parse_field(field, value),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match <[Expr; 1]>::try_from(parts) {
        Ok([only]) => only,
        Err(parts) => Expr::All(parts),
    })
}

fn parse_list(key: &'static str, value: &Value) -> Result<Vec<Expr>, FilterError> {
    match value.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|item| parse_object(item, &format!("each entry of `{key}`")))
            .collect(),
        _ => Err(FilterError::BadLogicalList { key }),
    }
}

fn parse_field(field: &str, value: &Value) -> Result<Expr, FilterError> {
    let Value::Object(ops) = value else {
        // Shorthand: a bare value means equality.
        return Ok(Expr::Cond(Condition::new(
            field,
            Operator::Eq,
            value.clone(),
        )?));
    };
    let alternatives = parse_operators(field, ops)?;
    Ok(match <[Expr; 1]>::try_from(alternatives) {
        Ok([only]) => only,
        Err(alternatives) => Expr::Any(alternatives),
    })
}

fn parse_operators(field: &str, ops: &Map<String, Value>) -> Result<Vec<Expr>, FilterError> {
    if ops.is_empty() {
        return Err(FilterError::NoOperator {
            field: field.to_owned(),
        });
    }
    ops.iter()
        .map(|(name, value)| {
            let op = Operator::parse(name).ok_or_else(|| FilterError::UnknownOperator {
                field: field.to_owned(),
                op: name.clone(),
            })?;
            Ok(Expr::Cond(Condition::new(field, op, value.clone())?))
        })
        .collect()
}
