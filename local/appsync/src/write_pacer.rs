//! When a connection's next write is held: only while the whole server writes often, and
//! only on a connection whose frames come fast enough for a hold to merge several.
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
//! Nor does it follow a write on a connection whose frames come too slowly for
//! [`MIN_FRAMES_PER_HOLD`] of them to arrive during a hold (its rate is its own, over at
//! least a [`WINDOW`], kept by its writer): a hold there would rarely find anything to merge
//! and would cost a timer and its wake-up per write. At 5,000 × 5 and 600,000/s each
//! connection gets 120 frames a second, in bursts of 5 every 42 ms: holding after every
//! burst cost 1.49–1.85 µs of server CPU per delivery against 1.46–1.71 without, and the
//! rung failed more often (BENCHMARKS.md). The rate counts frames, not bursts, so a
//! connection with big bursts far apart (50 frames every 100 ms) is still held after each
//! write, uselessly; but that costs a timer per write, some ten a second, and the next burst
//! comes after the hold has ended. What it does cost is the rest of a burst that missed the
//! write its first frames went out in: that waits out the hold. The rate is counted whatever
//! a write carries and the hold is decided by it alone: a fast connection whose writer keeps
//! up, writing one frame at a time, is just where a hold merges most. A connection that
//! wrote longer ago than the hold writes at once either way: the hold delays the *next*
//! write, never the first one after a quiet spell.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the server's write rate, and each connection's frame rate, is looked at.
pub const WINDOW: Duration = Duration::from_millis(100);

/// How many frames a connection must be expected to receive during a hold for the hold to
/// be worth its timer, unless configured otherwise (`Config::websocket_hold_min_frames`). It
/// lies between the two loads measured: at 1,000 × 5 and 600,000 deliveries/s a connection
/// gets 6 in 10 ms and holding pays; at 5,000 × 5 and 600,000/s it gets 1.2 and holding
/// costs. With the default 10 ms hold it means 400 frames a second.
pub const MIN_FRAMES_PER_HOLD: u64 = 4;

/// The longest hold: well under the 5 s a closing connection gets to send its last frames
/// and its close frame, which a hold delays.
pub const MAX_HOLD: Duration = Duration::from_secs(1);

pub struct WritePacer {
    hold: Duration,
    busy_writes_per_sec: u64,
    min_frames_per_hold: u64,
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
    /// Holds a connection's next write for `hold` (at most [`MAX_HOLD`]) while the server
    /// writes more than `busy_writes_per_sec` times a second (0: at any rate, from the first
    /// window on), if the connection's own rate puts `min_frames_per_hold` frames in a hold
    /// (normally [`MIN_FRAMES_PER_HOLD`]; 0: any connection). A zero `hold` never holds.
    pub fn new(hold: Duration, busy_writes_per_sec: u64, min_frames_per_hold: u64) -> Self {
        WritePacer {
            hold: hold.min(MAX_HOLD),
            busy_writes_per_sec,
            min_frames_per_hold,
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
        self.wrote_at(Instant::now(), connection, frames)
    }

    fn wrote_at(&self, now: Instant, connection: &mut ConnectionRate, frames: usize) -> Duration {
        if self.hold.is_zero() {
            return Duration::ZERO;
        }
        let busy = self.busy_at(now);
        connection.wrote_at(now, frames);
        if busy && connection.frames_during(self.hold) >= self.min_frames_per_hold {
            self.hold
        } else {
            Duration::ZERO
        }
    }

    /// Counts a write at `now`; whether the server is busy enough to hold.
    fn busy_at(&self, now: Instant) -> bool {
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
        self.holding.load(Ordering::Relaxed)
    }
}

/// One connection's frame rate, kept by its writer. Frames are counted from one window's
/// turn to the first write at least [`WINDOW`] later, and that span's rate stands until the
/// next turn: a connection that goes quiet keeps its last rate until its next write, which
/// then sees the quiet spell in its span.
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

