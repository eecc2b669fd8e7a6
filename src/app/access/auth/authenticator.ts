/**
 * Caller authentication: an OpTok (`Authorization: Bearer <jwt>`, from the identity provider) and
 * a PoE (`X-Proof-Of-Entitlement: <jwt>`, from the licensing issuer) become one Caller.
 *
 * Status split (SPEC §2): anything wrong with the OpTok — missing, malformed, too long, bad
 * signature, unknown kid, algorithm not allowed, wrong issuer/audience, expired, not yet valid,
 * bad subject, no `tenant`, a lifetime over the maximum — is 401 `unauthenticated`. A valid OpTok
 * without the required scope, or without a valid PoE bound to it, is 403 `forbidden`.
 *
 * Trust hardening (issue 16):
 * - One reading of a token: the header and claims segments of both tokens must each be one strict
 *   JSON text (crypto/strict-json.ts: UTF-8, no duplicate member names at any depth, nothing after
 *   the value), checked before the signature: a second `scope` or `alg` is `duplicate_key`, never
 *   "last one wins".
 * - Bounded lifetime: `exp - iat` at most `maxLifetimeSeconds` (default 24 h); a token without
 *   `iat` is accepted only while `exp - now` is within that bound (plus the clock skew), so no
 *   token is usable for longer than the bound whatever it claims.
 * - The OpTok must carry `tenant`; the tenant is never taken from the PoE alone.
 * - The PoE is bound to the OpTok, not only to `sub`: its `ath` claim is the base64url (no
 *   padding) SHA-256 of the OpTok's compact JWS, as RFC 9449 (DPoP) binds a proof to an access
 *   token; a PoE for another OpTok of the same subject is `poe_binding_mismatch`. Every error carries
 * `details.reason` (an AuthFailureReason) and never echoes a token. A key source that cannot
 * produce keys at all surfaces as 503 `not_ready` (reason `key_source_unavailable`).
 *
 * Verified (OpTok, PoE) pairs are cached by SHA-256 of the two strings in a bounded LRU until the
 * earlier of the two `exp`s; a hit re-checks that time and the required scope, so a hot token pair
 * costs a hash and a Map lookup. Only complete successes are cached.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { readStrictJson } from '../../../crypto/strict-json.ts';
import { isPlainText } from '../../../domain/plain-text.ts';
import { ConfigError, LedgerError } from '../../../errors.ts';
import { Lru } from '../../../util/lru.ts';
import { ALLOWED_JWS_ALGORITHMS, type KeySource } from './jwks.ts';

export interface Caller {
  /** OpTok `sub`. */
  readonly subject: string;
  /** The OpTok's `tenant` claim (required), equal to the PoE's. */
  readonly tenant: string;
  /** Plan name from the PoE; resolve it with quotas.planOf. */
  readonly plan: string;
  /** OpTok scopes (`scope` space-separated string and/or `scp` array). */
  readonly scopes: ReadonlySet<string>;
  /** Epoch ms at which the earlier of the OpTok and the PoE expires. */
  readonly expiresAt: number;
  /**
   * The OpTok's `scanner_image` claim (the caller's own image, `HOST[:PORT]/NAME@sha256:<hex>`),
   * as given: release gating parses it. Absent when the claim is absent or not a short string.
   */
  readonly scannerImage?: string;
}

/** OpTok claim naming the calling scanner's image, pinned by digest (release gating). */
export const SCANNER_IMAGE_CLAIM = 'scanner_image';
const MAX_SCANNER_IMAGE = 512;

export interface AuthenticateInput {
  /** The raw `Authorization` header value. */
  readonly authorization: string | undefined;
  /** The raw `X-Proof-Of-Entitlement` header value. */
  readonly poe: string | undefined;
  /** Scope the route requires, e.g. "signer.sign" or "ledger.admin". */
  readonly requiredScope: string;
}

export interface Authenticator {
  /** Resolves the caller, or throws LedgerError unauthenticated (401) / forbidden (403) / not_ready (503). */
  authenticate(input: AuthenticateInput): Promise<Caller>;
  /** Cache occupancy and hit counters (for metrics). */
  stats(): { readonly size: number; readonly hits: number; readonly misses: number };
}

