import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../src/app/common/logger.ts';
import { RotationScheduler, type DueRotation, type TickResult } from '../../../src/app/ceremonies/rotation-scheduler.ts';
import { ROTATION_SCHEDULE_STREAM, scheduledIdsFor } from '../../../src/domain/rotation-schedule.ts';
import { ConcurrencyError } from '../../../src/errors.ts';
import type { EventStore } from '../../../src/store/event-store.ts';
import { SqliteEventStore } from '../../../src/store/sqlite/sqlite-event-store.ts';

const DAY = 24 * 3600 * 1000;
/** The signing key the ledger was initialised with: periods at or before it are not due. */
const KEY_VALID_FROM = '2026-01-10T09:00:00Z';

type Opened = DueRotation & { by: string };

/** A clock the test moves by hand, shared by every instance (as NTP-synchronised hosts would be). */
class Clock {
  constructor(public t: number) {}
  now = (): Date => new Date(this.t);
  set(iso: string): void {
    this.t = Date.parse(iso);
  }
}

/** Log lines the scheduler wrote (pino JSON). */
function captureLogs(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = { write: (chunk: string) => void lines.push(JSON.parse(chunk) as Record<string, unknown>) };
  return { logger: createLogger('debug', sink as unknown as NodeJS.WritableStream), lines };
}

const recordedPeriods = async (store: EventStore): Promise<string[]> =>
  (await store.readStream(ROTATION_SCHEDULE_STREAM)).map((e) => {
    expect(e.type).toBe('ScheduledRotationRecorded');
    return (e.data as { period: string }).period;
  });

/** The real store, counting the appends it refused with a concurrency conflict. */
const countingConflicts = (inner: EventStore, counter: { n: number }): EventStore =>
  new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'appendToStream') return Reflect.get(target, prop, receiver);
      return (...args: Parameters<EventStore['appendToStream']>) =>
        target.appendToStream(...args).catch((err: unknown) => {
          if (err instanceof ConcurrencyError) counter.n++;
          throw err;
        });
    },
  });

const monthStarts = (from: string, count: number): string[] => {
  const d = new Date(from);
  return Array.from({ length: count }, (_, i) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + i, 1)).toISOString().replace('.000Z', 'Z'));
};

