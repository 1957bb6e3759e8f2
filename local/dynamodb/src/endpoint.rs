//! The DynamoDB endpoint: `POST /` with `X-Amz-Target: DynamoDB_20120810.<Op>`, over the
//! history store; [`DynamoDb::router`] is mounted on the local stack's port beside AppSync,
//! or served alone by [`crate::server::Server`].
//!
//! Served: `BatchWriteItem` (what the consumer calls), `PutItem`, `Query` and
//! `DescribeTable` (what the SDK and tools need), on the one table of the store. Anything
//! else is `UnknownOperationException`, as DynamoDB answers an operation it does not have.
//!
//! In the order DynamoDB does it: SigV4 for service `dynamodb` with one of the server's IAM
//! keys, checked on the headers before the body is read (as `/graphql` does, so a caller
//! without a key makes the server buffer nothing), then the body against
//! [`MAX_REQUEST_BYTES`] and the server's body deadline, then the signature's body hash,
//! then the operation and its input (a key repeated in any object of it refused). At most
//! [`MAX_UNVERIFIED_BODIES`] bodies are read at once before their signature is proven; more
//! are throttled. Bounded cost: 16 MB per request, 25 writes per batch,
//! 400 KB per item, 32 levels of nesting per value, 1 MB per `Query` page, 4 KB per
//! expression. A refused request changes nothing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use quotecast_aws_local::LOCAL_REGION;
use quotecast_aws_local::body::{BodyBudget, BodyError, read_limited};
use quotecast_aws_local::iam::{AuthFailure, IamKeys};
use quotecast_aws_local::json::{self, Shape};
use quotecast_aws_local::sigv4::{DYNAMODB_SERVICE, SigV4Error};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::expression;
use super::store::{HistoryStore, QueryOptions};
use super::table::{Item, PARTITION_KEY, SORT_KEY, StoreError};
use super::wire::{
    self, DynamoError, ErrorKind, MAX_BATCH_WRITES, MAX_PAGE_BYTES, MAX_REQUEST_BYTES,
    TARGET_PREFIX,
};

/// The operations served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    BatchWriteItem,
    PutItem,
    Query,
    DescribeTable,
}

impl Operation {
    /// The operation an `X-Amz-Target` header names, if it is one served here.
    pub fn from_target(target: &str) -> Option<Operation> {
        match target.strip_prefix(TARGET_PREFIX)? {
            "BatchWriteItem" => Some(Operation::BatchWriteItem),
            "PutItem" => Some(Operation::PutItem),
            "Query" => Some(Operation::Query),
            "DescribeTable" => Some(Operation::DescribeTable),
            _ => None,
        }
    }
}

/// Bodies read at once whose signature is not yet proven (the caller named a known access
/// key id, which is no secret: `quotecast dev` prints it). 320 × [`MAX_REQUEST_BYTES`] (16 MiB)
/// = 5 GiB, the bound `/graphql` has (1,024 connections × 5 MiB). On the local stack's port,
/// where both share 1,024 connections, a [`BodyBudget`] of that same 5 GiB bounds the bodies
/// of both routes together ([`DynamoDb::sharing_port`]; 8.4 GiB without it).
pub const MAX_UNVERIFIED_BODIES: usize = 320;

/// [`MAX_UNVERIFIED_BODIES`] on a port shared with `/graphql`: half, so bodies awaiting their
/// signature (anyone with the printed key id can send them) take at most half of the port's
/// 5 GiB budget (160 × 16 MiB), and `/graphql` keeps the other half (512 × 5 MiB) whatever
/// they do.
pub const SHARED_PORT_UNVERIFIED_BODIES: usize = MAX_UNVERIFIED_BODIES / 2;

/// What the endpoint serves: one table, to callers signing with one of `iam`'s keys.
#[derive(Debug)]
pub struct DynamoDb {
    store: HistoryStore,
    iam: IamKeys,
    /// A request's body must arrive whole within this time after its headers.
    body_read_timeout: Duration,
    /// One permit per body being read before its signature is checked; none left: throttled.
    unverified_bodies: Semaphore,
    /// The port's budget for bodies held at once, when other routes share it.
    body_budget: Option<BodyBudget>,
}

impl DynamoDb {
    pub fn new(store: HistoryStore, iam: IamKeys, body_read_timeout: Duration) -> Arc<DynamoDb> {
        DynamoDb::with_unverified_bodies(store, iam, body_read_timeout, MAX_UNVERIFIED_BODIES)
    }

