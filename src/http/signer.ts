/**
 * `POST /api/v1/signer/sign/dsse` (SPEC §2). Order of checks, cheapest and most telling first:
 * OpTok (401) → entitlement (403) → plan QPS and concurrency (429) → release integrity of the
 * caller's scanner when required (403 `release_untrusted`, 503/502 when its registry cannot tell)
 * → body size while streaming (413) → body shape (400/415) → sign. Every refusal is counted and logged, never appended.
 */
import { Hono } from 'hono';
import type { Logger } from '../app/common/logger.ts';
import type { Metrics } from '../app/common/metrics.ts';
import { idempotencyKeyHash, type SigningService } from '../app/signing/signing-service.ts';
import { parseSignRequest } from '../domain/sign-request.ts';
import { isLedgerError } from '../errors.ts';
import { readJsonBody } from './body.ts';

export interface Caller {
  readonly subject: string;
  readonly tenant: string;
  readonly plan: string;
  /** The OpTok's `scanner_image` claim (release gating). */
  readonly scannerImage?: string;
  readonly scopes?: ReadonlySet<string>;
}

/** Release gating (SIGLEDGER_RELEASE_VERIFY=required): refuses callers whose scanner is not a trusted release. */
export interface ReleaseGate {
  readonly required: boolean;
  requireTrustedRelease(caller: Caller): Promise<unknown>;
}

export interface CallerAuthenticator {
  authenticate(input: { authorization: string | undefined; poe: string | undefined; requiredScope: string }): Promise<Caller>;
}

export interface QuotaGate {
  acquire(tenant: string, plan: string): { release(): void };
  planOf(name: string): { readonly maxArtifactBytes: number };
}

export interface SignerRouteDeps {
  readonly signing: SigningService;
  readonly auth: CallerAuthenticator;
  readonly quotas: QuotaGate;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly release?: ReleaseGate;
}

export const SIGN_SCOPE = 'signer.sign';
/** JSON and base64 overhead allowed on top of the plan's artifact size. */
const bodyLimitFor = (maxArtifactBytes: number) => Math.ceil((maxArtifactBytes * 4) / 3) + 64 * 1024;

export function signerRoutes(deps: SignerRouteDeps): Hono {
  const app = new Hono();

  app.post('/api/v1/signer/sign/dsse', async (c) => {
    const started = performance.now();
    let caller: Caller | undefined;
    let permit: { release(): void } | undefined;
    try {
      caller = await deps.auth.authenticate({
        authorization: c.req.header('authorization'),
        poe: c.req.header('x-proof-of-entitlement'),
        requiredScope: SIGN_SCOPE,
      });
      permit = deps.quotas.acquire(caller.tenant, caller.plan);
      const plan = deps.quotas.planOf(caller.plan);
      if (deps.release?.required) await deps.release.requireTrustedRelease(caller);
      const idempotencyKey = idempotencyKeyHash(c.req.header('idempotency-key'));
      const body = await readJsonBody(c, bodyLimitFor(plan.maxArtifactBytes));
      const request = parseSignRequest(body, plan.maxArtifactBytes);
      const result = await deps.signing.sign(caller, request, idempotencyKey);
      deps.metrics.signDuration.observe({ result: result.created ? 'created' : 'existing', backend: result.signingIdentity.backend }, (performance.now() - started) / 1000);
      const { created, ...response } = result;
      return c.json(response, created ? 201 : 200, { location: `/api/v1/bundles/${result.bundleId}`, 'cache-control': 'no-store' });
    } catch (err) {
      if (isLedgerError(err) && err.code !== 'internal') {
        const reason = typeof err.details?.reason === 'string' ? `${err.code}:${err.details.reason}` : err.code;
        deps.metrics.signRefusals.inc({ reason: err.code });
        deps.logger.info({ code: err.code, reason, tenant: caller?.tenant, subject: caller?.subject }, 'signing refused');
      }
      throw err;
    } finally {
      permit?.release();
    }
  });

  return app;
}
