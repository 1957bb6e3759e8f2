//! The two request limits an AppSync API is deployed with, `ResolverCountLimit` and
//! `QueryDepthLimit`, enforced with the same values (`quotecast_shared::graphql`) on a
//! validated operation, before any resolver runs. `limits.rs` bounds what validating a
//! request costs; these bound what executing one may ask of the data sources.

use std::collections::HashSet;

use super::error::GraphqlError;
use super::lexer::Token;
use super::operation::Operation;
use super::selection::Selection;

/// An API's `ResolverCountLimit` and `QueryDepthLimit`, as AppSync reads them: 0 is the
/// maximum (10,000 resolvers) and no depth limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    pub resolver_count_limit: usize,
    pub query_depth_limit: usize,
}

impl ApiLimits {
    /// What quotecast deploys (`quotecast_shared::graphql`).
    pub const DEPLOYED: Self = Self {
        resolver_count_limit: quotecast_shared::graphql::RESOLVER_COUNT_LIMIT,
        query_depth_limit: quotecast_shared::graphql::QUERY_DEPTH_LIMIT,
    };
}

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
pub(super) fn check_api_limits(op: &Operation, limits: ApiLimits) -> Result<(), GraphqlError> {
    let ApiLimits {
        resolver_count_limit,
        query_depth_limit,
    } = limits;
    let resolvers = op
        .fields
        .iter()
        .filter(|f| {
            quotecast_shared::graphql::RESOLVED_FIELDS
                .iter()
                .any(|(ty, name)| *ty == op.root_type && *name == f.name)
        })
        .count();
    let allowed = allowed_resolvers(resolver_count_limit);
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

/// Counts, token by token, the resolver fields of a request's text while `limits.rs` lexes it
/// before parsing, so a flood of aliased resolver fields costs one pass over its bytes, not a
/// parse and a validation (a 264 KB request of 5,000 `history` fields took 46–98 ms to refuse
/// after validating it). Only a document of one definition is judged here: its root fields
/// are the top level of its one selection set, each counted once per response key (fields of
/// one key merge into one), those named like a resolved field (`RESOLVED_FIELDS`). Anything
/// else (fragments, several operations) is left to [`check_api_limits`] after validation.
pub(super) struct ResolverFieldsInText<'a> {
    braces: usize,
    parens: usize,
    definitions: usize,
    keys: HashSet<&'a str>,
    alias: Option<&'a str>,
    /// The token before decides what a name is: `@` (a directive), `...` (a spread or an
    /// inline fragment's `on`), `on`.
    after_marker: bool,
    /// False once the document is seen to be one this count does not judge.
    judging: bool,
}

impl<'a> ResolverFieldsInText<'a> {
    pub(super) fn new() -> Self {
        Self {
            braces: 0,
            parens: 0,
            definitions: 0,
            keys: HashSet::new(),
            alias: None,
            after_marker: false,
            judging: true,
        }
    }

    /// Takes the text's next token; `colon_next` says whether a `:` follows it (asked only
    /// of a name where a root field may stand).
    pub(super) fn see(&mut self, token: Token<'a>, colon_next: impl FnOnce() -> bool) {
        if !self.judging {
            return;
        }
        match token {
            Token::Spread | Token::Punct(b'@') => {
                self.after_marker = true;
                return;
            }
            Token::Open(b'{') => {
                if self.braces == 0 {
                    self.definitions += 1;
                    if self.definitions > 1 {
                        self.stop();
                        return;
                    }
                }
                self.braces += 1;
            }
            Token::Close(b'}') => self.braces = self.braces.saturating_sub(1),
            Token::Open(b'(') => self.parens += 1,
            Token::Close(b')') => self.parens = self.parens.saturating_sub(1),
            Token::Name(name) => {
                if self.braces == 0 && name == "fragment" {
                    self.stop();
                    return;
                }
                if self.braces == 1 && self.parens == 0 {
                    if self.after_marker || name == "on" {
                        self.after_marker = name == "on";
                        return;
                    }
                    if colon_next() {
                        self.alias = Some(name);
                        return;
                    }
                    let key = self.alias.take().unwrap_or(name);
                    if quotecast_shared::graphql::RESOLVED_FIELDS
                        .iter()
                        .any(|(_, field)| *field == name)
                    {
                        self.keys.insert(key);
                    }
                }
            }
            _ => {}
        }
        self.after_marker = false;
    }

    fn stop(&mut self) {
        self.judging = false;
        self.keys = HashSet::new();
    }

    /// After the last token: the resolver limit's error, if the text runs more resolvers
    /// than `resolver_count_limit` allows.
    pub(super) fn check(&self, resolver_count_limit: usize) -> Result<(), GraphqlError> {
        let allowed = allowed_resolvers(resolver_count_limit);
        if self.judging && self.keys.len() > allowed {
            return Err(resolver_limit_error(self.keys.len(), allowed));
        }
        Ok(())
    }
}

fn allowed_resolvers(resolver_count_limit: usize) -> usize {
    match resolver_count_limit {
        0 => APPSYNC_MAX_RESOLVERS,
        n => n,
    }
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
    use crate::graphql::limits::check_text;

    fn refused(query: &str, limit: usize) -> Option<String> {
        check_text(query, limit)
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
