//! The Lambda entry point: JSON logs, configuration checked once, then the runtime loop.
//! The scheduled event's content is not used: every invocation publishes what is new.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use quotecast_producer::{Config, Producer};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let producer = Producer::from_config(&config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?;
    let producer = &producer;
    run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = producer
            .invoke()
            .await
            .inspect_err(|e| tracing::error!(error = %e, "invocation failed"))?;
        tracing::info!(
            polls = report.polls,
            published = report.published,
            "invocation done"
        );
        Ok::<_, Error>(report)
    }))
    .await
}
