//! `POST /graphql`: queries and mutations over HTTP, with AppSync's status codes and bodies
//! (`APPSYNC_SPEC.md` §C).
//!
//! Root fields of a mutation run in document order, and each `publish` is fanned out before
//! the next one runs, so aliased publishes in one request keep their order for subscribers.
//!
//! The body is read only after the headers have passed authentication as far as they can
//! (all of an API key, all of a signature but its body hash), and then against a size limit
//! checked as bytes arrive and a deadline for the whole body: a caller without credentials
//! makes the server buffer nothing, and a body that stops half-way holds its connection for
//! [`Config::http_body_read_timeout`](super::Config) at most. A body with a key written twice
//! in an object, or with more values than its length allows (`quotecast_aws_local::json`), is
//! refused before anything is built from it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quotecast_shared::graphql::GraphqlRequest;
use serde_json::{Map, Value, json};

use super::auth::{AuthFailure, Principal, directive, error_type};
use super::graphql::{GraphqlError, Operation, OperationType, RootField, Selection, prepare};
use super::history::{self, HistoryError, HistoryRequest};
use super::resolvers::{filter_event, mutation_result};
use super::state::AppSync;
use quotecast_aws_local::body::{BodyError, ReadBody, read_limited};
use quotecast_aws_local::json;

/// An error response outside GraphQL: status, `x-amzn-ErrorType`, and a body of one error.
pub fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = json!({"errors": [{"errorType": error_type, "message": message}]});
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-ErrorType", value);
    }
    response
}

/// The HTTP status AppSync uses for an authentication failure.
pub fn auth_status(failure: &AuthFailure) -> StatusCode {
    match failure {
        AuthFailure::Signature(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    }
}

fn refused(failure: &AuthFailure) -> Response {
    tracing::debug!(%failure, "HTTP request refused");
    error_response(
        auth_status(failure),
        error_type(failure),
        &failure.to_string(),
    )
}

/// Reads a request body whole, within [`Config::max_request_bytes`](super::Config) (checked
/// as it arrives, and against `content-length` before anything is read),
/// [`Config::http_body_read_timeout`](super::Config) and the port's
/// [`Config::body_budget`](super::Config) if it has one (503 when it is spent).
async fn read_body(app: &AppSync, headers: &HeaderMap, body: Body) -> Result<ReadBody, Response> {
    let limit = app.config.max_request_bytes;
    let budget = app.config.body_budget.as_ref();
    read_limited(
        headers,
        body,
        limit,
        app.config.http_body_read_timeout,
        budget,
    )
    .await
    .map_err(|e| match e {
        BodyError::OverBudget => {
            tracing::warn!("request refused: the port's bodies hold its whole budget");
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                "Too many request bodies are being read at once; retry with backoff.",
            )
        }
        BodyError::TooLarge => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            &format!("The request body is larger than {limit} bytes."),
        ),
        BodyError::Unreadable => error_response(
            StatusCode::BAD_REQUEST,
            "MalformedHttpRequestException",
            "The request body could not be read.",
        ),
        BodyError::TimedOut => error_response(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeoutException",
            "The request body was not received in time.",
        ),
    })
}

pub async fn graphql(State(app): State<Arc<AppSync>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (headers, path) = (&parts.headers, parts.uri.path());
    let decided = match app.auth.http_before_body(headers, path) {
        Ok(decided) => decided,
        Err(failure) => return refused(&failure),
    };
    let body = match read_body(&app, headers, body).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let principal = match decided {
        Some(principal) => principal,
        None => match app.auth.http(headers, path, &body) {
            Ok(principal) => principal,
            Err(failure) => return refused(&failure),
        },
    };
    if body.is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "MalformedHttpRequestException",
            "Request body is empty.",
        );
    }
    // Checked before it is built: a key written twice, or more values and objects than the
    // body's length allows (built, a body of one-entry objects costs ~85 times its size).
    if let Some(refused) = json::refusal(&body) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "MalformedHttpRequestException",
            &format!("Unable to parse GraphQL query: {refused}."),
        );
    }
    let Ok(request) = serde_json::from_slice::<GraphqlRequest>(&body) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "MalformedHttpRequestException",
            "Unable to parse GraphQL query.",
        );
    };
    let body = match prepare(
        &app.schema,
        &request.query,
        &request.variables,
        request.operation_name.as_deref(),
        app.config.api_limits,
    ) {
        Err(errors) => errors_body(Value::Null, &errors),
        Ok(op) if op.kind == OperationType::Subscription => errors_body(
            Value::Null,
            &[GraphqlError {
                error_type: Some("UnsupportedOperation".to_owned()),
                ..GraphqlError::plain(
                    "Subscriptions are served over the real-time WebSocket endpoint, not HTTP.",
                )
            }],
        ),
        Ok(op) => execute(&app, &op, &principal),
    };
    (StatusCode::OK, [("content-type", "application/json")], body).into_response()
}

