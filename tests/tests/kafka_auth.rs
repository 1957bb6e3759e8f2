//! MSK's authentication, proven against a broker that demands it: SASL_SSL with
//! SCRAM-SHA-512, the brokers' certificate verified against a CA made at run time (Tansu
//! behind our TLS front, `quotecast_e2e::tansu`). librdkafka's mock cluster, which every
//! other Kafka test uses, has no SASL and no TLS.
//!
//! Skipped, and says so, when Tansu is not installed: `cargo xtask kafka-auth` installs it
//! and runs this file.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use quotecast::stack::{StackConfig, start};
use quotecast_e2e::tansu::{self, ScramCluster};
use quotecast_e2e::{moto, stack_config, stack_subscriber};
use quotecast_esm::{EsmConfig, EsmError, EventSourceMapping};
use quotecast_producer::handler::now_ms;
use quotecast_producer::kafka::{
    KafkaSecurity, KafkaSettings, PublishError, QuotePublisher, ScramMechanism,
};
use quotecast_producer::{Config, Producer};
use quotecast_shared::Quote;
use quotecast_shared::realtime::ServerMessage;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const SECRET: &str = "AmazonMSK_quotecast";

fn client(bootstrap: &str, security: &KafkaSecurity) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in security.client_settings() {
        config.set(key, value);
    }
    config
}

/// Every record of partition 0 from the start, read over SASL_SSL.
fn read_back(cluster: &ScramCluster, expected: usize) -> Vec<Quote> {
    let consumer: BaseConsumer = client(&cluster.bootstrap(), &cluster.login())
        .set("group.id", "kafka-auth-readback")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&cluster.topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < expected && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            out.push(Quote::from_json(std::str::from_utf8(m.payload().unwrap()).unwrap()).unwrap());
        }
    }
    // Anything beyond what was expected would be a duplicate.
    if let Some(m) = consumer.poll(Duration::from_millis(500)) {
        panic!("an extra record: {:?}", m.map(|m| m.offset()));
    }
    out
}

/// The topic's end offset, read over SASL_SSL.
fn end_offset(cluster: &ScramCluster) -> i64 {
    let consumer: BaseConsumer = client(&cluster.bootstrap(), &cluster.login())
        .create()
        .unwrap();
    consumer
        .fetch_watermarks(&cluster.topic, 0, Duration::from_secs(20))
        .unwrap()
        .1
}

/// The MSK secret, as AWS keeps it, in moto's Secrets Manager.
async fn msk_secret(moto: &moto::Moto, cluster: &ScramCluster) -> aws_config::SdkConfig {
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )),
        )
        .build();
    aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(SECRET)
        .secret_string(
            serde_json::json!({"username": cluster.username, "password": cluster.password})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    sdk
}

