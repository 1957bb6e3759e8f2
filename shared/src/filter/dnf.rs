//! Expansion of a filter expression into disjunctive normal form (OR of ANDs).
//!
//! Expansion multiplies: an AND of k two-way ORs has 2^k groups. AppSync allows at most
//! [`MAX_GROUPS`] groups, and expansion never shrinks the count, so it stops as soon as the
//! count passes the limit; a hostile filter costs at most that much work and memory. The
//! same holds for the total number of conditions ([`MAX_CONDITIONS`](super::limits::MAX_CONDITIONS)):
//! an `and` of thousands of conditions stops growing once it has one too many.

use super::FilterError;
use super::input::Expr;
use super::limits::{MAX_GROUPS, check_condition_count};
use super::model::Condition;

type Groups = Vec<Vec<Condition>>;

pub(super) fn expand(expr: &Expr) -> Result<Groups, FilterError> {
    let groups = match expr {
        Expr::Cond(c) => vec![vec![c.clone()]],
        Expr::Any(parts) => {
            let mut groups = Groups::new();
            for part in parts {
                groups.extend(expand(part)?);
                check_count(&groups)?;
            }
            groups
        }
        Expr::All(parts) => {
            let mut groups: Groups = vec![Vec::new()];
            for part in parts {
                let alternatives = expand(part)?;
                groups = groups
                    .iter()
                    .flat_map(|g| {
                        alternatives.iter().map(move |alt| {
                            let mut combined = g.clone();
                            combined.extend(alt.iter().cloned());
                            combined
                        })
                    })
                    .collect();
                check_count(&groups)?;
            }
            groups
        }
    };
    Ok(groups)
}

fn check_count(groups: &Groups) -> Result<(), FilterError> {
    if groups.len() > MAX_GROUPS {
        Err(FilterError::TooManyGroups)
    } else {
        check_condition_count(groups)
    }
}
