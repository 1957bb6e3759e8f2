//! AppSync enhanced subscription filters (`APPSYNC_SPEC.md` §B.4–B.7).
//!
//! A subscriber sends a filter in the input form of `util.transform.toSubscriptionFilter`
//! (`{"name": {"in": ["AMZN", "TSLA"]}, "or": [...]}`). [`Filter::from_input`] parses it into an
//! expression ([`input::Expr`]), expands it into disjunctive normal form — the `filterGroup`
//! form AppSync stores, an OR of ANDed conditions — and checks every AppSync limit with its own
//! error. [`Filter::matches`] evaluates the groups against a published object.
//!
//! Choices where AppSync's behaviour is unverified, each covered by tests:
//! - `lte`/`gte` are accepted as aliases and normalised to `le`/`ge`.
//! - A bare value (`{"name": "AMZN"}`) means `eq`.
//! - A missing field reads as `null`; every comparison with `null` is false except `ne`,
//!   `notIn` and `notContains`, which are true.
//! - `between [low, high]` excludes both bounds (the AWS example `[1, 5]` matches 2, 3, 4).
//! - Unknown operators, empty `and`/`or` lists and fields deeper than 5 levels are refused
//!   when the filter is set, never silently matched.
//! - An empty filter (`{}`) matches everything, like no filter at all.

mod dnf;
mod eval;
pub use eval::lookup;
pub mod input;
mod limits;
mod model;

pub use input::Expr;
pub use limits::{
    MAX_CONDITIONS, MAX_CONTAINS_ANY_VALUES, MAX_FIELD_DEPTH, MAX_FIELDS_PER_GROUP, MAX_GROUPS,
    MAX_IN_VALUES, MAX_STRING_LEN,
};
pub use model::{Condition, Operator};

use serde_json::Value;

/// Why a filter was refused. Every AppSync limit has its own variant.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("filter is not valid JSON: {0}")]
    NotJson(String),
    #[error("{at} must be a JSON object")]
    NotAnObject { at: String },
    #[error("`{key}` must be a non-empty array of filter objects")]
    BadLogicalList { key: &'static str },
    #[error("field name {field:?} is invalid: dotted names of non-empty parts are expected")]
    InvalidFieldName { field: String },
    #[error("field `{field}` has no operator")]
    NoOperator { field: String },
    #[error("unknown filter operator `{op}` on field `{field}`")]
    UnknownOperator { field: String, op: String },
    #[error("operator `{op}` on field `{field}` needs {expected}")]
    InvalidValue {
        field: String,
        op: &'static str,
        expected: &'static str,
    },
    #[error("filter group has {count} distinct fields; at most {MAX_FIELDS_PER_GROUP} are allowed")]
    TooManyFields { count: usize },
    #[error(
        "filter expands to more than {MAX_GROUPS} filter groups (each `in` value counts as one)"
    )]
    TooManyGroups,
    #[error(
        "filter has at least {count} conditions across its groups; at most {MAX_CONDITIONS} are allowed"
    )]
    TooManyConditions { count: usize },
    #[error("`{op}` on field `{field}` has {count} values; at most {MAX_IN_VALUES} are allowed")]
    TooManyInValues {
        field: String,
        op: &'static str,
        count: usize,
    },
    #[error(
        "`containsAny` on field `{field}` has {count} values; at most {MAX_CONTAINS_ANY_VALUES} are allowed"
    )]
    TooManyContainsAnyValues { field: String, count: usize },
    #[error("a string of {len} characters in the filter is longer than {MAX_STRING_LEN}")]
    StringTooLong { len: usize },
    #[error("field `{field}` is nested {depth} levels deep; at most {MAX_FIELD_DEPTH} are allowed")]
    NestingTooDeep { field: String, depth: usize },
}

/// A validated filter in `filterGroup` form: it passes when any group passes, and a group
/// passes when all its conditions do. No groups means no filtering.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    groups: Vec<Vec<Condition>>,
}

impl Filter {
    /// The filter that lets everything through.
    pub fn match_all() -> Self {
        Filter::default()
    }

    /// Parses a filter given as JSON text in `toSubscriptionFilter` input form.
    pub fn from_input_text(text: &str) -> Result<Self, FilterError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| FilterError::NotJson(e.to_string()))?;
        Filter::from_input(&value)
    }

    /// Parses, expands and validates a `toSubscriptionFilter` input object.
    pub fn from_input(value: &Value) -> Result<Self, FilterError> {
        let expr = Expr::parse(value)?;
        Filter::from_expr(&expr)
    }

    /// Expands and validates an already parsed expression.
    pub fn from_expr(expr: &Expr) -> Result<Self, FilterError> {
        let groups = dnf::expand(expr)?;
        let filter = Filter::from_groups(groups);
        limits::check(&filter.groups)?;
        Ok(filter)
    }

    /// Parses and validates the output form, `{"filterGroup": [{"filters": [...]}]}`.
    pub fn from_filter_group(value: &Value) -> Result<Self, FilterError> {
        let groups = model::parse_filter_group(value)?;
        let filter = Filter::from_groups(groups);
        limits::check(&filter.groups)?;
        Ok(filter)
    }

    fn from_groups(groups: Vec<Vec<Condition>>) -> Self {
        // A group without conditions always passes, and so does the whole filter.
        if groups.iter().any(Vec::is_empty) {
            Filter::match_all()
        } else {
            Filter { groups }
        }
    }

    pub fn groups(&self) -> &[Vec<Condition>] {
        &self.groups
    }

    pub fn is_match_all(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `event` (the published object) passes the filter.
    pub fn matches(&self, event: &Value) -> bool {
        self.groups.is_empty()
            || self
                .groups
                .iter()
                .any(|g| g.iter().all(|c| c.matches(event)))
    }

    /// The `{"filterGroup": [...]}` JSON AppSync stores.
    pub fn to_filter_group(&self) -> Value {
        model::filter_group_json(&self.groups)
    }

    /// Whether the filter says nothing but which string values `field` may take: every group
    /// is one `eq` (a string) or `in` (strings) condition on `field`. A server that indexes
    /// subscribers by those values ([`Filter::pinned_values`]) and looks them up by the
    /// event's `field` then knows the filter passes without testing it.
    pub fn only_pins(&self, field: &str) -> bool {
        !self.groups.is_empty()
            && self.groups.iter().all(|group| match group.as_slice() {
                [pin] if pin.field == field => match (&pin.op, &pin.value) {
                    (Operator::Eq, Value::String(_)) => true,
                    (Operator::In, Value::Array(items)) => items.iter().all(Value::is_string),
                    _ => false,
                },
                _ => false,
            })
    }

    /// The values `field` must equal for any event to pass, when every group pins `field`
    /// with `eq` or `in`; `None` when some group lets other values through. Servers use it to
    /// index subscribers by channel name instead of testing every filter on every message.
    pub fn pinned_values(&self, field: &str) -> Option<Vec<&Value>> {
        if self.groups.is_empty() {
            return None;
        }
        let mut values = Vec::new();
        for group in &self.groups {
            let pin = group
                .iter()
                .find(|c| c.field == field && matches!(c.op, Operator::Eq | Operator::In))?;
            match (&pin.op, &pin.value) {
                (Operator::In, Value::Array(items)) => values.extend(items.iter()),
                _ => values.push(&pin.value),
            }
        }
        Some(values)
    }
}
