/**
 * Configuration: flags, else environment `SIGLEDGER_*`, else defaults (SPEC §1). Everything is
 * validated here; an invalid value throws ConfigError with one clear line, which the CLI prints
 * before exiting 2.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compileRotationCron } from './app/ceremonies/rotation-cron.ts';
import type { LogLevel } from './app/common/logger.ts';
import { CEREMONY_ACTION_TYPES, type CeremonyActionType } from './domain/ceremony.ts';
import { parseLimits, type LimitsConfig } from './config-limits.ts';
import { ConfigError, isLedgerError } from './errors.ts';
import { isObject } from './json.ts';
import type { OciCredentials } from './oci/client.ts';
import { parseRegistryHost } from './oci/reference.ts';

export type StoreKind = 'sqlite' | 'esdb';
export type AuthMode = 'dev' | 'jwks';
export type KeyStoreKind = 'file' | 'pkcs11';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly store: StoreKind;
  readonly esdbUrl: string | undefined;
  readonly logLevel: LogLevel;
  /** How long a graceful shutdown waits for in-flight requests before closing connections (ms). */
  readonly shutdownTimeoutMs: number;
  /** `dev` (default without a JWKS): local issuer and approvers in DATA_DIR/dev. `jwks`: production. */
  readonly authMode: AuthMode;
  readonly auth: {
    /** OpTok verification keys: JWKS file path, inline JSON or http(s) URL (jwks mode). */
    readonly jwks: string | undefined;
    readonly issuer: string | undefined;
    /** PoE (entitlement) verification keys and issuer (jwks mode). */
    readonly poeJwks: string | undefined;
    readonly poeIssuer: string | undefined;
    /** Longest OpTok/PoE lifetime accepted, seconds (SIGLEDGER_MAX_TOKEN_LIFETIME, default 86400). */
    readonly maxTokenLifetimeSeconds: number;
  };
  readonly keyStore: KeyStoreKind;
  /** Raw SIGLEDGER_KEK (validated by the file key store; never logged). */
  readonly kek: string | undefined;
  readonly pkcs11: { readonly module: string | undefined; readonly tokenLabel: string | undefined; readonly pin: string | undefined };
  /** Raw SIGLEDGER_PLANS (a JSON file path or inline JSON), parsed at start-up. */
  readonly plans: string | undefined;
  /** C2SP checkpoint origin (SIGLEDGER_LOG_ORIGIN); fixed once the log exists. */
  readonly logOrigin: string;
  /** Minimum time between two checkpoints (SIGLEDGER_CHECKPOINT_INTERVAL_MS, default 1000). */
  readonly checkpointIntervalMs: number;
  /** Timestamps per second for callers without a token, all together (SIGLEDGER_TSA_ANONYMOUS_QPS, default 20). */
  readonly tsaAnonymousQps: number;
  /** Cron pattern (UTC) of scheduled key rotations (SIGLEDGER_ROTATION_CRON, default `0 0 1 * *`); null when `off`. */
  readonly rotationCron: string | null;
  /** Approval thresholds by ceremony action type (SIGLEDGER_CEREMONY_THRESHOLDS); absent types use DEFAULT_THRESHOLDS. */
  readonly ceremonyThresholds: Readonly<Partial<Record<CeremonyActionType, number>>>;
  /** How long a ceremony stays open for approvals, in seconds (SIGLEDGER_CEREMONY_TTL, default 7 days). */
  readonly ceremonyTtlSeconds: number;
  /** Paths of the approvers' PEM Ed25519 public keys (SIGLEDGER_APPROVERS, comma-separated); read at start-up. */
  readonly approvers: readonly string[];
  /** Bundles a rotation re-signs concurrently per batch (SIGLEDGER_RESIGN_BATCH, default 64). */
  readonly resignBatchSize: number;
  /** Pause between re-signing batches, to leave room for live signing (SIGLEDGER_RESIGN_PAUSE_MS, default 0). */
  readonly resignPauseMs: number;
  /** Release integrity through OCI referrers (verify/referrers route and signing gate). */
  readonly release: ReleaseConfig;
  /** Connection deadlines and growth limits (src/config-limits.ts). */
  readonly limits: LimitsConfig;
}