    /// [`DynamoDb::new`] with another bound on bodies read before their signature is proven.
    pub fn with_unverified_bodies(
        store: HistoryStore,
        iam: IamKeys,
        body_read_timeout: Duration,
        max_unverified_bodies: usize,
    ) -> Arc<DynamoDb> {
        Arc::new(DynamoDb {
            store,
            iam,
            body_read_timeout,
            unverified_bodies: Semaphore::new(max_unverified_bodies),
            body_budget: None,
        })
    }

    /// [`DynamoDb::new`] on a port whose other routes share `budget` with it: past the
    /// budget a request is throttled before a byte of its body is read.
    pub fn sharing_port(
        store: HistoryStore,
        iam: IamKeys,
        body_read_timeout: Duration,
        budget: BodyBudget,
    ) -> Arc<DynamoDb> {
        Arc::new(DynamoDb {
            store,
            iam,
            body_read_timeout,
            unverified_bodies: Semaphore::new(SHARED_PORT_UNVERIFIED_BODIES),
            body_budget: Some(budget),
        })
    }

    /// The endpoint's one route, `POST /`, to serve alone or merge beside other services.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", post(serve))
            .with_state(self.clone())
    }
}

/// The route's handler.
pub async fn serve(State(db): State<Arc<DynamoDb>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (headers, path) = (&parts.headers, parts.uri.path());
    if let Err(failure) = db.iam.signed_before_body(headers, path, DYNAMODB_SERVICE) {
        return refused(&failure).into_response();
    }
    // Held until the signature is proven over the whole body.
    let Ok(unverified) = db.unverified_bodies.try_acquire() else {
        tracing::warn!("DynamoDB request throttled: too many bodies awaiting their signature");
        return DynamoError::new(
            ErrorKind::Throttling,
            "Too many requests are being read at once; retry with backoff",
        )
        .into_response();
    };
    let budget = db.body_budget.as_ref();
    let read = read_limited(
        headers,
        body,
        MAX_REQUEST_BYTES,
        db.body_read_timeout,
        budget,
    );
    let body = match read.await {
        Ok(body) => body,
        Err(e) => return body_error(e).into_response(),
    };
    if let Err(failure) = db.iam.signed(headers, path, &body, DYNAMODB_SERVICE) {
        return refused(&failure).into_response();
    }
    drop(unverified);
    match handle(&db.store, headers, &body).await {
        Ok(output) => wire::json_response(StatusCode::OK, &output),
        Err(e) => {
            tracing::debug!(error = %e, "DynamoDB request refused");
            e.into_response()
        }
    }
}

