import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.ts';
import { canonicalEventText, chainHash } from '../../src/store/chain.ts';
import { verifyStoreIntegrity } from '../../src/store/integrity.ts';
import type { NewEvent } from '../../src/store/event-store.ts';
import { SqliteEventStore, type EventRow } from '../../src/store/sqlite/sqlite-event-store.ts';

const TIME = '2026-11-23T00:00:00.000Z';
let counter = 0;
const ev = (type: string): NewEvent => {
  const n = ++counter;
  return { type, data: { n, note: `hello-${n}`, tags: ['x', n] }, metadata: { time: TIME, actor: 'alice', correlationId: `c-${n}` } };
};
const evs = (...types: string[]): NewEvent[] => types.map(ev);

type Row = EventRow;

/** Changes exactly one byte (character) of `text`: the first `from` after `anchor`. */
function changeOneByte(text: string, anchor: string, from: string, to: string): string {
  const at = text.indexOf(from, text.indexOf(anchor));
  expect(text.indexOf(anchor), `"${anchor}" in ${text}`).toBeGreaterThanOrEqual(0);
  expect(at).toBeGreaterThanOrEqual(0);
  const out = text.slice(0, at) + to + text.slice(at + 1);
  expect(Buffer.byteLength(out)).toBe(Buffer.byteLength(text));
  expect(out).not.toBe(text);
  return out;
}

