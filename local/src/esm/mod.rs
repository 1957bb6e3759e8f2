//! An emulator of Lambda's Kafka event source mapping: it reads a topic, batches records
//! like AWS does, builds the exact event a Kafka-triggered Lambda receives, calls the handler,
//! and commits offsets only after success.
//!
//! Behaviour, as AWS documents it (`APPSYNC_SPEC.md` §D.3–D.5):
//! - a batch is sent when it holds `batch_size` records, when the batching window has passed
//!   since its first record, or when it reaches the 6 MB payload limit; a window of 0 sends
//!   what is there at once;
//! - partitions keep their order: one batch is in flight at a time;
//! - a handler error retries the whole batch; a partial batch response (`batchItemFailures`)
//!   commits what succeeded and delivers each failed partition again from its failed offset;
//!   retries back off exponentially (infinite retries, AWS's default);
//! - offsets are committed to the consumer group only after the handler succeeded for them.
//!
//! Partitions are assigned directly (no group join), so a batch flows within milliseconds of
//! start-up; committed offsets still live in the group (`group_id`), so a restart resumes.
//! Useful on its own: point it at any broker and any handler taking the `aws:kafka` JSON.

mod event;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use quotecast_shared::lambda::KafkaBatchResponse;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

pub use event::kafka_event;

/// Lambda's invocation payload limit.
pub const MAX_EVENT_BYTES: usize = 6 * 1024 * 1024;

/// Something that handles `aws:kafka` events: the consumer Lambda's handler, in-process.
pub trait BatchHandler: Send + Sync {
    fn invoke(
        &self,
        event: Value,
    ) -> impl Future<Output = Result<KafkaBatchResponse, String>> + Send;
}

#[derive(Debug, Clone)]
pub struct EsmConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    pub group_id: String,
    /// `BatchSize` (1–10,000; AWS default 100).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds` (AWS default 500 ms; 0 allowed).
    pub batching_window: Duration,
    /// Where to start in partitions without a committed offset: earliest (`TRIM_HORIZON`)
    /// or latest (`LATEST`).
    pub start_at_earliest: bool,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long the broker may hold a fetch open waiting for records (`fetch.wait.max.ms`):
    /// the floor of the read latency, traded against idle fetch requests.
    pub fetch_wait: Duration,
}

