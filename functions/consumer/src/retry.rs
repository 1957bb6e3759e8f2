//! Exponential backoff with full jitter, bounded by one deadline per invocation.
//!
//! The deadline is per invocation, not per request: a budget per request let an invocation
//! with many chunks (or a slow AppSync) run past the Lambda's timeout, and a timed-out
//! invocation is delivered again whole, partitions that had succeeded included.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay bound of the first retry.
    pub base: Duration,
    /// Upper bound of any one delay.
    pub max_delay: Duration,
    /// Time from the start of an invocation after which no request starts, first attempts
    /// and retries alike; what is unfinished then is reported for redelivery. A request
    /// started before it may run up to the request timeout, so an invocation lasts at most
    /// `budget + request timeout` (plus the handler's own microseconds).
    pub budget: Duration,
}

/// Whether a failure may succeed on a later attempt.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

/// A small xorshift generator: jitter needs spread, not cryptographic quality.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Self {
        use std::hash::{BuildHasher, RandomState};
        Jitter(RandomState::new().hash_one(Instant::now()) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::new()
    }
}

impl RetryPolicy {
    /// The deadline of an invocation that started at `started`.
    pub fn deadline(&self, started: Instant) -> Instant {
        started + self.budget
    }

    /// The wait before retry number `attempt` (0-based): uniform in `[0, min(max, base·2^attempt)]`.
    pub fn delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        let cap = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max_delay);
        let micros = cap.as_micros().max(1) as u64;
        Duration::from_micros(jitter.next() % (micros + 1))
    }

    /// The wait before retry number `attempt`, or `None` when the retry would start at or
    /// after `deadline` (then the failure is reported instead).
    pub fn wait_before_retry(
        &self,
        attempt: u32,
        jitter: &mut Jitter,
        deadline: Instant,
    ) -> Option<Duration> {
        let wait = self.delay(attempt, jitter);
        (Instant::now() + wait < deadline).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap_with_jitter() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            budget: Duration::ZERO,
        };
        let mut j = Jitter::new();
        for attempt in 0..12 {
            let cap = (100u64 << attempt).min(5000);
            let samples: Vec<Duration> = (0..200).map(|_| p.delay(attempt, &mut j)).collect();
            assert!(
                samples.iter().all(|d| *d <= Duration::from_millis(cap)),
                "attempt {attempt}"
            );
            assert!(
                samples.iter().any(|d| *d > Duration::from_millis(cap / 2)),
                "jitter spans the range"
            );
        }
    }

    #[test]
    fn no_retry_starts_at_or_after_the_deadline() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(100),
            budget: Duration::from_secs(1),
        };
        let mut j = Jitter::new();
        let started = Instant::now();
        assert_eq!(p.deadline(started), started + Duration::from_secs(1));
        assert_eq!(p.wait_before_retry(0, &mut j, started), None);
        let far = Instant::now() + Duration::from_secs(1);
        for _ in 0..100 {
            let wait = p.wait_before_retry(3, &mut j, far);
            assert!(wait.is_some_and(|w| w <= Duration::from_millis(100)));
        }
        // A deadline 50 ms away admits only the waits that end before it.
        let near = Instant::now() + Duration::from_millis(50);
        let waits: Vec<Option<Duration>> = (0..200)
            .map(|_| p.wait_before_retry(0, &mut j, near))
            .collect();
        assert!(waits.iter().any(Option::is_none) && waits.iter().any(Option::is_some));
        assert!(
            waits
                .iter()
                .flatten()
                .all(|w| *w < Duration::from_millis(50))
        );
    }
}
