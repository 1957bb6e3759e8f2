//! AppSync's limits on enhanced filters (§B.7), checked on the expanded groups.
//!
//! AppSync bounds distinct field names per group, not conditions: several conditions on one
//! field count once, so an `and` of thousands of `ne` on `name` would pass the field limit
//! and then be evaluated on every publish to every subscriber. [`MAX_CONDITIONS`] bounds the
//! whole filter's conditions to what AppSync's own limits allow with one condition per field
//! (5 fields × 10 groups), which keeps the cost of testing one filter a small constant.

use std::collections::HashSet;

use serde_json::Value;

use super::FilterError;
use super::model::{Condition, Operator};

/// Distinct field names ANDed in one group.
pub const MAX_FIELDS_PER_GROUP: usize = 5;
/// Groups ORed in one filter, counting each value of an `in` as a group of its own.
pub const MAX_GROUPS: usize = 10;
/// Conditions in the whole expanded filter, summed over its groups: [`MAX_FIELDS_PER_GROUP`]
/// × [`MAX_GROUPS`], the most a filter with one condition per field and group can have.
/// (A range on one field is one `between`, not two conditions, so real filters fit.)
pub const MAX_CONDITIONS: usize = MAX_FIELDS_PER_GROUP * MAX_GROUPS;
/// Values of one `in` or `notIn`.
pub const MAX_IN_VALUES: usize = 5;
/// Values of one `containsAny`.
pub const MAX_CONTAINS_ANY_VALUES: usize = 20;
/// Characters of any string: field names and values.
pub const MAX_STRING_LEN: usize = 256;
/// Levels of a dotted field name (`a.b.c.d.e`).
pub const MAX_FIELD_DEPTH: usize = 5;

pub(super) fn check(groups: &[Vec<Condition>]) -> Result<(), FilterError> {
    check_condition_count(groups)?;
    let mut weighted_groups = 0usize;
    for group in groups {
        let fields: HashSet<&str> = group.iter().map(|c| c.field.as_str()).collect();
        if fields.len() > MAX_FIELDS_PER_GROUP {
            return Err(FilterError::TooManyFields {
                count: fields.len(),
            });
        }
        let mut weight = 1usize;
        for condition in group {
            check_condition(condition)?;
            if condition.op == Operator::In {
                weight = weight.saturating_mul(array_len(&condition.value));
            }
        }
        weighted_groups = weighted_groups.saturating_add(weight);
    }
    if weighted_groups > MAX_GROUPS {
        return Err(FilterError::TooManyGroups);
    }
    Ok(())
}

/// Refuses more than [`MAX_CONDITIONS`] conditions in `groups`; also called while expanding,
/// so a long `and` stops growing as soon as it passes the limit.
pub(super) fn check_condition_count(groups: &[Vec<Condition>]) -> Result<(), FilterError> {
    let count = groups
        .iter()
        .map(Vec::len)
        .fold(0usize, usize::saturating_add);
    if count > MAX_CONDITIONS {
        Err(FilterError::TooManyConditions { count })
    } else {
        Ok(())
    }
}

fn check_condition(c: &Condition) -> Result<(), FilterError> {
    let depth = c.field.split('.').count();
    if depth > MAX_FIELD_DEPTH {
        return Err(FilterError::NestingTooDeep {
            field: c.field.clone(),
            depth,
        });
    }
    check_string(&c.field)?;
    let count = array_len(&c.value);
    match c.op {
        Operator::In | Operator::NotIn if count > MAX_IN_VALUES => {
            return Err(FilterError::TooManyInValues {
                field: c.field.clone(),
                op: c.op.name(),
                count,
            });
        }
        Operator::ContainsAny if count > MAX_CONTAINS_ANY_VALUES => {
            return Err(FilterError::TooManyContainsAnyValues {
                field: c.field.clone(),
                count,
            });
        }
        _ => {}
    }
    match &c.value {
        Value::String(s) => check_string(s),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .try_for_each(check_string),
        _ => Ok(()),
    }
}

fn check_string(s: &str) -> Result<(), FilterError> {
    let len = s.chars().count();
    if len > MAX_STRING_LEN {
        Err(FilterError::StringTooLong { len })
    } else {
        Ok(())
    }
}

fn array_len(value: &Value) -> usize {
    value.as_array().map_or(1, Vec::len)
}