export interface AuthenticatorOptions {
  readonly opTok: { readonly keys: KeySource; readonly issuer: string; readonly audience: string };
  /** `audience`, when given, must be among the PoE's `aud`; by default a PoE's `aud` is not checked. */
  readonly poe: { readonly keys: KeySource; readonly issuer: string; readonly audience?: string };
  /** Tolerance for exp/nbf/iat, seconds. Default 30, at most 300. */
  readonly clockSkewSeconds?: number;
  /** Maximum cached (OpTok, PoE) pairs. Default 10000; 0 disables the cache. */
  readonly cacheSize?: number;
  /** Clock, epoch ms. Default Date.now. */
  readonly now?: () => number;
  /** Longest accepted token lifetime (`exp - iat`, or `exp - now` without `iat`), seconds. Default 86400. */
  readonly maxLifetimeSeconds?: number;
}

/** Default and bounds of the maximum token lifetime (SIGLEDGER_MAX_TOKEN_LIFETIME). */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;
export const MAX_TOKEN_LIFETIME_BOUNDS = { min: 60, max: 30 * 24 * 3600 } as const;
/** PoE claim binding it to one OpTok: base64url(SHA-256(OpTok compact JWS)), as DPoP's `ath`. */
export const POE_BINDING_CLAIM = 'ath';

/** The `ath` value binding a PoE to `opTok` (the compact JWS, without "Bearer "). */
export const opTokBinding = (opTok: string): string => createHash('sha256').update(opTok, 'ascii').digest('base64url');

/** Reasons for a 401 (OpTok problems). */
export type OpTokFailureReason =
  | 'missing_token'
  | 'malformed_token'
  | 'token_too_large'
  | 'alg_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'bad_issuer'
  | 'bad_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_exp'
  | 'bad_subject'
  | 'invalid_claims'
  | 'duplicate_key'
  | 'lifetime_too_long'
  | 'missing_tenant';

/** Reasons for a 403 (authenticated but not allowed). */
export type ForbiddenReason =
  | 'missing_scope'
  | 'missing_poe'
  | 'poe_too_large'
  | 'poe_malformed'
  | 'poe_alg_not_allowed'
  | 'poe_unknown_key'
  | 'poe_bad_signature'
  | 'poe_bad_issuer'
  | 'poe_bad_audience'
  | 'poe_expired'
  | 'poe_not_yet_valid'
  | 'poe_missing_exp'
  | 'poe_invalid_claims'
  | 'poe_subject_mismatch'
  | 'poe_tenant_mismatch'
  | 'poe_duplicate_key'
  | 'poe_lifetime_too_long'
  | 'poe_unbound'
  | 'poe_binding_mismatch';

export type AuthFailureReason = OpTokFailureReason | ForbiddenReason | 'key_source_unavailable';

/** Maximum length of the Authorization and X-Proof-Of-Entitlement header values. */
export const MAX_TOKEN_HEADER_BYTES = 8 * 1024;
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PLAN_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SUBJECT_PATTERN = /^[^\u0000-\u001f\u007f]{1,256}$/;
const SCOPE_PATTERN = /^[\u0021-\u007e]{1,128}$/;
const MAX_SCOPES = 128;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const BEARER = /^Bearer ([^\s]+)$/i;
const MAX_MULTI_KEY_TRIES = 8;
/** Least recently used cache entries looked at for an expired one when the cache is full. */
const EVICTION_SCAN = 8;

type VerifyFailure =
  | 'malformed'
  | 'alg_not_allowed'
  | 'unknown_key'
  | 'bad_signature'
  | 'bad_issuer'
  | 'bad_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_exp'
  | 'invalid_claims'
  | 'duplicate_key'
  | 'lifetime_too_long';

const OPTOK_REASON: Record<VerifyFailure, OpTokFailureReason> = {
  malformed: 'malformed_token',
  alg_not_allowed: 'alg_not_allowed',
  unknown_key: 'unknown_key',
  bad_signature: 'bad_signature',
  bad_issuer: 'bad_issuer',
  bad_audience: 'bad_audience',
  expired: 'expired',
  not_yet_valid: 'not_yet_valid',
  missing_exp: 'missing_exp',
  invalid_claims: 'invalid_claims',
  duplicate_key: 'duplicate_key',
  lifetime_too_long: 'lifetime_too_long',
};

const POE_REASON: Record<VerifyFailure, ForbiddenReason> = {
  malformed: 'poe_malformed',
  alg_not_allowed: 'poe_alg_not_allowed',
  unknown_key: 'poe_unknown_key',
  bad_signature: 'poe_bad_signature',
  bad_issuer: 'poe_bad_issuer',
  bad_audience: 'poe_bad_audience',
  expired: 'poe_expired',
  not_yet_valid: 'poe_not_yet_valid',
  missing_exp: 'poe_missing_exp',
  invalid_claims: 'poe_invalid_claims',
  duplicate_key: 'poe_duplicate_key',
  lifetime_too_long: 'poe_lifetime_too_long',
};

