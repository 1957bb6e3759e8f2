//! The handler: one Kafka batch in, a partial batch response out.
//!
//! Partitions are independent and run concurrently; inside one, records go out strictly in
//! offset order, in requests of up to `chunk_size` aliased mutations. A request that still
//! fails after its retries stops its partition: its first offset is reported, and nothing
//! after it in that partition is sent, so a redelivery starts exactly there and order holds.

use std::time::Instant;

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use futures_util::StreamExt;
use quotecast_shared::graphql::PublishBatch;
use quotecast_shared::lambda::KafkaBatchResponse;
use serde::Serialize;
use serde_json::Value;

use crate::appsync::{AppSyncClient, Auth, PublishError};
use crate::config::{AuthConfig, Config};
use crate::records::{Skip, channel_of, decode_event, partitions};
use crate::retry::RetryPolicy;
use crate::secrets::{self, SecretError};
use crate::signing::env_credentials;

/// Counts of one invocation, logged once per batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BatchStats {
    pub records: usize,
    pub published: usize,
    /// Tombstones and records that could not be read or were refused one by one.
    pub skipped: usize,
    /// Records left for redelivery because a request failed for good.
    pub failed: usize,
    /// HTTP requests, retries included.
    pub requests: usize,
}

impl std::ops::AddAssign for BatchStats {
    fn add_assign(&mut self, o: BatchStats) {
        self.records += o.records;
        self.published += o.published;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.requests += o.requests;
    }
}

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
    chunk_size: usize,
    max_request_bytes: usize,
    concurrency: usize,
    retry: RetryPolicy,
}

impl Consumer {
    /// Builds the consumer with an explicit AppSync auth (tests, the local stack).
    pub fn new(config: &Config, auth: Auth) -> Result<Consumer, InitError> {
        Ok(Consumer {
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

    /// The Lambda entry: decodes the event JSON, handles it, logs the counts.
    pub async fn handle_json(&self, event: Value) -> Result<KafkaBatchResponse, serde_json::Error> {
        let event = decode_event(event)?;
        let started = Instant::now();
        let (response, stats) = self.handle(&event).await;
        tracing::info!(
            records = stats.records,
            published = stats.published,
            skipped = stats.skipped,
            failed = stats.failed,
            requests = stats.requests,
            failed_partitions = response.batch_item_failures.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch handled"
        );
        Ok(response)
    }

    /// Publishes every record of `event`; reports partitions that must be delivered again.
    pub async fn handle(&self, event: &KafkaEvent) -> (KafkaBatchResponse, BatchStats) {
        let parts = partitions(event);
        // The futures are made first: a closure inside the stream defeats `Send` inference
        // for callers that need this future to be `Send`.
        let work: Vec<_> = parts
            .iter()
            .map(|(key, records)| self.partition(key, records))
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
    ) -> (BatchStats, Option<(String, i64)>) {
        let mut stats = BatchStats {
            records: records.len(),
            ..BatchStats::default()
        };
        let mut batch = PublishBatch::new();
        let mut offsets: Vec<i64> = Vec::new();
        for (i, record) in records.iter().enumerate() {
            let channel = match channel_of(record) {
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
                if let Err(e) = self.send(key, &batch, &offsets, &mut stats).await {
                    let remaining = records.len() - i + batch.len();
                    return self.give_up(key, offsets[0], remaining, e, stats);
                }
                batch = PublishBatch::new();
                offsets.clear();
            }
            offsets.push(record.offset);
            batch.push(channel);
        }
        if !batch.is_empty()
            && let Err(e) = self.send(key, &batch, &offsets, &mut stats).await
        {
            let remaining = batch.len();
            return self.give_up(key, offsets[0], remaining, e, stats);
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

    /// Sends one request with retries; per-field refusals skip just those records.
    async fn send(
        &self,
        key: &str,
        batch: &PublishBatch,
        offsets: &[i64],
        stats: &mut BatchStats,
    ) -> Result<(), PublishError> {
        let (result, attempts) = self.retry.run(|| self.client.publish(batch)).await;
        stats.requests += attempts as usize;
        let published = result?;
        for (index, message) in &published.field_errors {
            let offset = offsets.get(*index).copied().unwrap_or_default();
            tracing::warn!(partition = key, offset, error = %message, "record refused by AppSync; skipped");
        }
        stats.skipped += published.field_errors.len();
        stats.published += batch.len() - published.field_errors.len();
        Ok(())
    }
}
