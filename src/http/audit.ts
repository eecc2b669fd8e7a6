/**
 * Audit replay (SPEC §2 "Audit"): every tenant's raw history, so the caller needs the dedicated
 * scope `ledger.audit` or the admin scope `ledger.admin` (OpTok + PoE, 401/403 like every route).
 *
 * - `GET /api/v1/audit/events?after=POS&limit=N&type=T&stream=S` → `{events, next, head}`
 * - `GET /api/v1/audit/events/stream?after=POS&type=T&stream=S` → SSE: `id` = position,
 *   `event` = type, `data` = the event JSON; `Last-Event-ID` takes precedence over `after`.
 *
 * Parameters are parsed strictly (unknown or repeated parameters are refused): `after` a
 * non-negative safe integer (default 0, exclusive); `limit` 1..1000 (default 100); `type`
 * repeatable and/or comma-separated event types; `stream` repeatable, an exact stream name or,
 * ending in `*`, a prefix (`bundle-*`).
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, MAX_SELECTORS, type AuditFilter, type AuditService } from '../app/audit/audit-service.ts';
import { LedgerError } from '../errors.ts';
import { authenticateAnyScope } from './authorize.ts';
import { StreamLimiter } from './sse-limits.ts';
import type { CallerAuthenticator } from './signer.ts';

export const AUDIT_SCOPE = 'ledger.audit';
const ADMIN_SCOPE = 'ledger.admin';
const KEEPALIVE_MS = 15_000;

export interface AuditRouteDeps {
  readonly audit: AuditService;
  readonly auth: CallerAuthenticator;
  /** Interval of the SSE keep-alive comments (default 15 s). */
  readonly keepAliveMs?: number;
  /** Caps and timeouts of SSE streams, shared with the anchors stream (default: DEFAULT_STREAM_LIMITS). */
  readonly streams?: StreamLimiter;
}

const POSITION_RE = /^(0|[1-9]\d{0,15})$/;
const LIMIT_RE = /^[1-9]\d{0,3}$/;
/** The store's event type rule (src/store/chain.ts), so that any stored type can be asked for. */
const TYPE_RE = /^[A-Za-z][A-Za-z0-9._:-]{0,127}$/;
const MAX_STREAM = 256;

const bad = (reason: string, message: string) => new LedgerError('bad_request', message, { reason });

/** `ledger.audit`, else `ledger.admin`; a caller with neither is 403 `missing_scope`. */
const authorize = (auth: CallerAuthenticator, c: Parameters<typeof authenticateAnyScope>[1]) => authenticateAnyScope(auth, c, [AUDIT_SCOPE, ADMIN_SCOPE]);

function parsePosition(raw: string, name: string, reason: string): number {
  if (!POSITION_RE.test(raw) || !Number.isSafeInteger(Number(raw))) throw bad(reason, `"${name}" must be a non-negative safe integer (a position)`);
  return Number(raw);
}

/** The `type` and `stream` parameters as a filter (undefined when neither is given). */
function parseFilter(query: Record<string, string[]>): AuditFilter | undefined {
  let types: string[] | undefined;
  let streams: { exact: string[]; prefixes: string[] } | undefined;
  for (const value of query.type ?? []) {
    for (const t of value.split(',')) {
      if (!TYPE_RE.test(t)) throw bad('invalid_type', '"type" must be event types (a letter, then letters, digits, ".", "_", ":" or "-"; at most 128), repeated or comma-separated');
      types ??= [];
      if (!types.includes(t)) types.push(t);
    }
  }
  for (const s of query.stream ?? []) {
    const prefix = s.endsWith('*');
    const name = prefix ? s.slice(0, -1) : s;
    // eslint-disable-next-line no-control-regex
    if (name.length === 0 || name.length > MAX_STREAM || name.startsWith('$') || /[\u0000-\u001f\u007f]/.test(name) || !name.isWellFormed()) {
      throw bad('invalid_stream', `"stream" must be a stream name or a prefix ending in "*" (1 to ${MAX_STREAM} characters, no control characters, not starting with "$")`);
    }
    streams ??= { exact: [], prefixes: [] };
    (prefix ? streams.prefixes : streams.exact).push(name);
  }
  if ((types?.length ?? 0) > MAX_SELECTORS || (streams ? streams.exact.length + streams.prefixes.length : 0) > MAX_SELECTORS) {
    throw bad('too_many_selectors', `at most ${MAX_SELECTORS} types and ${MAX_SELECTORS} streams`);
  }
  if (!types && !streams) return undefined;
  return { ...(types ? { types } : {}), ...(streams ? { streams } : {}) };
}

