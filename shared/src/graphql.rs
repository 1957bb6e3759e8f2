//! The GraphQL documents every quotecast client sends, and the request body they travel in.
//!
//! The consumer publishes many quotes per HTTP request: a [`PublishBatch`] writes one
//! document with N aliased `publish` fields (`m0: publish(...) m1: publish(...)`). GraphQL
//! runs the top-level fields of a mutation in order, so per-symbol order survives batching.
//! Values travel as variables, never spliced into the document, so no escaping is needed.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channel::Channel;

/// The schema as deployed (also embedded by the local server).
pub const SCHEMA: &str = include_str!("../../schema/schema.graphql");

/// The most resolvers one request may run: the API's `ResolverCountLimit` in the template
/// (`tests/tests/deploy_template.rs` checks the default is this) and the local server's
/// default. Without it one public-key request of thousands of aliased `history` fields is
/// thousands of DynamoDB Queries. The dashboard sends at most 10 per request; the consumer's
/// `PUBLISH_CHUNK_SIZE` is capped at this.
pub const RESOLVER_COUNT_LIMIT: usize = 250;

/// The deepest selection one request may have, in field levels (`{ historyPage { items {
/// name } } }` is 3): the API's `QueryDepthLimit` and the local server's default. quotecast's
/// own documents are at most 3 deep.
pub const QUERY_DEPTH_LIMIT: usize = 8;

/// The `(type, field)`s that run a resolver: those the template attaches one to
/// (`deploy_template.rs` checks it), the ones [`RESOLVER_COUNT_LIMIT`] counts.
pub const RESOLVED_FIELDS: &[(&str, &str)] = &[
    ("Mutation", "publish"),
    ("Subscription", "subscribe"),
    ("Query", "history"),
    ("Query", "historyPage"),
];

/// Publishes one channel message.
pub const PUBLISH_MUTATION: &str = "mutation Publish($name: String!, $data: AWSJSON!) { publish(name: $name, data: $data) { name data } }";

/// Subscribes to channel messages; `filter` is an enhanced-filter JSON text (see [`crate::filter`]).
pub const SUBSCRIBE_SUBSCRIPTION: &str =
    "subscription Subscribe($filter: String) { subscribe(filter: $filter) { name data } }";

/// Reads the (always empty, NONE data source) current channel.
pub const GET_CHANNEL_QUERY: &str = "query GetChannel { getChannel { name data } }";

/// The body of a GraphQL HTTP request, and the decoded `payload.data` of a real-time `start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphqlRequest {
    pub query: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub variables: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
}

impl GraphqlRequest {
    pub fn new(query: impl Into<String>) -> Self {
        GraphqlRequest {
            query: query.into(),
            variables: Map::new(),
            operation_name: None,
        }
    }

    pub fn with_variable(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.variables.insert(name.to_owned(), value.into());
        self
    }

    /// The subscription request for `filter` (an enhanced-filter JSON text), or for every
    /// channel when `filter` is `None`.
    pub fn subscribe(filter: Option<&str>) -> Self {
        let req = GraphqlRequest::new(SUBSCRIBE_SUBSCRIPTION);
        match filter {
            Some(f) => req.with_variable("filter", f),
            None => req,
        }
    }

    /// The request publishing one channel message.
    pub fn publish(channel: &Channel) -> Self {
        GraphqlRequest::new(PUBLISH_MUTATION)
            .with_variable("name", channel.name.as_str())
            .with_variable("data", channel.data.as_str())
    }

    pub fn to_json(&self) -> String {
        // Strings and JSON values always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Builds one request that publishes several channel messages in order.
#[derive(Debug, Default, Clone)]
pub struct PublishBatch {
    channels: Vec<Channel>,
    payload_bytes: usize,
}

/// Bytes a batch adds per message besides the name and data themselves: the aliased field,
/// its variable declarations and the JSON punctuation around the variables.
const PER_MESSAGE_OVERHEAD: usize = 120;

impl PublishBatch {
    pub fn new() -> Self {
        PublishBatch::default()
    }

    pub fn push(&mut self, channel: Channel) {
        self.payload_bytes += channel.name.len() + channel.data.len() + PER_MESSAGE_OVERHEAD;
        self.channels.push(channel);
    }

    pub fn len(&self) -> usize {
        self.channels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.channels.is_empty()
    }

    /// An upper bound of the request body size in bytes, for staying under payload limits
    /// before serialising (JSON escaping of `data` can add a little; leave some headroom).
    pub fn estimated_body_len(&self) -> usize {
        64 + self.payload_bytes
    }

    /// [`Self::estimated_body_len`] after pushing `channel`, to decide before pushing.
    pub fn estimated_body_len_with(&self, channel: &Channel) -> usize {
        self.estimated_body_len() + channel.name.len() + channel.data.len() + PER_MESSAGE_OVERHEAD
    }

    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The alias of the `i`-th message's field in the response `data` object.
    pub fn alias(i: usize) -> String {
        format!("m{i}")
    }

    /// The GraphQL request: `mutation PublishBatch($n0: String!, $d0: AWSJSON!, ...) { m0:
    /// publish(name: $n0, data: $d0) { name data } ... }`; `None` for an empty batch, which
    /// has no valid document.
    pub fn to_request(&self) -> Option<GraphqlRequest> {
        if self.channels.is_empty() {
            return None;
        }
        let mut declarations = String::new();
        let mut fields = String::new();
        let mut variables = Map::with_capacity(self.channels.len() * 2);
        for (i, channel) in self.channels.iter().enumerate() {
            if i > 0 {
                declarations.push_str(", ");
            }
            declarations.push_str(&format!("$n{i}: String!, $d{i}: AWSJSON!"));
            fields.push_str(&format!(
                " m{i}: publish(name: $n{i}, data: $d{i}) {{ name data }}"
            ));
            variables.insert(format!("n{i}"), Value::from(channel.name.as_str()));
            variables.insert(format!("d{i}"), Value::from(channel.data.as_str()));
        }
        Some(GraphqlRequest {
            query: format!("mutation PublishBatch({declarations}) {{{fields} }}"),
            variables,
            operation_name: Some("PublishBatch".to_owned()),
        })
    }
}
