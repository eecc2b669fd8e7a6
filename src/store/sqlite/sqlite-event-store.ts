/**
 * Embedded event store on better-sqlite3 (SPEC §4): WAL, synchronous=FULL, UNIQUE(stream, revision)
 * as the last line of defence, and group commit: appends that arrive in the same turn of the
 * event loop share one IMMEDIATE transaction and therefore one fsync, while each caller still
 * gets its own result or its own error (every append runs in its own savepoint). A promise
 * resolves only after COMMIT returned, i.e. after the WAL was fsynced.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConcurrencyError, IntegrityError, LedgerError } from '../../errors.ts';
import { canonicalEventText, chainHash, type PreparedEvent } from '../chain.ts';
import {
  describeRevision,
  matchesFilter,
  type AppendOptions,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../event-store.ts';
import { appendRequest, readAllRequest, readStreamRequest, subscribeRequest } from '../requests.ts';

export interface SqliteEventStoreOptions {
  /** Path of the database file, or ':memory:' (tests only: not durable). */
  readonly path: string;
  /** How often a live subscription looks for commits made by another process (ms). */
  readonly pollIntervalMs?: number;
  /** Most appends one group commit takes. */
  readonly maxBatch?: number;
  /** Called once per committed group with its size and duration (for metrics). */
  readonly onCommit?: (appends: number, events: number, seconds: number) => void;
}

