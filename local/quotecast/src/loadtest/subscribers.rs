//! The subscribing side of a load test: many connections, each with its own reader task.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use futures_util::{FutureExt, StreamExt};
use hdrhistogram::Histogram;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::AuthObject;
use quotecast_shared::realtime::url::host_of;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

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
                anyhow::Ok(client)
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

/// Counts `data` frames (and those that arrived inside the publish window) and records their
/// latency from the publisher's schedule until told to stop.
///
/// The reader is the load generator's hot path, and shares the cores with the server it
/// measures: frames already readable are handled without a wait, and the counts shared with
/// the other readers are added once per burst (two contended atomics per frame, across a
/// thousand readers on two cores, were measurable), before the reader waits again.
async fn read(
    client: RealtimeClient,
    tally: Arc<Tally>,
    record_after: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Histogram<u64> {
    let mut socket = client.into_socket();
    let mut histogram = new_histogram();
    let mut counts = Counts::default();
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        let frame = match socket.next().now_or_never() {
            Some(frame) => frame,
            None => {
                counts.add_to(&tally);
                tokio::select! {
                    frame = socket.next() => frame,
                    _ = &mut stopped => break,
                }
            }
        };
        match frame {
            Some(Ok(Message::Text(text))) => {
                if !text.starts_with(r#"{"type":"data""#) {
                    continue;
                }
                let now = now_micros();
                counts.deliveries += 1;
                if now <= tally.window_end.load(Ordering::Relaxed) {
                    counts.in_window += 1;
                }
                if let Some(stamp) = publish_stamp(text.as_str())
                    && stamp >= record_after.load(Ordering::Relaxed)
                {
                    let _ = histogram.record(now.saturating_sub(stamp).max(1));
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    counts.add_to(&tally);
    histogram
}

/// One reader's deliveries not yet added to the shared [`Tally`].
#[derive(Default)]
struct Counts {
    deliveries: u64,
    in_window: u64,
}

impl Counts {
    fn add_to(&mut self, tally: &Tally) {
        if self.deliveries > 0 {
            tally
                .deliveries
                .fetch_add(self.deliveries, Ordering::Relaxed);
            tally.in_window.fetch_add(self.in_window, Ordering::Relaxed);
            *self = Counts::default();
        }
    }
}

/// The publisher's stamp inside a frame: `\"t\":<micros>` in the AWSJSON text, read without
/// parsing the whole frame so the reader stays cheap.
fn publish_stamp(frame: &str) -> Option<u64> {
    const KEY: &str = r#"\"t\":"#;
    let start = frame.find(KEY)? + KEY.len();
    let digits: &str = &frame[start..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_found_in_frames() {
        let frame = r#"{"type":"data","id":"c0s0","payload":{"data":{"subscribe":{"name":"S001","data":"{\"t\":1700000000123456,\"seq\":3}"}}}}"#;
        assert_eq!(super::publish_stamp(frame), Some(1_700_000_000_123_456));
        assert_eq!(super::publish_stamp(r#"{"type":"data"}"#), None);
    }
}
