//! When a connection's next write is held: only while the whole server writes often, and
//! only after a write that carried several frames.
//!
//! A write (one batch: one `send`, unless it is over the 8 KiB write chunk) is a TCP segment,
//! and the subscriber's kernel answers nearly every segment with an ACK at once. At high
//! fan-out those packets are most of the server's CPU: at 1,000 × 5 and 1,000,000
//! deliveries/s, `nstat` counted 205,000 data segments a second (about 5 frames each) and
//! 193,000 ACKs, and `perf` put 58–65 % of the server's CPU under `send` (BENCHMARKS.md).
//! Holding a connection's next write for a few milliseconds after a write merges what
//! arrives meanwhile into one segment: with a 10 ms hold the same load took 90,000 segments
//! a second and 0.75 instead of 1.02–1.09 µs of server CPU per delivery.
//!
//! A hold is latency, though, and it buys little when writes are few. Under a hold at any
//! rate, the local stack's end-to-end bench (1,000 quotes/s) saw its p50 go from 4 to 11 ms,
//! and the ladder's p99 at 100,000 deliveries/s from 5 to 13 ms, where the server wrote
//! 22,000 times a second and used a fifth of a core. So the hold applies only while the
//! server as a whole writes more than a threshold (by default 100,000 times a second; 1,000
//! × 5 crosses it between 300,000 and 600,000 deliveries/s), measured over [`WINDOW`]s. It
//! stops only when the rate falls below a quarter of that: the hold itself cuts the writes
//! by half or more, so stopping at the threshold would switch it off and on by turns.
//!
//! Nor does it follow a write of one frame: that connection's frames come further apart
//! than its writer takes them, a hold would rarely find a second one to merge, and it would
//! cost a timer per write. At 5,000 × 5 and 600,000/s (120 frames a second per connection)
//! holding after every write cost 1.64–1.87 µs of server CPU per delivery against 1.41–1.82
//! without a hold (BENCHMARKS.md). A connection that wrote longer ago than the hold writes at
//! once either way: the hold delays the *next* write, never the first one after a quiet
//! spell.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the write rate is looked at.
pub const WINDOW: Duration = Duration::from_millis(100);

/// The longest hold: well under the 5 s a closing connection gets to send its last frames
/// and its close frame, which a hold delays.
pub const MAX_HOLD: Duration = Duration::from_secs(1);

pub struct WritePacer {
    hold: Duration,
    busy_writes_per_sec: u64,
    start: Instant,
    /// Writes since `start`.
    writes: AtomicU64,
    /// The window the rate was last looked at in (windows since `start`), for the writes
    /// that only need to know it has not changed.
    window: AtomicU64,
    /// The same window, with the write count then: whoever takes the lock at a window's
    /// turn looks at the rate, once.
    turn: Mutex<Turn>,
    holding: AtomicBool,
}

struct Turn {
    window: u64,
    writes: u64,
}

impl WritePacer {
    /// Holds a connection's next write for `hold` (at most [`MAX_HOLD`]) after a write of
    /// several frames, while the server writes more than `busy_writes_per_sec` times a second
    /// (0: at any rate, from the first window on). A zero `hold` never holds.
    pub fn new(hold: Duration, busy_writes_per_sec: u64) -> Self {
        WritePacer {
            hold: hold.min(MAX_HOLD),
            busy_writes_per_sec,
            start: Instant::now(),
            writes: AtomicU64::new(0),
            window: AtomicU64::new(0),
            turn: Mutex::new(Turn {
                window: 0,
                writes: 0,
            }),
            holding: AtomicBool::new(false),
        }
    }

    /// Counts a connection's write of `frames` frames; returns how long it should wait
    /// before its next one.
    pub fn wrote(&self, frames: usize) -> Duration {
        self.wrote_at(Instant::now(), frames)
    }

    fn wrote_at(&self, now: Instant, frames: usize) -> Duration {
        if self.hold.is_zero() {
            return Duration::ZERO;
        }
        let writes = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        let window = windows_between(self.start, now);
        // A busy writer skips the turn (the rate is a window's, not exact to the write).
        if window > self.window.load(Ordering::Relaxed)
            && let Ok(mut turn) = self.turn.try_lock()
            && window > turn.window
        {
            let span_ms = WINDOW.as_millis() as u64 * (window - turn.window);
            let per_sec = writes.saturating_sub(turn.writes).saturating_mul(1000) / span_ms;
            *turn = Turn { window, writes };
            self.window.store(window, Ordering::Relaxed);
            let holding = self.holding.load(Ordering::Relaxed);
            self.holding.store(
                busy(holding, per_sec, self.busy_writes_per_sec),
                Ordering::Relaxed,
            );
        }
        if frames > 1 && self.holding.load(Ordering::Relaxed) {
            self.hold
        } else {
            Duration::ZERO
        }
    }
}

