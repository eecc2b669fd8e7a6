/**
 * Plans (SPEC §1): per-tenant limits named by the PoE's `plan` claim.
 *
 * `SIGLEDGER_PLANS` (a JSON file path, or inline JSON starting with `{`) maps plan names to
 * `{qps, burst, concurrency, maxArtifactBytes}` and REPLACES the built-in free/team/enterprise.
 * Dev mode additionally has `unlimited` (withDevPlans), unless the configured plans define a plan
 * of that name themselves.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.ts';
import { isObject } from '../../json.ts';

export interface Plan {
  /** Sustained requests per second (token refill rate); null = no rate limit. */
  readonly qps: number | null;
  /** Token bucket capacity: requests allowed at once after idling. Ignored when qps is null. */
  readonly burst: number;
  /** Requests in flight at once per tenant. */
  readonly concurrency: number;
  /** Largest artifact (payload or statement) accepted, bytes. */
  readonly maxArtifactBytes: number;
}

const MiB = 1024 * 1024;

export const PLAN_LIMITS = {
  qps: { min: 1, max: 100_000 },
  burst: { min: 1, max: 1_000_000 },
  concurrency: { min: 1, max: 100_000 },
  maxArtifactBytes: { min: 1, max: 64 * MiB },
  maxPlans: 100,
} as const;

export const PLAN_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export const BUILTIN_PLANS: Readonly<Record<string, Plan>> = Object.freeze({
  free: Object.freeze({ qps: 5, burst: 10, concurrency: 4, maxArtifactBytes: 1 * MiB }),
  team: Object.freeze({ qps: 50, burst: 100, concurrency: 32, maxArtifactBytes: 8 * MiB }),
  enterprise: Object.freeze({ qps: 500, burst: 1000, concurrency: 128, maxArtifactBytes: 32 * MiB }),
});

export const UNLIMITED_PLAN: Plan = Object.freeze({ qps: null, burst: 1, concurrency: 1024, maxArtifactBytes: 16 * MiB });

/** The built-in plans plus dev mode's `unlimited`. */
export const DEV_PLANS: Readonly<Record<string, Plan>> = Object.freeze({ ...BUILTIN_PLANS, unlimited: UNLIMITED_PLAN });

/** Adds dev mode's `unlimited` to a plan table (a configured plan named `unlimited` wins). */
export function withDevPlans(plans: Readonly<Record<string, Plan>>): Readonly<Record<string, Plan>> {
  return Object.freeze({ unlimited: UNLIMITED_PLAN, ...plans });
}

export interface ParsePlansOptions {
  /** Reads a plans file (utf8). Default fs.readFileSync. */
  readonly readFile?: (path: string) => string;
  /** Names the setting in messages. Default "SIGLEDGER_PLANS". */
  readonly label?: string;
}

/**
 * Parses SIGLEDGER_PLANS. Undefined or blank → BUILTIN_PLANS. Otherwise inline JSON (starts with
 * `{`) or the path of a JSON file; the result replaces the built-in plans. Throws ConfigError with
 * one line naming the first problem.
 */
export function parsePlans(raw: string | undefined, opts: ParsePlansOptions = {}): Readonly<Record<string, Plan>> {
  const label = opts.label ?? 'SIGLEDGER_PLANS';
  if (raw === undefined || raw.trim() === '') return BUILTIN_PLANS;
  const text = raw.trim();
  let source: string;
  let where: string;
  if (text.startsWith('{')) {
    source = text;
    where = `${label} (inline)`;
  } else {
    where = `${label} file ${oneLine(text)}`;
    try {
      source = (opts.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(text);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ConfigError(`${where}: cannot read (${err.code ?? oneLine(String(err.message))})`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch {
    throw new ConfigError(`${where}: not valid JSON`);
  }
  return validatePlans(parsed, where);
}

/** Validates a parsed plan table (plan name → Plan). Throws ConfigError (one line). */
export function validatePlans(value: unknown, where = 'plans'): Readonly<Record<string, Plan>> {
  if (!isObject(value)) throw new ConfigError(`${where}: must be a JSON object of plan name → {qps, burst, concurrency, maxArtifactBytes}`);
  const entries = Object.entries(value);
  if (entries.length === 0) throw new ConfigError(`${where}: defines no plans`);
  if (entries.length > PLAN_LIMITS.maxPlans) throw new ConfigError(`${where}: at most ${PLAN_LIMITS.maxPlans} plans`);
  const out: Record<string, Plan> = {};
  for (const [name, spec] of entries) {
    if (!PLAN_NAME_PATTERN.test(name)) throw new ConfigError(`${where}: plan name "${oneLine(name).slice(0, 40)}" must match ${PLAN_NAME_PATTERN.source}`);
    out[name] = validatePlan(spec, `${where}: plan "${name}"`);
  }
  return Object.freeze(out);
}

const FIELDS = ['qps', 'burst', 'concurrency', 'maxArtifactBytes'] as const;

function validatePlan(s: unknown, where: string): Plan {
  if (!isObject(s)) throw new ConfigError(`${where} must be an object {qps, burst, concurrency, maxArtifactBytes}`);
  for (const k of Object.keys(s)) {
    if (!(FIELDS as readonly string[]).includes(k)) throw new ConfigError(`${where} has unknown field "${oneLine(k).slice(0, 40)}" (allowed: ${FIELDS.join(', ')})`);
  }
  for (const k of FIELDS) if (!(k in s)) throw new ConfigError(`${where} is missing "${k}"`);
  const qps = s.qps === null ? null : int(s.qps, 'qps', where);
  return Object.freeze({
    qps,
    burst: int(s.burst, 'burst', where),
    concurrency: int(s.concurrency, 'concurrency', where),
    maxArtifactBytes: int(s.maxArtifactBytes, 'maxArtifactBytes', where),
  });
}

function int(v: unknown, field: keyof typeof PLAN_LIMITS & (typeof FIELDS)[number], where: string): number {
  const { min, max } = PLAN_LIMITS[field];
  const nullable = field === 'qps' ? ' (or null for no limit)' : '';
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(`${where}: "${field}" must be an integer from ${min} to ${max}${nullable}, got ${describe(v)}`);
  }
  return v;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `"${oneLine(v).slice(0, 20)}"`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;
}

const oneLine = (s: string) => s.replace(/[\r\n\t\u0000-\u001f]+/g, ' ');
