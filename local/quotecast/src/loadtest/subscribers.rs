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
/// client's buffer: a ping is sent and the client reads up to its pong. The server sends
/// nothing else unasked before publishing starts (its next `ka` is a minute away), so the
/// bytes after the pong are the publish window's, and [`read`] can take the raw stream.
async fn fenced(client: RealtimeClient) -> anyhow::Result<RawSocket> {
    let mut socket = client.into_socket();
    socket.send(Message::Ping(FENCE.into())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Pong(payload))) if payload.as_ref() == FENCE => {
                return Ok(socket.into_inner());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => anyhow::bail!("the server closed the connection"),
        }
    }
}

const FENCE: &[u8] = b"loadtest";

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
        let mut deliveries = 0;
        let mut taken = 0;
        let ended = loop {
            match frames::next_frame(&bytes[taken..]) {
                Ok(Some((ServerFrame::Text(text), used))) => {
                    taken += used;
                    if !text.starts_with(DATA_FRAME_START) {
                        continue;
                    }
                    deliveries += 1;
                    if let Some(stamp) = publish_stamp(text, &stamp_key)
                        && stamp >= record_from
                    {
                        let _ = histogram.record(now.saturating_sub(stamp).max(1));
                    }
                }
                Ok(Some((ServerFrame::Control, used))) => taken += used,
                Ok(None) => break false,
                Ok(Some((ServerFrame::Close, _))) => break true,
                Err(e) => {
                    tracing::warn!(error = %e, "loadtest reader: broken stream");
                    break true;
                }
            }
        };
        bytes.drain(..taken);
        if deliveries > 0 {
            tally.deliveries.fetch_add(deliveries, Ordering::Relaxed);
            if in_window {
                tally.in_window.fetch_add(deliveries, Ordering::Relaxed);
            }
        }
        if ended {
            tally.errors.fetch_add(1, Ordering::Relaxed);
            break;
        }
    }
    histogram
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
