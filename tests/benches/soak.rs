//! Soak (`cargo xtask bench soak`): the release `quotecast dev` (path in `QUOTECAST_BIN`) as
//! its own process — simulator at 1,000 quotes/s (50 symbols, a bar every 50 ms), embedded
//! broker, event source mapping with a window of 0, consumer, AppSync-compatible server —
//! with 500 WebSocket subscribers of 5 symbols each, for `SOAK_SECS` (default 600).
//!
//! Reports, per 30 s: deliveries/s, latency p50/p99 (bar time → receipt; bars are stamped at
//! their end, up to one 50 ms tick before they are sent) and the server's RSS; at the end,
//! delivered/expected, where expected counts every bar between the first and last one each
//! subscription saw (a gap or a loss shows as less than 100 %).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use quotecast_appsync_client::{RealtimeClient, Transport};
use quotecast_producer::handler::now_ms;
use quotecast_shared::Quote;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::{AuthObject, ServerMessage};

const API_KEY: &str = "da2-soak";
const TICK_MS: i64 = 50;
const WINDOW_SECS: u64 = 30;
const BUCKETS: usize = 2001;

/// Latency histogram of one 30 s window, 1 ms buckets (the last one is "2 s or more").
struct Window {
    buckets: Vec<AtomicU64>,
}

impl Window {
    fn new() -> Self {
        Window {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, ms: i64) {
        self.buckets[(ms.max(0) as usize).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn quantile(&self, q: f64) -> usize {
        let total = self.count();
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (ms, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target.max(1) {
                return ms;
            }
        }
        BUCKETS - 1
    }
}

fn rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[tokio::main]
async fn main() {
    let Ok(binary) = std::env::var("QUOTECAST_BIN") else {
        println!("soak: skipped (set QUOTECAST_BIN to the release quotecast binary)");
        return;
    };
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let symbols: Vec<String> = (0..50).map(|i| format!("S{i:02}")).collect();
    let mut child = Command::new(&binary)
        .args([
            "dev",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--tick-ms",
            &TICK_MS.to_string(),
            "--batching-window-ms",
            "0",
            "--dashboard-dir",
            "/nonexistent",
        ])
        .arg("--data-dir")
        .arg(quotecast_e2e::scratch_dir("soak"))
        .args(["--symbols", &symbols.join(",")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(u) = line.trim().strip_prefix("GraphQL:") {
            break u.trim().to_owned();
        }
    };
    let host = url.split('/').nth(2).unwrap().to_owned();
    let realtime = format!("ws://{host}/graphql/realtime");
    let auth = AuthObject::api_key(&host, API_KEY);

    let windows: Arc<Vec<Window>> = Arc::new(
        (0..=secs / WINDOW_SECS + 2)
            .map(|_| Window::new())
            .collect(),
    );
    let start_ms = now_ms();
    let seen = Arc::new(AtomicU64::new(0));
    let expected = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let clients = futures_util::stream::iter(0..500usize)
        .map(|c| {
            let (realtime, auth) = (realtime.clone(), auth.clone());
            let symbols = symbols.clone();
            async move {
                let mut client = RealtimeClient::connect(&realtime, &auth, Transport::Subprotocol)
                    .await
                    .unwrap();
                client.init().await.unwrap();
                let subscriptions: Vec<(String, GraphqlRequest)> = (0..5)
                    .map(|s| {
                        let filter =
                            format!(r#"{{"name":{{"eq":"{}"}}}}"#, symbols[(c * 5 + s) % 50]);
                        (format!("s{s}"), GraphqlRequest::subscribe(Some(&filter)))
                    })
                    .collect();
                client.subscribe_many(&subscriptions, &auth).await.unwrap();
                client
            }
        })
        .buffer_unordered(50)
        .collect::<Vec<_>>()
        .await;
    let rss_start = rss_mib(pid);
    println!(
        "soak: 500 connections × 5 subscriptions over 50 symbols on {host}; 1,000 quotes/s for {secs} s; server RSS {rss_start} MiB"
    );
    let mut readers = Vec::new();
    for client in clients {
        let (windows, seen, expected) = (windows.clone(), seen.clone(), expected.clone());
        let mut stop = stop_rx.clone();
        readers.push(tokio::spawn(async move {
            let mut client = client;
            client.set_timeout(Duration::from_secs(5));
            // First and last bar time, and frames, per subscription id.
            let mut spans: std::collections::HashMap<String, (i64, i64, u64)> = Default::default();
            loop {
                tokio::select! {
                    msg = client.recv() => match msg {
                        Ok(ServerMessage::Data { id, payload }) => {
                            let q = Quote::from_json(payload["data"]["subscribe"]["data"].as_str().unwrap()).unwrap();
                            let now = now_ms();
                            let w = ((now - start_ms) / 1000) as u64 / WINDOW_SECS;
                            if let Some(win) = windows.get(w as usize) {
                                win.record(now - q.timestamp);
                            }
                            let span = spans.entry(id).or_insert((q.timestamp, q.timestamp, 0));
                            span.1 = q.timestamp;
                            span.2 += 1;
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            for (first, last, frames) in spans.values() {
                seen.fetch_add(*frames, Ordering::Relaxed);
                expected.fetch_add(((last - first) / TICK_MS + 1) as u64, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    let mut rss_end = rss_start;
    println!(
        "{:>8} {:>14} {:>8} {:>8} {:>10}",
        "window", "deliveries/s", "p50 ms", "p99 ms", "RSS MiB"
    );
    for w in 0..secs / WINDOW_SECS {
        tokio::time::sleep_until((started + Duration::from_secs((w + 1) * WINDOW_SECS)).into())
            .await;
        let win = &windows[w as usize];
        rss_end = rss_mib(pid);
        println!(
            "{:>6}s {:>14.0} {:>8} {:>8} {:>10}",
            (w + 1) * WINDOW_SECS,
            win.count() as f64 / WINDOW_SECS as f64,
            win.quantile(0.5),
            win.quantile(0.99),
            rss_end
        );
    }
    let _ = stop_tx.send(true);
    for r in readers {
        let _ = r.await;
    }
    let (seen, expected) = (
        seen.load(Ordering::Relaxed),
        expected.load(Ordering::Relaxed),
    );
    println!(
        "delivered {seen} of {expected} expected ({:.4} %); server RSS {rss_start} MiB at start, {rss_end} MiB at end",
        seen as f64 * 100.0 / expected.max(1) as f64
    );
    let _ = child.kill();
    let _ = child.wait();
}
