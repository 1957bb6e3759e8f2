//! Builds the `aws:kafka` Lambda event JSON exactly as AWS does (`APPSYNC_SPEC.md` §D.1):
//! records keyed `topic-partition`, base64 key and value, headers as signed bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

#[derive(Default)]
pub struct KafkaEventBuilder {
    records: Map<String, Value>,
}

impl KafkaEventBuilder {
    pub fn new() -> Self {
        KafkaEventBuilder::default()
    }

    /// Adds a record; `None` key or value become JSON `null`.
    pub fn record(
        mut self,
        topic: &str,
        partition: i64,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Self {
        let headers: Vec<Value> = headers
            .iter()
            .map(|(name, bytes)| json!({ *name: bytes.iter().map(|b| *b as i8).collect::<Vec<i8>>() }))
            .collect();
        let record = json!({
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "timestamp": 1_700_000_000_000i64 + offset,
            "timestampType": "CREATE_TIME",
            "key": key.map(|k| STANDARD.encode(k)),
            "value": value.map(|v| STANDARD.encode(v)),
            "headers": headers,
        });
        let list = self
            .records
            .entry(format!("{topic}-{partition}"))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(record);
        }
        self
    }

    pub fn build(self) -> Value {
        json!({
            "eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/quotecast/abcd1234-abcd-cafe-abab-9876543210ab-4",
            "bootstrapServers": "b-1.quotecast.abc123.c1.kafka.us-east-1.amazonaws.com:9098,b-2.quotecast.abc123.c1.kafka.us-east-1.amazonaws.com:9098",
            "records": self.records,
        })
    }
}
