/**
 * `POST /api/v1/timestamp` — RFC 3161 over HTTP (`application/timestamp-query` →
 * `application/timestamp-reply`). A malformed or unsupported query gets a TimeStampResp with
 * status rejection and its failure info (and appends nothing); a granted one is recorded as an
 * event before it is returned. Callers with an OpTok + PoE use their plan's quotas; anonymous
 * callers share one small token bucket, so nobody can make the ledger grow quickly.
 */
import { Hono } from 'hono';
import type { Logger } from '../app/common/logger.ts';
import type { TsaService } from '../app/timestamping/tsa-service.ts';
import { LedgerError } from '../errors.ts';
import { readBody } from './body.ts';
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
  readonly logger: Logger;
}

export function timestampRoutes(deps: TimestampRouteDeps): Hono {
  const app = new Hono();
  app.post('/api/v1/timestamp', async (c) => {
    const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== TIMESTAMP_QUERY) throw new LedgerError('unsupported_media_type', `the request body must be ${TIMESTAMP_QUERY}`, { reason: 'not_timestamp_query' });
    const authorization = c.req.header('authorization');
    let permit: { release(): void };
    if (authorization !== undefined) {
      const caller = await deps.auth.authenticate({ authorization, poe: c.req.header('x-proof-of-entitlement'), requiredScope: SIGN_SCOPE });
      permit = deps.quotas.acquire(caller.tenant, caller.plan);
    } else {
      permit = deps.anonymous.acquire('anonymous', 'anonymous');
    }
    try {
      const query = Buffer.from(await readBody(c, MAX_BODY));
      const res = await deps.tsa.respond(query, 'api');
      if (res.status !== 'granted') deps.logger.info({ failInfo: res.failInfo }, 'timestamp query rejected');
      return c.body(new Uint8Array(res.der), 200, { 'content-type': TIMESTAMP_REPLY, 'cache-control': 'no-store' });
    } finally {
      permit.release();
    }
  });
  return app;
}
