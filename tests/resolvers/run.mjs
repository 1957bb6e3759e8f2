// The resolver harness: runs a resolver file of schema/resolvers/ unmodified, as AppSync runs
// it on a DynamoDB data source: request(ctx) → the DynamoDB operation, executed with AWS's
// JavaScript SDK v3 against `endpoint` (moto's server, or our DynamoDB twin) → response(ctx).
//
// Input (stdin, JSON): { endpoint, region, accessKeyId, secretAccessKey, table, resolver,
//   setup: { createTable: bool, items: [DynamoDB JSON items] } | null,
//   cases: [{ field, args }] }
// Output (stdout, JSON): { cases: [{ request, result } | { request, error: { message, type } }] }
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
import { ResolverError, EarlyReturn } from '@aws-appsync/utils';

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
const resolver = await import(pathToFileURL(input.resolver).href);

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

// What AppSync's DynamoDB data source does with a resolver's `Query` request object.
async function query(request) {
  const q = request.query;
  const answer = await client.send(new QueryCommand({
    TableName: input.table,
    KeyConditionExpression: q.expression,
    ExpressionAttributeNames: q.expressionNames,
    ExpressionAttributeValues: q.expressionValues,
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

async function run(field, args) {
  const ctx = { args, arguments: args, info: { fieldName: field, parentTypeName: 'Query' }, stash: {} };
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
  if (request.operation !== 'Query') {
    throw new Error(`the harness runs Query requests only, got ${request.operation}`);
  }
  try {
    ctx.result = await query(request);
  } catch (e) {
    ctx.error = { message: e.message, type: `DynamoDB:${e.name}` };
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
  cases.push(await run(c.field, c.args));
}
process.stdout.write(JSON.stringify({ cases }));
