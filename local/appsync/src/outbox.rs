//! A connection's send queue: bounded in bytes, drained in batches by one writer task.
//!
//! Fan-out pushes frames without waiting, from any task. When a client stops reading, its
//! queue fills up to the byte limit and the connection is closed as a slow consumer: it
//! never slows the publisher or the other connections, and memory stays bounded. The limit
//! counts what is queued plus the batch the writer holds and has not written yet, so a
//! connection never holds more than the limit in frames (not twice it, as it would if
//! taking a batch reset the count).
//!
//! Frames are queued as the bytes the socket will carry, encoded by the push: the writer
//! takes the whole queue in one swap and writes it, and a delivery costs one copy of its
//! frame under the queue's lock. Frames queued as shared parts instead cost two reference
//! counts per delivery (taken on the publisher's core, dropped on the writer's), a move
//! into the writer's batch and an encoding pass: 1.88–2.04 µs of server CPU per delivery
//! at 5,000 × 5 and 400,000/s, against 1.75–1.90 µs with queued bytes (1.41–1.46 against
//! 1.40–1.41 µs at 1,000 × 5 and 800,000/s; BENCHMARKS.md). A queued frame's bytes are its
//! own, not shared with the other subscribers', so the limit is real memory: the buffer
//! never grows past it.

use std::sync::Mutex;

use quotecast_shared::realtime::message::DATA_FRAME_END;
use tokio::sync::Notify;

use super::websocket::frame;

/// One frame to queue.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    /// A protocol message's JSON text (an ack, an error, a keep-alive).
    Text(&'a str),
    /// A `data` frame in its two parts: the subscription's prefix (made at subscribe time)
    /// and the payload (made once per publish for every subscriber that selects the same
    /// way).
    Data { prefix: &'a str, payload: &'a str },
    /// Bytes already framed by the socket's reader (its reply to a ping).
    Raw(&'a [u8]),
}

impl Frame<'_> {
    /// The bytes this frame takes on the socket, and against the queue's limit.
    pub fn encoded_len(&self) -> usize {
        match self {
            Frame::Text(text) => frame::text_len(text.len()),
            Frame::Data { prefix, payload } => {
                frame::text_len(prefix.len() + payload.len() + DATA_FRAME_END.len())
            }
            Frame::Raw(bytes) => bytes.len(),
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

impl<'a> From<&'a str> for Frame<'a> {
    fn from(text: &'a str) -> Self {
        Frame::Text(text)
    }
}

impl<'a> From<&'a String> for Frame<'a> {
    fn from(text: &'a String) -> Self {
        Frame::Text(text)
    }
}

/// Frames encoded back to back, as the writer takes them: it writes them in pieces of
/// about the write chunk, each ending at a frame's end, so a slow consumer's backlog can be
/// dropped between pieces without cutting a frame.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    /// Where pieces end: frame ends at least a chunk after the previous one, the last
    /// piece's end (the batch's length) not included.
    cuts: Vec<usize>,
    /// Frames in the batch.
    frames: usize,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// How many frames the batch holds.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The pieces to write, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let ends = self.cuts.iter().copied().chain([self.bytes.len()]);
        let mut start = 0;
        ends.filter_map(move |end| {
            let piece = &self.bytes[start..end];
            start = end;
            (!piece.is_empty()).then_some(piece)
        })
    }

    /// Everything in the batch, for tests and the close path.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
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
    /// What is queued, encoded; its length counts against the limit.
    queued: Batch,
    /// Bytes of the batch the writer took and has not written yet: still this connection's
    /// memory, so they count against the limit until [`Outbox::written`].
    in_flight: usize,
    /// The size of the last batch taken, to size the next one's first allocation (the
    /// queue holds no memory between batches).
    last_batch: usize,
    closing: Option<Close>,
}

pub struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer: frames queued or closing.
    notify: Notify,
    /// Wakes the reader: closing.
    closed: Notify,
    max_bytes: usize,
    /// The size of the writer's pieces (see [`Batch`]).
    write_chunk: usize,
}

