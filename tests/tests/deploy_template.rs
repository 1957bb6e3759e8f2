//! What `sam validate` and cfn-lint cannot check in `deploy/template.yaml`: that it deploys
//! *this* repository — the schema and resolvers of `schema/`, the Lambda binaries that exist,
//! environments our handlers accept, the event source mapping settings the consumer relies on
//! — and that every function gets the actions it needs and nothing like admin.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("deploy/template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert!(!r.is_null(), "no resource {name}");
    r
}

fn props<'a>(t: &'a Value, name: &str) -> &'a Value {
    &resource(t, name)["Properties"]
}

/// `!Ref X` / `!GetAtt X.Y` as (tag, target), or `None` for a plain value.
fn intrinsic(v: &Value) -> Option<(String, String)> {
    match v {
        Value::Tagged(t) => Some((t.tag.to_string(), t.value.as_str()?.to_owned())),
        _ => None,
    }
}

/// A value as the deployed stack would see it: plain values as they are, parameters at
/// their defaults, resources as realistic stand-ins.
fn resolve(t: &Value, v: &Value) -> String {
    if let Some((tag, target)) = intrinsic(v) {
        let param = &t["Parameters"][target.as_str()]["Default"];
        return match (tag.as_str(), target.as_str()) {
            ("!Ref", _) if !param.is_null() => resolve(t, param),
            ("!Ref", "KafkaCluster") => {
                "arn:aws:kafka:eu-west-1:123456789012:cluster/quotecast/0b1c".into()
            }
            ("!Ref", "KafkaSecret") => {
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_quotecast-Ab12"
                    .into()
            }
            ("!GetAtt", "Api.GraphQLUrl") => {
                "https://abcdefghijklmnopqrstuvwxyz.appsync-api.eu-west-1.amazonaws.com/graphql"
                    .into()
            }
            _ => panic!("no stand-in for {tag} {target}"),
        };
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The environment Lambda would give the function: the template's variables plus the
/// runtime's own.
fn environment(t: &Value, function: &str) -> Vec<(String, String)> {
    let vars = props(t, function)["Environment"]["Variables"]
        .as_mapping()
        .unwrap();
    let mut env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), resolve(t, v)))
        .collect();
    env.push(("AWS_REGION".into(), "eu-west-1".into()));
    env
}

fn lookup(env: &[(String, String)]) -> impl Fn(&str) -> Option<String> + '_ {
    |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// A path in the template, relative to `deploy/`, as a file of the repository.
fn local_path(v: &Value) -> PathBuf {
    let p = root().join("deploy").join(v.as_str().unwrap());
    assert!(p.exists(), "{p:?} does not exist");
    p.canonicalize().unwrap()
}

fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().unwrap() == b.canonicalize().unwrap()
}

#[test]
fn the_api_is_the_schema_and_resolvers_of_this_repository() {
    let t = template();
    let schema = local_path(&props(&t, "ApiSchema")["DefinitionS3Location"]);
    assert!(same_file(&schema, &root().join("schema/schema.graphql")));
    // And that file is what the local server serves.
    assert_eq!(
        std::fs::read_to_string(&schema).unwrap(),
        quotecast_shared::graphql::SCHEMA
    );
    assert!(
        quotecast_shared::graphql::SCHEMA.contains("@aws_iam"),
        "publish must allow IAM"
    );

    for (name, type_name, field) in [
        ("PublishResolver", "Mutation", "publish"),
        ("SubscribeResolver", "Subscription", "subscribe"),
    ] {
        let p = props(&t, name);
        assert_eq!(p["TypeName"], type_name);
        assert_eq!(p["FieldName"], field);
        assert_eq!(p["Runtime"]["Name"], "APPSYNC_JS");
        let code = local_path(&p["CodeS3Location"]);
        assert!(same_file(
            &code,
            &root().join(format!("schema/resolvers/{field}.js"))
        ));
        assert_eq!(
            intrinsic(&p["DataSourceName"]),
            Some(("!GetAtt".into(), "NoneDataSource.Name".into()))
        );
    }
    assert_eq!(props(&t, "NoneDataSource")["Type"], "NONE");
    let api = props(&t, "Api");
    assert_eq!(api["AuthenticationType"], "API_KEY");
    assert_eq!(
        api["AdditionalAuthenticationProviders"][0]["AuthenticationType"],
        "AWS_IAM"
    );
}

#[test]
fn both_functions_are_our_arm64_binaries_on_provided_al2023() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    for (function, dir) in [
        ("ProducerFunction", "functions/producer"),
        ("ConsumerFunction", "functions/consumer"),
    ] {
        let r = resource(&t, function);
        assert_eq!(r["Type"], "AWS::Serverless::Function");
        let p = &r["Properties"];
        let setting = |key: &str| {
            let own = &p[key];
            if own.is_null() {
                globals[key].clone()
            } else {
                own.clone()
            }
        };
        assert_eq!(setting("Runtime"), "provided.al2023", "{function}");
        assert_eq!(
            setting("Architectures"),
            Value::Sequence(vec!["arm64".into()])
        );
        assert_eq!(setting("Handler"), "bootstrap");
        assert!(same_file(&local_path(&p["CodeUri"]), &root().join(dir)));
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda");
        let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let manifest = std::fs::read_to_string(root().join(dir).join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"{binary}\"")),
            "{dir} builds no binary {binary}"
        );
    }
}

#[test]
fn the_functions_accept_the_environment_the_template_gives_them() {
    let t = template();
    let producer = environment(&t, "ProducerFunction");
    let config = quotecast_producer::config::Config::from_lookup(lookup(&producer));
    assert!(
        config.is_ok(),
        "producer refuses its environment: {config:?}"
    );
    let consumer = environment(&t, "ConsumerFunction");
    let config = quotecast_consumer::Config::from_lookup(lookup(&consumer));
    assert!(
        config.is_ok(),
        "consumer refuses its environment: {config:?}"
    );
    assert!(consumer.contains(&("AUTH_MODE".into(), "AWS_IAM".into())));
}

