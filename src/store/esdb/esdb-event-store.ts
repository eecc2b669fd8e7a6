/**
 * Event store on EventStoreDB / KurrentDB through `@eventstore/db-client` v6 (SPEC §4). This is
 * the only module that imports the vendor client. Every vendor error is translated here into a
 * LedgerError code (the vendor error stays reachable as `cause`), and no message repeats the
 * credentials of the connection string.
 *
 * Same semantics as the sqlite adapter (test/store/contract.ts):
 *
 * - Validation first. Stream name, expected revision and events are checked exactly as on sqlite
 *   (`assertStreamName`, `assertExpectedRevision`, `prepareEvents`), plus one esdb-only rule: the
 *   metadata key namespace `$sigledger` is reserved (below). Bad input rejects with the same
 *   LedgerError codes before any network call; nothing is written.
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
 */
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  eventTypeFilter,
  excludeSystemEvents,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type AppendResult as EsdbAppendResult,
  type AppendToStreamOptions,
  type EventData,
  type Filter,
  type Position as EsdbPosition,
  type ReadAllOptions as EsdbReadAllOptions,
  type ReadPosition,
  type ReadStreamOptions as EsdbReadStreamOptions,
  type SubscribeToAllOptions,
} from '@eventstore/db-client';
import type { Readable } from 'node:stream';
import { ConcurrencyError, ConfigError, IntegrityError, LedgerError } from '../../errors.ts';
import { canonicalEventText, chainHash, prepareEvents, type PreparedEvent } from '../chain.ts';
import {
  assertExpectedRevision,
  assertMaxCount,
  assertPosition,
  assertStreamName,
  describeRevision,
  matchesFilter,
  type AppendOptions,
  type AppendResult,
  type EventFilter,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type JsonValue,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type SubscribeOptions,
} from '../event-store.ts';

// ---------------------------------------------------------------------------------------------
// The part of the vendor client the adapter uses (the real client satisfies it; tests pass fakes).
// ---------------------------------------------------------------------------------------------

/** A finite gRPC read (readStream / readAll): an object-mode Readable that can be cancelled. */
export type EsdbStreamingRead = Readable & { cancel(): Promise<void> };
/** A catch-up subscription: an object-mode Readable that can be unsubscribed. */
export type EsdbSubscription = Readable & { unsubscribe(): Promise<void> };

export interface EsdbClient {
  appendToStream(stream: string, events: EventData[], options: AppendToStreamOptions): Promise<EsdbAppendResult>;
  readStream(stream: string, options: EsdbReadStreamOptions): EsdbStreamingRead;
  readAll(options: EsdbReadAllOptions): EsdbStreamingRead;
  subscribeToAll(options: SubscribeToAllOptions): EsdbSubscription;
  dispose(): Promise<void>;
}

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

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests).
// ---------------------------------------------------------------------------------------------

/** Metadata keys starting with this are the adapter's own; callers may not use them. */
export const RESERVED_METADATA_PREFIX = '$sigledger';
/** The ESDB metadata key holding an event's chain hash. */
export const CHAIN_HASH_METADATA_KEY = `${RESERVED_METADATA_PREFIX}.hash`;
const HASH_RE = /^[0-9a-f]{64}$/;
/** 2^64 - 1: the wire form of "no position" in ESDB. */
const NO_POSITION = 0xffff_ffff_ffff_ffffn;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Refuses caller metadata that uses the reserved key namespace (`invalid_event`, before anything is sent). */
export function assertNoReservedMetadata(events: readonly NewEvent[]): void {
  events.forEach((e, index) => {
    for (const key of Object.keys(e.metadata)) {
      if (key.startsWith(RESERVED_METADATA_PREFIX)) {
        const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
        throw new LedgerError(
          'invalid_event',
          `event ${index}: metadata key "${shown}" is reserved (keys starting with "${RESERVED_METADATA_PREFIX}" belong to the esdb store)`,
          { index },
        );
      }
    }
  });
}

