//! Operators and conditions, and the `filterGroup` JSON form they are stored in.

use serde_json::{Map, Value, json};

use super::FilterError;

/// The 13 operators of enhanced filters. Names are case-sensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Eq,
    Ne,
    Le,
    Lt,
    Ge,
    Gt,
    Contains,
    NotContains,
    BeginsWith,
    In,
    NotIn,
    Between,
    ContainsAny,
}

impl Operator {
    pub const ALL: [Operator; 13] = [
        Operator::Eq,
        Operator::Ne,
        Operator::Le,
        Operator::Lt,
        Operator::Ge,
        Operator::Gt,
        Operator::Contains,
        Operator::NotContains,
        Operator::BeginsWith,
        Operator::In,
        Operator::NotIn,
        Operator::Between,
        Operator::ContainsAny,
    ];

    /// Reads an operator name; `lte` and `gte` are aliases of `le` and `ge`.
    pub fn parse(name: &str) -> Option<Operator> {
        Some(match name {
            "eq" => Operator::Eq,
            "ne" => Operator::Ne,
            "le" | "lte" => Operator::Le,
            "lt" => Operator::Lt,
            "ge" | "gte" => Operator::Ge,
            "gt" => Operator::Gt,
            "contains" => Operator::Contains,
            "notContains" => Operator::NotContains,
            "beginsWith" => Operator::BeginsWith,
            "in" => Operator::In,
            "notIn" => Operator::NotIn,
            "between" => Operator::Between,
            "containsAny" => Operator::ContainsAny,
            _ => return None,
        })
    }

    /// The canonical name, as written in `filterGroup`.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Eq => "eq",
            Operator::Ne => "ne",
            Operator::Le => "le",
            Operator::Lt => "lt",
            Operator::Ge => "ge",
            Operator::Gt => "gt",
            Operator::Contains => "contains",
            Operator::NotContains => "notContains",
            Operator::BeginsWith => "beginsWith",
            Operator::In => "in",
            Operator::NotIn => "notIn",
            Operator::Between => "between",
            Operator::ContainsAny => "containsAny",
        }
    }

    /// What the operator's value must be, for the error message; `None` when `value` fits.
    fn check_value(self, value: &Value) -> Option<&'static str> {
        let number_or_string = |v: &Value| v.is_number() || v.is_string();
        let ok = match self {
            Operator::Eq | Operator::Ne => number_or_string(value) || value.is_boolean(),
            Operator::Le
            | Operator::Lt
            | Operator::Ge
            | Operator::Gt
            | Operator::Contains
            | Operator::NotContains => number_or_string(value),
            Operator::BeginsWith => value.is_string(),
            Operator::In | Operator::NotIn | Operator::ContainsAny => value
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(number_or_string)),
            Operator::Between => value.as_array().is_some_and(|a| {
                a.len() == 2
                    && ((a[0].is_number() && a[1].is_number())
                        || (a[0].is_string() && a[1].is_string()))
            }),
        };
        if ok {
            return None;
        }
        Some(match self {
            Operator::Eq | Operator::Ne => "a number, a string or a boolean",
            Operator::BeginsWith => "a string",
            Operator::In | Operator::NotIn | Operator::ContainsAny => {
                "a non-empty array of numbers or strings"
            }
            Operator::Between => "an array of two numbers or two strings: [low, high]",
            _ => "a number or a string",
        })
    }
}

/// One test on one field: `fieldName operator value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Dotted path into the published object (`a.b.c`).
    pub field: String,
    pub op: Operator,
    pub value: Value,
}

impl Condition {
    /// Builds a condition, checking the field name and the value's type.
    pub fn new(field: &str, op: Operator, value: Value) -> Result<Self, FilterError> {
        if field.is_empty() || field.split('.').any(str::is_empty) {
            return Err(FilterError::InvalidFieldName {
                field: field.to_owned(),
            });
        }
        if let Some(expected) = op.check_value(&value) {
            return Err(FilterError::InvalidValue {
                field: field.to_owned(),
                op: op.name(),
                expected,
            });
        }
        Ok(Condition {
            field: field.to_owned(),
            op,
            value,
        })
    }

    pub fn to_json(&self) -> Value {
        json!({"fieldName": self.field, "operator": self.op.name(), "value": self.value})
    }
}

pub(super) fn filter_group_json(groups: &[Vec<Condition>]) -> Value {
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| json!({"filters": g.iter().map(Condition::to_json).collect::<Vec<_>>()}))
        .collect();
    json!({ "filterGroup": groups })
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, FilterError> {
    value
        .as_object()
        .ok_or_else(|| FilterError::NotAnObject { at: at.to_owned() })
}

/// Reads `{"filterGroup": [{"filters": [{"fieldName", "operator", "value"}]}]}`.
pub(super) fn parse_filter_group(value: &Value) -> Result<Vec<Vec<Condition>>, FilterError> {
    let groups = object(value, "filter")?
        .get("filterGroup")
        .and_then(Value::as_array)
        .ok_or_else(|| FilterError::NotAnObject {
            at: "`filterGroup` (an array of groups)".to_owned(),
        })?;
    groups
        .iter()
        .map(|group| {
            let filters = object(group, "a filter group")?
                .get("filters")
                .and_then(Value::as_array)
                .ok_or_else(|| FilterError::NotAnObject {
                    at: "`filters` (an array of conditions)".to_owned(),
                })?;
            filters.iter().map(parse_condition).collect()
        })
        .collect()
}

fn parse_condition(value: &Value) -> Result<Condition, FilterError> {
    let obj = object(value, "a filter condition")?;
    let field = obj
        .get("fieldName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let op_name = obj
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let op = Operator::parse(op_name).ok_or_else(|| FilterError::UnknownOperator {
        field: field.to_owned(),
        op: op_name.to_owned(),
    })?;
    let value = obj.get("value").cloned().unwrap_or(Value::Null);
    Condition::new(field, op, value)
}
