//! `quotecast loadtest`: drives an AppSync endpoint over the real protocol and measures it.
//!
//! N WebSocket connections each start M subscriptions (`{"name":{"eq":<symbol>}}`, symbols
//! spread evenly); a publisher posts aliased `publish` mutations over HTTP on a fixed schedule.
//! The numbers are meant to be quoted, so each is defined so that a slow server cannot make it
//! look better:
//! - latency runs from a request's *scheduled* send time to the reader seeing the `data` frame
//!   (same machine, same clock), so a publisher held back by a slow server counts as latency
//!   instead of silently publishing less (coordinated omission); how far the publisher fell
//!   behind its schedule is reported too;
//! - deliveries/s is the frames that arrived *inside* the publish window divided by the
//!   window's length: frames still draining after publishing stopped are not credited to it;
//! - delivered/expected counts everything, drain included (up to 10 s), so a lost frame shows
//!   up as less than 100 %.

mod frames;
mod publisher;
mod subscribers;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Serialize;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadTest {
    pub graphql_url: String,
    pub realtime_url: String,
    /// The subscribers' key (the public one).
    pub api_key: String,
    /// How the publisher authenticates: IAM, as every writer does (or an API key, for APIs
    /// whose schema lets the key publish).
    pub publish_auth: quotecast_consumer::appsync::Auth,
    pub connections: usize,
    pub subscriptions_per_connection: usize,
    pub symbols: usize,
    /// Publishes per second, in total.
    pub rate: u64,
    /// Publishes per HTTP request.
    pub batch: usize,
    pub duration: Duration,
    /// Latencies of frames scheduled during the first `warmup` are not recorded.
    pub warmup: Duration,
}

/// What came out.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub connections: usize,
    pub subscriptions: usize,
    pub symbols: usize,
    pub setup_secs: f64,
    /// The window the schedule covers: requests are due from its start to before its end.
    pub publish_window_secs: f64,
    pub publishes: u64,
    pub publish_requests: u64,
    pub publish_errors: u64,
    /// Publishes over the window (the schedule's rate when every due request was sent).
    pub publishes_per_sec: f64,
    /// From the window's start until the last request went out.
    pub last_sent_secs: f64,
    /// From the window's start until the last request was answered.
    pub publish_secs: f64,
    /// How late after its scheduled time a request went out: the worst, and the mean.
    pub behind_schedule_max_ms: f64,
    pub behind_schedule_mean_ms: f64,
    pub expected_deliveries: u64,
    /// Every `data` frame received, drain included.
    pub deliveries: u64,
    pub delivered_pct: f64,
    /// Frames that arrived before the publish window ended.
    pub deliveries_in_window: u64,
    /// `deliveries_in_window / publish_window_secs`.
    pub deliveries_per_sec: f64,
    /// From each frame's scheduled send time to its receipt, after the warm-up.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    pub reader_errors: u64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "connections        {} ({} subscriptions over {} symbols, set up in {:.1}s)",
            self.connections, self.subscriptions, self.symbols, self.setup_secs
        )?;
        writeln!(
            f,
            "publishes          {} in {} requests due over a {:.1}s window ({:.0}/s), {} failed",
            self.publishes,
            self.publish_requests,
            self.publish_window_secs,
            self.publishes_per_sec,
            self.publish_errors
        )?;
        writeln!(
            f,
            "schedule           behind by max {:.2} ms, mean {:.2} ms; last request sent at {:.2}s, answered by {:.2}s",
            self.behind_schedule_max_ms,
            self.behind_schedule_mean_ms,
            self.last_sent_secs,
            self.publish_secs
        )?;
        writeln!(
            f,
            "deliveries         {} of {} expected ({:.3} %), drain included",
            self.deliveries, self.expected_deliveries, self.delivered_pct
        )?;
        writeln!(
            f,
            "deliveries/s       {:.0} ({} arrived inside the {:.1}s window / {:.1}s)",
            self.deliveries_per_sec,
            self.deliveries_in_window,
            self.publish_window_secs,
            self.publish_window_secs
        )?;
        writeln!(
            f,
            "latency            from the scheduled send: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.latency_p50_ms, self.latency_p99_ms, self.latency_max_ms
        )?;
        write!(f, "reader errors      {}", self.reader_errors)
    }
}