/** The ESDB metadata of an event: the caller's metadata (from its canonical JSON) plus the chain hash. */
export function withChainHash(metadataJson: string, hash: string): Record<string, JsonValue> {
  if (!HASH_RE.test(hash)) throw new LedgerError('internal', 'chain hash must be 64 lowercase hex characters');
  const metadata = JSON.parse(metadataJson) as Record<string, JsonValue>;
  if (Object.keys(metadata).some((k) => k.startsWith(RESERVED_METADATA_PREFIX))) {
    throw new LedgerError('invalid_event', `metadata keys starting with "${RESERVED_METADATA_PREFIX}" are reserved`);
  }
  metadata[CHAIN_HASH_METADATA_KEY] = hash;
  return metadata;
}

/** Splits stored ESDB metadata into the caller's metadata and the chain hash; null when it carries no valid hash. */
export function splitChainHash(raw: unknown): { metadata: EventMetadata; hash: string } | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) return null;
  const hash = (raw as Record<string, unknown>)[CHAIN_HASH_METADATA_KEY];
  if (typeof hash !== 'string' || !HASH_RE.test(hash)) return null;
  // Object.fromEntries defines own data properties, so a caller key "__proto__" stays a plain key.
  const metadata = Object.fromEntries(Object.entries(raw).filter(([k]) => k !== CHAIN_HASH_METADATA_KEY));
  return { metadata: metadata as EventMetadata, hash };
}

/** A vendor bigint (revision, log position) as a number; `integrity_violation` unless it is a non-negative safe integer. */
export function toSafeNumber(value: unknown, what: string): number {
  if (typeof value === 'bigint' && value >= 0n && value <= MAX_SAFE) return Number(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const shown = typeof value === 'bigint' || typeof value === 'number' ? String(value) : typeof value;
  throw new LedgerError('integrity_violation', `EventStoreDB reported ${what} ${shown}, which is not a non-negative safe integer`);
}

/**
 * The ledger position of an ESDB log position: its prepare position (see the module comment).
 * `undefined` when the server reported none (servers before 22.6 on stream reads).
 */
export function toLedgerPosition(position: EsdbPosition | undefined): number | undefined {
  if (!position || position.prepare === NO_POSITION) return undefined;
  return toSafeNumber(position.prepare, 'a log position');
}

/** Where a forward $all read or subscription starts so that `after` can be excluded client side. */
export function toReadPosition(after: number): ReadPosition {
  assertPosition(after, 'after');
  if (after === 0) return START;
  const p = BigInt(after);
  return { commit: p, prepare: p };
}

/** ESDB system events: in a `$`-prefixed stream (stats, scavenges, settings, metadata) or of a `$`-type (links, …). */
export const isSystemEvent = (stream: string, type: string): boolean => stream.startsWith('$') || type.startsWith('$');

/**
 * Server-side subscription filter for an EventFilter. ESDB takes one filter, on stream names or
 * on event types, by prefix; stream prefixes are the narrower and go to the server, types then
 * filter client side (`matchesFilter` always has the final word, so prefix over-matching of types
 * is harmless). Without either, system events are excluded on the server.
 */
export function serverFilterFor(filter: EventFilter | undefined): Filter {
  const prefixes = filter?.streamPrefixes;
  if (prefixes && prefixes.length > 0 && prefixes.every((p) => p.length > 0 && !p.startsWith('$'))) {
    return streamNameFilter({ prefixes: [...prefixes] });
  }
  const types = filter?.types;
  if (types && types.length > 0 && types.every((t) => t.length > 0 && !t.startsWith('$'))) {
    return eventTypeFilter({ prefixes: [...types] });
  }
  return excludeSystemEvents();
}

/** The vendor's recorded event, as far as the adapter reads it. */
export interface EsdbRecordedEventLike {
  readonly streamId: string;
  readonly id: string;
  readonly revision: bigint;
  readonly type: string;
  readonly isJson: boolean;
  readonly data: unknown;
  readonly metadata?: unknown;
  readonly position?: EsdbPosition;
}

/** Converts a stored ESDB event into a RecordedEvent; `integrity_violation` for an event this adapter did not write. */
export function decodeRecordedEvent(e: EsdbRecordedEventLike): RecordedEvent {
  const position = toLedgerPosition(e.position);
  const where = { stream: e.streamId, revision: String(e.revision) };
  const fail = (message: string): LedgerError =>
    position !== undefined && position > 0
      ? new IntegrityError(position, message, where)
      : new LedgerError('integrity_violation', `integrity violation: ${message}`, where);
  if (!e.isJson) throw fail(`event ${e.id} in stream "${e.streamId}" is not a JSON event`);
  const split = splitChainHash(e.metadata);
  if (!split) throw fail(`event ${e.id} in stream "${e.streamId}" has no ${CHAIN_HASH_METADATA_KEY} metadata (not written by sigledger)`);
  const revision = toSafeNumber(e.revision, 'a stream revision');
  if (position === undefined) {
    throw new LedgerError('store_unavailable', 'EventStoreDB did not report the log position of an event (EventStoreDB 22.6 or later is required)', where);
  }
  if (position <= 0) throw fail('log position 0');
  return {
    id: e.id.toLowerCase(),
    stream: e.streamId,
    revision,
    position,
    type: e.type,
    data: e.data as JsonValue,
    metadata: split.metadata,
    hash: split.hash,
  };
}

/** Replaces every secret, and any URL userinfo, in a vendor message; then truncates it. */
export function redact(message: string, secrets: readonly string[] = [], maxLength = 200): string {
  let out = message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi, '$1***@');
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out.length > maxLength ? `${out.slice(0, maxLength)}…` : out;
}

