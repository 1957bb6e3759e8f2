//! The handler: one Kafka batch in, a partial batch response out.
//!
//! Partitions are independent and run concurrently; inside one, records go out strictly in
//! offset order, in requests of up to `chunk_size` aliased mutations. A request that still
//! fails after its retries stops its partition: the offset of its first unpublished record
//! is reported, and nothing after it in that partition is sent, so a redelivery starts
//! exactly there and order holds.
//!
//! One deadline bounds the whole invocation (`RETRY_BUDGET_MS` from its start): no request,
//! first attempt or retry, of any partition starts after it, and partitions unfinished then
//! are reported. With `REQUEST_TIMEOUT_MS` bounding the last request in flight, an
//! invocation ends within their sum, below the function's timeout, so a slow AppSync costs a
//! redelivery of the unfinished partitions, not of the whole batch.
//!
//! With a history table, each request's bars are stored first (`BatchWriteItem`, retried
//! within the same deadline) and published only once stored: a bar is done when both
//! succeeded, and a client that subscribes, waits for `start_ack` and then reads the history
//! cannot miss a bar between the two (stored before it is published, so a bar published
//! before the subscription was live is already in the history read after it).
//!
//! A field error skips its record only when [`classify`](crate::appsync::classify) says the
//! refusal is about that record's own data; any other field error stops the partition at
//! that record like a failed request.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use futures_util::StreamExt;
use quotecast_shared::graphql::PublishBatch;
use quotecast_shared::lambda::KafkaBatchResponse;
use serde_json::Value;

use crate::appsync::{AppSyncClient, Auth, FieldErrorKind, PublishError, Published};
use crate::config::{AuthConfig, Config};
use crate::history::{HistoryBar, HistoryError, HistoryWriter, MAX_ITEM_BYTES, dedup_last_wins};
use crate::metrics::{self, Totals};
use crate::records::{Skip, bar_of, decode_event, partitions};
use crate::retry::{Jitter, RetryPolicy, Retryable};
use crate::same_ms::SameMillisecond;
use crate::secrets::{self, SecretError};
use crate::signing::env_credentials;
pub use crate::stats::BatchStats;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "AWS credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) are not in the environment"
    )]
    NoCredentials,
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

pub struct Consumer {
    client: AppSyncClient,
    /// Counts since start, read locally at `GET /metrics`.
    totals: Arc<Totals>,
    /// One CloudWatch EMF line per invocation on stdout, named for this function (the
    /// Lambda binary only).
    emf: Option<String>,
    history: Option<HistoryWriter>,
    chunk_size: usize,
    max_request_bytes: usize,
    concurrency: usize,
    retry: RetryPolicy,
}

impl Consumer {
    /// Builds the consumer with an explicit AppSync auth (tests, the local stack).
    /// The history (if configured) is written with the IAM credentials of `auth`, or else
    /// those of the environment.
    pub fn new(config: &Config, auth: Auth) -> Result<Consumer, InitError> {
        let history = match &config.history {
            None => None,
            Some(target) => {
                let credentials = match &auth {
                    Auth::Iam { credentials, .. } => credentials.clone(),
                    Auth::ApiKey(_) => env_credentials().ok_or(InitError::NoCredentials)?,
                };
                Some(HistoryWriter::new(
                    target.clone(),
                    &config.region,
                    credentials,
                    config.request_timeout,
                )?)
            }
        };
        Ok(Consumer {
            totals: Arc::new(Totals::default()),
            emf: None,
            history,
            client: AppSyncClient::new(&config.appsync_url, auth, config.request_timeout)?,
            chunk_size: config.chunk_size,
            max_request_bytes: config.max_request_bytes,
            concurrency: config.partition_concurrency,
            retry: config.retry,
        })
    }

