//! The sans-IO real-time client of `quotecast_shared` against the real server, over a real
//! socket: it subscribes, receives, and after a server restart reconnects, resubscribes with
//! the same ids and receives again.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use quotecast_local::client::Socket;
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
            let wait = self
                .client
                .next_deadline()
                .map_or(Duration::from_millis(50), |d| {
                    Duration::from_millis((d - self.now()).clamp(0, 50) as u64)
                });
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
            let now = self.now();
            let mut out = match input {
                Some(i) => self.client.handle(now, i),
                None => Vec::new(),
            };
            out.extend(self.client.tick(now));
            self.apply(out).await;
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
    let mut driver = Driver {
        client: Client::new(cfg, 7),
        socket: None,
        events: Vec::new(),
        started: Instant::now(),
    };
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
        match quotecast_local::appsync::Server::bind(addr, cfg.clone()).await {
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
    quotecast_local::client::GraphqlHttp::with_auth(
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