const MESSAGES: Record<AuthFailureReason, string> = {
  missing_token: 'missing bearer token',
  malformed_token: 'malformed bearer token',
  token_too_large: 'bearer token too large',
  alg_not_allowed: 'token algorithm not allowed',
  // The usual cause in dev mode: a token minted against another data directory's dev issuer.
  unknown_key: 'token signed by an unknown key: was it made with `sigledger token --data DIR` for another data directory, or by another issuer?',
  bad_signature: 'token signature does not verify',
  bad_issuer: 'token issuer not accepted',
  bad_audience: 'token audience not accepted',
  expired: 'token expired',
  not_yet_valid: 'token not yet valid',
  missing_exp: 'token has no expiry',
  bad_subject: 'token subject missing or invalid',
  invalid_claims: 'token claims invalid',
  duplicate_key: 'token header or claims repeat a member name',
  lifetime_too_long: 'token lifetime exceeds the maximum the service accepts',
  missing_tenant: 'token has no tenant claim',
  missing_scope: 'token lacks the required scope',
  missing_poe: 'missing proof of entitlement',
  poe_too_large: 'proof of entitlement too large',
  poe_malformed: 'malformed proof of entitlement',
  poe_alg_not_allowed: 'proof of entitlement algorithm not allowed',
  poe_unknown_key: 'proof of entitlement signed by an unknown key',
  poe_bad_signature: 'proof of entitlement signature does not verify',
  poe_bad_issuer: 'proof of entitlement issuer not accepted',
  poe_bad_audience: 'proof of entitlement audience not accepted',
  poe_expired: 'proof of entitlement expired',
  poe_not_yet_valid: 'proof of entitlement not yet valid',
  poe_missing_exp: 'proof of entitlement has no expiry',
  poe_invalid_claims: 'proof of entitlement claims invalid',
  poe_subject_mismatch: 'proof of entitlement is for another subject',
  poe_tenant_mismatch: 'proof of entitlement is for another tenant',
  poe_duplicate_key: 'proof of entitlement header or claims repeat a member name',
  poe_lifetime_too_long: 'proof of entitlement lifetime exceeds the maximum the service accepts',
  poe_unbound: 'proof of entitlement is not bound to the bearer token (no "ath" claim)',
  poe_binding_mismatch: 'proof of entitlement is bound to another bearer token',
  key_source_unavailable: 'token verification keys unavailable',
};

export function unauthenticated(reason: OpTokFailureReason): LedgerError {
  return new LedgerError('unauthenticated', MESSAGES[reason], { reason });
}

export function forbidden(reason: ForbiddenReason, extra?: Record<string, string>): LedgerError {
  return new LedgerError('forbidden', MESSAGES[reason], { reason, ...extra });
}

