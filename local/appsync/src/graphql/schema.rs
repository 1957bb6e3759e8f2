//! The schema, read from `schema/schema.graphql` (the file AWS deploys) with AppSync's
//! built-in scalars and directives understood.

use std::collections::HashMap;

use async_graphql_parser::types::{BaseType, ConstDirective, Type, TypeKind, TypeSystemDefinition};
use async_graphql_value::ConstValue;

/// AppSync's scalars, which its schemas use without declaring them.
const BUILTIN_SCALARS: [&str; 14] = [
    "String",
    "Int",
    "Float",
    "Boolean",
    "ID",
    "AWSJSON",
    "AWSDate",
    "AWSTime",
    "AWSDateTime",
    "AWSTimestamp",
    "AWSEmail",
    "AWSURL",
    "AWSPhone",
    "AWSIPAddress",
];

/// The auth directives AppSync knows; a field without any admits the default mode.
const AUTH_DIRECTIVES: [&str; 5] = [
    "aws_api_key",
    "aws_iam",
    "aws_cognito_user_pools",
    "aws_oidc",
    "aws_lambda",
];

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema does not parse: {0}")]
    Parse(String),
    #[error("schema has no `{0}` root type")]
    MissingRoot(&'static str),
    #[error("schema type `{0}` is used but not defined")]
    UnknownType(String),
}

/// One field of an object type.
#[derive(Debug, Clone)]
pub struct FieldDef {
    pub name: String,
    pub args: Vec<(String, Type)>,
    pub ty: Type,
    /// Auth directives on the field (empty: those of its type apply).
    pub auth: Vec<String>,
    /// For a subscription field, the mutations of its `@aws_subscribe`.
    pub subscribes_to: Vec<String>,
}

