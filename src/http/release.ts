/**
 * `GET /api/v1/signer/verify/referrers?repository=HOST[:PORT]/NAME&digest=sha256:<hex>` (SPEC §2):
 * the release-integrity verdict of an image digest from the Sigstore bundles that refer to it in
 * its registry (see src/app/release/release-service.ts).
 *
 * The route makes the service contact a registry the caller names, so it is not anonymous: an
 * OpTok with scope `signer.verify` or `signer.sign` and a PoE, and the caller's plan quotas
 * (QPS and concurrency). Parameters are parsed strictly: exactly `repository` and `digest`, each
 * once. An untrusted digest is still a 200 (the verdict is the answer); a registry that cannot be
 * reached is 503 `registry_unavailable`, one that answers wrongly 502 `registry_error`.
 */
import { Hono } from 'hono';
import type { ReleaseService } from '../app/release/release-service.ts';
import { LedgerError } from '../errors.ts';
import { authenticateAnyScope } from './authorize.ts';
import { SIGN_SCOPE, type CallerAuthenticator, type QuotaGate } from './signer.ts';

export const VERIFY_SCOPE = 'signer.verify';
const PARAMETERS = ['repository', 'digest'] as const;
const MAX_PARAMETER = 512;

export interface ReleaseRouteDeps {
  readonly release: ReleaseService;
  readonly auth: CallerAuthenticator;
  readonly quotas: QuotaGate;
}

function parseQuery(url: string): Record<(typeof PARAMETERS)[number], string> {
  const params = new URL(url).searchParams;
  const out: Partial<Record<(typeof PARAMETERS)[number], string>> = {};
  for (const [name, value] of params) {
    if (!(PARAMETERS as readonly string[]).includes(name)) throw new LedgerError('bad_request', `unknown query parameter "${name.slice(0, 40)}" (expected repository and digest)`, { reason: 'unknown_parameter' });
    const key = name as (typeof PARAMETERS)[number];
    if (out[key] !== undefined) throw new LedgerError('bad_request', `query parameter "${key}" is repeated`, { reason: 'repeated_parameter', parameter: key });
    if (value.length === 0 || value.length > MAX_PARAMETER) throw new LedgerError('bad_request', `query parameter "${key}" must be 1 to ${MAX_PARAMETER} characters`, { reason: 'invalid_parameter', parameter: key });
    out[key] = value;
  }
  for (const name of PARAMETERS) {
    if (out[name] === undefined) throw new LedgerError('bad_request', `query parameter "${name}" is required`, { reason: 'missing_parameter', parameter: name });
  }
  return out as Record<(typeof PARAMETERS)[number], string>;
}

export function releaseRoutes(deps: ReleaseRouteDeps): Hono {
  const app = new Hono();
  app.get('/api/v1/signer/verify/referrers', async (c) => {
    const caller = await authenticateAnyScope(deps.auth, c, [VERIFY_SCOPE, SIGN_SCOPE]);
    const permit = deps.quotas.acquire(caller.tenant, caller.plan);
    try {
      const { repository, digest } = parseQuery(c.req.url);
      const verdict = await deps.release.verifyReferrers(repository, digest);
      return c.json(verdict, 200, { 'cache-control': 'no-store' });
    } finally {
      permit.release();
    }
  });
  return app;
}
