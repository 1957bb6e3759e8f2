//! When a ticker asks the history API for bars, and which ones, so that no bar is missed.
//!
//! Four moments need history:
//! - a ticker is opened (page load, added): its most recent [`INITIAL`] bars, asked for at
//!   once, in parallel with its subscription, so the card opens on a full chart without
//!   waiting for the real-time handshake;
//! - every (re)subscribe (`start_ack`): bars published while the subscription was not live
//!   are only in history: everything after the last bar held (or from the first hole still
//!   open, when a live bar already arrived past one), page by page; with nothing held, the
//!   most recent bars again. After an open this covers the bars published between the first
//!   answer and the subscription going live.
//! - a live bar whose `prevTimestamp` is not the bar held before it: the hole in between
//!   (a dropped frame, a tab that was hidden) is loaded from the bar before it.
//! - a failed request is sent again after [`RETRY_MS`], doubling with each failure in a row
//!   up to [`MAX_RETRY_MS`], unless its failure is one asking
//!   again cannot change (no data source, not allowed): then the ticker asks no more and
//!   its card says why.
//!
//! History is written before a bar is published, so once a request has come back every
//! bar up to the point it covered is held — or never existed. The loader remembers that
//! point (`settled_until`); a hole before it is one the feed itself left (the producer
//! stopped), drawn as a gap and never asked for again. One request per ticker is in flight
//! at a time; whatever happens meanwhile is looked at when it returns.

use quotecast_shared::quote::Quote;

use super::ticker::TickerState;

/// Bars loaded when a ticker with nothing held opens: more than one chart's default range.
pub const INITIAL: u32 = 120;
/// Bars per page when catching up (the API allows up to 1,000).
pub const PAGE: u32 = 500;
/// How long a failed request waits before it is sent again.
pub const RETRY_MS: i64 = 3_000;
/// The longest wait between two attempts of a failure that keeps coming back.
pub const MAX_RETRY_MS: i64 = 300_000;

/// Why one `history` call failed, and whether asking again can change that.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub message: String,
    /// Asking again will get the same answer: the ticker stops asking.
    pub permanent: bool,
}

impl FieldError {
    /// A failure that may clear (the network, a server error): asked again later.
    pub fn transient(message: impl Into<String>) -> Self {
        FieldError {
            message: message.into(),
            permanent: false,
        }
    }
}

/// One `history` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Bars strictly after this time (ms); `None`: the most recent ones.
    pub after: Option<i64>,
    pub limit: u32,
    /// A hole's end: paging stops once a page reaches it.
    pub until: Option<i64>,
}

/// One answered `historyPage` call: its bars, oldest first, and where the server says to go
/// on from (`None` only once the read reached the ticker's end).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub bars: Vec<Quote>,
    pub next: Option<i64>,
}

/// A ticker's history loading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loader {
    in_flight: Option<Request>,
    /// The subscription was (re)acknowledged: catch up from the last bar held.
    resync: bool,
    /// The next page of a request that came back full.
    next_page: Option<Request>,
    /// A failed request and when to send it again.
    retry: Option<(Request, i64)>,
    /// Failures in a row (the next wait doubles with each).
    failures: u32,
    /// Every hole ending at or before this is final.
    settled_until: i64,
    /// Requests answered, for "loading…" versus "waiting for quotes…".
    answered: u64,
    /// Why history is not asked for any more: a refusal asking again cannot change.
    unavailable: Option<String>,
}

impl Loader {
    /// A ticker just opened: its most recent bars are its first request.
    pub fn opening() -> Self {
        Loader {
            resync: true,
            ..Loader::default()
        }
    }

    /// The subscription is live (again): what it missed must come from history.
    pub fn subscribed(&mut self) {
        self.resync = true;
    }

    /// Whether the first load is still to come back (the card says "loading…").
    pub fn loading(&self) -> bool {
        self.unavailable.is_none()
            && self.answered == 0
            && (self.resync || self.in_flight.is_some() || self.retry.is_some())
    }