export function createAuthenticator(opts: AuthenticatorOptions): Authenticator {
  const skew = opts.clockSkewSeconds ?? 30;
  if (!Number.isInteger(skew) || skew < 0 || skew > 300) throw new ConfigError('clock skew must be an integer from 0 to 300 seconds');
  const cacheSize = opts.cacheSize ?? 10_000;
  if (!Number.isInteger(cacheSize) || cacheSize < 0 || cacheSize > 1_000_000) throw new ConfigError('auth cache size must be an integer from 0 to 1000000');
  for (const [what, v] of [['OpTok issuer', opts.opTok.issuer], ['OpTok audience', opts.opTok.audience], ['PoE issuer', opts.poe.issuer]] as const) {
    if (typeof v !== 'string' || v.length === 0) throw new ConfigError(`${what} must be a non-empty string`);
  }
  const now = opts.now ?? Date.now;
  const maxLifetime = opts.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (!Number.isInteger(maxLifetime) || maxLifetime < MAX_TOKEN_LIFETIME_BOUNDS.min || maxLifetime > MAX_TOKEN_LIFETIME_BOUNDS.max) {
    throw new ConfigError(`maximum token lifetime must be an integer from ${MAX_TOKEN_LIFETIME_BOUNDS.min} to ${MAX_TOKEN_LIFETIME_BOUNDS.max} seconds`);
  }
  const limits: TokenLimits = { skew, maxLifetime, now };

  // When full, an expired pair among the 8 least recently used goes first, else the least recently used.
  const cache = cacheSize > 0 ? new Lru<string, Caller>({ capacity: cacheSize, scan: EVICTION_SCAN, stale: (caller) => caller.expiresAt <= now() }) : undefined;
  let hits = 0;
  let misses = 0;

  const baseOptions = (): JWTVerifyOptions => ({
    algorithms: [...ALLOWED_JWS_ALGORITHMS],
    clockTolerance: skew,
    currentDate: new Date(now()),
    requiredClaims: ['exp'],
  });

  async function verifyOpTok(token: string): Promise<JWTPayload> {
    const options: JWTVerifyOptions = { ...baseOptions(), issuer: opts.opTok.issuer, audience: opts.opTok.audience };
    const r = await verifyJwt(token, opts.opTok.keys, options, limits);
    if (typeof r === 'string') throw unauthenticated(OPTOK_REASON[r]);
    return r;
  }

  async function verifyPoe(token: string): Promise<JWTPayload> {
    const options: JWTVerifyOptions = { ...baseOptions(), issuer: opts.poe.issuer, ...(opts.poe.audience !== undefined ? { audience: opts.poe.audience } : {}) };
    const r = await verifyJwt(token, opts.poe.keys, options, limits);
    if (typeof r === 'string') throw forbidden(POE_REASON[r]);
    return r;
  }

  return {
    stats: () => ({ size: cache?.size ?? 0, hits, misses }),

    async authenticate(input) {
      const opTok = bearerToken(input.authorization);
      const poe = input.poe;
      const poeUsable = poe !== undefined && poe.length > 0 && poe.length <= MAX_TOKEN_HEADER_BYTES && COMPACT_JWS.test(poe);

      let cacheKey: string | undefined;
      if (cache && poeUsable) {
        cacheKey = createHash('sha256').update(opTok).update('\n').update(poe).digest('base64url');
        const hit = cache.get(cacheKey);
        if (hit !== undefined) {
          if (now() < hit.expiresAt) {
            hits++;
            requireScope(hit, input.requiredScope);
            return hit;
          }
          cache.delete(cacheKey); // expired while cached: verify afresh (skew rules apply there)
        }
      }
      misses++;

      const op = await verifyOpTok(opTok);
      const subject = op.sub;
      // The subject is shown to people (ceremony actors, audit): plain text only.
      if (typeof subject !== 'string' || !SUBJECT_PATTERN.test(subject) || !isPlainText(subject)) throw unauthenticated('bad_subject');
      const scopes = scopesOf(op);
      if (scopes === undefined) throw unauthenticated('invalid_claims');
      const opTenant = (op as { tenant?: unknown }).tenant;
      if (opTenant !== undefined && (typeof opTenant !== 'string' || !TENANT_PATTERN.test(opTenant))) throw unauthenticated('invalid_claims');
      if (!scopes.has(input.requiredScope)) throw forbidden('missing_scope', { requiredScope: input.requiredScope });
      // The tenant is the OpTok's, never the PoE's alone.
      if (typeof opTenant !== 'string') throw unauthenticated('missing_tenant');

      if (poe === undefined || poe.length === 0) throw forbidden('missing_poe');
      if (poe.length > MAX_TOKEN_HEADER_BYTES) throw forbidden('poe_too_large');
      if (!poeUsable) throw forbidden('poe_malformed');
      const ent = await verifyPoe(poe);
      const { tenant, plan } = ent as { tenant?: unknown; plan?: unknown };
      if (typeof ent.sub !== 'string' || typeof tenant !== 'string' || !TENANT_PATTERN.test(tenant) || typeof plan !== 'string' || !PLAN_PATTERN.test(plan)) {
        throw forbidden('poe_invalid_claims');
      }
      if (ent.sub !== subject) throw forbidden('poe_subject_mismatch');
      const binding = (ent as Record<string, unknown>)[POE_BINDING_CLAIM];
      if (typeof binding !== 'string' || binding.length === 0) throw forbidden('poe_unbound');
      if (!sameText(binding, opTokBinding(opTok))) throw forbidden('poe_binding_mismatch');
      if (opTenant !== tenant) throw forbidden('poe_tenant_mismatch');

      // exp is required by both verifications, so both are numbers here.
      const expiresAt = Math.min(op.exp as number, ent.exp as number) * 1000;
      const image = (op as Record<string, unknown>)[SCANNER_IMAGE_CLAIM];
      const scannerImage = typeof image === 'string' && image.length > 0 && image.length <= MAX_SCANNER_IMAGE ? image : undefined;
      const caller: Caller = Object.freeze({ subject, tenant, plan, scopes, expiresAt, ...(scannerImage !== undefined ? { scannerImage } : {}) });
      if (cache && cacheKey !== undefined && now() < expiresAt) cache.set(cacheKey, caller);
      return caller;
    },
  };
}

