// The parts of `@aws-appsync/utils` that schema/resolvers/*.js use, for running them
// unmodified in Node (the resolver harness, tests/tests/resolvers.rs). Written from AWS's
// "Resolver and function JavaScript runtime features" reference (AppSync developer guide):
//
// - util.error(message, errorType): ends the handler; the field resolves to null with that
//   error. Here it throws a ResolverError the harness reports as { error: { message, type } }.
// - util.appendError(message, errorType): records an error and goes on.
// - util.dynamodb.toMapValues(object): each value as a DynamoDB attribute value (S, N, BOOL,
//   NULL, L, M); as AWS's reference shows it, `N` holds the number itself ({ N: 12345 }), which
//   AppSync writes as DynamoDB's number text when it sends the request (run.mjs does).
// - util.transform.toSubscriptionFilter(filter): AppSync turns the filter object into its
//   filter form; here it is recorded as given (the harness runs no subscription).
// - runtime.earlyReturn(value): ends the request handler without calling the data source or
//   the response handler; the value is the field's result.
// - extensions.setSubscriptionFilter(filter): records the filter.
//
// Nothing else of the module exists here: a resolver using more fails in the harness, which is
// the point (add it here from AWS's reference, with its source).

export class ResolverError extends Error {
  constructor(message, type) {
    super(message);
    this.type = type;
  }
}

export class EarlyReturn extends Error {
  constructor(value) {
    super('earlyReturn');
    this.value = value;
  }
}

export const recorded = { errors: [], filters: [] };

function attribute(value) {
  if (value === null || value === undefined) {
    return { NULL: true };
  }
  if (typeof value === 'string') {
    return { S: value };
  }
  if (typeof value === 'number') {
    return { N: value };
  }
  if (typeof value === 'boolean') {
    return { BOOL: value };
  }
  if (Array.isArray(value)) {
    return { L: value.map(attribute) };
  }
  return { M: toMapValues(value) };
}

function toMapValues(object) {
  const out = {};
  for (const [key, value] of Object.entries(object)) {
    out[key] = attribute(value);
  }
  return out;
}

export const util = {
  error(message, type) {
    throw new ResolverError(message, type);
  },
  appendError(message, type) {
    recorded.errors.push({ message, type });
  },
  dynamodb: { toMapValues },
  transform: {
    toSubscriptionFilter(filter) {
      return { subscriptionFilter: filter };
    },
  },
};

export const runtime = {
  earlyReturn(value) {
    throw new EarlyReturn(value);
  },
};

export const extensions = {
  setSubscriptionFilter(filter) {
    recorded.filters.push(filter);
  },
};
