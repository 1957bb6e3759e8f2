// Module resolution for the harness: `@aws-appsync/utils` is our runtime (appsync-utils.mjs),
// and AWS's SDK comes from where `cargo xtask setup` installed it
// (RESOLVER_HARNESS_MODULES, the folder holding node_modules).
import { pathToFileURL } from 'node:url';

const utils = new URL('./appsync-utils.mjs', import.meta.url).href;
const modules = process.env.RESOLVER_HARNESS_MODULES;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === '@aws-appsync/utils') {
    return { url: utils, shortCircuit: true };
  }
  if (specifier.startsWith('@aws-sdk/') && modules) {
    return nextResolve(specifier, { ...context, parentURL: pathToFileURL(`${modules}/index.mjs`).href });
  }
  return nextResolve(specifier, context);
}
