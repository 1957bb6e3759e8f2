// Resolver of Subscription.subscribe on the NONE data source.
//
// The client passes an enhanced-filter JSON text in `filter`, for example
//   {"name": {"in": ["AMZN", "TSLA"]}}
// and this resolver installs it with util.transform.toSubscriptionFilter. Without a filter
// the subscriber receives every channel. A filter that is not JSON is refused at `start`
// with an error the client sees, rather than matching everything or nothing.
// The local server (local/) implements the same semantics natively
// (quotecast_shared::filter).

import { util, extensions } from '@aws-appsync/utils';

export function request(ctx) {
  return { payload: null };
}

export function response(ctx) {
  const text = ctx.args.filter;
  if (text) {
    let filter;
    try {
      filter = JSON.parse(text);
    } catch (e) {
      util.error('filter is not valid JSON: ' + e.message, 'BadFilter');
    }
    extensions.setSubscriptionFilter(util.transform.toSubscriptionFilter(filter));
  }
  return null;
}
