// The resolver harness: runs resolver files of schema/resolvers/ unmodified, as AppSync runs
// them: request(ctx) → the data source → response(ctx). On a DynamoDB data source the request
// object is executed with AWS's JavaScript SDK v3 against `endpoint` (moto's server, or our
// DynamoDB twin); on a NONE data source (a request without `operation`) its `payload` is the
// result, as AppSync's NONE data source does.
//
// Input (stdin, JSON): { endpoint, region, accessKeyId, secretAccessKey, table,
//   setup: { createTable: bool, items: [DynamoDB JSON items] } | null,
//   cases: [{ resolver: path, type, field, args }] }
// Output (stdout, JSON): { cases: [{ request, result, filters } |
//   { request, error: { message, type }, filters }] } (`filters`: what the case passed to
//   extensions.setSubscriptionFilter)
//
// Run: node --import ./register.mjs run.mjs < input.json (tests/tests/resolvers.rs does).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  DynamoDBClient,
  CreateTableCommand,
  BatchWriteItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ResolverError, EarlyReturn, recorded } from '@aws-appsync/utils';

// AppSync sends a resolver's console.log to CloudWatch Logs, never into the answer: stdout
// carries the answer alone.
console.log = (...args) => console.error(...args);
process.removeAllListeners('warning');

const input = JSON.parse(readFileSync(0, 'utf8'));
const client = new DynamoDBClient({
  endpoint: input.endpoint,
  region: input.region,
  credentials: { accessKeyId: input.accessKeyId, secretAccessKey: input.secretAccessKey },
  maxAttempts: 1,
});
const resolvers = new Map();
async function load(path) {
  if (!resolvers.has(path)) {
    resolvers.set(path, await import(pathToFileURL(path).href));
  }
  return resolvers.get(path);
}

async function setup(spec) {
  if (spec.createTable) {
    await client.send(new CreateTableCommand({
      TableName: input.table,
      KeySchema: [
        { AttributeName: 'symbol', KeyType: 'HASH' },
        { AttributeName: 'timestamp', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'symbol', AttributeType: 'S' },
        { AttributeName: 'timestamp', AttributeType: 'N' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }));
  }
  for (let i = 0; i < spec.items.length; i += 25) {
    const requests = spec.items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: item } }));
    let pending = { [input.table]: requests };
    for (let attempt = 0; attempt < 10 && Object.keys(pending).length > 0; attempt += 1) {
      const answer = await client.send(new BatchWriteItemCommand({ RequestItems: pending }));
      pending = answer.UnprocessedItems || {};
    }
    if (Object.keys(pending).length > 0) {
      throw new Error('BatchWriteItem left items unprocessed');
    }
  }
}

// Attribute values as DynamoDB's wire takes them: a number's `N` as its text.
function wireValues(values) {
  const wire = (v) => {
    if (v === null || typeof v !== 'object') {
      return v;
    }
    if (Array.isArray(v)) {
      return v.map(wire);
    }
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === 'N' && typeof x === 'number' ? String(x) : wire(x);
    }
    return out;
  };
  return values === undefined ? undefined : wire(values);
}

// What AppSync's DynamoDB data source does with a resolver's `Query` request object.
async function query(request) {
  const q = request.query;
  const answer = await client.send(new QueryCommand({
    TableName: input.table,
    KeyConditionExpression: q.expression,
    ExpressionAttributeNames: q.expressionNames,
    ExpressionAttributeValues: wireValues(q.expressionValues),
    ScanIndexForward: request.scanIndexForward,
    ConsistentRead: request.consistentRead,
    Limit: request.limit,
    ExclusiveStartKey: request.nextToken
      ? JSON.parse(Buffer.from(request.nextToken, 'base64').toString('utf8'))
      : undefined,
  }));
  return {
    items: (answer.Items || []).map((item) => unmarshall(item)),
    nextToken: answer.LastEvaluatedKey
      ? Buffer.from(JSON.stringify(answer.LastEvaluatedKey)).toString('base64')
      : null,
    scannedCount: answer.ScannedCount,
  };
}

async function run(resolver, type, field, args) {
  const ctx = { args, arguments: args, info: { fieldName: field, parentTypeName: type }, stash: {} };
  let request = null;
  try {
    request = resolver.request(ctx);
  } catch (e) {
    if (e instanceof EarlyReturn) {
      return { request, result: e.value };
    }
    if (e instanceof ResolverError) {
      return { request, error: { message: e.message, type: e.type } };
    }
    throw e;
  }
  if (request.operation === undefined) {
    ctx.result = request.payload;
  } else if (request.operation === 'Query') {
    try {
      ctx.result = await query(request);
    } catch (e) {
      ctx.error = { message: e.message, type: `DynamoDB:${e.name}` };
    }
  } else {
    throw new Error(`the harness runs Query requests and NONE data sources, got ${request.operation}`);
  }
  try {
    return { request, result: resolver.response(ctx) };
  } catch (e) {
    if (e instanceof ResolverError) {
      return { request, error: { message: e.message, type: e.type } };
    }
    throw e;
  }
}

if (input.setup) {
  await setup(input.setup);
}
const cases = [];
for (const c of input.cases) {
  recorded.filters.length = 0;
  const outcome = await run(await load(c.resolver), c.type || 'Query', c.field, c.args);
  cases.push({ ...outcome, filters: [...recorded.filters] });
}
process.stdout.write(JSON.stringify({ cases }));