    /// Why this ticker asks for no more history (the card says so), if it stopped.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// The request to send now, if any; it is then in flight until [`Loader::answered`] or
    /// [`Loader::failed`].
    pub fn next(&mut self, state: &TickerState, now_ms: i64) -> Option<Request> {
        if self.in_flight.is_some() || self.unavailable.is_some() {
            return None;
        }
        let request = if let Some(page) = self.next_page.take() {
            page
        } else if let Some((request, at)) = self.retry {
            if now_ms < at {
                return None;
            }
            self.retry = None;
            request
        } else if self.resync {
            self.resync = false;
            // From the first hole not yet settled, if any: a live bar may already sit past
            // one (it arrived before the answer that came first), and an answer settles
            // everything up to its end, so starting after that bar would settle the hole
            // unloaded.
            let from = self
                .first_unsettled_hole(state)
                .map(|(after, _)| after)
                .or(state.last().map(|q| q.timestamp));
            match from {
                None => Request {
                    after: None,
                    limit: INITIAL,
                    until: None,
                },
                Some(after) => Request {
                    after: Some(after),
                    limit: PAGE,
                    until: None,
                },
            }
        } else {
            let (after, before) = self.first_unsettled_hole(state)?;
            Request {
                after: Some(after),
                limit: PAGE,
                until: Some(before),
            }
        };
        self.in_flight = Some(request);
        Some(request)
    }

    /// The oldest hole that history may still fill. Every request starts at or before it,
    /// so what an answer covers runs on from what is settled, never past a hole unloaded.
    fn first_unsettled_hole(&self, state: &TickerState) -> Option<(i64, i64)> {
        state
            .holes()
            .find(|(_, before)| *before > self.settled_until)
    }

