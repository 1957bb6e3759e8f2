//! From request text to a validated, coerced operation.
//!
//! One walk over the chosen operation checks what AppSync's validator (graphql-java) checks
//! for a schema of object types and scalars — fields exist, arguments are known, present
//! and well typed, variables are defined, used and of compatible types, fragments exist, fit
//! and do not cycle, leaves have no selections and objects have some, directives are known —
//! and builds the flattened result at the same time. Messages follow graphql-java's wording,
//! which is what AppSync returns.
//!
//! The walk expands each fragment spread where it appears, so its work grows with the
//! expanded document, not the text: [`super::limits`] bounds that before the walk starts
//! (tokens and nesting before parsing; selections, depth and argument bytes after choosing
//! the operation), and merging a selection into its set is a hash look-up, so the walk stays
//! linear in what was counted.

use std::collections::{HashMap, HashSet};

use async_graphql_parser::types::{
    BaseType, ExecutableDocument, Field, FragmentDefinition, OperationDefinition, OperationType,
    Selection as AstSelection, SelectionSet, Type,
};
use async_graphql_parser::{Pos, Positioned};
use async_graphql_value::{ConstValue, Name, Value as AstValue};
use serde_json::{Map, Value};

use super::api_limits::{ApiLimits, check_api_limits};
use super::coerce::{Source, coerce};
use super::error::GraphqlError;
use super::limits::{check_cost, check_text};
use super::operation::{Operation, RootField};
use super::schema::{FieldDef, Schema, named};
use super::selection::{SelectedField, Selection};

/// Parses and validates `query` against `schema`, coercing `variables`, and refuses it if it
/// asks for more than the API's `limits` allow.
pub fn prepare(
    schema: &Schema,
    query: &str,
    variables: &Map<String, Value>,
    operation_name: Option<&str>,
    limits: ApiLimits,
) -> Result<Operation, Vec<GraphqlError>> {
    // A flood of resolver fields is refused on its text, before it is parsed.
    check_text(query, limits.resolver_count_limit).map_err(|e| vec![e])?;
    let doc = schema.documents.parse(query).map_err(|e| {
        let mut err = GraphqlError::plain(format!("Invalid Syntax : {e}"));
        err.locations = e.positions().collect();
        vec![err]
    })?;
    let (name, op) = choose_operation(&doc, operation_name).map_err(|e| vec![e])?;
    check_cost(&doc, &op.node, variables).map_err(|e| vec![e])?;
    let root_type = match op.node.ty {
        OperationType::Query => &schema.query,
        OperationType::Mutation => &schema.mutation,
        OperationType::Subscription => &schema.subscription,
    };
    let mut walk = Walk {
        schema,
        fragments: &doc,
        var_types: HashMap::new(),
        var_values: HashMap::new(),
        used_vars: HashSet::new(),
        errors: Vec::new(),
        var_errors: Vec::new(),
        fragment_stack: Vec::new(),
    };
    walk.variables(&op.node, variables);
    let collected = walk.selection_set(root_type, &op.node.selection_set.node, "");
    for def in &op.node.variable_definitions {
        if !walk.used_vars.contains(def.node.name.node.as_str()) {
            walk.errors.push(GraphqlError::validation(
                "UnusedVariable",
                format!("Unused variable {}", def.node.name.node),
                def.pos,
            ));
        }
    }
    if op.node.ty == OperationType::Subscription && collected.len() != 1 {
        walk.errors.push(GraphqlError::validation(
            "SubscriptionMultipleRootFields",
            "Subscription operation must have exactly one root field.",
            op.pos,
        ));
    }
    if !walk.errors.is_empty() {
        return Err(walk.errors);
    }
    if !walk.var_errors.is_empty() {
        return Err(walk.var_errors);
    }
    let op = Operation {
        kind: op.node.ty,
        name: name.map(str::to_owned),
        root_type: root_type.clone(),
        fields: collected
            .into_iter()
            .filter(|c| !c.skipped)
            .map(|c| RootField {
                key: c.key,
                name: c.name,
                args: c.args,
                selection: c.sub,
                pos: c.pos,
            })
            .collect(),
    };
    check_api_limits(&op, limits).map_err(|e| vec![e])?;
    Ok(op)
}

fn choose_operation<'d>(
    doc: &'d ExecutableDocument,
    wanted: Option<&str>,
) -> Result<(Option<&'d str>, &'d Positioned<OperationDefinition>), GraphqlError> {
    let mut ops = doc.operations.iter();
    match wanted {
        Some(w) => ops
            .find(|(n, _)| n.is_some_and(|n| n.as_str() == w))
            .map(|(n, op)| (n.map(Name::as_str), op))
            .ok_or_else(|| GraphqlError::plain(format!("Unknown operation named '{w}'."))),
        None if ops.len() == 1 => ops
            .next()
            .map(|(n, op)| (n.map(Name::as_str), op))
            .ok_or_else(|| GraphqlError::plain("The document contains no operation.")),
        None => Err(GraphqlError::plain(
            "Must provide operation name if query contains multiple operations.",
        )),
    }
}

