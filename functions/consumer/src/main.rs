//! The Lambda entry point: JSON logs, configuration checked once, then the runtime loop.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use quotecast_consumer::{Config, Consumer};
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
    let consumer = Consumer::from_config(&config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "start-up failed"))?
        .emitting_emf(
            std::env::var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|_| "quotecast-consumer".to_owned()),
        );
    let consumer = &consumer;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        consumer
            .handle_json(event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
