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
            ("!Ref", "HistoryTable") => "quotecast-HistoryTable-1A2B3C4D".into(),
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
    // history and historyPage read the consumer's table through its own data source, with
    // one resolver file.
    for (resource, field) in [
        ("HistoryResolver", "history"),
        ("HistoryPageResolver", "historyPage"),
    ] {
        let p = props(&t, resource);
        assert_eq!(
            (&p["TypeName"], &p["FieldName"]),
            (&"Query".into(), &field.into())
        );
        assert_eq!(p["Runtime"]["Name"], "APPSYNC_JS");
        assert!(same_file(
            &local_path(&p["CodeS3Location"]),
            &root().join("schema/resolvers/history.js")
        ));
        assert_eq!(
            intrinsic(&p["DataSourceName"]),
            Some(("!GetAtt".into(), "HistoryDataSource.Name".into()))
        );
    }
    let source = props(&t, "HistoryDataSource");
    assert_eq!(source["Type"], "AMAZON_DYNAMODB");
    assert_eq!(
        intrinsic(&source["DynamoDBConfig"]["TableName"]),
        Some(("!Ref".into(), "HistoryTable".into()))
    );
    // Every resolver file is deployed, so none is linted but left out.
    let mut files: Vec<String> = std::fs::read_dir(root().join("schema/resolvers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut deployed: Vec<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::AppSync::Resolver")
        .map(|r| {
            let code = local_path(&r["Properties"]["CodeS3Location"]);
            code.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    deployed.sort();
    deployed.dedup();
    assert_eq!(deployed, files);
    // The fields that run a resolver are the ones the local server counts against the
    // API's ResolverCountLimit.
    let mut resolved: Vec<(String, String)> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::AppSync::Resolver")
        .map(|r| {
            let p = &r["Properties"];
            let text = |k: &str| p[k].as_str().unwrap().to_owned();
            (text("TypeName"), text("FieldName"))
        })
        .collect();
    resolved.sort();
    let mut counted: Vec<(String, String)> = quotecast_shared::graphql::RESOLVED_FIELDS
        .iter()
        .map(|(ty, f)| ((*ty).to_owned(), (*f).to_owned()))
        .collect();
    counted.sort();
    assert_eq!(resolved, counted);
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
    let history = config
        .unwrap()
        .history
        .expect("the consumer writes the history");
    assert_eq!(
        history.endpoint, "https://dynamodb.eu-west-1.amazonaws.com/",
        "the regional endpoint, through the VPC's gateway endpoint"
    );
}

#[test]
fn the_history_table_is_keyed_by_bar_and_expires_after_the_retention() {
    let t = template();
    let table = props(&t, "HistoryTable");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    let keys: Vec<(String, String)> = table["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (describe(&k["AttributeName"]), describe(&k["KeyType"])))
        .collect();
    assert_eq!(
        keys,
        [
            ("symbol".to_owned(), "HASH".to_owned()),
            ("timestamp".to_owned(), "RANGE".to_owned())
        ]
    );
    let types: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| (describe(&k["AttributeName"]), describe(&k["AttributeType"])))
        .collect();
    assert_eq!(
        types,
        [
            ("symbol".to_owned(), "S".to_owned()),
            ("timestamp".to_owned(), "N".to_owned())
        ]
    );
    // The TTL attribute is the one the consumer writes, and the retention reaches it.
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        "expiresAt"
    );
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"], true);
    let env = environment(&t, "ConsumerFunction");
    let config = quotecast_consumer::Config::from_lookup(lookup(&env)).unwrap();
    let history = config.history.unwrap();
    let default_hours: u64 = resolve(&t, &t["Parameters"]["HistoryRetentionHours"]["Default"])
        .parse()
        .unwrap();
    assert_eq!(history.retention.as_secs(), default_hours * 3600);
    let vars = &props(&t, "ConsumerFunction")["Environment"]["Variables"];
    assert_eq!(
        intrinsic(&vars["HISTORY_TABLE"]),
        Some(("!Ref".into(), "HistoryTable".into()))
    );
    assert_eq!(
        intrinsic(&vars["HISTORY_RETENTION_HOURS"]),
        Some(("!Ref".into(), "HistoryRetentionHours".into()))
    );
    // The consumer's subnets reach DynamoDB without the NAT.
    let endpoint = props(&t, "DynamoDbEndpoint");
    assert_eq!(endpoint["VpcEndpointType"], "Gateway");
    assert!(describe(&endpoint["ServiceName"]).ends_with(".dynamodb"));
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
    assert_eq!(
        intrinsic(&esm["DestinationConfig"]["OnFailure"]["Destination"]),
        Some(("!GetAtt".into(), "FailedBatchesBucket.Arn".into()))
    );
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
                // The trigger's on-failure destination writes with the consumer's role and
                // needs both (Lambda developer guide, "Capturing discarded batches for
                // Amazon MSK").
                ("s3:PutObject", "!Sub ${FailedBatchesBucket.Arn}/*"),
                ("s3:ListBucket", "!GetAtt FailedBatchesBucket.Arn"),
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
    // The consumer may write the history table, and do nothing else with DynamoDB.
    let dynamodb: Vec<_> = consumer
        .iter()
        .filter(|(a, _)| a.iter().any(|x| x.starts_with("dynamodb:")))
        .collect();
    assert_eq!(dynamodb.len(), 1);
    assert_eq!(dynamodb[0].0, ["dynamodb:BatchWriteItem"]);
    assert_eq!(dynamodb[0].1, ["!GetAtt HistoryTable.Arn"]);
    // The producer cannot publish to AppSync.
    let producer = statements(&t, "ProducerFunction");
    assert!(
        !producer
            .iter()
            .any(|(a, _)| a.iter().any(|x| x.starts_with("appsync:")))
    );
    // No IAM role or policy is defined outside the functions but AppSync's reader of the
    // history, which AppSync alone may assume and which may only query that table, and
    // AppSync's log writer, which may only write its API logs.
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let kind = r["Type"].as_str().unwrap();
        if matches!(
            name.as_str(),
            Some("HistoryDataSourceRole" | "AppSyncLogsRole")
        ) {
            continue;
        }
        assert!(!kind.starts_with("AWS::IAM::"), "{name:?} is {kind}");
    }
    let logs = props(&t, "AppSyncLogsRole");
    assert_eq!(
        logs["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        "appsync.amazonaws.com"
    );
    let statements = logs["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    for action in statements[0]["Action"].as_sequence().unwrap() {
        assert!(action.as_str().unwrap().starts_with("logs:"), "{action:?}");
    }
    assert!(describe(&statements[0]["Resource"]).ends_with(":log-group:/aws/appsync/apis/*"));
    let role = props(&t, "HistoryDataSourceRole");
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(trust.len(), 1);
    assert_eq!(trust[0]["Principal"]["Service"], "appsync.amazonaws.com");
    assert_eq!(trust[0]["Action"], "sts:AssumeRole");
    let mut granted = Vec::new();
    for policy in role["Policies"].as_sequence().unwrap() {
        for s in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            assert_eq!(s["Effect"], "Allow");
            granted.push((describe(&s["Action"][0]), describe(&s["Resource"])));
            assert_eq!(s["Action"].as_sequence().map(Vec::len), Some(1));
        }
    }
    assert_eq!(
        granted,
        [(
            "dynamodb:Query".to_owned(),
            "!GetAtt HistoryTable.Arn".to_owned()
        )]
    );
    assert_eq!(
        intrinsic(&props(&t, "HistoryDataSource")["ServiceRoleArn"]),
        Some(("!GetAtt".into(), "HistoryDataSourceRole.Arn".into()))
    );
}

