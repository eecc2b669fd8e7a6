import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/app/access/plans.ts';
import { createQuotas } from '../../src/app/access/quotas.ts';
import { isLedgerError } from '../../src/errors.ts';
import { overAdmissions, unexplainedRefusals, type Exchange } from './plan-model.ts';

const PLAN = { qps: 40, burst: 40, concurrency: 8 };

interface Request {
  /** ms after the start the client sends it. */
  readonly sendAfter: number;
  /** ms it waits before the server checks the quota (queues, a busy event loop): requests overtake each other. */
  readonly queue: number;
  /** ms the server holds the slot. */
  readonly work: number;
  /** ms until the client has read the answer after the server is done. */
  readonly back: number;
}

/**
 * A discrete-event run of the real quotas (what the server uses) on a fake clock: each request is
 * checked at sentAt + queue, holds its slot for `work` when admitted, and is answered `back` later.
 */
function simulate(server: Plan, requests: readonly Request[]): Exchange[] {
  let clock = 1_000_000;
  const quotas = createQuotas({ plans: { p: server }, now: () => clock });
  type Step = { at: number; run: () => void };
  const steps: Step[] = [];
  const out: Exchange[] = [];
  for (const r of requests) {
    const sentAt = 1_000_000 + r.sendAfter;
    steps.push({
      at: sentAt + r.queue,
      run: () => {
        try {
          const permit = quotas.acquire('t', 'p');
          const releaseAt = clock + r.work;
          steps.push({ at: releaseAt, run: () => permit.release() });
          out.push({ sentAt, answeredAt: releaseAt + r.back, status: 201 });
        } catch (err) {
          if (!isLedgerError(err)) throw err;
          out.push({ sentAt, answeredAt: clock + r.back, status: 429, code: err.code });
        }
      },
    });
  }
  while (steps.length > 0) {
    steps.sort((a, b) => a.at - b.at);
    const next = steps.shift()!;
    clock = next.at;
    next.run();
  }
  return out;
}

const request = (maxQueue: number) =>
  fc.record({ sendAfter: fc.integer({ min: 0, max: 5_000 }), queue: fc.integer({ min: 0, max: maxQueue }), work: fc.integer({ min: 0, max: 400 }), back: fc.integer({ min: 0, max: maxQueue }) });

/** A burst of `n` requests at one instant, answered at once. */
const burstAt = (sendAfter: number, n: number, work = 0): Request[] => Array.from({ length: n }, () => ({ sendAfter, queue: 0, work, back: 0 }));

const startsOf = (xs: readonly Exchange[]) => xs.map((x) => x.sentAt);

describe('plan model (what a client can prove about the server quota)', () => {
  describe('when the server applies the plan, however late it checks and answers', () => {
    it('explains every 429 and finds no window that admitted too many (seeded)', () => {
      fc.assert(
        fc.property(fc.array(request(1_500), { minLength: 1, maxLength: 400 }), (requests) => {
          const exchanges = simulate({ ...PLAN, maxArtifactBytes: 1 }, requests);
          expect(unexplainedRefusals(exchanges, PLAN)).toEqual([]);
          expect(overAdmissions(exchanges, PLAN, startsOf(exchanges))).toEqual([]);
        }),
        { seed: 20_261_101, numRuns: 200 },
      );
    });
  });

  describe('when the server refuses below the plan', () => {
    it('names the refusals an instant bucket of the plan would not make', () => {
      const exchanges = simulate({ qps: 40, burst: 10, concurrency: 100, maxArtifactBytes: 1 }, burstAt(0, 20));
      expect(exchanges.filter((x) => x.code === 'rate_limited')).toHaveLength(10);
      expect(unexplainedRefusals(exchanges, { ...PLAN, concurrency: 100 })).toHaveLength(10);
    });

    it('names a concurrency refusal with fewer requests in flight than the plan allows', () => {
      const exchanges = simulate({ qps: 40, burst: 40, concurrency: 2, maxArtifactBytes: 1 }, burstAt(0, 4, 100));
      expect(exchanges.filter((x) => x.code === 'concurrency_limited')).toHaveLength(2);
      expect(unexplainedRefusals(exchanges, PLAN)).toHaveLength(2);
    });

    it('names any other 429 code', () => {
      expect(unexplainedRefusals([{ sentAt: 0, answeredAt: 1, status: 429, code: 'other' }], PLAN)).toHaveLength(1);
    });
  });

  describe('when the server admits above the plan', () => {
    it('finds the window that admitted more than the bucket holds', () => {
      const exchanges = simulate({ qps: 40, burst: 80, concurrency: 100, maxArtifactBytes: 1 }, burstAt(0, 80));
      const over = overAdmissions(exchanges, PLAN, startsOf(exchanges));
      expect(over).toEqual([{ from: 1_000_000, to: 1_000_000, admitted: 80, allowed: 40 }]);
    });
  });
});