/// A publish with `security` must fail as authentication, fast, and publish nothing.
async fn refused(cluster: &ScramCluster, security: KafkaSecurity, what: &str) {
    let before = end_offset(cluster);
    let publisher = QuotePublisher::new(&KafkaSettings {
        bootstrap_servers: cluster.bootstrap(),
        security,
        topic: cluster.topic.clone(),
        message_timeout: Duration::from_secs(120),
    })
    .unwrap();
    let quote = Quote::from_json(
        r#"{"symbol":"AMZN","timestamp":1700000000000,"open":1,"high":1,"low":1,"close":1,"volume":1}"#,
    )
    .unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(30), publisher.publish(&[quote]))
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in 30 s (a timeout, not a refusal)"));
    let elapsed = started.elapsed();
    match outcome {
        Err(e @ PublishError::Authentication { .. }) => {
            let text = e.to_string();
            assert!(text.contains("authentication failed"), "{what}: {text}");
            eprintln!("{what}: refused in {elapsed:?}: {text}");
        }
        other => panic!("{what}: {other:?}"),
    }
    assert!(elapsed < Duration::from_secs(15), "{what}: {elapsed:?}");
    drop(publisher);
    assert_eq!(end_offset(cluster), before, "{what}: nothing is produced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_over_tls_from_producer_to_subscriber() {
    let Some(bin) = tansu::binary() else {
        eprintln!(
            "SKIPPED: Tansu {} is not installed; `cargo xtask kafka-auth` installs it and runs this test",
            tansu::TANSU_VERSION
        );
        return;
    };
    let cluster = ScramCluster::start(&bin, "quotes", 1).await.unwrap();

    // 1. The producer Lambda, configured as on AWS: SASL_SSL, SCRAM-SHA-512, the login from
    //    the `AmazonMSK_` secret in Secrets Manager (moto), the CA verified.
    let moto = moto::start().await;
    let sdk = msk_secret(&moto, &cluster).await;
    let ca = cluster.ca_file().display().to_string();
    let bootstrap = cluster.bootstrap();
    let env = [
        ("BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("MSK_SECRET_ARN", SECRET),
        ("KAFKA_CA_FILE", ca.as_str()),
        ("SYMBOLS", "AMZN,TSLA,MSFT"),
        ("SIM_INTERVAL_MS", "1000"),
    ];
    let config = Config::from_lookup(|name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let producer = Producer::with_aws(&config, Some(&sdk)).await.unwrap();
    let mut published = 0;
    let mut at = now_ms();
    while published < 6 {
        at += 1000;
        published += producer.tick(at).await.unwrap();
    }
    let read = read_back(&cluster, published);
    assert_eq!(read.len(), published, "every quote comes back");
    assert!(read.iter().any(|q| q.symbol == "TSLA"));

    // 2. A wrong password and a wrong mechanism fail fast, named as authentication.
    refused(
        &cluster,
        cluster.security(ScramMechanism::Sha512, "not-the-password"),
        "wrong password",
    )
    .await;
    refused(
        &cluster,
        cluster.security(ScramMechanism::Sha256, &cluster.password),
        "wrong mechanism (SCRAM-SHA-256 for a SCRAM-SHA-512 user)",
    )
    .await;

    // The brokers' certificate is verified: trusting the system's CAs instead of the one
    // that signed it ends in a refused handshake, reported the same way.
    refused(
        &cluster,
        KafkaSecurity::msk_scram(cluster.username.clone(), cluster.password.clone()),
        "a CA that did not sign the broker's certificate",
    )
    .await;

    // The mapping names a refused login too (Lambda's trigger reports "SASL authentication
    // failed"), instead of a metadata time-out.
    let mut wrong = EsmConfig::new(&cluster.bootstrap(), &cluster.topic);
    wrong.security = cluster.security(ScramMechanism::Sha512, "not-the-password");
    match EventSourceMapping::connect(wrong).await {
        Err(EsmError::Authentication { reason, .. }) => eprintln!("mapping refused: {reason}"),
        Err(other) => panic!("the mapping's refusal: {other}"),
        Ok(_) => panic!("the mapping logged in with a wrong password"),
    }

    // 3. The whole stack on the secured cluster: producer → SCRAM broker → the mapping
    //    (SASL_SCRAM_512_AUTH) → consumer → AppSync → a subscriber.
    let stack = start(StackConfig {
        bootstrap_servers: Some(cluster.bootstrap()),
        kafka_security: cluster.login(),
        ..stack_config(&["NFLX"], Duration::from_millis(200))
    })
    .await
    .unwrap();
    let mut sub = stack_subscriber(stack.addr, Some(r#"{"name":{"eq":"NFLX"}}"#)).await;
    sub.set_timeout(Duration::from_secs(20));
    let mut delivered = 0;
    while delivered < 5 {
        match sub.recv().await.unwrap() {
            ServerMessage::Data { payload, .. } => {
                let channel = &payload["data"]["subscribe"];
                assert_eq!(channel["name"], "NFLX");
                delivered += 1;
            }
            ServerMessage::Ka => {}
            other => panic!("{other:?}"),
        }
    }
    stack.stop().await;
}
