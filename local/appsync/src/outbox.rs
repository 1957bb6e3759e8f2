//! A connection's send queue: bounded in bytes, drained in batches by one writer task.
//!
//! Fan-out pushes frames without waiting, from any task. When a client stops reading, its
//! queue fills up to the byte limit and the connection is closed as a slow consumer: it
//! never slows the publisher or the other connections, and memory stays bounded. The limit
//! counts what is queued plus the batch the writer holds and has not written yet, so a
//! connection never holds more than the limit in frames (not twice it, as it would if
//! taking a batch reset the count).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use quotecast_shared::realtime::message::DATA_FRAME_END;
use tokio::sync::Notify;

use super::websocket::frame;

/// One frame waiting to be written.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A protocol message's JSON text (an ack, an error, a keep-alive).
    Text(String),
    /// A `data` frame in its two shared parts: the subscription's prefix (made at subscribe
    /// time) and the payload (made once per publish for every subscriber that selects the
    /// same way). Queueing one allocates nothing.
    Data { prefix: Arc<str>, payload: Arc<str> },
    /// Bytes already framed by the socket's reader (its reply to a ping).
    Raw(Vec<u8>),
}

impl Frame {
    /// The bytes this frame counts against the queue's limit: its message text, or the raw
    /// bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Data { prefix, payload } => prefix.len() + payload.len() + DATA_FRAME_END.len(),
            Frame::Raw(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message text the client reads (`None` for raw bytes).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Frame::Text(text) => Some(Cow::Borrowed(text)),
            Frame::Data { prefix, payload } => {
                Some(Cow::Owned([prefix, payload, DATA_FRAME_END].concat()))
            }
            Frame::Raw(_) => None,
        }
    }

    /// Appends the frame, as sent on the socket, to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Text(text) => frame::push_text(out, &[text]),
            Frame::Data { prefix, payload } => {
                frame::push_text(out, &[prefix, payload, DATA_FRAME_END]);
            }
            Frame::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Frame::Text(text)
    }
}

impl From<&str> for Frame {
    fn from(text: &str) -> Self {
        Frame::Text(text.to_owned())
    }
}

/// Why and how a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
    /// Send what is queued before closing (a final error frame, say); a slow consumer's
    /// backlog is dropped instead, and so is the backlog of a client that closed first or
    /// broke the protocol.
    pub flush_first: bool,
}

impl Close {
    pub const NORMAL: Close = Close {
        code: 1000,
        reason: "",
        flush_first: true,
    };
    pub const SLOW_CONSUMER: Close = Close {
        code: 1008,
        reason: "send queue full: client is not reading",
        flush_first: false,
    };
    pub const SHUTDOWN: Close = Close {
        code: 1001,
        reason: "server shutting down",
        flush_first: true,
    };
    /// A frame that breaks RFC 6455 (an unmasked frame, a reserved opcode or bit, a bad
    /// close code).
    pub const PROTOCOL_ERROR: Close = Close {
        code: 1002,
        reason: "protocol error",
        flush_first: false,
    };
    /// A text frame that is not UTF-8.
    pub const INVALID_TEXT: Close = Close {
        code: 1007,
        reason: "text frame is not valid UTF-8",
        flush_first: false,
    };

