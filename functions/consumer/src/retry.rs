//! Exponential backoff with full jitter, bounded by a time budget.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay bound of the first retry.
    pub base: Duration,
    /// Upper bound of any one delay.
    pub max_delay: Duration,
    /// Total time a request may spend being retried; past it the failure is reported.
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
    /// The wait before retry number `attempt` (0-based): uniform in `[0, min(max, base·2^attempt)]`.
    pub fn delay(&self, attempt: u32, jitter: &mut Jitter) -> Duration {
        let cap = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max_delay);
        let micros = cap.as_micros().max(1) as u64;
        Duration::from_micros(jitter.next() % (micros + 1))
    }

    /// Runs `op` until it succeeds, fails for good, or the next wait would pass the budget.
    /// Returns the last result and the number of attempts made.
    pub async fn run<T, E: Retryable, F, Fut>(&self, mut op: F) -> (Result<T, E>, u32)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        let mut jitter = Jitter::new();
        let mut attempt = 0u32;
        loop {
            let result = op().await;
            attempt += 1;
            match result {
                Err(e) if e.is_retryable() => {
                    let wait = self.delay(attempt - 1, &mut jitter);
                    if started.elapsed() + wait > self.budget {
                        return (Err(e), attempt);
                    }
                    tracing::debug!(attempt, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return (other, attempt),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flaky(bool);
    impl Retryable for Flaky {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    fn policy(budget_ms: u64) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            budget: Duration::from_millis(budget_ms),
        }
    }

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

    #[tokio::test]
    async fn retries_until_success() {
        let mut calls = 0;
        let (result, attempts) = policy(1000)
            .run(|| {
                calls += 1;
                let ok = calls >= 4;
                async move { if ok { Ok(calls) } else { Err(Flaky(true)) } }
            })
            .await;
        assert_eq!(result.ok(), Some(4));
        assert_eq!(attempts, 4);
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried_and_budgets_end_retries() {
        let (result, attempts) = policy(1000)
            .run(|| async { Err::<(), _>(Flaky(false)) })
            .await;
        assert!(result.is_err());
        assert_eq!(attempts, 1);
        let started = Instant::now();
        let (result, attempts) = policy(30).run(|| async { Err::<(), _>(Flaky(true)) }).await;
        assert!(result.is_err());
        assert!(attempts > 1);
        assert!(started.elapsed() < Duration::from_millis(500));
        let (_, attempts) = policy(0).run(|| async { Err::<(), _>(Flaky(true)) }).await;
        assert_eq!(attempts, 1, "a zero budget means no retries");
    }
}
