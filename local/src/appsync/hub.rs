//! The shared pub/sub state: live subscriptions, and the fan-out of each publish.
//!
//! Subscriptions are indexed by the channel `name` their filter pins (`eq` / `in`), so a
//! publish on `AMZN` looks only at subscriptions that could match it plus the few whose
//! filter does not pin a name. The payload of a publish is serialised once per distinct
//! selection set and shared; only the subscription id differs per frame.
//!
//! Invariant (fixing AppSync's hazard, §A.5): a subscription is in the index, and its
//! `start_ack` queued, in one critical section. Every publish that starts after the client
//! sees the ack reaches it, and no `data` frame overtakes its `start_ack`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use quotecast_shared::filter::Filter;
use quotecast_shared::realtime::message::encode_data_frame;
use serde_json::{Map, Value};

use super::graphql::Selection;
use super::outbox::{Outbox, PushError};

/// The field of published objects that subscriptions are indexed by.
pub const INDEX_FIELD: &str = "name";

/// One registered subscription.
pub struct Subscriber {
    pub outbox: Arc<Outbox>,
    /// The client's subscription id.
    pub id: String,
    /// The response key of the subscription field (its alias or name).
    pub key: String,
    pub filter: Filter,
    pub selection: Selection,
}

/// What it takes to remove a subscription again.
#[derive(Debug, Clone)]
pub struct Registration {
    field: String,
    serial: u64,
    pins: Option<Vec<String>>,
}

#[derive(Default)]
struct FieldIndex {
    by_name: HashMap<String, HashMap<u64, Arc<Subscriber>>>,
    unpinned: HashMap<u64, Arc<Subscriber>>,
}

/// Counts of one publish's fan-out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    pub delivered: usize,
    /// Matching subscribers whose connection was closing or overflowed.
    pub dropped: usize,
}

#[derive(Default)]
pub struct Hub {
    fields: RwLock<HashMap<String, FieldIndex>>,
    next_serial: AtomicU64,
    live: AtomicUsize,
}

impl Hub {
    pub fn new() -> Self {
        Hub::default()
    }

    /// Live subscriptions across all connections.
    pub fn subscription_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Adds `sub` on subscription field `field`, and runs `then` (queueing the `start_ack`)
    /// before any publish can see the new subscription.
    pub fn register(&self, field: &str, sub: Subscriber, then: impl FnOnce()) -> Registration {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        let pins: Option<Vec<String>> = sub.filter.pinned_values(INDEX_FIELD).and_then(|values| {
            values
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        });
        let sub = Arc::new(sub);
        let mut fields = self.fields.write().unwrap_or_else(|p| p.into_inner());
        let index = fields.entry(field.to_owned()).or_default();
        match &pins {
            Some(names) => {
                for name in names {
                    index
                        .by_name
                        .entry(name.clone())
                        .or_default()
                        .insert(serial, sub.clone());
                }
            }
            None => {
                index.unpinned.insert(serial, sub);
            }
        }
        self.live.fetch_add(1, Ordering::Relaxed);
        then();
        Registration {
            field: field.to_owned(),
            serial,
            pins,
        }
    }

    pub fn remove(&self, reg: &Registration) {
        let mut fields = self.fields.write().unwrap_or_else(|p| p.into_inner());
        let Some(index) = fields.get_mut(&reg.field) else {
            return;
        };
        let removed = match &reg.pins {
            Some(names) => {
                let mut removed = false;
                for name in names {
                    if let Some(subs) = index.by_name.get_mut(name) {
                        removed |= subs.remove(&reg.serial).is_some();
                        if subs.is_empty() {
                            index.by_name.remove(name);
                        }
                    }
                }
                removed
            }
            None => index.unpinned.remove(&reg.serial).is_some(),
        };
        if removed {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Delivers `published` (the mutation result, keyed by field name) to every subscription
    /// of `field` whose filter accepts `event` (the same object with AWSJSON fields parsed).
    pub fn publish(&self, field: &str, published: &Map<String, Value>, event: &Value) -> FanOut {
        let fields = self.fields.read().unwrap_or_else(|p| p.into_inner());
        let Some(index) = fields.get(field) else {
            return FanOut::default();
        };
        let pinned = published
            .get(INDEX_FIELD)
            .and_then(Value::as_str)
            .and_then(|name| index.by_name.get(name));
        let candidates = pinned
            .into_iter()
            .flat_map(|m| m.values())
            .chain(index.unpinned.values());
        let mut payloads: Vec<(&Selection, &str, String)> = Vec::new();
        let mut fan_out = FanOut::default();
        for sub in candidates {
            if !sub.filter.matches(event) {
                continue;
            }
            let payload = match payloads
                .iter()
                .position(|(s, k, _)| *s == &sub.selection && *k == sub.key)
            {
                Some(i) => &payloads[i].2,
                None => {
                    payloads.push((
                        &sub.selection,
                        &sub.key,
                        data_payload(&sub.key, &sub.selection, published),
                    ));
                    &payloads[payloads.len() - 1].2
                }
            };
            match sub.outbox.push(encode_data_frame(&sub.id, payload)) {
                Ok(()) => fan_out.delivered += 1,
                Err(PushError::Closed | PushError::Overflow) => fan_out.dropped += 1,
            }
        }
        fan_out
    }
}

/// `{"data":{"<key>":<published shaped by selection>}}`.
fn data_payload(key: &str, selection: &Selection, published: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(128);
    out.push_str(r#"{"data":{"#);
    super::graphql::push_json_string(key, &mut out);
    out.push(':');
    selection.write(published, &mut out);
    out.push_str("}}");
    out
}
