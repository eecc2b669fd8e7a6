/**
 * Per-tenant quotas (SPEC §2): a token bucket for QPS (refilled at `qps` tokens/s up to `burst`)
 * and a concurrency limit, both keyed by tenant; the plan comes with each request (from the PoE).
 *
 * acquire() checks both limits before changing anything and then takes both or neither: a
 * request refused for concurrency burns no QPS token, and one refused for rate holds no slot.
 * When both are exhausted, rate_limited wins (it carries a useful Retry-After).
 *
 * Memory is bounded: tenant state is kept in an LRU (src/util/lru.ts); state that is idle (nothing
 * in flight) with a full bucket carries no information and is dropped lazily; when the map is at
 * `maxTenants`, the least recently used idle tenant is dropped (at worst that tenant gets a fresh
 * burst). Tenants with requests in flight are never dropped.
 *
 * Pure: no timers; time comes from the injected clock.
 */
import { LedgerError } from '../../errors.ts';
import { Lru } from '../../util/lru.ts';
import type { Plan } from './plans.ts';

export interface Permit {
  readonly plan: Plan;
  /** Frees the concurrency slot. Idempotent: later calls do nothing. */
  release(): void;
}

export interface QuotaStats {
  /** Tenants with state held. */
  readonly tenants: number;
  /** Permits not yet released, all tenants. */
  readonly inFlight: number;
  /** Tenant states dropped (idle) since creation. */
  readonly evicted: number;
}

export interface Quotas {
  /**
   * Admits one request of `tenant` under `planName`, or throws LedgerError:
   * forbidden {reason:'unknown_plan'} (403), rate_limited {reason:'qps', retryAfterSeconds, limit}
   * (429), concurrency_limited {reason:'concurrency', limit} (429). Release the permit in a finally.
   */
  acquire(tenant: string, planName: string): Permit;
  /** The plan of that name, or throws forbidden {reason:'unknown_plan'}. */
  planOf(name: string): Plan;
  stats(): QuotaStats;
}

export interface QuotasOptions {
  readonly plans: Readonly<Record<string, Plan>>;
  /** Clock, epoch ms (any monotone-ish ms clock). Default Date.now. */
  readonly now?: () => number;
  /** Maximum tenant states held. Default 100000. */
  readonly maxTenants?: number;
}

interface TenantState {
  tokens: number;
  /** ms of the last refill. */
  refilledAt: number;
  inFlight: number;
  /** ms at which the bucket is full again if nothing more is taken (0 when never drawn). */
  fullAt: number;
}

/** Oldest entries inspected per acquire for lazy eviction, and when making room. */
const SWEEP = 2;
const ROOM_SCAN = 64;

export function createQuotas(opts: QuotasOptions): Quotas {
  const now = opts.now ?? Date.now;
  const maxTenants = opts.maxTenants ?? 100_000;
  if (!Number.isInteger(maxTenants) || maxTenants < 1) throw new RangeError('maxTenants must be a positive integer');
  const plans = opts.plans;
  let inFlight = 0;
  let evicted = 0;
  // When full: among the ROOM_SCAN least recently used, an idle tenant goes first, else the first
  // without requests in flight; when all of them have some, the map grows past the cap by the
  // number of in-flight tenants, which the server's own connection limit bounds.
  const tenants = new Lru<string, TenantState>({
    capacity: maxTenants,
    scan: ROOM_SCAN,
    stale: (s) => idle(s, now()),
    pinned: (s) => s.inFlight > 0,
    onEvict: () => void evicted++,
  });

  function planOf(name: string): Plan {
    const plan = Object.hasOwn(plans, name) ? plans[name] : undefined;
    if (plan === undefined) throw new LedgerError('forbidden', 'unknown plan', { reason: 'unknown_plan' });
    return plan;
  }

  function refill(s: TenantState, plan: Plan, at: number): void {
    if (plan.qps === null) {
      s.tokens = plan.burst;
    } else {
      const elapsed = Math.max(0, at - s.refilledAt);
      s.tokens = Math.min(plan.burst, s.tokens + (elapsed * plan.qps) / 1000);
    }
    s.refilledAt = Math.max(s.refilledAt, at);
  }

  /** Nothing in flight and a full bucket: indistinguishable from a tenant never seen. */
  function idle(s: TenantState, at: number): boolean {
    return s.inFlight === 0 && s.fullAt <= at;
  }

  function acquire(tenant: string, planName: string): Permit {
    const plan = planOf(planName);
    const at = now();

    let s = tenants.get(tenant);
    if (s === undefined) {
      s = { tokens: plan.burst, refilledAt: at, inFlight: 0, fullAt: 0 };
      tenants.set(tenant, s);
    }
    // Lazily forget up to SWEEP idle tenants at the least recently used end (never this one).
    tenants.prune(SWEEP, (state, k) => k !== tenant && idle(state, at));

    refill(s, plan, at);
    if (plan.qps !== null && s.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - s.tokens) / plan.qps));
      throw new LedgerError('rate_limited', `rate limit of ${plan.qps} requests per second exceeded`, {
        reason: 'qps',
        retryAfterSeconds,
        limit: plan.qps,
      });
    }
    if (s.inFlight >= plan.concurrency) {
      throw new LedgerError('concurrency_limited', `more than ${plan.concurrency} concurrent requests`, {
        reason: 'concurrency',
        limit: plan.concurrency,
      });
    }
    if (plan.qps !== null) {
      s.tokens -= 1;
      s.fullAt = at + Math.ceil(((plan.burst - s.tokens) * 1000) / plan.qps);
    }
    s.inFlight++;
    inFlight++;

    const state = s;
    let released = false;
    return {
      plan,
      release() {
        if (released) return;
        released = true;
        state.inFlight--;
        inFlight--;
      },
    };
  }

  return {
    acquire,
    planOf,
    stats: () => ({ tenants: tenants.size, inFlight, evicted }),
  };
}

