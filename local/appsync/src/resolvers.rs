//! The resolvers of `schema/resolvers/*.js`, natively: NONE data sources all of them.
//!
//! - A mutation returns its arguments as its result (`publish.js`), which is then published.
//! - A query returns `null` (nothing is stored).
//! - A subscription with a `filter: String` argument installs it as an enhanced filter
//!   (`subscribe.js`); other arguments filter by equality (AppSync's basic filtering, §B.2).

use quotecast_aws_local::json::{self, JsonError, Shape};
use quotecast_shared::filter::{Condition, Expr, Filter, FilterError, Operator};
use serde_json::{Map, Value};

use super::graphql::{FieldDef, Schema};

/// The argument a subscription field takes its enhanced filter from.
pub const FILTER_ARG: &str = "filter";

/// The result of a NONE-data-source mutation: its arguments, keyed as the return type's
/// fields are named.
pub fn mutation_result(args: &Map<String, Value>) -> Map<String, Value> {
    args.clone()
}

/// The object filters are evaluated against: the published object with AWSJSON fields
/// parsed, so a filter can reach inside them (`data.close`). AppSync only sees the text there
/// (unverified); reaching inside is our extension and does not change any other match.
pub fn filter_event(schema: &Schema, type_name: &str, published: &Map<String, Value>) -> Value {
    let event = published
        .iter()
        .map(|(name, value)| {
            let is_json = schema
                .field(type_name, name)
                .is_some_and(|f| super::graphql::named_type(&f.ty) == "AWSJSON");
            let value = match (is_json, value) {
                (true, Value::String(text)) => {
                    serde_json::from_str(text).unwrap_or_else(|_| value.clone())
                }
                _ => value.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(event)
}

/// The filter of a new subscription on `field` with coerced `args`.
pub fn subscription_filter(
    field: &FieldDef,
    args: &Map<String, Value>,
) -> Result<Filter, FilterError> {
    if field.arg(FILTER_ARG).is_some() {
        return match args.get(FILTER_ARG) {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                // Read last-wins, a repeated key would be another filter than the one written.
                // (Its size is the filter's own limits' business: `shared::filter`.)
                if let Err(e @ JsonError::RepeatedKey(_)) = json::check(text.as_bytes(), Shape::ANY)
                {
                    return Err(FilterError::NotJson(e.to_string()));
                }
                Filter::from_input_text(text)
            }
            _ => Ok(Filter::match_all()),
        };
    }
    let conditions = args
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(name, v)| Condition::new(name, Operator::Eq, v.clone()).map(Expr::Cond))
        .collect::<Result<Vec<_>, _>>()?;
    Filter::from_expr(&Expr::All(conditions))
}
