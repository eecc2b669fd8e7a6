/**
 * `POST /api/v1/signer/sign/dsse` (SPEC §2). Order of checks, cheapest and most telling first:
 * OpTok (401) → entitlement (403) → body size while streaming (413) and its deadline (408), read
 * before any slot is taken → plan QPS and concurrency (429) → release integrity of the caller's
 * scanner when required (403 `release_untrusted`, 503/502 when its registry cannot tell) → body shape (400/415: one strict JSON text, exact numbers)
 * → what may be signed (403 reserved, 400 not strict JSON: domain/sign-request.ts) → sign. Every refusal is counted and logged, never appended.
 */
import { Hono, type Context } from 'hono';
import type { Logger } from '../app/common/logger.ts';
import type { Metrics } from '../app/common/metrics.ts';
import { idempotencyKeyHash, type SigningService } from '../app/signing/signing-service.ts';
import { readStrictJsonText } from '../crypto/strict-json.ts';
import { parseSignRequest } from '../domain/sign-request.ts';
import { isLedgerError, LedgerError } from '../errors.ts';
import { readBody } from './body.ts';

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

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * `readJsonBody` (body.ts) with the same media type, size, UTF-8 and error mapping, read with the
 * strict reader in its exact-number mode: a statement is re-serialised as JCS before signing, so a
 * number JCS would write differently (`9007199254740993`, `1e400`) is refused here
 * (`invalid_statement`, reason `inexact_number`) rather than silently changed. Duplicate member
 * names at any depth are refused (`bad_request`, reason `malformed_json`, `json: duplicate_key`),
 * so `{"statement": A, "statement": B}` cannot be read as B here and as A elsewhere.
 */
async function readSignBody(c: Context, limit: number): Promise<unknown> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new LedgerError('unsupported_media_type', 'the request body must be application/json', { reason: 'not_json' });
  }
  const bytes = await readBody(c, limit);
  if (bytes.byteLength === 0) throw new LedgerError('bad_request', 'the request body is empty', { reason: 'empty_body' });
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new LedgerError('bad_request', 'the request body is not valid UTF-8', { reason: 'invalid_utf8' });
  }
  const result = readStrictJsonText(text, { exactNumbers: true });
  if (result.ok) return result.value;
  if (result.reason === 'inexact_number') {
    const field = (result.path ?? '').slice(0, 200);
    const code = field === 'statement' || field.startsWith('statement.') || field.startsWith('statement[') ? 'invalid_statement' : 'invalid_request';
    throw new LedgerError(code, `${result.message}: a statement is signed as JCS, which cannot carry this number exactly`, { reason: 'inexact_number', field });
  }
  throw new LedgerError('bad_request', `the request body is not valid JSON (${result.message})`, { reason: 'malformed_json', json: result.reason });
}

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
      const plan = deps.quotas.planOf(caller.plan);
      const idempotencyKey = idempotencyKeyHash(c.req.header('idempotency-key'));
      // The body is read (within the body deadline) before a concurrency slot is taken: a slow sender holds no slot.
      const body = await readSignBody(c, bodyLimitFor(plan.maxArtifactBytes));
      permit = deps.quotas.acquire(caller.tenant, caller.plan);
      if (deps.release?.required) await deps.release.requireTrustedRelease(caller);
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