impl EsmConfig {
    pub fn new(bootstrap_servers: &str, topic: &str) -> Self {
        EsmConfig {
            bootstrap_servers: bootstrap_servers.to_owned(),
            topic: topic.to_owned(),
            group_id: "quotecast-esm".to_owned(),
            batch_size: 100,
            batching_window: Duration::from_millis(500),
            start_at_earliest: true,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            fetch_wait: Duration::from_millis(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("topic {0} does not exist or has no partitions")]
    NoTopic(String),
}

/// Counters, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EsmStats {
    pub invocations: u64,
    pub records_delivered: u64,
    pub failed_invocations: u64,
    pub partial_failures: u64,
}

/// How a delivery ended.
enum Delivery {
    /// Every record was handled and committed.
    Done,
    /// Shutdown came while a failed batch waited to be retried.
    Stopped,
}

pub struct EventSourceMapping {
    config: EsmConfig,
    consumer: StreamConsumer,
    stats: std::sync::Arc<std::sync::Mutex<EsmStats>>,
}

impl EventSourceMapping {
    /// Connects and assigns every partition of the topic at its committed offset.
    pub async fn connect(config: EsmConfig) -> Result<EventSourceMapping, EsmError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "fetch.wait.max.ms",
                config.fetch_wait.as_millis().max(1).to_string(),
            )
            .set(
                "auto.offset.reset",
                if config.start_at_earliest {
                    "earliest"
                } else {
                    "latest"
                },
            )
            .create()?;
        let metadata = consumer.fetch_metadata(Some(&config.topic), Duration::from_secs(10))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == config.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(EsmError::NoTopic(config.topic.clone()));
        }
        let mut wanted = TopicPartitionList::new();
        for p in &partitions {
            wanted.add_partition(&config.topic, *p);
        }
        let committed = consumer.committed_offsets(wanted, Duration::from_secs(10))?;
        let mut assignment = TopicPartitionList::new();
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ if config.start_at_earliest => Offset::Beginning,
                _ => Offset::End,
            };
            assignment.add_partition_offset(&config.topic, element.partition(), offset)?;
        }
        consumer.assign(&assignment)?;
        Ok(EventSourceMapping {
            config,
            consumer,
            stats: Default::default(),
        })
    }

    /// A handle on the counters, readable while the mapping runs.
    pub fn stats(&self) -> std::sync::Arc<std::sync::Mutex<EsmStats>> {
        self.stats.clone()
    }

    fn bump(&self, f: impl FnOnce(&mut EsmStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// Runs until `shutdown` resolves. The invocation in flight is finished and what it
    /// handled committed; a failed batch is not retried after `shutdown` (its records are
    /// uncommitted, so they are delivered again on the next run).
    pub async fn run<H: BatchHandler>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EsmError> {
        tokio::pin!(shutdown);
        loop {
            let first = tokio::select! {
                m = self.consumer.recv() => m?.detach(),
                _ = &mut shutdown => return Ok(()),
            };
            let batch = self.fill(first).await;
            if let Delivery::Stopped = self.deliver(&handler, batch, shutdown.as_mut()).await? {
                return Ok(());
            }
        }
    }

    /// Adds records to `first` until the batch is full, too big, or its window has passed.
    async fn fill(&self, first: OwnedMessage) -> Vec<OwnedMessage> {
        let deadline = Instant::now() + self.config.batching_window;
        let mut bytes = event::record_size(&first);
        let mut batch = vec![first];
        while batch.len() < self.config.batch_size {
            let wait = deadline.saturating_duration_since(Instant::now());
            let next = match tokio::time::timeout(wait, self.consumer.recv()).await {
                Ok(Ok(m)) => m.detach(),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka read error while batching");
                    break;
                }
                Err(_) => break,
            };
            let size = event::record_size(&next);
            if bytes + size > MAX_EVENT_BYTES {
                // It starts the next batch instead: put its partition back to it.
                let _ = self.consumer.seek(
                    next.topic(),
                    next.partition(),
                    Offset::Offset(next.offset()),
                    Duration::from_secs(5),
                );
                break;
            }
            bytes += size;
            batch.push(next);
        }
        batch
    }

    /// Invokes the handler until every record of `batch` has been handled, committing as it
    /// goes, or until `shutdown` resolves while it waits to retry.
    async fn deliver<H: BatchHandler>(
        &self,
        handler: &H,
        mut batch: Vec<OwnedMessage>,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<Delivery, EsmError> {
        let mut attempt = 0u32;
        while !batch.is_empty() {
            let event = kafka_event(&self.config.bootstrap_servers, &batch);
            self.bump(|s| s.invocations += 1);
            match handler.invoke(event).await {
                Ok(response) => {
                    let (done, retry) = split_by_response(batch, &response);
                    self.commit(&done)?;
                    self.bump(|s| s.records_delivered += done.len() as u64);
                    if retry.is_empty() {
                        return Ok(Delivery::Done);
                    }
                    self.bump(|s| s.partial_failures += 1);
                    tracing::warn!(
                        records = retry.len(),
                        "partial batch failure; redelivering from the failed offsets"
                    );
                    batch = retry;
                }
                Err(e) => {
                    self.bump(|s| s.failed_invocations += 1);
                    tracing::warn!(error = %e, records = batch.len(), "handler failed; retrying the batch");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.backoff(attempt)) => {}
                _ = &mut shutdown => return Ok(Delivery::Stopped),
            }
            attempt += 1;
        }
        Ok(Delivery::Done)
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.config
            .retry_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.config.retry_max)
    }

    /// Commits the offset after the last handled record of each partition.
    fn commit(&self, done: &[OwnedMessage]) -> Result<(), EsmError> {
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for m in done {
            let e = next
                .entry((m.topic().to_owned(), m.partition()))
                .or_insert(0);
            *e = (*e).max(m.offset() + 1);
        }
        if next.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in next {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
        }
        self.consumer.commit(&tpl, CommitMode::Async)?;
        Ok(())
    }
}

/// Splits a batch into the records handled (everything of a partition before its reported
/// failure) and those to deliver again (from the failure on), keeping offset order.
pub fn split_by_response(
    batch: Vec<OwnedMessage>,
    response: &KafkaBatchResponse,
) -> (Vec<OwnedMessage>, Vec<OwnedMessage>) {
    if response.batch_item_failures.is_empty() {
        return (batch, Vec::new());
    }
    batch.into_iter().partition(|m| {
        let key = format!("{}-{}", m.topic(), m.partition());
        response
            .failed_offset(&key)
            .is_none_or(|failed| m.offset() < failed)
    })
}
