//! The mapping's librdkafka context: it remembers the brokers refusing the login, so a
//! mapping that cannot start says "authentication" (as Lambda's MSK trigger reports
//! `SASL authentication failed` in its processing result) rather than "timed out".

use std::sync::{Arc, Mutex};

use quotecast_shared::kafka_security::is_login_refusal_code;
use rdkafka::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// The last login refusal librdkafka reported, if any.
#[derive(Clone, Default)]
pub struct LoginRefusals {
    last: Arc<Mutex<Option<String>>>,
}

impl LoginRefusals {
    pub fn last(&self) -> Option<String> {
        self.last.lock().ok().and_then(|last| last.clone())
    }
}

/// Whether librdkafka's error is the brokers refusing TLS or the login.
pub fn is_login_refusal(error: &KafkaError) -> bool {
    error
        .rdkafka_error_code()
        .is_some_and(|code| is_login_refusal_code(code as i32))
}

impl ClientContext for LoginRefusals {
    fn error(&self, error: KafkaError, reason: &str) {
        if is_login_refusal(&error) {
            tracing::error!(error = %error, reason, "Kafka refused the mapping's login");
            if let Ok(mut last) = self.last.lock() {
                *last = Some(reason.to_owned());
            }
        } else {
            tracing::warn!(error = %error, reason, "librdkafka");
        }
    }
}

impl ConsumerContext for LoginRefusals {}
