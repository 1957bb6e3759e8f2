//! Bounds on the work one GraphQL request can ask for, checked before that work is done.
//!
//! Validation expands every fragment spread where it appears, which is what lets it report
//! graphql-java's errors with their paths; but expansion multiplies. Twenty-six fragments
//! that each spread the next one twice are 1 KB of text and 2^25 selections, and one
//! argument variable used under many aliases is copied once per alias. So before the
//! validating walk, two cheap passes bound everything it will do:
//!
//! * [`check_text`] lexes the request text once and refuses more than [`MAX_TOKENS`] tokens,
//!   brackets nested deeper than [`MAX_NESTING`] (graphql-java's parser limits, in its words)
//!   or more resolver fields than the API allows, before the parser builds anything;
//! * [`check_cost`] counts the chosen operation as the walk will see it, spreads expanded,
//!   and stops at the first limit crossed: [`MAX_SELECTIONS`] selections, [`MAX_DEPTH`]
//!   nested selection sets, [`MAX_EXPANDED_BYTES`] of names and argument values. Every step
//!   of this count adds at least one to a counter it checks, so the count itself is bounded
//!   by the limits, whatever the document's shape.
//!
//! What the walk then does per selection is proportional to what was counted for it, so a
//! request that passes costs at most a constant times these limits. The numbers are
//! generous for real clients: 1,000 aliased `publish` fields (four times the consumer's
//! largest chunk, which the API's `ResolverCountLimit` caps at 250) are about 27,000 tokens,
//! depth 2, 3,000 selections and their own size in bytes. Refusals are HTTP 200 with `data: null`, or an
//! `error` for that `start` on the real-time socket, like validation errors.

use std::collections::HashMap;

use async_graphql_parser::Positioned;
use async_graphql_parser::types::{
    Directive, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql_value::{ConstValue, Name, Value as AstValue};
use serde_json::{Map, Value};

use super::api_limits::ResolverFieldsInText;
use super::error::GraphqlError;
use super::lexer::{Token, Tokens};

/// Lexical tokens in one request (names, punctuators, numbers, strings; commas, white space
/// and comments are not tokens). graphql-java's default is 15,000; the consumer's 1,000
/// aliased publishes need about 27,000.
pub const MAX_TOKENS: usize = 100_000;

/// Brackets (`{`, `[`, `(`) open at once in the request text. Keeps the parser's and the
/// walk's recursion shallow; real documents nest a handful.
pub const MAX_NESTING: usize = 64;

/// Nested selection sets after expansion: the operation's own is depth 1, and each field's
/// sub-selection, each fragment spread and each inline fragment adds one. Counting spreads
/// bounds a chain of fragments that has no nesting in the text. quotecast's schema is two
/// levels deep; clients that wrap fields in fragments need a few more.
pub const MAX_DEPTH: usize = 32;

/// Selections after expansion: every field, fragment spread and inline fragment, counted
/// each time a spread brings it in (graphql-java's "query complexity" with a weight of one,
/// spreads included). 1,000 aliased publishes with `{ name data }` are 3,000.
pub const MAX_SELECTIONS: usize = 10_000;

/// Bytes of field names, aliases, argument names and argument values (variables counted at
/// their value's size each time they are used) after expansion. A request with no fragment
/// and each variable used once counts about its own size, under the 5 MiB body limit; this
/// bounds what aliases and fragments can multiply: argument copies, error messages.
pub const MAX_EXPANDED_BYTES: usize = 16 * 1024 * 1024;

/// Checks the request text against [`MAX_TOKENS`] and [`MAX_NESTING`], and its resolver
/// fields against the API's `ResolverCountLimit` where the text alone can say
/// ([`ResolverFieldsInText`]), in one pass.
pub fn check_text(query: &str, resolver_count_limit: usize) -> Result<(), GraphqlError> {
    let mut tokens = Tokens::new(query);
    let mut resolvers = ResolverFieldsInText::new();
    let mut count = 0usize;
    let mut depth = 0usize;
    while let Some(token) = tokens.next() {
        count += 1;
        if count > MAX_TOKENS {
            return Err(parse_cancelled(format!(
                "More than {MAX_TOKENS} 'grammar' tokens have been presented."
            )));
        }
        match token {
            Token::Open(_) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(parse_cancelled(format!(
                        "More than {MAX_NESTING} deep 'grammar' rules have been entered."
                    )));
                }
            }
            Token::Close(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        resolvers.see(token, || tokens.peek_byte() == Some(b':'));
    }
    resolvers.check(resolver_count_limit)
}

fn parse_cancelled(what: String) -> GraphqlError {
    GraphqlError::plain(format!(
        "Invalid Syntax : {what} To prevent Denial Of Service attacks, parsing has been cancelled."
    ))
}

/// Counts `op` as validation will walk it, spreads expanded, against [`MAX_SELECTIONS`],
/// [`MAX_DEPTH`] and [`MAX_EXPANDED_BYTES`]; `variables` are the request's values, whose
/// sizes count where they are used.
pub fn check_cost(
    doc: &ExecutableDocument,
    op: &OperationDefinition,
    variables: &Map<String, Value>,
) -> Result<(), GraphqlError> {
    let mut cost = Cost {
        doc,
        variable_bytes: HashMap::new(),
        selections: 0,
        bytes: 0,
        expanding: Vec::new(),
    };
    for def in &op.variable_definitions {
        let name = def.node.name.node.as_str();
        let size = match (variables.get(name), &def.node.default_value) {
            (Some(v), _) => json_size(v),
            (None, Some(d)) => const_size(&d.node),
            (None, None) => 4,
        };
        cost.variable_bytes.insert(name, size);
    }
    cost.selection_set(&op.selection_set.node, 1)
}

struct Cost<'a> {
    doc: &'a ExecutableDocument,
    variable_bytes: HashMap<&'a str, usize>,
    selections: usize,
    bytes: usize,
    /// Fragments being expanded: a cycle is the walk's to report, and is not followed here.
    expanding: Vec<&'a str>,
}

