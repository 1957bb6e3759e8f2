//! The subscribing side of a load test: many connections, each with its own reader task.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use memchr::memmem;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::AuthObject;
use quotecast_shared::realtime::url::host_of;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use super::frames::{self, ServerFrame};
use super::{LoadTest, Tally, new_histogram, now_micros, symbol};
use quotecast_appsync_client::{RealtimeClient, Transport};

/// Connections opened at once while setting up.
const OPEN_CONCURRENCY: usize = 64;

pub(super) struct Fleet {
    pub connections: usize,
    pub subscriptions: usize,
    /// Subscriptions per symbol: how many frames one publish on it should produce.
    pub per_symbol: HashMap<String, u64>,
    readers: JoinSet<Histogram<u64>>,
    stop: watch::Sender<bool>,
}

impl Fleet {
    /// Stops the readers and merges their latency histograms.
    pub async fn finish(mut self) -> Histogram<u64> {
        self.stop.send_replace(true);
        let mut all = new_histogram();
        while let Some(result) = self.readers.join_next().await {
            if let Ok(h) = result {
                // Same bounds everywhere, so adding cannot fail.
                let _ = all.add(h);
            }
        }
        all
    }
}

pub(super) async fn open(
    test: &LoadTest,
    tally: Arc<Tally>,
    record_after: Arc<AtomicU64>,
) -> anyhow::Result<Fleet> {
    let auth = AuthObject::api_key(host_of(&test.graphql_url), &test.api_key);
    let (stop, stopped) = watch::channel(false);
    let mut per_symbol: HashMap<String, u64> = HashMap::new();
    let mut plans = Vec::with_capacity(test.connections);
    for c in 0..test.connections {
        let symbols: Vec<String> = (0..test.subscriptions_per_connection)
            .map(|s| symbol((c * test.subscriptions_per_connection + s) % test.symbols.max(1)))
            .collect();
        for s in &symbols {
            *per_symbol.entry(s.clone()).or_default() += 1;
        }
        plans.push(symbols);
    }
    let mut opening =
        futures_util::stream::iter(plans.into_iter().enumerate().map(|(c, symbols)| {
            let auth = auth.clone();
            let url = test.realtime_url.clone();
            async move {
                let mut client = RealtimeClient::connect(&url, &auth, Transport::Subprotocol)
                    .await
                    .with_context(|| format!("connection {c}"))?;
                client
                    .init()
                    .await
                    .with_context(|| format!("connection {c}: connection_init"))?;
                for (s, sym) in symbols.iter().enumerate() {
                    let filter = quotecast_shared::subscription::filter_for(sym);
                    client
                        .subscribe(
                            &format!("c{c}s{s}"),
                            &GraphqlRequest::subscribe(Some(&filter)),
                            &auth,
                        )
                        .await
                        .with_context(|| format!("connection {c}: subscription {s}"))?;
                }
                fenced(client)
                    .await
                    .with_context(|| format!("connection {c}: ping before publishing"))
            }
        }))
        .buffer_unordered(OPEN_CONCURRENCY);
    let mut readers = JoinSet::new();
    let mut connections = 0;
    while let Some(client) = opening.next().await {
        let client = client?;
        connections += 1;
        readers.spawn(read(
            client,
            tally.clone(),
            record_after.clone(),
            stopped.clone(),
        ));
    }
    Ok(Fleet {
        connections,
        subscriptions: connections * test.subscriptions_per_connection,
        per_symbol,
        readers,
        stop,
    })
}

/// The socket under a set-up client, with nothing of the server's left unread in the
/// client's buffer: a ping is sent and the client reads up to its pong, then gives up the
/// raw stream to [`read`].
///
/// The premise is a quiet endpoint: between the pong and the first publish the server sends
/// nothing unasked (its next `ka` is a minute away, and nobody else publishes), so the
/// client's buffer holds nothing after the pong. A frame that arrived in the same read as the
/// pong would be lost with that buffer; a part of one would show as a broken stream, a
/// reader error in the report. Measure on an API nothing else publishes to.
async fn fenced(client: RealtimeClient) -> anyhow::Result<RawSocket> {
    let mut socket = client.into_socket();
    socket.send(Message::Ping(FENCE.into())).await?;
    tokio::time::timeout(FENCE_TIMEOUT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Pong(payload))) if payload.as_ref() == FENCE => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(anyhow::Error::from(e)),
                None => anyhow::bail!("the server closed the connection"),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no pong within {FENCE_TIMEOUT:?}"))??;
    Ok(socket.into_inner())
}

const FENCE: &[u8] = b"loadtest";
const FENCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

type RawSocket = tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>;

/// Bytes asked of the kernel per read: a burst of frames, more than a reader at the knee
/// finds waiting.
const READ_BYTES: usize = 16 * 1024;

