import { describe, expect, it } from 'vitest';
import { DEV_PLANS, type Plan } from '../../../src/app/access/plans.ts';
import { createDailyQuota, createQuotas } from '../../../src/app/access/quotas.ts';
import { LedgerError } from '../../../src/errors.ts';

const plans: Record<string, Plan> = {
  ...DEV_PLANS,
  small: { qps: 2, burst: 3, concurrency: 2, maxArtifactBytes: 1024 },
  slow: { qps: 1, burst: 1, concurrency: 10, maxArtifactBytes: 1024 },
};

function refusal(f: () => unknown): LedgerError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LedgerError);
    return e as LedgerError;
  }
  throw new Error('expected a refusal');
}

function setup(maxTenants?: number) {
  let clock = 1_000_000;
  const q = createQuotas({ plans, now: () => clock, ...(maxTenants ? { maxTenants } : {}) });
  return { q, advance: (ms: number) => (clock += ms) };
}

describe('quotas', () => {
  describe('when a tenant spends its burst', () => {
    it('admits burst requests, then refuses with 429 and a whole-second Retry-After', () => {
      const { q } = setup();
      for (let i = 0; i < 3; i++) q.acquire('t', 'small').release();
      const err = refusal(() => q.acquire('t', 'small'));
      expect(err.code).toBe('rate_limited');
      expect(err.details).toMatchObject({ reason: 'qps', retryAfterSeconds: 1, limit: 2 });
    });

    it('computes Retry-After from the refill rate', () => {
      const { q, advance } = setup();
      q.acquire('t', 'slow').release();
      advance(100);
      const err = refusal(() => q.acquire('t', 'slow'));
      expect(err.details?.retryAfterSeconds).toBe(1);
      expect(Number.isInteger(err.details?.retryAfterSeconds)).toBe(true);
    });

    it('refills over time at qps tokens per second', () => {
      const { q, advance } = setup();
      for (let i = 0; i < 3; i++) q.acquire('t', 'small').release();
      advance(499);
      expect(() => q.acquire('t', 'small')).toThrow(LedgerError);
      advance(1); // 0.5 s at 2 qps = 1 token
      q.acquire('t', 'small').release();
      advance(10_000); // refills to burst, never beyond
      for (let i = 0; i < 3; i++) q.acquire('t', 'small').release();
      expect(refusal(() => q.acquire('t', 'small')).code).toBe('rate_limited');
    });
  });

  describe('when a tenant has as many requests in flight as its plan allows', () => {
    it('refuses with concurrency_limited until one is released', () => {
      const { q, advance } = setup();
      const a = q.acquire('t', 'small');
      q.acquire('t', 'small');
      const err = refusal(() => q.acquire('t', 'small'));
      expect(err.code).toBe('concurrency_limited');
      expect(err.details).toMatchObject({ reason: 'concurrency', limit: 2 });
      a.release();
      advance(1000);
      expect(q.acquire('t', 'small').plan).toBe(plans.small);
    });

    it('burns no QPS token on a concurrency refusal', () => {
      const { q } = setup();
      const held = [q.acquire('t', 'small'), q.acquire('t', 'small')];
      for (let i = 0; i < 5; i++) expect(refusal(() => q.acquire('t', 'small')).code).toBe('concurrency_limited');
      held[0]!.release();
      q.acquire('t', 'small'); // the third token is still there
      expect(q.stats().inFlight).toBe(2);
    });

    it('treats release as idempotent', () => {
      const { q } = setup();
      const a = q.acquire('t', 'small');
      const b = q.acquire('t', 'small');
      a.release();
      a.release();
      a.release();
      expect(q.stats().inFlight).toBe(1);
      expect(() => q.acquire('t', 'small')).not.toThrow(); // one slot free, not three
      expect(refusal(() => q.acquire('t', 'small')).code).toBe('rate_limited');
      b.release();
    });
  });

  describe('when tenants share a plan', () => {
    it('keeps their buckets and slots apart', () => {
      const { q } = setup();
      for (let i = 0; i < 3; i++) q.acquire('a', 'small').release();
      expect(() => q.acquire('a', 'small')).toThrow(LedgerError);
      for (let i = 0; i < 3; i++) q.acquire('b', 'small').release();
    });
  });

  describe('when the plan is unlimited', () => {
    it('never rate-limits, but still caps concurrency at 1024', () => {
      const { q } = setup();
      for (let i = 0; i < 10_000; i++) q.acquire('bench', 'unlimited').release();
      const held = Array.from({ length: 1024 }, () => q.acquire('bench', 'unlimited'));
      expect(refusal(() => q.acquire('bench', 'unlimited')).code).toBe('concurrency_limited');
      for (const p of held) p.release();
    });
  });

  describe('when the plan is unknown', () => {
    it('refuses with 403 unknown_plan', () => {
      const { q } = setup();
      for (const name of ['platinum', 'constructor', '__proto__']) {
        const err = refusal(() => q.acquire('t', name));
        expect(err.code).toBe('forbidden');
        expect(err.details).toEqual({ reason: 'unknown_plan' });
      }
    });
  });

  describe('when many tenants come and go', () => {
    it('drops idle tenants with full buckets', () => {
      const { q, advance } = setup();
      for (let i = 0; i < 100; i++) q.acquire(`t${i}`, 'small').release();
      advance(60_000);
      for (let i = 0; i < 100; i++) q.acquire('hot', 'unlimited').release();
      expect(q.stats().tenants).toBe(1);
      expect(q.stats().evicted).toBe(100);
    });

    it('holds at most maxTenants, never dropping one with requests in flight', () => {
      const { q } = setup(10);
      const held = q.acquire('busy', 'small');
      for (let i = 0; i < 50; i++) q.acquire(`t${i}`, 'small').release();
      expect(q.stats().tenants).toBeLessThanOrEqual(10);
      q.acquire('busy', 'small');
      expect(refusal(() => q.acquire('busy', 'small')).code).toBe('concurrency_limited');
      held.release();
    });
  });
});

