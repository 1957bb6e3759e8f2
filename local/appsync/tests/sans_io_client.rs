//! The sans-IO real-time client of `quotecast_shared` against the real server, over a real
//! socket: it subscribes, receives, and after a server restart reconnects, resubscribes with
//! the same ids and receives again; over a slow downlink that makes every `start_ack` late,
//! it ends with exactly one live subscription on the server and receives its data.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use quotecast_appsync_client::Socket;
use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::client::{
    Client, ClientConfig, ConnectionState, Event, Input, Output,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Carries out the machine's outputs over tokio-tungstenite; collects its events.
struct Driver {
    client: Client,
    socket: Option<Socket>,
    events: Vec<Event>,
    started: Instant,
    /// Every frame from the server is held this long before the machine sees it: a slow
    /// downlink, in order, like TCP.
    inbound_delay: Duration,
    held: std::collections::VecDeque<(Instant, Input)>,
    /// Frames the machine sent.
    sent: Vec<String>,
}

impl Driver {
    fn now(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    async fn apply(&mut self, outputs: Vec<Output>) {
        let mut queue = std::collections::VecDeque::from(outputs);
        while let Some(output) = queue.pop_front() {
            match output {
                Output::Open { url, protocols } => {
                    let mut request = url.into_client_request().unwrap();
                    request.headers_mut().insert(
                        "sec-websocket-protocol",
                        protocols.join(", ").parse().unwrap(),
                    );
                    let now = self.now();
                    let next = match tokio_tungstenite::connect_async(request).await {
                        Ok((socket, _)) => {
                            self.socket = Some(socket);
                            self.client.handle(now, Input::Opened)
                        }
                        Err(_) => self.client.handle(now, Input::Closed),
                    };
                    queue.extend(next);
                }
                Output::Send(text) => {
                    self.sent.push(text.to_string());
                    if let Some(s) = self.socket.as_mut() {
                        let _ = s.send(Message::text(text)).await;
                    }
                }
                Output::Close { .. } => self.socket = None,
                Output::Event(e) => self.events.push(e),
            }
        }
    }

    /// Runs for up to `limit` or until `done` holds for the events so far.
    async fn run_until(&mut self, limit: Duration, done: impl Fn(&[Event]) -> bool) {
        let end = Instant::now() + limit;
        while Instant::now() < end && !done(&self.events) {
            let mut wait = self
                .client
                .next_deadline()
                .map_or(Duration::from_millis(50), |d| {
                    Duration::from_millis((d - self.now()).clamp(0, 50) as u64)
                });
            if let Some((release, _)) = self.held.front() {
                wait = wait.min(release.saturating_duration_since(Instant::now()));
            }
            let input = match self.socket.as_mut() {
                Some(socket) => match tokio::time::timeout(wait, socket.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => Some(Input::Frame(t.to_string())),
                    Ok(Some(Ok(_))) => None,
                    Ok(Some(Err(_)) | None) => {
                        self.socket = None;
                        Some(Input::Closed)
                    }
                    Err(_) => None,
                },
                None => {
                    tokio::time::sleep(wait).await;
                    None
                }
            };
            if let Some(input) = input {
                self.held
                    .push_back((Instant::now() + self.inbound_delay, input));
            }
            let now = self.now();
            let mut out = Vec::new();
            while self
                .held
                .front()
                .is_some_and(|(release, _)| *release <= Instant::now())
            {
                if let Some((_, input)) = self.held.pop_front() {
                    out.extend(self.client.handle(now, input));
                }
            }
            out.extend(self.client.tick(now));
            self.apply(out).await;
        }
    }
}

impl Driver {
    fn new(client: Client, inbound_delay: Duration) -> Self {
        Driver {
            client,
            socket: None,
            events: Vec::new(),
            started: Instant::now(),
            inbound_delay,
            held: std::collections::VecDeque::new(),
            sent: Vec::new(),
        }
    }
}

fn data_count(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Event::Data { .. }))
        .count()
}

