//! What the consumer measures, from one place for both homes: on Lambda one CloudWatch
//! embedded-metric-format (EMF) line per invocation, which CloudWatch turns into metrics and
//! alarms without an API call; locally the same counts in total, served by `quotecast dev`
//! as Prometheus text at `GET /metrics` and summed up once a minute.
//!
//! Per invocation: records in, published, stored, failed (left for redelivery), skipped,
//! replaced (same-millisecond reference records), the invocation's duration, and the age of
//! each published bar (the time its publish returned less the bar's own time).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use crate::stats::BatchStats;

/// The CloudWatch namespace of the consumer's metrics (the template's alarms read it).
pub const NAMESPACE: &str = "quotecast";
/// The dimensions every metric carries: `Service = consumer` and `FunctionName`, the
/// Lambda function's name, so two stacks in one account and region keep apart.
pub const SERVICE: &str = "consumer";
/// EMF takes at most 100 values for one metric in one line.
const MAX_EMF_VALUES: usize = 100;
/// Upper bounds (ms) of the bar-age histogram's buckets (Prometheus `le`), `+Inf` after.
pub const AGE_BUCKETS_MS: [u64; 12] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 60_000,
];
/// Ages kept for the once-a-minute summary's p99; past this, later ones replace earlier ones.
const WINDOW_AGES: usize = 16_384;

/// The EMF line of one invocation of `function` (`timestamp_ms`: when it ended).
pub fn emf_line(stats: &BatchStats, duration_ms: u64, timestamp_ms: i64, function: &str) -> String {
    let counts = [
        ("RecordsIn", stats.records),
        ("Published", stats.published),
        ("Stored", stats.stored),
        ("Failed", stats.failed),
        ("Skipped", stats.skipped),
        ("Replaced", stats.replaced),
    ];
    let mut metrics: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    metrics.push(json!({"Name": "BatchDuration", "Unit": "Milliseconds"}));
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Service", "FunctionName"]],
                "Metrics": metrics,
            }],
        },
        "Service": SERVICE,
        "FunctionName": function,
        "BatchDuration": duration_ms,
    });
    for (name, count) in counts {
        line[name] = json!(count);
    }
    let ages = spread(&stats.bar_ages_ms, MAX_EMF_VALUES);
    if !ages.is_empty() {
        if let Some(names) = line["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array_mut() {
            names.push(json!({"Name": "BarAge", "Unit": "Milliseconds"}));
        }
        line["BarAge"] = json!(ages);
    }
    line.to_string()
}

/// At most `n` of `values`, sorted, at evenly spaced ranks (first and last included), so
/// CloudWatch's percentiles over them stay close to those of all the values.
fn spread(values: &[u64], n: usize) -> Vec<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.len() <= n {
        return sorted;
    }
    let last = sorted.len() - 1;
    (0..n).map(|i| sorted[i * last / (n - 1)]).collect()
}

/// The consumer's counts since it started, and the ages of the last minute's bars.
#[derive(Debug, Default)]
pub struct Totals {
    invocations: AtomicU64,
    records: AtomicU64,
    published: AtomicU64,
    stored: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    replaced: AtomicU64,
    duration_ms: AtomicU64,
    age_buckets: [AtomicU64; AGE_BUCKETS_MS.len() + 1],
    age_sum_ms: AtomicU64,
    window: Mutex<Window>,
}

/// What the once-a-minute summary reads and clears.
#[derive(Debug, Default)]
struct Window {
    records: u64,
    published: u64,
    ages: Vec<u64>,
    /// Where the next age goes once `ages` is full.
    next: usize,
}

/// One minute (or whatever passed) of the consumer, for the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records: u64,
    pub published: u64,
    /// The 99th percentile of the ages of the bars published meanwhile (ms), if any.
    pub p99_age_ms: Option<u64>,
}

impl Totals {
    /// Adds one invocation.
    pub fn record(&self, stats: &BatchStats, duration_ms: u64) {
        let add = |counter: &AtomicU64, n: usize| counter.fetch_add(n as u64, Ordering::Relaxed);
        add(&self.invocations, 1);
        add(&self.records, stats.records);
        add(&self.published, stats.published);
        add(&self.stored, stats.stored);
        add(&self.failed, stats.failed);
        add(&self.skipped, stats.skipped);
        add(&self.replaced, stats.replaced);
        self.duration_ms.fetch_add(duration_ms, Ordering::Relaxed);
        for age in &stats.bar_ages_ms {
            let bucket = AGE_BUCKETS_MS
                .iter()
                .position(|le| age <= le)
                .unwrap_or(AGE_BUCKETS_MS.len());
            self.age_buckets[bucket].fetch_add(1, Ordering::Relaxed);
            self.age_sum_ms.fetch_add(*age, Ordering::Relaxed);
        }
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.records += stats.records as u64;
        window.published += stats.published as u64;
        for age in &stats.bar_ages_ms {
            if window.ages.len() < WINDOW_AGES {
                window.ages.push(*age);
            } else {
                let at = window.next % WINDOW_AGES;
                window.ages[at] = *age;
                window.next = at + 1;
            }
        }
    }

    /// What happened since the last call, and starts a new window.
    pub fn take_summary(&self) -> Summary {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let taken = std::mem::take(&mut *window);
        drop(window);
        let mut ages = taken.ages;
        ages.sort_unstable();
        // Nearest rank: the smallest age at least 99 % of the ages are at or below.
        let p99_age_ms = (!ages.is_empty()).then(|| ages[(ages.len() * 99).div_ceil(100) - 1]);
        Summary {
            records: taken.records,
            published: taken.published,
            p99_age_ms,
        }
    }

