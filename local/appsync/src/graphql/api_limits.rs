//! The two request limits an AppSync API is deployed with, `ResolverCountLimit` and
//! `QueryDepthLimit`, enforced with the same values (`quotecast_shared::graphql`) on a
//! validated operation, before any resolver runs. `limits.rs` bounds what validating a
//! request costs; these bound what executing one may ask of the data sources.

use super::error::GraphqlError;
use super::prepare::Operation;
use super::selection::Selection;

/// AppSync's `ResolverCountLimit` of 0: its maximum.
const APPSYNC_MAX_RESOLVERS: usize = 10_000;

/// The two limits an AppSync API is deployed with, checked on a validated operation before
/// any resolver runs: at most `resolver_count_limit` root fields that run a resolver (0:
/// AppSync's maximum, 10,000) and at most `query_depth_limit` field levels (0: none).
///
/// AppSync names an exhausted resolver budget `ResolverExecutionLimitReached` (as its users
/// report it). Whether it refuses the whole request or nulls the fields past the limit, and
/// its exact messages and its depth error, are (unverified): here the whole request is
/// refused (`data: null`) before anything runs, the safe side, so a refused request costs
/// no store read.
pub fn check_api_limits(
    op: &Operation,
    resolver_count_limit: usize,
    query_depth_limit: usize,
) -> Result<(), GraphqlError> {
    let resolvers = op
        .fields
        .iter()
        .filter(|f| {
            quotecast_shared::graphql::RESOLVED_FIELDS
                .iter()
                .any(|(ty, name)| *ty == op.root_type && *name == f.name)
        })
        .count();
    let allowed = match resolver_count_limit {
        0 => APPSYNC_MAX_RESOLVERS,
        n => n,
    };
    if resolvers > allowed {
        return Err(GraphqlError {
            error_type: Some("ResolverExecutionLimitReached".to_owned()),
            ..GraphqlError::plain(format!(
                "Resolver count limit exceeded: the request runs {resolvers} resolvers; \
                 this API allows {allowed}."
            ))
        });
    }
    if query_depth_limit > 0 {
        let depth = op
            .fields
            .iter()
            .map(|f| 1 + f.selection.as_ref().map_or(0, selection_depth))
            .max()
            .unwrap_or(0);
        if depth > query_depth_limit {
            return Err(GraphqlError {
                error_type: Some("QueryDepthLimitReached".to_owned()),
                ..GraphqlError::plain(format!(
                    "Query depth limit exceeded: the request is {depth} levels deep; \
                     this API allows {query_depth_limit}."
                ))
            });
        }
    }
    Ok(())
}

/// Field levels of a selection set: 1, plus the deepest of its fields' own selections.
fn selection_depth(selection: &Selection) -> usize {
    1 + selection
        .fields
        .iter()
        .filter_map(|f| f.sub.as_deref())
        .map(selection_depth)
        .max()
        .unwrap_or(0)
}
