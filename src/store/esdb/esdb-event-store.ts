/**
 * Event store on EventStoreDB / KurrentDB through `@eventstore/db-client` (SPEC §4). This is the
 * only module that imports the vendor client; every vendor error is translated here into a
 * LedgerError code, and vendor messages are redacted of the connection string's credentials.
 *
 * Same semantics as the sqlite adapter (test/store/contract.ts):
 *
 * - Hash chain. The hash of an event is computed here, exactly as the sqlite adapter does
 *   (`chainHash(prevHash, canonicalEventText(stream, revision, prepared))`), against the stream's
 *   head (last revision + hash), and stored in the ESDB event metadata under the reserved key
 *   `$sigledger` (see `wrapMetadata`); readers strip it so `RecordedEvent.metadata` is exactly
 *   what the caller appended. Every append is sent with the exact expected revision derived from
 *   that head, so ESDB itself refuses an append whose hash was computed against a stale head.
 *   Appends to one stream from this process run one after another (a per-stream lock), so only
 *   writers in other processes can make a head stale; then an `'any'` / `'stream_exists'` append
 *   re-reads the head and retries (bounded), while an exact revision or `'no_stream'` append
 *   fails with ConcurrencyError, as on sqlite.
 *
 * - Positions. `RecordedEvent.position` is the event's *prepare* position in the transaction
 *   log (a byte offset, hence unique per event, > 0 and a safe integer for any log below 8 PiB).
 *   Why prepare: an ESDB position is `{commit, prepare}`; for the implicitly committed writes
 *   that every gRPC append produces, the server gives each event of a multi-event append its own
 *   prepare record flagged `IsCommitted`, and reports commit = prepare = that record's log
 *   position (KurrentDB `AllReader.ReadAllEventsForward`: `new CommitEventRecord(eventRecord,
 *   prepare.LogPosition)`; `ResolvedEvent.CalculatePosition`: self-committed events get
 *   `TFPos(LogPosition, LogPosition)`; the storage writer flags every prepare of a `WritePrepares`
 *   with `IsCommitted`). Only legacy explicit TCP transactions share one commit position between
 *   events — and even there the prepare position stays unique — so prepare is the unique one in
 *   every case. $all is ordered by (commit, prepare) and appends are written contiguously, so
 *   prepare positions strictly increase in $all order.
 *   Resuming: `after = P` is read from `{commit: P, prepare: P}`, which is exactly the event's own
 *   $all position; forward $all reads are inclusive (`TFPos(...) >= pos`), so the adapter drops
 *   every event whose position is <= P, which makes `after` exclusive whether the server's start
 *   point is inclusive (reads) or exclusive (subscriptions).
 *
 * - System events ($-prefixed streams or types: stats, scavenges, settings, links) never appear
 *   in readAll, subscribeToAll or headPosition. readAll filters client-side (the 6.x client has
 *   no filtered $all read); subscriptions also filter on the server.
 *
 * - Every call is bounded by a deadline (`deadlineMs`, default 10 s): reads and the
 *   subscription's confirmation through a local timer that cancels the gRPC call, appends
 *   through the server-side deadline plus the same local timer. A timed-out append has an unknown
 *   outcome (it may have been written); it is reported as `store_unavailable`.
 */
import {
  END,
  EventStoreDBClient,
  FORWARDS,
  BACKWARDS,
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
} from '../port.ts';

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
  /** How many times an 'any' / 'stream_exists' append re-reads the head after losing a race. Default 10. */
  readonly maxAppendAttempts?: number;
  /** Strings never to repeat in an error message (the connection string's credentials). */
  readonly secrets?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Pure helpers (exported for unit tests).
// ---------------------------------------------------------------------------------------------

/** The reserved metadata key under which the adapter keeps its own per-event data. */
export const ESDB_METADATA_KEY = '$sigledger';
const ENVELOPE_VERSION = 1;
const HASH_RE = /^[0-9a-f]{64}$/;

interface Envelope {
  v: number;
  hash: string;
  /** The caller's own value under ESDB_METADATA_KEY, if the caller used that key. */
  shadow?: unknown;
}

/**
 * Builds the ESDB metadata object of an event: the caller's metadata (from its canonical JSON)
 * plus the adapter's envelope under the reserved key. A caller value under that key is kept in
 * the envelope and restored by `unwrapMetadata`, so every caller metadata round-trips.
 */