#[tokio::test]
async fn the_state_machine_survives_a_server_restart() {
    let server = start(config()).await;
    let addr = server.addr;
    let mut cfg = ClientConfig::new(&server.realtime_url(), server.auth());
    cfg.backoff_base_ms = 50;
    let mut driver = Driver::new(Client::new(cfg, 7), Duration::ZERO);
    let request = GraphqlRequest::subscribe(Some(r#"{"name":{"eq":"AMZN"}}"#));
    let out = driver.client.handle(
        0,
        Input::Subscribe {
            id: "amzn-1".into(),
            request,
        },
    );
    driver.apply(out).await;
    driver
        .run_until(Duration::from_secs(5), |e| {
            e.iter().any(|e| matches!(e, Event::Acked { .. }))
        })
        .await;
    server
        .http()
        .publish(&[channel("AMZN", 1), channel("TSLA", 1)])
        .await
        .unwrap();
    driver
        .run_until(Duration::from_secs(5), |e| data_count(e) == 1)
        .await;
    assert_eq!(data_count(&driver.events), 1);

    // Restart the server on the same port.
    server.stop().await;
    driver
        .run_until(Duration::from_secs(5), |e| {
            e.iter()
                .any(|e| matches!(e, Event::State(ConnectionState::Reconnecting { .. })))
        })
        .await;
    let mut cfg = config();
    cfg.max_connections = 100;
    let server = loop {
        match quotecast_appsync::Server::bind(addr, cfg.clone()).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let app = server.app().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let acks = |e: &[Event]| {
        e.iter()
            .filter(|e| matches!(e, Event::Acked { .. }))
            .count()
    };
    driver
        .run_until(Duration::from_secs(10), |e| acks(e) == 2)
        .await;
    assert_eq!(
        acks(&driver.events),
        2,
        "resubscribed after the restart: {:?}",
        driver.events
    );
    assert_eq!(driver.client.state(), &ConnectionState::Live);
    assert_eq!(app.hub.subscription_count(), 1);
    quotecast_appsync_client::GraphqlHttp::with_auth(
        &format!("http://{addr}/graphql"),
        common::iam_writer(),
    )
    .publish(&[channel("AMZN", 2)])
    .await
    .unwrap();
    driver
        .run_until(Duration::from_secs(5), |e| data_count(e) == 2)
        .await;
    let Some(Event::Data { id, payload }) = driver
        .events
        .iter()
        .rev()
        .find(|e| matches!(e, Event::Data { .. }))
    else {
        panic!()
    };
    assert_eq!(id, "amzn-1", "same id after the reconnect");
    assert!(
        payload["data"]["subscribe"]["data"]
            .as_str()
            .unwrap()
            .contains(r#""seq":2"#)
    );
    let states: Vec<&ConnectionState> = driver
        .events
        .iter()
        .filter_map(|e| match e {
            Event::State(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            states.as_slice(),
            [
                ConnectionState::Connecting,
                ConnectionState::Live,
                ..,
                ConnectionState::Live
            ]
        ),
        "{states:?}"
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

/// Every `start_ack` arrives 500 ms after it was sent, the client retries after 300 ms: the
/// first `start` is registered when the retry goes out. Before the fix the retry was refused
/// as a duplicate and the client dropped a subscription the server kept feeding.
#[tokio::test]
async fn a_late_start_ack_leaves_exactly_one_live_subscription() {
    let server = start(config()).await;
    let mut cfg = ClientConfig::new(&server.realtime_url(), server.auth());
    cfg.start_ack_timeout_ms = 300;
    let mut driver = Driver::new(Client::new(cfg, 7), Duration::from_millis(500));
    let request = GraphqlRequest::subscribe(Some(r#"{"name":{"eq":"AMZN"}}"#));
    let out = driver.client.handle(
        0,
        Input::Subscribe {
            id: "amzn-1".into(),
            request,
        },
    );
    driver.apply(out).await;
    // Until the retry's answers are in: ack, then (after the retry's stop) ack again.
    let acks = |e: &[Event]| {
        e.iter()
            .filter(|e| matches!(e, Event::Acked { .. }))
            .count()
    };
    driver
        .run_until(Duration::from_secs(10), |e| acks(e) >= 2)
        .await;
    driver.run_until(Duration::from_secs(1), |_| false).await;
    assert!(
        !driver
            .events
            .iter()
            .any(|e| matches!(e, Event::SubscriptionFailed { .. })),
        "{:?}",
        driver.events
    );
    assert_eq!(
        driver.client.subscriptions().collect::<Vec<_>>(),
        [("amzn-1", true)]
    );
    assert_eq!(
        server.app.hub.subscription_count(),
        1,
        "exactly one live on the server"
    );

    let stops = driver
        .sent
        .iter()
        .filter(|t| t.contains(r#""type":"stop""#))
        .count();
    assert!(stops >= 1, "the ack was late, a retry was expected");
    server.http().publish(&[channel("AMZN", 1)]).await.unwrap();
    driver
        .run_until(Duration::from_secs(5), |e| data_count(e) == 1)
        .await;
    // Long enough for a second copy to arrive, were there a second registration.
    driver.run_until(Duration::from_secs(1), |_| false).await;
    assert_eq!(data_count(&driver.events), 1, "{:?}", driver.events);
    eprintln!(
        "late acks: {stops} stop(s) sent, {} acks, 1 live subscription, data received",
        acks(&driver.events)
    );
    server.stop().await;
}
