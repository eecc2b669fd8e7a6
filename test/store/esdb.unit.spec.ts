/**
 * The esdb adapter without a network: its pure mapping helpers, input validation before any
 * call, error translation (never repeating credentials), deadlines against an unreachable
 * endpoint, and its logic (hash chain, retries, positions, filters, subscriptions) against an
 * in-memory model of the EventStoreDB client. The model follows ESDB's documented semantics
 * (inclusive forward $all reads, exclusive backward reads and subscription starts, exact expected
 * revisions, StreamNotFound on unknown streams, system events interleaved); it is no substitute
 * for the contract run against a real server in esdb.int.spec.ts.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConcurrencyError, IntegrityError, LedgerError } from '../../src/errors.ts';
import { ChainVerifier } from '../../src/store/chain.ts';
import { normalizeConnectionString, type EsdbClient, type EsdbRecordedEventLike, type EsdbStreamingRead, type EsdbSubscription } from '../../src/store/esdb/client.ts';
import {
  CHAIN_HASH_METADATA_KEY,
  assertNoReservedMetadata,
  decodeRecordedEvent,
  isSystemEvent,
  serverFilterFor,
  splitChainHash,
  toLedgerPosition,
  toReadPosition,
  toSafeNumber,
  withChainHash,
} from '../../src/store/esdb/codec.ts';
import { EsdbEventStore, createEsdbEventStore, openEsdbEventStore, type EsdbEventStoreOptions } from '../../src/store/esdb/esdb-event-store.ts';
import { redact, secretsOf } from '../../src/store/esdb/redact.ts';
import { translateEsdbError } from '../../src/store/esdb/translate-error.ts';
import type { NewEvent, RecordedEvent } from '../../src/store/event-store.ts';
import { caught } from '../support/errors.ts';
import { describeEventStoreContract } from './contract.ts';

const TIME = '2026-11-23T00:00:00.000Z';
const HASH = 'ab'.repeat(32);
const SECRET = 's3cr3t-Pa55';
const UNREACHABLE = `esdb://admin:${SECRET}@127.0.0.1:1?tls=false`;
let n = 0;
const ev = (type = 'Thing', metadata: Record<string, unknown> = {}): NewEvent =>
  ({ type, data: { n: ++n }, metadata: { time: TIME, ...metadata } }) as NewEvent;

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  return (await caught(typeof p === 'function' ? (async () => p())() : p)).code;
}

// -------------------------------------------------------------------------------------------
// An in-memory model of the part of the EventStoreDB client the adapter uses.
// -------------------------------------------------------------------------------------------

interface Pos {
  commit: bigint;
  prepare: bigint;
}
interface FakeRecord extends EsdbRecordedEventLike {
  readonly position: Pos;
}
interface FakeFilter {
  filterOn: 'streamName' | 'eventType';
  prefixes?: string[];
  regex?: string;
}

const cmp = (a: Pos, b: Pos): number => (a.commit !== b.commit ? (a.commit < b.commit ? -1 : 1) : a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1);
const vendorError = (type: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { type, ...extra });

function passes(filter: FakeFilter | undefined, r: FakeRecord): boolean {
  if (!filter) return true;
  const subject = filter.filterOn === 'streamName' ? r.streamId : r.type;
  if (filter.prefixes) return filter.prefixes.some((p) => subject.startsWith(p));
  if (filter.regex !== undefined) return new RegExp(filter.regex).test(subject);
  return true;
}

function finiteRead(items: () => unknown[], error?: () => unknown): EsdbStreamingRead {
  const r = new Readable({ objectMode: true, read() {} }) as EsdbStreamingRead;
  r.cancel = async () => {
    r.destroy();
  };
  setImmediate(() => {
    const err = error?.();
    if (err) {
      r.destroy(err as Error);
      return;
    }
    for (const item of items()) r.push(item);
    r.push(null);
  });
  return r;
}

class FakeEsdb implements EsdbClient {
  readonly calls: string[] = [];
  readonly log: FakeRecord[] = [];
  private readonly streams = new Map<string, FakeRecord[]>();
  private readonly subs = new Set<{ filter: FakeFilter | undefined; push: (r: FakeRecord) => void }>();
  private next = 64n;
  private appends = 0;
  unsubscribed = 0;
  disposed = 0;
  /** Set to make every append fail with WrongExpectedVersion. */
  alwaysConflict = false;

  constructor() {
    this.writeSystem('$epoch-information', '$epoch');
    this.writeSystem('$settings', '$settings');
  }

  private record(streamId: string, type: string, revision: bigint, data: unknown, metadata: unknown, id: string, isJson = true): FakeRecord {
    this.next += 37n + BigInt(Math.floor(Math.random() * 50));
    const r: FakeRecord = { streamId, id, revision, type, isJson, data, metadata, position: { commit: this.next, prepare: this.next } };
    this.log.push(r);
    for (const s of this.subs) if (passes(s.filter, r)) s.push(r);
    return r;
  }

  writeSystem(streamId: string, type: string): void {
    const list = this.streams.get(streamId) ?? [];
    this.streams.set(streamId, list);
    list.push(this.record(streamId, type, BigInt(list.length), { at: Number(this.next) }, undefined, randomUUID()));
  }

  /** An event written by something other than sigledger (no chain hash). */
  writeForeign(streamId: string): void {
    const list = this.streams.get(streamId) ?? [];
    this.streams.set(streamId, list);
    list.push(this.record(streamId, 'Foreign', BigInt(list.length), {}, { some: 'thing' }, randomUUID()));
  }

  async appendToStream(stream: string, events: Parameters<EsdbClient['appendToStream']>[1], options: Parameters<EsdbClient['appendToStream']>[2]) {
    this.calls.push('appendToStream');
    await new Promise((r) => setImmediate(r));
    const list = this.streams.get(stream);
    const actual: bigint | 'no_stream' = list && list.length > 0 ? BigInt(list.length - 1) : 'no_stream';
    const expected = options.expectedRevision ?? 'any';
    const ok =
      !this.alwaysConflict &&
      (expected === 'any' || (expected === 'no_stream' && actual === 'no_stream') || (expected === 'stream_exists' && actual !== 'no_stream') || expected === actual);
    if (!ok) {
      throw vendorError('wrong-expected-version', 'Wrong expected version', { streamName: stream, expectedVersion: expected, actualVersion: actual });
    }
    if (++this.appends % 3 === 0) this.writeSystem('$stats-127.0.0.1:2113', '$statsCollected');
    const target = list ?? [];
    this.streams.set(stream, target);
    for (const e of events) {
      const raw = e as unknown as { id: string; type: string; data: unknown; metadata: unknown };
      target.push(this.record(stream, raw.type, BigInt(target.length), JSON.parse(JSON.stringify(raw.data)), JSON.parse(JSON.stringify(raw.metadata)), raw.id));
    }
    return { success: true, nextExpectedRevision: BigInt(target.length - 1), position: target[target.length - 1]!.position } as never;
  }

  readStream(stream: string, options: Parameters<EsdbClient['readStream']>[1]): EsdbStreamingRead {
    this.calls.push('readStream');
    const backwards = options.direction === 'backwards';
    const max = Number(options.maxCount ?? Number.MAX_SAFE_INTEGER);
    const from = options.fromRevision;
    return finiteRead(
      () => {
        const list = this.streams.get(stream) ?? [];
        const picked = backwards
          ? list.filter((r) => from === 'end' || from === undefined || r.revision <= (from as bigint)).reverse()
          : list.filter((r) => from === 'start' || from === undefined || r.revision >= (from as bigint));
        return picked.slice(0, max).map((event) => ({ event }));
      },
      () => (this.streams.has(stream) ? undefined : vendorError('stream-not-found', `${stream} not found`, { streamName: stream })),
    );
  }

  readAll(options: Parameters<EsdbClient['readAll']>[0]): EsdbStreamingRead {
    this.calls.push('readAll');
    const backwards = options.direction === 'backwards';
    const max = Number(options.maxCount ?? Number.MAX_SAFE_INTEGER);
    const from = options.fromPosition ?? (backwards ? 'end' : 'start');
    return finiteRead(() => {
      const picked = backwards
        ? this.log.filter((r) => from === 'end' || (from !== 'start' && cmp(r.position, from) < 0)).reverse()
        : this.log.filter((r) => from === 'start' || (from !== 'end' && cmp(r.position, from) >= 0));
      return picked.slice(0, max).map((event) => ({ event }));
    });
  }

  subscribeToAll(options: Parameters<EsdbClient['subscribeToAll']>[0]): EsdbSubscription {
    this.calls.push('subscribeToAll');
    const r = new Readable({ objectMode: true, read() {} }) as EsdbSubscription;
    const filter = options.filter as FakeFilter | undefined;
    const sub = { filter, push: (rec: FakeRecord) => void r.push({ event: rec }) };
    r.unsubscribe = async () => {
      this.unsubscribed++;
      this.subs.delete(sub);
    };
    const from = options.fromPosition ?? 'start';
    setImmediate(() => {
      r.emit('confirmation');
      // Catch-up (exclusive start) and going live happen in the same tick: no gap, no duplicate.
      for (const rec of this.log) if ((from === 'start' || (from !== 'end' && cmp(rec.position, from) > 0)) && passes(filter, rec)) sub.push(rec);
      this.subs.add(sub);
    });
    return r;
  }

  async dispose(): Promise<void> {
    this.disposed++;
  }
}

