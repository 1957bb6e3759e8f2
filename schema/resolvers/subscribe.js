// Resolver of Subscription.subscribe on the NONE data source.
//
// The client passes an enhanced-filter JSON text in `filter`, for example
//   {"name": {"in": ["AMZN", "TSLA"]}}
// and this resolver installs it with util.transform.toSubscriptionFilter. Without a filter
// (or with a blank one) the subscriber receives every channel. A filter that is not a JSON
// object is refused at `start` with an error the client sees, rather than matching
// everything or nothing.
//
// APPSYNC_JS has no try/catch (nor throw, while, continue, for(;;), ++/--, `in`, regex
// literals): `cargo xtask lint-resolvers` checks this file with AWS's own linter. So the text
// is checked in two steps:
// - it must look like a JSON object (`{ … }` once trimmed), else
//   util.error('filter must be a JSON object …', 'BadFilter');
// - JSON.parse must accept it. A text such as `{"name":}` makes JSON.parse fail, and with no
//   try/catch that failure ends the resolver with a runtime error, which refuses the `start`
//   as well, with the runtime's own message instead of ours.
// What an AWS client then receives is UNVERIFIED (no deployment checked it): we expect an
// `error` message for the subscription id whose payload.errors[0] carries errorType
// `BadFilter` and our message in the first case, and a resolver runtime error in the second.
//
// The local server (local/) implements the same semantics natively (quotecast_shared::filter):
// there a `start` with an invalid filter gets an `error` message with errorType
// BadRequestException and the message `invalid subscription filter: filter is not valid
// JSON: …` or `invalid subscription filter: filter must be a JSON object` (tested in
// local/appsync/tests/realtime_conformance.rs, invalid_filters_are_refused_at_start).

import { util, extensions } from '@aws-appsync/utils';

export function request(ctx) {
  return { payload: null };
}

export function response(ctx) {
  const text = ctx.args.filter ? ctx.args.filter.trim() : '';
  if (text === '') {
    return null;
  }
  if (text[0] !== '{' || text[text.length - 1] !== '}') {
    util.error('filter must be a JSON object, e.g. {"name":{"in":["AMZN","TSLA"]}}', 'BadFilter');
  }
  const filter = JSON.parse(text);
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
    util.error('filter must be a JSON object', 'BadFilter');
  }
  extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(filter));
  return null;
}