export interface ReleaseConfig {
  /** SIGLEDGER_RELEASE_VERIFY: `required` refuses signing unless the caller's scanner image has a trusted bundle. Default `off`. */
  readonly verify: 'off' | 'required';
  /** How long a verdict is reused, in seconds (SIGLEDGER_RELEASE_CACHE_SECONDS, default 300; verdicts other than a trusted release at most 30). */
  readonly cacheSeconds: number;
  /** Registries spoken to over plain HTTP besides loopback ones (SIGLEDGER_INSECURE_REGISTRIES, `host[:port]`, comma-separated). */
  readonly insecureRegistries: readonly string[];
  /** The only registries the service may contact (SIGLEDGER_REGISTRIES, comma-separated); null: any whose every address is public. Listed hosts skip the address check (src/oci/address-policy.ts). */
  readonly allowedRegistries: readonly string[] | null;
  /** Time bound of one registry operation (SIGLEDGER_REGISTRY_TIMEOUT_MS, default 10000). */
  readonly registryTimeoutMs: number;
  /** Raw SIGLEDGER_REGISTRY_CREDENTIALS (JSON file path or inline JSON `{"host[:port]":{"username","password"}}`); never logged. */
  readonly registryCredentials: string | undefined;
}

/** Flag values as parsed from the command line (undefined when not given). */
export type Flags = Partial<Record<'port' | 'host' | 'data' | 'store', string | undefined>>;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  dataDir: './data',
  store: 'sqlite' as StoreKind,
  logLevel: 'info' as LogLevel,
  shutdownTimeoutMs: 10_000,
  rotationCron: '0 0 1 * *',
  ceremonyTtlSeconds: 7 * 24 * 3600,
};

export const CEREMONY_TTL_MIN_SECONDS = 60;
export const CEREMONY_TTL_MAX_SECONDS = 90 * 24 * 3600;

function pick(flag: string | undefined, env: string | undefined): string | undefined {
  if (flag !== undefined) return flag;
  if (env !== undefined && env !== '') return env;
  return undefined;
}