/** The credentials of a connection string (userinfo, user, password, decoded forms), to keep them out of messages. */
export function secretsOf(connectionString: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(connectionString);
  if (!m || !m[1]) return [];
  const userinfo = m[1];
  const out = new Set<string>([userinfo]);
  const colon = userinfo.indexOf(':');
  const password = colon >= 0 ? userinfo.slice(colon + 1) : '';
  if (password) {
    out.add(password);
    try {
      out.add(decodeURIComponent(password));
    } catch {
      /* not percent-encoded */
    }
  }
  // Longest first, so a password inside the userinfo is never half-replaced.
  return [...out].filter((s) => s.length > 0).sort((a, b) => b.length - a.length);
}

/**
 * `kurrentdb://`, `kdb://` (and their `+discover` forms) speak the same gRPC protocol; the v6
 * client only parses `esdb://` / `esdb+discover://`, so the scheme is rewritten.
 */
export function normalizeConnectionString(connectionString: string): string {
  return connectionString.replace(/^(?:kurrentdb|kdb)(\+discover)?:\/\//i, (_m, discover: string | undefined) => `esdb${discover ?? ''}://`);
}

const describeVendorRevision = (r: unknown): string =>
  typeof r === 'bigint' ? r.toString() : typeof r === 'string' ? r.replace(/-/g, '_') : typeof r === 'number' ? String(r) : 'unknown';

const withCause = <E extends LedgerError>(error: E, cause: unknown): E => {
  if (cause !== undefined && cause !== error) error.cause = cause;
  return error;
};

/**
 * Translates anything the vendor client throws into a LedgerError (a LedgerError passes
 * unchanged). The vendor error is kept as `cause`; messages are redacted of `secrets` and URL
 * userinfo.
 */
export function translateEsdbError(err: unknown, context: { stream?: string; secrets?: readonly string[] } = {}): LedgerError {
  if (err instanceof LedgerError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as {
    type?: unknown;
    code?: unknown;
    message?: unknown;
    streamName?: unknown;
    expectedVersion?: unknown;
    actualVersion?: unknown;
    maxAppendSize?: unknown;
  };
  const type = typeof e.type === 'string' ? e.type : undefined;
  const grpcCode = typeof e.code === 'number' ? e.code : undefined;
  const stream = typeof e.streamName === 'string' && e.streamName.length > 0 ? e.streamName : (context.stream ?? '');
  const vendorMessage = redact(typeof e.message === 'string' ? e.message : String(err), context.secrets);
  const details = { vendor: type ?? 'error', ...(grpcCode !== undefined ? { grpcCode } : {}) };
  const error = (code: LedgerError['code'], message: string) => withCause(new LedgerError(code, message, details), err);
  switch (type) {
    case 'wrong-expected-version':
      return withCause(new ConcurrencyError(stream, describeVendorRevision(e.expectedVersion), describeVendorRevision(e.actualVersion)), err);
    case 'stream-deleted':
      return error('invalid_stream_name', `stream "${stream}" was deleted in EventStoreDB and cannot be used`);
    case 'maximum-append-size-exceeded':
      return error(
        'invalid_event',
        `the append exceeds EventStoreDB's maximum append size${typeof e.maxAppendSize === 'number' ? ` of ${e.maxAppendSize} bytes` : ''}`,
      );
    case 'stream-not-found':
      return error('not_found', `stream "${stream}" not found`);
    case 'access-denied':
      return error('store_unavailable', 'EventStoreDB denied access (check the credentials of the connection string)');
    case 'not-leader':
      return error('store_unavailable', 'EventStoreDB node is not the leader (use esdb+discover:// or point at the leader)');
    case 'timeout':
    case 'deadline-exceeded':
      return error('store_unavailable', 'EventStoreDB did not answer before the deadline');
    case 'invalid-argument':
      return error('internal', `EventStoreDB refused an argument: ${vendorMessage}`);
    default:
      // unavailable, cancelled, unknown, a gRPC status without a type, or anything else.
      return error('store_unavailable', `EventStoreDB unavailable (${type ?? (grpcCode !== undefined ? `grpc ${grpcCode}` : 'error')}): ${vendorMessage}`);
  }
}

const vendorType = (err: unknown): unknown => (typeof err === 'object' && err !== null ? (err as { type?: unknown }).type : undefined);
const isStreamNotFound = (err: unknown): boolean => vendorType(err) === 'stream-not-found';
const isWrongExpectedVersion = (err: unknown): boolean => vendorType(err) === 'wrong-expected-version';

// ---------------------------------------------------------------------------------------------
// The adapter.
// ---------------------------------------------------------------------------------------------

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
    let prepared: PreparedEvent[];
    let expected: ExpectedRevision;
    try {
      this.assertOpen();
      assertStreamName(stream);
      const given = options?.expectedRevision;
      assertExpectedRevision(given);
      expected = given === undefined ? 'any' : given;
      prepared = prepareEvents(events);
      assertNoReservedMetadata(events);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = this.withStreamLock(stream, () => this.appendPrepared(stream, prepared, expected));
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
      const data = prepared.map((ev, i): EventData => {
        const hash = chainHash(prevHash, canonicalEventText(stream, base + 1 + i, ev));
        prevHash = hash;
        hashes.push(hash);
        return {
          id: ev.id,
          contentType: 'application/json',
          type: ev.type,
          data: JSON.parse(ev.dataJson) as JsonValue,
          metadata: withChainHash(ev.metadataJson, hash),
        } as EventData;
      });
      const esdbExpected: AppendExpectedRevision = head ? BigInt(head.revision) : NO_STREAM;
      try {
        await this.bounded(
          this.client.appendToStream(stream, data, { expectedRevision: esdbExpected, deadline: this.deadlineMs }),
          `an append to "${stream}"`,
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
    const stored = await this.readStreamRaw(stream, { fromRevision: firstRevision, maxCount: prepared.length, direction: 'forwards' });
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
    const [last] = await this.readStreamRaw(stream, { direction: 'backwards', maxCount: 1 });
    if (!last) return null;
    const head = { revision: last.revision, hash: last.hash };
    this.rememberHead(stream, head);
    return head;
  }

  // -------------------------------------------------------------------------------- reads

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<RecordedEvent[]> {
    this.assertOpen();
    assertStreamName(stream);
    assertMaxCount(options.maxCount);
    if (options.direction !== undefined && options.direction !== 'forwards' && options.direction !== 'backwards') {
      throw new LedgerError('invalid_position', 'direction must be "forwards" or "backwards"');
    }
    if (options.fromRevision !== undefined) assertPosition(options.fromRevision, 'fromRevision');
    return this.readStreamRaw(stream, options, this.closeController.signal);
  }

  private async readStreamRaw(stream: string, options: ReadStreamOptions, signal?: AbortSignal): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards';
    let items: unknown[];
    try {
      items = await this.collect(
        () =>
          this.client.readStream(stream, {
            direction: backwards ? BACKWARDS : FORWARDS,
            fromRevision: options.fromRevision !== undefined ? BigInt(options.fromRevision) : backwards ? END : START,
            maxCount: options.maxCount ?? Number.MAX_SAFE_INTEGER,
            resolveLinkTos: false,
          }),
        `a read of "${stream}"`,
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
    const after = options.after ?? 0;
    assertPosition(after, 'after');
    assertMaxCount(options.maxCount);
    const max = options.maxCount ?? 1000;
    const { filter } = options;
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
      items = await this.collect(
        () => this.client.readAll({ fromPosition, maxCount: count, direction, resolveLinkTos: false }),
        'a read of $all',
        this.closeController.signal,
        deadlineMs,
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
    let last = options.after ?? 0;
    assertPosition(last, 'after');
    const batchSize = options.batchSize ?? 500;
    assertMaxCount(batchSize);
    const { signal, filter } = options;
    if (signal?.aborted) return;

    const closeSignal = this.closeController.signal;
    const highWater = Math.max(batchSize * 4, 1024);
    const queue: RecordedEvent[] = [];
    let failure: LedgerError | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };

    let subscription: EsdbSubscription;
    try {
      subscription = this.client.subscribeToAll({
        fromPosition: toReadPosition(last),
        resolveLinkTos: false,
        filter: serverFilterFor(filter),
      });
    } catch (err) {
      throw this.translate(err);
    }
    let confirmed = false;
    const confirmTimer = setTimeout(() => {
      if (!confirmed) {
        failure ??= new LedgerError('store_unavailable', `EventStoreDB did not confirm the subscription within ${this.deadlineMs} ms`);
        notify();
      }
    }, this.deadlineMs);
    const onConfirmed = () => {
      confirmed = true;
      clearTimeout(confirmTimer);
    };
    subscription.on('confirmation', onConfirmed);
    subscription.on('data', (item: AllStreamResolvedEvent) => {
      onConfirmed();
      if (failure) return;
      const e = item.event as EsdbRecordedEventLike | undefined;
      if (!e) return;
      try {
        const position = toLedgerPosition(e.position);
        if (position === undefined || position <= last) return; // at or before `after` / already delivered
        last = position;
        if (isSystemEvent(e.streamId, e.type)) return;
        const recorded = decodeRecordedEvent(e);
        if (!matchesFilter(recorded, filter)) return;
        queue.push(recorded);
        if (queue.length >= highWater) subscription.pause();
      } catch (err) {
        failure = this.translate(err);
      }
      notify();
    });
    subscription.on('error', (err: unknown) => {
      failure ??= this.translate(err);
      notify();
    });
    subscription.on('end', () => {
      ended = true;
      notify();
    });
    signal?.addEventListener('abort', notify);
    closeSignal.addEventListener('abort', notify);

    try {
      for (;;) {
        if (signal?.aborted || closeSignal.aborted) return;
        if (queue.length > 0) {
          const batch = queue.splice(0, batchSize);
          if (subscription.isPaused() && queue.length < highWater / 2) subscription.resume();
          yield batch;
          continue;
        }
        if (failure) throw failure;
        if (ended) throw new LedgerError('store_unavailable', 'EventStoreDB ended the subscription');
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      clearTimeout(confirmTimer);
      signal?.removeEventListener('abort', notify);
      closeSignal.removeEventListener('abort', notify);
      try {
        await this.bounded(subscription.unsubscribe(), 'an unsubscribe');
      } catch {
        /* the call is already gone */
      }
      subscription.destroy();
    }
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

  // -------------------------------------------------------------------------------- plumbing

  /** Races a vendor promise against the deadline (the vendor promise keeps its own outcome). */
  private bounded<T>(promise: Promise<T>, what: string, ms = this.deadlineMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LedgerError('store_unavailable', `EventStoreDB did not answer ${what} within ${ms} ms (its outcome is unknown)`)),
        ms,
      );
      promise.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /**
   * Collects a finite read. Rejects with the raw vendor error (the caller translates it), with
   * store_unavailable at the deadline, or store_closed when `signal` aborts; the gRPC call is
   * cancelled in both latter cases.
   */
  private collect(open: () => EsdbStreamingRead, what: string, signal?: AbortSignal, ms = this.deadlineMs): Promise<unknown[]> {
    return new Promise<unknown[]>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new LedgerError('store_closed', 'the event store is closed'));
        return;
      }
      let stream: EsdbStreamingRead;
      try {
        stream = open();
      } catch (err) {
        reject(err);
        return;
      }
      const items: unknown[] = [];
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined) {
          resolve(items);
          return;
        }
        stream.cancel().catch(() => undefined);
        stream.destroy();
        reject(err);
      };
      const onAbort = () => finish(new LedgerError('store_closed', 'the event store is closed'));
      const timer = setTimeout(() => finish(new LedgerError('store_unavailable', `EventStoreDB did not answer ${what} within ${ms} ms`)), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (item: unknown) => {
        if (!settled) items.push(item);
      });
      stream.on('error', (err: unknown) => finish(err ?? new Error('read failed')));
      stream.on('end', () => finish());
    });
  }
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`esdb store option ${name} must be a positive integer`);
  return value;
}

