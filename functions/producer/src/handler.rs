//! One invocation: poll the source, publish what is new, and — inside an emit window — do it
//! again every interval until the window closes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::Mutex;

use crate::aws::{self, AwsError};
use crate::config::{Brokers, Config, EmitWindow, KafkaAuth, SourceConfig};
use crate::kafka::{KafkaSecurity, KafkaSettings, PublishError, QuotePublisher, ScramMechanism};
use crate::source::replay::Replay;
use crate::source::sim::Simulator;
use crate::source::yahoo::Yahoo;
use crate::source::{QuoteSource, SourceError};

/// The configured source.
pub enum AnySource {
    Sim(Simulator),
    Yahoo(Yahoo),
    Replay(Replay),
}

impl QuoteSource for AnySource {
    async fn poll(&mut self, now_ms: i64) -> Result<Vec<quotecast_shared::Quote>, SourceError> {
        match self {
            AnySource::Sim(s) => s.poll(now_ms).await,
            AnySource::Yahoo(s) => s.poll(now_ms).await,
            AnySource::Replay(s) => s.poll(now_ms).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(
        "the configuration needs AWS (a cluster ARN or an MSK secret), and no AWS SDK configuration was given"
    )]
    NoAws,
}

/// What one invocation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub polls: usize,
    pub published: usize,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub struct Producer<S: QuoteSource = AnySource> {
    source: Mutex<S>,
    publisher: QuotePublisher,
    emit: Option<EmitWindow>,
}

impl<S: QuoteSource> Producer<S> {
    pub fn new(source: S, publisher: QuotePublisher, emit: Option<EmitWindow>) -> Self {
        Producer {
            source: Mutex::new(source),
            publisher,
            emit,
        }
    }

    /// Polls once at `now_ms` and publishes the result; returns how many quotes went out.
    pub async fn tick(&self, now_ms: i64) -> Result<usize, ProducerError> {
        let quotes = self.source.lock().await.poll(now_ms).await?;
        Ok(self.publisher.publish(&quotes).await?)
    }

    /// The handler: one tick, or ticks every `every` for the emit window.
    pub async fn invoke(&self) -> Result<Report, ProducerError> {
        let mut report = Report::default();
        let started = Instant::now();
        loop {
            report.published += self.tick(now_ms()).await?;
            report.polls += 1;
            let Some(window) = self.emit else { break };
            let next = window.every * report.polls as u32;
            if next >= window.duration {
                break;
            }
            tokio::time::sleep(next.saturating_sub(started.elapsed())).await;
        }
        Ok(report)
    }

    pub fn publisher(&self) -> &QuotePublisher {
        &self.publisher
    }
}

impl Producer<AnySource> {
    /// Builds everything a container keeps: the source, and the Kafka producer — with the
    /// brokers and SCRAM credentials looked up from AWS when configured so.
    pub async fn from_config(config: &Config) -> Result<Producer, ProducerError> {
        let needs_aws = matches!(config.brokers, Brokers::ClusterArn(_))
            || matches!(config.auth, KafkaAuth::Scram { .. });
        let sdk = if needs_aws {
            Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
        } else {
            None
        };
        Producer::with_aws(config, sdk.as_ref()).await
    }

    /// [`Producer::from_config`] with the AWS SDK's configuration given (its endpoint, say,
    /// when a stand-in answers for Secrets Manager); `None` when `config` needs no AWS call.
    pub async fn with_aws(
        config: &Config,
        sdk: Option<&aws_config::SdkConfig>,
    ) -> Result<Producer, ProducerError> {
        let source = match &config.source {
            SourceConfig::Sim { seed, interval_ms } => AnySource::Sim(Simulator::new(
                *seed,
                &config.symbols,
                *interval_ms,
                now_ms(),
            )),
            SourceConfig::Yahoo { base_url } => AnySource::Yahoo(Yahoo::new(
                base_url,
                config.symbols.clone(),
                Duration::from_secs(10),
            )?),
            SourceConfig::Replay { path, looping } => {
                AnySource::Replay(Replay::from_file(path, &config.symbols[0], *looping)?)
            }
        };
        let bootstrap_servers = match (&config.brokers, sdk) {
            (Brokers::Bootstrap(b), _) => b.clone(),
            (Brokers::ClusterArn(arn), Some(sdk)) => {
                aws::scram_bootstrap(&aws_sdk_kafka::Client::new(sdk), arn).await?
            }
            (Brokers::ClusterArn(_), None) => return Err(ProducerError::NoAws),
        };
        let security = match (&config.auth, sdk) {
            (KafkaAuth::Plaintext, _) => KafkaSecurity::Plaintext,
            (KafkaAuth::Scram { secret_id, ca_file }, Some(sdk)) => {
                let (username, password) =
                    aws::scram_credentials(&aws_sdk_secretsmanager::Client::new(sdk), secret_id)
                        .await?;
                KafkaSecurity::SaslScram {
                    mechanism: ScramMechanism::Sha512,
                    username,
                    password,
                    ca_file: ca_file.clone(),
                }
            }
            (KafkaAuth::Scram { .. }, None) => return Err(ProducerError::NoAws),
        };
        let publisher = QuotePublisher::new(&KafkaSettings {
            bootstrap_servers,
            security,
            topic: config.topic.clone(),
            message_timeout: config.message_timeout,
        })?;
        Ok(Producer::new(source, publisher, config.emit))
    }
}
