/**
 * `POST /api/v1/timestamp` — RFC 3161 over HTTP (`application/timestamp-query` →
 * `application/timestamp-reply`). A malformed or unsupported query gets a TimeStampResp with
 * status rejection and its failure info (and appends nothing); a granted one is recorded as an
 * event before it is returned. Callers with an OpTok + PoE use their plan's quotas. Anonymous
 * callers have a per-client bucket and concurrency (client = peer address, IPv6 per /64), share one
 * small bucket, and have a daily budget of recorded timestamps per client and for all of them
 * (`anonymousDaily`): past it they get 429 with Retry-After and nothing is recorded, so anonymous
 * callers cannot grow the store without bound. Every granted token is an event.
 *
 * The body is read before any concurrency slot is taken: a slow sender holds no shared slot.
 */
import { Hono } from 'hono';
import type { Logger } from '../app/common/logger.ts';
import type { DailyQuota } from '../app/access/quotas.ts';
import type { TsaService } from '../app/timestamping/tsa-service.ts';
import { LedgerError } from '../errors.ts';
import { readBody } from './body.ts';
import { clientOf } from './client-address.ts';
import { SIGN_SCOPE, type CallerAuthenticator, type QuotaGate } from './signer.ts';

export const TIMESTAMP_QUERY = 'application/timestamp-query';
export const TIMESTAMP_REPLY = 'application/timestamp-reply';
/** Above this the body is not even read (the TSA itself rejects queries over 16 KiB as badRequest). */
const MAX_BODY = 64 * 1024;

export interface TimestampRouteDeps {
  readonly tsa: TsaService;
  readonly auth: CallerAuthenticator;
  readonly quotas: QuotaGate;
  /** Quota gate for callers without a token (tenant "anonymous", plan "anonymous"). */
  readonly anonymous: QuotaGate;
  /** Per-client gate for callers without a token (tenant: the client, plan "anonymous-client"). */
  readonly anonymousClients?: QuotaGate;
  /** Daily budget of anonymous timestamps recorded, per client and in total. */
  readonly anonymousDaily?: DailyQuota;
  readonly logger: Logger;
}

type Release = { release(): void };

/** Takes every gate in order, or none: a refusal gives back what the earlier ones took. */
function takeAll(gates: readonly (() => Release)[]): Release {
  const taken: Release[] = [];
  try {
    for (const take of gates) taken.push(take());
  } catch (err) {
    for (const t of taken.reverse()) t.release();
    throw err;
  }
  return { release: () => taken.reverse().forEach((t) => t.release()) };
}

export function timestampRoutes(deps: TimestampRouteDeps): Hono {
  const app = new Hono();
  app.post('/api/v1/timestamp', async (c) => {
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== TIMESTAMP_QUERY) throw new LedgerError('unsupported_media_type', `the request body must be ${TIMESTAMP_QUERY}`, { reason: 'not_timestamp_query' });
    const authorization = c.req.header('authorization');
    const caller = authorization !== undefined ? await deps.auth.authenticate({ authorization, poe: c.req.header('x-proof-of-entitlement'), requiredScope: SIGN_SCOPE }) : undefined;
    const query = Buffer.from(await readBody(c, MAX_BODY));
    let recorded: { refund(): void } | undefined;
    let permit: Release;
    if (caller) {
      permit = deps.quotas.acquire(caller.tenant, caller.plan);
    } else {
      const client = clientOf(c);
      const anonymousClients = deps.anonymousClients;
      // The daily budget first: a caller past it is refused without spending a rate token.
      const unit = deps.anonymousDaily?.take(client);
      try {
        permit = takeAll([...(anonymousClients ? [() => anonymousClients.acquire(client, 'anonymous-client')] : []), () => deps.anonymous.acquire('anonymous', 'anonymous')]);
      } catch (err) {
        unit?.refund(); // refused: nothing is recorded, nothing is counted
        throw err;
      }
      recorded = unit;
    }
    let granted = false;
    try {
      const res = await deps.tsa.respond(query, 'api');
      granted = res.status === 'granted';
      if (!granted) deps.logger.info({ failInfo: res.failInfo }, 'timestamp query rejected');
      return c.body(new Uint8Array(res.der), 200, { 'content-type': TIMESTAMP_REPLY, 'cache-control': 'no-store' });
    } finally {
      permit.release();
      // Only recorded timestamps count against the daily budget.
      if (!granted) recorded?.refund();
    }
  });
  return app;
}
