// Resolver of Query.history and Query.historyPage on the DynamoDB data source (the consumer's
// history table: partition key `symbol` (S), sort key `timestamp` (N, ms), the quote JSON text
// in `data` (S), `expiresAt` (N, epoch seconds) the TTL attribute). One file for both fields:
// the same Query, two shapes of answer.
//
// history(name, limit, after) returns bars of one channel, oldest first, each shaped like a
// subscription delivers it: { name, data }. historyPage(name, limit, after) returns
// { items: [{ name, data, timestamp }], next }.
// - without `after`: the most recent `limit` bars (a descending Query, reversed here), and
//   `next` null: they end at the channel's end;
// - with `after` (ms): the first `limit` bars whose timestamp is greater (backfill), and
//   `next` the sort key of the last item the Query read whenever DynamoDB stopped before the
//   end (a `nextToken`: at `limit` items or at the 1 MB page), whether or not that item was
//   readable; null only when the Query reached the end. A client pages on `next`, never on
//   a count: a page is short when an item is skipped or the 1 MB page is full.
// `limit` defaults to 60 and must be 1..1000; `after` must be a whole number ≥ 0. A name
// that no channel can have (empty, or longer than 512 characters) returns [] without a Query,
// since DynamoDB refuses an empty key value. Errors use errorType BadRequestException.
//
// Reads are strongly consistent (`consistentRead: true`): the dashboard asks for a hole the
// moment a live bar reveals it, and the consumer stored that hole's bars just before
// publishing; an eventually consistent Query could miss them and the hole would be settled
// as a gap. (It costs twice the read units of an eventually consistent Query.)
//
// `data` is returned as the parsed object, as `publish` returns it, so AppSync writes it as it
// writes a subscription's `data`; a string returned for an AWSJSON field is the classic
// double-encoding trap (aws-mobile-appsync-sdk-js#533). Clients read one layer of double
// encoding anyway (shared's `parse_quote_payload`). An item without a `data` text that looks
// like a JSON object is skipped and logged rather than failing the query. APPSYNC_JS has no
// try/catch, so a text that looks like an object but is not JSON makes `JSON.parse` fail the
// field (UNVERIFIED how AppSync words it); the consumer only ever stores JSON it has parsed.
//
// The local server implements the same semantics natively over the same table
// (local/appsync/src/history.rs, tested in local/quotecast/tests/history_query.rs).

import { util, runtime } from '@aws-appsync/utils';

const DEFAULT_LIMIT = 60;
const MAX_LIMIT = 1000;
// Longer names are not looked up: DynamoDB refuses a key value over 2,048 bytes, and no
// channel the consumer stores is near it (symbols ≤ 32 bytes, Kafka topics ≤ 249).
const MAX_NAME_LEN = 512;
// Beyond this `after` is not a time (and DynamoDB refuses numbers past 38 digits).
const MAX_AFTER = 9.2e18;

export function request(ctx) {
  const name = ctx.args.name;
  const limit = ctx.args.limit === undefined || ctx.args.limit === null ? DEFAULT_LIMIT : ctx.args.limit;
  const after = ctx.args.after;
  const hasAfter = after !== undefined && after !== null;
  if (limit < 1 || limit > MAX_LIMIT) {
    util.error(`limit must be between 1 and ${MAX_LIMIT}, got ${limit}`, 'BadRequestException');
  }
  if (hasAfter && (after < 0 || after >= MAX_AFTER || Math.floor(after) !== after)) {
    util.error(`after must be a whole number of milliseconds ≥ 0, got ${after}`, 'BadRequestException');
  }
  if (name.length === 0 || name.length > MAX_NAME_LEN) {
    runtime.earlyReturn(ctx.info.fieldName === 'historyPage' ? { items: [], next: null } : []);
  }
  if (hasAfter) {
    return {
      operation: 'Query',
      query: {
        expression: '#symbol = :symbol AND #timestamp > :after',
        expressionNames: { '#symbol': 'symbol', '#timestamp': 'timestamp' },
        expressionValues: util.dynamodb.toMapValues({ ':symbol': name, ':after': after }),
      },
      scanIndexForward: true,
      consistentRead: true,
      limit: limit,
    };
  }
  return {
    operation: 'Query',
    query: {
      expression: '#symbol = :symbol',
      expressionNames: { '#symbol': 'symbol' },
      expressionValues: util.dynamodb.toMapValues({ ':symbol': name }),
    },
    scanIndexForward: false,
    consistentRead: true,
    limit: limit,
  };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  const items = ctx.result.items;
  const bars = [];
  for (const item of items) {
    const data = typeof item.data === 'string' ? item.data.trim() : null;
    if (data !== null && data.startsWith('{') && data.endsWith('}')) {
      bars.push({ name: item.symbol, data: JSON.parse(data), timestamp: item.timestamp });
    } else {
      console.log(`history: skipped an unreadable item of ${item.symbol} at ${item.timestamp}`);
    }
  }
  const after = ctx.args.after;
  const forward = after !== undefined && after !== null;
  if (!forward) {
    bars.reverse();
  }
  if (ctx.info.fieldName !== 'historyPage') {
    return bars;
  }
  const stopped = forward && ctx.result.nextToken && items.length > 0;
  return { items: bars, next: stopped ? items[items.length - 1].timestamp : null };
}