describe('daily quota', () => {
  const DAY = 86_400_000;
  function daily(perClient: number, total: number) {
    let clock = 10 * DAY + 3_600_000; // 01:00 UTC
    const d = createDailyQuota({ perClient, total, now: () => clock });
    return { d, advance: (ms: number) => (clock += ms) };
  }

  describe('when a client uses up its daily budget', () => {
    it('refuses it with 429 daily_client_quota and a Retry-After until midnight UTC, while other clients go on', () => {
      const { d } = daily(2, 100);
      d.take('a');
      d.take('a');
      const err = refusal(() => d.take('a'));
      expect(err.code).toBe('rate_limited');
      expect(err.details).toMatchObject({ reason: 'daily_client_quota', limit: 2, retryAfterSeconds: 23 * 3600 });
      d.take('b');
      expect(d.used()).toBe(3);
    });

    it('gives the budget back at midnight UTC', () => {
      const { d, advance } = daily(1, 100);
      d.take('a');
      expect(() => d.take('a')).toThrow(LedgerError);
      advance(23 * 3_600_000);
      d.take('a');
      expect(d.used()).toBe(1);
    });
  });

  describe('when all clients together use up the total', () => {
    it('refuses every client with 429 daily_quota', () => {
      const { d } = daily(10, 3);
      d.take('a');
      d.take('b');
      d.take('c');
      expect(refusal(() => d.take('d')).details).toMatchObject({ reason: 'daily_quota', limit: 3 });
      expect(refusal(() => d.take('a')).details).toMatchObject({ reason: 'daily_quota' });
    });

    it('refuses everything when the total is 0', () => {
      const { d } = daily(10, 0);
      expect(refusal(() => d.take('a')).details).toMatchObject({ reason: 'daily_quota', limit: 0 });
    });
  });

  describe('when a unit is refunded (nothing was recorded)', () => {
    it('counts it no more, once, and not across midnight', () => {
      const { d, advance } = daily(1, 100);
      const unit = d.take('a');
      unit.refund();
      unit.refund();
      expect(d.used()).toBe(0);
      const again = d.take('a');
      advance(DAY);
      again.refund(); // yesterday's unit: today's count stays
      d.take('a');
      expect(d.used()).toBe(1);
      expect(() => d.take('a')).toThrow(LedgerError);
    });
  });
});