function parseIntStrict(raw: string, name: string, min: number, max: number): number {
  if (!/^\d{1,10}$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${truncate(raw)}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${truncate(raw)}"`);
  return n;
}

const truncate = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

function parseRotationCron(raw: string | undefined): string | null {
  const pattern = (raw ?? DEFAULTS.rotationCron).trim();
  if (pattern.toLowerCase() === 'off') return null;
  try {
    compileRotationCron(pattern);
  } catch (err) {
    const why = isLedgerError(err) && typeof err.details?.['why'] === 'string' ? err.details['why'] : String((err as Error)?.message ?? err);
    throw new ConfigError(`SIGLEDGER_ROTATION_CRON must be a cron pattern (UTC) or "off", got "${truncate(oneLine(pattern))}": ${oneLine(why)}`);
  }
  return pattern;
}

function parseCeremonyThresholds(raw: string | undefined): Readonly<Partial<Record<CeremonyActionType, number>>> {
  const name = 'SIGLEDGER_CEREMONY_THRESHOLDS';
  if (raw === undefined || raw.trim() === '') return Object.freeze({});
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`${name} must be inline JSON like {"rotate-key":2}, got "${truncate(oneLine(raw))}"`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${name} must be a JSON object mapping action type to threshold, like {"rotate-key":2}`);
  const out: Partial<Record<CeremonyActionType, number>> = {};
  for (const [type, value] of Object.entries(parsed)) {
    if (!(CEREMONY_ACTION_TYPES as readonly string[]).includes(type)) throw new ConfigError(`${name}: unknown action type "${truncate(type)}" (expected ${CEREMONY_ACTION_TYPES.join(', ')})`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new ConfigError(`${name}: threshold of "${type}" must be a non-negative integer, got ${truncate(oneLine(JSON.stringify(value) ?? String(value)))}`);
    out[type as CeremonyActionType] = value;
  }
  return Object.freeze(out);
}

function parseRegistryList(raw: string | undefined, name: string): string[] | null {
  if (raw === undefined || raw.trim() === '') return null;
  const out: string[] = [];
  for (const item of raw.split(',')) {
    const host = item.trim().toLowerCase();
    try {
      parseRegistryHost(host);
    } catch {
      throw new ConfigError(`${name} must be a comma-separated list of registry hosts (host or host:port), got "${truncate(item.trim())}"`);
    }
    if (!out.includes(host)) out.push(host);
  }
  return out;
}

function parseRelease(env: NodeJS.ProcessEnv): ReleaseConfig {
  const verifyRaw = (env.SIGLEDGER_RELEASE_VERIFY || 'off').trim();
  if (verifyRaw !== 'off' && verifyRaw !== 'required') throw new ConfigError(`SIGLEDGER_RELEASE_VERIFY must be "off" or "required", got "${truncate(verifyRaw)}"`);
  const cacheRaw = env.SIGLEDGER_RELEASE_CACHE_SECONDS;
  const timeoutRaw = env.SIGLEDGER_REGISTRY_TIMEOUT_MS;
  return Object.freeze({
    verify: verifyRaw,
    cacheSeconds: cacheRaw ? parseIntStrict(cacheRaw, 'SIGLEDGER_RELEASE_CACHE_SECONDS', 0, 86_400) : 300,
    insecureRegistries: Object.freeze(parseRegistryList(env.SIGLEDGER_INSECURE_REGISTRIES, 'SIGLEDGER_INSECURE_REGISTRIES') ?? []),
    allowedRegistries: (() => {
      const list = parseRegistryList(env.SIGLEDGER_REGISTRIES, 'SIGLEDGER_REGISTRIES');
      return list === null ? null : Object.freeze(list);
    })(),
    registryTimeoutMs: timeoutRaw ? parseIntStrict(timeoutRaw, 'SIGLEDGER_REGISTRY_TIMEOUT_MS', 100, 120_000) : 10_000,
    registryCredentials: env.SIGLEDGER_REGISTRY_CREDENTIALS || undefined,
  });
}

/**
 * SIGLEDGER_REGISTRY_CREDENTIALS (`release.registryCredentials`): inline JSON (starting with `{`
 * or `[`) or a JSON file path, mapping `host[:port]` to `{"username","password"}`; read at
 * start-up. Never logged; errors never quote a value.
 */
export function loadRegistryCredentials(raw: string | undefined): Map<string, OciCredentials> {
  const name = 'SIGLEDGER_REGISTRY_CREDENTIALS';
  const out = new Map<string, OciCredentials>();
  if (raw === undefined || raw.trim() === '') return out;
  let text = raw;
  if (!/^\s*[[{]/.test(raw)) {
    try {
      text = readFileSync(raw, 'utf8');
    } catch (err) {
      throw new ConfigError(`${name}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${name} is not JSON (expected {"host[:port]":{"username":"…","password":"…"}})`);
  }
  if (!isObject(parsed)) throw new ConfigError(`${name} must be a JSON object keyed by registry host`);
  for (const [host, value] of Object.entries(parsed)) {
    try {
      parseRegistryHost(host);
    } catch {
      throw new ConfigError(`${name}: "${host.slice(0, 60)}" is not a registry host[:port]`);
    }
    const { username, password } = isObject(value) ? value : {};
    if (typeof username !== 'string' || typeof password !== 'string' || username === '' || username.length > 256 || password.length > 4096) {
      throw new ConfigError(`${name}: the entry of "${host.slice(0, 60)}" must be {"username","password"} strings`);
    }
    out.set(host.toLowerCase(), { username, password });
  }
  return out;
}

function parseApprovers(raw: string | undefined): readonly string[] {
  if (raw === undefined || raw.trim() === '') return Object.freeze([]);
  const paths: string[] = [];
  for (const item of raw.split(',')) {
    const path = item.trim();
    if (path === '' || path.includes('\0')) throw new ConfigError(`SIGLEDGER_APPROVERS must be a comma-separated list of PEM public key files, got "${truncate(raw)}"`);
    const absolute = resolve(path);
    if (paths.includes(absolute)) throw new ConfigError(`SIGLEDGER_APPROVERS lists "${truncate(path)}" twice`);
    paths.push(absolute);
  }
  return Object.freeze(paths);
}

export function loadConfig(flags: Flags, env: NodeJS.ProcessEnv = process.env): Config {
  const portRaw = pick(flags.port, env.SIGLEDGER_PORT);
  const port = portRaw === undefined ? DEFAULTS.port : parseIntStrict(portRaw, '--port / SIGLEDGER_PORT', 0, 65535);

  const host = pick(flags.host, env.SIGLEDGER_HOST) ?? DEFAULTS.host;
  if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(host)) throw new ConfigError(`--host / SIGLEDGER_HOST is not a host name or address: "${truncate(host)}"`);

  const dataRaw = pick(flags.data, env.SIGLEDGER_DATA_DIR) ?? DEFAULTS.dataDir;
  if (dataRaw.trim() === '' || dataRaw.includes('\0')) throw new ConfigError('--data / SIGLEDGER_DATA_DIR must be a directory path');
  const dataDir = resolve(dataRaw);

  const storeRaw = pick(flags.store, env.SIGLEDGER_STORE) ?? DEFAULTS.store;
  if (storeRaw !== 'sqlite' && storeRaw !== 'esdb') throw new ConfigError(`--store / SIGLEDGER_STORE must be "sqlite" or "esdb", got "${truncate(storeRaw)}"`);
  const store: StoreKind = storeRaw;

  const esdbUrl = env.SIGLEDGER_ESDB_URL || undefined;
  if (store === 'esdb') {
    if (!esdbUrl) throw new ConfigError('--store esdb needs SIGLEDGER_ESDB_URL (for example esdb://localhost:2113?tls=false)');
    if (!/^(esdb|esdb\+discover|kurrentdb|kurrentdb\+discover|kdb|kdb\+discover):\/\/\S+$/.test(esdbUrl)) {
      throw new ConfigError('SIGLEDGER_ESDB_URL must be an esdb:// or esdb+discover:// connection string');
    }
  }

  const levelRaw = env.SIGLEDGER_LOG_LEVEL || DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(levelRaw as LogLevel)) throw new ConfigError(`SIGLEDGER_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const shutdownRaw = env.SIGLEDGER_SHUTDOWN_TIMEOUT_MS;
  const shutdownTimeoutMs = shutdownRaw ? parseIntStrict(shutdownRaw, 'SIGLEDGER_SHUTDOWN_TIMEOUT_MS', 0, 600_000) : DEFAULTS.shutdownTimeoutMs;

  const jwks = env.SIGLEDGER_JWKS || undefined;
  const authRaw = env.SIGLEDGER_AUTH_MODE || (jwks ? 'jwks' : 'dev');
  if (authRaw !== 'dev' && authRaw !== 'jwks') throw new ConfigError(`SIGLEDGER_AUTH_MODE must be "dev" or "jwks", got "${truncate(authRaw)}"`);
  const auth = {
    jwks,
    issuer: env.SIGLEDGER_ISSUER || undefined,
    poeJwks: env.SIGLEDGER_POE_JWKS || undefined,
    poeIssuer: env.SIGLEDGER_POE_ISSUER || undefined,
    maxTokenLifetimeSeconds: env.SIGLEDGER_MAX_TOKEN_LIFETIME ? parseIntStrict(env.SIGLEDGER_MAX_TOKEN_LIFETIME, 'SIGLEDGER_MAX_TOKEN_LIFETIME (seconds)', 60, 30 * 24 * 3600) : 24 * 3600,
  };
  if (authRaw === 'jwks') {
    const missing = (['SIGLEDGER_JWKS', 'SIGLEDGER_ISSUER', 'SIGLEDGER_POE_JWKS', 'SIGLEDGER_POE_ISSUER'] as const).filter((k) => !env[k]);
    if (missing.length > 0) throw new ConfigError(`SIGLEDGER_AUTH_MODE=jwks needs ${missing.join(', ')}`);
  }

  const keyStoreRaw = env.SIGLEDGER_KEY_STORE || 'file';
  if (keyStoreRaw !== 'file' && keyStoreRaw !== 'pkcs11') throw new ConfigError(`SIGLEDGER_KEY_STORE must be "file" or "pkcs11", got "${truncate(keyStoreRaw)}"`);
  const pkcs11 = {
    module: env.SIGLEDGER_PKCS11_MODULE || undefined,
    tokenLabel: env.SIGLEDGER_PKCS11_TOKEN_LABEL || undefined,
    pin: env.SIGLEDGER_PKCS11_PIN || undefined,
  };
  if (keyStoreRaw === 'pkcs11' && (!pkcs11.module || !pkcs11.pin)) {
    throw new ConfigError('SIGLEDGER_KEY_STORE=pkcs11 needs SIGLEDGER_PKCS11_MODULE (path to the .so) and SIGLEDGER_PKCS11_PIN');
  }

  const logOrigin = env.SIGLEDGER_LOG_ORIGIN || 'sigledger.local/log';
  // A checkpoint origin is one line of a signed note and the host part of the TrustedRoot baseUrl.
  if (!/^[A-Za-z0-9][A-Za-z0-9._~:/-]{0,254}$/.test(logOrigin) || logOrigin.includes('//')) {
    throw new ConfigError(`SIGLEDGER_LOG_ORIGIN must look like "example.com/log" (letters, digits, . _ ~ : / -), got "${truncate(logOrigin)}"`);
  }
  const intervalRaw = env.SIGLEDGER_CHECKPOINT_INTERVAL_MS;
  const checkpointIntervalMs = intervalRaw ? parseIntStrict(intervalRaw, 'SIGLEDGER_CHECKPOINT_INTERVAL_MS', 0, 60_000) : 1000;

  const anonRaw = env.SIGLEDGER_TSA_ANONYMOUS_QPS;
  const tsaAnonymousQps = anonRaw ? parseIntStrict(anonRaw, 'SIGLEDGER_TSA_ANONYMOUS_QPS', 1, 100_000) : 20;

  const rotationCron = parseRotationCron(env.SIGLEDGER_ROTATION_CRON || undefined);
  const ceremonyThresholds = parseCeremonyThresholds(env.SIGLEDGER_CEREMONY_THRESHOLDS);
  const ttlRaw = env.SIGLEDGER_CEREMONY_TTL;
  const ceremonyTtlSeconds = ttlRaw ? parseIntStrict(ttlRaw, 'SIGLEDGER_CEREMONY_TTL (seconds)', CEREMONY_TTL_MIN_SECONDS, CEREMONY_TTL_MAX_SECONDS) : DEFAULTS.ceremonyTtlSeconds;
  const approvers = parseApprovers(env.SIGLEDGER_APPROVERS);
  const batchRaw = env.SIGLEDGER_RESIGN_BATCH;
  const resignBatchSize = batchRaw ? parseIntStrict(batchRaw, 'SIGLEDGER_RESIGN_BATCH', 1, 4096) : 64;
  const pauseRaw = env.SIGLEDGER_RESIGN_PAUSE_MS;
  const resignPauseMs = pauseRaw ? parseIntStrict(pauseRaw, 'SIGLEDGER_RESIGN_PAUSE_MS', 0, 60_000) : 0;

  const release = parseRelease(env);
  const limits = parseLimits(env);

  return {
    release,
    limits,
    resignBatchSize,
    resignPauseMs,
    rotationCron,
    ceremonyThresholds,
    ceremonyTtlSeconds,
    approvers,
    tsaAnonymousQps,
    logOrigin,
    checkpointIntervalMs,
    port,
    host,
    dataDir,
    store,
    esdbUrl,
    logLevel: levelRaw as LogLevel,
    shutdownTimeoutMs,
    authMode: authRaw,
    auth,
    keyStore: keyStoreRaw,
    kek: env.SIGLEDGER_KEK || undefined,
    pkcs11,
    plans: env.SIGLEDGER_PLANS || undefined,
  };
}
