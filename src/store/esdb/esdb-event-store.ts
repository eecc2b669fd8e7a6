/**
 * Event store on EventStoreDB / KurrentDB through `@eventstore/db-client` v6 (SPEC §4). Only the
 * files of src/store/esdb import the vendor client: `client.ts` (the part of it used, and building
 * it), `codec.ts` (events ⇄ ESDB records and metadata), `translate-error.ts` (every vendor error
 * → a LedgerError code, the vendor error kept as `cause`), `redact.ts` (no message repeats the
 * credentials of the connection string), `deadline.ts` (bounded calls), `subscription.ts` (the
 * $all pump), and this adapter.
 *
 * Same semantics as the sqlite adapter (test/store/contract.ts):
 *
 * - Validation first. Stream name, expected revision and events are checked exactly as on sqlite
 *   (both go through `src/store/requests.ts`), plus one esdb-only rule: the metadata key
 *   namespace `$sigledger` is reserved (codec.ts). Bad input rejects with the same LedgerError
 *   codes before any network call; nothing is written.
 *
 * - Hash chain, client side. The hash of an event is `chainHash(prevHash, canonicalEventText(
 *   stream, revision, prepared))`, as on sqlite, computed against the stream's head (its last
 *   event, read backwards with maxCount 1, or a head this process wrote or read before). It is
 *   stored in the ESDB event metadata under the reserved key `$sigledger.hash` and stripped on
 *   the way back, so `RecordedEvent.metadata` is exactly what the caller appended. Every append is
 *   sent with the EXACT expected revision of that head (or NO_STREAM), so ESDB itself refuses an
 *   append whose hashes were computed against a stale head (WrongExpectedVersion). Then:
 *   - caller expectation a number or 'no_stream': ConcurrencyError(stream, expected, actual) at
 *     once, exactly as sqlite would have refused it;
 *   - caller expectation 'any' or 'stream_exists': the head is re-read and the append retried,
 *     at most `maxAppendAttempts` times (default 10), with a few ms of random back-off.
 *   Appends to one stream from this process run one after another (a per-stream lock), so only
 *   writers in other processes can make a head stale.
 *
 * - Positions. `RecordedEvent.position` is the event's PREPARE position (the byte offset of its
 *   record in the transaction log): unique per event, > 0, strictly increasing in $all order, and
 *   a safe integer for any log below 8 PiB (checked; anything else is `integrity_violation`).
 *   Why prepare and not commit: an ESDB position is {commit, prepare}. Every gRPC append (20.x up
 *   to 24.x and KurrentDB) is an implicit transaction whose prepares are each flagged
 *   `IsCommitted`; the $all reader (`AllReader.ReadAllEventsForward`) treats each such prepare as
 *   its own commit and reports it as `CommitEventRecord(event, event.LogPosition)`, i.e. commit =
 *   prepare = the event's own log position, distinct for every event of a multi-event append. Only
 *   legacy explicit TCP transactions (which this adapter never writes) put one shared commit
 *   position on all their events; the prepare position stays unique there too. Prepare is
 *   therefore the unique value in every case, and for everything this adapter writes it equals
 *   commit, so `{commit: P, prepare: P}` is exactly the $all position of the event at P.
 *
 * - `after` is exclusive. A $all read from `{P, P}` includes the event at P (forward $all reads
 *   are inclusive); subscriptions from a position exclude it. The adapter drops every event whose
 *   position is <= the last one it has delivered, so both behave the same. `after` must be 0 or a
 *   position this store returned.
 *
 * - System events (in a `$`-prefixed stream, or of a `$`-prefixed type: stats, settings, links,
 *   scavenges) never appear in readAll, subscribeToAll or headPosition. readAll filters client
 *   side (the v6 client has no filtered $all read); subscriptions also filter on the server
 *   (stream-name prefixes, else event-type prefixes, else excludeSystemEvents), and
 *   `matchesFilter` from the port always has the final word.
 *
 * - Deadlines. Every call is bounded (`deadlineMs`, default 10 s; ping `pingDeadlineMs`,
 *   default 5 s): appends through the gRPC deadline plus a local timer, streaming reads and the
 *   subscription's confirmation through a local timer that cancels the call (the client gives
 *   streaming calls no deadline). A timed-out append has an unknown outcome (it may have been
 *   written) and is reported as `store_unavailable`.
 */import {
  BACKWARDS,
  END,
  FORWARDS,
  NO_STREAM,
  START,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type ReadPosition,
} from '@eventstore/db-client';
import { ConcurrencyError, ConfigError, IntegrityError, LedgerError } from '../../errors.ts';
import { canonicalEventText, chainHash, type PreparedEvent } from '../chain.ts';
import {
  describeRevision,
  matchesFilter,
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../event-store.ts';
import { appendRequest, readAllRequest, readStreamRequest, subscribeRequest, type AppendRequest, type ReadStreamRequest } from '../requests.ts';
import { connect, type EsdbClient, type EsdbRecordedEventLike } from './client.ts';
import { assertNoReservedMetadata, decodeRecordedEvent, encodeEvent, isSystemEvent, toLedgerPosition, toReadPosition } from './codec.ts';
import { readToEnd, unanswered, withDeadline } from './deadline.ts';
import { secretsOf } from './redact.ts';
import { subscribeToAll } from './subscription.ts';
import { describeVendorRevision, isStreamNotFound, isWrongExpectedVersion, translateEsdbError, withCause } from './translate-error.ts';

export interface EsdbEventStoreOptions {
  /** Bound on every call to the server (ms). Default 10 000. */
  readonly deadlineMs?: number;
  /** Bound on ping() (ms). Default min(deadlineMs, 5000). */
  readonly pingDeadlineMs?: number;
  /** How many times an 'any' / 'stream_exists' append is tried when other writers keep winning. Default 10. */
  readonly maxAppendAttempts?: number;
  /** Strings never to repeat in an error message (the connection string's credentials). */
  readonly secrets?: readonly string[];
}

interface Head {
  readonly revision: number;
  readonly hash: string;
}

const READ_ALL_PAGE = 512;
const HEAD_SCAN_PAGE = 256;
const MAX_CACHED_HEADS = 100_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class EsdbEventStore implements EventStore {
  readonly kind = 'esdb' as const;
  private readonly client: EsdbClient;
  private readonly deadlineMs: number;
  private readonly pingDeadlineMs: number;
  private readonly maxAppendAttempts: number;
  private readonly secrets: readonly string[];
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Aborted on close(): ends subscriptions and reads that are not part of an append. */
  private readonly closeController = new AbortController();
  private readonly inFlightAppends = new Set<Promise<unknown>>();
  /** Tail of the per-stream append queue (appends to one stream from this process are serialised). */
  private readonly streamLocks = new Map<string, Promise<void>>();
  /** Heads this process wrote or read; a stale entry costs at most one WrongExpectedVersion round trip. */
  private readonly heads = new Map<string, Head>();
  /** headPosition() memo: the newest raw $all position scanned and the answer found then. */
  private headScan: { scannedTo: number; head: number } | undefined;

  constructor(client: EsdbClient, options: EsdbEventStoreOptions = {}) {
    this.client = client;
    this.deadlineMs = positiveInt(options.deadlineMs, 10_000, 'deadlineMs');
    this.pingDeadlineMs = positiveInt(options.pingDeadlineMs, Math.min(this.deadlineMs, 5000), 'pingDeadlineMs');
    this.maxAppendAttempts = positiveInt(options.maxAppendAttempts, 10, 'maxAppendAttempts');
    this.secrets = options.secrets ?? [];
  }

  private assertOpen(): void {
    if (this.closed) throw new LedgerError('store_closed', 'the event store is closed');
  }

  private translate(err: unknown, stream?: string): LedgerError {
    return translateEsdbError(err, { ...(stream !== undefined ? { stream } : {}), secrets: this.secrets });
  }

  // -------------------------------------------------------------------------------- appends

  appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    let request: AppendRequest;
    try {
      this.assertOpen();
      request = appendRequest(stream, events, options);
      assertNoReservedMetadata(events);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = this.withStreamLock(stream, () => this.appendPrepared(stream, request.prepared, request.expected));
    this.inFlightAppends.add(p);
    const forget = () => this.inFlightAppends.delete(p);
    p.then(forget, forget);
    return p;
  }

  private withStreamLock<T>(stream: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.streamLocks.get(stream) ?? Promise.resolve();
    const run = previous.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.streamLocks.set(stream, tail);
    void tail.then(() => {
      if (this.streamLocks.get(stream) === tail) this.streamLocks.delete(stream);
    });
    return run;
  }

  /** The head to compute hashes against: the cached one when it can be trusted for `expected`, else a fresh read. */
  private async headFor(stream: string, expected: ExpectedRevision, useCache: boolean): Promise<Head | null> {
    const cached = useCache ? this.heads.get(stream) : undefined;
    if (cached) {
      // Streams only grow: a cached head proves the stream exists and is at least that long. A
      // matching cached head may still be stale (another process); ESDB's exact expected revision
      // catches that. A mismatch is only trusted after a fresh read.
      if (expected === 'any' || expected === 'stream_exists' || expected === 'no_stream' || expected === cached.revision) return cached;
    }
    return this.readHead(stream);
  }

  private async appendPrepared(stream: string, prepared: PreparedEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const retryable = expected === 'any' || expected === 'stream_exists';
    let useCache = true;
    for (let attempt = 1; ; attempt++) {
      const head = await this.headFor(stream, expected, useCache);
      if (
        (expected === 'no_stream' && head !== null) ||
        (expected === 'stream_exists' && head === null) ||
        (typeof expected === 'number' && (head === null || head.revision !== expected))
      ) {
        throw new ConcurrencyError(stream, describeRevision(expected), head ? String(head.revision) : 'no_stream');
      }

      const base = head ? head.revision : -1;
      let prevHash = head ? head.hash : null;
      const hashes: string[] = [];
      const data = prepared.map((ev, i) => {
        const hash = chainHash(prevHash, canonicalEventText(stream, base + 1 + i, ev));
        prevHash = hash;
        hashes.push(hash);
        return encodeEvent(ev, hash);
      });
      const esdbExpected: AppendExpectedRevision = head ? BigInt(head.revision) : NO_STREAM;
      try {
        await withDeadline(this.client.appendToStream(stream, data, { expectedRevision: esdbExpected, deadline: this.deadlineMs }), this.deadlineMs, () =>
          unanswered(`an append to "${stream}"`, this.deadlineMs),
        );
      } catch (err) {
        this.heads.delete(stream);
        if (!isWrongExpectedVersion(err)) throw this.translate(err, stream);
        if (!retryable || attempt >= this.maxAppendAttempts) {
          const actual = describeVendorRevision((err as { actualVersion?: unknown }).actualVersion);
          throw withCause(new ConcurrencyError(stream, describeRevision(expected), actual), err);
        }
        useCache = false;
        await sleep(Math.floor(Math.random() * 5 * attempt));
        continue;
      }
      return this.confirmAppend(stream, prepared, base + 1, hashes);
    }
  }

  /** Reads the appended events back (their log positions are only known to the server) and checks them. */
  private async confirmAppend(stream: string, prepared: PreparedEvent[], firstRevision: number, hashes: string[]): Promise<AppendResult> {
    const stored = await this.readStreamRaw(stream, { backwards: false, fromRevision: firstRevision, maxCount: prepared.length });
    if (stored.length !== prepared.length) {
      throw new LedgerError(
        'store_unavailable',
        `EventStoreDB acknowledged an append to "${stream}" but returned ${stored.length} of ${prepared.length} events`,
      );
    }
    for (let i = 0; i < stored.length; i++) {
      const s = stored[i]!;
      if (s.id !== prepared[i]!.id || s.revision !== firstRevision + i) {
        throw new IntegrityError(s.position, `stream "${stream}" revision ${s.revision} is not the event just appended`, { stream });
      }
      if (s.hash !== hashes[i]) {
        // ESDB acknowledged idempotently: an event with this id was already stored at this revision.
        throw new LedgerError('invalid_event', `event ${i}: an event with this id is already stored`, { index: i });
      }
    }
    const last = stored[stored.length - 1]!;
    this.rememberHead(stream, { revision: last.revision, hash: last.hash });
    return {
      nextExpectedRevision: last.revision,
      firstPosition: stored[0]!.position,
      lastPosition: last.position,
      events: stored,
    };
  }

  private rememberHead(stream: string, head: Head): void {
    if (this.heads.size >= MAX_CACHED_HEADS) this.heads.clear();
    this.heads.set(stream, head);
  }

  private async readHead(stream: string): Promise<Head | null> {
    const [last] = await this.readStreamRaw(stream, { backwards: true, fromRevision: undefined, maxCount: 1 });
    if (!last) return null;
    const head = { revision: last.revision, hash: last.hash };
    this.rememberHead(stream, head);
    return head;
  }

  // -------------------------------------------------------------------------------- reads

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    return this.readStreamRaw(stream, readStreamRequest(stream, options), this.closeController.signal);
  }

  private async readStreamRaw(stream: string, request: ReadStreamRequest, signal?: AbortSignal): Promise<RecordedEvent[]> {
    const { backwards, fromRevision, maxCount } = request;
    let items: unknown[];
    try {
      items = await readToEnd(
        () =>
          this.client.readStream(stream, {
            direction: backwards ? BACKWARDS : FORWARDS,
            fromRevision: fromRevision !== undefined ? BigInt(fromRevision) : backwards ? END : START,
            maxCount: maxCount ?? Number.MAX_SAFE_INTEGER,
            resolveLinkTos: false,
          }),
        `a read of "${stream}"`,
        this.deadlineMs,
        signal,
      );
    } catch (err) {
      if (isStreamNotFound(err)) return [];
      throw this.translate(err, stream);
    }
    const out: RecordedEvent[] = [];
    for (const item of items) {
      const e = (item as AllStreamResolvedEvent).event;
      if (e) out.push(decodeRecordedEvent(e as EsdbRecordedEventLike));
    }
    return out;
  }

  async readAll(options: ReadAllOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    const { after, maxCount: max, filter } = readAllRequest(options);
    // Without a filter few records are dropped (the inclusive start, system events): read about what is asked for.
    const pageSize = filter ? READ_ALL_PAGE : Math.min(READ_ALL_PAGE, max + 1);
    const out: RecordedEvent[] = [];
    let from = after;
    for (;;) {
      const page = await this.readAllPage(from, pageSize, FORWARDS);
      let progressed = false;
      for (const e of page) {
        const position = toLedgerPosition(e.position);
        if (position === undefined || position <= from) continue; // the inclusive start
        from = position;
        progressed = true;
        if (isSystemEvent(e.streamId, e.type)) continue;
        const recorded = decodeRecordedEvent(e);
        if (!matchesFilter(recorded, filter)) continue;
        out.push(recorded);
        if (out.length >= max) return out;
      }
      if (page.length < pageSize || !progressed) return out;
    }
  }

  /** One page of raw $all records (system events included), forwards from `at` or backwards from `at` (exclusive). */
  private async readAllPage(
    at: number | 'end',
    count: number,
    direction: typeof FORWARDS | typeof BACKWARDS,
    deadlineMs = this.deadlineMs,
  ): Promise<EsdbRecordedEventLike[]> {
    const fromPosition: ReadPosition = at === 'end' ? END : toReadPosition(at);
    let items: unknown[];
    try {
      items = await readToEnd(
        () => this.client.readAll({ fromPosition, maxCount: count, direction, resolveLinkTos: false }),
        'a read of $all',
        deadlineMs,
        this.closeController.signal,
      );
    } catch (err) {
      throw this.translate(err);
    }
    const out: EsdbRecordedEventLike[] = [];
    for (const item of items) {
      const e = (item as AllStreamResolvedEvent).event;
      if (e) out.push(e as EsdbRecordedEventLike);
    }
    return out;
  }

  async headPosition(): Promise<number> {
    this.assertOpen();
    let at: number | 'end' = 'end';
    let newest: number | undefined;
    let found: number | undefined;
    const memo = this.headScan;
    scan: for (;;) {
      const page = await this.readAllPage(at, HEAD_SCAN_PAGE, BACKWARDS);
      let progressed = false;
      for (const e of page) {
        const position = toLedgerPosition(e.position);
        if (position === undefined) continue;
        if (at !== 'end' && position >= at) continue; // backwards reads exclude their start; be safe anyway
        progressed = true;
        newest ??= position;
        at = position;
        if (memo && position <= memo.scannedTo) {
          found = memo.head; // everything from here down was scanned before
          break scan;
        }
        if (!isSystemEvent(e.streamId, e.type)) {
          found = position;
          break scan;
        }
      }
      if (page.length < HEAD_SCAN_PAGE || !progressed) break;
    }
    const head = found ?? 0;
    if (newest !== undefined) this.headScan = { scannedTo: newest, head };
    return head;
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.readAllPage('end', 1, BACKWARDS, this.pingDeadlineMs);
  }

  // -------------------------------------------------------------------------------- subscriptions

  async *subscribeToAll(options: SubscribeOptions = {}): AsyncGenerator<readonly RecordedEvent[]> {
    this.assertOpen();
    const request = subscribeRequest(options);
    yield* subscribeToAll(
      { client: this.client, deadlineMs: this.deadlineMs, closeSignal: this.closeController.signal, translate: (err) => this.translate(err) },
      request,
    );
  }

  // -------------------------------------------------------------------------------- lifecycle

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closeController.abort();
    this.closing = (async () => {
      await Promise.allSettled([...this.inFlightAppends]);
      try {
        await this.client.dispose();
      } catch {
        /* nothing left to release */
      }
    })();
    return this.closing;
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`esdb store option ${name} must be a positive integer`);
  return value;
}

/** An EsdbEventStore on a new client for `connectionString`, without contacting the server. */
export function createEsdbEventStore(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
  const secrets = [...secretsOf(connectionString), ...(options.secrets ?? [])];
  return new EsdbEventStore(connect(connectionString, secrets), { ...options, secrets });
}

/**
 * Connects to EventStoreDB / KurrentDB (`esdb://host:2113?tls=false`, `esdb+discover://…`,
 * `kurrentdb://…`) and checks that it answers. Throws ConfigError for a malformed connection
 * string and store_unavailable when the server does not answer within the ping deadline; neither
 * message repeats the credentials.
 */
export async function openEsdbEventStore(connectionString: string, options: EsdbEventStoreOptions = {}): Promise<EsdbEventStore> {
  const store = createEsdbEventStore(connectionString, options);
  try {
    await store.ping();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