describe('rotation scheduler (integration)', () => {
  let dir: string;
  let store: SqliteEventStore;
  let opened: Opened[];
  const extraStores: SqliteEventStore[] = [];
  const schedulers: RotationScheduler[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigledger-sched-'));
    store = new SqliteEventStore({ path: join(dir, 'events.db') });
    opened = [];
  });
  afterEach(async () => {
    vi.useRealTimers();
    await Promise.all(schedulers.splice(0).map((s) => s.stop()));
    await Promise.all(extraStores.splice(0).map((s) => s.close()));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function instance(
    by: string,
    clock: { now: () => Date },
    options: { store?: EventStore; cron?: string; baseline?: () => Promise<string | undefined>; open?: (due: DueRotation) => Promise<void>; logger?: ReturnType<typeof createLogger> } = {},
  ): RotationScheduler {
    const s = new RotationScheduler({
      store: options.store ?? store,
      cron: options.cron ?? '0 0 1 * *',
      now: clock.now,
      logger: options.logger ?? createLogger('silent'),
      baseline: options.baseline ?? (async () => KEY_VALID_FROM),
      open:
        options.open ??
        (async (due) => {
          opened.push({ ...due, by });
        }),
    });
    schedulers.push(s);
    return s;
  }

  describe('when two instances tick through six month ends, interleaved and concurrently', () => {
    for (const [label, separateHandles] of [
      ['sharing one store', false],
      ['each with its own connection to the same database (two processes)', true],
    ] as const) {
      it(`opens exactly one ceremony and records exactly one period per month boundary (${label})`, async () => {
        const clock = new Clock(Date.parse('2026-01-15T00:00:00Z'));
        let storeB: EventStore = store;
        if (separateHandles) {
          const other = new SqliteEventStore({ path: join(dir, 'events.db') });
          extraStores.push(other);
          storeB = other;
        }
        const conflicts = { n: 0 };
        const a = instance('a', clock, { store: countingConflicts(store, conflicts) });
        const b = instance('b', clock, { store: countingConflicts(storeB, conflicts) });
        const outcomes: TickResult[] = [];
        for (let step = 0; clock.t <= Date.parse('2026-07-15T00:00:00Z'); step++, clock.t += DAY) {
          if (step % 3 === 0) outcomes.push(...(await Promise.all([a.tick(), b.tick()])));
          else if (step % 3 === 1) outcomes.push(...(await Promise.all([b.tick(), a.tick()])));
          else {
            outcomes.push(await b.tick());
            outcomes.push(await a.tick());
          }
        }
        const expected = monthStarts('2026-02-01T00:00:00Z', 6);
        expect(expected).toEqual(['2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z', '2026-05-01T00:00:00Z', '2026-06-01T00:00:00Z', '2026-07-01T00:00:00Z']);
        expect(opened.map((o) => o.period)).toEqual(expected);
        expect(opened.map(({ by: _by, ...due }) => due)).toEqual(expected.map((period) => ({ period, ...scheduledIdsFor(period) })));
        expect(await recordedPeriods(store)).toEqual(expected);
        expect(await recordedPeriods(storeB)).toEqual(expected);
        expect(outcomes.filter((o) => o.outcome === 'recorded')).toHaveLength(6);
        // in concurrent steps both instances found the period due; the one whose append lost stood back
        expect(outcomes.filter((o) => o.outcome === 'recorded-elsewhere').length).toBeGreaterThan(0);
        expect(conflicts.n).toBeGreaterThan(0); // the store refused the losing appends
      });
    }
  });

  describe('when the ledger is down over two month ends', () => {
    it('opens one ceremony at start(), for the latest period only', async () => {
      const clock = new Clock(Date.parse('2026-01-20T00:00:00Z'));
      const before = instance('before', clock);
      expect(await before.tick()).toEqual({ outcome: 'not-due' }); // Jan 1 precedes the key
      await before.stop();

      clock.set('2026-03-20T08:00:00Z'); // Feb 1 and Mar 1 passed while nothing ran
      const after = instance('after', clock);
      await after.start();
      expect(opened).toEqual([{ period: '2026-03-01T00:00:00Z', ...scheduledIdsFor('2026-03-01T00:00:00Z'), by: 'after' }]);
      expect(await recordedPeriods(store)).toEqual(['2026-03-01T00:00:00Z']);
      expect(await after.tick()).toEqual({ outcome: 'not-due' });
    });

    it('opens one ceremony when two instances start at once', async () => {
      const clock = new Clock(Date.parse('2026-04-02T00:00:00Z'));
      const other = new SqliteEventStore({ path: join(dir, 'events.db') });
      extraStores.push(other);
      const a = instance('a', clock);
      const b = instance('b', clock, { store: other });
      await Promise.all([a.start(), b.start()]);
      expect(opened.map((o) => o.period)).toEqual(['2026-04-01T00:00:00Z']);
      expect(await recordedPeriods(store)).toEqual(['2026-04-01T00:00:00Z']);
    });
  });

  describe('when open fails once', () => {
    const failingOnce = (by: string, log: Opened[]) => {
      let failed = false;
      return async (due: DueRotation) => {
        if (!failed) {
          failed = true;
          throw new Error('ceremony service unavailable');
        }
        log.push({ ...due, by });
      };
    };
    const FEB = { period: '2026-02-01T00:00:00Z', ...scheduledIdsFor('2026-02-01T00:00:00Z') };

    it('is retried by the next tick, and no second period is recorded', async () => {
      const clock = new Clock(Date.parse('2026-02-01T00:00:05Z'));
      const a = instance('a', clock, { open: failingOnce('a', opened) });
      const b = instance('b', clock);
      await expect(a.tick()).rejects.toThrow('ceremony service unavailable');
      expect(await recordedPeriods(store)).toEqual(['2026-02-01T00:00:00Z']);
      // the other instance sees the period recorded and leaves it to the instance that recorded it
      expect(await b.tick()).toEqual({ outcome: 'not-due' });
      expect(opened).toEqual([]);
      clock.t += 60_000;
      expect(await a.tick()).toEqual({ outcome: 'reopened', due: FEB });
      expect(opened).toEqual([{ ...FEB, by: 'a' }]);
      expect(await a.tick()).toEqual({ outcome: 'not-due' });
      expect(opened).toHaveLength(1);
      expect(await recordedPeriods(store)).toEqual(['2026-02-01T00:00:00Z']);
    });

    it('is retried by start() after a crash between the record and the open', async () => {
      const clock = new Clock(Date.parse('2026-02-01T00:00:05Z'));
      const crashed = instance('crashed', clock, { open: failingOnce('crashed', opened) });
      await expect(crashed.tick()).rejects.toThrow('ceremony service unavailable');
      await crashed.stop(); // the process died here

      clock.t += 5 * 60_000;
      const restarted = instance('restarted', clock);
      await restarted.start();
      expect(opened).toEqual([{ ...FEB, by: 'restarted' }]);
      expect(await recordedPeriods(store)).toEqual(['2026-02-01T00:00:00Z']);
    });

    it('is logged and retried when it fails during start()', async () => {
      const clock = new Clock(Date.parse('2026-02-03T00:00:00Z'));
      const { logger, lines } = captureLogs();
      const s = instance('s', clock, { open: failingOnce('s', opened), logger });
      await s.start(); // does not throw
      expect(lines.some((l) => l['level'] === 50 && String(l['message']).includes('ceremony service unavailable'))).toBe(true);
      expect(opened).toEqual([]);
      expect(await s.tick()).toEqual({ outcome: 'reopened', due: FEB });
      expect(opened).toEqual([{ ...FEB, by: 's' }]);
      expect(await recordedPeriods(store)).toEqual(['2026-02-01T00:00:00Z']);
    });

    it('is dropped once a later period superseded it', async () => {
      const clock = new Clock(Date.parse('2026-02-01T00:00:05Z'));
      const a = instance('a', clock, { open: failingOnce('a', opened) });
      await expect(a.tick()).rejects.toThrow();
      clock.set('2026-03-01T00:00:01Z');
      expect(await a.tick()).toMatchObject({ outcome: 'recorded', due: { period: '2026-03-01T00:00:00Z' } });
      expect(opened.map((o) => o.period)).toEqual(['2026-03-01T00:00:00Z']);
      expect(await a.tick()).toEqual({ outcome: 'not-due' });
      expect(opened).toHaveLength(1);
    });
  });

  describe('when an instance restarts with nothing new due', () => {
    it('opens the last recorded period again (open is idempotent per ids) and records nothing', async () => {
      const clock = new Clock(Date.parse('2026-05-01T00:10:00Z'));
      await instance('first', clock).tick();
      clock.t += DAY;
      await instance('second', clock).start();
      expect(opened).toEqual([
        { period: '2026-05-01T00:00:00Z', ...scheduledIdsFor('2026-05-01T00:00:00Z'), by: 'first' },
        { period: '2026-05-01T00:00:00Z', ...scheduledIdsFor('2026-05-01T00:00:00Z'), by: 'second' },
      ]);
      expect(await recordedPeriods(store)).toEqual(['2026-05-01T00:00:00Z']);
    });
  });

  describe('when the baseline moves with each rotation', () => {
    it('still opens once per month, and not for a period the active key is newer than', async () => {
      const clock = new Clock(Date.parse('2026-01-15T00:00:00Z'));
      let validFrom = KEY_VALID_FROM;
      const open = async (due: DueRotation) => {
        opened.push({ ...due, by: 'a' });
        validFrom = new Date(clock.t + 2 * DAY).toISOString(); // approved and executed two days later
      };
      const a = instance('a', clock, { baseline: async () => validFrom, open });
      for (; clock.t <= Date.parse('2026-04-15T00:00:00Z'); clock.t += DAY) await a.tick();
      expect(opened.map((o) => o.period)).toEqual(['2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z', '2026-04-01T00:00:00Z']);
      // a manual rotation on Apr 20 makes May's period the next due, not a late April one
      clock.set('2026-04-20T00:00:00Z');
      validFrom = '2026-04-20T00:00:00Z';
      expect(await a.tick()).toEqual({ outcome: 'not-due' });
      clock.set('2026-05-01T00:00:00Z');
      expect(await a.tick()).toMatchObject({ outcome: 'recorded', due: { period: '2026-05-01T00:00:00Z' } });
    });
  });

  describe('when the timer runs', () => {
    it('wakes at least hourly, fires at the occurrence, logs errors and re-arms', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-31T21:30:00Z') });
      const { logger, lines } = captureLogs();
      let baselineFails = false;
      const s = instance('timer', { now: () => new Date() }, {
        logger,
        baseline: async () => {
          if (baselineFails) throw new Error('read model unavailable');
          return KEY_VALID_FROM;
        },
      });
      /** Fires the next timer and waits (on real I/O) until the tick re-armed the timer. */
      const fireNext = async (): Promise<string> => {
        expect(vi.getTimerCount()).toBe(1);
        vi.advanceTimersToNextTimer();
        for (let i = 0; i < 10_000 && vi.getTimerCount() === 0; i++) await new Promise((r) => setImmediate(r));
        expect(vi.getTimerCount()).toBe(1);
        return new Date().toISOString();
      };

      await s.start();
      expect(opened).toEqual([]);
      expect(await fireNext()).toBe('2026-01-31T22:30:00.000Z'); // capped at one hour
      baselineFails = true;
      expect(await fireNext()).toBe('2026-01-31T23:30:00.000Z');
      expect(lines.some((l) => l['level'] === 50 && String(l['message']).includes('read model unavailable'))).toBe(true);
      baselineFails = false;
      expect(await fireNext()).toBe('2026-02-01T00:00:00.000Z'); // the occurrence itself
      expect(opened.map((o) => o.period)).toEqual(['2026-02-01T00:00:00Z']);
      expect(await fireNext()).toBe('2026-02-01T01:00:00.000Z');
      expect(opened).toHaveLength(1);
      expect(s.nextRun(new Date())?.toISOString()).toBe('2026-03-01T00:00:00.000Z');

      await s.stop();
      expect(vi.getTimerCount()).toBe(0);
    });

    it('fires on a real clock with a per-second pattern and stops cleanly', async () => {
      const s = instance('real', { now: () => new Date() }, { cron: '* * * * * *', baseline: async () => undefined });
      await s.start();
      for (const deadline = Date.now() + 10_000; opened.length < 3 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 50));
      await s.stop();
      const count = opened.length;
      expect(count).toBeGreaterThanOrEqual(3);
      // one period per tick, always later (a tick delayed past a second takes only the latest)
      const periods = opened.map((o) => Date.parse(o.period));
      for (let i = 1; i < periods.length; i++) {
        expect(periods[i]! - periods[i - 1]!).toBeGreaterThan(0);
        expect(periods[i]! % 1000).toBe(0);
      }
      expect(await recordedPeriods(store)).toEqual(opened.map((o) => o.period));
      await new Promise((r) => setTimeout(r, 1200));
      expect(opened).toHaveLength(count);
    });
  });

  describe('when asked for occurrences', () => {
    it('computes them in UTC without scheduling anything through croner', () => {
      const clock = new Clock(Date.parse('2026-01-15T00:00:00Z'));
      const s = instance('x', clock, { cron: '30 2 * * 1' });
      expect(s.nextRun(new Date('2026-01-15T00:00:00Z'))?.toISOString()).toBe('2026-01-19T02:30:00.000Z');
      expect(s.duePeriod(new Date('2026-01-19T02:30:00Z'), '2026-01-12T02:30:00Z', undefined)).toBe('2026-01-19T02:30:00Z');
      expect(() => instance('bad', clock, { cron: 'every month' })).toThrow(/invalid/);
    });
  });
});
