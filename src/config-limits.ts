/**
 * Connection deadlines and growth limits (`Config.limits`; README "Connections and growth",
 * docs/CONTRACT.md). Every value comes from an environment variable with a default; an invalid
 * one throws ConfigError with one clear line.
 */
import { ConfigError } from './errors.ts';

export interface LimitsConfig {
  /** Time to receive a request's headers (SIGLEDGER_HEADERS_TIMEOUT_MS, default 10000). */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole request (SIGLEDGER_REQUEST_TIMEOUT_MS, default 60000; at least the headers timeout). */
  readonly requestTimeoutMs: number;
  /** Time a route waits for the body it reads (SIGLEDGER_BODY_TIMEOUT_MS, default 30000). */
  readonly bodyTimeoutMs: number;
  /** Anonymous timestamps per second per client (SIGLEDGER_TSA_ANONYMOUS_CLIENT_QPS, default 5; burst twice that, 4 at once). */
  readonly tsaAnonymousClientQps: number;
  /** Anonymous timestamps recorded per client and UTC day (SIGLEDGER_TSA_ANONYMOUS_CLIENT_DAILY, default 1000). */
  readonly tsaAnonymousClientDaily: number;
  /** Anonymous timestamps recorded per UTC day, all clients (SIGLEDGER_TSA_ANONYMOUS_DAILY, default 50000; 0: none). */
  readonly tsaAnonymousDaily: number;
  /** SSE streams open at once, all routes and clients (SIGLEDGER_SSE_MAX_STREAMS, default 1000). */
  readonly sseMaxStreams: number;
  /** SSE streams open at once per client (SIGLEDGER_SSE_MAX_STREAMS_PER_CLIENT, default 8). */
  readonly sseMaxStreamsPerClient: number;
  /** An SSE stream is ended after this long; the client resumes with Last-Event-ID (SIGLEDGER_SSE_MAX_LIFETIME_MS, default 1 h). */
  readonly sseMaxLifetimeMs: number;
  /** An SSE stream whose client does not take a message within this is closed (SIGLEDGER_SSE_STALL_TIMEOUT_MS, default 30000). */
  readonly sseStallTimeoutMs: number;
}

export const LIMIT_DEFAULTS: LimitsConfig = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  bodyTimeoutMs: 30_000,
  tsaAnonymousClientQps: 5,
  tsaAnonymousClientDaily: 1_000,
  tsaAnonymousDaily: 50_000,
  sseMaxStreams: 1_000,
  sseMaxStreamsPerClient: 8,
  sseMaxLifetimeMs: 3_600_000,
  sseStallTimeoutMs: 30_000,
};

const RANGES: Readonly<Record<keyof LimitsConfig, readonly [env: string, min: number, max: number]>> = {
  headersTimeoutMs: ['SIGLEDGER_HEADERS_TIMEOUT_MS', 100, 600_000],
  requestTimeoutMs: ['SIGLEDGER_REQUEST_TIMEOUT_MS', 100, 3_600_000],
  bodyTimeoutMs: ['SIGLEDGER_BODY_TIMEOUT_MS', 100, 600_000],
  tsaAnonymousClientQps: ['SIGLEDGER_TSA_ANONYMOUS_CLIENT_QPS', 1, 100_000],
  tsaAnonymousClientDaily: ['SIGLEDGER_TSA_ANONYMOUS_CLIENT_DAILY', 0, 1_000_000_000],
  tsaAnonymousDaily: ['SIGLEDGER_TSA_ANONYMOUS_DAILY', 0, 1_000_000_000],
  sseMaxStreams: ['SIGLEDGER_SSE_MAX_STREAMS', 1, 1_000_000],
  sseMaxStreamsPerClient: ['SIGLEDGER_SSE_MAX_STREAMS_PER_CLIENT', 1, 1_000_000],
  sseMaxLifetimeMs: ['SIGLEDGER_SSE_MAX_LIFETIME_MS', 1_000, 7 * 24 * 3_600_000],
  sseStallTimeoutMs: ['SIGLEDGER_SSE_STALL_TIMEOUT_MS', 100, 600_000],
};

export function parseLimits(env: NodeJS.ProcessEnv): LimitsConfig {
  const out: Record<string, number> = {};
  for (const [key, [name, min, max]] of Object.entries(RANGES)) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      out[key] = LIMIT_DEFAULTS[key as keyof LimitsConfig];
      continue;
    }
    const n = /^\d{1,10}$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
    if (!(n >= min && n <= max)) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw.length > 60 ? `${raw.slice(0, 57)}...` : raw}"`);
    out[key] = n;
  }
  const limits = out as unknown as LimitsConfig;
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) throw new ConfigError('SIGLEDGER_HEADERS_TIMEOUT_MS must not be longer than SIGLEDGER_REQUEST_TIMEOUT_MS');
  return limits;
}
