/**
 * Key sources for verifying OpToks and PoEs: a JWKS given inline (JSON text or object), read from
 * a file, or fetched from an http(s) URL.
 *
 * Only Ed25519 (`kty: OKP, crv: Ed25519`, JWS alg EdDSA) and P-256 (`kty: EC, crv: P-256`, JWS alg
 * ES256) public keys are kept; every other member of a set (RSA, HMAC secrets, other curves,
 * encryption keys, malformed keys) is ignored. Kept keys are reduced to their public members, so a
 * set that carelessly includes a private `d` never yields a private key.
 *
 * - inline: parsed once, at creation (ConfigError on bad JSON).
 * - file:   read on first use (or `load()`), re-read when a token names an unknown `kid`, at most
 *           once every `reloadCooldownSeconds`; a re-read that fails keeps the keys already loaded.
 * - remote: jose `createRemoteJWKSet` with a request timeout, a cooldown between refetches on
 *           unknown `kid`, and a cache max age; the response is filtered the same way (and capped
 *           at 1 MiB) before jose sees it.
 *
 * A source that cannot produce keys at all (file unreadable on first use, IdP unreachable) makes
 * `getKey` throw LedgerError('not_ready', …, { reason: 'key_source_unavailable' }) — a 503, since
 * that is not the caller's fault. An unknown `kid` is jose's JWKSNoMatchingKey, which the
 * authenticator turns into a 401.
 */
import { readFile as fsReadFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWK,
  type JWSHeaderParameters,
  type KeyObject,
} from 'jose';
import { ConfigError, LedgerError } from '../../../errors.ts';
import { isObject } from '../../../json.ts';
import { readLimited } from '../../../util/read-limited.ts';

/** The JWS algorithms this ledger accepts, for OpToks and PoEs alike. */
export const ALLOWED_JWS_ALGORITHMS = ['EdDSA', 'ES256'] as const;

export type KeySourceKind = 'inline' | 'file' | 'remote';

/** A jose-compatible key resolver (pass it as jwtVerify's key argument). */
export type KeyResolver = (protectedHeader: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

export interface KeySource {
  readonly kind: KeySourceKind;
  /** Where the keys come from, safe to log: a file path, a URL without query or credentials, or "inline JWKS". */
  readonly description: string;
  /** Resolves the verification key for a token's protected header (kid, alg). */
  readonly getKey: KeyResolver;
  /**
   * Loads the keys now. inline/file: throws ConfigError (one line) when the JWKS is unreadable,
   * not a JWKS, or holds no usable key. remote: fetches once and throws
   * LedgerError('not_ready', { reason: 'key_source_unavailable' }) when unreachable — at start-up a
   * caller may log that and go on, since the IdP may come up later.
   */
  load(): Promise<void>;
  /** The usable public keys currently loaded (filtered), or undefined when nothing is loaded yet. */
  jwks(): JSONWebKeySet | undefined;
}

export interface KeySourceOptions {
  /** Names the setting in error messages, e.g. "SIGLEDGER_JWKS". Default "JWKS". */
  readonly label?: string;
  /** file: minimum seconds between re-reads triggered by an unknown kid. Default 30. */
  readonly reloadCooldownSeconds?: number;
  /** remote: HTTP timeout in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** remote: minimum ms between refetches triggered by an unknown kid. Default 30000. */
  readonly cooldownMs?: number;
  /** remote: keys are refetched when older than this (ms). Default 600000. */
  readonly cacheMaxAgeMs?: number;
  /** file: injectable reader (tests). Default fs.promises.readFile(path, 'utf8'). */
  readonly readFile?: (path: string) => Promise<string>;
  /** remote: injectable fetch (tests). Default globalThis.fetch. */
  readonly fetch?: typeof fetch;
  /** Clock in ms for the file re-read cooldown. Default Date.now. */
  readonly now?: () => number;
}

const MAX_JWKS_BYTES = 1024 * 1024;
const MAX_KEYS = 100;
const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/**
 * Builds a key source from a configuration value: an object or a string starting with `{` is an
 * inline JWKS, a string starting with http:// or https:// a URL, anything else a file path.
 * Throws ConfigError (one line) for an unusable value (bad inline JSON, URL with credentials …).
 */
export function createKeySource(spec: string | JSONWebKeySet, opts: KeySourceOptions = {}): KeySource {
  const label = opts.label ?? 'JWKS';
  if (typeof spec !== 'string') return keySourceFromJwks(spec, opts);
  const trimmed = spec.trim();
  if (trimmed === '') throw new ConfigError(`${label} is empty: give a JWKS file path, an https:// URL or inline JSON`);
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new ConfigError(`${label} starts with "{" but is not valid JSON`);
    }
    return keySourceFromJwks(parsed, opts);
  }
  if (/^https?:\/\//i.test(trimmed)) return keySourceFromUrl(trimmed, opts);
  return keySourceFromFile(trimmed, opts);
}