describe('verifyStoreIntegrity', () => {
  let dir: string;
  let pristine: string;
  let total = 0;
  let copies = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sigledger-integrity-'));
    pristine = join(dir, 'pristine.db');
    const store = new SqliteEventStore({ path: pristine });
    await store.appendToStream('order-1', evs('Created', 'Priced', 'Approved'), { expectedRevision: 'no_stream' });
    await store.appendToStream('order-2', evs('Created'));
    await store.appendToStream('order-1', evs('Shipped'));
    // Appends in the same turn share one group commit.
    await Promise.all([
      store.appendToStream('order-3', evs('Created', 'Priced')),
      store.appendToStream('order-2', evs('Priced', 'Approved', 'Shipped')),
      store.appendToStream('key-ring', evs('KeyAdded')),
    ]);
    await store.appendToStream('order-1', evs('Delivered', 'Invoiced'));
    await Promise.all([store.appendToStream('order-3', evs('Approved')), store.appendToStream('key-ring', evs('KeyRotated', 'KeyAdded'))]);
    await store.appendToStream('order-2', evs('Delivered'));
    total = counter;
    await store.close();
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh copy of the pristine store file. */
  function copy(): string {
    const path = join(dir, `copy-${++copies}.db`);
    copyFileSync(pristine, path);
    for (const suffix of ['-wal', '-shm']) if (existsSync(pristine + suffix)) copyFileSync(pristine + suffix, path + suffix);
    return path;
  }

  /**
   * Tampers with a copy directly through SQLite. `change` returns the position the verifier must
   * name; every statement it runs through `exec` must change exactly one row.
   */
  function tampered(change: (t: { row(stream: string, revision: number): Row; exec(sql: string, ...params: unknown[]): void }) => number) {
    const path = copy();
    const db = new Database(path);
    try {
      const expected = change({
        row: (stream, revision) => {
          const r = db.prepare('SELECT * FROM events WHERE stream = ? AND revision = ?').get(stream, revision) as Row | undefined;
          expect(r, `${stream}@${revision}`).toBeDefined();
          return r!;
        },
        exec: (sql, ...params) => {
          expect(db.prepare(sql).run(...params).changes, sql).toBe(1);
        },
      });
      return { path, expected };
    } finally {
      db.close();
    }
  }

  async function verifyFile(path: string, opts?: Parameters<typeof verifyStoreIntegrity>[1]) {
    const store = new SqliteEventStore({ path });
    try {
      return await verifyStoreIntegrity(store, opts);
    } finally {
      await store.close();
    }
  }

  async function expectViolationAt(path: string, position: number, pageSize?: number): Promise<IntegrityError> {
    let caught: unknown;
    try {
      await verifyFile(path, pageSize === undefined ? undefined : { pageSize });
    } catch (err) {
      caught = err;
    }
    expect(caught, 'expected an IntegrityError').toBeInstanceOf(IntegrityError);
    const err = caught as IntegrityError;
    expect(err.code).toBe('integrity_violation');
    expect(err.position).toBe(position);
    expect(err.details).toMatchObject({ position });
    expect(err.message).toContain(`position ${position}:`);
    return err;
  }

  describe('when the store is untouched', () => {
    it('verifies every event and reports events, streams and the head position', async () => {
      const path = copy();
      const progress: number[] = [];
      const report = await verifyFile(path, { onProgress: (p) => progress.push(p) });
      expect(report).toEqual({ events: total, streams: 4, headPosition: total });
      expect(progress).toEqual([total]);
    });

    it('gives the same answer with small pages, reporting progress page by page', async () => {
      const progress: number[] = [];
      const report = await verifyFile(copy(), { pageSize: 4, onProgress: (p) => progress.push(p) });
      expect(report).toEqual({ events: total, streams: 4, headPosition: total });
      const pages: number[] = [];
      for (let p = 4; p < total; p += 4) pages.push(p);
      expect(progress).toEqual([...pages, total]);
    });

    it('reports an empty store as empty', async () => {
      expect(await verifyFile(join(dir, 'empty.db'))).toEqual({ events: 0, streams: 0, headPosition: 0 });
    });

    it('refuses a page size that is not a positive integer', async () => {
      await expect(verifyFile(copy(), { pageSize: 0 })).rejects.toMatchObject({ code: 'invalid_position' });
    });
  });

  describe('when one byte of an event’s data was changed', () => {
    it('names the position of that event', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('order-1', 1);
        exec('UPDATE events SET data = ? WHERE position = ?', changeOneByte(r.data, '"note"', 'h', 'j'), r.position);
        return r.position;
      });
      const err = await expectViolationAt(path, expected);
      expect(err.message).toContain('hash mismatch in stream "order-1" at revision 1');
    });

    it('names the position of that event on a later page too', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('order-2', 3);
        exec('UPDATE events SET data = ? WHERE position = ?', changeOneByte(r.data, '"note"', 'e', 'a'), r.position);
        return r.position;
      });
      expect(expected).toBeGreaterThan(4);
      await expectViolationAt(path, expected, 2);
    });

    it('names the position of that event when the byte breaks its JSON', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('order-3', 1);
        exec('UPDATE events SET data = ? WHERE position = ?', changeOneByte(r.data, '{', '{', '['), r.position);
        return r.position;
      });
      const err = await expectViolationAt(path, expected);
      expect(err.message).toContain('stored data is not JSON');
    });
  });

  describe('when an event’s type was changed', () => {
    it('names the position of that event', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('order-2', 2);
        exec('UPDATE events SET type = ? WHERE position = ?', changeOneByte(r.type, 'A', 'A', 'Z'), r.position);
        return r.position;
      });
      await expectViolationAt(path, expected);
    });
  });

  describe('when an event’s metadata was changed', () => {
    it('names the position of that event', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('order-3', 0);
        exec('UPDATE events SET metadata = ? WHERE position = ?', changeOneByte(r.metadata, '"alice"', 'a', 'e'), r.position);
        return r.position;
      });
      await expectViolationAt(path, expected);
    });
  });

  describe('when an event’s id was changed', () => {
    it('names the position of that event', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('key-ring', 1);
        const digit = r.id[0] === '0' ? '1' : '0';
        exec('UPDATE events SET id = ? WHERE position = ?', digit + r.id.slice(1), r.position);
        return r.position;
      });
      await expectViolationAt(path, expected);
    });
  });

  describe('when a stored hash was overwritten', () => {
    it('names the position of that event', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const r = row('order-1', 2);
        exec('UPDATE events SET hash = ? WHERE position = ?', 'ab'.repeat(32), r.position);
        return r.position;
      });
      const err = await expectViolationAt(path, expected);
      expect(err.message).toContain('hash mismatch');
    });

    it('names the next event of the stream when the changed event was re-hashed', async () => {
      // Re-hashing a changed event makes it verify, but its successor no longer chains to it.
      const { path, expected } = tampered(({ row, exec }) => {
        const prev = row('order-1', 2);
        const r = row('order-1', 3);
        const next = row('order-1', 4);
        const dataJson = changeOneByte(r.data, '"note"', 'h', 'j');
        const hash = chainHash(prev.hash, canonicalEventText(r.stream, r.revision, { id: r.id, type: r.type, dataJson, metadataJson: r.metadata }));
        exec('UPDATE events SET data = ?, hash = ? WHERE position = ?', dataJson, hash, r.position);
        return next.position;
      });
      const err = await expectViolationAt(path, expected);
      expect(err.message).toContain('hash mismatch in stream "order-1" at revision 4');
    });
  });

  describe('when a middle event of a stream was deleted', () => {
    it('names the position of the next event of that stream', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const gone = row('order-2', 1);
        const next = row('order-2', 2);
        exec('DELETE FROM events WHERE position = ?', gone.position);
        return next.position;
      });
      const err = await expectViolationAt(path, expected);
      expect(err.message).toContain('stream "order-2" revision 2, expected 1');
    });
  });

  describe('when two events’ data were swapped', () => {
    it('names the position of the earlier of the two', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const a = row('order-1', 3);
        const b = row('order-3', 1);
        expect(a.data).not.toBe(b.data);
        exec('UPDATE events SET data = ? WHERE position = ?', b.data, a.position);
        exec('UPDATE events SET data = ? WHERE position = ?', a.data, b.position);
        return Math.min(a.position, b.position);
      });
      await expectViolationAt(path, expected);
    });
  });

  describe('when an event was moved behind a later event of its stream', () => {
    it('names the position of the event that now comes too early', async () => {
      const { path, expected } = tampered(({ row, exec }) => {
        const moved = row('order-1', 3);
        const next = row('order-1', 4);
        exec('UPDATE events SET position = ? WHERE position = ?', 1000, moved.position);
        return next.position;
      });
      await expectViolationAt(path, expected);
    });
  });
});