/// A function's setting, its own or the Globals', resolved.
fn function_setting(t: &Value, function: &str, key: &str) -> Option<String> {
    let own = &props(t, function)[key];
    let v = if own.is_null() {
        &t["Globals"]["Function"][key]
    } else {
        own
    };
    (!v.is_null()).then(|| resolve(t, v))
}

#[test]
fn a_consumer_invocation_ends_before_its_timeout() {
    // One retry deadline covers the whole invocation: no request starts after the retry
    // budget, and a request lasts at most the request timeout. The worst case must end well
    // before Lambda kills the invocation, or the whole batch — partitions that succeeded
    // included — is retried.
    let t = template();
    let timeout_s: u64 = function_setting(&t, "ConsumerFunction", "Timeout")
        .expect("the consumer has no Timeout (Lambda's default of 3 s is far too short)")
        .parse()
        .unwrap();
    let timeout = std::time::Duration::from_secs(timeout_s);
    let env = environment(&t, "ConsumerFunction");
    // The values the consumer reads, its defaults where the template sets none.
    let config = quotecast_consumer::Config::from_lookup(lookup(&env)).unwrap();
    let margin = std::time::Duration::from_secs(5);
    let worst = config.retry.budget + config.request_timeout;
    assert!(
        worst + margin < timeout,
        "retry budget {:?} + request timeout {:?} + margin {margin:?} is not below the \
         consumer's Timeout of {timeout:?}",
        config.retry.budget,
        config.request_timeout,
    );
    // Set explicitly, so the template says what it relies on.
    for var in ["RETRY_BUDGET_MS", "REQUEST_TIMEOUT_MS"] {
        assert!(
            lookup(&env)(var).is_some(),
            "the template does not set {var}"
        );
    }
}

