//! Evaluation of one condition against a published object.
//!
//! Numbers compare by value whatever their JSON spelling (`1` equals `1.0`); strings compare
//! by bytes, case-sensitively; values of different kinds are never equal or ordered.

use std::cmp::Ordering;

use serde_json::Value;

use super::model::{Condition, Operator};

/// The value at a dotted path, walking nested objects; `None` when any step is missing.
pub fn lookup<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(event, |v, key| v.as_object()?.get(key))
}

impl Condition {
    /// Whether `event` passes this condition. A missing field counts as `null`.
    pub fn matches(&self, event: &Value) -> bool {
        let actual = lookup(event, &self.field).unwrap_or(&Value::Null);
        let expected = &self.value;
        match self.op {
            Operator::Eq => same(actual, expected),
            Operator::Ne => !same(actual, expected),
            Operator::Le => order(actual, expected).is_some_and(Ordering::is_le),
            Operator::Lt => order(actual, expected).is_some_and(Ordering::is_lt),
            Operator::Ge => order(actual, expected).is_some_and(Ordering::is_ge),
            Operator::Gt => order(actual, expected).is_some_and(Ordering::is_gt),
            Operator::Contains => contains(actual, expected),
            Operator::NotContains => !contains(actual, expected),
            Operator::BeginsWith => match (actual, expected) {
                (Value::String(a), Value::String(prefix)) => a.starts_with(prefix.as_str()),
                _ => false,
            },
            Operator::In => one_of(actual, expected),
            Operator::NotIn => !one_of(actual, expected),
            Operator::Between => match expected.as_array().map(Vec::as_slice) {
                Some([low, high]) => {
                    order(actual, low) == Some(Ordering::Greater)
                        && order(actual, high) == Some(Ordering::Less)
                }
                _ => false,
            },
            Operator::ContainsAny => match actual {
                Value::Array(items) => items.iter().any(|item| one_of(item, expected)),
                _ => false,
            },
        }
    }
}

/// Scalar equality: numbers by value, strings and booleans exactly; `null` equals nothing.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

/// Ordering of two numbers or two strings; `None` for anything else.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => Some(x.cmp(&y)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// A substring of a string, or an element of a list.
fn contains(actual: &Value, needle: &Value) -> bool {
    match (actual, needle) {
        (Value::String(s), Value::String(n)) => s.contains(n.as_str()),
        (Value::Array(items), _) => items.iter().any(|item| same(item, needle)),
        _ => false,
    }
}

/// Equal to one of the values of the array `set`.
fn one_of(actual: &Value, set: &Value) -> bool {
    set.as_array()
        .is_some_and(|values| values.iter().any(|v| same(actual, v)))
}
