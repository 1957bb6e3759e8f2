//! `KeyConditionExpression`, the subset `Query` needs on this table:
//! `pk = :v`, optionally `AND` one sort key condition (`sk = | < | <= | > | >= :v`, or
//! `sk BETWEEN :a AND :b`), in either order, each optionally in parentheses; names either
//! plain or `#placeholders` of `ExpressionAttributeNames`, values `:placeholders` of
//! `ExpressionAttributeValues`.
//!
//! Checked as DynamoDB checks it: DynamoDB's reserved words cannot be plain names
//! (`timestamp` is one: write `#ts`), every placeholder used must be defined and every one
//! defined must be used, the partition key needs exactly one `=`, a key gets one condition,
//! `BETWEEN` wants its bounds in order. `begins_with` is refused (the sort key is a
//! number). Expressions are at most [`MAX_EXPRESSION_BYTES`] long, so parsing is bounded.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::store::SortKeyCondition;
use super::table::{PARTITION_KEY, SORT_KEY};
use super::wire::{DynamoError, partition_key, sort_key};

/// DynamoDB's limit on an expression's length.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

/// DynamoDB's reserved words (one per line, upper case).
const RESERVED_WORDS: &str = include_str!("reserved_words.txt");

/// A parsed key condition: which partition, which sort keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCondition {
    pub symbol: String,
    pub sort: SortKeyCondition,
}

#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    Name(&'a str),
    NamePlaceholder(&'a str),
    ValuePlaceholder(&'a str),
    Op(&'a str),
    Open,
    Close,
    Comma,
}

fn invalid(message: impl std::fmt::Display) -> DynamoError {
    DynamoError::validation(format!("Invalid KeyConditionExpression: {message}"))
}

fn tokens(expression: &str) -> Result<Vec<Token<'_>>, DynamoError> {
    let mut out = Vec::new();
    let bytes = expression.as_bytes();
    let mut i = 0;
    let word_end = |from: usize| {
        let mut j = from;
        while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            j += 1;
        }
        j
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1;
            }
            b')' => {
                out.push(Token::Close);
                i += 1;
            }
            b',' => {
                out.push(Token::Comma);
                i += 1;
            }
            b'=' => {
                out.push(Token::Op("="));
                i += 1;
            }
            b'<' | b'>' => {
                let two = expression.get(i..i + 2);
                let op = match two {
                    Some(op @ ("<=" | ">=" | "<>")) => op,
                    _ => &expression[i..i + 1],
                };
                out.push(Token::Op(op));
                i += op.len();
            }
            b'#' | b':' => {
                let end = word_end(i + 1);
                if end == i + 1 {
                    return Err(invalid(format!(
                        "Syntax error; token: \"{}\", near: \"{}\"",
                        c as char,
                        &expression[i..]
                    )));
                }
                let text = &expression[i..end];
                out.push(if c == b'#' {
                    Token::NamePlaceholder(text)
                } else {
                    Token::ValuePlaceholder(text)
                });
                i = end;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = word_end(i);
                out.push(Token::Name(&expression[i..end]));
                i = end;
            }
            _ => {
                let rest: String = expression[i..].chars().take(1).collect();
                return Err(invalid(format!("Syntax error; token: \"{rest}\"")));
            }
        }
    }
    Ok(out)
}

