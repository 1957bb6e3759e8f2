//! The `aws:kafka`-shaped event of a batch, exactly as Lambda builds it for self-managed
//! Kafka (§D.1): records keyed `<topic>-<partition>` in offset order, base64 key and value
//! (`null` when absent), headers as arrays of signed bytes, millisecond timestamps.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rdkafka::Message;
use rdkafka::message::{Headers, OwnedMessage, Timestamp};
use serde_json::{Map, Value, json};

/// Roughly what a record adds to the event: base64 grows data by a third.
pub fn record_size(m: &OwnedMessage) -> usize {
    let raw = m.key().map_or(0, <[u8]>::len) + m.payload().map_or(0, <[u8]>::len);
    raw * 4 / 3 + 200
}

pub fn kafka_event(bootstrap_servers: &str, batch: &[OwnedMessage]) -> Value {
    let mut records: Map<String, Value> = Map::new();
    for m in batch {
        let (timestamp, timestamp_type) = match m.timestamp() {
            Timestamp::CreateTime(t) => (t, "CREATE_TIME"),
            Timestamp::LogAppendTime(t) => (t, "LOG_APPEND_TIME"),
            Timestamp::NotAvailable => (0, "CREATE_TIME"),
        };
        let headers: Vec<Value> = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| {
                        let bytes: Vec<i8> = h
                            .value
                            .unwrap_or_default()
                            .iter()
                            .map(|b| *b as i8)
                            .collect();
                        json!({ h.key: bytes })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let record = json!({
            "topic": m.topic(),
            "partition": m.partition(),
            "offset": m.offset(),
            "timestamp": timestamp,
            "timestampType": timestamp_type,
            "key": m.key().map(|k| STANDARD.encode(k)),
            "value": m.payload().map(|v| STANDARD.encode(v)),
            "headers": headers,
        });
        if let Value::Array(list) = records
            .entry(format!("{}-{}", m.topic(), m.partition()))
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(record);
        }
    }
    json!({
        "eventSource": "SelfManagedKafka",
        "bootstrapServers": bootstrap_servers,
        "records": records,
    })
}