fn windows_between(start: Instant, now: Instant) -> u64 {
    (now.saturating_duration_since(start).as_millis() / WINDOW.as_millis()) as u64
}

/// Whether to hold at `per_sec` writes a second: above the threshold to start, at a quarter
/// of it or more to go on.
fn busy(holding: bool, per_sec: u64, threshold: u64) -> bool {
    if holding {
        per_sec.saturating_mul(4) >= threshold
    } else {
        per_sec > threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_millis(10);
    /// Frames in a write that a hold may follow.
    const SEVERAL: usize = 5;

    /// `n` writes of several frames spread over the window `window` (counted from the
    /// pacer's start); the hold the last one was told.
    fn writes_in_window(pacer: &WritePacer, window: u32, n: u32) -> Duration {
        let at = pacer.start + WINDOW * window;
        (0..n)
            .map(|i| pacer.wrote_at(at + WINDOW * i / n, SEVERAL))
            .last()
            .unwrap_or_default()
    }

    #[test]
    fn a_quiet_server_never_holds() {
        // 1,000 writes a second against a threshold of 20,000.
        let pacer = WritePacer::new(HOLD, 20_000);
        for window in 0..5 {
            assert_eq!(writes_in_window(&pacer, window, 100), Duration::ZERO);
        }
    }

    #[test]
    fn a_busy_server_holds_from_the_next_window_until_the_rate_falls_to_a_quarter() {
        let pacer = WritePacer::new(HOLD, 20_000);
        // 30,000 writes a second: seen at the first write of the next window.
        assert_eq!(writes_in_window(&pacer, 0, 3_000), Duration::ZERO);
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW, SEVERAL), HOLD);
        // 15,000 then exactly 5,000 a second: under the threshold, at a quarter of it or
        // more, so still holding.
        assert_eq!(writes_in_window(&pacer, 1, 1_499), HOLD);
        assert_eq!(writes_in_window(&pacer, 2, 500), HOLD);
        // 4,990 a second: the hold stops with the window after.
        assert_eq!(writes_in_window(&pacer, 3, 499), HOLD);
        assert_eq!(
            pacer.wrote_at(pacer.start + WINDOW * 4, SEVERAL),
            Duration::ZERO
        );
    }

    #[test]
    fn exactly_the_threshold_does_not_start_the_hold() {
        let pacer = WritePacer::new(HOLD, 20_000);
        // 2,000 writes per window: 20,000 a second, counted at each window's first write.
        assert_eq!(writes_in_window(&pacer, 0, 1_999), Duration::ZERO);
        for window in 1..4 {
            assert_eq!(writes_in_window(&pacer, window, 2_000), Duration::ZERO);
        }
        // One more write in a window tips it.
        writes_in_window(&pacer, 4, 2_001);
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW * 5, SEVERAL), HOLD);
    }

    #[test]
    fn a_write_of_one_frame_is_never_followed_by_a_hold() {
        let pacer = WritePacer::new(HOLD, 20_000);
        writes_in_window(&pacer, 0, 3_000);
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW, 1), Duration::ZERO);
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW, 2), HOLD);
    }

    #[test]
    fn a_spell_of_silence_counts_as_a_low_rate() {
        let pacer = WritePacer::new(HOLD, 20_000);
        writes_in_window(&pacer, 0, 3_000);
        assert_eq!(writes_in_window(&pacer, 1, 3_000), HOLD);
        // Nobody wrote for a minute: 3,000 writes over 600 windows.
        assert_eq!(
            pacer.wrote_at(pacer.start + WINDOW * 602, SEVERAL),
            Duration::ZERO
        );
    }

    #[test]
    fn a_zero_hold_never_holds_and_a_long_one_is_capped() {
        let pacer = WritePacer::new(Duration::ZERO, 0);
        assert_eq!(writes_in_window(&pacer, 0, 3_000), Duration::ZERO);
        assert_eq!(writes_in_window(&pacer, 1, 3_000), Duration::ZERO);
        let pacer = WritePacer::new(Duration::from_secs(60), 0);
        writes_in_window(&pacer, 0, 10);
        assert_eq!(writes_in_window(&pacer, 1, 10), MAX_HOLD);
    }

    #[test]
    fn writers_on_many_threads_see_one_turn_per_window() {
        let pacer = WritePacer::new(HOLD, 20_000);
        // Four threads, 750 writes each in window 0 (30,000 a second together), then each
        // writes once in window 1: the turn counts all 3,000 and switches the hold on.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..750u32 {
                        pacer.wrote_at(pacer.start + WINDOW * i / 750, SEVERAL);
                    }
                });
            }
        });
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| pacer.wrote_at(pacer.start + WINDOW, SEVERAL));
            }
        });
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW, SEVERAL), HOLD);
    }
}