    /// `request` came back with bars up to `last`, already merged into the ticker's state, and
    /// the server's `next`. Paging goes on from `next` until it is null or past the hole, never
    /// judged by how many bars came back: a page is short when the server skipped an item or
    /// filled its 1 MB, and a bar this side cannot read is one of fewer too. An answer to a
    /// request not in flight (a removed and re-added ticker) changes nothing.
    pub fn answered(&mut self, request: Request, last: Option<i64>, next: Option<i64>) {
        if self.in_flight != Some(request) {
            return;
        }
        self.in_flight = None;
        self.answered += 1;
        self.failures = 0;
        // The most recent bars (`after: None`) end at the end; a `next` that does not move
        // forward would page forever: paging stops there, and what it covers is only what it
        // read (the rest of the hole is not settled on a broken promise).
        if let (Some(after), Some(n)) = (request.after, next)
            && n <= after
        {
            let covered = last.map_or(after, |l| l.max(after));
            self.settled_until = self.settled_until.max(covered);
            return;
        }
        let next = next.filter(|_| request.after.is_some());
        let past_hole = matches!((request.until, next), (Some(until), Some(n)) if n >= until);
        if let Some(next) = next
            && !past_hole
        {
            self.next_page = Some(Request {
                after: Some(next),
                ..request
            });
            return;
        }
        let covered = [request.until, last, request.after, next]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.settled_until);
        self.settled_until = self.settled_until.max(covered);
    }

    /// `request` failed: sent again after [`RETRY_MS`], doubled per failure in a row up to
    /// [`MAX_RETRY_MS`], when the failure may clear (network,
    /// server); never again when it cannot (no data source, not allowed), which ends
    /// "loading…" with the reason.
    pub fn failed(&mut self, request: Request, now_ms: i64, error: &FieldError) {
        if self.in_flight != Some(request) {
            return;
        }
        self.in_flight = None;
        if error.permanent {
            self.unavailable = Some(error.message.clone());
            self.retry = None;
            self.next_page = None;
            return;
        }
        let wait = (RETRY_MS << self.failures.min(10)).min(MAX_RETRY_MS);
        self.failures += 1;
        self.retry = Some((request, now_ms + wait));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ticker::HELD;

    fn linked(t: i64) -> Quote {
        Quote::new("AMZN", t, [1.0, 2.0, 0.5, 1.5], 10)
            .unwrap()
            .with_prev_timestamp(Some(t - 1_000))
            .unwrap()
    }

    fn state(times: &[i64]) -> TickerState {
        let mut s = TickerState::default();
        for t in times {
            s.apply(linked(*t));
        }
        s
    }

    /// Answers `request` from a store holding `stored`, the way the API does, and merges.
    fn serve(loader: &mut Loader, s: &mut TickerState, request: Request, stored: &[i64]) {
        serve_skipping(loader, s, request, stored, &[]);
    }

    /// [`serve`] from a store whose `unreadable` items the server reads (they count towards
    /// `limit` and may end a page) but leaves out of the answer.
    fn serve_skipping(
        loader: &mut Loader,
        s: &mut TickerState,
        request: Request,
        stored: &[i64],
        unreadable: &[i64],
    ) {
        let (read, next): (Vec<i64>, Option<i64>) = match request.after {
            None => {
                let skip = stored.len().saturating_sub(request.limit as usize);
                (stored[skip..].to_vec(), None)
            }
            Some(after) => {
                let rest: Vec<i64> = stored.iter().copied().filter(|t| *t > after).collect();
                let read: Vec<i64> = rest.iter().copied().take(request.limit as usize).collect();
                let stopped = read.len() == request.limit as usize;
                (read.clone(), read.last().copied().filter(|_| stopped))
            }
        };
        let bars: Vec<i64> = read
            .into_iter()
            .filter(|t| !unreadable.contains(t))
            .collect();
        for t in &bars {
            s.apply(linked(*t));
        }
        loader.answered(request, bars.last().copied(), next);
    }

    #[test]
    fn opens_with_the_latest_bars_at_once_and_catches_up_when_live() {
        let mut l = Loader::opening();
        let mut s = TickerState::default();
        assert!(l.loading());
        let r = l.next(&s, 0).unwrap();
        assert_eq!(
            r,
            Request {
                after: None,
                limit: INITIAL,
                until: None
            }
        );
        assert_eq!(l.next(&s, 0), None, "one request at a time");
        let stored: Vec<i64> = (1..=300).map(|i| i * 1_000).collect();
        serve(&mut l, &mut s, r, &stored);
        assert!(!l.loading());
        assert_eq!(s.len(), INITIAL as usize, "the most recent page only");
        assert_eq!(s.last().unwrap().timestamp, 300_000);
        assert_eq!(
            l.next(&s, 0),
            None,
            "nothing more until the subscription is live"
        );
        // Bars published before the subscription went live come from history.
        let stored: Vec<i64> = (1..=303).map(|i| i * 1_000).collect();
        l.subscribed();
        let r = l.next(&s, 0).unwrap();
        assert_eq!((r.after, r.limit), (Some(300_000), PAGE));
        serve(&mut l, &mut s, r, &stored);
        assert_eq!(s.last().unwrap().timestamp, 303_000);
        assert_eq!(s.holes().count(), 0);
        assert_eq!(l.next(&s, 0), None);
    }

    #[test]
    fn an_ack_before_the_first_answer_catches_up_after_it() {
        let mut l = Loader::opening();
        let mut s = TickerState::default();
        let first = l.next(&s, 0).unwrap();
        l.subscribed();
        assert_eq!(l.next(&s, 0), None, "one request at a time");
        let stored: Vec<i64> = (1..=10).map(|i| i * 1_000).collect();
        serve(&mut l, &mut s, first, &stored[..8]);
        let r = l.next(&s, 0).unwrap();
        assert_eq!(r.after, Some(8_000));
        serve(&mut l, &mut s, r, &stored);
        assert_eq!(s.len(), 10);
    }

    /// A live bar can land before the opening answer: catching up from it (the newest bar
    /// held) would take the hole behind it as settled and never load it.
    #[test]
    fn a_live_bar_before_the_opening_answer_leaves_no_hole() {
        let mut l = Loader::opening();
        let mut s = TickerState::default();
        let opening = l.next(&s, 0).unwrap();
        let stored: Vec<i64> = (1..=10).map(|i| i * 1_000).collect();
        l.subscribed();
        s.apply(linked(10_000));
        // The opening answer was read before bars 8..=10 were stored.
        serve(&mut l, &mut s, opening, &stored[..7]);
        assert_eq!(s.holes().collect::<Vec<_>>(), [(7_000, 10_000)]);
        while let Some(r) = l.next(&s, 0) {
            serve(&mut l, &mut s, r, &stored);
        }
        assert_eq!(s.holes().count(), 0, "bars 8 and 9 loaded");
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn a_resubscribe_catches_up_page_by_page_from_the_last_bar() {
        let mut l = Loader::default();
        let mut s = state(&[1_000, 2_000]);
        let stored: Vec<i64> = (1..=1_200).map(|i| i * 1_000).collect();
        l.subscribed();
        let mut pages = 0;
        while let Some(r) = l.next(&s, 0) {
            pages += 1;
            assert_eq!(r.limit, PAGE);
            serve(&mut l, &mut s, r, &stored);
        }
        assert_eq!(pages, 3, "500 + 500 + 198");
        assert_eq!(s.last().unwrap().timestamp, 1_200_000);
        assert_eq!(s.holes().count(), 0);
    }

    #[test]
    fn a_hole_is_loaded_once_and_an_unfillable_one_stays_a_gap() {
        let mut l = Loader::default();
        // Held 1..=3, a live bar at 8 (4..=7 missed); the store lacks 6 (the feed skipped it).
        let mut s = state(&[1_000, 2_000, 3_000, 8_000]);
        let stored = [1_000, 2_000, 3_000, 4_000, 5_000, 7_000, 8_000];
        let r = l.next(&s, 0).unwrap();
        assert_eq!(
            r,
            Request {
                after: Some(3_000),
                limit: PAGE,
                until: Some(8_000)
            }
        );
        serve(&mut l, &mut s, r, &stored);
        // 7's link points at 6, which history never had: a final gap, not asked again.
        assert_eq!(s.holes().collect::<Vec<_>>(), [(5_000, 7_000)]);
        assert_eq!(l.next(&s, 0), None);
        // A later hole is still loaded.
        s.apply(linked(10_000));
        let r = l.next(&s, 0).unwrap();
        assert_eq!((r.after, r.until), (Some(8_000), Some(10_000)));
    }

    #[test]
    fn a_resubscribe_during_a_request_waits_for_it() {
        let mut l = Loader::default();
        let mut s = state(&[1_000]);
        l.subscribed();
        let first = l.next(&s, 0).unwrap();
        l.subscribed();
        assert_eq!(l.next(&s, 0), None);
        serve(&mut l, &mut s, first, &[1_000, 2_000]);
        let again = l.next(&s, 0).unwrap();
        assert_eq!(again.after, Some(2_000), "from the newest bar held by then");
    }

    #[test]
    fn a_failed_request_is_retried_later_and_stray_answers_are_ignored() {
        let mut l = Loader::default();
        let s = TickerState::default();
        l.subscribed();
        let r = l.next(&s, 1_000).unwrap();
        l.answered(
            Request {
                after: Some(5),
                limit: 1,
                until: None,
            },
            Some(6),
            Some(6),
        );
        assert_eq!(l.next(&s, 1_000), None, "still in flight");
        l.failed(r, 1_000, &FieldError::transient("network"));
        assert!(l.loading());
        assert_eq!(l.next(&s, 1_000 + RETRY_MS - 1), None);
        assert_eq!(l.next(&s, 1_000 + RETRY_MS), Some(r));
        // Failing again and again, it waits twice as long each time, up to five minutes.
        let mut now = 1_000 + RETRY_MS;
        let mut waits = Vec::new();
        for _ in 0..9 {
            l.failed(r, now, &FieldError::transient("network"));
            let at = l.retry.map(|(_, at)| at).unwrap();
            waits.push(at - now);
            now = at;
            assert_eq!(l.next(&s, now), Some(r));
        }
        assert_eq!(
            waits,
            [
                6_000, 12_000, 24_000, 48_000, 96_000, 192_000, 300_000, 300_000, 300_000
            ]
        );
        // An answer starts the count again.
        l.answered(r, None, None);
        l.subscribed();
        let again = l.next(&s, now).unwrap();
        l.failed(again, now, &FieldError::transient("network"));
        assert_eq!(l.retry.map(|(_, at)| at - now), Some(RETRY_MS));
    }

    #[test]
    fn a_permanent_refusal_ends_loading_and_is_never_asked_again() {
        let mut l = Loader::opening();
        let s = TickerState::default();
        let r = l.next(&s, 1_000).unwrap();
        assert!(l.loading());
        let refusal = FieldError {
            message: "DataSourceUnavailable: this server keeps no history".to_owned(),
            permanent: true,
        };
        l.failed(r, 1_000, &refusal);
        assert!(!l.loading(), "the card leaves \"loading…\"");
        assert_eq!(l.unavailable(), Some(refusal.message.as_str()));
        // Neither the retry clock nor a resubscribe asks again.
        assert_eq!(l.next(&s, 1_000 + 100 * RETRY_MS), None);
        l.subscribed();
        assert_eq!(l.next(&s, 1_000 + 200 * RETRY_MS), None);
    }

    /// A page the server cut short (an unreadable item it skipped) is not the end: paging
    /// goes on from `next` and the rest of the hole is loaded.
    #[test]
    fn a_short_page_is_not_the_end_of_a_hole() {
        let mut l = Loader::default();
        let mut s = state(&[1_000]);
        let stored: Vec<i64> = (1..=1_200).map(|i| i * 1_000).collect();
        s.apply(linked(1_200_000));
        let unreadable = [1_000_000, 1_100_000];
        while let Some(r) = l.next(&s, 0) {
            serve_skipping(&mut l, &mut s, r, &stored, &unreadable);
        }
        // The page of 502..=1001 held 499 readable bars; the next two were still loaded.
        let holes: Vec<(i64, i64)> = s.holes().collect();
        assert_eq!(
            holes,
            [(999_000, 1_001_000), (1_099_000, 1_101_000)],
            "the skipped bars only"
        );
        assert_eq!(s.len(), HELD);
    }

    /// `next` decides, not the count: a full page at the end of the store (`next: None`)
    /// settles; a `next` that does not move forward ends paging rather than looping.
    #[test]
    fn paging_follows_next_and_never_loops() {
        let r = Request {
            after: Some(1_000),
            limit: 2,
            until: None,
        };
        let in_flight = || Loader {
            in_flight: Some(r),
            ..Loader::default()
        };
        let mut l = in_flight();
        l.answered(r, Some(3_000), None);
        assert_eq!((l.next_page, l.settled_until), (None, 3_000));
        let mut l = in_flight();
        l.answered(r, None, Some(1_000));
        assert_eq!((l.next_page, l.settled_until), (None, 1_000));
        // A `next` that does not move on settles what was read, never the hole's end.
        let hole = Request {
            until: Some(9_000),
            ..r
        };
        let mut l = Loader {
            in_flight: Some(hole),
            ..Loader::default()
        };
        l.answered(hole, Some(2_000), Some(500));
        assert_eq!((l.next_page, l.settled_until), (None, 2_000));
        let mut l = in_flight();
        l.answered(r, None, Some(2_000));
        assert_eq!(
            l.next_page.map(|p| p.after),
            Some(Some(2_000)),
            "an empty page that goes on"
        );
    }
}
