/**
 * Query parameters are read one way on every route: a parameter given twice (`?treeSize=1&treeSize=9`,
 * also when one of them is percent-encoded, `tree%53ize`) is refused with 400 `bad_request`,
 * `details.reason` `repeated_parameter` and `details.parameter`, never resolved to the first or the
 * last. Only the parameters a route documents as lists may repeat (the audit routes' `type` and
 * `stream` selectors). `refuseRepeatedQuery` applies this to every route before it runs;
 * `singleQuery` is the same rule for a route that reads one parameter itself.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { LedgerError } from '../errors.ts';

/** Route path → parameters that route reads as a list. */
export const LIST_PARAMETERS: Readonly<Record<string, readonly string[]>> = {
  '/api/v1/audit/events': ['type', 'stream'],
  '/api/v1/audit/events/stream': ['type', 'stream'],
};

const repeated = (name: string) =>
  new LedgerError('bad_request', `query parameter "${name.slice(0, 40)}" may be given once`, { reason: 'repeated_parameter', parameter: name.slice(0, 40) });

/** Every parameter name of a request URL that occurs more than once (decoded as URLSearchParams decodes). */
export function repeatedParameters(url: string): string[] {
  const params = new URL(url).searchParams;
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name)) twice.add(name);
    seen.add(name);
  }
  return [...twice];
}

/** Middleware: refuses a repeated query parameter on any route, except the LIST_PARAMETERS of that route. */
export function refuseRepeatedQuery(lists: Readonly<Record<string, readonly string[]>> = LIST_PARAMETERS): MiddlewareHandler {
  return async (c, next) => {
    const names = repeatedParameters(c.req.url);
    if (names.length > 0) {
      const allowed = lists[new URL(c.req.url).pathname] ?? [];
      const refused = names.find((n) => !allowed.includes(n));
      if (refused !== undefined) throw repeated(refused);
    }
    await next();
  };
}

/** The one value of query parameter `name` (undefined when absent); refuses it when repeated. */
export function singleQuery(c: Context, name: string): string | undefined {
  const values = c.req.queries(name);
  if (values !== undefined && values.length > 1) throw repeated(name);
  if (repeatedParameters(c.req.url).includes(name)) throw repeated(name);
  return c.req.query(name);
}