/// A field found while walking, before it becomes a root field or a selected field.
struct Collected {
    key: String,
    name: String,
    args: Map<String, Value>,
    sub: Option<Selection>,
    /// The response keys in `sub`, so that merging another copy of this field is linear in
    /// the copy, not in what was merged before.
    sub_keys: HashSet<String>,
    pos: Pos,
    skipped: bool,
}

/// The fields of one selection set being collected, in order, with an index by response key.
#[derive(Default)]
struct Fields {
    list: Vec<Collected>,
    by_key: HashMap<String, usize>,
}

struct Walk<'a> {
    schema: &'a Schema,
    fragments: &'a ExecutableDocument,
    /// Declared variables: type and whether a default exists.
    var_types: HashMap<String, (Type, bool)>,
    var_values: HashMap<String, Value>,
    used_vars: HashSet<String>,
    errors: Vec<GraphqlError>,
    var_errors: Vec<GraphqlError>,
    fragment_stack: Vec<String>,
}

impl Walk<'_> {
    fn variables(&mut self, op: &OperationDefinition, provided: &Map<String, Value>) {
        for def in &op.variable_definitions {
            let name = def.node.name.node.to_string();
            let ty = &def.node.var_type.node;
            if !self.schema.is_scalar(named(ty)) {
                self.errors.push(GraphqlError::validation(
                    "UnknownType",
                    format!("Unknown type {}", named(ty)),
                    def.pos,
                ));
                continue;
            }
            let default = def
                .node
                .default_value
                .as_ref()
                .map(|d| const_to_json(&d.node));
            self.var_types
                .insert(name.clone(), (ty.clone(), default.is_some()));
            let value = match (provided.get(&name), default) {
                (Some(v), _) => v.clone(),
                (None, Some(d)) => d,
                (None, None) => Value::Null,
            };
            match coerce(self.schema, ty, &value, Source::Variable) {
                Ok(v) => {
                    self.var_values.insert(name, v);
                }
                Err(_) if value.is_null() => self.var_errors.push(GraphqlError::plain(format!(
                    "Variable '{name}' has coerced Null value for NonNull type '{ty}'"
                ))),
                Err(reason) => self.var_errors.push(GraphqlError::plain(format!(
                    "Variable '{name}' has an invalid value: {reason}"
                ))),
            }
        }
    }

    fn selection_set(&mut self, type_name: &str, set: &SelectionSet, path: &str) -> Vec<Collected> {
        let mut out = Fields::default();
        for item in &set.items {
            let skipped = self.skipped(item.node.directives(), path);
            match &item.node {
                AstSelection::Field(field) => {
                    if let Some(mut c) = self.field(type_name, field, path) {
                        c.skipped |= skipped;
                        self.merge(&mut out, c);
                    }
                }
                AstSelection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.to_string();
                    let Some(fragment) = self
                        .fragments
                        .fragments
                        .get(spread.node.fragment_name.node.as_str())
                    else {
                        self.errors.push(GraphqlError::validation(
                            "UndefinedFragment",
                            format!("Undefined fragment {name} @ '{path}'"),
                            spread.pos,
                        ));
                        continue;
                    };
                    if self.fragment_stack.contains(&name) {
                        self.errors.push(GraphqlError::validation(
                            "FragmentCycle",
                            format!("Fragment cycle detected: {name}"),
                            spread.pos,
                        ));
                        continue;
                    }
                    self.fragment_stack.push(name);
                    let inner = self.fragment(type_name, &fragment.node, fragment.pos, path);
                    self.fragment_stack.pop();
                    for mut c in inner {
                        c.skipped |= skipped;
                        self.merge(&mut out, c);
                    }
                }
                AstSelection::InlineFragment(inline) => {
                    if let Some(cond) = &inline.node.type_condition
                        && !self.type_condition_fits(
                            type_name,
                            cond.node.on.node.as_str(),
                            cond.pos,
                        )
                    {
                        continue;
                    }
                    for mut c in
                        self.selection_set(type_name, &inline.node.selection_set.node, path)
                    {
                        c.skipped |= skipped;
                        self.merge(&mut out, c);
                    }
                }
            }
        }
        out.list
    }

    fn fragment(
        &mut self,
        type_name: &str,
        fragment: &FragmentDefinition,
        pos: Pos,
        path: &str,
    ) -> Vec<Collected> {
        if !self.type_condition_fits(
            type_name,
            fragment.type_condition.node.on.node.as_str(),
            pos,
        ) {
            return Vec::new();
        }
        self.selection_set(type_name, &fragment.selection_set.node, path)
    }

    fn type_condition_fits(&mut self, type_name: &str, on: &str, pos: Pos) -> bool {
        if !self.schema.is_object(on) {
            self.errors.push(GraphqlError::validation(
                "UnknownType",
                format!("Unknown type {on}"),
                pos,
            ));
            false
        } else if on != type_name {
            self.errors.push(GraphqlError::validation(
                "InvalidFragmentType",
                format!("Fragment cannot be spread here as objects of type '{type_name}' can never be of type '{on}'"),
                pos,
            ));
            false
        } else {
            true
        }
    }

    /// Adds `c` unless its key is taken: the same field again merges, another field under
    /// the same key is a conflict.
    fn merge(&mut self, out: &mut Fields, c: Collected) {
        let Some(existing) = out.by_key.get(&c.key).and_then(|&i| out.list.get_mut(i)) else {
            out.by_key.insert(c.key.clone(), out.list.len());
            out.list.push(c);
            return;
        };
        if existing.name != c.name || existing.args != c.args {
            self.errors.push(GraphqlError::validation(
                "FieldsConflict",
                format!(
                    "{}: they return differing types or arguments ({} and {})",
                    c.key, existing.name, c.name
                ),
                c.pos,
            ));
            return;
        }
        existing.skipped &= c.skipped;
        if let (Some(a), Some(b)) = (&mut existing.sub, c.sub) {
            for f in b.fields {
                if existing.sub_keys.insert(f.key.clone()) {
                    a.fields.push(f);
                }
            }
        }
    }

    fn field(
        &mut self,
        type_name: &str,
        field: &Positioned<Field>,
        path: &str,
    ) -> Option<Collected> {
        let name = field.node.name.node.to_string();
        let key = field.node.response_key().node.to_string();
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        if name == "__typename" {
            return Some(Collected {
                key,
                name,
                args: Map::new(),
                sub: None,
                sub_keys: HashSet::new(),
                pos: field.pos,
                skipped: false,
            });
        }
        let Some(def) = self.schema.field(type_name, &name) else {
            self.errors.push(GraphqlError::validation(
                "FieldUndefined",
                format!("Field '{name}' in type '{type_name}' is undefined @ '{here}'"),
                field.pos,
            ));
            return None;
        };
        let args = self.arguments(def, &field.node.arguments, field.pos, &here);
        let returned = named(&def.ty);
        let set = &field.node.selection_set.node;
        let sub = if self.schema.is_object(returned) {
            if set.items.is_empty() {
                self.errors.push(GraphqlError::validation(
                    "SubSelectionRequired",
                    format!(
                        "Sub selection required for type {returned} of field {name} @ '{here}'"
                    ),
                    field.pos,
                ));
                None
            } else {
                let fields = self
                    .selection_set(returned, set, &here)
                    .into_iter()
                    .filter(|c| !c.skipped)
                    .map(|c| SelectedField {
                        key: c.key,
                        name: c.name,
                        sub: c.sub.map(Box::new),
                    })
                    .collect();
                Some(Selection {
                    type_name: returned.to_owned(),
                    fields,
                })
            }
        } else {
            if !set.items.is_empty() {
                self.errors.push(GraphqlError::validation(
                    "SubSelectionNotAllowed",
                    format!("Sub selection not allowed on leaf type {returned} of field {name} @ '{here}'"),
                    field.pos,
                ));
            }
            None
        };
        let sub_keys = sub
            .iter()
            .flat_map(|s| s.fields.iter().map(|f| f.key.clone()))
            .collect();
        Some(Collected {
            key,
            name,
            args,
            sub,
            sub_keys,
            pos: field.pos,
            skipped: false,
        })
    }

    fn arguments(
        &mut self,
        def: &FieldDef,
        given: &[(Positioned<Name>, Positioned<AstValue>)],
        pos: Pos,
        here: &str,
    ) -> Map<String, Value> {
        let mut args = Map::new();
        for (name, value) in given {
            let Some(ty) = def.arg(name.node.as_str()) else {
                self.errors.push(GraphqlError::validation(
                    "UnknownArgument",
                    format!("Unknown field argument {} @ '{here}'", name.node),
                    name.pos,
                ));
                continue;
            };
            if let Some(v) = self.input_value(&name.node, ty, value, here) {
                args.insert(name.node.to_string(), v);
            }
        }
        for (name, ty) in &def.args {
            if !ty.nullable && !given.iter().any(|(n, _)| n.node.as_str() == name) {
                self.errors.push(GraphqlError::validation(
                    "MissingFieldArgument",
                    format!("Missing field argument {name} @ '{here}'"),
                    pos,
                ));
            }
        }
        args
    }

    /// Resolves one argument value (a variable or a literal) and coerces it to `ty`.
    fn input_value(
        &mut self,
        arg: &str,
        ty: &Type,
        value: &Positioned<AstValue>,
        here: &str,
    ) -> Option<Value> {
        if let AstValue::Variable(var) = &value.node {
            let var = var.as_str();
            self.used_vars.insert(var.to_owned());
            let Some((var_ty, has_default)) = self.var_types.get(var) else {
                self.errors.push(GraphqlError::validation(
                    "UndefinedVariable",
                    format!("Undefined variable {var} @ '{here}'"),
                    value.pos,
                ));
                return None;
            };
            if !compatible(var_ty, *has_default, ty) {
                self.errors.push(GraphqlError::validation(
                    "VariableTypeMismatch",
                    format!(
                        "Variable type '{var_ty}' doesn't match expected type '{ty}' @ '{here}'"
                    ),
                    value.pos,
                ));
                return None;
            }
            // A variable that failed coercion was reported already.
            return self.var_values.get(var).cloned();
        }
        let literal = self.literal_to_json(&value.node);
        match coerce(self.schema, ty, &literal, Source::Literal) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.errors.push(GraphqlError::validation(
                    "WrongType",
                    format!("argument '{arg}' with value {reason} @ '{here}'"),
                    value.pos,
                ));
                None
            }
        }
    }

    fn literal_to_json(&mut self, value: &AstValue) -> Value {
        match value {
            AstValue::Variable(v) => {
                self.used_vars.insert(v.to_string());
                self.var_values
                    .get(v.as_str())
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            AstValue::Null => Value::Null,
            AstValue::Number(n) => Value::Number(n.clone()),
            AstValue::String(s) => Value::String(s.clone()),
            AstValue::Boolean(b) => Value::Bool(*b),
            AstValue::Enum(e) => Value::String(e.to_string()),
            AstValue::Binary(_) => Value::Null,
            AstValue::List(items) => {
                Value::Array(items.iter().map(|i| self.literal_to_json(i)).collect())
            }
            AstValue::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), self.literal_to_json(v)))
                    .collect(),
            ),
        }
    }

    /// Evaluates `@skip(if:)` / `@include(if:)`; any other directive is an error.
    fn skipped(
        &mut self,
        directives: &[Positioned<async_graphql_parser::types::Directive>],
        path: &str,
    ) -> bool {
        let mut skipped = false;
        for d in directives {
            let name = d.node.name.node.as_str();
            if name != "skip" && name != "include" {
                self.errors.push(GraphqlError::validation(
                    "UnknownDirective",
                    format!("Unknown directive {name} @ '{path}'"),
                    d.pos,
                ));
                continue;
            }
            let boolean = Type::new("Boolean!").unwrap_or_else(|| unreachable!());
            let condition = match d.node.get_argument("if") {
                Some(v) => self.input_value("if", &boolean, v, path),
                None => {
                    self.errors.push(GraphqlError::validation(
                        "MissingDirectiveArgument",
                        format!("Missing directive argument if @ '{path}'"),
                        d.pos,
                    ));
                    None
                }
            };
            let condition = condition.and_then(|v| v.as_bool()).unwrap_or(false);
            skipped |= if name == "skip" {
                condition
            } else {
                !condition
            };
        }
        skipped
    }
}