/// An authentication failure in DynamoDB's words.
fn refused(failure: &AuthFailure) -> DynamoError {
    tracing::debug!(%failure, "DynamoDB request refused");
    match failure {
        AuthFailure::Missing => DynamoError::new(
            ErrorKind::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        ),
        AuthFailure::Signature(SigV4Error::UnknownAccessKey) => DynamoError::new(
            ErrorKind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        ),
        AuthFailure::Signature(SigV4Error::Mismatch) => DynamoError::new(
            ErrorKind::InvalidSignature,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
        AuthFailure::Signature(e @ (SigV4Error::Expired(_) | SigV4Error::WrongService(_))) => {
            DynamoError::new(ErrorKind::InvalidSignature, e.to_string())
        }
        other => DynamoError::new(ErrorKind::IncompleteSignature, other.to_string()),
    }
}

fn body_error(e: BodyError) -> DynamoError {
    match e {
        BodyError::TooLarge => DynamoError::new(
            ErrorKind::RequestTooLarge,
            format!("Request size exceeded {MAX_REQUEST_BYTES} bytes"),
        ),
        BodyError::Unreadable => DynamoError::serialization("The request body could not be read"),
        BodyError::TimedOut => DynamoError::new(
            ErrorKind::RequestTimeout,
            "The request body was not received in time",
        ),
        BodyError::OverBudget => {
            tracing::warn!("DynamoDB request throttled: the port's bodies hold its whole budget");
            DynamoError::new(
                ErrorKind::Throttling,
                "Too many requests are being read at once; retry with backoff",
            )
        }
    }
}

/// Runs one authenticated request.
pub async fn handle(
    store: &HistoryStore,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, DynamoError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(operation) = Operation::from_target(target) else {
        return Err(DynamoError::new(
            ErrorKind::UnknownOperation,
            format!(
                "The operation {target:?} is not served by this local DynamoDB endpoint (BatchWriteItem, PutItem, Query, DescribeTable are)"
            ),
        ));
    };
    match operation {
        Operation::BatchWriteItem => batch_write_item(store, input(body)?).await,
        Operation::PutItem => put_item(store, input(body)?).await,
        Operation::Query => query(store, input(body)?),
        Operation::DescribeTable => describe_table(store, &input(body)?),
    }
}

/// The body as an operation's input; anything that is not that is a SerializationException,
/// a key repeated in any object of it too (read last-wins, a `BatchWriteItem` naming its
/// table twice would drop half its writes while answering success).
fn input<T: DeserializeOwned>(body: &[u8]) -> Result<T, DynamoError> {
    let invalid = |e: &dyn std::fmt::Display| {
        DynamoError::serialization(format!("The request body is not a valid input: {e}"))
    };
    json::check(body, Shape::ANY).map_err(|e| invalid(&e))?;
    serde_json::from_slice(body).map_err(|e| invalid(&e))
}

fn storage(e: StoreError) -> DynamoError {
    tracing::error!(error = %e, "history store failed");
    DynamoError::new(
        ErrorKind::InternalServerError,
        format!("Internal server error: {e}"),
    )
}

fn check_table(store: &HistoryStore, name: Option<&str>) -> Result<(), DynamoError> {
    match name {
        None => Err(DynamoError::validation(
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
        )),
        Some(name) if name == store.table_name() => Ok(()),
        Some(_) => Err(DynamoError::not_found()),
    }
}

/// Refuses a parameter this endpoint does not implement, rather than ignoring it.
fn unsupported(present: bool, parameter: &str) -> Result<(), DynamoError> {
    if present {
        return Err(DynamoError::validation(format!(
            "{parameter} is not supported by this local DynamoDB endpoint"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchWriteItemInput {
    request_items: Option<HashMap<String, Vec<WriteRequest>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WriteRequest {
    put_request: Option<PutRequest>,
    delete_request: Option<DeleteRequest>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRequest {
    item: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteRequest {
    key: Map<String, Value>,
}

async fn batch_write_item(
    store: &HistoryStore,
    input: BatchWriteItemInput,
) -> Result<Value, DynamoError> {
    let Some(tables) = input.request_items else {
        return Err(DynamoError::validation(
            "1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null",
        ));
    };
    if tables.is_empty() {
        return Err(DynamoError::validation(
            "1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    for (table, requests) in &tables {
        if requests.is_empty() || requests.len() > MAX_BATCH_WRITES {
            return Err(DynamoError::validation(format!(
                "1 validation error detected: Value at 'requestItems.{table}.member' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_WRITES} and greater than or equal to 1 (it has {})",
                requests.len()
            )));
        }
    }
    if tables.values().map(Vec::len).sum::<usize>() > MAX_BATCH_WRITES {
        return Err(DynamoError::validation(
            "Too many items requested for the BatchWriteItem call",
        ));
    }
    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    let mut keys = HashSet::new();
    for (table, requests) in tables {
        check_table(store, Some(&table))?;
        for request in requests {
            let key = match (request.put_request, request.delete_request) {
                (Some(put), None) => {
                    let item = wire::item(put.item)?;
                    let key = item.key();
                    puts.push(item);
                    key
                }
                (None, Some(delete)) => {
                    let key = wire::key(&delete.key)?;
                    deletes.push(key.clone());
                    key
                }
                _ => {
                    return Err(DynamoError::validation(
                        "Supplied write request must contain exactly one of PutRequest or DeleteRequest",
                    ));
                }
            };
            if !keys.insert(key) {
                return Err(DynamoError::validation(
                    "Provided list of item keys contains duplicates",
                ));
            }
        }
    }
    store.write(puts, deletes).await.map_err(storage)?;
    Ok(json!({"UnprocessedItems": {}}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutItemInput {
    table_name: Option<String>,
    item: Option<Map<String, Value>>,
    condition_expression: Option<String>,
    expected: Option<Value>,
    return_values: Option<String>,
}

async fn put_item(store: &HistoryStore, input: PutItemInput) -> Result<Value, DynamoError> {
    let Some(item) = input.item else {
        return Err(DynamoError::validation(
            "1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null",
        ));
    };
    unsupported(input.condition_expression.is_some(), "ConditionExpression")?;
    unsupported(input.expected.is_some(), "Expected")?;
    unsupported(
        input.return_values.as_deref().is_some_and(|r| r != "NONE"),
        "ReturnValues other than NONE",
    )?;
    check_table(store, input.table_name.as_deref())?;
    let item = wire::item(item)?;
    store.write(vec![item], Vec::new()).await.map_err(storage)?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryInput {
    table_name: Option<String>,
    index_name: Option<String>,
    key_condition_expression: Option<String>,
    #[serde(default)]
    expression_attribute_names: HashMap<String, String>,
    #[serde(default)]
    expression_attribute_values: HashMap<String, Value>,
    limit: Option<i64>,
    scan_index_forward: Option<bool>,
    exclusive_start_key: Option<Map<String, Value>>,
    select: Option<String>,
    filter_expression: Option<String>,
    projection_expression: Option<String>,
    key_conditions: Option<Value>,
    query_filter: Option<Value>,
    attributes_to_get: Option<Value>,
}

fn query(store: &HistoryStore, input: QueryInput) -> Result<Value, DynamoError> {
    if let Some(limit) = input.limit
        && limit < 1
    {
        return Err(DynamoError::validation(format!(
            "1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )));
    }
    unsupported(input.filter_expression.is_some(), "FilterExpression")?;
    unsupported(
        input.projection_expression.is_some(),
        "ProjectionExpression",
    )?;
    unsupported(
        input.key_conditions.is_some(),
        "KeyConditions (use KeyConditionExpression)",
    )?;
    unsupported(input.query_filter.is_some(), "QueryFilter")?;
    unsupported(input.attributes_to_get.is_some(), "AttributesToGet")?;
    let count_only = match input.select.as_deref() {
        None | Some("ALL_ATTRIBUTES") => false,
        Some("COUNT") => true,
        Some(other) => {
            return Err(DynamoError::validation(format!(
                "Select {other} is not supported by this local DynamoDB endpoint (ALL_ATTRIBUTES and COUNT are)"
            )));
        }
    };
    check_table(store, input.table_name.as_deref())?;
    if let Some(index) = input.index_name {
        return Err(DynamoError::validation(format!(
            "The table does not have the specified index: {index}"
        )));
    }
    let Some(expression) = input.key_condition_expression else {
        return Err(DynamoError::validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        ));
    };
    for value in input.expression_attribute_values.values() {
        wire::check_value(value, 1)?;
    }
    let condition = expression::parse(
        &expression,
        &input.expression_attribute_names,
        &input.expression_attribute_values,
    )?;
    let exclusive_start = match &input.exclusive_start_key {
        None => None,
        Some(start) => {
            let key = wire::key(start).map_err(|e| {
                DynamoError::validation(format!(
                    "The provided starting key is invalid: {}",
                    e.message
                ))
            })?;
            if key.symbol != condition.symbol {
                return Err(DynamoError::validation(
                    "The provided starting key is invalid: The provided starting key does not match the range key predicate",
                ));
            }
            Some(key.timestamp)
        }
    };
    let options = QueryOptions {
        limit: input
            .limit
            .map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        forward: input.scan_index_forward.unwrap_or(true),
        exclusive_start,
        max_bytes: MAX_PAGE_BYTES,
    };
    let page = store
        .query(&condition.symbol, condition.sort, options)
        .map_err(storage)?;
    let count = page.items.len();
    let mut output = json!({"Count": count, "ScannedCount": count});
    if !count_only {
        output["Items"] = Value::Array(page.items.into_iter().map(item_json).collect());
    }
    if let Some(last) = page.last_evaluated {
        output["LastEvaluatedKey"] = wire::key_json(&condition.symbol, last);
    }
    Ok(output)
}

fn item_json(item: Item) -> Value {
    Value::Object(item.attributes)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeTableInput {
    table_name: Option<String>,
}

/// The table as DynamoDB describes it: the key schema, on-demand billing, the item count.
fn describe_table(store: &HistoryStore, input: &DescribeTableInput) -> Result<Value, DynamoError> {
    let name = store.table_name();
    check_table(store, input.table_name.as_deref()).map_err(|e| match e.kind {
        ErrorKind::ResourceNotFound => DynamoError::new(
            ErrorKind::ResourceNotFound,
            format!(
                "Requested resource not found: Table: {} not found",
                input.table_name.as_deref().unwrap_or_default()
            ),
        ),
        _ => e,
    })?;
    let items = store.item_count().map_err(storage)?;
    let created = std::fs::metadata(store.path())
        .and_then(|m| m.created().or_else(|_| m.modified()))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(json!({
        "Table": {
            "TableName": name,
            "TableStatus": "ACTIVE",
            "TableArn": format!("arn:aws:dynamodb:{LOCAL_REGION}:000000000000:table/{name}"),
            "TableId": "00000000-0000-0000-0000-000000000000",
            "KeySchema": [
                {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
                {"AttributeName": SORT_KEY, "AttributeType": "N"},
            ],
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": 0,
                "WriteCapacityUnits": 0,
            },
            "CreationDateTime": created,
            "ItemCount": items,
            "TableSizeBytes": 0,
            "DeletionProtectionEnabled": false,
        }
    }))
}