/**
 * Builds the vendor client without contacting the server (the client connects lazily). The
 * scheme is normalised (`kurrentdb://` → `esdb://`); a malformed string throws ConfigError whose
 * message repeats neither the string nor its credentials. The parse error is deliberately not
 * kept as `cause`: the vendor stores the whole connection string on it. The client's own parse
 * warnings (printed with console.warn) are redacted the same way.
 */
function connect(connectionString: string, secrets: readonly string[]): EventStoreDBClient {
  const normalized = normalizeConnectionString(connectionString);
  const hide = [...secrets, connectionString, normalized];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warn(...args.map((a) => (typeof a === 'string' ? redact(a, secrets, Number.POSITIVE_INFINITY) : a)));
  try {
    return EventStoreDBClient.connectionString(normalized);
  } catch (err) {
    const reason = redact(err instanceof Error ? err.message : 'unparseable', hide);
    throw new ConfigError(`SIGLEDGER_ESDB_URL is not a valid EventStoreDB connection string (${reason})`);
  } finally {
    console.warn = warn;
  }
}

/** An EsdbEventStore on a new client for `connectionString`, without contacting the server. */
export function createEsdbEventStore(connectionString: string, options: EsdbEventStoreOptions = {}): EsdbEventStore {
  const secrets = [...secretsOf(connectionString), ...(options.secrets ?? [])];
  const client = connect(connectionString, secrets);
  return new EsdbEventStore(client as unknown as EsdbClient, { ...options, secrets });
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