/// Whether a variable of type `var` (with a default or not) may be used where `location`
/// is expected.
fn compatible(var: &Type, has_default: bool, location: &Type) -> bool {
    if !location.nullable && var.nullable && !has_default {
        return false;
    }
    match (&var.base, &location.base) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => compatible(a, false, b),
        _ => false,
    }
}

fn const_to_json(value: &ConstValue) -> Value {
    value.clone().into_json().unwrap_or(Value::Null)
}

#[cfg(test)]
mod never_panic {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::prepare;
    use crate::graphql::{ApiLimits, Schema};

    fn queries() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::string::string_regex(r"(query|mutation|subscription)?( [A-Za-z]{1,5})?(\(\$[a-z]: [A-Za-z!\[\]]{1,8}\))? \{ ([a-z]{1,6}(\([a-z]{1,4}: (\$[a-z]|\x22[^\x22]{0,4}\x22|[0-9]|\{\}|\[\])\))? (\{ [a-z_ .]{0,20} \})? ?(\.\.\.[A-Z]|@skip\(if: \$[a-z]\))?){1,3} \}( fragment [A-Z] on [A-Za-z]{1,8} \{ [a-z .]{1,12} \})?").unwrap(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_request_text_is_answered(query in queries(), name in proptest::option::of("[A-Z]{1,3}")) {
            let schema = Schema::quotecast().unwrap();
            let vars: Map<String, Value> = json!({"a": "x", "n": 1, "d": {"k": [1]}}).as_object().cloned().unwrap();
            let _ = prepare(&schema, &query, &vars, name.as_deref(), ApiLimits::DEPLOYED);
        }
    }
}