/// One condition before names and values are resolved.
#[derive(Debug)]
enum Condition<'a> {
    Compare(Token<'a>, &'a str, Token<'a>),
    Between(Token<'a>, Token<'a>, Token<'a>),
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
    /// Open parentheses around the condition being read.
    depth: usize,
}

/// Parentheses around one condition at most (so parsing never recurses deeply).
const MAX_PARENTHESES: usize = 8;

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.at)
    }

    fn keyword(token: &Token<'_>, word: &str) -> bool {
        matches!(token, Token::Name(n) if n.eq_ignore_ascii_case(word))
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), DynamoError> {
        match self.next() {
            Some(t) if Self::keyword(&t, word) => Ok(()),
            Some(t) => Err(invalid(format!("Syntax error; token: \"{}\"", show(&t)))),
            None => Err(invalid("Syntax error; token: <EOF>")),
        }
    }

    /// `condition (AND condition)*`, parentheses allowed around any condition.
    fn conditions(&mut self) -> Result<Vec<Condition<'a>>, DynamoError> {
        let mut out = vec![self.condition()?];
        while let Some(t) = self.peek() {
            if Self::keyword(t, "AND") {
                self.at += 1;
                out.push(self.condition()?);
            } else if let Token::Name(op) = t {
                return Err(invalid(format!(
                    "Invalid operator used in KeyConditionExpression: {}",
                    op.to_uppercase()
                )));
            } else {
                return Err(invalid(format!("Syntax error; token: \"{}\"", show(t))));
            }
        }
        Ok(out)
    }

    fn condition(&mut self) -> Result<Condition<'a>, DynamoError> {
        let first = self
            .next()
            .ok_or_else(|| invalid("Syntax error; token: <EOF>"))?;
        if first == Token::Open {
            self.depth += 1;
            if self.depth > MAX_PARENTHESES {
                return Err(invalid("The expression has too many nested parentheses"));
            }
            let inner = self.condition()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token::Close) => Ok(inner),
                _ => Err(invalid("Syntax error; token: <EOF>, expected \")\"")),
            };
        }
        if let Token::Name(f) = &first
            && self.peek() == Some(&Token::Open)
        {
            return Err(if f.eq_ignore_ascii_case("begins_with") {
                DynamoError::validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                )
            } else {
                invalid(format!("Invalid function name; function: {f}"))
            });
        }
        let op = self
            .next()
            .ok_or_else(|| invalid("Syntax error; token: <EOF>"))?;
        match op {
            Token::Op("<>") => Err(invalid(
                "Invalid operator used in KeyConditionExpression: <>",
            )),
            Token::Op(op) => {
                let right = self.operand()?;
                Ok(Condition::Compare(first, op, right))
            }
            t if Self::keyword(&t, "BETWEEN") => {
                let low = self.operand()?;
                self.expect_keyword("AND")?;
                let high = self.operand()?;
                Ok(Condition::Between(first, low, high))
            }
            t if Self::keyword(&t, "IN") || Self::keyword(&t, "OR") => Err(invalid(format!(
                "Invalid operator used in KeyConditionExpression: {}",
                show(&t).to_uppercase()
            ))),
            t => Err(invalid(format!("Syntax error; token: \"{}\"", show(&t)))),
        }
    }

    fn operand(&mut self) -> Result<Token<'a>, DynamoError> {
        match self.next() {
            Some(Token::Open | Token::Close | Token::Comma | Token::Op(_)) | None => {
                Err(invalid("Syntax error; an operand was expected"))
            }
            Some(t) => Ok(t),
        }
    }
}

fn show(token: &Token<'_>) -> String {
    match token {
        Token::Name(s) | Token::NamePlaceholder(s) | Token::ValuePlaceholder(s) | Token::Op(s) => {
            (*s).to_owned()
        }
        Token::Open => "(".to_owned(),
        Token::Close => ")".to_owned(),
        Token::Comma => ",".to_owned(),
    }
}

/// Resolves names and values of one expression and keeps track of which were used.
struct Scope<'a> {
    names: &'a HashMap<String, String>,
    values: &'a HashMap<String, Value>,
    used_names: HashSet<&'a str>,
    used_values: HashSet<&'a str>,
}

impl<'a> Scope<'a> {
    fn name(&mut self, token: &Token<'_>) -> Result<&'a str, DynamoError> {
        match token {
            Token::NamePlaceholder(p) => {
                let (key, name) = self.names.get_key_value(*p).ok_or_else(|| {
                    invalid(format!(
                        "An expression attribute name used in the document path is not defined; attribute name: {p}"
                    ))
                })?;
                self.used_names.insert(key.as_str());
                Ok(name.as_str())
            }
            Token::Name(n) => {
                if is_reserved(n) {
                    return Err(invalid(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {n}"
                    )));
                }
                // Plain names are checked against the key names below; they must be ours.
                match *n {
                    PARTITION_KEY => Ok(PARTITION_KEY),
                    SORT_KEY => Ok(SORT_KEY),
                    _ => Err(DynamoError::validation("Query key condition not supported")),
                }
            }
            Token::ValuePlaceholder(_) => Err(invalid(
                "Invalid condition in KeyConditionExpression: the left operand must be a key attribute name",
            )),
            t => Err(invalid(format!("Syntax error; token: \"{}\"", show(t)))),
        }
    }

