//! The shared pub/sub state: live subscriptions, and the fan-out of each publish.
//!
//! Subscriptions are indexed by the channel `name` their filter pins (`eq` / `in`), so a
//! publish on `AMZN` looks only at subscriptions that could match it plus the few whose
//! filter does not pin a name.
//!
//! A publish costs work proportional to the subscriptions it reaches, whatever their aliases
//! and selection sets: equal selection sets are interned at subscribe time into one id, so
//! a publish writes the published object out once per distinct selection (a hash look-up by
//! id, not a scan of what was already written, which made unique aliases quadratic under the
//! read lock), wraps it once per distinct (selection, response key) and only the subscription
//! id differs per frame. Filters are bounded in total conditions (`filter::MAX_CONDITIONS`),
//! so testing one is a small constant too.
//!
//! Invariant (fixing AppSync's hazard, §A.5): a subscription is in the index, and its
//! `start_ack` queued, in one critical section. Every publish that starts after the client
//! sees the ack reaches it, and no `data` frame overtakes its `start_ack`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use quotecast_shared::filter::Filter;
use quotecast_shared::realtime::message::data_frame_prefix;
use serde_json::{Map, Value};

use super::graphql::Selection;
use super::outbox::{Frame, Outbox, PushError};

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

/// The interned id of a selection set: equal selections share one.
type SelectionId = u64;

/// The interned id of a (selection, response key) pair: subscriptions that share one get
/// the same `payload` text from a publish.
type PayloadId = u64;

/// A registered subscription with its interned selection and what its frames start with.
struct Entry {
    sub: Subscriber,
    selection: SelectionId,
    payload: PayloadId,
    /// `{"type":"data","id":"<id>","payload":`, made once at subscribe time and shared by
    /// every frame queued for this subscription.
    frame_prefix: Arc<str>,
    /// The filter only pins the names it is indexed under: finding the entry under the
    /// published name is the whole test (the common subscription, `{"name":{"eq":…}}`).
    pins_only: bool,
}

/// A hasher for the interned ids, which are small sequential numbers: a publish looks one up
/// per matching subscription, and SipHash's cost there is per delivery.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u64(&mut self, id: u64) {
        // Fibonacci hashing: spreads sequential ids over the table's high bits.
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

#[derive(Default)]
struct FieldIndex {
    by_name: HashMap<String, HashMap<u64, Arc<Entry>>>,
    unpinned: HashMap<u64, Arc<Entry>>,
}

/// Values of live subscriptions (selection sets; (selection, response key) pairs), each with
/// an id and a count of its users, so the table stays as small as the distinct values in use.
struct Interner<K> {
    ids: HashMap<K, (u64, usize)>,
    next: u64,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            ids: HashMap::new(),
            next: 0,
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Interner<K> {
    fn intern(&mut self, value: &K) -> u64 {
        if let Some((id, users)) = self.ids.get_mut(value) {
            *users += 1;
            return *id;
        }
        let id = self.next;
        self.next += 1;
        self.ids.insert(value.clone(), (id, 1));
        id
    }

    fn release(&mut self, value: &K) {
        if let Some((_, users)) = self.ids.get_mut(value) {
            *users -= 1;
            if *users == 0 {
                self.ids.remove(value);
            }
        }
    }
}

#[derive(Default)]
struct State {
    fields: HashMap<String, FieldIndex>,
    selections: Interner<Selection>,
    payloads: Interner<(SelectionId, String)>,
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
    state: RwLock<State>,
    next_serial: AtomicU64,
    live: AtomicUsize,
    /// Selection sets written out by publishes, for tests and metrics: one per distinct
    /// selection among the matching subscriptions of each publish.
    selection_writes: AtomicU64,
}

impl Hub {
    pub fn new() -> Self {
        Hub::default()
    }

