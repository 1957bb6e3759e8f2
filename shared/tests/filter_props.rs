//! Property: the expanded `filterGroup` form accepts exactly the events the nested input
//! accepts, for random nested filters and random events.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use quotecast_shared::filter::{Expr, Filter, FilterError};
use serde_json::{Map, Value, json};

const FIELDS: [&str; 4] = ["name", "close", "tags", "meta.sector"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..6).prop_map(Value::from),
        prop::sample::select(vec!["A", "B", "AB", "BA"]).prop_map(Value::from),
    ]
}

fn condition() -> impl Strategy<Value = (String, String, Value)> {
    let field = prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned);
    let op_value = prop_oneof![
        (
            prop::sample::select(vec![
                "eq",
                "ne",
                "le",
                "lt",
                "ge",
                "gt",
                "lte",
                "gte",
                "contains",
                "notContains"
            ]),
            scalar()
        )
            .prop_map(|(op, v)| (op.to_owned(), v)),
        prop::sample::select(vec!["A", "B"])
            .prop_map(|p| ("beginsWith".to_owned(), Value::from(p))),
        (
            prop::sample::select(vec!["in", "notIn", "containsAny"]),
            prop::collection::vec(scalar(), 1..4)
        )
            .prop_map(|(op, v)| (op.to_owned(), Value::from(v))),
        (0i64..3, 2i64..6).prop_map(|(lo, hi)| ("between".to_owned(), json!([lo, hi]))),
    ];
    (field, op_value).prop_map(|(f, (op, v))| (f, op, v))
}

/// A nested `toSubscriptionFilter` input object.
fn input() -> impl Strategy<Value = Value> {
    let leaf = prop::collection::vec(condition(), 1..3).prop_map(|conds| {
        let mut obj = Map::new();
        for (field, op, value) in conds {
            let ops = obj.entry(field).or_insert_with(|| json!({}));
            ops[op] = value;
        }
        Value::Object(obj)
    });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (
            prop::sample::select(vec!["and", "or"]),
            prop::collection::vec(inner, 1..3),
            prop::option::of(condition()),
        )
            .prop_map(|(key, parts, extra)| {
                let mut obj = Map::new();
                obj.insert(key.to_owned(), Value::from(parts));
                if let Some((field, op, value)) = extra {
                    obj.insert(field, json!({ op: value }));
                }
                Value::Object(obj)
            })
    })
}

fn event() -> impl Strategy<Value = Value> {
    let maybe = |s: BoxedStrategy<Value>| prop::option::of(s);
    (
        maybe(scalar().boxed()),
        maybe(scalar().boxed()),
        maybe(
            prop::collection::vec(scalar(), 0..3)
                .prop_map(Value::from)
                .boxed(),
        ),
        maybe(scalar().boxed()),
    )
        .prop_map(|(name, close, tags, sector)| {
            let mut obj = Map::new();
            if let Some(v) = name {
                obj.insert("name".into(), v);
            }
            if let Some(v) = close {
                obj.insert("close".into(), v);
            }
            if let Some(v) = tags {
                obj.insert("tags".into(), v);
            }
            if let Some(v) = sector {
                obj.insert("meta".into(), json!({"sector": v}));
            }
            Value::Object(obj)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn expansion_agrees_with_direct_evaluation(input in input(), events in prop::collection::vec(event(), 8)) {
        let expr = Expr::parse(&input).unwrap();
        match Filter::from_expr(&expr) {
            Ok(filter) => {
                for e in &events {
                    prop_assert_eq!(filter.matches(e), expr.matches(e), "input {} event {}", input, e);
                }
                // The stored form reads back to the same filter.
                prop_assert_eq!(Filter::from_filter_group(&filter.to_filter_group()).unwrap(), filter);
            }
            // Only limits may refuse a well-formed random filter.
            Err(err) => prop_assert!(
                matches!(err, FilterError::TooManyGroups | FilterError::TooManyConditions { .. } | FilterError::TooManyFields { .. } | FilterError::TooManyInValues { .. }),
                "unexpected {:?}", err
            ),
        }
    }
}
