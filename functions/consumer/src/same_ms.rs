//! Reference-format records of one channel in one millisecond, found before their bars share
//! one history item.
//!
//! The history is keyed by `(channel, ms)`, and a reference-format bar's only time is its
//! record's, so two such records of a channel in one millisecond are stored as one item (the
//! one written last). That is never silent: every such pair of one invocation is found here,
//! whichever partitions hold them and in whatever order their times run (a keyless payload's
//! channel is its topic, spread over partitions; producer-set times need not grow with
//! offsets), and the consumer logs it with both records and counts it (`replaced`). A
//! duplicate with the same data (a producer's retry) replaces nothing and is not counted.
//! Bound (RELIABILITY.md): a pair split across two invocations is not seen.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use quotecast_shared::Channel;

use crate::records::Dated;

/// A record seen: its partition, its offset, and its data's hash.
type Seen = (String, i64, u64);

/// The record-dated bars of one invocation, by `(channel, ms)`.
#[derive(Debug, Default)]
pub struct SameMillisecond {
    /// The records seen at each `(channel, ms)` with distinct data.
    seen: Mutex<HashMap<(String, i64), Vec<Seen>>>,
}

impl SameMillisecond {
    /// Another record (partition, offset) whose bar this one will share a history item with,
    /// when their data differ; `None` for the first one and for a repeat of one seen.
    pub fn check(
        &self,
        partition: &str,
        channel: &Channel,
        time: i64,
        dated: Dated,
        offset: i64,
    ) -> Option<(String, i64)> {
        if dated != Dated::ByRecord {
            return None;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        channel.data.hash(&mut hasher);
        let hash = hasher.finish();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let records = seen.entry((channel.name.clone(), time)).or_default();
        if records.iter().any(|(_, _, h)| *h == hash) {
            return None;
        }
        let other = records.first().map(|(p, o, _)| (p.clone(), *o));
        records.push((partition.to_owned(), offset, hash));
        other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_found_across_partitions_and_out_of_order_and_duplicates_are_not() {
        let seen = SameMillisecond::default();
        let bar = |data: &str| Channel::new("amazon", data);
        assert_eq!(
            seen.check("amazon-0", &bar("a"), 5, Dated::ByRecord, 10),
            None
        );
        assert_eq!(
            seen.check("amazon-0", &bar("b"), 7, Dated::ByRecord, 11),
            None
        );
        // Back to 5 ms, in another partition, with other data: found.
        assert_eq!(
            seen.check("amazon-1", &bar("c"), 5, Dated::ByRecord, 3),
            Some(("amazon-0".to_owned(), 10))
        );
        // The same data again (a producer's retry): nothing lost.
        assert_eq!(
            seen.check("amazon-0", &bar("b"), 7, Dated::ByRecord, 12),
            None
        );
        // Bars dated by their own quote: one bar, its newer version.
        assert_eq!(
            seen.check("amazon-0", &bar("d"), 7, Dated::ByQuote, 13),
            None
        );
    }
}
