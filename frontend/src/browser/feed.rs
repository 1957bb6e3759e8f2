//! The quote feed: one subscription per watched ticker, spread over as many real-time
//! connections as the per-connection limit requires ([`Shards`]).
//!
//! Watching or unwatching a ticker is one `start` or `stop` on the connection that holds it;
//! no other subscription is touched, so changing the selection never interrupts the rest.
//! Everything the connections report is turned into [`Update`]s for the sink.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use quotecast_shared::graphql::GraphqlRequest;
use quotecast_shared::realtime::client::{ClientConfig, Event};

use super::clock::{now_ms, random_seed};
use super::socket::Connection;
use crate::model::config::DashboardConfig;
use crate::model::payload::{filter_for, quote_from_payload};
use crate::model::pending::Update;
use crate::model::shards::Shards;
use crate::model::status::describe_errors;

pub type UpdateSink = Rc<dyn Fn(Update)>;

pub struct Feed {
    client_config: ClientConfig,
    shards: RefCell<Shards>,
    connections: RefCell<Vec<Rc<Connection>>>,
    ids: Rc<RefCell<Ids>>,
    sink: UpdateSink,
}

impl Feed {
    pub fn new(config: &DashboardConfig, sink: UpdateSink) -> Self {
        Feed {
            client_config: ClientConfig::new(&config.realtime_url, config.auth()),
            shards: RefCell::new(Shards::new(config.max_subscriptions_per_connection)),
            connections: RefCell::new(Vec::new()),
            ids: Rc::new(RefCell::new(Ids::default())),
            sink,
        }
    }

    pub fn watch(&self, symbol: &str) {
        let Some(index) = self.shards.borrow_mut().add(symbol) else {
            return;
        };
        let id = self.ids.borrow_mut().assign(symbol);
        let connection = self.connection(index);
        connection.subscribe(id, GraphqlRequest::subscribe(Some(&filter_for(symbol))));
    }

    pub fn unwatch(&self, symbol: &str) {
        let Some(index) = self.shards.borrow_mut().remove(symbol) else {
            return;
        };
        let id = self.ids.borrow_mut().release(symbol);
        let connection = self.connections.borrow().get(index).cloned();
        if let (Some(id), Some(connection)) = (id, connection) {
            connection.unsubscribe(id);
        }
    }

    /// Connection `index`, opened (lazily, by its first subscription) if new.
    fn connection(&self, index: usize) -> Rc<Connection> {
        let mut connections = self.connections.borrow_mut();
        while connections.len() <= index {
            let i = connections.len();
            let sink = self.sink.clone();
            let ids = self.ids.clone();
            let on_event = Rc::new(move |event: Event| {
                if let Some(update) = to_update(i, event, &ids.borrow()) {
                    sink(update);
                }
            });
            connections.push(Connection::new(
                self.client_config.clone(),
                random_seed(),
                on_event,
            ));
        }
        connections[index].clone()
    }
}

fn to_update(index: usize, event: Event, ids: &Ids) -> Option<Update> {
    match event {
        Event::State(state) => Some(Update::Connection { index, state }),
        Event::Data { id, payload } => {
            // A frame for a subscription already removed is dropped.
            let symbol = ids.symbol(&id)?;
            Some(match quote_from_payload(&payload, now_ms()) {
                Ok(quote) => Update::Quote(quote),
                Err(_) => Update::Unreadable {
                    symbol: symbol.to_owned(),
                },
            })
        }
        Event::SubscriptionFailed { id, errors } => Some(Update::Refused {
            symbol: ids.symbol(&id)?.to_owned(),
            message: describe_errors(&errors),
        }),
        // Live (again): what it missed while it was not is loaded from history.
        Event::Acked { id } => Some(Update::Subscribed {
            symbol: ids.symbol(&id)?.to_owned(),
        }),
    }
}

/// Subscription ids of the watched symbols. Ids are `q1`, `q2`, …: AppSync allows only
/// `[A-Za-z0-9_+-]` in an id, which symbols such as `BRK.B` or `^GSPC` are not, and a fresh
/// id per watch keeps a late frame of a removed subscription from reaching a re-added one.
#[derive(Default)]
struct Ids {
    by_symbol: HashMap<String, String>,
    by_id: HashMap<String, String>,
    issued: u64,
}

impl Ids {
    fn assign(&mut self, symbol: &str) -> String {
        self.issued += 1;
        let id = format!("q{}", self.issued);
        self.by_symbol.insert(symbol.to_owned(), id.clone());
        self.by_id.insert(id.clone(), symbol.to_owned());
        id
    }

    fn release(&mut self, symbol: &str) -> Option<String> {
        let id = self.by_symbol.remove(symbol)?;
        self.by_id.remove(&id);
        Some(id)
    }

    fn symbol(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }
}
