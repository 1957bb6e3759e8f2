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

/// Why a subscription's filter was refused, as its `start` is answered.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterRefusal {
    pub error_type: &'static str,
    pub message: String,
}

impl From<FilterError> for FilterRefusal {
    /// What AppSync's own filter validation refuses (`toSubscriptionFilter`, its limits):
    /// AppSync's exact error there is unverified.
    fn from(e: FilterError) -> Self {
        FilterRefusal {
            error_type: "BadRequestException",
            message: format!("invalid subscription filter: {e}"),
        }
    }
}

/// subscribe.js's own refusal of a filter text that is not `{…}`, word for word
/// (the resolver harness runs both on the same texts).
const NOT_AN_OBJECT: &str = r#"filter must be a JSON object, e.g. {"name":{"in":["AMZN","TSLA"]}}"#;

/// The filter of a new subscription on `field` with coerced `args`.
pub fn subscription_filter(
    field: &FieldDef,
    args: &Map<String, Value>,
) -> Result<Filter, FilterRefusal> {
    if field.arg(FILTER_ARG).is_some() {
        return match args.get(FILTER_ARG) {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                let trimmed = text.trim();
                if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
                    return Err(FilterRefusal {
                        error_type: "BadFilter",
                        message: NOT_AN_OBJECT.to_owned(),
                    });
                }
                // Read last-wins, a repeated key would be another filter than the one written.
                // (Its size is the filter's own limits' business: `shared::filter`.)
                if let Err(e @ JsonError::RepeatedKey(_)) = json::check(text.as_bytes(), Shape::ANY)
                {
                    return Err(FilterError::NotJson(e.to_string()).into());
                }
                Ok(Filter::from_input_text(text)?)
            }
            _ => Ok(Filter::match_all()),
        };
    }
    let conditions = args
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(name, v)| Condition::new(name, Operator::Eq, v.clone()).map(Expr::Cond))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Filter::from_expr(&Expr::All(conditions))?)
}