const storeOn = (fake: FakeEsdb, options: EsdbEventStoreOptions = {}) => new EsdbEventStore(fake, options);

afterEach(() => {
  vi.restoreAllMocks();
});

// -------------------------------------------------------------------------------------------

describe('esdb adapter helpers', () => {
  describe('when converting vendor bigints', () => {
    it('accepts non-negative safe integers and refuses everything else with integrity_violation', async () => {
      expect(toSafeNumber(0n, 'x')).toBe(0);
      expect(toSafeNumber(BigInt(Number.MAX_SAFE_INTEGER), 'x')).toBe(Number.MAX_SAFE_INTEGER);
      expect(toSafeNumber(7, 'x')).toBe(7);
      for (const bad of [BigInt(Number.MAX_SAFE_INTEGER) + 1n, -1n, 2n ** 64n - 1n, 1.5, -3, 'nope', undefined]) {
        expect(await codeOf(() => toSafeNumber(bad, 'a revision'))).toBe('integrity_violation');
      }
    });

    it('maps a log position to its prepare position', () => {
      expect(toLedgerPosition({ commit: 4242n, prepare: 4242n })).toBe(4242);
      // A legacy explicit transaction shares the commit position: prepare is the unique one.
      expect(toLedgerPosition({ commit: 9000n, prepare: 8123n })).toBe(8123);
      expect(toLedgerPosition(undefined)).toBeUndefined();
      expect(toLedgerPosition({ commit: 2n ** 64n - 1n, prepare: 2n ** 64n - 1n })).toBeUndefined();
      expect(() => toLedgerPosition({ commit: 2n ** 53n, prepare: 2n ** 53n })).toThrow(LedgerError);
    });

    it('starts $all reads at START for 0 and at {P, P} for a position', async () => {
      expect(toReadPosition(0)).toBe('start');
      expect(toReadPosition(1234)).toEqual({ commit: 1234n, prepare: 1234n });
      expect(await codeOf(() => toReadPosition(-1))).toBe('invalid_position');
      expect(await codeOf(() => toReadPosition(1.5))).toBe('invalid_position');
    });
  });

  describe('when carrying the chain hash in metadata', () => {
    it('inserts the hash under the reserved key and strips it again, keeping every caller key', () => {
      const metadataJson = '{"__proto__":{"x":1},"actor":"alice","time":"2026-11-23T00:00:00.000Z"}';
      const stored = withChainHash(metadataJson, HASH);
      expect(stored[CHAIN_HASH_METADATA_KEY]).toBe(HASH);
      const back = splitChainHash(JSON.parse(JSON.stringify(stored)));
      expect(back?.hash).toBe(HASH);
      expect(Object.keys(back!.metadata).sort()).toEqual(['__proto__', 'actor', 'time']);
      expect(Object.hasOwn(back!.metadata, '__proto__')).toBe(true);
      expect(Object.getPrototypeOf(back!.metadata)).toBe(Object.prototype);
      expect(back!.metadata).not.toHaveProperty([CHAIN_HASH_METADATA_KEY]);
    });

    it('finds no hash in metadata that lacks a valid one', () => {
      for (const raw of [undefined, null, 'text', [], new Uint8Array([1]), { time: TIME }, { [CHAIN_HASH_METADATA_KEY]: 'AB'.repeat(32) }, { [CHAIN_HASH_METADATA_KEY]: 5 }]) {
        expect(splitChainHash(raw)).toBeNull();
      }
    });

    it('refuses caller metadata using the reserved key namespace, naming the event', () => {
      for (const key of [CHAIN_HASH_METADATA_KEY, '$sigledger', '$sigledger.other']) {
        let error: unknown;
        try {
          assertNoReservedMetadata([ev(), ev('T', { [key]: 'mine' })]);
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(LedgerError);
        expect((error as LedgerError).code).toBe('invalid_event');
        expect((error as LedgerError).details).toEqual({ index: 1 });
      }
      expect(() => assertNoReservedMetadata([ev('T', { $correlationId: 'c', sigledger: 1 })])).not.toThrow();
      expect(() => withChainHash('{"$sigledger.hash":"x","time":"t"}', HASH)).toThrow(LedgerError);
    });
  });

  describe('when decoding a stored event', () => {
    const base: EsdbRecordedEventLike = {
      streamId: 'orders-1',
      id: '0B6F1C1E-4A52-4B2E-9A39-6F4D3B2A1C0D',
      revision: 3n,
      type: 'Placed',
      isJson: true,
      data: { a: 1 },
      metadata: { time: TIME, actor: 'bob', [CHAIN_HASH_METADATA_KEY]: HASH },
      position: { commit: 900n, prepare: 900n },
    };

    it('maps revision, position, id and metadata, without the hash key', () => {
      const e = decodeRecordedEvent(base);
      expect(e).toEqual({
        id: '0b6f1c1e-4a52-4b2e-9a39-6f4d3b2a1c0d',
        stream: 'orders-1',
        revision: 3,
        position: 900,
        type: 'Placed',
        data: { a: 1 },
        metadata: { time: TIME, actor: 'bob' },
        hash: HASH,
      });
    });

    it('refuses events it did not write, out-of-range revisions and missing positions', async () => {
      const noHash = await codeOf(() => decodeRecordedEvent({ ...base, metadata: { time: TIME } }));
      expect(noHash).toBe('integrity_violation');
      let err: unknown;
      try {
        decodeRecordedEvent({ ...base, isJson: false });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(IntegrityError);
      expect((err as IntegrityError).position).toBe(900);
      expect(await codeOf(() => decodeRecordedEvent({ ...base, revision: 2n ** 60n }))).toBe('integrity_violation');
      expect(await codeOf(() => decodeRecordedEvent({ ...base, position: undefined }))).toBe('store_unavailable');
      expect(await codeOf(() => decodeRecordedEvent({ ...base, position: { commit: 0n, prepare: 0n } }))).toBe('integrity_violation');
    });
  });

  describe('when choosing filters', () => {
    it('treats $-streams and $-types as system events', () => {
      expect(isSystemEvent('$stats-1', 'x')).toBe(true);
      expect(isSystemEvent('orders', '$>')).toBe(true);
      expect(isSystemEvent('orders', 'Placed')).toBe(false);
    });

    it('sends stream prefixes, else types, else a system-event exclusion to the server', () => {
      expect(serverFilterFor({ streamPrefixes: ['a-', 'b-'], types: ['X'] })).toMatchObject({ filterOn: 'streamName', prefixes: ['a-', 'b-'] });
      expect(serverFilterFor({ types: ['X', 'Y'] })).toMatchObject({ filterOn: 'eventType', prefixes: ['X', 'Y'] });
      expect(serverFilterFor(undefined)).toMatchObject({ filterOn: 'eventType', regex: '^[^$].*' });
      expect(serverFilterFor({ streamPrefixes: [''] })).toMatchObject({ regex: '^[^$].*' });
      expect(serverFilterFor({ streamPrefixes: ['$ce-'] })).toMatchObject({ regex: '^[^$].*' });
    });
  });

  describe('when handling connection strings and vendor errors', () => {
    it('finds the credentials of a connection string and redacts them', () => {
      const secrets = secretsOf('esdb://admin:p%40ss-w0rd@db:2113?tls=false');
      expect(secrets).toEqual(expect.arrayContaining(['admin:p%40ss-w0rd', 'p%40ss-w0rd', 'p@ss-w0rd']));
      expect(secretsOf('esdb://db:2113')).toEqual([]);
      const msg = redact('failed for esdb://admin:p%40ss-w0rd@db:2113 with p@ss-w0rd', secrets);
      expect(msg).not.toContain('p%40ss');
      expect(msg).not.toContain('p@ss');
      expect(redact('x'.repeat(500)).length).toBeLessThanOrEqual(201);
    });

    it('rewrites kurrentdb:// and kdb:// to the esdb:// scheme the client parses', () => {
      expect(normalizeConnectionString('kurrentdb://h:2113?tls=false')).toBe('esdb://h:2113?tls=false');
      expect(normalizeConnectionString('kdb+discover://h:2113')).toBe('esdb+discover://h:2113');
      expect(normalizeConnectionString('esdb://h:2113')).toBe('esdb://h:2113');
    });

    it('translates wrong expected version into ConcurrencyError with both revisions and the cause', () => {
      const vendor = vendorError('wrong-expected-version', 'WEV', { streamName: 's', expectedVersion: 4n, actualVersion: 'no_stream' });
      const e = translateEsdbError(vendor);
      expect(e).toBeInstanceOf(ConcurrencyError);
      expect(e).toMatchObject({ code: 'concurrency_conflict', stream: 's', expected: '4', actual: 'no_stream' });
      expect(e.cause).toBe(vendor);
    });

    it('translates availability errors to store_unavailable, keeps the cause, and never repeats credentials', () => {
      const cases: [string, string][] = [
        ['unavailable', 'store_unavailable'],
        ['deadline-exceeded', 'store_unavailable'],
        ['timeout', 'store_unavailable'],
        ['not-leader', 'store_unavailable'],
        ['access-denied', 'store_unavailable'],
        ['cancelled', 'store_unavailable'],
        ['unknown', 'store_unavailable'],
        ['stream-deleted', 'invalid_stream_name'],
        ['maximum-append-size-exceeded', 'invalid_event'],
        ['invalid-argument', 'internal'],
      ];
      for (const [type, code] of cases) {
        const vendor = vendorError(type, `14 UNAVAILABLE: esdb://admin:${SECRET}@db:2113 refused ${SECRET}`, { code: 14 });
        const e = translateEsdbError(vendor, { secrets: secretsOf(UNREACHABLE) });
        expect(e.code, type).toBe(code);
        expect(e.message).not.toContain(SECRET);
        expect(JSON.stringify(e.details)).not.toContain(SECRET);
        expect(e.cause).toBe(vendor);
      }
      const fromString = translateEsdbError(`boom esdb://admin:${SECRET}@db`);
      expect(fromString.code).toBe('store_unavailable');
      expect(fromString.message).not.toContain(SECRET);
      const passthrough = new LedgerError('invalid_event', 'x');
      expect(translateEsdbError(passthrough)).toBe(passthrough);
    });
  });
});

describe('esdb adapter before the network', () => {
  it('rejects bad input with the sqlite error codes without calling the client', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    fake.calls.length = 0;
    expect(await codeOf(store.appendToStream('', [ev()]))).toBe('invalid_stream_name');
    expect(await codeOf(store.appendToStream('$system', [ev()]))).toBe('invalid_stream_name');
    expect(await codeOf(store.appendToStream('s'.repeat(257), [ev()]))).toBe('invalid_stream_name');
    expect(await codeOf(store.appendToStream(42 as unknown as string, [ev()]))).toBe('invalid_stream_name');
    expect(await codeOf(store.appendToStream('ok', [ev()], { expectedRevision: -1 }))).toBe('invalid_expected_revision');
    expect(await codeOf(store.appendToStream('ok', [ev()], { expectedRevision: 'latest' as never }))).toBe('invalid_expected_revision');
    expect(await codeOf(store.appendToStream('ok', []))).toBe('invalid_event');
    expect(await codeOf(store.appendToStream('ok', [{ type: 'T', data: 10n as never, metadata: { time: TIME } }]))).toBe('invalid_event');
    expect(await codeOf(store.appendToStream('ok', [ev('T', { [CHAIN_HASH_METADATA_KEY]: HASH })]))).toBe('invalid_event');
    expect(await codeOf(store.readStream(''))).toBe('invalid_stream_name');
    expect(await codeOf(store.readStream('ok', { fromRevision: -3 }))).toBe('invalid_position');
    expect(await codeOf(store.readStream('ok', { maxCount: 0 }))).toBe('invalid_position');
    expect(await codeOf(store.readAll({ after: -1 }))).toBe('invalid_position');
    expect(await codeOf(store.readAll({ maxCount: 0 }))).toBe('invalid_position');
    expect(await codeOf(store.subscribeToAll({ after: 1.5 })[Symbol.asyncIterator]().next())).toBe('invalid_position');
    expect(fake.calls).toEqual([]);
  });

  it('refuses work after close with store_closed, and closes once', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    await Promise.all([store.close(), store.close()]);
    await store.close();
    expect(fake.disposed).toBe(1);
    expect(await codeOf(store.appendToStream('s', [ev()]))).toBe('store_closed');
    expect(await codeOf(store.readStream('s'))).toBe('store_closed');
    expect(await codeOf(store.readAll())).toBe('store_closed');
    expect(await codeOf(store.headPosition())).toBe('store_closed');
    expect(await codeOf(store.ping())).toBe('store_closed');
  });

  describe('when the server is unreachable (real client)', () => {
    it('still rejects bad input at once with validation codes, not store_unavailable', async () => {
      const store = createEsdbEventStore(UNREACHABLE, { deadlineMs: 2000, pingDeadlineMs: 500 });
      try {
        const started = Date.now();
        expect(await codeOf(store.appendToStream('', [ev()]))).toBe('invalid_stream_name');
        expect(await codeOf(store.appendToStream('s', [ev()], { expectedRevision: 1.5 }))).toBe('invalid_expected_revision');
        expect(await codeOf(store.appendToStream('s', [ev('T', { '$sigledger.hash': HASH })]))).toBe('invalid_event');
        expect(await codeOf(store.readAll({ after: -5 }))).toBe('invalid_position');
        expect(Date.now() - started).toBeLessThan(250);
      } finally {
        await store.close();
      }
    });

    it('fails ping with store_unavailable within the deadline, without the password', async () => {
      const store = createEsdbEventStore(UNREACHABLE, { deadlineMs: 2000, pingDeadlineMs: 500 });
      try {
        const started = Date.now();
        const err = await caught(store.ping());
        expect(err.code).toBe('store_unavailable');
        expect(Date.now() - started).toBeLessThan(3000);
        expect(err.message).not.toContain(SECRET);
        expect(JSON.stringify(err.details ?? {})).not.toContain(SECRET);
      } finally {
        await store.close();
      }
    });

    it('fails open with store_unavailable, and bad connection strings with config_invalid, never naming the password', async () => {
      const err = await caught(openEsdbEventStore(UNREACHABLE, { pingDeadlineMs: 500 }));
      expect(err.code).toBe('store_unavailable');
      expect(err.message).not.toContain(SECRET);
      for (const bad of [`esdb://admin:${SECRET}@db:notaport`, `esdb://admin:${SECRET}@db:2113?tls=maybe`, `http://admin:${SECRET}@db:2113`]) {
        const e = await caught(openEsdbEventStore(bad));
        expect(e.code).toBe('config_invalid');
        expect(e.message).not.toContain(SECRET);
        expect(e.cause).toBeUndefined();
      }
    });

    it('redacts the credentials from the client’s own parse warnings', async () => {
      const seen: string[] = [];
      const spy = vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
        seen.push(args.map(String).join(' '));
      });
      const store = createEsdbEventStore(`${UNREACHABLE}&bogusOption=1`);
      await store.close();
      spy.mockRestore();
      expect(seen.join('\n')).toContain('bogusOption');
      expect(seen.join('\n')).not.toContain(SECRET);
    });

    it('accepts the kurrentdb:// scheme', async () => {
      const store = createEsdbEventStore('kurrentdb://127.0.0.1:1?tls=false');
      expect(store.kind).toBe('esdb');
      await store.close();
    });
  });
});