    /// The answer to a client's close frame: its code echoed (RFC 6455 §5.5.1), 1000 if it
    /// gave none, sent at once: a client that closes reads nothing more, so what was queued
    /// for it is dropped.
    pub fn reply_to(code: Option<u16>) -> Close {
        Close {
            code: code.unwrap_or(1000),
            reason: "",
            flush_first: false,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum PushError {
    /// The connection is closing; the frame was not queued.
    Closed,
    /// The queue was full; the connection is now closing as a slow consumer.
    Overflow,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Frame>,
    /// Bytes of `frames`.
    queued: usize,
    /// Bytes of the batch the writer took and has not written yet: still this connection's
    /// memory, so they count against the limit until [`Outbox::written`].
    in_flight: usize,
    closing: Option<Close>,
}

pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer: frames queued or closing.
    notify: Notify,
    /// Wakes the reader: closing.
    closed: Notify,
    max_bytes: usize,
}

impl Outbox {
    pub fn new(max_bytes: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            closed: Notify::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame.
    pub fn push(&self, frame: impl Into<Frame>) -> Result<(), PushError> {
        let frame = frame.into();
        let mut state = self.lock();
        if state.closing.is_some() {
            return Err(PushError::Closed);
        }
        if state.queued + state.in_flight + frame.len() > self.max_bytes {
            state.closing = Some(Close::SLOW_CONSUMER);
            state.frames.clear();
            state.queued = 0;
            drop(state);
            self.notify.notify_one();
            self.closed.notify_one();
            return Err(PushError::Overflow);
        }
        // The writer drains the whole queue per wake-up, so only the frame that makes the
        // queue non-empty needs to wake it; the rest ride along (a wake costs an atomic
        // round and, if the writer sleeps, a task schedule, per delivery otherwise).
        let wake = state.frames.is_empty();
        state.queued += frame.len();
        state.frames.push_back(frame);
        drop(state);
        if wake {
            self.notify.notify_one();
        }
        Ok(())
    }

    /// Starts closing the connection; the first reason given wins.
    pub fn close(&self, close: Close) {
        let mut state = self.lock();
        if state.closing.is_none() {
            if !close.flush_first {
                state.frames.clear();
                state.queued = 0;
            }
            state.closing = Some(close);
        }
        drop(state);
        self.notify.notify_one();
        self.closed.notify_one();
    }

    /// Resolves with the close reason once the connection is closing (one waiter: the
    /// connection's reader).
    pub async fn wait_closed(&self) -> Close {
        loop {
            if let Some(close) = self.lock().closing.clone() {
                return close;
            }
            self.closed.notified().await;
        }
    }

    /// Whether the connection is closing without sending its backlog (a slow consumer): the
    /// writer stops between frames and sends the close frame instead.
    pub fn dropping(&self) -> bool {
        self.lock().closing.as_ref().is_some_and(|c| !c.flush_first)
    }

    /// The writer has written (or given up on) the batch it took: its bytes no longer count.
    pub fn written(&self) {
        self.lock().in_flight = 0;
    }

    /// Waits for frames, moves all queued ones into `batch`, and returns the close reason
    /// once the connection is closing (after the last frames to send). The batch counts
    /// against the limit until [`Outbox::written`].
    pub async fn next_batch(&self, batch: &mut Vec<Frame>) -> Option<Close> {
        loop {
            {
                let mut state = self.lock();
                if !state.frames.is_empty() || state.closing.is_some() {
                    batch.extend(state.frames.drain(..));
                    state.in_flight += state.queued;
                    state.queued = 0;
                    return state.closing.clone();
                }
            }
            // One consumer: a notify_one that lands between the check and here leaves a permit.
            self.notify.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_come_out_in_order_in_one_batch() {
        let outbox = Outbox::new(1000);
        for i in 0..5 {
            outbox.push(format!("f{i}")).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(outbox.next_batch(&mut batch).await, None);
        let texts: Vec<String> = batch.iter().map(|f| f.text().unwrap().into()).collect();
        assert_eq!(texts, ["f0", "f1", "f2", "f3", "f4"]);
    }

    #[tokio::test]
    async fn overflow_closes_and_drops_the_backlog() {
        let outbox = Outbox::new(10);
        outbox.push("123456").unwrap();
        assert_eq!(outbox.push("123456"), Err(PushError::Overflow));
        assert!(outbox.dropping());
        assert_eq!(outbox.push("1"), Err(PushError::Closed));
        let mut batch = Vec::new();
        assert_eq!(
            outbox.next_batch(&mut batch).await,
            Some(Close::SLOW_CONSUMER)
        );
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn frames_the_writer_holds_count_until_written() {
        let outbox = Outbox::new(10);
        outbox.push("12345").unwrap();
        outbox.push("12345").unwrap();
        let mut batch = Vec::new();
        assert_eq!(outbox.next_batch(&mut batch).await, None);
        // 10 bytes in flight: the queue is as full as if they were still in it.
        assert_eq!(outbox.push("1"), Err(PushError::Overflow));

        let outbox = Outbox::new(10);
        outbox.push("12345").unwrap();
        outbox.next_batch(&mut batch).await;
        outbox.push("12345").unwrap();
        assert_eq!(outbox.push("1"), Err(PushError::Overflow));

        let outbox = Outbox::new(10);
        outbox.push("1234567890").unwrap();
        batch.clear();
        outbox.next_batch(&mut batch).await;
        outbox.written();
        outbox.push("1234567890").unwrap();
    }

    #[tokio::test]
    async fn normal_close_flushes_what_is_queued() {
        let outbox = Outbox::new(100);
        outbox.push("last words").unwrap();
        outbox.close(Close::NORMAL);
        outbox.close(Close::SHUTDOWN);
        let mut batch = Vec::new();
        assert_eq!(outbox.next_batch(&mut batch).await, Some(Close::NORMAL));
        assert_eq!(batch.len(), 1);
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_on_push() {
        let outbox = std::sync::Arc::new(Outbox::new(100));
        let waiter = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut batch = Vec::new();
                outbox.next_batch(&mut batch).await;
                batch.len()
            })
        };
        tokio::task::yield_now().await;
        outbox.push("x").unwrap();
        assert_eq!(waiter.await.unwrap(), 1);
    }

    /// Only the push that makes the queue non-empty wakes the writer; every frame still
    /// reaches it, including one pushed while it writes the previous batch.
    #[tokio::test]
    async fn one_wake_per_empty_queue_loses_no_frame() {
        let outbox = std::sync::Arc::new(Outbox::new(1000));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut batch = Vec::new();
                while seen.len() < 6 {
                    outbox.next_batch(&mut batch).await;
                    seen.extend(batch.drain(..).map(|f| f.text().unwrap().into_owned()));
                    outbox.written();
                    tokio::task::yield_now().await;
                }
                seen
            })
        };
        for round in 0..3 {
            outbox.push(format!("a{round}")).unwrap();
            outbox.push(format!("b{round}")).unwrap();
            tokio::task::yield_now().await;
        }
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), writer)
            .await
            .expect("the writer was not woken for a frame")
            .unwrap();
        assert_eq!(seen, ["a0", "b0", "a1", "b1", "a2", "b2"]);
    }