    fn value(&mut self, token: &Token<'_>) -> Result<&'a Value, DynamoError> {
        match token {
            Token::ValuePlaceholder(p) => {
                let (key, value) = self.values.get_key_value(*p).ok_or_else(|| {
                    invalid(format!(
                        "An expression attribute value used in expression is not defined; attribute value: {p}"
                    ))
                })?;
                self.used_values.insert(key.as_str());
                Ok(value)
            }
            _ => Err(invalid(
                "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
            )),
        }
    }
}

/// Whether `word` is one of DynamoDB's reserved words (any case).
pub fn is_reserved(word: &str) -> bool {
    RESERVED_WORDS
        .lines()
        .any(|reserved| reserved.eq_ignore_ascii_case(word))
}

/// Parses and checks `expression` against the table's key schema.
pub fn parse(
    expression: &str,
    names: &HashMap<String, String>,
    values: &HashMap<String, Value>,
) -> Result<KeyCondition, DynamoError> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(DynamoError::validation(format!(
            "Invalid KeyConditionExpression: Expression size has exceeded the maximum allowed size; expression size: {}",
            expression.len()
        )));
    }
    if expression.trim().is_empty() {
        return Err(invalid("The expression can not be empty;"));
    }
    let mut parser = Parser {
        tokens: tokens(expression)?,
        at: 0,
        depth: 0,
    };
    let conditions = parser.conditions()?;
    let mut scope = Scope {
        names,
        values,
        used_names: HashSet::new(),
        used_values: HashSet::new(),
    };
    let mut symbol = None;
    let mut sort = None;
    for condition in &conditions {
        let (name, resolved) = match condition {
            Condition::Compare(left, op, right) => {
                (scope.name(left)?, (*op, vec![scope.value(right)?]))
            }
            Condition::Between(left, low, high) => (
                scope.name(left)?,
                ("BETWEEN", vec![scope.value(low)?, scope.value(high)?]),
            ),
        };
        match name {
            PARTITION_KEY => {
                if symbol.is_some() {
                    return Err(DynamoError::validation(
                        "KeyConditionExpressions must only contain one condition per key",
                    ));
                }
                let ("=", [value]) = (resolved.0, resolved.1.as_slice()) else {
                    return Err(DynamoError::validation("Query key condition not supported"));
                };
                symbol = Some(partition_key(value).map_err(condition_type)?);
            }
            SORT_KEY => {
                if sort.is_some() {
                    return Err(DynamoError::validation(
                        "KeyConditionExpressions must only contain one condition per key",
                    ));
                }
                sort = Some(sort_condition(resolved.0, &resolved.1)?);
            }
            _ => return Err(DynamoError::validation("Query key condition not supported")),
        }
    }
    let unused_names: Vec<&str> = names
        .keys()
        .map(String::as_str)
        .filter(|n| !scope.used_names.contains(n))
        .collect();
    if !unused_names.is_empty() {
        return Err(DynamoError::validation(format!(
            "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
            unused_names.join(", ")
        )));
    }
    let unused_values: Vec<&str> = values
        .keys()
        .map(String::as_str)
        .filter(|v| !scope.used_values.contains(v))
        .collect();
    if !unused_values.is_empty() {
        return Err(DynamoError::validation(format!(
            "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
            unused_values.join(", ")
        )));
    }
    let Some(symbol) = symbol else {
        return Err(DynamoError::validation(format!(
            "Query condition missed key schema element: {PARTITION_KEY}"
        )));
    };
    Ok(KeyCondition {
        symbol,
        sort: sort.unwrap_or(SortKeyCondition::Any),
    })
}

/// A value of the wrong type in a condition, in DynamoDB's words.
fn condition_type(e: DynamoError) -> DynamoError {
    if e.message.contains("Type mismatch") {
        DynamoError::validation(
            "One or more parameter values were invalid: Condition parameter type does not match schema type",
        )
    } else {
        e
    }
}

