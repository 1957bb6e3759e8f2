//! The `Channel` envelope of the schema: `type Channel { name: String data: AWSJSON }`.
//!
//! `data` is AWSJSON, which travels as JSON *text* both ways. Peers are not always strict
//! about that (a raw object is sometimes sent where text is expected), so decoding accepts
//! either and normalises to compact text; encoding always writes text.

use serde::{Deserialize, Deserializer, Serialize};

use crate::quote::Quote;

/// One message on one channel: `name` is the ticker symbol, `data` one quote as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    #[serde(deserialize_with = "aws_json_text")]
    pub data: String,
}

impl Channel {
    pub fn new(name: impl Into<String>, data: impl Into<String>) -> Self {
        Channel {
            name: name.into(),
            data: data.into(),
        }
    }

    /// The channel message that carries `quote`, named after its symbol.
    pub fn for_quote(quote: &Quote) -> Self {
        Channel::new(quote.symbol.clone(), quote.to_json())
    }
}

/// Reads an AWSJSON value: JSON text is kept as it is; any other JSON value is re-encoded
/// as compact text.
pub fn aws_json_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(text) => Ok(text),
        other => Ok(other.to_string()),
    }
}