impl FieldDef {
    pub fn arg(&self, name: &str) -> Option<&Type> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

#[derive(Debug, Clone)]
struct ObjectDef {
    fields: Vec<FieldDef>,
    auth: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Schema {
    objects: HashMap<String, ObjectDef>,
    scalars: Vec<String>,
    pub query: String,
    pub mutation: String,
    pub subscription: String,
    /// Request documents parsed before, shared by the clones of this schema.
    pub documents: std::sync::Arc<super::documents::Documents>,
}

fn directive_names(directives: &[async_graphql_parser::Positioned<ConstDirective>]) -> Vec<String> {
    directives
        .iter()
        .map(|d| d.node.name.node.to_string())
        .filter(|n| AUTH_DIRECTIVES.contains(&n.as_str()))
        .collect()
}

fn subscribed_mutations(
    directives: &[async_graphql_parser::Positioned<ConstDirective>],
) -> Vec<String> {
    directives
        .iter()
        .filter(|d| d.node.name.node == "aws_subscribe")
        .filter_map(|d| d.node.get_argument("mutations"))
        .flat_map(|v| match &v.node {
            ConstValue::List(items) => items
                .iter()
                .filter_map(|i| match i {
                    ConstValue::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// The named type at the bottom of a (list / non-null) type.
pub fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

impl Schema {
    /// The quotecast schema, as deployed.
    pub fn quotecast() -> Result<Schema, SchemaError> {
        Schema::parse(quotecast_shared::graphql::SCHEMA)
    }

    pub fn parse(sdl: &str) -> Result<Schema, SchemaError> {
        let doc = async_graphql_parser::parse_schema(sdl)
            .map_err(|e| SchemaError::Parse(e.to_string()))?;
        let mut objects = HashMap::new();
        let mut scalars: Vec<String> = BUILTIN_SCALARS.iter().map(|s| (*s).to_owned()).collect();
        let (mut query, mut mutation, mut subscription) = (None, None, None);
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(s) => {
                    query = s.node.query.map(|n| n.node.to_string());
                    mutation = s.node.mutation.map(|n| n.node.to_string());
                    subscription = s.node.subscription.map(|n| n.node.to_string());
                }
                TypeSystemDefinition::Type(t) => {
                    let name = t.node.name.node.to_string();
                    match t.node.kind {
                        TypeKind::Scalar => scalars.push(name),
                        TypeKind::Object(obj) => {
                            let fields = obj
                                .fields
                                .into_iter()
                                .map(|f| FieldDef {
                                    name: f.node.name.node.to_string(),
                                    args: f
                                        .node
                                        .arguments
                                        .iter()
                                        .map(|a| {
                                            (a.node.name.node.to_string(), a.node.ty.node.clone())
                                        })
                                        .collect(),
                                    ty: f.node.ty.node.clone(),
                                    auth: directive_names(&f.node.directives),
                                    subscribes_to: subscribed_mutations(&f.node.directives),
                                })
                                .collect();
                            objects.insert(
                                name,
                                ObjectDef {
                                    fields,
                                    auth: directive_names(&t.node.directives),
                                },
                            );
                        }
                        // Enums, inputs, interfaces and unions are not used by quotecast.
                        _ => {}
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        let schema = Schema {
            query: query.unwrap_or_else(|| "Query".to_owned()),
            mutation: mutation.unwrap_or_else(|| "Mutation".to_owned()),
            subscription: subscription.unwrap_or_else(|| "Subscription".to_owned()),
            objects,
            scalars,
            documents: std::sync::Arc::default(),
        };
        for (root, label) in [
            (&schema.query, "query"),
            (&schema.mutation, "mutation"),
            (&schema.subscription, "subscription"),
        ] {
            if !schema.objects.contains_key(root) {
                return Err(SchemaError::MissingRoot(label));
            }
        }
        for obj in schema.objects.values() {
            for field in &obj.fields {
                let types = std::iter::once(&field.ty).chain(field.args.iter().map(|(_, t)| t));
                for ty in types {
                    let n = named(ty);
                    if !schema.is_scalar(n) && !schema.is_object(n) {
                        return Err(SchemaError::UnknownType(n.to_owned()));
                    }
                }
            }
        }
        Ok(schema)
    }

    pub fn is_scalar(&self, name: &str) -> bool {
        self.scalars.iter().any(|s| s == name)
    }

    pub fn is_object(&self, name: &str) -> bool {
        self.objects.contains_key(name)
    }

    pub fn field(&self, type_name: &str, field: &str) -> Option<&FieldDef> {
        self.objects
            .get(type_name)?
            .fields
            .iter()
            .find(|f| f.name == field)
    }

    /// Whether a caller admitted by `directive` may read `field` of `type_name`: the field's
    /// auth directives, else its type's, else only the default mode (API key).
    pub fn allows(&self, type_name: &str, field: &FieldDef, directive: &str) -> bool {
        let type_auth = self
            .objects
            .get(type_name)
            .map(|o| o.auth.as_slice())
            .unwrap_or_default();
        let modes = if field.auth.is_empty() {
            type_auth
        } else {
            &field.auth
        };
        let field_ok = if modes.is_empty() {
            directive == "aws_api_key"
        } else {
            modes.iter().any(|m| m == directive)
        };
        let returned = named(&field.ty);
        let returned_ok = match self.objects.get(returned) {
            Some(o) if !o.auth.is_empty() => o.auth.iter().any(|m| m == directive),
            _ => true,
        };
        field_ok && returned_ok
    }

    /// Subscription fields listening to `mutation`.
    pub fn subscribers_of<'a>(
        &'a self,
        mutation: &'a str,
    ) -> impl Iterator<Item = &'a FieldDef> + 'a {
        self.objects
            .get(&self.subscription)
            .into_iter()
            .flat_map(|o| o.fields.iter())
            .filter(move |f| f.subscribes_to.iter().any(|m| m == mutation))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Channel @aws_api_key @aws_iam { name: String data: AWSJSON }
        type Secret @aws_iam { v: String }
        type Query { open: Channel secret: Secret plain: String }
        type Mutation { publish(name: String!, data: AWSJSON!): Channel @aws_iam }
        type Subscription { subscribe(filter: String): Channel @aws_subscribe(mutations: ["publish"]) @aws_api_key }
        schema { query: Query mutation: Mutation subscription: Subscription }
    "#;

    #[test]
    fn auth_directives_decide_who_may_read_a_field() {
        let s = Schema::parse(SDL).unwrap();
        let field = |t: &str, f: &str| s.field(t, f).unwrap().clone();
        let publish = field("Mutation", "publish");
        assert!(s.allows("Mutation", &publish, "aws_iam"));
        assert!(
            !s.allows("Mutation", &publish, "aws_api_key"),
            "field directives replace the default"
        );
        let plain = field("Query", "plain");
        assert!(
            s.allows("Query", &plain, "aws_api_key"),
            "no directive: the default mode"
        );
        assert!(!s.allows("Query", &plain, "aws_iam"));
        let secret = field("Query", "secret");
        assert!(
            !s.allows("Query", &secret, "aws_api_key"),
            "the returned type must admit the caller too"
        );
        let subs: Vec<&str> = s
            .subscribers_of("publish")
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(subs, ["subscribe"]);
    }

    #[test]
    fn the_deployed_schema_loads_and_bad_schemas_are_refused() {
        let s = Schema::quotecast().unwrap();
        let publish = s.field("Mutation", "publish").unwrap();
        assert!(s.allows("Mutation", publish, "aws_iam"));
        assert!(
            !s.allows("Mutation", publish, "aws_api_key"),
            "the public key only reads"
        );
        let subscribe = s.field("Subscription", "subscribe").unwrap();
        assert!(s.allows("Subscription", subscribe, "aws_api_key"));
        assert!(matches!(
            Schema::parse("type {"),
            Err(SchemaError::Parse(_))
        ));
        assert!(matches!(
            Schema::parse("type Query { a: Nope }"),
            Err(SchemaError::MissingRoot(_))
        ));
        let unknown =
            "type Query { a: Nope } type Mutation { b: String } type Subscription { c: String }";
        assert!(matches!(Schema::parse(unknown), Err(SchemaError::UnknownType(t)) if t == "Nope"));
    }
}
