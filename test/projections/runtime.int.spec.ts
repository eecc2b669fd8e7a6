import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerError } from '../../src/errors.ts';
import { documentProjection, type Projection } from '../../src/projections/projection.ts';
import { ProjectionRuntime } from '../../src/projections/runtime.ts';
import type { NewEvent } from '../../src/store/event-store.ts';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { SqliteReadModelStore } from '../../src/store/sqlite/sqlite-read-model.ts';

const TIME = '2026-11-23T00:00:00Z';
const ev = (type: string, data: Record<string, unknown> = {}): NewEvent => ({ type, data: data as never, metadata: { time: TIME } });

type Tally = { count: number; total: number };

/** A document projection that tallies `Added` events per stream, and counts its own applications. */
function tally(version = 1, calls = { n: 0 }, factor = 1) {
  return {
    calls,
    projection: documentProjection<Tally>({
      name: 'tally',
      version,
      eventTypes: ['Added'],
      documentId: (e) => e.stream,
      initialState: () => ({ count: 0, total: 0 }),
      evolve: (s, e) => {
        calls.n++;
        return { count: s.count + 1, total: s.total + factor * ((e.data as { n: number }).n ?? 0) };
      },
    }),
  };
}

describe('projection runtime', () => {
  let dir: string;
  let store: SqliteEventStore;
  const opened: { runtime?: ProjectionRuntime; readModel?: SqliteReadModelStore }[] = [];

  const startRuntime = (projections: Projection[], file = 'readmodel.db', extra: Partial<ConstructorParameters<typeof ProjectionRuntime>[0]> = {}) => {
    const readModel = new SqliteReadModelStore(join(dir, file));
    const runtime = new ProjectionRuntime({ store, readModel, projections, retryDelayMs: { min: 10, max: 50 }, ...extra });
    runtime.start();
    opened.push({ runtime, readModel });
    return { runtime, readModel };
  };
  const stopAll = async () => {
    for (const o of opened.splice(0)) {
      await o.runtime?.stop();
      o.readModel?.close();
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigledger-proj-'));
    store = new SqliteEventStore({ path: join(dir, 'events.db'), pollIntervalMs: 50 });
  });
  afterEach(async () => {
    await stopAll();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when events are appended', () => {
    it('folds them into documents and waitFor gives read-your-writes', async () => {
      const { projection } = tally();
      const { runtime, readModel } = startRuntime([projection]);
      await store.appendToStream('a', [ev('Added', { n: 2 }), ev('Other'), ev('Added', { n: 5 })]);
      const r = await store.appendToStream('b', [ev('Added', { n: 1 })]);
      await runtime.waitFor(r.lastPosition);
      expect(projection.read(readModel, 'a')).toEqual({ count: 2, total: 7 });
      expect(projection.read(readModel, 'b')).toEqual({ count: 1, total: 1 });
      expect(runtime.status()).toEqual([{ name: 'tally', version: 1, position: r.lastPosition, rebuilt: true }]);
      expect(await runtime.caughtUp()).toBe(true);
    });

    it('times out waitFor with projection_timeout when the position never comes', async () => {
      const { runtime } = startRuntime([tally().projection]);
      const err = await runtime.waitFor(10_000, 50).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LedgerError);
      expect((err as LedgerError).code).toBe('projection_timeout');
    });
  });

  describe('when restarted', () => {
    it('resumes from its checkpoint without folding any event twice', async () => {
      const calls = { n: 0 };
      const first = startRuntime([tally(1, calls).projection]);
      const r1 = await store.appendToStream('a', [ev('Added', { n: 1 }), ev('Added', { n: 2 })]);
      await first.runtime.waitFor(r1.lastPosition);
      await stopAll();
      expect(calls.n).toBe(2);

      const again = tally(1, calls);
      const second = startRuntime([again.projection]);
      expect(second.runtime.status()[0]).toMatchObject({ position: r1.lastPosition, rebuilt: false });
      const r2 = await store.appendToStream('a', [ev('Added', { n: 4 })]);
      await second.runtime.waitFor(r2.lastPosition);
      expect(calls.n).toBe(3);
      expect(again.projection.read(second.readModel, 'a')).toEqual({ count: 3, total: 7 });
    });

    it('rebuilds from position 0 when the projection version changed', async () => {
      const first = startRuntime([tally(1).projection]);
      const r = await store.appendToStream('a', [ev('Added', { n: 1 }), ev('Added', { n: 2 })]);
      await first.runtime.waitFor(r.lastPosition);
      await stopAll();

      const v2 = tally(2, { n: 0 }, 10);
      const second = startRuntime([v2.projection]);
      expect(second.runtime.status()[0]).toMatchObject({ position: 0, rebuilt: true });
      await second.runtime.waitFor(r.lastPosition);
      expect(v2.projection.read(second.readModel, 'a')).toEqual({ count: 2, total: 30 });
    });

    it('rebuilds from position 0 when the read-model file is missing', async () => {
      const first = startRuntime([tally().projection], 'rm-1.db');
      const r = await store.appendToStream('a', [ev('Added', { n: 3 })]);
      await first.runtime.waitFor(r.lastPosition);
      await stopAll();
      const fresh = tally();
      const second = startRuntime([fresh.projection], 'rm-2.db');
      await second.runtime.waitFor(r.lastPosition);
      expect(fresh.projection.read(second.readModel, 'a')).toEqual({ count: 1, total: 3 });
    });

    it('catches up a newly added projection while the others skip what they have seen', async () => {
      const calls = { n: 0 };
      const first = startRuntime([tally(1, calls).projection]);
      const r = await store.appendToStream('a', [ev('Added', { n: 1 }), ev('Added', { n: 1 })]);
      await first.runtime.waitFor(r.lastPosition);
      await stopAll();
      const seen: number[] = [];
      const counter: Projection = { name: 'counter', version: 1, apply: (_tx, e) => void seen.push(e.position) };
      const second = startRuntime([tally(1, calls).projection, counter]);
      await second.runtime.waitFor(r.lastPosition);
      expect(calls.n).toBe(2);
      expect(seen).toEqual(r.events.map((e) => e.position));
    });
  });

  describe('when a fold throws', () => {
    it('commits nothing of the failed batch, reports the position, and retries', async () => {
      let failures = 2;
      const errors: unknown[] = [];
      const flaky: Projection = {
        name: 'flaky',
        version: 1,
        apply(tx, e) {
          tx.put('flaky', String(e.position), e.type);
          if (e.type === 'Boom' && failures-- > 0) throw new Error('transient');
        },
      };
      const { runtime, readModel } = startRuntime([flaky], 'readmodel.db', { onError: (err) => errors.push(err) });
      const r = await store.appendToStream('a', [ev('Fine'), ev('Boom')]);
      await runtime.waitFor(r.lastPosition);
      expect(errors.length).toBe(2);
      expect(errors[0]).toMatchObject({ code: 'projection_failed', position: r.lastPosition, projection: 'flaky' });
      expect(readModel.list('flaky').map((d) => d.value)).toEqual(['Fine', 'Boom']);
      expect(runtime.error()).toBeUndefined();
    });
  });
});
