//! The local server's GraphQL request path: parse, validate and coerce against the schema.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use quotecast_appsync::graphql::{ApiLimits, Schema, prepare};
use quotecast_shared::graphql::GraphqlRequest;

static SCHEMA: OnceLock<Schema> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let schema = SCHEMA.get_or_init(|| Schema::quotecast().unwrap_or_else(|e| panic!("{e}")));
    // The HTTP body, as the server reads it; else the raw text as a query.
    let request = match serde_json::from_slice::<GraphqlRequest>(data) {
        Ok(r) => r,
        Err(_) => match std::str::from_utf8(data) {
            Ok(q) => GraphqlRequest::new(q),
            Err(_) => return,
        },
    };
    let _ = prepare(
        schema,
        &request.query,
        &request.variables,
        request.operation_name.as_deref(),
        ApiLimits::DEPLOYED,
    );
});
