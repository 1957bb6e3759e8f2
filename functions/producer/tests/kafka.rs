//! Publishing into a real Kafka protocol peer (librdkafka's mock cluster, the embedded broker
//! of the local stack) and reading back with a real consumer.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use quotecast_producer::Producer;
use quotecast_producer::kafka::{KafkaSecurity, KafkaSettings, PublishError, QuotePublisher};
use quotecast_producer::source::sim::Simulator;
use quotecast_shared::Quote;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

fn settings(bootstrap: &str) -> KafkaSettings {
    KafkaSettings {
        bootstrap_servers: bootstrap.to_owned(),
        security: KafkaSecurity::Plaintext,
        topic: "quotes".to_owned(),
        message_timeout: Duration::from_secs(10),
    }
}

/// Every record on the topic: (partition, key, quote), in partition order.
fn read_all(bootstrap: &str, expected: usize) -> Vec<(i32, String, Quote)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "readback")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset("quotes", p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let quote =
                Quote::from_json(std::str::from_utf8(m.payload().unwrap()).unwrap()).unwrap();
            out.push((m.partition(), key, quote));
        }
    }
    // Anything beyond what was expected would be a duplicate.
    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
        panic!("unexpected extra record at offset {}", m.offset());
    }
    out
}

#[tokio::test]
async fn every_quote_arrives_keyed_by_symbol_in_order_on_one_partition() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("quotes", PARTITIONS, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let symbols: Vec<String> = (0..20).map(|i| format!("SYM{i:02}")).collect();
    let start = 1_700_000_000_000;
    let producer = Producer::new(
        Simulator::new(9, &symbols, 1000, start),
        QuotePublisher::new(&settings(&bootstrap)).unwrap(),
        None,
    );
    let mut published = 0;
    for second in 1..=50 {
        published += producer.tick(start + second * 1000).await.unwrap();
    }
    assert_eq!(published, 20 * 50);

    let expected = Simulator::new(9, &symbols, 1000, start).advance_to(start + 50_000);
    let records = read_all(&bootstrap, expected.len());
    assert_eq!(records.len(), expected.len(), "no loss, no duplicates");
    let mut by_symbol: BTreeMap<String, Vec<&Quote>> = BTreeMap::new();
    let mut partitions: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (partition, key, quote) in &records {
        assert_eq!(key, &quote.symbol, "key = symbol");
        by_symbol.entry(key.clone()).or_default().push(quote);
        partitions
            .entry(key.clone())
            .or_default()
            .insert(*partition);
    }
    for symbol in &symbols {
        assert_eq!(
            partitions[symbol].len(),
            1,
            "{symbol} stays on one partition"
        );
        let want: Vec<&Quote> = expected.iter().filter(|q| &q.symbol == symbol).collect();
        assert_eq!(by_symbol[symbol], want, "{symbol}: exact values, in order");
    }
    let used: BTreeSet<i32> = partitions.values().flatten().copied().collect();
    assert!(used.len() > 1, "symbols spread over partitions");
}

#[tokio::test]
async fn an_unreachable_broker_is_a_clear_error_not_a_hang() {
    let mut s = settings("127.0.0.1:1");
    s.message_timeout = Duration::from_millis(1500);
    let publisher = QuotePublisher::new(&s).unwrap();
    let quote = Quote::new("AMZN", 1, [1.0, 2.0, 0.5, 1.5], 10).unwrap();
    let started = Instant::now();
    let err = publisher
        .publish(&[quote.clone(), quote])
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let PublishError::Delivery(failure) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (failure.failed, failure.total, failure.key.as_str()),
        (2, 2, "AMZN")
    );
    let text = err.to_string();
    assert!(
        text.contains("topic quotes") && text.contains("key AMZN"),
        "{text}"
    );
}

#[tokio::test]
async fn an_emit_window_publishes_every_interval_until_it_closes() {
    use quotecast_producer::config::EmitWindow;
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("quotes", PARTITIONS, 1).unwrap();
    let symbols = vec!["AMZN".to_owned(), "TSLA".to_owned()];
    let window = EmitWindow {
        duration: Duration::from_millis(1000),
        every: Duration::from_millis(200),
    };
    let sim = Simulator::new(3, &symbols, 100, quotecast_producer::handler::now_ms());
    let producer = Producer::new(
        sim,
        QuotePublisher::new(&settings(&cluster.bootstrap_servers())).unwrap(),
        Some(window),
    );
    let started = Instant::now();
    let report = producer.invoke().await.unwrap();
    assert_eq!(report.polls, 5, "at 0, 200, 400, 600 and 800 ms");
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!(
        report.published >= 2 * 7,
        "about two bars per symbol per poll: {report:?}"
    );
    assert_eq!(
        read_all(&cluster.bootstrap_servers(), report.published).len(),
        report.published
    );
}