/**
 * A daily budget of recorded things (anonymous timestamps): at most `perClient` per client and
 * `total` for all clients together per UTC day. A request takes one unit before it does the work
 * and gives it back when nothing was recorded (a rejected query), so a refusal records nothing.
 * Refusals are rate_limited (429) with `reason` `daily_client_quota` or `daily_quota` and a
 * Retry-After until the next UTC midnight.
 *
 * Held in memory, per instance, and reset at midnight UTC and on restart: the store then grows by
 * at most `total` anonymous events per day and instance. Client states are kept in an LRU of
 * `maxClients`; an evicted client starts its day afresh, which the `total` still bounds.
 * Pure: no timers; time comes from the injected clock.
 */
export interface DailyQuota {
  /** Takes one unit for `client`, or throws rate_limited; `refund()` gives it back (idempotent). */
  take(client: string): { refund(): void };
  /** Units taken today, all clients. */
  used(): number;
}

export interface DailyQuotaOptions {
  readonly perClient: number;
  readonly total: number;
  readonly now?: () => number;
  readonly maxClients?: number;
}

const DAY_MS = 86_400_000;

export function createDailyQuota(opts: DailyQuotaOptions): DailyQuota {
  const now = opts.now ?? Date.now;
  for (const [name, v] of [['perClient', opts.perClient], ['total', opts.total]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer`);
  }
  let day = Math.floor(now() / DAY_MS);
  let total = 0;
  const clients = new Lru<string, { day: number; used: number }>({ capacity: opts.maxClients ?? 100_000, scan: ROOM_SCAN, stale: (s) => s.day !== day || s.used === 0 });

  const refuse = (reason: 'daily_quota' | 'daily_client_quota', limit: number, at: number): LedgerError =>
    new LedgerError('rate_limited', reason === 'daily_quota' ? `the daily limit of ${limit} anonymous requests is used up; use a token, or try again tomorrow (UTC)` : `this client's daily limit of ${limit} anonymous requests is used up; use a token, or try again tomorrow (UTC)`, {
      reason,
      limit,
      retryAfterSeconds: Math.max(1, Math.ceil(((day + 1) * DAY_MS - at) / 1000)),
    });

  return {
    take(client) {
      const at = now();
      const today = Math.floor(at / DAY_MS);
      if (today !== day) {
        day = today;
        total = 0;
      }
      let s = clients.get(client);
      if (s === undefined || s.day !== day) {
        s = { day, used: 0 };
        clients.set(client, s);
      }
      if (total >= opts.total) throw refuse('daily_quota', opts.total, at);
      if (s.used >= opts.perClient) throw refuse('daily_client_quota', opts.perClient, at);
      s.used++;
      total++;
      const state = s;
      let refunded = false;
      return {
        refund() {
          if (refunded) return;
          refunded = true;
          if (state.day !== day) return; // a new day began: nothing of today to give back
          state.used--;
          total--;
        },
      };
    },
    used: () => total,
  };
}