    /// The wake rule across threads: publishers on several threads push while the writer
    /// drains on another; every frame arrives, each publisher's in its order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_frame_waits_for_a_wake_across_threads() {
        const PUBLISHERS: usize = 4;
        const FRAMES: usize = 5_000;
        let outbox = std::sync::Arc::new(Outbox::new(usize::MAX));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut seen: Vec<Vec<usize>> = vec![Vec::new(); PUBLISHERS];
                let mut batch = Vec::new();
                let mut total = 0;
                while total < PUBLISHERS * FRAMES {
                    outbox.next_batch(&mut batch).await;
                    for frame in batch.drain(..) {
                        let text = frame.text().unwrap();
                        let (publisher, n) = text.split_once(':').unwrap();
                        seen[publisher.parse::<usize>().unwrap()].push(n.parse().unwrap());
                        total += 1;
                    }
                    outbox.written();
                }
                seen
            })
        };
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    for n in 0..FRAMES {
                        outbox.push(format!("{p}:{n}")).unwrap();
                        if n % 64 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for p in publishers {
            p.await.unwrap();
        }
        let seen = tokio::time::timeout(std::time::Duration::from_secs(10), writer)
            .await
            .expect("a frame was left queued with the writer asleep")
            .unwrap();
        for frames in seen {
            assert_eq!(frames, (0..FRAMES).collect::<Vec<_>>());
        }
    }
}