#[test]
fn the_trigger_is_the_one_the_consumer_is_written_for() {
    let t = template();
    let esm = props(&t, "ConsumerTrigger");
    assert_eq!(
        intrinsic(&esm["FunctionName"]),
        Some(("!Ref".into(), "ConsumerFunction".into()))
    );
    assert_eq!(
        intrinsic(&esm["EventSourceArn"]),
        Some(("!Ref".into(), "KafkaCluster".into()))
    );
    assert_eq!(
        esm["FunctionResponseTypes"],
        Value::Sequence(vec!["ReportBatchItemFailures".into()]),
        "the consumer answers with batchItemFailures"
    );
    assert_eq!(
        esm["SourceAccessConfigurations"][0]["Type"],
        "SASL_SCRAM_512_AUTH"
    );
    assert!(!esm["DestinationConfig"]["OnFailure"]["Destination"].is_null());
    let batch: u64 = resolve(&t, &esm["BatchSize"]).parse().unwrap();
    assert!((1..=10_000).contains(&batch));
    let window: u64 = resolve(&t, &esm["MaximumBatchingWindowInSeconds"])
        .parse()
        .unwrap();
    assert!(window <= 300);
    let topic = resolve(&t, &esm["Topics"][0]);
    let producer = environment(&t, "ProducerFunction");
    assert_eq!(
        lookup(&producer)("TOPIC"),
        Some(topic),
        "producer and trigger share the topic"
    );
    // The SCRAM secret must be associated before the trigger logs in with it.
    assert_eq!(
        resource(&t, "ConsumerTrigger")["DependsOn"],
        "KafkaSecretAssociation"
    );
    let (_, secret_name) = intrinsic(&props(&t, "KafkaSecret")["Name"]).unwrap();
    assert!(
        secret_name.starts_with("AmazonMSK_"),
        "MSK only takes secrets named AmazonMSK_*"
    );
}

/// Every IAM statement a function gets: (actions, resources).
fn statements(t: &Value, function: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let mut out = Vec::new();
    for policy in props(t, function)["Policies"].as_sequence().unwrap() {
        if let Some(managed) = policy.as_str() {
            assert_eq!(
                managed, "AWSLambdaVPCAccessExecutionRole",
                "unexpected managed policy"
            );
            continue;
        }
        for s in policy["Statement"].as_sequence().unwrap() {
            assert_eq!(s["Effect"], "Allow");
            let list = |v: &Value| -> Vec<String> {
                match v {
                    Value::Sequence(items) => items.iter().map(describe).collect(),
                    other => vec![describe(other)],
                }
            };
            out.push((list(&s["Action"]), list(&s["Resource"])));
        }
    }
    out
}

fn describe(v: &Value) -> String {
    match intrinsic(v) {
        Some((tag, target)) => format!("{tag} {target}"),
        None => v.as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn each_function_gets_what_it_needs_and_no_wildcard_admin() {
    let t = template();
    let needs = [
        (
            "ProducerFunction",
            vec![
                ("kafka:GetBootstrapBrokers", "!Ref KafkaCluster"),
                ("secretsmanager:GetSecretValue", "!Ref KafkaSecret"),
                ("kms:Decrypt", "!GetAtt SecretsKey.Arn"),
            ],
        ),
        (
            "ConsumerFunction",
            vec![
                ("kafka:DescribeClusterV2", "!Ref KafkaCluster"),
                ("kafka:GetBootstrapBrokers", "!Ref KafkaCluster"),
                ("secretsmanager:GetSecretValue", "!Ref KafkaSecret"),
                ("kms:Decrypt", "!GetAtt SecretsKey.Arn"),
                ("ec2:CreateNetworkInterface", "*"),
            ],
        ),
    ];
    for (function, needed) in needs {
        let granted = statements(&t, function);
        for (action, resource) in needed {
            assert!(
                granted
                    .iter()
                    .any(|(a, r)| a.iter().any(|x| x == action) && r.iter().any(|x| x == resource)),
                "{function} lacks {action} on {resource}"
            );
        }
        for (actions, resources) in &granted {
            for a in actions {
                assert!(a != "*" && !a.ends_with(":*"), "{function} is granted {a}");
            }
            if resources.iter().any(|r| r == "*") {
                assert!(
                    actions
                        .iter()
                        .all(|a| a.starts_with("ec2:") && a.contains("NetworkInterface")
                            || a.starts_with("ec2:Describe")),
                    "{function}: only the poller's network actions may use Resource *: {actions:?}"
                );
            }
        }
    }
    // The consumer may publish, and only publish.
    let consumer = statements(&t, "ConsumerFunction");
    let appsync: Vec<_> = consumer
        .iter()
        .filter(|(a, _)| a.iter().any(|x| x.starts_with("appsync:")))
        .collect();
    assert_eq!(appsync.len(), 1);
    assert_eq!(appsync[0].0, ["appsync:GraphQL"]);
    assert!(
        appsync[0].1[0].ends_with("/types/Mutation/fields/publish"),
        "{:?}",
        appsync[0].1
    );
    // The producer cannot publish to AppSync.
    let producer = statements(&t, "ProducerFunction");
    assert!(
        !producer
            .iter()
            .any(|(a, _)| a.iter().any(|x| x.starts_with("appsync:")))
    );
    // No IAM role or policy is defined outside the functions.
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let kind = r["Type"].as_str().unwrap();
        assert!(!kind.starts_with("AWS::IAM::"), "{name:?} is {kind}");
    }
}
