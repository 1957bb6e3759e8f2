//! The write hold (`write_pacer`): a busy server holds a fast connection's next write and
//! sends what arrived meanwhile together, in order; on a slow connection or a quiet server
//! the next write goes at once.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use quotecast_appsync::write_pacer::MIN_FRAMES_PER_HOLD;
use quotecast_appsync_client::{Incoming, RealtimeClient};
use quotecast_shared::graphql::GraphqlRequest;

const HOLD_MS: u64 = 500;
/// Long enough that a held write cannot be mistaken for a slow publish.
const HOLD: Duration = Duration::from_millis(HOLD_MS);
/// A gap at least this long between two frames' receipt was a hold: the hold starts when
/// the first write leaves, a little before the client reads it, so the gap can be shorter
/// than the hold, never by this much.
const HELD: Duration = Duration::from_millis(HOLD_MS - 100);

/// A server with `HOLD`, the given busy threshold and minimum of frames per hold, and a
/// subscriber of every channel.
///
/// Before any publish the writer has counted 3 frames: `connection_ack` and a `ka` (the
/// next `ka` is a minute away), then `start_ack`.
async fn subscriber(busy_writes_per_sec: u64, min_frames: u64) -> (TestServer, RealtimeClient) {
    let mut cfg = config();
    cfg.websocket_write_hold = HOLD;
    cfg.websocket_busy_writes_per_sec = busy_writes_per_sec;
    cfg.websocket_hold_min_frames = min_frames;
    let server = start(cfg).await;
    let mut client = server.client().await;
    client
        .subscribe("all", &GraphqlRequest::subscribe(None), &server.auth())
        .await
        .unwrap();
    (server, client)
}

/// A subscriber whose connection a busy server holds whatever its rate (no minimum of frames
/// per hold), past the first 100 ms window, in which the server's rate is not known yet: the
/// tests of what a hold does, apart from which connections get one.
async fn held_subscriber(busy_writes_per_sec: u64) -> (TestServer, RealtimeClient) {
    let (server, client) = subscriber(busy_writes_per_sec, 0).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    (server, client)
}

/// Publishes `seqs` in one request and returns when they were received and their seqs.
///
/// The tests run on tokio's single-threaded runtime, the server included, so a request's
/// frames are all queued before the connection's writer runs: they make one write.
async fn publish_and_receive(
    server: &TestServer,
    client: &mut RealtimeClient,
    seqs: std::ops::Range<u64>,
) -> (Vec<Instant>, Vec<u64>) {
    let channels: Vec<_> = seqs.clone().map(|seq| channel("AMZN", seq)).collect();
    let (status, _) = server.http().publish(&channels).await.unwrap();
    assert_eq!(status, 200);
    let mut at = Vec::new();
    let mut got = Vec::new();
    for _ in seqs {
        let msg = client.recv().await.unwrap();
        at.push(Instant::now());
        got.push(data_seq(&msg).unwrap().2);
    }
    (at, got)
}

/// Publishes `first` and receives it in order, then publishes `then`; returns `then`'s seqs
/// as received and how long after the last of `first` the first of them came.
async fn gap_after(
    server: &TestServer,
    client: &mut RealtimeClient,
    first: std::ops::Range<u64>,
    then: std::ops::Range<u64>,
) -> (Duration, Vec<u64>) {
    let (first_at, seqs) = publish_and_receive(server, client, first.clone()).await;
    assert_eq!(seqs, first.collect::<Vec<_>>());
    let (then_at, seqs) = publish_and_receive(server, client, then).await;
    (then_at[0] - first_at[first_at.len() - 1], seqs)
}

#[tokio::test]
async fn a_busy_server_holds_the_next_write_and_sends_what_came_meanwhile_in_order() {
    // Any write rate is busy: the first write of a new window switches the hold on.
    let (server, mut client) = held_subscriber(0).await;
    let (waited, seqs) = gap_after(&server, &mut client, 0..5, 5..8).await;
    assert_eq!(seqs, [5, 6, 7], "held frames keep their order");
    assert!(
        waited >= HELD,
        "the write after a busy write was held for {HOLD:?}; it came after {waited:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_write_of_one_frame_is_held_too() {
    let (server, mut client) = held_subscriber(0).await;
    let (waited, seqs) = gap_after(&server, &mut client, 0..1, 1..2).await;
    assert_eq!(seqs, [1]);
    assert!(waited >= HELD, "a one-frame write was not held: {waited:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_shutdown_during_a_hold_still_sends_what_was_queued_then_going_away() {
    let (server, mut client) = held_subscriber(0).await;
    let (first_at, _) = publish_and_receive(&server, &mut client, 0..5).await;
    // The writer is holding: these wait for the hold's end, then the close follows them.
    let channels: Vec<_> = (5..8).map(|seq| channel("AMZN", seq)).collect();
    let (status, _) = server.http().publish(&channels).await.unwrap();
    assert_eq!(status, 200);
    let stopping = tokio::spawn(server.stop());
    let mut seqs = Vec::new();
    let close = loop {
        match client.next().await.unwrap() {
            Incoming::Frame(msg) => seqs.push(data_seq(&msg).unwrap().2),
            Incoming::Closed(frame) => break frame,
            Incoming::Garbage(g) => panic!("{g}"),
        }
    };
    let waited = first_at[first_at.len() - 1].elapsed();
    assert_eq!(
        seqs,
        [5, 6, 7],
        "queued frames are flushed before the close"
    );
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    assert!(
        waited >= HELD,
        "the shutdown came during a hold, so the close waited for it; it came after {waited:?}"
    );
    stopping.await.unwrap();
}

#[tokio::test]
async fn a_fast_connection_on_a_busy_server_is_held() {
    // The default minimum (4 frames in a hold of 500 ms: 8 a second). Frames one at a time,
    // each published once the last arrived: however slow the machine, up to 125 ms a round
    // trip is fast enough, so a write is held once the first 100 ms window has passed.
    let (server, mut client) = subscriber(0, MIN_FRAMES_PER_HOLD).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = None;
    for seq in 0.. {
        if Instant::now() > deadline {
            break;
        }
        let (at, seqs) = publish_and_receive(&server, &mut client, seq..seq + 1).await;
        assert_eq!(seqs, [seq]);
        if let Some(last) = last
            && at[0] - last >= HELD
        {
            server.stop().await;
            return;
        }
        last = Some(at[0]);
    }
    panic!("frames one after another for 5 s, and no write was held");
}

#[tokio::test]
async fn a_slow_connection_on_a_busy_server_is_not_held() {
    // Five frames (three before any publish, then two quotes) in 1.5 s: 3 a second, 1 in a
    // hold of 500 ms (4 needed). A slower machine only makes the rate lower.
    let (server, mut client) = subscriber(0, MIN_FRAMES_PER_HOLD).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (waited, seqs) = gap_after(&server, &mut client, 0..2, 2..5).await;
    assert_eq!(seqs, [2, 3, 4]);
    assert!(
        waited < HOLD / 2,
        "a connection getting 3 frames a second was held: {waited:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_quiet_server_writes_at_once() {
    // Every connection could be held (no minimum), but the server writes a few times a second.
    let (server, mut client) = held_subscriber(20_000).await;
    let (waited, seqs) = gap_after(&server, &mut client, 0..2, 2..5).await;
    assert_eq!(seqs, [2, 3, 4]);
    assert!(
        waited < HOLD / 2,
        "a server writing a few times a second held a write: {waited:?}"
    );
    server.stop().await;
}