describe('esdb adapter on an in-memory model of the client', () => {
  describeEventStoreContract('esdb, in-memory model', async () => {
    const store = storeOn(new FakeEsdb());
    return { store, cleanup: () => store.close() };
  });

  it('stores the chain hash in ESDB metadata only, and computes it like sqlite', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const result = await store.appendToStream('orders-1', [ev('A', { actor: 'a' }), ev('B')], { expectedRevision: 'no_stream' });
    const raw = fake.log.filter((r) => r.streamId === 'orders-1');
    expect(raw.map((r) => (r.metadata as Record<string, unknown>)[CHAIN_HASH_METADATA_KEY])).toEqual(result.events.map((e) => e.hash));
    for (const e of result.events) expect(e.metadata).not.toHaveProperty([CHAIN_HASH_METADATA_KEY]);
    expect(result.events.map((e) => e.position)).toEqual(raw.map((r) => Number(r.position.prepare)));
    const verifier = new ChainVerifier();
    for (const e of await store.readAll()) verifier.check(e);
    expect(verifier.verified).toBe(2);
  });

  it('keeps system events out of readAll, headPosition and subscriptions', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    await store.appendToStream('a', [ev()]);
    await store.appendToStream('b', [ev()]);
    await store.appendToStream('c', [ev()]);
    fake.writeSystem('$scavenges', '$scavengeStarted');
    fake.writeSystem('a-links', '$>');
    const all = await store.readAll();
    expect(all.map((e) => e.stream)).toEqual(['a', 'b', 'c']);
    expect(await store.headPosition()).toBe(all[2]!.position);
    expect(await store.headPosition()).toBe(all[2]!.position); // memoised path
    const controller = new AbortController();
    const seen: RecordedEvent[] = [];
    for await (const batch of store.subscribeToAll({ signal: controller.signal })) {
      seen.push(...batch);
      if (seen.length >= 3) controller.abort();
    }
    expect(seen.map((e) => e.stream)).toEqual(['a', 'b', 'c']);
    expect(fake.unsubscribed).toBe(1);
    expect(await storeOn(new FakeEsdb()).headPosition()).toBe(0);
  });

  it('pages readAll exclusively after a position, through runs of system events', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const first = await store.appendToStream('p', [ev()]);
    for (let i = 0; i < 700; i++) fake.writeSystem('$stats-x', '$statsCollected');
    await store.appendToStream('p', [ev(), ev()]);
    const page = await store.readAll({ after: first.lastPosition, maxCount: 1 });
    expect(page.map((e) => e.revision)).toEqual([1]);
    const rest = await store.readAll({ after: page[0]!.position });
    expect(rest.map((e) => e.revision)).toEqual([2]);
    expect(await store.readAll({ after: rest[0]!.position })).toEqual([]);
  });

  it('retries an "any" append against another writer and keeps the chain intact', async () => {
    const fake = new FakeEsdb();
    const a = storeOn(fake);
    const b = storeOn(fake);
    await a.appendToStream('shared', [ev()]);
    await b.appendToStream('shared', [ev(), ev()]); // a's cached head is now stale
    const appendsBefore = fake.calls.filter((c) => c === 'appendToStream').length;
    const result = await a.appendToStream('shared', [ev()]);
    expect(result.nextExpectedRevision).toBe(3);
    expect(fake.calls.filter((c) => c === 'appendToStream').length - appendsBefore).toBe(2);
    const verifier = new ChainVerifier();
    for (const e of await a.readAll()) verifier.check(e);
    expect(verifier.verified).toBe(4);
  });

  it('turns a lost race on an exact or no_stream expectation into ConcurrencyError at once', async () => {
    const fake = new FakeEsdb();
    const a = storeOn(fake);
    const b = storeOn(fake);
    await a.appendToStream('s', [ev()], { expectedRevision: 'no_stream' });
    await b.appendToStream('s', [ev()], { expectedRevision: 0 });
    const before = fake.calls.filter((c) => c === 'appendToStream').length;
    const err = await caught(a.appendToStream('s', [ev()], { expectedRevision: 0 })); // a believes the head is 0
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: '0', actual: '1' });
    expect(fake.calls.filter((c) => c === 'appendToStream').length - before).toBe(1);
    const fresh = storeOn(fake);
    const err2 = await caught(fresh.appendToStream('s', [ev()], { expectedRevision: 'no_stream' }));
    expect(err2).toMatchObject({ code: 'concurrency_conflict', expected: 'no_stream', actual: '1' });
    expect((await a.readStream('s')).length).toBe(2);
  });

  it('gives up an "any" append after maxAppendAttempts lost races', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake, { maxAppendAttempts: 3 });
    fake.alwaysConflict = true;
    const err = await caught(store.appendToStream('busy', [ev()]));
    expect(err.code).toBe('concurrency_conflict');
    expect(fake.calls.filter((c) => c === 'appendToStream').length).toBe(3);
  });

  it('reports foreign events in user streams as integrity violations', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    await store.appendToStream('mine', [ev()]);
    fake.writeForeign('theirs');
    expect(await codeOf(store.readAll())).toBe('integrity_violation');
    expect(await codeOf(store.readStream('theirs'))).toBe('integrity_violation');
  });

  it('bounds appends, reads and subscription confirmations by the deadline', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake, { deadlineMs: 150 });
    let cancelled = 0;
    vi.spyOn(fake, 'readAll').mockImplementation(() => {
      const r = new Readable({ objectMode: true, read() {} }) as EsdbStreamingRead;
      r.cancel = async () => {
        cancelled++;
      };
      return r;
    });
    vi.spyOn(fake, 'appendToStream').mockImplementation(() => new Promise(() => {}));
    vi.spyOn(fake, 'subscribeToAll').mockImplementation(() => {
      const r = new Readable({ objectMode: true, read() {} }) as EsdbSubscription;
      r.unsubscribe = async () => {};
      return r;
    });
    const started = Date.now();
    expect(await codeOf(store.readAll())).toBe('store_unavailable');
    expect(cancelled).toBe(1);
    expect(await codeOf(store.appendToStream('slow', [ev()]))).toBe('store_unavailable');
    expect(await codeOf(store.subscribeToAll()[Symbol.asyncIterator]().next())).toBe('store_unavailable');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('ends a subscription when the store closes', async () => {
    const fake = new FakeEsdb();
    const store = storeOn(fake);
    const iterator = store.subscribeToAll()[Symbol.asyncIterator]();
    const next = iterator.next();
    await new Promise((r) => setTimeout(r, 20));
    await store.close();
    expect(await next).toEqual({ done: true, value: undefined });
    expect(fake.unsubscribed).toBe(1);
  });
});
