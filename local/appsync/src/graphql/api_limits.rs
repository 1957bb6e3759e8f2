//! The two request limits an AppSync API is deployed with, `ResolverCountLimit` and
//! `QueryDepthLimit`, enforced with the same values (`quotecast_shared::graphql`) on a
//! validated operation, before any resolver runs. `limits.rs` bounds what validating a
//! request costs; these bound what executing one may ask of the data sources.

use std::collections::HashSet;

use super::error::GraphqlError;
use super::limits::{block_string_end, number_end, string_end};
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
        return Err(resolver_limit_error(resolvers, allowed));
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

/// The resolver count read from the request text before it is parsed, so a flood of aliased
/// resolver fields costs one pass over its bytes, not a parse and a validation (a 264 KB
/// request of 5,000 `history` fields took 46–98 ms to refuse after validating it). Only a
/// document of one definition is judged here: its root fields are the top level of its one
/// selection set, each counted once per response key (fields of one key merge into one),
/// those named like a resolved field (`RESOLVED_FIELDS`). Anything else (fragments, several
/// operations) is left to [`check_api_limits`] after validation.
pub fn check_api_limits_in_text(
    query: &str,
    resolver_count_limit: usize,
) -> Result<(), GraphqlError> {
    let allowed = match resolver_count_limit {
        0 => APPSYNC_MAX_RESOLVERS,
        n => n,
    };
    let b = query.as_bytes();
    let resolved = |name: &str| {
        quotecast_shared::graphql::RESOLVED_FIELDS
            .iter()
            .any(|(_, field)| *field == name)
    };
    let (mut i, mut braces, mut parens, mut definitions) = (0, 0usize, 0usize, 0usize);
    let mut keys: HashSet<&str> = HashSet::new();
    let mut alias: Option<&str> = None;
    // The token before, where it decides what a name is: `@` (a directive), `...` (a spread
    // or an inline fragment's `on`), `on`.
    let mut after_marker = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => i = block_string_end(b, i + 3),
            b'"' => i = string_end(b, i + 1),
            b'.' if b[i..].starts_with(b"...") => {
                i += 3;
                after_marker = true;
                continue;
            }
            b'@' => {
                i += 1;
                after_marker = true;
                continue;
            }
            b'{' => {
                if braces == 0 {
                    definitions += 1;
                    if definitions > 1 {
                        return Ok(());
                    }
                }
                braces += 1;
                i += 1;
            }
            b'}' => {
                braces = braces.saturating_sub(1);
                i += 1;
            }
            b'(' => {
                parens += 1;
                i += 1;
            }
            b')' => {
                parens = parens.saturating_sub(1);
                i += 1;
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                let name = &query[start..i];
                if braces == 0 && name == "fragment" {
                    return Ok(());
                }
                if braces == 1 && parens == 0 {
                    if after_marker || name == "on" {
                        after_marker = name == "on";
                        continue;
                    }
                    let mut j = i;
                    while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\n' | b'\r' | b',') {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b':' {
                        alias = Some(name);
                        continue;
                    }
                    let key = alias.take().unwrap_or(name);
                    if resolved(name) {
                        keys.insert(key);
                    }
                }
            }
            c if c == b'-' || c.is_ascii_digit() => i = number_end(b, i + 1),
            _ => i += 1,
        }
        after_marker = false;
    }
    if keys.len() > allowed {
        return Err(resolver_limit_error(keys.len(), allowed));
    }
    Ok(())
}

fn resolver_limit_error(resolvers: usize, allowed: usize) -> GraphqlError {
    GraphqlError {
        error_type: Some("ResolverExecutionLimitReached".to_owned()),
        ..GraphqlError::plain(format!(
            "Resolver count limit exceeded: the request runs {resolvers} resolvers; \
             this API allows {allowed}."
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(query: &str, limit: usize) -> Option<String> {
        check_api_limits_in_text(query, limit)
            .err()
            .and_then(|e| e.to_json()["message"].as_str().map(str::to_owned))
    }

    #[test]
    fn the_text_count_is_the_root_resolver_fields_by_response_key() {
        let aliased = |n: usize| -> String {
            let fields: String = (0..n)
                .map(|i| format!(r#"h{i}: history(name: "A", limit: 5) {{ name }} "#))
                .collect();
            format!("{{ {fields} }}")
        };
        assert_eq!(refused(&aliased(3), 3), None);
        let message = refused(&aliased(4), 3).unwrap();
        assert!(message.contains("runs 4 resolvers"), "{message}");
        // One response key is one field (GraphQL merges them), one resolver run.
        let same = format!("{{ {} }}", "h: history(name: \"A\") { name } ".repeat(10));
        assert_eq!(refused(&same, 1), None);
        // Not counted: nested fields, argument names and strings, directives, `__typename`,
        // fields without a resolver, and a type named like a field.
        let noise = r#"query Q($history: String) @history { a: getChannel { history: name }
            __typename b: history(name: "history", publish: 1) @include(if: true) { name } }"#;
        assert_eq!(refused(noise, 1), None);
        assert!(refused(&noise.replace("b: history", "b: history c: publish"), 1).is_some());
        // Fragments, several operations: left to the count after validation.
        let spread = format!(
            "{} fragment F on Query {{ x: history(name: \"A\") {{ name }} }}",
            aliased(4)
        );
        assert_eq!(refused(&spread, 3), None);
        assert_eq!(
            refused(
                &format!("query A {} query B {{ getChannel {{ name }} }}", aliased(4)),
                3
            ),
            None
        );
        // 0 is AppSync's own maximum, 10,000.
        assert_eq!(refused(&aliased(300), 0), None);
    }
}