export function wrapMetadata(metadataJson: string, hash: string): Record<string, unknown> {
  const caller = JSON.parse(metadataJson) as Record<string, unknown>;
  const envelope: Envelope = { v: ENVELOPE_VERSION, hash };
  if (Object.hasOwn(caller, ESDB_METADATA_KEY)) {
    envelope.shadow = caller[ESDB_METADATA_KEY];
    delete caller[ESDB_METADATA_KEY];
  }
  return { [ESDB_METADATA_KEY]: envelope, ...caller };
}

/** Splits stored ESDB metadata into the caller's metadata and the chain hash; null when it is not ours. */
export function unwrapMetadata(raw: unknown): { metadata: EventMetadata; hash: string } | null {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) return null;
  const obj = raw as Record<string, unknown>;
  const envelope = obj[ESDB_METADATA_KEY] as Partial<Envelope> | undefined;
  if (typeof envelope !== 'object' || envelope === null || envelope.v !== ENVELOPE_VERSION) return null;
  if (typeof envelope.hash !== 'string' || !HASH_RE.test(envelope.hash)) return null;
  const metadata: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    if (key !== ESDB_METADATA_KEY) metadata[key] = obj[key];
  }
  if (Object.hasOwn(envelope, 'shadow')) metadata[ESDB_METADATA_KEY] = envelope.shadow;
  return { metadata: metadata as EventMetadata, hash: envelope.hash };
}

/**
 * The ledger position of an ESDB log position: its prepare position (see the module comment),
 * or null when the server did not report one (servers before 22.6 on stream reads report none;
 * 2^64-1 is the wire form of "unknown").
 */