    /// How many frames this connection is expected to receive during `hold` (rounded down).
    /// Asked at every write: 64-bit, so the division by a constant is a multiplication.
    fn frames_during(&self, hold: Duration) -> u64 {
        let hold_us = u64::try_from(hold.as_micros()).unwrap_or(u64::MAX);
        self.per_sec.saturating_mul(hold_us) / 1_000_000
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
    /// Frames per window that put exactly `MIN_FRAMES_PER_HOLD` in a `HOLD`.
    const FAST_PER_WINDOW: u64 =
        MIN_FRAMES_PER_HOLD * (WINDOW.as_millis() / HOLD.as_millis()) as u64;

    /// `n` writes spread over the window `window` (counted from the pacer's start); whether
    /// the last one found the server busy.
    fn writes_in_window(pacer: &WritePacer, window: u32, n: u32) -> bool {
        let at = pacer.start + WINDOW * window;
        (0..n)
            .map(|i| pacer.busy_at(at + WINDOW * i / n))
            .last()
            .unwrap_or_default()
    }

    #[test]
    fn a_quiet_server_is_never_busy() {
        // 1,000 writes a second against a threshold of 20,000.
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        for window in 0..5 {
            assert!(!writes_in_window(&pacer, window, 100));
        }
    }

    #[test]
    fn a_server_is_busy_from_the_next_window_until_the_rate_falls_to_a_quarter() {
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        // 30,000 writes a second: seen at the first write of the next window.
        assert!(!writes_in_window(&pacer, 0, 3_000));
        assert!(pacer.busy_at(pacer.start + WINDOW));
        // 15,000 then exactly 5,000 a second: under the threshold, at a quarter of it or
        // more, so still busy.
        assert!(writes_in_window(&pacer, 1, 1_499));
        assert!(writes_in_window(&pacer, 2, 500));
        // 4,990 a second: busy no more from the window after.
        assert!(writes_in_window(&pacer, 3, 499));
        assert!(!pacer.busy_at(pacer.start + WINDOW * 4));
    }

    #[test]
    fn exactly_the_threshold_is_not_busy() {
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        // 2,000 writes per window: 20,000 a second, counted at each window's first write.
        assert!(!writes_in_window(&pacer, 0, 1_999));
        for window in 1..4 {
            assert!(!writes_in_window(&pacer, window, 2_000));
        }
        // One more write in a window tips it.
        writes_in_window(&pacer, 4, 2_001);
        assert!(pacer.busy_at(pacer.start + WINDOW * 5));
    }

    #[test]
    fn a_spell_of_silence_counts_as_a_low_rate() {
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        writes_in_window(&pacer, 0, 3_000);
        assert!(writes_in_window(&pacer, 1, 3_000));
        // Nobody wrote for a minute: 3,000 writes over 600 windows.
        assert!(!pacer.busy_at(pacer.start + WINDOW * 602));
    }

    /// A connection's rate after each window's frames in turn, one write per window, from `at`.
    fn rate_after(at: Instant, windows: &[u64]) -> ConnectionRate {
        let mut rate = ConnectionRate::starting_at(at);
        for (window, &frames) in (1..).zip(windows) {
            rate.wrote_at(at + WINDOW * window, frames as usize);
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
    fn a_connection_s_rate_is_its_last_window_s() {
        let at = Instant::now();
        // 120 frames a second (5,000 × 5 at 600,000/s): 1.2 frames in a 10 ms hold.
        assert_eq!(rate_after(at, &[12, 12, 12]).frames_during(HOLD), 1);
        // 1,200 a second (1,000 × 5 at 1,200,000/s): 12, however slow the windows before
        // were (an average since the start would say 4).
        assert_eq!(rate_after(at, &[12, 12, 12, 120]).frames_during(HOLD), 12);
        // And back down.
        assert_eq!(rate_after(at, &[120, 120, 12]).frames_during(HOLD), 1);
        // Writes inside a window add up, and the rate stands until the window turns.
        let mut rate = rate_after(at, &[12]);
        for i in 1..10 {
            rate.wrote_at(at + WINDOW + WINDOW * i / 10, 10);
            assert_eq!(rate.frames_during(HOLD), 1, "turned early");
        }
        rate.wrote_at(at + WINDOW * 2, 30);
        assert_eq!(rate.frames_during(HOLD), 12);
        // A quiet minute after a fast spell: the next write sees the low rate.
        let mut rate = rate_after(at, &[120, 120, 120]);
        rate.wrote_at(at + WINDOW * 3 + Duration::from_secs(60), 1);
        assert_eq!(rate.frames_during(HOLD), 0);
    }

    #[test]
    fn a_busy_server_holds_only_connections_expected_to_get_enough_frames_in_a_hold() {
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        writes_in_window(&pacer, 0, 3_000);
        let at = pacer.start;
        let now = at + WINDOW;
        let mut fast = rate_after(at, &[FAST_PER_WINDOW]);
        let mut slow = rate_after(at, &[FAST_PER_WINDOW - 10]);
        assert_eq!(pacer.wrote_at(now, &mut fast, 5), HOLD);
        assert_eq!(pacer.wrote_at(now, &mut slow, 5), Duration::ZERO);
        // A write of one frame on a fast connection: held like any other.
        assert_eq!(pacer.wrote_at(now, &mut fast, 1), HOLD);
        // A fast connection on a quiet server.
        let quiet = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        let mut fast = rate_after(quiet.start, &[FAST_PER_WINDOW]);
        assert_eq!(
            quiet.wrote_at(quiet.start + WINDOW, &mut fast, 5),
            Duration::ZERO
        );
    }

    #[test]
    fn with_no_minimum_every_connection_of_a_busy_server_is_held() {
        let pacer = WritePacer::new(HOLD, 20_000, 0);
        writes_in_window(&pacer, 0, 3_000);
        let mut unknown = ConnectionRate::starting_at(pacer.start + WINDOW);
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW, &mut unknown, 1), HOLD);
    }

    #[test]
    fn a_connection_s_frames_count_while_nothing_is_held() {
        // The server is quiet while a connection speeds up; once the server is busy, the
        // connection's rate is already known.
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        let at = pacer.start;
        let mut rate = ConnectionRate::starting_at(at);
        assert_eq!(pacer.wrote_at(at, &mut rate, 1), Duration::ZERO);
        for _ in 0..3_000 {
            pacer.busy_at(at + WINDOW / 2);
        }
        assert_eq!(
            pacer.wrote_at(at + WINDOW / 2, &mut rate, FAST_PER_WINDOW as usize),
            Duration::ZERO
        );
        assert_eq!(pacer.wrote_at(at + WINDOW, &mut rate, 1), HOLD);
    }

    #[test]
    fn a_zero_hold_costs_nothing_and_a_long_one_is_capped() {
        let at = Instant::now();
        // Off: no write is counted, on the server or the connection.
        let pacer = WritePacer::new(Duration::ZERO, 0, 0);
        let mut fast = rate_after(at, &[1_000_000]);
        for window in 0..3 {
            let now = pacer.start + WINDOW * window;
            assert_eq!(pacer.wrote_at(now, &mut fast, 5), Duration::ZERO);
        }
        assert_eq!(pacer.writes.load(Ordering::Relaxed), 0);
        assert_eq!(fast.frames, 0);
        let pacer = WritePacer::new(Duration::from_secs(60), 0, MIN_FRAMES_PER_HOLD);
        let mut fast = rate_after(at, &[1_000]);
        writes_in_window(&pacer, 0, 10);
        assert_eq!(pacer.wrote_at(pacer.start + WINDOW, &mut fast, 5), MAX_HOLD);
    }

    #[test]
    fn writers_on_many_threads_see_one_turn_per_window() {
        let pacer = WritePacer::new(HOLD, 20_000, MIN_FRAMES_PER_HOLD);
        // Four threads, 750 writes each in window 0 (30,000 a second together), then each
        // writes once in window 1: the turn counts all 3,000 and the server is busy.
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for i in 0..750u32 {
                        pacer.busy_at(pacer.start + WINDOW * i / 750);
                    }
                });
            }
        });
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| pacer.busy_at(pacer.start + WINDOW));
            }
        });
        assert!(pacer.busy_at(pacer.start + WINDOW));
    }
}
