//! Publishing quotes to Kafka: key = symbol (so a symbol's quotes stay in order on one
//! partition), idempotent producer, lz4 compression, and every delivery report awaited
//! before returning. A failure names the topic, partition and key; nothing is dropped
//! silently.

use std::collections::VecDeque;
use std::time::Duration;

use quotecast_shared::Quote;
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

/// How the client reaches the brokers.
#[derive(Clone, PartialEq)]
pub enum Security {
    Plaintext,
    /// SASL_SSL with SCRAM-SHA-512, as Amazon MSK's SASL/SCRAM listener wants.
    SaslScram {
        username: String,
        password: String,
    },
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Security::Plaintext => f.write_str("Plaintext"),
            Security::SaslScram { username, .. } => write!(
                f,
                "SaslScram {{ username: {username:?}, password: <redacted> }}"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    pub security: Security,
    pub topic: String,
    /// How long librdkafka may try to deliver one message before reporting it failed.
    pub message_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot create the Kafka producer: {0}")]
    Client(KafkaError),
    #[error(transparent)]
    Delivery(Box<DeliveryFailure>),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{failed} of {total} quotes were not delivered; first: topic {topic}, partition {partition}, key {key}: {error}"
)]
pub struct DeliveryFailure {
    pub failed: usize,
    pub total: usize,
    pub topic: String,
    pub partition: String,
    pub key: String,
    pub error: KafkaError,
}

/// One producer per container: connections and idempotence state are kept across invocations.
pub struct QuotePublisher {
    producer: FutureProducer,
    topic: String,
}

impl QuotePublisher {
    pub fn new(settings: &KafkaSettings) -> Result<QuotePublisher, PublishError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &settings.bootstrap_servers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "lz4")
            .set("linger.ms", "1")
            .set(
                "message.timeout.ms",
                settings.message_timeout.as_millis().to_string(),
            );
        if let Security::SaslScram { username, password } = &settings.security {
            config
                .set("security.protocol", "SASL_SSL")
                .set("sasl.mechanism", "SCRAM-SHA-512")
                .set("sasl.username", username)
                .set("sasl.password", password)
                .set("ssl.ca.location", "probe");
        }
        Ok(QuotePublisher {
            producer: config.create().map_err(PublishError::Client)?,
            topic: settings.topic.clone(),
        })
    }

    /// Publishes `quotes` in order and waits until the broker has acknowledged every one.
    pub async fn publish(&self, quotes: &[Quote]) -> Result<usize, PublishError> {
        let mut pending: VecDeque<(String, DeliveryFuture)> = VecDeque::with_capacity(quotes.len());
        let mut failures: Vec<(String, String, KafkaError)> = Vec::new();
        for quote in quotes {
            let payload = quote.to_json();
            loop {
                let record = FutureRecord::to(&self.topic)
                    .key(quote.symbol.as_bytes())
                    .payload(payload.as_bytes())
                    .timestamp(quote.timestamp);
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push_back((quote.symbol.clone(), delivery));
                        break;
                    }
                    // The local queue is full: wait for the oldest delivery to make room.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        match pending.pop_front() {
                            Some((key, delivery)) => {
                                record_outcome(key, delivery.await, &mut failures)
                            }
                            None => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                    Err((error, _)) => {
                        failures.push((quote.symbol.clone(), "unassigned".to_owned(), error));
                        break;
                    }
                }
            }
        }
        for (key, delivery) in pending {
            record_outcome(key, delivery.await, &mut failures);
        }
        let failed = failures.len();
        match failures.into_iter().next() {
            None => Ok(quotes.len()),
            Some((key, partition, error)) => {
                Err(PublishError::Delivery(Box::new(DeliveryFailure {
                    failed,
                    total: quotes.len(),
                    topic: self.topic.clone(),
                    partition,
                    key,
                    error,
                })))
            }
        }
    }

    /// Waits for everything queued to be delivered (at shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.producer.flush(timeout)
    }
}

/// Notes a failed delivery; `Err(_)` of the outer result means the producer went away.
fn record_outcome<E>(
    key: String,
    outcome: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, E>,
    failures: &mut Vec<(String, String, KafkaError)>,
) {
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err((error, message))) => {
            use rdkafka::Message;
            failures.push((key, message.partition().to_string(), error));
        }
        Err(_) => failures.push((key, "unknown".to_owned(), KafkaError::Canceled)),
    }
}