/// One token of GraphQL SDL, enough to read object types and their directives.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Punct(char),
    /// Strings (descriptions, arguments) and numbers: never needed, only skipped.
    Other,
}

fn tokens(sdl: &str) -> Vec<Token> {
    let chars: Vec<char> = sdl.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == ',' || c == '\u{feff}' {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' {
            if chars[i..].starts_with(&['"', '"', '"']) {
                i += 3;
                while i < chars.len() && !chars[i..].starts_with(&['"', '"', '"']) {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            out.push(Token::Other);
        } else if c == '_' || c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(Token::Name(chars[start..i].iter().collect()));
        } else if c == '-' || c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | '+' | '.'))
            {
                i += 1;
            }
            out.push(Token::Other);
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// An object type's auth directives and its fields' (name, directives).
#[derive(Debug, Default)]
struct ObjectAuth {
    directives: Vec<String>,
    fields: Vec<(String, Vec<String>)>,
}

/// The object types of `sdl` (`type` and `extend type`, merged) and the schema's mutation
/// root type name.
fn object_types(sdl: &str) -> (std::collections::HashMap<String, ObjectAuth>, String) {
    let toks = tokens(sdl);
    let mut types: std::collections::HashMap<String, ObjectAuth> = Default::default();
    let mut mutation = "Mutation".to_owned();
    let name_at = |i: usize| match toks.get(i) {
        Some(Token::Name(n)) => n.clone(),
        other => panic!("schema: a name expected at token {i}, found {other:?}"),
    };
    // Skips from an opening bracket to past its match.
    let skip_group = |mut i: usize, open: char, close: char| {
        let mut depth = 0;
        loop {
            match toks.get(i) {
                Some(Token::Punct(c)) if *c == open => depth += 1,
                Some(Token::Punct(c)) if *c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                None => panic!("schema: unbalanced {open}{close}"),
                _ => {}
            }
            i += 1;
        }
    };
    // Directives from `i`: their names and the index after them.
    let directives = |mut i: usize| {
        let mut names = Vec::new();
        while toks.get(i) == Some(&Token::Punct('@')) {
            names.push(name_at(i + 1));
            i += 2;
            if toks.get(i) == Some(&Token::Punct('(')) {
                i = skip_group(i, '(', ')');
            }
        }
        (names, i)
    };
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Token::Name(kw) if kw == "schema" => {
                let (_, mut j) = directives(i + 1);
                assert_eq!(toks.get(j), Some(&Token::Punct('{')));
                j += 1;
                while toks.get(j) != Some(&Token::Punct('}')) {
                    let op = name_at(j);
                    assert_eq!(toks.get(j + 1), Some(&Token::Punct(':')));
                    if op == "mutation" {
                        mutation = name_at(j + 2);
                    }
                    j += 3;
                }
                i = j + 1;
            }
            Token::Name(kw) if kw == "type" => {
                let name = name_at(i + 1);
                let mut j = i + 2;
                if toks.get(j) == Some(&Token::Name("implements".into())) {
                    j += 1;
                    while matches!(toks.get(j), Some(Token::Name(_) | Token::Punct('&'))) {
                        j += 1;
                    }
                }
                let (type_auth, mut j) = directives(j);
                let entry = types.entry(name).or_default();
                entry.directives.extend(type_auth);
                if toks.get(j) == Some(&Token::Punct('{')) {
                    j += 1;
                    while toks.get(j) != Some(&Token::Punct('}')) {
                        if toks.get(j) == Some(&Token::Other) {
                            j += 1; // a description
                            continue;
                        }
                        let field = name_at(j);
                        j += 1;
                        if toks.get(j) == Some(&Token::Punct('(')) {
                            j = skip_group(j, '(', ')');
                        }
                        assert_eq!(toks.get(j), Some(&Token::Punct(':')), "field {field}");
                        j += 1;
                        // The type: names, brackets and bangs, up to a directive or the next
                        // field.
                        let mut open = 0;
                        loop {
                            match toks.get(j) {
                                Some(Token::Punct('[')) => open += 1,
                                Some(Token::Punct(']')) => open -= 1,
                                Some(Token::Punct('!')) => {}
                                Some(Token::Name(_)) => {}
                                other => panic!("field {field}: unexpected {other:?}"),
                            }
                            j += 1;
                            if open == 0 && toks.get(j) != Some(&Token::Punct('!')) {
                                break;
                            }
                        }
                        let (field_auth, next) = directives(j);
                        entry.fields.push((field, field_auth));
                        j = next;
                    }
                    j += 1;
                }
                i = j;
            }
            Token::Punct('{') => i = skip_group(i, '{', '}'),
            _ => i += 1,
        }
    }
    (types, mutation)
}

