// Resolver of Mutation.publish on the NONE data source: the arguments become the result,
// which AppSync then fans out to every `subscribe` subscriber whose filter matches.
// The local server (local/) implements the same semantics natively.

export function request(ctx) {
  return { payload: { name: ctx.args.name, data: ctx.args.data } };
}

export function response(ctx) {
  return ctx.result;
}
