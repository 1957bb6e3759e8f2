//! Enhanced filters: the input form, expansion, every operator and every limit.
#![allow(clippy::unwrap_used)]

use quotecast_shared::filter::{Filter, FilterError, MAX_CONDITIONS, Operator};
use serde_json::{Value, json};

fn filter(input: Value) -> Filter {
    Filter::from_input(&input).unwrap()
}

fn refused(input: Value) -> FilterError {
    Filter::from_input(&input).unwrap_err()
}

fn passes(op: &str, value: Value, event: Value) -> bool {
    filter(json!({ "f": { op: value } })).matches(&event)
}

#[test]
fn aws_worked_example_expands_into_four_groups() {
    let f = filter(json!({
        "percentageUp": {"lte": 50, "gte": 20},
        "and": [{"title": {"ne": "Book1"}}, {"downvotes": {"gt": 2000}}],
        "or": [{"author": {"eq": "Admin"}}, {"isPublished": {"eq": false}}]
    }));
    assert_eq!(f.groups().len(), 4);
    for group in f.groups() {
        assert_eq!(group.len(), 4);
        assert!(
            group
                .iter()
                .any(|c| c.field == "title" && c.op == Operator::Ne)
        );
        assert!(
            group
                .iter()
                .any(|c| c.field == "downvotes" && c.op == Operator::Gt)
        );
    }
    // lte/gte are normalised to le/ge in the stored form.
    let stored = f.to_filter_group().to_string();
    assert!(stored.contains(r#""operator":"le""#) && stored.contains(r#""operator":"ge""#));
    assert!(!stored.contains(r#""lte""#), "{stored}");
    let book = json!({"percentageUp": 30, "title": "Book2", "downvotes": 3000, "author": "Admin", "isPublished": true});
    assert!(f.matches(&book));
    assert!(!f.matches(
        &json!({"percentageUp": 30, "title": "Book1", "downvotes": 3000, "author": "Admin"})
    ));
}

#[test]
fn filter_group_form_round_trips() {
    let f = filter(
        json!({"name": {"in": ["AMZN", "TSLA"]}, "or": [{"close": {"gt": 1}}, {"volume": {"le": 5}}]}),
    );
    let stored = f.to_filter_group();
    assert_eq!(stored["filterGroup"].as_array().unwrap().len(), 2);
    assert_eq!(Filter::from_filter_group(&stored).unwrap(), f);
    let example = json!({"filterGroup": [
        {"filters": [{"fieldName": "userId", "operator": "eq", "value": 1},
                     {"fieldName": "group", "operator": "in", "value": ["Admin", "Developer"]}]},
        {"filters": [{"fieldName": "severity", "operator": "ge", "value": 7}]}]});
    let f = Filter::from_filter_group(&example).unwrap();
    assert!(f.matches(&json!({"severity": 9})));
    assert!(f.matches(&json!({"userId": 1, "group": "Admin"})));
    assert!(!f.matches(&json!({"userId": 1, "group": "Guest"})));
    assert!(matches!(
        Filter::from_filter_group(
            &json!({"filterGroup": [{"filters": [{"fieldName": "a", "operator": "like", "value": 1}]}]})
        ),
        Err(FilterError::UnknownOperator { .. })
    ));
    assert!(matches!(
        Filter::from_filter_group(&json!({"filterGroup": 1})),
        Err(FilterError::NotAnObject { .. })
    ));
    assert!(matches!(
        Filter::from_filter_group(&json!({"filterGroup": [{"x": 1}]})),
        Err(FilterError::NotAnObject { .. })
    ));
}

#[test]
fn eq_and_ne_compare_strictly_numbers_by_value() {
    assert!(passes("eq", json!("AMZN"), json!({"f": "AMZN"})));
    assert!(
        !passes("eq", json!("AMZN"), json!({"f": "amzn"})),
        "case-sensitive"
    );
    assert!(passes("eq", json!(1), json!({"f": 1.0})));
    assert!(
        !passes("eq", json!(1), json!({"f": "1"})),
        "no type coercion"
    );
    assert!(passes("eq", json!(true), json!({"f": true})));
    assert!(!passes("eq", json!(true), json!({"f": 1})));
    assert!(passes("ne", json!("A"), json!({"f": "B"})));
    assert!(!passes("ne", json!("A"), json!({"f": "A"})));
    assert!(passes(
        "eq",
        json!(9007199254740993i64),
        json!({"f": 9007199254740993i64})
    ));
    assert!(
        !passes(
            "eq",
            json!(9007199254740993i64),
            json!({"f": 9007199254740992i64})
        ),
        "large integers exact"
    );
}

#[test]
fn ordering_operators_on_numbers_and_strings() {
    let ev = json!({"f": 5});
    assert!(
        passes("le", json!(5), ev.clone())
            && passes("le", json!(6), ev.clone())
            && !passes("le", json!(4), ev.clone())
    );
    assert!(passes("lt", json!(6), ev.clone()) && !passes("lt", json!(5), ev.clone()));
    assert!(passes("ge", json!(5), ev.clone()) && !passes("ge", json!(5.5), ev.clone()));
    assert!(passes("gt", json!(4.9), ev.clone()) && !passes("gt", json!(5), ev.clone()));
    assert!(passes("lte", json!(5), ev.clone()) && passes("gte", json!(5), ev.clone()));
    assert!(passes("lt", json!("b"), json!({"f": "a"})));
    assert!(
        !passes("lt", json!("B"), json!({"f": "a"})),
        "byte order: uppercase sorts first"
    );
    assert!(
        !passes("lt", json!(10), json!({"f": "5"})),
        "mixed kinds never order"
    );
}

#[test]
fn contains_and_not_contains_on_strings_and_lists() {
    assert!(passes("contains", json!("MZ"), json!({"f": "AMZN"})));
    assert!(!passes("contains", json!("mz"), json!({"f": "AMZN"})));
    assert!(passes("contains", json!(3), json!({"f": [1, 2, 3]})));
    assert!(passes("contains", json!("x"), json!({"f": ["x", "y"]})));
    assert!(!passes("contains", json!(4), json!({"f": [1, 2, 3]})));
    assert!(!passes("contains", json!(1), json!({"f": 1})));
    assert!(passes("notContains", json!("Q"), json!({"f": "AMZN"})));
    assert!(!passes("notContains", json!(2), json!({"f": [1, 2]})));
}

#[test]
fn begins_with_in_not_in() {
    assert!(passes("beginsWith", json!("AM"), json!({"f": "AMZN"})));
    assert!(!passes("beginsWith", json!("ZN"), json!({"f": "AMZN"})));
    assert!(!passes("beginsWith", json!("1"), json!({"f": 12})));
    assert!(passes("in", json!(["AMZN", "TSLA"]), json!({"f": "TSLA"})));
    assert!(!passes("in", json!(["AMZN", "TSLA"]), json!({"f": "MSFT"})));
    assert!(passes("in", json!([1, 2]), json!({"f": 2.0})));
    assert!(passes("notIn", json!(["AMZN"]), json!({"f": "TSLA"})));
    assert!(!passes("notIn", json!(["AMZN"]), json!({"f": "AMZN"})));
}

#[test]
fn between_excludes_both_bounds() {
    let ev = |v: Value| json!({ "f": v });
    for inside in [2, 3, 4] {
        assert!(
            passes("between", json!([1, 5]), ev(json!(inside))),
            "{inside}"
        );
    }
    for outside in [0, 1, 5, 6] {
        assert!(
            !passes("between", json!([1, 5]), ev(json!(outside))),
            "{outside}"
        );
    }
    assert!(passes("between", json!(["a", "c"]), ev(json!("b"))));
    assert!(!passes("between", json!([1, 5]), ev(json!("3"))));
}

#[test]
fn contains_any_needs_a_shared_list_element() {
    assert!(passes(
        "containsAny",
        json!([10, 15]),
        json!({"f": [10, 11]})
    ));
    assert!(passes(
        "containsAny",
        json!([10, 15]),
        json!({"f": [15, 20, 30]})
    ));
    assert!(!passes(
        "containsAny",
        json!([10, 15]),
        json!({"f": [1, 2]})
    ));
    assert!(
        !passes("containsAny", json!([10, 15]), json!({"f": 10})),
        "a scalar is not a list"
    );
}

#[test]
fn missing_fields_read_as_null() {
    let missing = json!({"other": 1});
    for (op, value) in [
        ("eq", json!(1)),
        ("le", json!(1)),
        ("lt", json!(1)),
        ("ge", json!(1)),
        ("gt", json!(1)),
        ("contains", json!(1)),
        ("beginsWith", json!("a")),
        ("in", json!([1])),
        ("between", json!([0, 2])),
        ("containsAny", json!([1])),
    ] {
        assert!(
            !passes(op, value, missing.clone()),
            "{op} on a missing field must fail"
        );
    }
    for (op, value) in [
        ("ne", json!(1)),
        ("notIn", json!([1])),
        ("notContains", json!(1)),
    ] {
        assert!(
            passes(op, value, missing.clone()),
            "{op} on a missing field must pass"
        );
    }
    assert!(passes("ne", json!(1), json!({"f": null})));
}

#[test]
fn dotted_paths_reach_nested_fields_up_to_five_levels() {
    let f = filter(json!({"a.b.c.d.e": {"eq": 1}}));
    assert!(f.matches(&json!({"a": {"b": {"c": {"d": {"e": 1}}}}})));
    assert!(!f.matches(&json!({"a": {"b": {"c": {"d": 1}}}})));
    assert!(!f.matches(&json!({"a": [1]})));
    assert_eq!(
        refused(json!({"a.b.c.d.e.f": {"eq": 1}})),
        FilterError::NestingTooDeep {
            field: "a.b.c.d.e.f".into(),
            depth: 6
        }
    );
}

#[test]
fn bare_values_mean_eq_and_empty_filter_matches_everything() {
    let f = filter(json!({"name": "AMZN"}));
    assert!(f.matches(&json!({"name": "AMZN"})));
    assert!(!f.matches(&json!({"name": "TSLA"})));
    let all = filter(json!({}));
    assert!(all.is_match_all());
    assert!(all.matches(&json!({"anything": 1})));
    assert!(Filter::match_all().matches(&json!(null)));
}

#[test]
fn malformed_filters_are_refused_with_clear_errors() {
    assert!(matches!(
        Filter::from_input_text("{name"),
        Err(FilterError::NotJson(_))
    ));
    assert!(matches!(
        refused(json!(["name"])),
        FilterError::NotAnObject { .. }
    ));
    assert_eq!(
        refused(json!({"and": []})),
        FilterError::BadLogicalList { key: "and" }
    );
    assert_eq!(
        refused(json!({"or": {"a": {"eq": 1}}})),
        FilterError::BadLogicalList { key: "or" }
    );
    assert!(matches!(
        refused(json!({"or": [1]})),
        FilterError::NotAnObject { .. }
    ));
    assert_eq!(
        refused(json!({"name": {}})),
        FilterError::NoOperator {
            field: "name".into()
        }
    );
    assert_eq!(
        refused(json!({"name": {"like": "A%"}})),
        FilterError::UnknownOperator {
            field: "name".into(),
            op: "like".into()
        }
    );
    assert!(
        matches!(
            refused(json!({"name": {"EQ": "A"}})),
            FilterError::UnknownOperator { .. }
        ),
        "case-sensitive"
    );
    assert!(matches!(
        refused(json!({"a..b": {"eq": 1}})),
        FilterError::InvalidFieldName { .. }
    ));
    assert!(matches!(
        refused(json!({"": {"eq": 1}})),
        FilterError::InvalidFieldName { .. }
    ));
    for (op, value) in [
        ("eq", json!(null)),
        ("eq", json!([1])),
        ("lt", json!(true)),
        ("beginsWith", json!(1)),
        ("in", json!([])),
        ("in", json!("a")),
        ("in", json!([[1]])),
        ("between", json!([1])),
        ("between", json!([1, "a"])),
        ("containsAny", json!(1)),
        ("contains", json!({"a": 1})),
    ] {
        assert!(
            matches!(
                refused(json!({"f": {op: value.clone()}})),
                FilterError::InvalidValue { .. }
            ),
            "{op} {value}"
        );
    }
    assert!(
        refused(json!({"name": {"like": "A"}}))
            .to_string()
            .contains("unknown filter operator `like`")
    );
}

#[test]
fn limit_five_fields_per_group() {
    let five = json!({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1});
    assert!(Filter::from_input(&five).is_ok());
    let six = json!({"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "g": 1});
    assert_eq!(refused(six), FilterError::TooManyFields { count: 6 });
    // Several conditions on one field count once.
    assert!(
        Filter::from_input(
            &json!({"a": {"gt": 1}, "and": [{"a": {"lt": 9}}], "b": 1, "c": 1, "d": 1, "e": 1})
        )
        .is_ok()
    );
}

#[test]
fn limit_ten_groups_counting_in_values() {
    let ors = |n: usize| json!({"or": (0..n).map(|i| json!({"f": i})).collect::<Vec<_>>()});
    assert_eq!(filter(ors(10)).groups().len(), 10);
    assert_eq!(refused(ors(11)), FilterError::TooManyGroups);
    // 2 groups × `in` of 5 values = 10 counted groups: allowed; one more value is not.
    let in_groups =
        |n: usize| json!({"g": {"in": (0..n).collect::<Vec<_>>()}, "or": [{"a": 1}, {"b": 1}]});
    assert_eq!(filter(in_groups(5)).groups().len(), 2);
    let three_groups = json!({"g": {"in": [1, 2, 3, 4]}, "or": [{"a": 1}, {"b": 1}, {"c": 1}]});
    assert_eq!(refused(three_groups), FilterError::TooManyGroups);
    // An exponential filter is refused quickly, without expanding it in full.
    let pair = json!({"or": [{"a": 1}, {"b": 1}]});
    let hostile = json!({"and": vec![pair; 40]});
    assert_eq!(refused(hostile), FilterError::TooManyGroups);
}

#[test]
fn limit_fifty_conditions_in_all_groups() {
    // One field repeated: AppSync's distinct-field limit alone would let this through.
    let ands = |n: usize| json!({"and": (0..n).map(|i| json!({"name": {"ne": format!("X{i}")}})).collect::<Vec<_>>()});
    assert_eq!(
        filter(ands(MAX_CONDITIONS)).groups()[0].len(),
        MAX_CONDITIONS
    );
    assert_eq!(
        refused(ands(MAX_CONDITIONS + 1)),
        FilterError::TooManyConditions {
            count: MAX_CONDITIONS + 1
        }
    );
    // Thousands are refused while expanding, after the first one too many.
    let started = std::time::Instant::now();
    let err = refused(ands(3_000));
    assert_eq!(err, FilterError::TooManyConditions { count: 51 });
    assert!(err.to_string().contains("at most 50"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // 10 groups × 5 fields: the largest filter AppSync's own limits allow still passes.
    let widest = json!({"or": (0..10).map(|g| json!({
        "a": {"ne": g}, "b": {"ne": g}, "c": {"ne": g}, "d": {"ne": g}, "e": {"ne": g}
    })).collect::<Vec<_>>()});
    assert_eq!(filter(widest).groups().len(), 10);
    // The stored form is held to the same bound.
    let group = |n: usize| {
        json!({"filterGroup": [{"filters": (0..n)
            .map(|i| json!({"fieldName": "name", "operator": "ne", "value": format!("X{i}")}))
            .collect::<Vec<_>>()}]})
    };
    assert!(Filter::from_filter_group(&group(MAX_CONDITIONS)).is_ok());
    assert_eq!(
        Filter::from_filter_group(&group(MAX_CONDITIONS + 1)),
        Err(FilterError::TooManyConditions {
            count: MAX_CONDITIONS + 1
        })
    );
}

#[test]
fn limit_values_of_in_not_in_and_contains_any() {
    assert!(Filter::from_input(&json!({"f": {"notIn": [1, 2, 3, 4, 5]}})).is_ok());
    assert_eq!(
        refused(json!({"f": {"in": [1, 2, 3, 4, 5, 6]}})),
        FilterError::TooManyInValues {
            field: "f".into(),
            op: "in",
            count: 6
        }
    );
    assert_eq!(
        refused(json!({"f": {"notIn": [1, 2, 3, 4, 5, 6]}})),
        FilterError::TooManyInValues {
            field: "f".into(),
            op: "notIn",
            count: 6
        }
    );
    assert!(
        Filter::from_input(&json!({"f": {"containsAny": (0..20).collect::<Vec<_>>()}})).is_ok()
    );
    assert_eq!(
        refused(json!({"f": {"containsAny": (0..21).collect::<Vec<_>>()}})),
        FilterError::TooManyContainsAnyValues {
            field: "f".into(),
            count: 21
        }
    );
}

#[test]
fn limit_string_length() {
    let ok = "x".repeat(256);
    assert!(Filter::from_input(&json!({"f": {"eq": ok}})).is_ok());
    let long = "é".repeat(257);
    assert_eq!(
        refused(json!({"f": {"eq": long}})),
        FilterError::StringTooLong { len: 257 }
    );
    assert_eq!(
        refused(json!({"f": {"in": ["a", "x".repeat(300)]}})),
        FilterError::StringTooLong { len: 300 }
    );
    let long_field = "f".repeat(257);
    assert_eq!(
        refused(json!({ long_field: 1 })),
        FilterError::StringTooLong { len: 257 }
    );
}

#[test]
fn pinned_values_index_channel_names() {
    let f = filter(json!({"name": {"in": ["AMZN", "TSLA"]}}));
    let pins: Vec<&str> = f
        .pinned_values("name")
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(pins, ["AMZN", "TSLA"]);
    let f = filter(json!({"or": [{"name": "AMZN"}, {"name": "MSFT", "close": {"gt": 1}}]}));
    assert_eq!(f.pinned_values("name").unwrap().len(), 2);
    // One group lets any name through: no index possible.
    assert!(
        filter(json!({"or": [{"name": "AMZN"}, {"close": {"gt": 1}}]}))
            .pinned_values("name")
            .is_none()
    );
    assert!(
        filter(json!({"name": {"ne": "AMZN"}}))
            .pinned_values("name")
            .is_none()
    );
    assert!(Filter::match_all().pinned_values("name").is_none());
}

#[test]
fn only_pins_is_true_only_when_the_index_decides_alone() {
    for pins in [
        json!({"name": {"eq": "AMZN"}}),
        json!({"name": {"in": ["AMZN", "TSLA"]}}),
        json!({"or": [{"name": "AMZN"}, {"name": {"in": ["MSFT"]}}]}),
    ] {
        assert!(filter(pins.clone()).only_pins("name"), "{pins}");
    }
    for more in [
        json!({"name": "AMZN", "close": {"gt": 1}}),
        json!({"or": [{"name": "AMZN"}, {"name": "MSFT", "close": {"gt": 1}}]}),
        json!({"name": {"ne": "AMZN"}}),
        json!({"name": {"eq": 1}}),
        json!({"name": {"in": ["AMZN", 2]}}),
        json!({"symbol": "AMZN"}),
    ] {
        assert!(!filter(more.clone()).only_pins("name"), "{more}");
    }
    assert!(!Filter::match_all().only_pins("name"));
}

#[test]
fn every_operator_has_a_canonical_name_that_parses_back() {
    for op in Operator::ALL {
        assert_eq!(Operator::parse(op.name()), Some(op));
    }
    assert_eq!(Operator::parse("lte"), Some(Operator::Le));
    assert_eq!(Operator::parse("gte"), Some(Operator::Ge));
    assert_eq!(Operator::parse("like"), None);
}
