//! When a connection's next write is held: only while the whole server writes often, only
//! after a write that carried several frames, and only on a connection whose frames come
//! fast enough for a hold to merge several.
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
//! Nor does it follow a write of one frame, or a write on a connection whose frames come too
//! slowly for [`MERGE_AT`] of them to arrive during a hold (its rate is its own, looked at
//! every [`WINDOW`] like the server's): a hold there would rarely find a second frame to
//! merge, and it would cost a timer and its wake-up per write. At 5,000 × 5 and 600,000/s
//! (120 frames a second per connection: 1.2 in a 10 ms hold) holding cost 1.66 µs of server
//! CPU per delivery on average against 1.49 without, and the rung failed more often
//! (BENCHMARKS.md). A connection that wrote longer ago than the hold writes at once either
//! way: the hold delays the *next* write, never the first one after a quiet spell.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the write rate is looked at.
pub const WINDOW: Duration = Duration::from_millis(100);

/// How many frames a connection must be expected to receive during a hold for the hold to
/// be worth its timer: at 1,000 × 5 and 600,000 deliveries/s a connection gets 6 in 10 ms,
/// at 5,000 × 5 and 600,000/s it gets 1.2.
pub const MERGE_AT: u64 = 4;

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

    /// Counts a write of `frames` frames on the connection whose rate is `connection`;
    /// returns how long the connection should wait before its next write.
    pub fn wrote(&self, connection: &mut ConnectionRate, frames: usize) -> Duration {
        self.connection_wrote_at(Instant::now(), connection, frames)
    }

    fn connection_wrote_at(
        &self,
        now: Instant,
        connection: &mut ConnectionRate,
        frames: usize,
    ) -> Duration {
        let hold = self.wrote_at(now, frames);
        connection.wrote_at(now, frames);
        if connection.frames_during(hold) >= MERGE_AT {
            hold
        } else {
            Duration::ZERO
        }
    }

    /// The server's side of [`WritePacer::wrote`]: the hold for a connection fast enough.
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

/// One connection's frame rate over its last [`WINDOW`] or more, kept by its writer.
pub struct ConnectionRate {
    since: Instant,
    frames: u64,
    per_sec: u64,
}

impl ConnectionRate {
    /// A connection's rate is unknown until its first window has passed: no hold before.
    pub fn new() -> Self {
        Self::starting_at(Instant::now())
    }

    fn starting_at(since: Instant) -> Self {
        ConnectionRate {
            since,
            frames: 0,
            per_sec: 0,
        }
    }

    fn wrote_at(&mut self, now: Instant, frames: usize) {
        self.frames += frames as u64;
        let span = now.saturating_duration_since(self.since);
        if span >= WINDOW {
            self.per_sec = (u128::from(self.frames) * 1_000_000 / span.as_micros())
                .try_into()
                .unwrap_or(u64::MAX);
            self.since = now;
            self.frames = 0;
        }
    }

    /// How many frames this connection is expected to receive during `hold`.
    fn frames_during(&self, hold: Duration) -> u64 {
        (u128::from(self.per_sec) * hold.as_micros() / 1_000_000)
            .try_into()
            .unwrap_or(u64::MAX)
    }
}

impl Default for ConnectionRate {
    fn default() -> Self {
        Self::new()
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

    /// A connection's rate after `per_window` frames in each of `windows` windows from `at`.
    fn rate_after(at: Instant, windows: u32, per_window: usize) -> ConnectionRate {
        let mut rate = ConnectionRate::starting_at(at);
        for window in 1..=windows {
            rate.wrote_at(at + WINDOW * window, per_window);
        }
        rate
    }

    #[test]
    fn a_connection_s_rate_is_unknown_until_its_first_window_has_passed() {
        let at = Instant::now();
        let mut rate = ConnectionRate::starting_at(at);
        rate.wrote_at(at + WINDOW / 2, 1_000);
        assert_eq!(rate.frames_during(HOLD), 0);
        rate.wrote_at(at + WINDOW, 0);
        // 1,000 frames in 100 ms: 100 in 10 ms.
        assert_eq!(rate.frames_during(HOLD), 100);
    }

    #[test]
    fn a_connection_s_rate_counts_the_frames_of_its_last_window() {
        let at = Instant::now();
        // 120 frames a second (5,000 × 5 at 600,000/s): 1.2 frames in a 10 ms hold.
        assert_eq!(rate_after(at, 3, 12).frames_during(HOLD), 1);
        // 1,200 a second (1,000 × 5 at 1,200,000/s): 12.
        assert_eq!(rate_after(at, 3, 120).frames_during(HOLD), 12);
        // Exactly `MERGE_AT` in a hold.
        let per_window = (MERGE_AT * 10) as usize;
        assert_eq!(rate_after(at, 1, per_window).frames_during(HOLD), MERGE_AT);
        // A quiet minute after a fast spell: the next write sees the low rate.
        let mut rate = rate_after(at, 3, 120);
        rate.wrote_at(at + WINDOW * 3 + Duration::from_secs(60), 1);
        assert_eq!(rate.frames_during(HOLD), 0);
    }

    #[test]
    fn a_busy_server_holds_only_connections_expected_to_get_merge_at_frames_in_a_hold() {
        let pacer = WritePacer::new(HOLD, 20_000);
        writes_in_window(&pacer, 0, 3_000);
        let at = pacer.start;
        let per_window = (MERGE_AT * 10) as usize;
        let mut fast = rate_after(at, 1, per_window);
        let mut slow = rate_after(at, 1, per_window - 10);
        let now = at + WINDOW;
        assert_eq!(pacer.connection_wrote_at(now, &mut fast, SEVERAL), HOLD);
        assert_eq!(
            pacer.connection_wrote_at(now, &mut slow, SEVERAL),
            Duration::ZERO
        );
        // Fast, but a write of one frame.
        assert_eq!(pacer.connection_wrote_at(now, &mut fast, 1), Duration::ZERO);
        // Fast on a quiet server.
        let quiet = WritePacer::new(HOLD, 20_000);
        let mut fast = rate_after(quiet.start, 1, per_window);
        assert_eq!(
            quiet.connection_wrote_at(quiet.start + WINDOW, &mut fast, SEVERAL),
            Duration::ZERO
        );
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
