/**
 * Read models on a local SQLite file. They are derived data: rebuilt from the event history
 * whenever missing, so synchronous=NORMAL suffices; a checkpoint is written in the same
 * transaction as the documents it covers, so a crash never leaves them apart.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { LedgerError } from '../../errors.ts';
import type { JsonValue } from '../event-store.ts';
import type { Checkpoint, ReadModelStore, ReadModelTx } from '../read-model.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS docs (collection TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (collection TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (projection TEXT PRIMARY KEY, version INTEGER NOT NULL, position INTEGER NOT NULL);
`;

const MAX_LIST = 10_000;

export class SqliteReadModelStore implements ReadModelStore {
  private readonly db: Database.Database;
  private readonly s;

  constructor(path: string) {
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path, { timeout: 5000 });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // 16 MiB of page cache: log tiles and bundle documents are read far more than written.
      this.db.pragma('cache_size = -16384');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw new LedgerError('store_unavailable', `cannot open the read-model database (${(err as { code?: string }).code ?? 'error'})`, undefined, { cause: err });
    }
    const db = this.db;
    this.s = {
      get: db.prepare<[string, string], { value: string }>('SELECT value FROM docs WHERE collection = ? AND key = ?'),
      put: db.prepare<[string, string, string]>('INSERT INTO docs (collection, key, value) VALUES (?, ?, ?) ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value'),
      del: db.prepare<[string, string]>('DELETE FROM docs WHERE collection = ? AND key = ?'),
      listAfter: db.prepare<[string, string, number], { key: string; value: string }>('SELECT key, value FROM docs WHERE collection = ? AND key > ? ORDER BY key LIMIT ?'),
      listFrom: db.prepare<[string, string, number], { key: string; value: string }>('SELECT key, value FROM docs WHERE collection = ? AND key >= ? ORDER BY key LIMIT ?'),
      count: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM docs WHERE collection = ?'),
      countRange: db.prepare<[string, string, string], { n: number }>('SELECT COUNT(*) AS n FROM docs WHERE collection = ? AND key >= ? AND key < ?'),
      getBlob: db.prepare<[string, string], { value: Buffer }>('SELECT value FROM blobs WHERE collection = ? AND key = ?'),
      putBlob: db.prepare<[string, string, Uint8Array]>('INSERT INTO blobs (collection, key, value) VALUES (?, ?, ?) ON CONFLICT (collection, key) DO UPDATE SET value = excluded.value'),
      delBlob: db.prepare<[string, string]>('DELETE FROM blobs WHERE collection = ? AND key = ?'),
      getCp: db.prepare<[string], { version: number; position: number }>('SELECT version, position FROM checkpoints WHERE projection = ?'),
      setCp: db.prepare<[string, number, number]>('INSERT INTO checkpoints (projection, version, position) VALUES (?, ?, ?) ON CONFLICT (projection) DO UPDATE SET version = excluded.version, position = excluded.position'),
      resetDocs: db.prepare<[string, string]>("DELETE FROM docs WHERE collection = ? OR collection LIKE ? ESCAPE '\\'"),
      resetBlobs: db.prepare<[string, string]>("DELETE FROM blobs WHERE collection = ? OR collection LIKE ? ESCAPE '\\'"),
      resetCp: db.prepare<[string]>('DELETE FROM checkpoints WHERE projection = ?'),
    };
  }

  get<T extends JsonValue = JsonValue>(collection: string, key: string): T | undefined {
    const row = this.s.get.get(collection, key);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  getBlob(collection: string, key: string): Uint8Array | undefined {
    return this.s.getBlob.get(collection, key)?.value;
  }

  list<T extends JsonValue = JsonValue>(collection: string, options: { after?: string; from?: string; prefix?: string; limit?: number } = {}) {
    const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? 100)), MAX_LIST);
    const prefix = options.prefix ?? '';
    const after = options.after;
    const from = options.from !== undefined && options.from > prefix ? options.from : prefix;
    const rows =
      after !== undefined && after >= from
        ? this.s.listAfter.all(collection, after, limit)
        : this.s.listFrom.all(collection, from, limit);
    const out: { key: string; value: T }[] = [];
    for (const r of rows) {
      if (!r.key.startsWith(prefix)) break;
      out.push({ key: r.key, value: JSON.parse(r.value) as T });
    }
    return out;
  }

  count(collection: string, options: { prefix?: string; from?: string } = {}): number {
    if (options.prefix === undefined && options.from === undefined) return this.s.count.get(collection)?.n ?? 0;
    const prefix = options.prefix ?? '';
    const from = options.from !== undefined && options.from > prefix ? options.from : prefix;
    return this.s.countRange.get(collection, from, `${prefix}\uffff`)?.n ?? 0;
  }

  private readonly tx: ReadModelTx = {
    get: (c, k) => this.get(c, k),
    getBlob: (c, k) => this.getBlob(c, k),
    list: (c, o) => this.list(c, o),
    count: (c, o) => this.count(c, o),
    put: (c, k, v) => {
      this.s.put.run(c, k, JSON.stringify(v));
    },
    putBlob: (c, k, v) => {
      this.s.putBlob.run(c, k, v);
    },
    delete: (c, k) => {
      this.s.del.run(c, k);
      this.s.delBlob.run(c, k);
    },
  };

  transaction<T>(fn: (tx: ReadModelTx) => T): T {
    return this.db.transaction(() => fn(this.tx))();
  }

  getCheckpoint(projection: string): Checkpoint | undefined {
    return this.s.getCp.get(projection);
  }

  setCheckpoint(_tx: ReadModelTx, projection: string, cp: Checkpoint): void {
    this.s.setCp.run(projection, cp.version, cp.position);
  }

  reset(projection: string): void {
    const like = projection.replace(/[\\%_]/g, (c) => `\\${c}`) + '.%';
    this.db.transaction(() => {
      this.s.resetDocs.run(projection, like);
      this.s.resetBlobs.run(projection, like);
      this.s.resetCp.run(projection);
    })();
  }

  /**
   * SHA-256 over every document and blob of each collection, in key order (audit: two read models
   * folded from the same events must have equal digests). Rows are streamed, never all in memory.
   */
  digest(): Map<string, { readonly rows: number; readonly sha256: string }> {
    const out = new Map<string, { rows: number; hash: ReturnType<typeof createHash> }>();
    const take = (collection: string, key: string, value: string | Buffer) => {
      let d = out.get(collection);
      if (!d) out.set(collection, (d = { rows: 0, hash: createHash('sha256') }));
      d.rows++;
      d.hash.update(`${key.length}:${key}`).update(typeof value === 'string' ? `${Buffer.byteLength(value)}:` : `${value.length}:`).update(value);
    };
    for (const r of this.db.prepare<[], { collection: string; key: string; value: string }>('SELECT collection, key, value FROM docs ORDER BY collection, key').iterate()) take(r.collection, r.key, r.value);
    for (const r of this.db.prepare<[], { collection: string; key: string; value: Buffer }>('SELECT collection, key, value FROM blobs ORDER BY collection, key').iterate()) take(`${r.collection} (blobs)`, r.key, r.value);
    return new Map([...out].map(([c, d]) => [c, { rows: d.rows, sha256: d.hash.digest('hex') }]));
  }

  /** Every projection checkpoint. */
  checkpoints(): { projection: string; version: number; position: number }[] {
    return this.db.prepare<[], { projection: string; version: number; position: number }>('SELECT projection, version, position FROM checkpoints ORDER BY projection').all();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