/// Microseconds since the Unix epoch: the stamp the publisher writes and readers compare.
pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub(crate) fn symbol(i: usize) -> String {
    format!("S{i:03}")
}

/// Counters shared by every reader.
#[derive(Default)]
pub(crate) struct Tally {
    pub deliveries: AtomicU64,
    /// Deliveries that arrived by `window_end`.
    pub in_window: AtomicU64,
    /// The publish window's end, epoch micros (0 until publishing starts).
    pub window_end: AtomicU64,
    pub errors: AtomicU64,
}

pub(crate) fn new_histogram() -> Histogram<u64> {
    // 1 µs to 10 min at 3 significant digits; these bounds are valid constants.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!())
}

impl LoadTest {
    pub async fn run(&self) -> anyhow::Result<Report> {
        let setup_started = Instant::now();
        let tally = Arc::new(Tally::default());
        let record_after = Arc::new(AtomicU64::new(u64::MAX));
        let fleet = subscribers::open(self, tally.clone(), record_after.clone()).await?;
        let setup_secs = setup_started.elapsed().as_secs_f64();
        eprintln!(
            "loadtest: {} connections with {} subscriptions ready in {setup_secs:.1}s; publishing {}/s for {:?}",
            fleet.connections, fleet.subscriptions, self.rate, self.duration
        );

        let per_symbol: HashMap<String, u64> = fleet.per_symbol.clone();
        let schedule = publisher::Schedule {
            start: Instant::now(),
            start_micros: now_micros(),
        };
        tally.window_end.store(
            schedule.start_micros + self.duration.as_micros() as u64,
            Ordering::Relaxed,
        );
        record_after.store(
            schedule.start_micros + self.warmup.as_micros() as u64,
            Ordering::Relaxed,
        );
        let published = publisher::run(self, &per_symbol, schedule).await;
        // `cargo xtask bench appsync` samples the server's memory between this line and the
        // one above that says "publishing".
        eprintln!("loadtest: publish window over; draining");

        // Let the last frames arrive.
        let drain_deadline = Instant::now() + Duration::from_secs(10);
        while tally.deliveries.load(Ordering::Relaxed) < published.expected
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let histogram = fleet.finish().await;
        let deliveries = tally.deliveries.load(Ordering::Relaxed);
        let deliveries_in_window = tally.in_window.load(Ordering::Relaxed);
        let window_secs = self.duration.as_secs_f64().max(1e-9);
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Ok(Report {
            connections: self.connections,
            subscriptions: self.connections * self.subscriptions_per_connection,
            symbols: self.symbols,
            setup_secs,
            publish_window_secs: self.duration.as_secs_f64(),
            publishes: published.publishes,
            publish_requests: published.requests,
            publish_errors: published.errors,
            publishes_per_sec: published.publishes as f64 / window_secs,
            last_sent_secs: published.sent_within.as_secs_f64(),
            publish_secs: published.elapsed.as_secs_f64(),
            behind_schedule_max_ms: published.behind_max.as_secs_f64() * 1e3,
            behind_schedule_mean_ms: published.behind_mean.as_secs_f64() * 1e3,
            expected_deliveries: published.expected,
            deliveries,
            delivered_pct: if published.expected == 0 {
                100.0
            } else {
                deliveries as f64 * 100.0 / published.expected as f64
            },
            deliveries_in_window,
            deliveries_per_sec: deliveries_in_window as f64 / window_secs,
            latency_p50_ms: ms(0.5),
            latency_p99_ms: ms(0.99),
            latency_max_ms: histogram.max() as f64 / 1000.0,
            reader_errors: tally.errors.load(Ordering::Relaxed),
        })
    }
}
