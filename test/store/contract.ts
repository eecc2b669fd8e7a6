/**
 * The event store contract (SPEC §4): one suite, run against every adapter.
 * `describeEventStoreContract(name, open)` registers it; `open()` must return a fresh, empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConcurrencyError, LedgerError } from '../../src/errors.ts';
import { ChainVerifier } from '../../src/store/chain.ts';
import type { EventStore, NewEvent, RecordedEvent } from '../../src/store/event-store.ts';

export interface ContractTarget {
  readonly store: EventStore;
  readonly cleanup: () => Promise<void>;
}

const TIME = '2026-11-23T00:00:00.000Z';
let counter = 0;
const ev = (type = 'ThingHappened', data: unknown = { n: ++counter }, metadata: Record<string, unknown> = {}): NewEvent =>
  ({ type, data, metadata: { time: TIME, ...metadata } }) as NewEvent;

const uniqueStream = (prefix = 'contract') => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

async function readEverything(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await store.readAll({ after, maxCount: 500 });
    if (page.length === 0) return out;
    out.push(...page);
    after = page[page.length - 1]!.position;
  }
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<LedgerError> {
  let caught: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a LedgerError with code ${code}`).toBeInstanceOf(LedgerError);
  expect((caught as LedgerError).code).toBe(code);
  return caught as LedgerError;
}

export function describeEventStoreContract(adapter: string, open: () => Promise<ContractTarget>): void {
  describe(`event store contract (${adapter})`, () => {
    let target: ContractTarget;
    let store: EventStore;

    beforeEach(async () => {
      target = await open();
      store = target.store;
    });
    afterEach(async () => {
      await target.cleanup();
    });

    describe('when appending to a new stream', () => {
      it('stores the events with revisions from 0, increasing positions, metadata and a verifiable chain', async () => {
        const stream = uniqueStream();
        const result = await store.appendToStream(
          stream,
          [ev('A', { a: 1 }, { actor: 'alice', correlationId: 'c-1', causationId: 'k-1' }), ev('B', { b: [1, 'two', null] })],
          { expectedRevision: 'no_stream' },
        );
        expect(result.nextExpectedRevision).toBe(1);
        expect(result.lastPosition).toBeGreaterThan(result.firstPosition);
        const read = await store.readStream(stream);
        expect(read.map((e) => [e.type, e.revision])).toEqual([
          ['A', 0],
          ['B', 1],
        ]);
        expect(read[0]!.data).toEqual({ a: 1 });
        expect(read[1]!.data).toEqual({ b: [1, 'two', null] });
        expect(read[0]!.metadata).toMatchObject({ actor: 'alice', correlationId: 'c-1', causationId: 'k-1', time: TIME });
        expect(read.map((e) => e.position)).toEqual(result.events.map((e) => e.position));
        expect(read.map((e) => e.hash)).toEqual(result.events.map((e) => e.hash));
        for (const e of read) expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
        const verifier = new ChainVerifier();
        for (const e of await readEverything(store)) verifier.check(e);
        expect(verifier.verified).toBeGreaterThanOrEqual(2);
      });

      it('keeps a caller-supplied event id', async () => {
        const stream = uniqueStream();
        const id = '0b6f1c1e-4a52-4b2e-9a39-6f4d3b2a1c0d';
        await store.appendToStream(stream, [{ ...ev(), id }]);
        expect((await store.readStream(stream))[0]!.id).toBe(id);
      });

      it('chains later appends to the earlier ones', async () => {
        const stream = uniqueStream();
        await store.appendToStream(stream, [ev()]);
        await store.appendToStream(stream, [ev(), ev()]);
        const read = await store.readStream(stream);
        expect(read.map((e) => e.revision)).toEqual([0, 1, 2]);
        const verifier = new ChainVerifier();
        for (const e of await readEverything(store)) verifier.check(e);
      });
    });

    describe('when the expected revision is given', () => {
      it('appends at the exact revision and refuses a stale one without writing', async () => {
        const stream = uniqueStream();
        const first = await store.appendToStream(stream, [ev()], { expectedRevision: 'no_stream' });
        await store.appendToStream(stream, [ev()], { expectedRevision: first.nextExpectedRevision });
        const err = await expectCode(store.appendToStream(stream, [ev(), ev()], { expectedRevision: 0 }), 'concurrency_conflict');
        expect(err).toBeInstanceOf(ConcurrencyError);
        expect((await store.readStream(stream)).length).toBe(2);
      });

      it('refuses no_stream on an existing stream and stream_exists on a missing one', async () => {
        const stream = uniqueStream();
        await expectCode(store.appendToStream(stream, [ev()], { expectedRevision: 'stream_exists' }), 'concurrency_conflict');
        await store.appendToStream(stream, [ev()], { expectedRevision: 'no_stream' });
        await expectCode(store.appendToStream(stream, [ev()], { expectedRevision: 'no_stream' }), 'concurrency_conflict');
        await store.appendToStream(stream, [ev()], { expectedRevision: 'stream_exists' });
        await expectCode(store.appendToStream(uniqueStream(), [ev()], { expectedRevision: 3 }), 'concurrency_conflict');
        expect((await store.readStream(stream)).length).toBe(2);
      });

      it('lets exactly one of two racing writers win and stores nothing of the loser', async () => {
        for (let round = 0; round < 10; round++) {
          const stream = uniqueStream('race');
          await store.appendToStream(stream, [ev()], { expectedRevision: 'no_stream' });
          const results = await Promise.allSettled([
            store.appendToStream(stream, [ev('W1'), ev('W1')], { expectedRevision: 0 }),
            store.appendToStream(stream, [ev('W2'), ev('W2')], { expectedRevision: 0 }),
          ]);
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
          expect(won.length).toBe(1);
          expect(lost.length).toBe(1);
          expect(lost[0]!.reason).toBeInstanceOf(ConcurrencyError);
          const types = (await store.readStream(stream)).map((e) => e.type);
          expect(types.length).toBe(3);
          expect(new Set(types.slice(1)).size).toBe(1);
        }
      });
    });

    describe('when many appends arrive together', () => {
      it('gives each caller its own result and its own conflict', async () => {
        const streams = Array.from({ length: 40 }, () => uniqueStream('group'));
        const ok = streams.map((s, i) => store.appendToStream(s, [ev('G', { i })], { expectedRevision: 'no_stream' }));
        const bad = streams.slice(0, 5).map((s) => store.appendToStream(s, [ev('BAD')], { expectedRevision: 7 }));
        const okResults = await Promise.all(ok);
        const badResults = await Promise.allSettled(bad);
        expect(new Set(okResults.map((r) => r.firstPosition)).size).toBe(40);
        for (const r of badResults) expect(r.status).toBe('rejected');
        for (const s of streams) expect((await store.readStream(s)).map((e) => e.type)).toEqual(['G']);
      });
    });

    describe('when reading a stream', () => {
      it('reads forwards and backwards from a revision with a max count', async () => {
        const stream = uniqueStream();
        await store.appendToStream(stream, Array.from({ length: 6 }, (_, i) => ev('N', { i })));
        const fwd = await store.readStream(stream, { fromRevision: 2, maxCount: 3 });
        expect(fwd.map((e) => e.revision)).toEqual([2, 3, 4]);
        const bwd = await store.readStream(stream, { direction: 'backwards', maxCount: 2 });
        expect(bwd.map((e) => e.revision)).toEqual([5, 4]);
        const bwdFrom = await store.readStream(stream, { direction: 'backwards', fromRevision: 1 });
        expect(bwdFrom.map((e) => e.revision)).toEqual([1, 0]);
      });

      it('reads an unknown stream as empty', async () => {
        expect(await store.readStream(uniqueStream('none'))).toEqual([]);
      });
    });

    describe('when reading all streams', () => {
      it('returns events in commit order after a position, paged and filtered', async () => {
        const a = uniqueStream('alpha');
        const b = uniqueStream('beta');
        const start = await store.headPosition();
        await store.appendToStream(a, [ev('X', { k: 1 })]);
        await store.appendToStream(b, [ev('Y', { k: 2 })]);
        await store.appendToStream(a, [ev('Y', { k: 3 })]);
        const all = (await store.readAll({ after: start, maxCount: 100 })).filter((e) => e.stream === a || e.stream === b);
        expect(all.map((e) => (e.data as { k: number }).k)).toEqual([1, 2, 3]);
        const positions = all.map((e) => e.position);
        expect([...positions].sort((x, y) => x - y)).toEqual(positions);
        const page = await store.readAll({ after: all[0]!.position, maxCount: 1 });
        expect(page.length).toBe(1);
        expect(page[0]!.position).toBeGreaterThan(all[0]!.position);
        const ys = await store.readAll({ after: start, filter: { types: ['Y'] } });
        expect(ys.filter((e) => e.stream === a || e.stream === b).map((e) => (e.data as { k: number }).k)).toEqual([2, 3]);
        const alphas = await store.readAll({ after: start, filter: { streamPrefixes: [a] } });
        expect(alphas.map((e) => (e.data as { k: number }).k)).toEqual([1, 3]);
        expect(await store.headPosition()).toBe(all[2]!.position);
      });
    });

    describe('when subscribing to all streams', () => {
      it('catches up, then delivers live appends in order, filtered, until aborted', async () => {
        const stream = uniqueStream('sub');
        const start = await store.headPosition();
        await store.appendToStream(stream, [ev('Keep', { i: 0 }), ev('Skip', { i: -1 })]);
        const controller = new AbortController();
        const seen: RecordedEvent[] = [];
        const done = (async () => {
          for await (const batch of store.subscribeToAll({
            after: start,
            filter: { types: ['Keep'], streamPrefixes: [stream] },
            signal: controller.signal,
          })) {
            seen.push(...batch);
            if (seen.length >= 4) controller.abort();
          }
        })();
        await store.appendToStream(stream, [ev('Keep', { i: 1 })]);
        await store.appendToStream(uniqueStream('other'), [ev('Keep', { i: 99 })]);
        await store.appendToStream(stream, [ev('Keep', { i: 2 }), ev('Keep', { i: 3 })]);
        await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('subscription did not deliver')), 10_000))]);
        expect(seen.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 3]);
      });
    });

    describe('when the input is bad', () => {
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const badData: [string, unknown][] = [
        ['undefined', undefined],
        ['a bigint', 10n],
        ['a function', () => 1],
        ['NaN', Number.NaN],
        ['Infinity', { x: Number.POSITIVE_INFINITY }],
        ['a cyclic object', cyclic],
        ['a Date instance', new Date(0)],
        ['a nested undefined', { a: { b: undefined } }],
        ['a lone surrogate', { s: '\ud800' }],
      ];
      for (const [what, data] of badData) {
        it(`refuses data that is ${what} and writes nothing`, async () => {
          const stream = uniqueStream('bad');
          const before = await store.headPosition();
          await expectCode(store.appendToStream(stream, [ev(), { type: 'T', data, metadata: { time: TIME } } as NewEvent]), 'invalid_event');
          expect(await store.headPosition()).toBe(before);
          expect(await store.readStream(stream)).toEqual([]);
        });
      }

      it('refuses an empty stream name, one over 256 characters, and a non-string one', async () => {
        await expectCode(store.appendToStream('', [ev()]), 'invalid_stream_name');
        await expectCode(store.appendToStream('s'.repeat(257), [ev()]), 'invalid_stream_name');
        await expectCode(store.appendToStream(42 as unknown as string, [ev()]), 'invalid_stream_name');
        await expectCode(store.readStream(''), 'invalid_stream_name');
        await store.appendToStream('s'.repeat(250) + Math.random().toString(36).slice(2, 8), [ev()]);
      });

      it('refuses an expected revision of the wrong kind', async () => {
        const stream = uniqueStream('bad');
        for (const r of [-1, 1.5, 'latest', {}, null, Number.NaN, 2 ** 60]) {
          await expectCode(store.appendToStream(stream, [ev()], { expectedRevision: r as never }), 'invalid_expected_revision');
        }
        expect(await store.readStream(stream)).toEqual([]);
      });

      it('refuses an empty append, a bad type, bad metadata and a malformed id', async () => {
        const stream = uniqueStream('bad');
        await expectCode(store.appendToStream(stream, []), 'invalid_event');
        await expectCode(store.appendToStream(stream, [ev(''), ev()]), 'invalid_event');
        await expectCode(store.appendToStream(stream, [{ type: 'T', data: {}, metadata: {} } as NewEvent]), 'invalid_event');
        await expectCode(store.appendToStream(stream, [{ type: 'T', data: {}, metadata: { time: 'yesterday' } }]), 'invalid_event');
        await expectCode(store.appendToStream(stream, [{ ...ev(), id: 'not-a-uuid' }]), 'invalid_event');
        expect(await store.readStream(stream)).toEqual([]);
      });

      it('refuses bad read positions', async () => {
        await expectCode(store.readAll({ after: -1 }), 'invalid_position');
        await expectCode(store.readAll({ maxCount: 0 }), 'invalid_position');
        await expectCode(store.readStream('x', { fromRevision: -3 }), 'invalid_position');
      });
    });

    describe('when closed', () => {
      it('is idempotent and refuses further work', async () => {
        const stream = uniqueStream();
        const pending = store.appendToStream(stream, [ev()]);
        await store.close();
        await pending;
        await store.close();
        await expectCode(store.appendToStream(stream, [ev()]), 'store_closed');
      });
    });
  });
}
