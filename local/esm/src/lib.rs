//! The local twin of AWS Lambda's Kafka event source mapping (the MSK trigger): it reads a
//! topic, batches records like AWS does, builds the exact event a Kafka-triggered Lambda
//! receives, calls the handler, and commits offsets only after success.
//!
//! What it implements: batch size, batching window and the 6 MB payload limit; the
//! `aws:kafka` event (`SelfManagedKafka`, records by `topic-partition`, base64 key and value,
//! headers as signed bytes); one batch in flight; commits after success; partial batch
//! responses (`batchItemFailures`) and retries with backoff.
//!
//! What it deliberately leaves out: scaling pollers with the lag, group rebalancing (it
//! assigns every partition to itself), the on-failure destination, filtering criteria,
//! `MaximumRecordAgeInSeconds`/`MaximumRetryAttempts` (AWS's defaults, infinite, are what it
//! does), and the `OffsetLag` metric. The handler is any [`BatchHandler`], in-process.
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
//! Nothing is skipped and the mapping does not give up on its own:
//! - a read error while idle (a broker restarting, a network blip) is logged and the read
//!   retried with the same backoff as the handler, until it works or shutdown; before, the
//!   first one ended the mapping for good;
//! - a record that would push a batch past 6 MB is carried over as the first record of the
//!   next batch. The old way, a seek back to it, could fail, and a failed seek lost the
//!   record (its successors were handled and committed). Nothing here seeks any more;
//! - commits during the run are asynchronous (they cost the pipeline no round trip), and at
//!   shutdown every handled offset is committed once more, synchronously, so "Ctrl-C commits
//!   the batch" holds when `run` returns instead of depending on librdkafka flushing at drop.
//!
//! Partitions are assigned directly (no group join), so a batch flows within milliseconds of
//! start-up; committed offsets still live in the group (`group_id`), so a restart resumes.
//! Useful on its own: point it at any broker and any handler taking the `aws:kafka` JSON.

mod event;
mod login;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quotecast_shared::kafka_security::KafkaSecurity;
use quotecast_shared::lambda::KafkaBatchResponse;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

pub use event::kafka_event;
use login::LoginRefusals;

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
    /// How to reach the brokers: plaintext, or SASL_SSL with SCRAM as the MSK trigger's
    /// `SourceAccessConfigurations: SASL_SCRAM_512_AUTH` does.
    pub security: KafkaSecurity,
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
    /// How long shutdown waits for the broker to confirm the final commit. librdkafka's
    /// synchronous commit has no timeout of its own and waits forever for a broker that
    /// is gone; past this limit the commit is reported and its records are delivered again.
    pub shutdown_commit_limit: Duration,
}

impl EsmConfig {
    pub fn new(bootstrap_servers: &str, topic: &str) -> Self {
        EsmConfig {
            bootstrap_servers: bootstrap_servers.to_owned(),
            security: KafkaSecurity::Plaintext,
            topic: topic.to_owned(),
            group_id: "quotecast-esm".to_owned(),
            batch_size: 100,
            batching_window: Duration::from_millis(500),
            start_at_earliest: true,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            fetch_wait: Duration::from_millis(1),
            shutdown_commit_limit: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EsmError {
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the final commit could not run: {0}")]
    CommitTask(String),
    #[error(
        "the broker did not confirm the final commit within {0:?}; \
         records handled since the last commit will be delivered again"
    )]
    CommitTimedOut(Duration),
    #[error("topic {0} does not exist or has no partitions")]
    NoTopic(String),
    #[error("Kafka authentication failed at {bootstrap_servers}: {reason}")]
    Authentication {
        bootstrap_servers: String,
        reason: String,
    },
}

/// Counters, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EsmStats {
    pub invocations: u64,
    pub records_delivered: u64,
    pub failed_invocations: u64,
    pub partial_failures: u64,
    /// Read errors from Kafka, each retried.
    pub read_errors: u64,
}

/// How a delivery ended.
enum Delivery {
    /// Every record was handled and committed.
    Done,
    /// Shutdown came while a failed batch waited to be retried.
    Stopped,
}

/// Why the brokers could not be reached, if they refused the login. librdkafka hands a
/// consumer's errors to the consumer's queue, so a refusal is known only once the queue is
/// read: it is read here for up to a second.
async fn login_refusal(
    consumer: &StreamConsumer<LoginRefusals>,
    refusals: &LoginRefusals,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Some(reason) = refusals.last() {
            return Some(reason);
        }
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await
            && login::is_login_refusal(&e)
        {
            return Some(e.to_string());
        }
    }
    refusals.last()
}

