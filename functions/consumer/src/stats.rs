//! The counts of one invocation: what the consumer logs once per batch ("batch handled"),
//! writes as its EMF line and adds to its totals (`metrics.rs`).

use serde::Serialize;

/// Counts of one invocation, logged once per batch.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BatchStats {
    pub records: usize,
    pub published: usize,
    /// Tombstones, records that could not be read, and records AppSync refused for their own
    /// content (see [`crate::appsync::RECORD_REFUSALS`]).
    pub skipped: usize,
    /// Records left for redelivery because a request failed for good.
    pub failed: usize,
    /// HTTP requests to AppSync, retries included.
    pub requests: usize,
    /// Bars written to the history table.
    pub stored: usize,
    /// Reference-format records that replaced the bar of the record before them in the
    /// history: same channel, same millisecond (each one logged with both offsets).
    pub replaced: usize,
    /// How old each published bar was when AppSync took it: the time its publish returned
    /// less the bar's time (ms; 0 for a bar from the future).
    pub bar_ages_ms: Vec<u64>,
}

impl std::ops::AddAssign for BatchStats {
    fn add_assign(&mut self, o: BatchStats) {
        self.records += o.records;
        self.published += o.published;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.requests += o.requests;
        self.stored += o.stored;
        self.replaced += o.replaced;
        self.bar_ages_ms.extend(o.bar_ages_ms);
    }
}
