//! Producer benchmark (`cargo xtask bench producer`): quotes per second published into the
//! embedded broker (librdkafka's mock cluster) with every delivery confirmed.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use quotecast_producer::kafka::{KafkaSecurity, KafkaSettings, QuotePublisher};
use quotecast_producer::source::sim::Simulator;
use rdkafka::mocking::MockCluster;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("quotes", 4, 1).unwrap();
    let publisher = QuotePublisher::new(&KafkaSettings {
        bootstrap_servers: cluster.bootstrap_servers(),
        security: KafkaSecurity::Plaintext,
        topic: "quotes".to_owned(),
        message_timeout: Duration::from_secs(30),
    })
    .unwrap();
    let symbols: Vec<String> = (0..50).map(|i| format!("S{i:02}")).collect();
    let mut sim = Simulator::new(1, &symbols, 1000, 0);
    // 200 bars of 50 symbols per call: 10,000 quotes, every delivery awaited.
    let batches: Vec<_> = (1..=101).map(|i| sim.advance_to(i * 200_000)).collect();
    publisher.publish(&batches[0]).await.unwrap();
    let started = Instant::now();
    let mut total = 0;
    for batch in &batches[1..] {
        total += publisher.publish(batch).await.unwrap();
    }
    let elapsed = started.elapsed();
    println!(
        "producer: {total} quotes in batches of {} into the embedded broker (4 partitions, lz4, idempotent, acks=all)",
        batches[1].len()
    );
    println!(
        "  quotes/s (deliveries confirmed)  {:.0}",
        total as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  time                             {:.2} s",
        elapsed.as_secs_f64()
    );
}
