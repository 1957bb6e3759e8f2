//! `cargo xtask bench bodies`: what one hostile `POST /graphql` body costs the server in
//! memory. The release `quotecast appsync` gets, one at a time and with the public key,
//! 5 MiB of one-entry objects, 5 MiB of small numbers (both refused before they are built)
//! and the largest body the shape bounds still accept (`len / 2,048` objects and `len / 128`
//! values); after each, the peak RSS (`VmHWM`) against the server's before the first. Then the
//! time to refuse 5,000 aliased `history(limit: 1000)` fields (the API's `ResolverCountLimit`),
//! 50 requests one after another, from the first byte sent to the last read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::appsync_process::{AppsyncProcess, bench_binary};

const API_KEY: &str = "da2-bodies";
const BODY_BYTES: usize = 5 * 1024 * 1024 - 256;
const QUERY: &str = "query Q($n: String!) { history(name: $n) { name } }";

/// A request body whose `variables.x` lists `items`, padded with spaces to `BODY_BYTES`.
fn body(items: &[&str]) -> Vec<u8> {
    let mut text = format!(
        r#"{{"query": "{QUERY}", "variables": {{"n": "A", "x": [{}]}}}}"#,
        items.join(",")
    );
    if text.len() < BODY_BYTES {
        let pad = " ".repeat(BODY_BYTES - text.len());
        text.insert_str(text.len() - 2, &pad);
    }
    text.into_bytes()
}

pub fn run() -> Result<()> {
    let binary = bench_binary()?;
    let (server, url) = AppsyncProcess::start(&binary, &["--api-key", API_KEY])?;
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches("/graphql")
        .to_owned();
    let objects = BODY_BYTES / 8;
    let numbers = BODY_BYTES / 2;
    let (most_objects, most_values) = (BODY_BYTES / 2_048 - 8, BODY_BYTES / 128 - 16);
    let mut mix = vec![r#"{"a":1}"#; most_objects];
    mix.extend(std::iter::repeat_n("0", most_values - 2 * most_objects));
    let cases = [
        (
            "5 MiB of one-entry objects",
            body(&vec![r#"{"a":1}"#; objects]),
        ),
        ("5 MiB of small numbers", body(&vec!["0"; numbers])),
        (
            "the largest accepted: objects and values at the bounds",
            body(&mix),
        ),
    ];
    std::thread::sleep(Duration::from_millis(300));
    let before = server.peak_rss_kib().context("no VmHWM")?;
    println!("    server peak RSS before: {} MiB", before / 1024);
    for (name, bytes) in cases {
        let started = Instant::now();
        let status = post(&address, &bytes)?;
        let took = started.elapsed();
        std::thread::sleep(Duration::from_millis(300));
        let peak = server.peak_rss_kib().context("no VmHWM")?;
        println!(
            "    {name}: {:.2} MiB body, answered {status} in {took:.0?}; peak RSS {} MiB, {:.1}× the body above the start",
            bytes.len() as f64 / 1_048_576.0,
            peak / 1024,
            (peak.saturating_sub(before) * 1024) as f64 / bytes.len() as f64,
        );
    }
    let fields: String = (0..5_000)
        .map(|i| format!(r#"h{i}: history(name: \"AMZN\", limit: 1000) {{ name }} "#))
        .collect();
    let flood = format!(r#"{{"query": "{{ {fields}}}"}}"#).into_bytes();
    let mut times = Vec::new();
    let mut answer = String::new();
    for _ in 0..50 {
        let started = Instant::now();
        answer = post(&address, &flood)?;
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "    5,000 aliased history fields ({} KB): answered {answer}; refused in p50 {:.1?}, p90 {:.1?}, max {:.1?} (50 requests)",
        flood.len() / 1024,
        times[25],
        times[45],
        times[49],
    );
    Ok(())
}

/// `POST /graphql` of `body` with the API key over a plain socket; the status line.
fn post(address: &str, body: &[u8]) -> Result<String> {
    let mut socket = TcpStream::connect(address)?;
    socket.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        socket,
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\nx-api-key: {API_KEY}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )?;
    socket.write_all(body)?;
    let mut answer = String::new();
    socket.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}
