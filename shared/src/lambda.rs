//! The Kafka partial batch response of a Lambda function (`APPSYNC_SPEC.md` §D.5).
//!
//! `aws_lambda_events` does not have these types yet; the consumer returns them and the local
//! event source mapping emulator reads them, so they are defined here once.

use serde::{Deserialize, Serialize};

/// `{"batchItemFailures": [{"itemIdentifier": {"partition": "topic-0", "offset": 15}}]}`.
/// Empty means the whole batch succeeded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchResponse {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchItemFailure {
    pub item_identifier: KafkaItemIdentifier,
}

/// A record: `partition` is the event's `records` key (`<topic>-<partition>`), `offset` the
/// first offset of that partition to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaItemIdentifier {
    pub partition: String,
    pub offset: i64,
}

impl KafkaBatchResponse {
    pub fn fail(&mut self, partition: impl Into<String>, offset: i64) {
        self.batch_item_failures.push(KafkaBatchItemFailure {
            item_identifier: KafkaItemIdentifier {
                partition: partition.into(),
                offset,
            },
        });
    }

    /// The first offset to retry for the `records` key `partition`, if it failed.
    pub fn failed_offset(&self, partition: &str) -> Option<i64> {
        self.batch_item_failures
            .iter()
            .filter(|f| f.item_identifier.partition == partition)
            .map(|f| f.item_identifier.offset)
            .min()
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<KafkaBatchItemFailure>, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_default())
}