impl Outbox {
    /// A queue of at most `max_bytes`, written in pieces of about `write_chunk` bytes.
    pub fn new(max_bytes: usize, write_chunk: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            closed: Notify::new(),
            max_bytes,
            write_chunk: write_chunk.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame.
    pub fn push<'a>(&self, frame: impl Into<Frame<'a>>) -> Result<(), PushError> {
        let frame = frame.into();
        let len = frame.encoded_len();
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.closing.is_some() {
            return Err(PushError::Closed);
        }
        if state.queued.len() + state.in_flight + len > self.max_bytes {
            state.closing = Some(Close::SLOW_CONSUMER);
            state.queued = Batch::default();
            drop(guard);
            self.notify.notify_one();
            self.closed.notify_one();
            return Err(PushError::Overflow);
        }
        // The writer drains the whole queue per wake-up, so only the frame that makes the
        // queue non-empty needs to wake it; the rest ride along (a wake costs an atomic
        // round and, if the writer sleeps, a task schedule, per delivery otherwise).
        let wake = state.queued.is_empty();
        let queued = &mut state.queued;
        // The piece being filled starts at the last cut (at 0 in an empty queue, which has
        // none); it ends before this frame once it holds a chunk.
        let piece_start = queued.cuts.last().copied().unwrap_or(0);
        if queued.bytes.len() - piece_start >= self.write_chunk {
            queued.cuts.push(queued.bytes.len());
        }
        // Grown by doubling, as a `Vec` would, but never past what the limit lets the queue
        // hold (the check above keeps `needed` within it), so the allocation is bounded by
        // the limit too, not twice it. An empty queue starts at the size of the last batch
        // (up to a piece): a steady stream grows its buffer once, not from a frame up.
        let needed = queued.bytes.len() + len;
        if needed > queued.bytes.capacity() {
            let room = self.max_bytes.saturating_sub(state.in_flight);
            let doubled = match queued.bytes.capacity() {
                0 => state.last_batch.min(self.write_chunk),
                capacity => capacity.saturating_mul(2),
            };
            let target = doubled.min(room).max(needed);
            queued.bytes.reserve_exact(target - queued.bytes.len());
        }
        frame.encode_into(&mut queued.bytes);
        queued.frames += 1;
        drop(guard);
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
                state.queued = Batch::default();
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
    /// writer stops between pieces of its batch and sends the close frame instead.
    pub fn dropping(&self) -> bool {
        self.lock().closing.as_ref().is_some_and(|c| !c.flush_first)
    }

    /// The writer has written (or given up on) the batch it took: its bytes no longer count.
    pub fn written(&self) {
        self.lock().in_flight = 0;
    }

    /// Waits for frames, moves all queued ones into `batch` (which must be empty), and
    /// returns the close reason once the connection is closing (after the last frames to
    /// send). The batch counts against the limit until [`Outbox::written`].
    pub async fn next_batch(&self, batch: &mut Batch) -> Option<Close> {
        loop {
            {
                let mut state = self.lock();
                if !state.queued.is_empty() || state.closing.is_some() {
                    let taken = std::mem::take(&mut state.queued);
                    state.in_flight += taken.len();
                    if !taken.is_empty() {
                        state.last_batch = taken.len();
                    }
                    *batch = taken;
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
    use tungstenite::Message;

    use super::*;
    use crate::websocket::frame::tests::read_back;

    /// A queue big enough for any test, written in 8 KiB pieces.
    fn queue(max_bytes: usize) -> Outbox {
        Outbox::new(max_bytes, 8 * 1024)
    }

    /// The text messages a batch carries, read back by tungstenite.
    fn texts(batch: &Batch) -> Vec<String> {
        read_back(batch.bytes().to_vec())
            .into_iter()
            .map(|m| match m {
                Message::Text(text) => text.to_string(),
                other => panic!("not a text frame: {other:?}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn frames_come_out_in_order_in_one_batch() {
        let outbox = queue(1000);
        for i in 0..5 {
            outbox.push(&format!("f{i}")).unwrap();
        }
        outbox
            .push(Frame::Data {
                prefix: "p",
                payload: "q",
            })
            .unwrap();
        let mut batch = Batch::default();
        assert_eq!(outbox.next_batch(&mut batch).await, None);
        let data = format!("pq{DATA_FRAME_END}");
        assert_eq!(texts(&batch), ["f0", "f1", "f2", "f3", "f4", &data]);
        assert_eq!(batch.frames(), 6);
        outbox.push("f6").unwrap();
        outbox.next_batch(&mut batch).await;
        assert_eq!(batch.frames(), 1, "a batch counts its own frames");
    }

    #[tokio::test]
    async fn overflow_closes_and_drops_the_backlog() {
        // Frames count as the bytes they take on the socket: 6 of text, 2 of header.
        let outbox = queue(15);
        outbox.push("123456").unwrap();
        assert_eq!(outbox.push("123456"), Err(PushError::Overflow));
        assert!(outbox.dropping());
        assert_eq!(outbox.push("1"), Err(PushError::Closed));
        let mut batch = Batch::default();
        assert_eq!(
            outbox.next_batch(&mut batch).await,
            Some(Close::SLOW_CONSUMER)
        );
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn frames_the_writer_holds_count_until_written() {
        // Each "12345" takes 7 bytes on the socket.
        let outbox = queue(14);
        outbox.push("12345").unwrap();
        outbox.push("12345").unwrap();
        let mut batch = Batch::default();
        assert_eq!(outbox.next_batch(&mut batch).await, None);
        // 14 bytes in flight: the queue is as full as if they were still in it.
        assert_eq!(outbox.push(""), Err(PushError::Overflow));

        let outbox = queue(14);
        outbox.push("12345").unwrap();
        outbox.next_batch(&mut batch).await;
        outbox.push("12345").unwrap();
        assert_eq!(outbox.push(""), Err(PushError::Overflow));

        let outbox = queue(12);
        outbox.push("1234567890").unwrap();
        outbox.next_batch(&mut batch).await;
        outbox.written();
        outbox.push("1234567890").unwrap();
    }

    #[tokio::test]
    async fn normal_close_flushes_what_is_queued() {
        let outbox = queue(100);
        outbox.push("last words").unwrap();
        outbox.close(Close::NORMAL);
        outbox.close(Close::SHUTDOWN);
        let mut batch = Batch::default();
        assert_eq!(outbox.next_batch(&mut batch).await, Some(Close::NORMAL));
        assert_eq!(texts(&batch), ["last words"]);
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_on_push() {
        let outbox = std::sync::Arc::new(queue(100));
        let waiter = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut batch = Batch::default();
                outbox.next_batch(&mut batch).await;
                texts(&batch)
            })
        };
        tokio::task::yield_now().await;
        outbox.push("x").unwrap();
        assert_eq!(waiter.await.unwrap(), ["x"]);
    }

    /// Only the push that makes the queue non-empty wakes the writer; every frame still
    /// reaches it, including one pushed while it writes the previous batch.
    #[tokio::test]
    async fn one_wake_per_empty_queue_loses_no_frame() {
        let outbox = std::sync::Arc::new(queue(1000));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut batch = Batch::default();
                while seen.len() < 6 {
                    outbox.next_batch(&mut batch).await;
                    seen.extend(texts(&batch));
                    outbox.written();
                    tokio::task::yield_now().await;
                }
                seen
            })
        };
        for round in 0..3 {
            outbox.push(&format!("a{round}")).unwrap();
            outbox.push(&format!("b{round}")).unwrap();
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
        let outbox = std::sync::Arc::new(queue(usize::MAX));
        let writer = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut seen: Vec<Vec<usize>> = vec![Vec::new(); PUBLISHERS];
                let mut batch = Batch::default();
                let mut total = 0;
                while total < PUBLISHERS * FRAMES {
                    outbox.next_batch(&mut batch).await;
                    for text in texts(&batch) {
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
                        outbox.push(&format!("{p}:{n}")).unwrap();
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

    /// Reads `batch` piece by piece: each piece holds whole frames and is about `chunk`
    /// bytes (at least a chunk but for the last, one frame past it at most); returns the
    /// texts in order.
    fn read_pieces(batch: &Batch, chunk: usize, longest_frame: usize) -> Vec<String> {
        let mut whole = Vec::new();
        let mut pieces = 0;
        let count = batch.pieces().count();
        for piece in batch.pieces() {
            pieces += 1;
            // Every piece but the last holds at least a chunk.
            assert!(pieces == count || piece.len() >= chunk, "{}", piece.len());
            let read = texts(&Batch {
                bytes: piece.to_vec(),
                ..Batch::default()
            });
            assert!(!read.is_empty());
            assert_eq!(read.concat().len() + 2 * read.len(), piece.len());
            assert!(piece.len() < chunk + longest_frame, "{}", piece.len());
            whole.extend(read);
        }
        assert!(pieces > 10, "{pieces} pieces");
        whole
    }

    /// A long batch is written in pieces of about the chunk, each ending at a frame's end,
    /// so the writer can stop between them without cutting a frame; the next batch is cut
    /// the same way from its own start.
    #[tokio::test]
    async fn a_batch_is_cut_into_pieces_at_frame_ends() {
        let outbox = Outbox::new(usize::MAX, 100);
        let frames: Vec<String> = (0..50)
            .map(|i| format!("{i:02}{}", "x".repeat(i)))
            .collect();
        for round in 0..2 {
            for frame in &frames {
                outbox.push(frame).unwrap();
            }
            let mut batch = Batch::default();
            outbox.next_batch(&mut batch).await;
            assert_eq!(read_pieces(&batch, 100, 54), frames, "batch {round}");
            outbox.written();
        }
    }

    /// The queue's buffer grows by doubling but stops at the limit: with 32-byte frames up
    /// to a 1,000-byte limit, plain doubling would reach 1,024 bytes.
    #[tokio::test]
    async fn the_queue_never_allocates_past_its_limit() {
        let outbox = Outbox::new(1000, 8 * 1024);
        let frame = "x".repeat(30);
        for _ in 0..31 {
            outbox.push(&frame).unwrap();
        }
        let state = outbox.lock();
        assert_eq!(state.queued.len(), 992);
        assert!(
            state.queued.bytes.capacity() <= 1000,
            "{}",
            state.queued.bytes.capacity()
        );
    }
}