    /// The totals as Prometheus text (exposition format 0.0.4).
    pub fn prometheus(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        for (name, help, counter) in [
            (
                "invocations",
                "Invocations of the consumer (batches from the event source mapping).",
                &self.invocations,
            ),
            ("records", "Records the consumer was given.", &self.records),
            (
                "published",
                "Records published to AppSync.",
                &self.published,
            ),
            ("stored", "Bars written to the history table.", &self.stored),
            (
                "failed",
                "Records left for redelivery (a partition reported in batchItemFailures).",
                &self.failed,
            ),
            (
                "skipped",
                "Records skipped: tombstones, unreadable, or refused by AppSync for their content.",
                &self.skipped,
            ),
            (
                "replaced",
                "Reference-format records that replaced a bar of the same millisecond in the history.",
                &self.replaced,
            ),
            (
                "batch_duration_ms",
                "Milliseconds spent handling batches.",
                &self.duration_ms,
            ),
        ] {
            out.push_str(&format!(
                "# HELP quotecast_consumer_{name}_total {help}\n\
                 # TYPE quotecast_consumer_{name}_total counter\n\
                 quotecast_consumer_{name}_total {}\n",
                get(counter)
            ));
        }
        out.push_str(
            "# HELP quotecast_consumer_bar_age_ms Age of each bar when its publish returned (ms).\n\
             # TYPE quotecast_consumer_bar_age_ms histogram\n",
        );
        let mut cumulative = 0;
        for (i, counter) in self.age_buckets.iter().enumerate() {
            cumulative += get(counter);
            let le = AGE_BUCKETS_MS
                .get(i)
                .map_or("+Inf".to_owned(), u64::to_string);
            out.push_str(&format!(
                "quotecast_consumer_bar_age_ms_bucket{{le=\"{le}\"}} {cumulative}\n"
            ));
        }
        out.push_str(&format!(
            "quotecast_consumer_bar_age_ms_sum {}\nquotecast_consumer_bar_age_ms_count {cumulative}\n",
            get(&self.age_sum_ms)
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ages: Vec<u64>) -> BatchStats {
        BatchStats {
            records: 5,
            published: 4,
            skipped: 1,
            stored: 4,
            bar_ages_ms: ages,
            ..BatchStats::default()
        }
    }

    #[test]
    fn one_emf_line_names_every_metric_it_carries() {
        let line: Value = serde_json::from_str(&emf_line(
            &stats(vec![30, 10, 20]),
            42,
            1_700_000_000_000,
            "stack-Consumer",
        ))
        .unwrap();
        let aws = &line["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_000i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Service", "FunctionName"]])
        );
        assert_eq!(line["Service"], SERVICE);
        assert_eq!(line["FunctionName"], "stack-Consumer");
        // Every metric named has a value at the top level, as EMF requires.
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(!line[name].is_null(), "{name} has no value");
        }
        assert_eq!(
            (line["RecordsIn"].as_u64(), line["Published"].as_u64()),
            (Some(5), Some(4))
        );
        assert_eq!(line["BatchDuration"], 42);
        assert_eq!(line["BarAge"], json!([10, 20, 30]));
        // No bar published: no BarAge metric at all (an empty array is not a value).
        let quiet: Value = serde_json::from_str(&emf_line(&stats(vec![]), 1, 0, "f")).unwrap();
        assert!(quiet.get("BarAge").is_none());
        let names: Vec<&str> = quiet["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert!(!names.contains(&"BarAge"));
    }

    #[test]
    fn many_ages_are_spread_over_at_most_100_values_keeping_the_extremes() {
        let ages: Vec<u64> = (0..10_000).rev().collect();
        let line: Value = serde_json::from_str(&emf_line(&stats(ages), 1, 0, "f")).unwrap();
        let values = line["BarAge"].as_array().unwrap();
        assert_eq!(values.len(), 100);
        assert_eq!(
            (values[0].as_u64(), values[99].as_u64()),
            (Some(0), Some(9_999))
        );
        assert_eq!(values[50].as_u64(), Some(50 * 9_999 / 99));
    }

    #[test]
    fn totals_count_summarise_a_window_and_read_as_prometheus() {
        let totals = Totals::default();
        totals.record(&stats(vec![3, 7, 300]), 10);
        totals.record(&stats((1..=100).collect()), 5);
        let summary = totals.take_summary();
        assert_eq!((summary.records, summary.published), (10, 8));
        assert_eq!(summary.p99_age_ms, Some(100));
        assert_eq!(
            totals.take_summary(),
            Summary {
                records: 0,
                published: 0,
                p99_age_ms: None
            },
            "a new window"
        );
        let text = totals.prometheus();
        assert!(
            text.contains("quotecast_consumer_records_total 10\n"),
            "{text}"
        );
        assert!(text.contains("quotecast_consumer_published_total 8\n"));
        assert!(text.contains("quotecast_consumer_batch_duration_ms_total 15\n"));
        assert!(
            text.contains("quotecast_consumer_bar_age_ms_bucket{le=\"5\"} 6\n"),
            "{text}"
        );
        assert!(text.contains("quotecast_consumer_bar_age_ms_bucket{le=\"250\"} 102\n"));
        assert!(text.contains("quotecast_consumer_bar_age_ms_bucket{le=\"+Inf\"} 103\n"));
        assert!(text.contains("quotecast_consumer_bar_age_ms_count 103\n"));
    }
}