    /// Live subscriptions across all connections.
    pub fn subscription_count(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Selection sets written out by all publishes so far (one per distinct selection set
    /// reached by each publish, however many aliases share it).
    pub fn selection_writes(&self) -> u64 {
        self.selection_writes.load(Ordering::Relaxed)
    }

    /// Distinct selection sets among live subscriptions.
    pub fn distinct_selections(&self) -> usize {
        self.read().selections.ids.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // The state is plain maps, consistent between statements; keep going after a panic.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
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
        let frame_prefix: Arc<str> = data_frame_prefix(&sub.id).into();
        let pins_only = pins.is_some() && sub.filter.only_pins(INDEX_FIELD);
        let mut state = self.write();
        let selection = state.selections.intern(&sub.selection);
        let payload = state.payloads.intern(&(selection, sub.key.clone()));
        let entry = Arc::new(Entry {
            sub,
            selection,
            payload,
            frame_prefix,
            pins_only,
        });
        let index = state.fields.entry(field.to_owned()).or_default();
        match &pins {
            Some(names) => {
                for name in names {
                    index
                        .by_name
                        .entry(name.clone())
                        .or_default()
                        .insert(serial, entry.clone());
                }
            }
            None => {
                index.unpinned.insert(serial, entry);
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
        let mut state = self.write();
        let State {
            fields,
            selections,
            payloads,
        } = &mut *state;
        let Some(index) = fields.get_mut(&reg.field) else {
            return;
        };
        let mut removed: Option<Arc<Entry>> = None;
        match &reg.pins {
            Some(names) => {
                for name in names {
                    if let Some(subs) = index.by_name.get_mut(name) {
                        removed = subs.remove(&reg.serial).or(removed);
                        if subs.is_empty() {
                            index.by_name.remove(name);
                        }
                    }
                }
            }
            None => removed = index.unpinned.remove(&reg.serial),
        }
        if let Some(entry) = removed {
            selections.release(&entry.sub.selection);
            payloads.release(&(entry.selection, entry.sub.key.clone()));
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Delivers `published` (the mutation result, keyed by field name) to every subscription
    /// of `field` whose filter accepts `event` (the same object with AWSJSON fields parsed).
    pub fn publish(&self, field: &str, published: &Map<String, Value>, event: &Value) -> FanOut {
        let state = self.read();
        let Some(index) = state.fields.get(field) else {
            return FanOut::default();
        };
        // The index is read with the value the filters see (AWSJSON parsed), so finding a
        // pins-only subscription under it is the same as its filter passing.
        let pinned = event
            .get(INDEX_FIELD)
            .and_then(Value::as_str)
            .and_then(|name| index.by_name.get(name));
        let candidates = pinned
            .into_iter()
            .flat_map(|m| m.values())
            .chain(index.unpinned.values());
        // Written selections by id, then payloads by interned (selection, response key): hash
        // look-ups of small ids, so the work per matching subscription is constant however
        // many distinct aliases or selections there are.
        let mut bodies: IdMap<String> = IdMap::default();
        let mut payloads: IdMap<Arc<str>> = IdMap::default();
        let mut fan_out = FanOut::default();
        for entry in candidates {
            let sub = &entry.sub;
            if !entry.pins_only && !sub.filter.matches(event) {
                continue;
            }
            let payload = payloads.entry(entry.payload).or_insert_with(|| {
                let body = bodies.entry(entry.selection).or_insert_with(|| {
                    self.selection_writes.fetch_add(1, Ordering::Relaxed);
                    sub.selection.to_json_string(published)
                });
                Arc::from(data_payload(&sub.key, body))
            });
            // Encoded into the connection's queue from these parts: a copy, no allocation.
            let frame = Frame::Data {
                prefix: &entry.frame_prefix,
                payload,
            };
            match sub.outbox.push(frame) {
                Ok(()) => fan_out.delivered += 1,
                Err(PushError::Closed | PushError::Overflow) => fan_out.dropped += 1,
            }
        }
        fan_out
    }
}

/// `{"data":{"<key>":<body>}}`, `body` being the published object shaped by a selection.
fn data_payload(key: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + key.len() + 16);
    out.push_str(r#"{"data":{"#);
    super::graphql::push_json_string(key, &mut out);
    out.push(':');
    out.push_str(body);
    out.push_str("}}");
    out
}