fn errors_body(data: Value, errors: &[GraphqlError]) -> String {
    let mut body = json!({ "data": data });
    if !errors.is_empty() {
        body["errors"] = Value::Array(errors.iter().map(GraphqlError::to_json).collect());
    }
    body.to_string()
}

/// Runs a query or mutation's root fields in order and writes the response body.
fn execute(app: &AppSync, op: &Operation, principal: &Principal) -> String {
    let mut data = String::from("{");
    let mut errors = Vec::new();
    for (i, field) in op.fields.iter().enumerate() {
        if i > 0 {
            data.push(',');
        }
        super::graphql::push_json_string(&field.key, &mut data);
        data.push(':');
        match root_field(app, op, field, principal) {
            Ok(value) => data.push_str(&value),
            Err(e) => {
                data.push_str("null");
                errors.push(e);
            }
        }
    }
    data.push('}');
    let mut body = format!(r#"{{"data":{data}"#);
    if !errors.is_empty() {
        let errors: Vec<Value> = errors.iter().map(GraphqlError::to_json).collect();
        body.push_str(r#","errors":"#);
        body.push_str(&Value::Array(errors).to_string());
    }
    body.push('}');
    body
}

/// One root field's value as JSON text.
fn root_field(
    app: &AppSync,
    op: &Operation,
    field: &RootField,
    principal: &Principal,
) -> Result<String, GraphqlError> {
    if field.name == "__typename" {
        return Ok(Value::from(op.root_type.as_str()).to_string());
    }
    let Some(def) = app.schema.field(&op.root_type, &field.name) else {
        return Err(GraphqlError::plain(format!("no field {}", field.name)));
    };
    if !app.schema.allows(&op.root_type, def, directive(principal)) {
        return Err(GraphqlError::field(
            "Unauthorized",
            format!(
                "Not Authorized to access {} on type {}",
                field.name, op.root_type
            ),
            &field.key,
            field.pos,
        ));
    }
    let Some(selection) = &field.selection else {
        return Ok("null".to_owned());
    };
    if op.kind == OperationType::Query {
        if field.name == "history" || field.name == "historyPage" {
            return history_field(app, field, selection);
        }
        // NONE data source, nothing stored: every other query resolves to null.
        return Ok("null".to_owned());
    }
    let result = mutation_result(&field.args);
    let published = selection.restrict(&result);
    let size = Value::Object(published.clone()).to_string().len();
    if size > app.config.max_payload_bytes {
        return Err(GraphqlError::field(
            "PayloadTooLargeError",
            format!(
                "the subscription payload would be {size} bytes; at most {} are delivered",
                app.config.max_payload_bytes
            ),
            &field.key,
            field.pos,
        ));
    }
    publish(app, &field.name, &selection.type_name, &published);
    Ok(selection.to_json_string(&result))
}

/// `Query.history` (a list of `Channel`) or `Query.historyPage` (a `HistoryPage`) from the
/// server's data source (`history.rs`), written through the field's selection set.
fn history_field(
    app: &AppSync,
    field: &RootField,
    selection: &Selection,
) -> Result<String, GraphqlError> {
    let refuse = |error_type: &str, message: String| {
        GraphqlError::field(error_type, message, &field.key, field.pos)
    };
    let Some(store) = app.history() else {
        return Err(refuse(
            "DataSourceUnavailable",
            "this server keeps no history (the local stack does; `quotecast appsync` does with --data-dir)".to_owned(),
        ));
    };
    let request = HistoryRequest::from_args(&field.args)
        .map_err(|message| refuse(history::BAD_REQUEST, message))?;
    let answer = history::resolve(store, &request).map_err(|e| match e {
        HistoryError::BadRequest(message) => refuse(history::BAD_REQUEST, message),
        HistoryError::Store(_) => {
            tracing::error!(error = %e, "history query failed");
            refuse("InternalFailure", e.to_string())
        }
    })?;
    if field.name == "historyPage" {
        return Ok(selection.to_json_string(&answer.page()));
    }
    let mut out = String::from("[");
    for (i, bar) in answer.bars.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        selection.write(bar, &mut out);
    }
    out.push(']');
    Ok(out)
}

/// Fans a mutation's published object out to every subscription field listening to it.
fn publish(app: &AppSync, mutation: &str, type_name: &str, published: &Map<String, Value>) {
    let event = filter_event(&app.schema, type_name, published);
    for sub_field in app.schema.subscribers_of(mutation) {
        let fan_out = app.hub.publish(&sub_field.name, published, &event);
        if fan_out.dropped > 0 {
            tracing::debug!(
                dropped = fan_out.dropped,
                "frames not queued: connections closing"
            );
        }
    }
}