/** A key source over a JWKS held in memory. Throws ConfigError when it holds no usable key. */
export function keySourceFromJwks(jwks: unknown, opts: KeySourceOptions = {}): KeySource {
  const label = opts.label ?? 'JWKS';
  const set = filterJwks(jwks, label);
  if (set.keys.length === 0) throw new ConfigError(`${label} has no Ed25519 (EdDSA) or P-256 (ES256) public key`);
  const local = createLocalJWKSet(set);
  return {
    kind: 'inline',
    description: 'inline JWKS',
    getKey: async (header, token) => checkKeyType(await local(header, token)),
    load: async () => {},
    jwks: () => structuredClone(set),
  };
}

/** A key source over a JWKS file, read on first use and re-read (rate-limited) on an unknown kid. */
export function keySourceFromFile(path: string, opts: KeySourceOptions = {}): KeySource {
  const label = opts.label ?? 'JWKS';
  const read = opts.readFile ?? ((p: string) => fsReadFile(p, 'utf8'));
  const now = opts.now ?? Date.now;
  const cooldownMs = seconds(opts.reloadCooldownSeconds ?? 30, `${label} reload cooldown`) * 1000;

  let set: JSONWebKeySet | undefined;
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let lastAttempt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;

  const readOnce = async (): Promise<void> => {
    lastAttempt = now();
    let text: string;
    try {
      text = await read(path);
    } catch (e) {
      throw new ConfigError(`${label}: cannot read JWKS file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    if (Buffer.byteLength(text) > MAX_JWKS_BYTES) throw new ConfigError(`${label}: JWKS file ${path} is larger than 1 MiB`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(`${label}: JWKS file ${path} is not valid JSON`);
    }
    const next = filterJwks(parsed, `${label} (${path})`);
    set = next;
    local = createLocalJWKSet(next);
  };
  const reload = (): Promise<void> => {
    pending ??= readOnce().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  const coolingDown = () => now() - lastAttempt < cooldownMs;

  return {
    kind: 'file',
    description: path,
    load: async () => {
      await reload();
      if (set && set.keys.length === 0) throw new ConfigError(`${label}: JWKS file ${path} has no Ed25519 (EdDSA) or P-256 (ES256) public key`);
    },
    jwks: () => (set ? structuredClone(set) : undefined),
    getKey: async (header, token) => {
      if (!local) {
        if (pending || !coolingDown()) {
          try {
            await reload();
          } catch (e) {
            throw unavailable(`${label}: JWKS file unavailable`, e);
          }
        }
        if (!local) throw unavailable(`${label}: JWKS file unavailable`);
      }
      try {
        return checkKeyType(await local(header, token));
      } catch (e) {
        if (!(e instanceof errors.JWKSNoMatchingKey) || coolingDown()) throw e;
        try {
          await reload();
        } catch {
          // A broken file during a re-read keeps the keys already loaded.
          throw e;
        }
        return checkKeyType(await local(header, token));
      }
    },
  };
}

/** A key source over a JWKS URL (jose createRemoteJWKSet with timeout, cooldown and max age). */
export function keySourceFromUrl(url: string, opts: KeySourceOptions = {}): KeySource {
  const label = opts.label ?? 'JWKS';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${label} is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(`${label} URL must be http:// or https://`);
  if (parsed.username || parsed.password) throw new ConfigError(`${label} URL must not carry credentials`);
  const timeoutMs = intIn(opts.timeoutMs ?? 5000, 1, 60_000, `${label} timeout (ms)`);
  const cooldownMs = intIn(opts.cooldownMs ?? 30_000, 0, 86_400_000, `${label} cooldown (ms)`);
  const cacheMaxAgeMs = intIn(opts.cacheMaxAgeMs ?? 600_000, 0, 86_400_000, `${label} cache max age (ms)`);
  const doFetch = opts.fetch ?? globalThis.fetch;
  let last: JSONWebKeySet | undefined;

  const remote = createRemoteJWKSet(parsed, {
    timeoutDuration: timeoutMs,
    cooldownDuration: cooldownMs,
    cacheMaxAge: cacheMaxAgeMs,
    [customFetch]: async (href, init) => {
      const res = await doFetch(href, init);
      if (res.status !== 200) return res;
      const text = await readCapped(res, MAX_JWKS_BYTES);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return new Response(text, { status: 200 }); // jose reports the parse failure
      }
      const filtered = filterJwks(body, label, /* lenient */ true);
      last = filtered;
      return new Response(JSON.stringify(filtered), { status: 200, headers: { 'content-type': 'application/json' } });
    },
  });
  const description = `${parsed.origin}${parsed.pathname}`;

  return {
    kind: 'remote',
    description,
    jwks: () => (last ? structuredClone(last) : undefined),
    load: async () => {
      try {
        await remote.reload();
      } catch (e) {
        throw unavailable(`${label}: JWKS at ${description} unavailable`, e);
      }
    },
    getKey: async (header, token) => {
      try {
        return checkKeyType(await remote(header, token));
      } catch (e) {
        if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys || e instanceof LedgerError) throw e;
        throw unavailable(`${label}: JWKS at ${description} unavailable`, e);
      }
    },
  };
}

/**
 * Keeps the usable members of a JWKS, reduced to public members:
 * OKP/Ed25519 `{kty, crv, x, kid?}` and EC/P-256 `{kty, crv, x, y, kid?}`, with `use` absent or
 * "sig", `alg` absent or matching, `key_ops` absent or including "verify". Throws ConfigError when
 * the value is not a JWKS at all (unless lenient, which yields an empty set).
 */
export function filterJwks(value: unknown, label = 'JWKS', lenient = false): JSONWebKeySet {
  if (!isObject(value) || !Array.isArray(value.keys)) {
    if (lenient) return { keys: [] };
    throw new ConfigError(`${label} is not a JWKS (an object with a "keys" array)`);
  }
  const keys: JWK[] = [];
  for (const k of value.keys as unknown[]) {
    if (keys.length >= MAX_KEYS) break;
    const jwk = usablePublicJwk(k);
    if (jwk) keys.push(jwk);
  }
  return { keys };
}

function usablePublicJwk(j: unknown): JWK | undefined {
  if (!isObject(j)) return undefined;
  if (j.use !== undefined && j.use !== 'sig') return undefined;
  if (j.key_ops !== undefined && !(Array.isArray(j.key_ops) && j.key_ops.includes('verify'))) return undefined;
  if (j.kid !== undefined && (typeof j.kid !== 'string' || j.kid.length === 0 || j.kid.length > 256)) return undefined;
  const kid = j.kid === undefined ? {} : { kid: j.kid as string };
  if (j.kty === 'OKP' && j.crv === 'Ed25519') {
    if (j.alg !== undefined && j.alg !== 'EdDSA' && j.alg !== 'Ed25519') return undefined;
    if (typeof j.x !== 'string' || !B64URL_32.test(j.x)) return undefined;
    return { kty: 'OKP', crv: 'Ed25519', x: j.x, ...kid };
  }
  if (j.kty === 'EC' && j.crv === 'P-256') {
    if (j.alg !== undefined && j.alg !== 'ES256') return undefined;
    if (typeof j.x !== 'string' || !B64URL_32.test(j.x) || typeof j.y !== 'string' || !B64URL_32.test(j.y)) return undefined;
    return { kty: 'EC', crv: 'P-256', x: j.x, y: j.y, ...kid };
  }
  return undefined;
}

/** Defence in depth: whatever resolved, only an Ed25519 or P-256 public key is used. */
function checkKeyType(key: CryptoKey | KeyObject): CryptoKey {
  const k = key as { type?: string; algorithm?: { name?: string; namedCurve?: string } };
  const alg = k.algorithm;
  const ok = k.type === 'public' && alg !== undefined && (alg.name === 'Ed25519' || (alg.name === 'ECDSA' && alg.namedCurve === 'P-256'));
  if (!ok) throw new errors.JWKSNoMatchingKey('resolved key is not an Ed25519 or P-256 public key');
  return key as CryptoKey;
}

function unavailable(message: string, cause?: unknown): LedgerError {
  return new LedgerError('not_ready', message, { reason: 'key_source_unavailable' }, { cause });
}

async function readCapped(res: Response, cap: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > cap) throw new errors.JOSEError('JSON Web Key Set HTTP response is too large');
  const bytes = await readLimited(res.body, cap, () => new errors.JOSEError('JSON Web Key Set HTTP response is too large'));
  return Buffer.from(bytes).toString('utf8');
}

function seconds(v: number, what: string): number {
  if (!Number.isFinite(v) || v < 0 || v > 86_400) throw new ConfigError(`${what} must be 0..86400 seconds`);
  return v;
}

function intIn(v: number, min: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${what} must be an integer from ${min} to ${max}`);
  return v;
}