    /// Builds the consumer as a Lambda container starts: credentials from the environment,
    /// the API key from Secrets Manager when configured so. Done once, not per invocation.
    pub async fn from_config(config: &Config) -> Result<Consumer, InitError> {
        let auth = match &config.auth {
            AuthConfig::ApiKey(key) => Auth::ApiKey(key.clone()),
            AuthConfig::Iam => Auth::Iam {
                credentials: env_credentials().ok_or(InitError::NoCredentials)?,
                region: config.region.clone(),
            },
            AuthConfig::ApiKeySecret(secret_id) => {
                let credentials = env_credentials().ok_or(InitError::NoCredentials)?;
                let http = reqwest::Client::builder()
                    .timeout(config.request_timeout)
                    .build()?;
                let endpoint = secrets::endpoint(&config.region);
                Auth::ApiKey(
                    secrets::api_key_from_secret(
                        &http,
                        &endpoint,
                        &config.region,
                        secret_id,
                        &credentials,
                    )
                    .await?,
                )
            }
        };
        Consumer::new(config, auth)
    }

    /// Writes one CloudWatch embedded-metric-format line per invocation to stdout, which
    /// Lambda's log capture turns into metrics of `function` (`metrics.rs`).
    pub fn emitting_emf(mut self, function: impl Into<String>) -> Consumer {
        self.emf = Some(function.into());
        self
    }

    /// Counts into `totals` (shared with whoever reads them) rather than its own.
    pub fn with_totals(mut self, totals: Arc<Totals>) -> Consumer {
        self.totals = totals;
        self
    }

    /// The counts since this consumer started (shared: read them while it runs).
    pub fn totals(&self) -> Arc<Totals> {
        self.totals.clone()
    }

    /// The Lambda entry: decodes the event JSON, handles it, logs the counts.
    pub async fn handle_json(&self, event: Value) -> Result<KafkaBatchResponse, serde_json::Error> {
        let event = decode_event(event)?;
        let started = Instant::now();
        let (response, stats) = self.handle(&event).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        self.totals.record(&stats, duration_ms);
        if let Some(function) = &self.emf {
            println!(
                "{}",
                metrics::emf_line(&stats, duration_ms, now_ms(), function)
            );
        }
        tracing::info!(
            records = stats.records,
            published = stats.published,
            skipped = stats.skipped,
            failed = stats.failed,
            requests = stats.requests,
            stored = stats.stored,
            replaced = stats.replaced,
            failed_partitions = response.batch_item_failures.len(),
            elapsed_ms = duration_ms,
            "batch handled"
        );
        Ok(response)
    }

    /// Publishes every record of `event`; reports partitions that must be delivered again.
    pub async fn handle(&self, event: &KafkaEvent) -> (KafkaBatchResponse, BatchStats) {
        let deadline = self.retry.deadline(Instant::now());
        let parts = partitions(event);
        // The futures are made first: a closure inside the stream defeats `Send` inference
        // for callers that need this future to be `Send`.
        // One per invocation: a channel's records may sit in several partitions.
        let collisions = SameMillisecond::default();
        let work: Vec<_> = parts
            .iter()
            .map(|(key, records)| self.partition(key, records, deadline, &collisions))
            .collect();
        let results: Vec<(BatchStats, Option<(String, i64)>)> = futures_util::stream::iter(work)
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut response = KafkaBatchResponse::default();
        let mut total = BatchStats::default();
        for (stats, failed_at) in results {
            total += stats;
            if let Some((key, offset)) = failed_at {
                response.fail(key, offset);
            }
        }
        response.batch_item_failures.sort_by(|a, b| {
            a.item_identifier
                .partition
                .cmp(&b.item_identifier.partition)
        });
        (response, total)
    }

