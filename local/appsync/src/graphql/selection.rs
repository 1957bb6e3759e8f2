//! Selection sets after validation: flat lists of (response key, field) per object type.
//!
//! AppSync publishes a mutation's result *as shaped by the caller's selection set* and then
//! shapes it again by each subscriber's selection set; fields the mutation did not select
//! arrive as `null` (§B.1). Values are therefore kept keyed by field name, and a selection
//! writes them out under its own keys, in its own order, straight into a string.

use serde_json::{Map, Value};

/// A validated, flattened selection set on an object type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selection {
    pub type_name: String,
    pub fields: Vec<SelectedField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SelectedField {
    /// The response key: the alias, or the field name.
    pub key: String,
    pub name: String,
    /// The sub-selection of an object-typed field.
    pub sub: Option<Box<Selection>>,
}

impl Selection {
    /// Keeps only the fields this selection names, keyed by field name (not alias): the
    /// published object of a mutation.
    pub fn restrict(&self, value: &Map<String, Value>) -> Map<String, Value> {
        self.fields
            .iter()
            .filter_map(|f| value.get(&f.name).map(|v| (f.name.clone(), v.clone())))
            .collect()
    }

    /// Writes `value` (keyed by field name) as this selection shapes it: its keys, its order,
    /// `null` for what `value` lacks.
    pub fn write(&self, value: &Map<String, Value>, out: &mut String) {
        out.push('{');
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&field.key, out);
            out.push(':');
            if field.name == "__typename" {
                push_json_string(&self.type_name, out);
                continue;
            }
            match (value.get(&field.name), &field.sub) {
                (Some(Value::Object(inner)), Some(sub)) => sub.write(inner, out),
                (Some(Value::Array(items)), Some(sub)) => sub.write_list(items, out),
                (Some(v), _) => out.push_str(&v.to_string()),
                (None, _) => out.push_str("null"),
            }
        }
        out.push('}');
    }

    /// Writes a list of objects, each as this selection shapes it (anything else in it as
    /// `null`, as no resolver here returns one).
    fn write_list(&self, items: &[Value], out: &mut String) {
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match item {
                Value::Object(inner) => self.write(inner, out),
                _ => out.push_str("null"),
            }
        }
        out.push(']');
    }

    pub fn to_json_string(&self, value: &Map<String, Value>) -> String {
        let mut out = String::with_capacity(64);
        self.write(value, &mut out);
        out
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(s: &str, out: &mut String) {
    // Serialising a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}