/// The auth directives of AppSync (other directives, such as `@aws_subscribe`, are not).
const AUTH_DIRECTIVES: [&str; 5] = [
    "aws_api_key",
    "aws_iam",
    "aws_cognito_user_pools",
    "aws_oidc",
    "aws_lambda",
];

/// The `Mutation` fields an API-key caller may call, under AppSync's rules: a field's own
/// auth directives decide; without any, its type's decide; without those, only the default
/// mode is admitted.
fn api_key_mutations(sdl: &str, default_mode: &str) -> Vec<String> {
    let (types, mutation) = object_types(sdl);
    let root = types
        .get(&mutation)
        .unwrap_or_else(|| panic!("the schema defines no {mutation} type"));
    let auth = |ds: &[String]| -> Vec<String> {
        ds.iter()
            .filter(|d| AUTH_DIRECTIVES.contains(&d.as_str()))
            .cloned()
            .collect()
    };
    let type_auth = auth(&root.directives);
    root.fields
        .iter()
        .filter(|(_, directives)| {
            let field_auth = auth(directives);
            let modes = if field_auth.is_empty() {
                &type_auth
            } else {
                &field_auth
            };
            if modes.is_empty() {
                default_mode == "API_KEY"
            } else {
                modes.iter().any(|m| m == "aws_api_key")
            }
        })
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn the_reachability_check_reads_auth_directives_as_appsync_does() {
    let sdl = r#"
        # type Mutation @aws_api_key { commented: Int }
        type Channel @aws_api_key @aws_iam { name: String data: AWSJSON }
        type Mutation @aws_iam {
          "description" a(x: [String!]! = ["y"]): Channel @aws_api_key
          b: [Channel!]!
          c(filter: String): Channel @aws_iam @deprecated(reason: "z")
        }
        type M2 { d: Int e: Int @aws_iam }
        type M3 @aws_api_key { f: Int g: Int @aws_iam }
        schema { query: Query mutation: M2 }
    "#;
    assert_eq!(api_key_mutations(sdl, "API_KEY"), ["d"]);
    assert!(api_key_mutations(sdl, "AWS_IAM").is_empty());
    let sdl = sdl.replace("mutation: M2", "mutation: Mutation");
    assert_eq!(api_key_mutations(&sdl, "API_KEY"), ["a"]);
    let sdl = sdl.replace("mutation: Mutation", "mutation: M3");
    assert_eq!(api_key_mutations(&sdl, "AWS_IAM"), ["f"]);
    // The sample's own schema has no auth directives: the default mode reaches everything.
    let plain = "type Mutation { publish(name: String!): String } type Query { q: Int }";
    assert_eq!(api_key_mutations(plain, "API_KEY"), ["publish"]);
}

#[test]
fn the_api_key_reaches_no_mutation() {
    // The API key is public (every browser gets it in config.json): publishing must need IAM.
    let t = template();
    let api = props(&t, "Api");
    assert_eq!(api["AuthenticationType"], "API_KEY", "the dashboard's mode");
    let extra: Vec<&Value> = api["AdditionalAuthenticationProviders"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| &p["AuthenticationType"])
        .collect();
    assert_eq!(extra, [&Value::from("AWS_IAM")], "the consumer's mode");
    let schema = local_path(&props(&t, "ApiSchema")["DefinitionS3Location"]);
    let sdl = std::fs::read_to_string(schema).unwrap();
    let default_mode = api["AuthenticationType"].as_str().unwrap();
    let open = api_key_mutations(&sdl, default_mode);
    assert!(
        open.is_empty(),
        "the public API key may call Mutation fields {open:?}"
    );
    assert!(
        props(&t, "ApiKey")["Description"]
            .as_str()
            .unwrap()
            .contains("publish needs IAM")
    );
}

/// The API is deployed with the request limits the local server enforces by default, and the
/// consumer's chunk fits in them.
#[test]
fn the_api_has_the_local_servers_request_limits() {
    let t = template();
    let api = props(&t, "Api");
    for (property, value) in [
        (
            "ResolverCountLimit",
            quotecast_shared::graphql::RESOLVER_COUNT_LIMIT,
        ),
        (
            "QueryDepthLimit",
            quotecast_shared::graphql::QUERY_DEPTH_LIMIT,
        ),
    ] {
        assert_eq!(
            intrinsic(&api[property]),
            Some(("!Ref".into(), property.into())),
            "{property}"
        );
        let default = t["Parameters"][property]["Default"].as_u64();
        assert_eq!(default, Some(value as u64), "{property}");
    }
}

/// Without `Expires` AppSync ends the dashboard's key after 7 days: the template has no
/// default for it (a deploy must say, `cargo xtask deploy` says a year), the key reads it, and
/// the stack names its API so `cargo xtask smoke` can read what is left of the key's life.
#[test]
fn the_dashboard_key_expires_when_the_deploy_says() {
    let t = template();
    let expires = &t["Parameters"]["ApiKeyExpires"];
    assert_eq!(expires["Type"], "Number");
    assert!(
        expires.get("Default").is_none(),
        "a default would be a fixed date, or AppSync's 7 days"
    );
    let key = props(&t, "ApiKey");
    let chosen = &key["Expires"];
    assert_eq!(
        chosen,
        &serde_yaml::from_str::<Value>(
            "!If [ApiKeyExpiryGiven, !Ref ApiKeyExpires, !Ref AWS::NoValue]"
        )
        .unwrap()
    );
    assert_eq!(
        intrinsic(&t["Outputs"]["ApiId"]["Value"]),
        Some(("!GetAtt".into(), "Api.ApiId".into()))
    );
}

/// What an operator must hear about raises an alarm: each one on the metric that shows it,
/// all notifying one topic an email may subscribe to; the consumer's alarms read the metrics
/// its own EMF lines write (checked against `quotecast_consumer::metrics`).
#[test]
fn every_failure_an_operator_must_act_on_has_an_alarm() {
    use quotecast_consumer::metrics::{NAMESPACE, SERVICE, emf_line};

    let t = template();
    let alarms: Vec<(&str, &str, &str, &str)> = vec![
        (
            "ConsumerErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            "ConsumerFunction",
        ),
        ("ConsumerFailedRecordsAlarm", NAMESPACE, "Failed", ""),
        ("BarAgeAlarm", NAMESPACE, "BarAge", ""),
        (
            "OffsetLagAlarm",
            "AWS/Lambda",
            "OffsetLag",
            "ConsumerFunction",
        ),
        (
            "FailedBatchesAlarm",
            "AWS/S3",
            "NumberOfObjects",
            "FailedBatchesBucket",
        ),
        ("AppSync5xxAlarm", "AWS/AppSync", "5XXError", "Api.ApiId"),
        (
            "ProducerErrorsAlarm",
            "AWS/Lambda",
            "Errors",
            "ProducerFunction",
        ),
    ];
    let emf: serde_json::Value = serde_json::from_str(&emf_line(
        &quotecast_consumer::BatchStats {
            bar_ages_ms: vec![1],
            ..Default::default()
        },
        1,
        0,
        "stack-ConsumerFunction",
    ))
    .unwrap();
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    let emitted: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    for (name, namespace, metric, dimension) in &alarms {
        let p = props(&t, name);
        assert_eq!(resource(&t, name)["Type"], "AWS::CloudWatch::Alarm");
        assert_eq!(
            (p["Namespace"].as_str(), p["MetricName"].as_str()),
            (Some(*namespace), Some(*metric)),
            "{name}"
        );
        assert_eq!(
            intrinsic(&p["AlarmActions"][0]),
            Some(("!Ref".into(), "AlarmTopic".into())),
            "{name} tells the topic"
        );
        let dims = p["Dimensions"].as_sequence().unwrap();
        if *namespace == NAMESPACE {
            assert!(
                emitted.contains(metric),
                "{name}: the consumer writes no {metric}"
            );
            // The consumer's dimensions, per stack: its function's name, as the alarm names it.
            assert_eq!(
                directive["Dimensions"],
                serde_json::json!([["Service", "FunctionName"]])
            );
            assert_eq!(
                (dims[0]["Name"].as_str(), dims[0]["Value"].as_str()),
                (Some("Service"), Some(SERVICE))
            );
            assert_eq!(dims[1]["Name"], "FunctionName", "{name}");
            assert_eq!(
                intrinsic(&dims[1]["Value"]),
                Some(("!Ref".into(), "ConsumerFunction".into())),
                "{name}"
            );
        } else {
            let target = intrinsic(&dims[0]["Value"]).map(|(_, target)| target);
            assert_eq!(target.as_deref(), Some(*dimension), "{name}");
        }
    }
    let subscription = resource(&t, "AlarmEmailSubscription");
    assert_eq!(subscription["Condition"], "AlarmEmailGiven");
    assert_eq!(subscription["Properties"]["Protocol"], "email");
    assert_eq!(t["Parameters"]["AlarmEmail"]["Default"], "");

    // The dashboard shows every alarm, and is JSON once CloudFormation fills it in.
    let body = &props(&t, "OperationsDashboard")["DashboardBody"];
    let text = match body {
        Value::Tagged(tagged) => tagged.value[0].as_str().unwrap().to_owned(),
        other => panic!("DashboardBody is not a !Sub: {other:?}"),
    };
    for (name, ..) in &alarms {
        assert!(
            text.contains(&format!("${{{name}.Arn}}")),
            "the dashboard lacks {name}"
        );
    }
    let filled = regex_lite_fill(&text);
    let parsed: serde_json::Value =
        serde_json::from_str(&filled).unwrap_or_else(|e| panic!("{e}: {filled}"));
    assert!(parsed["widgets"].as_array().unwrap().len() >= 6);
}

/// `${…}` placeholders replaced by a plain word, as CloudFormation's `!Sub` would.
fn regex_lite_fill(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str("filled");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Logs an operator reads are kept, and only so long: AppSync's field errors (without
/// request bodies) and both functions' logs, each group with `LogRetentionDays`.
#[test]
fn appsync_and_function_logs_are_kept_for_the_retention() {
    let t = template();
    let log = &props(&t, "Api")["LogConfig"];
    assert_eq!(log["FieldLogLevel"], "ERROR");
    assert_eq!(log["ExcludeVerboseContent"], true);
    assert_eq!(
        intrinsic(&log["CloudWatchLogsRoleArn"]),
        Some(("!GetAtt".into(), "AppSyncLogsRole.Arn".into()))
    );
    for (group, function) in [
        ("AppSyncLogGroup", None),
        ("ProducerLogGroup", Some("ProducerFunction")),
        ("ConsumerLogGroup", Some("ConsumerFunction")),
    ] {
        assert_eq!(
            intrinsic(&props(&t, group)["RetentionInDays"]),
            Some(("!Ref".into(), "LogRetentionDays".into())),
            "{group}"
        );
        if let Some(function) = function {
            assert_eq!(
                intrinsic(&props(&t, function)["LoggingConfig"]["LogGroup"]),
                Some(("!Ref".into(), group.into())),
                "{function} logs to {group}"
            );
        }
    }
    let name = intrinsic(&props(&t, "AppSyncLogGroup")["LogGroupName"])
        .unwrap()
        .1;
    assert_eq!(
        name, "/aws/appsync/apis/${Api.ApiId}",
        "the group AppSync writes to"
    );
}