function checkParameters(query: Record<string, string[]>, allowed: readonly string[], single: readonly string[]): void {
  for (const [name, values] of Object.entries(query)) {
    if (!allowed.includes(name)) throw bad('unknown_parameter', `unknown parameter "${name.slice(0, 40)}" (allowed: ${allowed.join(', ')})`);
    if (single.includes(name) && values.length > 1) throw bad('repeated_parameter', `"${name}" may be given once`);
  }
}

export function auditRoutes(deps: AuditRouteDeps): Hono {
  const app = new Hono();
  const keepAliveMs = deps.keepAliveMs ?? KEEPALIVE_MS;
  const streams = deps.streams ?? new StreamLimiter();

  app.get('/api/v1/audit/events', async (c) => {
    await authorize(deps.auth, c);
    const query = c.req.queries();
    checkParameters(query, ['after', 'limit', 'type', 'stream'], ['after', 'limit']);
    const after = query.after ? parsePosition(query.after[0]!, 'after', 'invalid_after') : 0;
    let limit = DEFAULT_PAGE_LIMIT;
    if (query.limit) {
      const raw = query.limit[0]!;
      if (!LIMIT_RE.test(raw) || Number(raw) > MAX_PAGE_LIMIT) throw bad('invalid_limit', `"limit" must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
      limit = Number(raw);
    }
    const filter = parseFilter(query);
    const page = await deps.audit.page({ after, limit, ...(filter ? { filter } : {}) });
    return c.json(page, 200, { 'cache-control': 'no-store' });
  });

  /**
   * Catch-up then live: every matching event after the resume point, one SSE message each, then
   * new ones as they commit; `: keep-alive` comments while idle. Ends on client abort (the store
   * subscription is aborted and its iterator returned) and at shutdown.
   */
  app.get('/api/v1/audit/events/stream', async (c) => {
    await authorize(deps.auth, c);
    const query = c.req.queries();
    checkParameters(query, ['after', 'type', 'stream'], ['after']);
    const lastEventId = c.req.header('last-event-id');
    // An empty Last-Event-ID is what a client holding no id would send: it falls back to `after`.
    const after = lastEventId ? parsePosition(lastEventId, 'Last-Event-ID', 'invalid_event_id') : query.after ? parsePosition(query.after[0]!, 'after', 'invalid_after') : 0;
    const filter = parseFilter(query);
    // Hono answers HEAD with the GET handler and drops the body without cancelling it: open no tail.
    if (c.req.method === 'HEAD') return c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // Over the stream caps: refused before a tail is opened.
    const lease = streams.acquire(c);
    let tail: ReturnType<AuditService['openTail']>;
    try {
      tail = deps.audit.openTail({ after, ...(filter ? { filter } : {}) });
    } catch (err) {
      lease.release();
      throw err;
    }
    return streamSSE(c, async (stream) => {
      lease.attach(stream);
      stream.onAbort(() => tail.close());
      const iterator = tail.events[Symbol.asyncIterator]();
      try {
        const next = () => {
          const p = iterator.next();
          p.catch(() => {}); // a rejection is handled by the race below, or ignored once the stream is gone
          return p;
        };
        let pending = next();
        while (!stream.aborted) {
          let timer: NodeJS.Timeout | undefined;
          const tick = new Promise<'tick'>((resolve) => {
            timer = setTimeout(() => resolve('tick'), keepAliveMs);
          });
          const got = await Promise.race([pending, tick]);
          clearTimeout(timer);
          if (got === 'tick') {
            if (!(await lease.write(() => stream.write(': keep-alive\n\n')))) break;
            continue;
          }
          if (got.done) break;
          let stalled = false;
          for (const e of got.value) {
            if (stream.aborted) break;
            if (!(await lease.write(() => stream.writeSSE({ id: String(e.position), event: e.type, data: JSON.stringify(e) })))) {
              stalled = true;
              break;
            }
          }
          if (stalled) break;
          pending = next();
        }
      } catch {
        // The store closed or failed: end the stream; the client resumes with Last-Event-ID.
      } finally {
        tail.close();
        lease.release();
        await iterator.return?.().catch(() => {});
      }
    });
  });

  return app;
}