function bearerToken(header: string | undefined): string {
  if (header === undefined || header.length === 0) throw unauthenticated('missing_token');
  if (header.length > MAX_TOKEN_HEADER_BYTES) throw unauthenticated('token_too_large');
  const m = BEARER.exec(header);
  const token = m?.[1];
  if (token === undefined || !COMPACT_JWS.test(token)) throw unauthenticated('malformed_token');
  return token;
}

function requireScope(caller: Caller, scope: string): void {
  if (!caller.scopes.has(scope)) throw forbidden('missing_scope', { requiredScope: scope });
}

/** Scopes from `scope` and/or `scp` (each a space-separated string or an array of strings); undefined when malformed. */
function scopesOf(payload: JWTPayload): Set<string> | undefined {
  const out = new Set<string>();
  for (const claim of ['scope', 'scp'] as const) {
    const v = payload[claim];
    if (v === undefined) continue;
    const items = typeof v === 'string' ? v.split(' ').filter((s) => s.length > 0) : Array.isArray(v) ? v : undefined;
    if (items === undefined) return undefined;
    for (const s of items) {
      if (typeof s !== 'string' || !SCOPE_PATTERN.test(s)) return undefined;
      out.add(s);
      if (out.size > MAX_SCOPES) return undefined;
    }
  }
  return out;
}

interface TokenLimits {
  readonly skew: number;
  readonly maxLifetime: number;
  readonly now: () => number;
}

/** Constant-time comparison of two short ASCII strings. */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Header and claims of a compact JWS read strictly (one UTF-8 JSON text each, no duplicate member
 * names at any depth): jose reads them with JSON.parse, where a second `scope` silently wins.
 */
function strictSegments(token: string): VerifyFailure | undefined {
  const [header, claims] = token.split('.');
  for (const segment of [header, claims]) {
    const r = readStrictJson(Buffer.from(segment ?? '', 'base64url'));
    if (!r.ok) return r.reason === 'duplicate_key' ? 'duplicate_key' : 'malformed';
  }
  return undefined;
}

/**
 * jwtVerify with the ledger's failure taxonomy. Returns the payload, or a VerifyFailure for any
 * problem with the token; rethrows LedgerError (key source unavailable) and non-JOSE errors.
 */
async function verifyJwt(token: string, keys: KeySource, options: JWTVerifyOptions, limits: TokenLimits): Promise<JWTPayload | VerifyFailure> {
  const { skew, maxLifetime, now } = limits;
  const strict = strictSegments(token);
  if (strict !== undefined) return strict;
  let payload: JWTPayload;
  try {
    payload = (await verifyAnyKey(token, keys, options)).payload;
  } catch (e) {
    return classify(e);
  }
  // jose checks iat only with maxTokenAge; a token issued in the future (beyond skew) is not yet valid.
  const nowSeconds = Math.floor(now() / 1000);
  if (payload.iat !== undefined && payload.iat > nowSeconds + skew) return 'not_yet_valid';
  // jose has checked that exp (required) and iat (when present) are numbers.
  const exp = payload.exp as number;
  if (payload.iat !== undefined ? exp - payload.iat > maxLifetime : exp - nowSeconds > maxLifetime + skew) return 'lifetime_too_long';
  return payload;
}

async function verifyAnyKey(token: string, keys: KeySource, options: JWTVerifyOptions): Promise<{ payload: JWTPayload }> {
  try {
    return await jwtVerify(token, keys.getKey, options);
  } catch (e) {
    // No kid and several keys of the right type: try each (bounded), as jose recommends.
    if (!(e instanceof errors.JWKSMultipleMatchingKeys)) throw e;
    let tries = 0;
    for await (const key of e as unknown as AsyncIterable<CryptoKey>) {
      if (++tries > MAX_MULTI_KEY_TRIES) break;
      try {
        return await jwtVerify(token, key, options);
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function classify(e: unknown): VerifyFailure {
  if (e instanceof LedgerError) throw e;
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return 'alg_not_allowed';
  if (e instanceof errors.JWKSNoMatchingKey) return 'unknown_key';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (e instanceof errors.JWTExpired) return 'expired';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'exp') return e.reason === 'missing' ? 'missing_exp' : 'invalid_claims';
    if (e.claim === 'nbf') return e.reason === 'check_failed' ? 'not_yet_valid' : 'invalid_claims';
    if (e.claim === 'iss') return 'bad_issuer';
    if (e.claim === 'aud') return 'bad_audience';
    return 'invalid_claims';
  }
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return 'malformed';
  if (e instanceof errors.JOSEError) return 'malformed';
  throw e;
}