pub struct EventSourceMapping {
    config: EsmConfig,
    /// Shared with the blocking task of the final, synchronous commit.
    consumer: Arc<StreamConsumer<LoginRefusals>>,
    stats: Arc<Mutex<EsmStats>>,
    /// The next offset of every partition handled so far: what the final commit writes.
    handled: Mutex<BTreeMap<(String, i32), i64>>,
    /// A record read but left for the next batch (it did not fit in the last one).
    carried: Mutex<Option<OwnedMessage>>,
    /// Test seam: read errors to return before reading from Kafka.
    #[cfg(test)]
    injected_read_errors: Mutex<Vec<KafkaError>>,
}

impl EventSourceMapping {
    /// Connects and assigns every partition of the topic at its committed offset.
    pub async fn connect(config: EsmConfig) -> Result<EventSourceMapping, EsmError> {
        let mut client = ClientConfig::new();
        for (key, value) in config.security.client_settings() {
            client.set(key, value);
        }
        let refusals = LoginRefusals::default();
        let consumer: StreamConsumer<LoginRefusals> = client
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
            .create_with_context(refusals.clone())?;
        let metadata = match consumer.fetch_metadata(Some(&config.topic), Duration::from_secs(10)) {
            Ok(metadata) => metadata,
            Err(e) => {
                return Err(match login_refusal(&consumer, &refusals).await {
                    Some(reason) => EsmError::Authentication {
                        bootstrap_servers: config.bootstrap_servers.clone(),
                        reason,
                    },
                    None => EsmError::Kafka(e),
                });
            }
        };
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
            consumer: Arc::new(consumer),
            stats: Default::default(),
            handled: Default::default(),
            carried: Default::default(),
            #[cfg(test)]
            injected_read_errors: Default::default(),
        })
    }

    /// A handle on the counters, readable while the mapping runs.
    pub fn stats(&self) -> Arc<Mutex<EsmStats>> {
        self.stats.clone()
    }

    /// The next record: the one carried over from the last batch, else one from Kafka.
    async fn recv(&self) -> Result<OwnedMessage, KafkaError> {
        if let Some(m) = self.carried.lock().ok().and_then(|mut c| c.take()) {
            return Ok(m);
        }
        #[cfg(test)]
        if let Some(e) = self
            .injected_read_errors
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
        {
            return Err(e);
        }
        self.consumer.recv().await.map(|m| m.detach())
    }

    fn bump(&self, f: impl FnOnce(&mut EsmStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// Runs until `shutdown` resolves. The invocation in flight is finished and what it
    /// handled committed, synchronously, before this returns; a failed batch is not retried
    /// after `shutdown` (its records are uncommitted, so they are delivered again on the
    /// next run). Read errors are retried with backoff, never fatal.
    pub async fn run<H: BatchHandler>(
        self,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EsmError> {
        self.run_until(&handler, shutdown).await;
        self.commit_handled_sync().await
    }

    async fn run_until<H: BatchHandler>(&self, handler: &H, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut read_failures = 0u32;
        loop {
            let first = tokio::select! {
                m = self.recv() => m,
                _ = &mut shutdown => return,
            };
            let first = match first {
                Ok(m) => {
                    read_failures = 0;
                    m
                }
                Err(e) => {
                    self.bump(|s| s.read_errors += 1);
                    let wait = self.backoff(read_failures);
                    read_failures = read_failures.saturating_add(1);
                    tracing::warn!(error = %e, retry_in = ?wait, "Kafka read error; reading again");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = &mut shutdown => return,
                    }
                }
            };
            let batch = self.fill(first).await;
            if let Delivery::Stopped = self.deliver(handler, batch, shutdown.as_mut()).await {
                return;
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
            let next = match tokio::time::timeout(wait, self.recv()).await {
                Ok(Ok(m)) => m,
                Ok(Err(e)) => {
                    // What was read so far goes out; the idle loop retries the read.
                    self.bump(|s| s.read_errors += 1);
                    tracing::warn!(error = %e, "Kafka read error while batching");
                    break;
                }
                Err(_) => break,
            };
            let size = event::record_size(&next);
            if bytes + size > MAX_EVENT_BYTES {
                // It starts the next batch instead. Kept here rather than sought back to:
                // a seek can fail, and the record would then be lost.
                if let Ok(mut carried) = self.carried.lock() {
                    *carried = Some(next);
                }
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
    ) -> Delivery {
        let mut attempt = 0u32;
        while !batch.is_empty() {
            let event = kafka_event(&self.config.bootstrap_servers, &batch);
            self.bump(|s| s.invocations += 1);
            match handler.invoke(event).await {
                Ok(response) => {
                    let (done, retry) = split_by_response(batch, &response);
                    self.commit(&done);
                    self.bump(|s| s.records_delivered += done.len() as u64);
                    if retry.is_empty() {
                        return Delivery::Done;
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
                _ = &mut shutdown => return Delivery::Stopped,
            }
            attempt += 1;
        }
        Delivery::Done
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.config
            .retry_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.config.retry_max)
    }

    /// Records the offset after the last handled record of each partition and commits every
    /// partition's handled offset, asynchronously. A failed commit is logged, not fatal: the
    /// next commit (or the final one) carries the same offsets again.
    fn commit(&self, done: &[OwnedMessage]) {
        let handled = {
            let Ok(mut handled) = self.handled.lock() else {
                return;
            };
            for m in done {
                let e = handled
                    .entry((m.topic().to_owned(), m.partition()))
                    .or_insert(0);
                *e = (*e).max(m.offset() + 1);
            }
            handled.clone()
        };
        if handled.is_empty() {
            return;
        }
        let committed =
            offsets_list(&handled).and_then(|tpl| self.consumer.commit(&tpl, CommitMode::Async));
        if let Err(e) = committed {
            tracing::warn!(error = %e, "offset commit failed; the next commit carries it again");
        }
    }

    /// Commits every handled offset again and waits for the broker's answer, at most
    /// `shutdown_commit_limit`. The synchronous commit blocks without a timeout of its own,
    /// so it runs on a thread of its own rather than the runtime's blocking pool: a runtime
    /// waits for its blocking tasks when it is dropped, and one stuck on a vanished broker
    /// would hang the process that owns it.
    async fn commit_handled_sync(&self) -> Result<(), EsmError> {
        let handled = match self.handled.lock() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if handled.is_empty() {
            return Ok(());
        }
        let tpl = offsets_list(&handled)?;
        let consumer = self.consumer.clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("esm-final-commit".to_owned())
            .spawn(move || {
                let _ = answer.send(consumer.commit(&tpl, CommitMode::Sync));
            })
            .map_err(|e| EsmError::CommitTask(e.to_string()))?;
        let limit = self.config.shutdown_commit_limit;
        match tokio::time::timeout(limit, answered).await {
            Ok(Ok(committed)) => committed?,
            Ok(Err(_)) => return Err(EsmError::CommitTask("the commit thread ended".to_owned())),
            Err(_) => return Err(EsmError::CommitTimedOut(limit)),
        }
        tracing::debug!(partitions = handled.len(), "offsets committed at shutdown");
        Ok(())
    }
}

fn offsets_list(next: &BTreeMap<(String, i32), i64>) -> Result<TopicPartitionList, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    Ok(tpl)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rdkafka::consumer::BaseConsumer;
    use rdkafka::error::RDKafkaErrorCode;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    use super::*;
    use quotecast_msk::EmbeddedBroker;

    /// A handler that succeeds and records, per invocation, the (partition, offset) of each
    /// record and the event's size.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Invocation>>>);

    /// The (partition, offset) of each record of one invocation, and the event's size.
    type Invocation = (Vec<(i64, i64)>, usize);

    impl Recorder {
        fn offsets(&self) -> Vec<(i64, i64)> {
            let calls = self.0.lock().unwrap();
            calls.iter().flat_map(|(r, _)| r.clone()).collect()
        }

        async fn wait_for(&self, records: usize) {
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.offsets().len() < records {
                assert!(
                    Instant::now() < deadline,
                    "only {:?} delivered",
                    self.offsets()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    impl BatchHandler for Recorder {
        async fn invoke(&self, event: Value) -> Result<KafkaBatchResponse, String> {
            let mut records: Vec<(i64, i64)> = event["records"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(Value::as_array)
                .flatten()
                .map(|r| {
                    let n = |k: &str| r[k].as_i64().unwrap_or(-1);
                    (n("partition"), n("offset"))
                })
                .collect();
            records.sort_unstable();
            let size = event.to_string().len();
            self.0.lock().unwrap().push((records, size));
            Ok(KafkaBatchResponse::default())
        }
    }

    async fn produce(bootstrap: &str, partition: i32, count: usize, bytes: usize) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("message.max.bytes", "2000000")
            .create()
            .unwrap();
        let payload = vec![b'q'; bytes];
        for _ in 0..count {
            producer
                .send(
                    FutureRecord::<[u8], [u8]>::to("quotes")
                        .partition(partition)
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }

    fn config(bootstrap: &str) -> EsmConfig {
        let mut c = EsmConfig::new(bootstrap, "quotes");
        c.group_id = "esm-test".to_owned();
        c.batching_window = Duration::from_millis(300);
        c.retry_base = Duration::from_millis(5);
        c.retry_max = Duration::from_millis(50);
        c
    }

    /// The group's committed offsets of partitions 0..`partitions`, read by a client of its own.
    fn committed(bootstrap: &str, partitions: i32) -> Vec<Offset> {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "esm-test")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition("quotes", p);
        }
        let committed = reader
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        committed.elements().iter().map(|e| e.offset()).collect()
    }

    /// Issue 13: the first read error while idle ended the mapping for good.
    #[tokio::test]
    async fn read_errors_while_idle_are_retried_and_the_mapping_goes_on() {
        let broker = EmbeddedBroker::start("quotes", 1).unwrap();
        let bootstrap = broker.bootstrap_servers().to_owned();
        produce(&bootstrap, 0, 5, 100).await;
        let esm = EventSourceMapping::connect(config(&bootstrap))
            .await
            .unwrap();
        let transport = KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure);
        esm.injected_read_errors.lock().unwrap().extend([
            transport.clone(),
            transport.clone(),
            transport,
        ]);
        let stats = esm.stats();
        let handler = Recorder::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(esm.run(handler.clone(), async move {
            let _ = stopped.await;
        }));
        handler.wait_for(5).await;
        let _ = stop.send(());
        task.await.unwrap().unwrap();
        assert_eq!(
            handler.offsets(),
            (0..5).map(|o| (0, o)).collect::<Vec<_>>()
        );
        assert_eq!(stats.lock().unwrap().read_errors, 3);
    }

    /// A record that does not fit in the 6 MB event starts the next one: none is lost, order
    /// holds, and no event is over the limit.
    #[tokio::test]
    async fn a_record_past_the_event_limit_starts_the_next_batch_and_none_is_lost() {
        // Two partitions: the mock broker keeps about 5 MB per partition.
        let broker = EmbeddedBroker::start("quotes", 2).unwrap();
        let bootstrap = broker.bootstrap_servers().to_owned();
        // 900 KB each (1.2 MB in base64): five fit in one event, the sixth does not.
        produce(&bootstrap, 0, 4, 900_000).await;
        produce(&bootstrap, 1, 4, 900_000).await;
        let mut c = config(&bootstrap);
        c.batching_window = Duration::from_secs(2);
        let esm = EventSourceMapping::connect(c).await.unwrap();
        let handler = Recorder::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(esm.run(handler.clone(), async move {
            let _ = stopped.await;
        }));
        handler.wait_for(8).await;
        let _ = stop.send(());
        task.await.unwrap().unwrap();
        let calls = handler.0.lock().unwrap().clone();
        assert!(calls.len() >= 2, "split: {}", calls.len());
        assert!(calls.iter().all(|(_, size)| *size <= MAX_EVENT_BYTES));
        for p in 0..2 {
            let offsets: Vec<i64> = handler
                .offsets()
                .iter()
                .filter(|(partition, _)| *partition == p)
                .map(|(_, o)| *o)
                .collect();
            assert_eq!(offsets, [0, 1, 2, 3], "partition {p}: all, once, in order");
        }
        assert_eq!(
            committed(&bootstrap, 2),
            [Offset::Offset(4), Offset::Offset(4)]
        );
    }

    /// Three records produced to partition 0 and handled by a running mapping: the switch
    /// that stops it, and its task.
    async fn three_handled(
        config: EsmConfig,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<(), EsmError>>,
    ) {
        produce(&config.bootstrap_servers, 0, 3, 100).await;
        let esm = EventSourceMapping::connect(config).await.unwrap();
        let handler = Recorder::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(esm.run(handler.clone(), async move {
            let _ = stopped.await;
        }));
        handler.wait_for(3).await;
        (stop, task)
    }

    /// At shutdown every handled offset is committed, and confirmed, before `run` returns.
    #[tokio::test]
    async fn shutdown_commits_what_was_handled_before_run_returns() {
        let broker = EmbeddedBroker::start("quotes", 1).unwrap();
        let bootstrap = broker.bootstrap_servers().to_owned();
        let (stop, task) = three_handled(config(&bootstrap)).await;
        let _ = stop.send(());
        task.await.unwrap().unwrap();
        assert_eq!(committed(&bootstrap, 1), [Offset::Offset(3)]);
    }

    /// A broker gone before shutdown once hung a panicking test for good: the final
    /// commit waited forever on the runtime's blocking pool, and the runtime's drop
    /// waited for it.
    #[tokio::test]
    async fn the_final_commit_gives_up_on_a_broker_that_is_gone() {
        let broker = EmbeddedBroker::start("quotes", 1).unwrap();
        let bootstrap = broker.bootstrap_servers().to_owned();
        let limit = Duration::from_secs(1);
        let (stop, task) = three_handled(EsmConfig {
            shutdown_commit_limit: limit,
            ..config(&bootstrap)
        })
        .await;
        drop(broker);
        let _ = stop.send(());
        let ended = tokio::time::timeout(limit * 10, task)
            .await
            .expect("run returns after the limit");
        assert!(
            matches!(ended.unwrap(), Err(EsmError::CommitTimedOut(l)) if l == limit),
            "the lost commit is reported"
        );
    }
}