fn sort_condition(op: &str, values: &[&Value]) -> Result<SortKeyCondition, DynamoError> {
    let n = |v: &Value| sort_key(v).map_err(condition_type);
    Ok(match (op, values) {
        ("=", [v]) => SortKeyCondition::Eq(n(v)?),
        ("<", [v]) => SortKeyCondition::Lt(n(v)?),
        ("<=", [v]) => SortKeyCondition::Le(n(v)?),
        (">", [v]) => SortKeyCondition::Gt(n(v)?),
        (">=", [v]) => SortKeyCondition::Ge(n(v)?),
        ("BETWEEN", [low, high]) => {
            let (a, b) = (n(low)?, n(high)?);
            if a > b {
                return Err(invalid(format!(
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{N:{a}}}, upper bound operand: AttributeValue: {{N:{b}}}"
                )));
            }
            SortKeyCondition::Between(a, b)
        }
        (op, _) => {
            return Err(invalid(format!(
                "Invalid operator used in KeyConditionExpression: {op}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(
        expression: &str,
        names: &[(&str, &str)],
        values: Value,
    ) -> Result<KeyCondition, String> {
        let names = names
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let values = values
            .as_object()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        parse(expression, &names, &values).map_err(|e| e.message)
    }

    #[test]
    fn the_supported_forms_parse() {
        let v = json!({":s": {"S": "AMZN"}, ":t": {"N": "5"}, ":u": {"N": "9"}});
        let ts = [("#ts", "timestamp")];
        let cases = [
            ("symbol = :s AND #ts > :t", SortKeyCondition::Gt(5)),
            ("#ts >= :t and symbol = :s", SortKeyCondition::Ge(5)),
            ("(symbol = :s) AND (#ts < :t)", SortKeyCondition::Lt(5)),
            ("symbol=:s AND #ts<=:t", SortKeyCondition::Le(5)),
            ("symbol = :s AND #ts = :t", SortKeyCondition::Eq(5)),
            (
                "symbol = :s AND #ts BETWEEN :t AND :u",
                SortKeyCondition::Between(5, 9),
            ),
        ];
        for (expression, sort) in cases {
            let mut values = v.clone();
            if !expression.contains(":u") {
                values.as_object_mut().map(|m| m.remove(":u"));
            }
            let got = run(expression, &ts, values).unwrap();
            assert_eq!(
                got,
                KeyCondition {
                    symbol: "AMZN".into(),
                    sort
                },
                "{expression}"
            );
        }
        let only_pk = run("symbol = :s", &[], json!({":s": {"S": "A"}})).unwrap();
        assert_eq!(only_pk.sort, SortKeyCondition::Any);
    }

    #[test]
    fn what_dynamodb_refuses_is_refused() {
        let s = json!({":s": {"S": "A"}});
        let st = json!({":s": {"S": "A"}, ":t": {"N": "1"}});
        let ts = [("#ts", "timestamp")];
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a Value, &'a str);
        let cases: [Case<'_>; 11] = [
            (
                "symbol = :s AND timestamp > :t",
                &[],
                &st,
                "reserved keyword: timestamp",
            ),
            ("#ts > :t", &ts, &st, "unused in expressions"),
            ("symbol > :s", &[], &s, "Query key condition not supported"),
            ("symbol = :x", &[], &s, "attribute value: :x"),
            ("symbol = :s AND #ts <> :t", &ts, &st, "<>"),
            ("symbol = :s OR #ts > :t", &ts, &st, "Invalid operator"),
            (
                "symbol = :s AND begins_with(#ts, :t)",
                &ts,
                &st,
                "begins_with",
            ),
            (
                "symbol = :s AND symbol = :s",
                &[],
                &s,
                "one condition per key",
            ),
            ("symbol = :s", &ts, &s, "ExpressionAttributeNames unused"),
            ("symbol = :s AND price > :t", &[], &st, "not supported"),
            ("#ts > :t AND #ts < :t", &ts, &st, "one condition per key"),
        ];
        for (expression, names, values, wanted) in cases {
            let e = run(expression, names, values.clone()).unwrap_err();
            assert!(e.contains(wanted), "{expression}: {e}");
        }
        let e = run(
            "symbol = :s AND #ts BETWEEN :b AND :a",
            &ts,
            json!({":s": {"S": "A"}, ":a": {"N": "1"}, ":b": {"N": "2"}}),
        );
        assert!(e.unwrap_err().contains("BETWEEN"));
        let e = run(
            "symbol = :s AND #ts > :t",
            &ts,
            json!({":s": {"S": "A"}, ":t": {"S": "1"}}),
        );
        assert!(
            e.unwrap_err()
                .contains("Condition parameter type does not match")
        );
        assert!(run(&"(".repeat(5000), &[], json!({})).is_err());
    }
}