interface PendingAppend {
  readonly stream: string;
  readonly events: PreparedEvent[];
  readonly expected: ExpectedRevision;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

interface Head {
  readonly revision: number;
  readonly hash: string;
}

/** One row of the `events` table, as stored. */
export interface EventRow {
  position: number;
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  hash: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY,
  id       TEXT    NOT NULL UNIQUE,
  stream   TEXT    NOT NULL,
  revision INTEGER NOT NULL,
  type     TEXT    NOT NULL,
  data     TEXT    NOT NULL,
  metadata TEXT    NOT NULL,
  hash     TEXT    NOT NULL,
  UNIQUE (stream, revision)
);
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO store_meta (key, value) VALUES ('schema', '1');
`;

const COLUMNS = 'position, id, stream, revision, type, data, metadata, hash';

function parseStored(r: EventRow, column: 'data' | 'metadata'): unknown {
  try {
    return JSON.parse(r[column]);
  } catch {
    // Only a change made outside this adapter can get here: report it as such, with its position.
    throw new IntegrityError(r.position, `stored ${column} is not JSON`, { stream: r.stream, revision: r.revision });
  }
}

export const toRecorded = (r: EventRow): RecordedEvent => ({
  id: r.id,
  stream: r.stream,
  revision: r.revision,
  position: r.position,
  type: r.type,
  data: parseStored(r, 'data') as RecordedEvent['data'],
  metadata: parseStored(r, 'metadata') as EventMetadata,
  hash: r.hash,
});

function translate(err: unknown): LedgerError {
  if (err instanceof LedgerError) return err;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) {
    const msg = String((err as Error).message);
    if (msg.includes('events.id')) return new LedgerError('invalid_event', 'an event with this id is already stored');
    return new LedgerError('concurrency_conflict', 'stream revision already taken by a concurrent writer');
  }
  return new LedgerError('store_unavailable', `sqlite store error (${typeof code === 'string' ? code : 'unknown'})`, undefined, {
    cause: err,
  });
}

export class SqliteEventStore implements EventStore {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly pollIntervalMs: number;
  private readonly maxBatch: number;
  private readonly onCommit: SqliteEventStoreOptions['onCommit'];
  private queue: PendingAppend[] = [];
  private flushScheduled = false;
  private closed = false;
  /** Stream heads known to be committed; valid while no other connection has written. */
  private readonly heads = new Map<string, Head>();
  private dataVersion: number;
  private commitWaiters: (() => void)[] = [];

  private readonly stmt: {
    head: Database.Statement<[string], { revision: number; hash: string }>;
    insert: Database.Statement<[string, string, number, string, string, string, string]>;
    readAll: Database.Statement<[number, number], EventRow>;
    readFwd: Database.Statement<[string, number, number], EventRow>;
    readBwd: Database.Statement<[string, number, number], EventRow>;
    headPosition: Database.Statement<[], { p: number | null }>;
    dataVersion: Database.Statement<[], number>;
    begin: Database.Statement;
    commit: Database.Statement;
    rollback: Database.Statement;
    savepoint: Database.Statement;
    release: Database.Statement;
    rollbackTo: Database.Statement;
  };

  constructor(options: SqliteEventStoreOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.maxBatch = options.maxBatch ?? 1024;
    this.onCommit = options.onCommit;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.db = new Database(options.path, { timeout: 5000 });
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('foreign_keys = ON');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw translate(err);
    }
    const db = this.db;
    this.stmt = {
      head: db.prepare('SELECT revision, hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO events (id, stream, revision, type, data, metadata, hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      readAll: db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`),
      readFwd: db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`),
      readBwd: db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`),
      headPosition: db.prepare('SELECT MAX(position) AS p FROM events'),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT append'),
      release: db.prepare('RELEASE append'),
      rollbackTo: db.prepare('ROLLBACK TO append'),
    };
    this.dataVersion = this.readDataVersion();
  }

  /** Changes when another connection commits; our own commits leave it as it is. */
  private readDataVersion(): number {
    return this.stmt.dataVersion.get()!;
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerError('store_closed', 'the event store is closed');
  }

  appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    try {
      this.assertOpen();
      const { expected, prepared } = appendRequest(stream, events, options);
      return new Promise<AppendResult>((resolve, reject) => {
        this.queue.push({ stream, events: prepared, expected, resolve, reject });
        this.scheduleFlush();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Commits everything queued, in groups of at most maxBatch appends. */
  private flush(): void {
    while (this.queue.length > 0) {
      const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
      this.queue = this.queue.length <= this.maxBatch ? [] : this.queue.slice(this.maxBatch);
      this.commitGroup(batch);
    }
  }

  private currentHead(stream: string, pending: Map<string, Head | null>): Head | null {
    const p = pending.get(stream);
    if (p !== undefined) return p;
    const cached = this.heads.get(stream);
    if (cached) return cached;
    const row = this.stmt.head.get(stream);
    return row ? { revision: row.revision, hash: row.hash } : null;
  }

  private commitGroup(batch: PendingAppend[]): void {
    const started = process.hrtime.bigint();
    const outcomes: ({ ok: true; result: AppendResult } | { ok: false; error: unknown })[] = [];
    const pendingHeads = new Map<string, Head | null>();
    let eventCount = 0;
    try {
      this.stmt.begin.run();
    } catch (err) {
      for (const a of batch) a.reject(translate(err));
      return;
    }
    try {
      const version = this.readDataVersion();
      if (version !== this.dataVersion) {
        // Another connection committed since our last look: our cached heads may be stale.
        this.heads.clear();
        this.dataVersion = version;
      }
      for (const a of batch) {
        const head = this.currentHead(a.stream, pendingHeads);
        const actual = head ? head.revision : -1;
        const e = a.expected;
        const ok =
          e === 'any' ||
          (e === 'no_stream' && head === null) ||
          (e === 'stream_exists' && head !== null) ||
          (typeof e === 'number' && e === actual);
        if (!ok) {
          outcomes.push({
            ok: false,
            error: new ConcurrencyError(a.stream, describeRevision(e), head ? String(actual) : 'no_stream'),
          });
          continue;
        }
        this.stmt.savepoint.run();
        try {
          let prevHash = head ? head.hash : null;
          let revision = actual;
          const recorded: RecordedEvent[] = [];
          for (const ev of a.events) {
            revision++;
            const hash = chainHash(prevHash, canonicalEventText(a.stream, revision, ev));
            const info = this.stmt.insert.run(ev.id, a.stream, revision, ev.type, ev.dataJson, ev.metadataJson, hash);
            recorded.push({
              id: ev.id,
              stream: a.stream,
              revision,
              position: Number(info.lastInsertRowid),
              type: ev.type,
              data: JSON.parse(ev.dataJson),
              metadata: JSON.parse(ev.metadataJson) as EventMetadata,
              hash,
            });
            prevHash = hash;
          }
          this.stmt.release.run();
          pendingHeads.set(a.stream, { revision, hash: prevHash! });
          eventCount += recorded.length;
          outcomes.push({
            ok: true,
            result: {
              nextExpectedRevision: revision,
              firstPosition: recorded[0]!.position,
              lastPosition: recorded[recorded.length - 1]!.position,
              events: recorded,
            },
          });
        } catch (err) {
          this.stmt.rollbackTo.run();
          this.stmt.release.run();
          outcomes.push({ ok: false, error: translate(err) });
        }
      }
      this.stmt.commit.run();
      // No need to read data_version again: our own commit does not change it, and no other
      // connection could commit while we held the write lock.
    } catch (err) {
      // COMMIT (or something before it) failed: nothing of this group is durable.
      try {
        if (this.db.inTransaction) this.stmt.rollback.run();
      } catch {
        /* the connection is already out of the transaction */
      }
      this.heads.clear();
      const e = translate(err);
      for (const a of batch) a.reject(e);
      return;
    }
    for (const [stream, head] of pendingHeads) if (head) this.heads.set(stream, head);
    if (this.heads.size > 100_000) this.heads.clear();
    if (eventCount > 0) this.onCommit?.(batch.length, eventCount, Number(process.hrtime.bigint() - started) / 1e9);
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) batch[i]!.resolve(o.result);
      else batch[i]!.reject(o.error);
    }
    if (eventCount > 0) this.notifyCommit();
  }

  private notifyCommit(): void {
    const waiters = this.commitWaiters;
    this.commitWaiters = [];
    for (const w of waiters) w();
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const { backwards, fromRevision, maxCount } = readStreamRequest(stream, options);
    const max = maxCount ?? Number.MAX_SAFE_INTEGER;
    try {
      const rows = backwards
        ? this.stmt.readBwd.all(stream, fromRevision ?? Number.MAX_SAFE_INTEGER, max)
        : this.stmt.readFwd.all(stream, fromRevision ?? 0, max);
      return rows.map(toRecorded);
    } catch (err) {
      throw translate(err);
    }
  }

  /**
   * Like readAll (no filter), each event with the canonical JSON text of its data and metadata as
   * stored — the very bytes its chain hash covers — so an audit can hash them as they are instead
   * of canonicalising again.
   */
  async readAllCanonical(options: { after?: number; maxCount?: number } = {}): Promise<{ event: RecordedEvent; dataJson: string; metadataJson: string }[]> {
    this.assertOpen();
    const { after, maxCount } = readAllRequest(options);
    try {
      return this.stmt.readAll.all(after, maxCount).map((r) => ({ event: toRecorded(r), dataJson: r.data, metadataJson: r.metadata }));
    } catch (err) {
      throw translate(err);
    }
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const { after, maxCount, filter } = readAllRequest(options);
    return this.readAllSync(after, maxCount, filter);
  }

  private readAllSync(after: number, max: number, filter: ReadAllOptions['filter']): RecordedEvent[] {
    try {
      if (!filter) return this.stmt.readAll.all(after, max).map(toRecorded);
      const out: RecordedEvent[] = [];
      let pos = after;
      for (;;) {
        const rows = this.stmt.readAll.all(pos, 1000);
        for (const r of rows) {
          if (matchesFilter(r, filter)) {
            out.push(toRecorded(r));
            if (out.length >= max) return out;
          }
        }
        if (rows.length < 1000) return out;
        pos = rows[rows.length - 1]!.position;
      }
    } catch (err) {
      throw translate(err);
    }
  }

  async *subscribeToAll(options: SubscribeOptions = {}): AsyncGenerator<readonly RecordedEvent[]> {
    this.assertOpen();
    const request = subscribeRequest(options);
    let after = request.after;
    const { batchSize, signal, filter } = request;
    while (!this.closed && !signal?.aborted) {
      let rows: EventRow[];
      try {
        rows = this.stmt.readAll.all(after, batchSize);
      } catch (err) {
        if (this.closed) return;
        throw translate(err);
      }
      if (rows.length > 0) {
        after = rows[rows.length - 1]!.position;
        const events = (filter ? rows.filter((r) => matchesFilter(r, filter)) : rows).map(toRecorded);
        if (events.length > 0) yield events;
        continue;
      }
      await this.nextCommit(signal);
    }
  }

  /** Resolves at the next local commit, after the poll interval (commits by other processes), on abort or close. */
  private nextCommit(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const timer = setTimeout(finish, this.pollIntervalMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.commitWaiters.push(finish);
    });
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    try {
      return this.stmt.headPosition.get()?.p ?? 0;
    } catch (err) {
      throw translate(err);
    }
  }

  async ping(): Promise<void> {
    await this.headPosition();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.notifyCommit();
    this.db.close();
  }
}