impl<'a> Cost<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<(), GraphqlError> {
        if depth > MAX_DEPTH {
            return Err(GraphqlError::plain(format!(
                "maximum query depth exceeded {depth} > {MAX_DEPTH}"
            )));
        }
        for item in &set.items {
            self.selections += 1;
            if self.selections > MAX_SELECTIONS {
                return Err(GraphqlError::plain(format!(
                    "maximum query complexity exceeded {} > {MAX_SELECTIONS}",
                    self.selections
                )));
            }
            self.directives(item.node.directives())?;
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.charge(field.name.node.len())?;
                    if let Some(alias) = &field.alias {
                        self.charge(alias.node.len())?;
                    }
                    self.arguments(&field.arguments)?;
                    if !field.selection_set.node.items.is_empty() {
                        self.selection_set(&field.selection_set.node, depth + 1)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    self.charge(name.len())?;
                    let Some(fragment) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    if self.expanding.contains(&name) {
                        continue;
                    }
                    self.charge(fragment.node.type_condition.node.on.node.len())?;
                    self.expanding.push(name);
                    self.selection_set(&fragment.node.selection_set.node, depth + 1)?;
                    self.expanding.pop();
                }
                Selection::InlineFragment(inline) => {
                    if let Some(cond) = &inline.node.type_condition {
                        self.charge(cond.node.on.node.len())?;
                    }
                    self.selection_set(&inline.node.selection_set.node, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    fn directives(&mut self, directives: &'a [Positioned<Directive>]) -> Result<(), GraphqlError> {
        for d in directives {
            self.charge(1 + d.node.name.node.len())?;
            self.arguments(&d.node.arguments)?;
        }
        Ok(())
    }

    fn arguments(
        &mut self,
        arguments: &'a [(Positioned<Name>, Positioned<AstValue>)],
    ) -> Result<(), GraphqlError> {
        for (name, value) in arguments {
            self.charge(name.node.len())?;
            self.value(&value.node)?;
        }
        Ok(())
    }

    /// Charges a literal node by node, so that walking a huge one stops at the limit.
    fn value(&mut self, value: &'a AstValue) -> Result<(), GraphqlError> {
        match value {
            AstValue::Variable(name) => {
                let size = self
                    .variable_bytes
                    .get(name.as_str())
                    .copied()
                    .unwrap_or(name.len());
                self.charge(size)
            }
            AstValue::String(s) => self.charge(2 + s.len()),
            AstValue::Enum(e) => self.charge(e.len()),
            AstValue::List(items) => {
                self.charge(2)?;
                items.iter().try_for_each(|v| self.value(v))
            }
            AstValue::Object(fields) => {
                self.charge(2)?;
                for (k, v) in fields {
                    self.charge(1 + k.len())?;
                    self.value(v)?;
                }
                Ok(())
            }
            AstValue::Binary(b) => self.charge(b.len()),
            AstValue::Null | AstValue::Number(_) | AstValue::Boolean(_) => self.charge(8),
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), GraphqlError> {
        // At least one per step: the count of steps is bounded by the limit too.
        self.bytes = self.bytes.saturating_add(bytes.max(1));
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(GraphqlError::plain(format!(
                "maximum query size exceeded {} > {MAX_EXPANDED_BYTES} \
                 (bytes of names and argument values after fragment and variable expansion)",
                self.bytes
            )));
        }
        Ok(())
    }
}

/// About the size of `value` as JSON text.
fn json_size(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => 2 + s.len(),
        Value::Array(items) => 2 + items.iter().map(|v| 1 + json_size(v)).sum::<usize>(),
        Value::Object(fields) => {
            2 + fields
                .iter()
                .map(|(k, v)| 4 + k.len() + json_size(v))
                .sum::<usize>()
        }
    }
}

/// [`json_size`] of a default value written in the document.
fn const_size(value: &ConstValue) -> usize {
    match value {
        ConstValue::Null | ConstValue::Boolean(_) | ConstValue::Number(_) => 8,
        ConstValue::String(s) => 2 + s.len(),
        ConstValue::Enum(e) => e.len(),
        ConstValue::Binary(b) => b.len(),
        ConstValue::List(items) => 2 + items.iter().map(|v| 1 + const_size(v)).sum::<usize>(),
        ConstValue::Object(fields) => {
            2 + fields
                .iter()
                .map(|(k, v)| 4 + k.len() + const_size(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::graphql::{ApiLimits, Schema, prepare};

    /// `levels` fragments each spreading the next twice; the last selects `leaf`.
    fn bomb(levels: usize, extra: &str, leaf: &str) -> String {
        let mut q = String::from("query { ...F0 }");
        for i in 0..levels - 1 {
            let n = i + 1;
            q.push_str(&format!(
                " fragment F{i} on Query {{ ...F{n} ...F{n} {extra} }}"
            ));
        }
        q.push_str(&format!(" fragment F{} on Query {{ {leaf} }}", levels - 1));
        q
    }

    fn refusal(query: &str, variables: &Map<String, Value>) -> String {
        let schema = Schema::quotecast().unwrap();
        let started = Instant::now();
        let errors = prepare(&schema, query, variables, None, ApiLimits::DEPLOYED).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors[0].message.clone()
    }

    #[test]
    fn fragment_bombs_are_counted_not_walked() {
        let none = Map::new();
        let over = format!(
            "maximum query complexity exceeded {} > {MAX_SELECTIONS}",
            MAX_SELECTIONS + 1
        );
        assert_eq!(refusal(&bomb(26, "", "__typename"), &none), over);
        // Leaves that add nothing (an undefined fragment, a cycle back to the top) still
        // cost a step per spread.
        assert_eq!(refusal(&bomb(26, "", "...Nowhere"), &none), over);
        assert_eq!(refusal(&bomb(26, "...F0", "__typename"), &none), over);
        // Wide rather than deep: 100 spreads of a fragment of 100 aliases, plus one more.
        let aliases: String = (0..100).map(|i| format!(" a{i}: __typename")).collect();
        let spreads = " ...W".repeat(101);
        let wide = format!("query {{{spreads} }} fragment W on Query {{{aliases} }}");
        assert!(refusal(&wide, &none).starts_with("maximum query complexity exceeded"));
    }

    #[test]
    fn a_variable_counts_each_time_it_is_used() {
        // AWSJSON: JSON text, here one long JSON string.
        let data = Value::from(format!("\"{}\"", "x".repeat(MAX_EXPANDED_BYTES / 4 - 4)));
        let variables: Map<String, Value> = [("d".to_owned(), data)].into_iter().collect();
        let uses = |n: usize| {
            let fields: String = (0..n)
                .map(|i| format!(" m{i}: publish(name: \"A\", data: $d) {{ name }}"))
                .collect();
            format!("mutation($d: AWSJSON!) {{{fields} }}")
        };
        let schema = Schema::quotecast().unwrap();
        assert!(prepare(&schema, &uses(3), &variables, None, ApiLimits::DEPLOYED).is_ok());
        assert!(refusal(&uses(4), &variables).starts_with("maximum query size exceeded"));
    }

    #[test]
    fn the_consumers_largest_request_passes() {
        let mut batch = quotecast_shared::graphql::PublishBatch::new();
        for i in 0..1000 {
            batch.push(quotecast_shared::Channel::new(
                "AMZN",
                format!("{{\"seq\":{i}}}"),
            ));
        }
        let request = batch.to_request().unwrap();
        let schema = Schema::quotecast().unwrap();
        let op = prepare(
            &schema,
            &request.query,
            &request.variables,
            request.operation_name.as_deref(),
            ApiLimits {
                resolver_count_limit: 1000,
                query_depth_limit: 2,
            },
        )
        .unwrap();
        assert_eq!(op.fields.len(), 1000);
    }

    fn tokens_ok(text: &str) -> bool {
        check_text(text, 0).is_ok()
    }

    #[test]
    fn tokens_are_counted_like_graphql_lexes_them() {
        // 2 + MAX_TOKENS - 2 tokens pass, one more does not.
        let at = format!("{{{}}}", " a".repeat(MAX_TOKENS - 2));
        assert!(tokens_ok(&at));
        let over = format!("{{{}}}", " a".repeat(MAX_TOKENS - 1));
        assert!(!tokens_ok(&over));
        // Strings, block strings, comments, commas and white space hide no tokens.
        let hidden = "{ a(x: \"a b { [ ( \\\" c\", y: \"\"\"a \\\"\"\" { {\"\"\") }";
        let bulk = format!(
            "{hidden}{}# a b c\n{}",
            ",".repeat(MAX_TOKENS),
            " ".repeat(MAX_TOKENS)
        );
        assert!(tokens_ok(&bulk));
        // Numbers are one token each: -1.5e+10 is one, `1 2` is two.
        let numbers = format!("{{{}}}", " -1.5e+10".repeat(MAX_TOKENS - 2));
        assert!(tokens_ok(&numbers));
        let numbers = format!("{{{}}}", " -1.5e+10".repeat(MAX_TOKENS - 1));
        assert!(!tokens_ok(&numbers));
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        let at = format!("{}{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        assert!(tokens_ok(&at));
        let over = format!(
            "{}{}",
            "(".repeat(MAX_NESTING + 1),
            ")".repeat(MAX_NESTING + 1)
        );
        let err = check_text(&over, 0).unwrap_err();
        assert!(
            err.message.contains("deep 'grammar' rules"),
            "{}",
            err.message
        );
        let quoted = format!("\"{}\" # {}", "{".repeat(1000), "[".repeat(1000));
        assert!(tokens_ok(&quoted));
        // Closing more than was opened does not earn credit.
        let unbalanced = format!("{}{}", "}".repeat(1000), "{".repeat(MAX_NESTING + 1));
        assert!(!tokens_ok(&unbalanced));
    }
}