/// Counts `data` frames (and those that arrived inside the publish window) and records their
/// latency from the publisher's schedule until told to stop.
///
/// The reader is the load generator's hot path and shares the cores with the server it
/// measures, so it reads the socket itself ([`super::frames`]): every frame of one read
/// arrived by the time of that read, which is the receipt time recorded for all of them,
/// and the counts shared with the other readers are added once per read (two contended
/// atomics per frame, across a thousand readers on two cores, were measurable).
async fn read(
    mut socket: RawSocket,
    tally: Arc<Tally>,
    record_after: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Histogram<u64> {
    let mut histogram = new_histogram();
    let stamp_key = memmem::Finder::new(STAMP_KEY);
    let mut bytes: Vec<u8> = Vec::with_capacity(READ_BYTES);
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        bytes.reserve(READ_BYTES);
        let read = tokio::select! {
            read = socket.read_buf(&mut bytes) => read,
            _ = &mut stopped => break,
        };
        if !matches!(read, Ok(n) if n > 0) {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
        let now = now_micros();
        let in_window = now <= tally.window_end.load(Ordering::Relaxed);
        let record_from = record_after.load(Ordering::Relaxed);
        let burst = take_frames(&bytes, now, record_from, &stamp_key, &mut histogram);
        bytes.drain(..burst.consumed);
        if burst.deliveries > 0 {
            tally
                .deliveries
                .fetch_add(burst.deliveries, Ordering::Relaxed);
            if in_window {
                tally
                    .in_window
                    .fetch_add(burst.deliveries, Ordering::Relaxed);
            }
        }
        if burst.ended {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    histogram
}

/// What the whole frames at the start of one read's bytes held.
#[derive(Debug, PartialEq, Eq)]
struct Burst {
    deliveries: u64,
    /// Bytes of the frames taken; a partial frame after them waits for the next read.
    consumed: usize,
    /// A close frame or a broken stream: the reader stops (after counting what came before).
    ended: bool,
}

/// Counts the `data` frames whole at the start of `bytes` and records the latency of each
/// whose stamp is at or after `record_from`, as received at `now`.
fn take_frames(
    bytes: &[u8],
    now: u64,
    record_from: u64,
    stamp_key: &memmem::Finder<'_>,
    histogram: &mut Histogram<u64>,
) -> Burst {
    let mut burst = Burst {
        deliveries: 0,
        consumed: 0,
        ended: false,
    };
    loop {
        match frames::next_frame(&bytes[burst.consumed..]) {
            Ok(Some((ServerFrame::Text(text), used))) => {
                burst.consumed += used;
                if !text.starts_with(DATA_FRAME_START) {
                    continue;
                }
                burst.deliveries += 1;
                if let Some(stamp) = publish_stamp(text, stamp_key)
                    && stamp >= record_from
                {
                    let _ = histogram.record(now.saturating_sub(stamp).max(1));
                }
            }
            Ok(Some((ServerFrame::Control, used))) => burst.consumed += used,
            Ok(None) => return burst,
            Ok(Some((ServerFrame::Close, _))) => {
                burst.ended = true;
                return burst;
            }
            Err(e) => {
                tracing::warn!(error = %e, "loadtest reader: broken stream");
                burst.ended = true;
                return burst;
            }
        }
    }
}

const DATA_FRAME_START: &[u8] = br#"{"type":"data""#;
const STAMP_KEY: &[u8] = br#"\"t\":"#;

/// The publisher's stamp inside a frame: `\"t\":<micros>` in the AWSJSON text, read without
/// parsing the whole frame so the reader stays cheap.
fn publish_stamp(frame: &[u8], key: &memmem::Finder<'_>) -> Option<u64> {
    let start = key.find(frame)? + STAMP_KEY.len();
    let digits = &frame[start..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::frames::tests::text_frame;
    use super::*;

    fn data(stamp: u64) -> Vec<u8> {
        text_frame(&format!(
            r#"{{"type":"data","id":"c0s0","payload":{{"data":{{"subscribe":{{"name":"S001","data":"{{\"t\":{stamp}}}"}}}}}}}}"#
        ))
    }

    fn take(bytes: &[u8], record_from: u64) -> (Burst, Histogram<u64>) {
        let mut histogram = new_histogram();
        let key = memmem::Finder::new(STAMP_KEY);
        let burst = take_frames(bytes, 10_000, record_from, &key, &mut histogram);
        (burst, histogram)
    }

    #[test]
    fn whole_data_frames_are_counted_and_a_partial_one_waits() {
        let mut bytes = [data(9_000), text_frame(r#"{"type":"ka"}"#), data(9_500)].concat();
        let whole = bytes.len();
        let third = data(9_900);
        bytes.extend_from_slice(&third[..third.len() - 1]);
        let (burst, histogram) = take(&bytes, 0);
        assert_eq!(
            burst,
            Burst {
                deliveries: 2,
                consumed: whole,
                ended: false
            }
        );
        assert_eq!(histogram.len(), 2);
        assert_eq!((histogram.min(), histogram.max()), (500, 1_000));
    }

    #[test]
    fn frames_stamped_before_the_warm_up_ends_count_but_are_not_recorded() {
        let bytes = [data(9_000), data(9_600)].concat();
        let (burst, histogram) = take(&bytes, 9_500);
        assert_eq!(burst.deliveries, 2);
        assert_eq!(histogram.len(), 1);
    }

    #[test]
    fn a_close_or_a_broken_frame_ends_the_reader_after_what_came_before() {
        let closed = [data(9_000), vec![0x88, 2, 0x03, 0xe8], data(9_000)].concat();
        let (burst, _) = take(&closed, 0);
        assert_eq!((burst.deliveries, burst.ended), (1, true));
        let broken = [data(9_000), vec![0x81, 0x81, 0, 0, 0, 0, b'x']].concat();
        let (burst, _) = take(&broken, 0);
        assert_eq!((burst.deliveries, burst.ended), (1, true));
    }

    #[test]
    fn stamps_are_found_in_frames() {
        let frame = r#"{"type":"data","id":"c0s0","payload":{"data":{"subscribe":{"name":"S001","data":"{\"t\":1700000000123456,\"seq\":3}"}}}}"#;
        let key = memchr::memmem::Finder::new(super::STAMP_KEY);
        assert_eq!(
            super::publish_stamp(frame.as_bytes(), &key),
            Some(1_700_000_000_123_456)
        );
        assert_eq!(super::publish_stamp(br#"{"type":"data"}"#, &key), None);
        assert_eq!(super::publish_stamp(br#"\"t\":"#, &key), None);
    }
}