export function toLedgerPosition(position: EsdbPosition | undefined): number | null {
  if (!position) return null;
  const prepare = position.prepare;
  if (typeof prepare !== 'bigint' || prepare < 0n || prepare > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(prepare);
}

/** Where to start a forward $all read or subscription so that `after` can be excluded client-side. */
export function toReadPosition(after: number): ReadPosition {
  assertPosition(after, 'after');
  if (after === 0) return START;
  const p = BigInt(after);
  return { commit: p, prepare: p };
}

/** ESDB system events: in a $-prefixed stream (stats, scavenges, settings, metadata) or of a $-type (links, …). */
export const isSystemEvent = (stream: string, type: string): boolean => stream.startsWith('$') || type.startsWith('$');

/**
 * Server-side subscription filter for an EventFilter. ESDB takes one filter, on stream names or
 * on event types; stream prefixes are the narrower and go to the server, event types then filter
 * client-side (`matchesFilter` always has the final word). With neither, system events are excluded.
 */
export function serverFilterFor(filter: EventFilter | undefined): Filter {
  const prefixes = filter?.streamPrefixes?.filter((p) => p.length > 0 && !p.startsWith('$'));
  if (prefixes && prefixes.length > 0 && prefixes.length === filter!.streamPrefixes!.length) {
    return streamNameFilter({ prefixes: [...prefixes] });
  }
  const types = filter?.types?.filter((t) => t.length > 0 && !t.startsWith('$'));
  if (types && types.length > 0 && types.length === filter!.types!.length) {
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

function integrity(position: number | null, message: string, details: Record<string, unknown>): LedgerError {
  return position === null
    ? new LedgerError('integrity_violation', `integrity violation: ${message}`, details)
    : new IntegrityError(position, message, details);
}

/** Converts a stored ESDB event into a RecordedEvent; throws integrity_violation for an event this adapter did not write. */
export function decodeRecordedEvent(e: EsdbRecordedEventLike): RecordedEvent {
  const position = toLedgerPosition(e.position);
  const where = { stream: e.streamId, revision: String(e.revision) };
  if (!e.isJson) throw integrity(position, `event ${e.id} in stream "${e.streamId}" is not a JSON event`, where);
  const envelope = unwrapMetadata(e.metadata);
  if (!envelope) {
    throw integrity(position, `event ${e.id} in stream "${e.streamId}" carries no ${ESDB_METADATA_KEY} chain metadata (not written by sigledger)`, where);
  }
  if (typeof e.revision !== 'bigint' || e.revision < 0n || e.revision > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw integrity(position, `event ${e.id} has an out-of-range revision`, where);
  }
  if (position === null || position <= 0) {
    throw new LedgerError(
      'store_unavailable',
      'EventStoreDB did not report the log position of an event (EventStoreDB 22.6 or later is required)',
      where,
    );
  }
  return {
    id: e.id.toLowerCase(),
    stream: e.streamId,
    revision: Number(e.revision),
    position,
    type: e.type,
    data: e.data as JsonValue,
    metadata: envelope.metadata,
    hash: envelope.hash,
  };
}

/** Replaces every secret in a vendor message, and any URL userinfo, then truncates it. */
export function redact(message: string, secrets: readonly string[] = []): string {
  let out = message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/\s]*@/gi, '$1***@');
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out.length > 200 ? `${out.slice(0, 200)}…` : out;
}

const describeVendorRevision = (r: unknown): string =>
  typeof r === 'bigint' ? r.toString() : typeof r === 'string' ? r : typeof r === 'number' ? String(r) : 'unknown';

/**
 * Translates anything the vendor client throws into a LedgerError. Never returns a vendor type,
 * never attaches the vendor error as `cause`, and redacts messages.
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
  switch (type) {
    case 'wrong-expected-version':
      return new ConcurrencyError(stream, describeVendorRevision(e.expectedVersion), describeVendorRevision(e.actualVersion));
    case 'stream-deleted':
      return new LedgerError('invalid_stream_name', `stream "${stream}" was deleted in EventStoreDB and cannot be used`, details);
    case 'maximum-append-size-exceeded':
      return new LedgerError(
        'invalid_event',
        `the append exceeds EventStoreDB's maximum append size${typeof e.maxAppendSize === 'number' ? ` of ${e.maxAppendSize} bytes` : ''}`,
        details,
      );
    case 'stream-not-found':
      return new LedgerError('not_found', `stream "${stream}" not found`, details);
    case 'access-denied':
      return new LedgerError('store_unavailable', 'EventStoreDB denied access (check the credentials of the connection string)', details);
    case 'invalid-argument':
      return new LedgerError('internal', `EventStoreDB client refused an argument: ${vendorMessage}`, details);
    case 'timeout':
    case 'deadline-exceeded':
      return new LedgerError('store_unavailable', 'EventStoreDB did not answer before the deadline', details);
    case 'unavailable':
    case 'cancelled':
    case 'not-leader':
    case 'unknown':
    default:
      return new LedgerError('store_unavailable', `EventStoreDB unavailable (${type ?? (grpcCode !== undefined ? `grpc ${grpcCode}` : 'error')}): ${vendorMessage}`, details);
  }
}

const isStreamNotFound = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { type?: unknown }).type === 'stream-not-found';
const isWrongExpectedVersion = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && (err as { type?: unknown }).type === 'wrong-expected-version';

/** The credentials of a connection string (user, password, both), to keep them out of messages. */
export function secretsOf(connectionString: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/?#]*)@/i.exec(connectionString);
  if (!m || !m[1]) return [];
  const userinfo = m[1];
  const out = new Set<string>([userinfo]);
  const colon = userinfo.indexOf(':');
  if (colon >= 0) {
    const password = userinfo.slice(colon + 1);
    if (password) {
      out.add(password);
      try {
        out.add(decodeURIComponent(password));
      } catch {
        /* not percent-encoded */
      }
    }
  }
  return [...out].filter((s) => s.length > 0);
}

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
  /** Heads this process wrote or read; a stale entry only costs one WrongExpectedVersion round trip. */
  private readonly heads = new Map<string, Head>();
  /** headPosition() memo: the newest raw $all position scanned and the answer found then. */
  private headScan: { scannedTo: number; head: number } | undefined;

  constructor(client: EsdbClient, options: EsdbEventStoreOptions = {}) {
    this.client = client;
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.pingDeadlineMs = options.pingDeadlineMs ?? Math.min(this.deadlineMs, 5000);
    this.maxAppendAttempts = options.maxAppendAttempts ?? 10;
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

  private async appendPrepared(stream: string, prepared: PreparedEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const retryable = expected === 'any' || expected === 'stream_exists';
    let useCache = true;
    for (let attempt = 1; ; attempt++) {
      let head = useCache ? (this.heads.get(stream) ?? null) : null;
      if (head === null || (typeof expected === 'number' && head.revision !== expected) || expected === 'stream_exists') {
        // A cached head proves the stream exists (streams are append-only), but a mismatch or a
        // miss is only trusted after a fresh read.
        if (!(expected === 'stream_exists' && head !== null)) head = await this.readHead(stream);
      }
      const actual = head ? String(head.revision) : 'no_stream';
      if (
        (expected === 'no_stream' && head !== null) ||
        (expected === 'stream_exists' && head === null) ||
        (typeof expected === 'number' && (head === null || head.revision !== expected))
      ) {
        throw new ConcurrencyError(stream, describeRevision(expected), actual);
      }

      const base = head ? head.revision : -1;
      let prevHash = head ? head.hash : null;
      const hashes: string[] = [];
      const data: EventData[] = prepared.map((ev, i) => {
        const hash = chainHash(prevHash, canonicalEventText(stream, base + 1 + i, ev));
        prevHash = hash;
        hashes.push(hash);
        return {
          id: ev.id,
          contentType: 'application/json',
          type: ev.type,
          data: JSON.parse(ev.dataJson) as Record<string, unknown>,
          metadata: wrapMetadata(ev.metadataJson, hash),
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
        if (isWrongExpectedVersion(err)) {
          const current = describeVendorRevision((err as { actualVersion?: unknown }).actualVersion);
          if (!retryable || attempt >= this.maxAppendAttempts) {
            throw new ConcurrencyError(stream, describeRevision(expected), current);
          }
          useCache = false;
          await sleep(Math.floor(Math.random() * 5 * attempt));
          continue;
        }
        throw this.translate(err, stream);
      }
      return this.confirmAppend(stream, prepared, base + 1, hashes);
    }
  }

  /** Reads the appended events back (their log positions are only known to the server) and checks them. */
  private async confirmAppend(stream: string, prepared: PreparedEvent[], firstRevision: number, hashes: string[]): Promise<AppendResult> {
    const stored = await this.readStreamRaw(stream, { fromRevision: firstRevision, maxCount: prepared.length, direction: 'forwards' });
    if (stored.length !== prepared.length) {
      throw new LedgerError('store_unavailable', `EventStoreDB acknowledged an append to "${stream}" but returned ${stored.length} of ${prepared.length} events`);
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
    const out: RecordedEvent[] = [];
    let from = after;
    for (;;) {
      const page = await this.readAllPage(from, READ_ALL_PAGE, FORWARDS);
      let progressed = false;
      for (const e of page) {
        const position = toLedgerPosition(e.position);
        if (position === null || position <= from) continue; // the inclusive start, or a position-less record
        from = position;
        progressed = true;
        if (isSystemEvent(e.streamId, e.type)) continue;
        const recorded = decodeRecordedEvent(e);
        if (!matchesFilter(recorded, filter)) continue;
        out.push(recorded);
        if (out.length >= max) return out;
      }
      if (page.length < READ_ALL_PAGE || !progressed) return out;
    }
  }

  /** One page of $all (raw records: system events included), forwards from `after` or backwards from `before`. */
  private async readAllPage(at: number | 'end', count: number, direction: typeof FORWARDS | typeof BACKWARDS, deadlineMs = this.deadlineMs): Promise<EsdbRecordedEventLike[]> {
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
      for (const e of page) {
        const position = toLedgerPosition(e.position);
        if (position === null) continue;
        if (at !== 'end' && position >= at) continue; // backwards reads exclude their start; be safe anyway
        newest ??= position;
        at = position;
        if (memo && position <= memo.scannedTo) {
          found = memo.head;
          break scan;
        }
        if (!isSystemEvent(e.streamId, e.type)) {
          found = position;
          break scan;
        }
      }
      if (page.length < HEAD_SCAN_PAGE) break;
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
        if (position === null || position <= last) return;
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
        await subscription.unsubscribe();
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

  /** Races a vendor promise against the deadline. */
  private bounded<T>(promise: Promise<T>, what: string, ms = this.deadlineMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LedgerError('store_unavailable', `EventStoreDB did not answer ${what} within ${ms} ms (its outcome is unknown)`)), ms);
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

/**
 * Connects to EventStoreDB / KurrentDB (`esdb://host:2113?tls=false`, `esdb+discover://…`) and
 * checks that it answers. Throws ConfigError for a malformed connection string and
 * store_unavailable when the server does not answer; neither message repeats the credentials.
 */
export async function openEsdbEventStore(connectionString: string, options: EsdbEventStoreOptions = {}): Promise<EsdbEventStore> {
  const secrets = [...secretsOf(connectionString), ...(options.secrets ?? [])];
  let client: EventStoreDBClient;
  try {
    client = EventStoreDBClient.connectionString(connectionString);
  } catch (err) {
    const reason = redact(err instanceof Error ? err.message : 'unparseable', [...secrets, connectionString]);
    throw new ConfigError(`SIGLEDGER_ESDB_URL is not a valid EventStoreDB connection string (${reason})`);
  }
  const store = new EsdbEventStore(client as unknown as EsdbClient, { ...options, secrets });
  try {
    await store.ping();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