    /// One partition, in offset order; returns its counts and the first offset to redeliver.
    async fn partition(
        &self,
        key: &str,
        records: &[&KafkaRecord],
        deadline: Instant,
        collisions: &SameMillisecond,
    ) -> (BatchStats, Option<(String, i64)>) {
        let mut stats = BatchStats {
            records: records.len(),
            ..BatchStats::default()
        };
        let mut batch = PublishBatch::new();
        let mut offsets: Vec<i64> = Vec::new();
        let mut times: Vec<i64> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let (channel, (time, dated)) = match bar_of(record) {
                Ok(c) => c,
                Err(skip) => {
                    stats.skipped += 1;
                    if skip != Skip::Tombstone {
                        tracing::warn!(partition = key, offset = record.offset, reason = %skip, "record skipped");
                    }
                    continue;
                }
            };
            let full = batch.len() >= self.chunk_size
                || batch.estimated_body_len_with(&channel) > self.max_request_bytes;
            if !batch.is_empty() && full {
                if let Err(Unsent { at, error }) = self
                    .deliver(key, &batch, &offsets, &times, deadline, &mut stats)
                    .await
                {
                    let remaining = records.len() - i + batch.len() - at;
                    return self.give_up(key, offsets[at], remaining, error, stats);
                }
                batch = PublishBatch::new();
                offsets.clear();
                times.clear();
            }
            if let Some((other_partition, other_offset)) =
                collisions.check(key, &channel, time, dated, record.offset)
            {
                stats.replaced += 1;
                tracing::warn!(
                    partition = key,
                    offset = record.offset,
                    other_partition,
                    other_offset,
                    channel = channel.name,
                    timestamp = time,
                    "two reference-format records of one channel in the same millisecond: \
                     the history keeps one of them (live subscribers get both)"
                );
            }
            offsets.push(record.offset);
            times.push(time);
            batch.push(channel);
        }
        if !batch.is_empty()
            && let Err(Unsent { at, error }) = self
                .deliver(key, &batch, &offsets, &times, deadline, &mut stats)
                .await
        {
            let remaining = batch.len() - at;
            return self.give_up(key, offsets[at], remaining, error, stats);
        }
        (stats, None)
    }

    fn give_up(
        &self,
        key: &str,
        offset: i64,
        remaining: usize,
        e: PublishError,
        mut stats: BatchStats,
    ) -> (BatchStats, Option<(String, i64)>) {
        tracing::error!(partition = key, offset, remaining, error = %e, "publish failed; partition left for redelivery");
        stats.failed += remaining;
        (stats, Some((key.to_owned(), offset)))
    }

    /// Stores `batch` in the history (if any), then publishes it; `times` are the bars'
    /// times, by record. If the history write fails for good, nothing of `batch` is published
    /// and the redelivery starts at its first record.
    async fn deliver(
        &self,
        key: &str,
        batch: &PublishBatch,
        offsets: &[i64],
        times: &[i64],
        deadline: Instant,
        stats: &mut BatchStats,
    ) -> Result<(), Unsent> {
        if let Some(history) = &self.history {
            self.store(history, key, batch, offsets, times, deadline, stats)
                .await?;
        }
        let sent = self.send(key, batch, offsets, deadline, stats).await;
        let published = match &sent {
            Ok(()) => times.len(),
            Err(unsent) => unsent.at,
        };
        let now = now_ms();
        stats.bar_ages_ms.extend(
            times[..published]
                .iter()
                .map(|t| now.saturating_sub(*t).max(0) as u64),
        );
        sent
    }

    /// Writes the bars of `batch` to the history with retries until `deadline`: what DynamoDB
    /// leaves unprocessed, throttling and its own failures are sent again.
    #[allow(clippy::too_many_arguments)]
    async fn store(
        &self,
        history: &HistoryWriter,
        key: &str,
        batch: &PublishBatch,
        offsets: &[i64],
        times: &[i64],
        deadline: Instant,
        stats: &mut BatchStats,
    ) -> Result<(), Unsent> {
        let mut bars = Vec::with_capacity(batch.len());
        for ((channel, offset), time) in batch.channels().iter().zip(offsets).zip(times) {
            let bar = HistoryBar {
                symbol: channel.name.clone(),
                timestamp: *time,
                data: channel.data.clone(),
            };
            if bar.item_bytes() > MAX_ITEM_BYTES {
                tracing::warn!(
                    partition = key,
                    offset,
                    bytes = bar.item_bytes(),
                    table = history.table(),
                    "bar too large for the history table; published but not stored"
                );
                continue;
            }
            bars.push(bar);
        }
        let mut pending = dedup_last_wins(bars);
        let written = pending.len();
        let mut attempt = 0u32;
        let mut jitter = Jitter::new();
        loop {
            if Instant::now() >= deadline {
                return Err(Unsent {
                    at: 0,
                    error: PublishError::OutOfTime,
                });
            }
            let error = match history.write(&pending).await {
                Ok(rest) if rest.is_empty() => {
                    stats.stored += written;
                    return Ok(());
                }
                Ok(rest) => {
                    let error = HistoryError::Unprocessed(rest.len());
                    pending = rest;
                    error
                }
                Err(e) => e,
            };
            let retry = if error.is_retryable() {
                self.retry.wait_before_retry(attempt, &mut jitter, deadline)
            } else {
                None
            };
            let Some(wait) = retry else {
                return Err(Unsent {
                    at: 0,
                    error: error.into(),
                });
            };
            attempt += 1;
            tracing::debug!(partition = key, offset = offsets.first().copied().unwrap_or_default(), attempt, ?wait, error = %error, "retrying the history write");
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends `batch` (records at `offsets`) with retries until `deadline`. A field error
    /// that refuses a record for its own content skips that record; any other one ends the
    /// request's success at that record: a transient one is retried from there, the rest
    /// fail there. On failure, returns where in `batch` the redelivery starts.
    async fn send(
        &self,
        key: &str,
        batch: &PublishBatch,
        offsets: &[i64],
        deadline: Instant,
        stats: &mut BatchStats,
    ) -> Result<(), Unsent> {
        let mut from = 0;
        let mut attempt = 0u32;
        let mut jitter = Jitter::new();
        let mut rest: Option<PublishBatch> = None;
        loop {
            if Instant::now() >= deadline {
                return Err(Unsent {
                    at: from,
                    error: PublishError::OutOfTime,
                });
            }
            stats.requests += 1;
            let error = match self.client.publish(rest.as_ref().unwrap_or(batch)).await {
                Err(e) => e,
                Ok(published) => {
                    match self.settle(key, &published, batch.len() - from, &offsets[from..], stats)
                    {
                        None => return Ok(()),
                        Some((index, e)) => {
                            from += index;
                            rest = Some(tail(batch, from));
                            e
                        }
                    }
                }
            };
            let retry = if error.is_retryable() {
                self.retry.wait_before_retry(attempt, &mut jitter, deadline)
            } else {
                None
            };
            let Some(wait) = retry else {
                return Err(Unsent { at: from, error });
            };
            attempt += 1;
            tracing::debug!(partition = key, offset = offsets[from], attempt, ?wait, error = %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts the records of a request AppSync executed (`len` records at `offsets`): those
    /// refused for their own content are skipped; the first other field error ends what
    /// counts as published and is returned with its index.
    fn settle(
        &self,
        key: &str,
        published: &Published,
        len: usize,
        offsets: &[i64],
        stats: &mut BatchStats,
    ) -> Option<(usize, PublishError)> {
        // An index outside the request means the answer does not match it: nothing of it
        // is counted as done (the errors are sorted, so the last has the largest index).
        if let Some(stray) = published.field_errors.last().filter(|f| f.index >= len) {
            tracing::warn!(
                partition = key,
                offset = offsets.first().copied().unwrap_or_default(),
                index = stray.index,
                "field error outside the request; partition stops at its start"
            );
            return Some((0, stray.clone().into_error()));
        }
        let mut skipped = 0;
        for field in &published.field_errors {
            let offset = offsets.get(field.index).copied().unwrap_or_default();
            if field.kind != FieldErrorKind::RecordRefused {
                stats.skipped += skipped;
                stats.published += field.index - skipped;
                tracing::warn!(partition = key, offset, error_type = field.error_type.as_deref(), error = %field.message, "publish refused; partition stops at this record");
                return Some((field.index, field.clone().into_error()));
            }
            skipped += 1;
            tracing::warn!(partition = key, offset, error_type = field.error_type.as_deref(), error = %field.message, "record refused by AppSync for its content; skipped");
        }
        stats.skipped += skipped;
        stats.published += len - skipped;
        None
    }
}

/// Milliseconds since 1970 by the system clock (the clock bars are dated by).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where a partition's redelivery starts inside a request, and why.
struct Unsent {
    at: usize,
    error: PublishError,
}

/// The records of `batch` from `from` on.
fn tail(batch: &PublishBatch, from: usize) -> PublishBatch {
    let mut rest = PublishBatch::new();
    for channel in batch.channels().iter().skip(from) {
        rest.push(channel.clone());
    }
    rest
}
