/**
 * The event store port (SPEC §4). Both adapters (`sqlite`, `esdb`) implement it and pass the
 * shared contract suite in test/store/contract.ts. Adapters are the only modules that import a
 * vendor client; they translate vendor errors into LedgerError codes.
 */
import type { JsonValue } from '../json.ts';
import { LedgerError } from '../errors.ts';

export type { JsonObject, JsonPrimitive, JsonValue } from '../json.ts';

/** Metadata every stored event carries. `time` is RFC 3339 UTC, supplied by the caller (no clock in the domain). */
export interface EventMetadata {
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly actor?: string;
  readonly time: string;
  readonly [key: string]: JsonValue | undefined;
}

export interface NewEvent {
  /** Optional caller-chosen id (UUID); the adapter generates one when absent. */
  readonly id?: string;
  readonly type: string;
  readonly data: JsonValue;
  readonly metadata: EventMetadata;
}

export interface RecordedEvent {
  readonly id: string;
  readonly stream: string;
  /** 0-based revision of the event within its stream. */
  readonly revision: number;
  /** Global position in commit order: strictly increasing, unique per event, > 0. */
  readonly position: number;
  readonly type: string;
  readonly data: JsonValue;
  readonly metadata: EventMetadata;
  /** Lowercase hex SHA-256 chaining this event to the previous one in its stream (see chain.ts). */
  readonly hash: string;
}

/**
 * - `'any'`: no concurrency check.
 * - `'no_stream'`: the stream must not exist yet.
 * - `'stream_exists'`: the stream must have at least one event.
 * - a number: the revision of the stream's last event must be exactly this.
 */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

export interface AppendOptions {
  readonly expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** Revision of the last event appended (pass it as the next expected revision). */
  readonly nextExpectedRevision: number;
  /** Global position of the first and last appended events. */
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly events: readonly RecordedEvent[];
}

export type Direction = 'forwards' | 'backwards';

export interface ReadStreamOptions {
  readonly direction?: Direction;
  /** Inclusive start revision; default the first (forwards) or last (backwards) event. */
  readonly fromRevision?: number;
  readonly maxCount?: number;
}

export interface EventFilter {
  /** Only events whose type is one of these. */
  readonly types?: readonly string[];
  /** Only events whose stream starts with one of these prefixes. */
  readonly streamPrefixes?: readonly string[];
}

export interface ReadAllOptions {
  /** Exclusive: return events with position > after. Default 0 (from the beginning). */
  readonly after?: number;
  readonly maxCount?: number;
  readonly filter?: EventFilter;
}

export interface SubscribeOptions {
  readonly after?: number;
  readonly filter?: EventFilter;
  /** Upper bound on events per yielded batch. */
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
}

export interface EventStore {
  readonly kind: 'sqlite' | 'esdb';
  /** Atomically appends all events (all or none) after checking the expected revision. Resolves once durable. */
  appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** Events of one stream; an unknown stream reads as empty. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  /** Events of all streams in commit order. */
  readAll(options?: ReadAllOptions): Promise<RecordedEvent[]>;
  /**
   * Catch-up then live subscription to all streams. Yields non-empty batches in commit order and
   * ends when `signal` aborts or the store closes.
   */
  subscribeToAll(options?: SubscribeOptions): AsyncIterable<readonly RecordedEvent[]>;
  /** Position of the last committed event (0 when empty). */
  headPosition(): Promise<number>;
  /** Throws `store_unavailable` when the store cannot be reached. */
  ping(): Promise<void>;
  /** Flushes pending appends, then releases resources. Idempotent. */
  close(): Promise<void>;
}

export const MAX_STREAM_NAME_LENGTH = 256;
export const MAX_EVENT_TYPE_LENGTH = 128;
export const MAX_EVENTS_PER_APPEND = 10_000;

export function assertStreamName(stream: unknown): asserts stream is string {
  if (typeof stream !== 'string' || stream.length === 0) {
    throw new LedgerError('invalid_stream_name', 'stream name must be a non-empty string');
  }
  if (stream.length > MAX_STREAM_NAME_LENGTH) {
    throw new LedgerError('invalid_stream_name', `stream name is longer than ${MAX_STREAM_NAME_LENGTH} characters`);
  }
  if (stream.startsWith('$')) {
    throw new LedgerError('invalid_stream_name', 'stream names starting with "$" are reserved');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(stream) || !stream.isWellFormed()) {
    throw new LedgerError('invalid_stream_name', 'stream name contains control characters or lone surrogates');
  }
}

export function assertExpectedRevision(value: unknown): asserts value is ExpectedRevision | undefined {
  if (value === undefined || value === 'any' || value === 'no_stream' || value === 'stream_exists') return;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return;
  throw new LedgerError(
    'invalid_expected_revision',
    'expected revision must be "any", "no_stream", "stream_exists" or a non-negative safe integer',
  );
}

export function assertPosition(value: unknown, name = 'position'): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new LedgerError('invalid_position', `${name} must be a non-negative safe integer`);
  }
}

export function assertMaxCount(value: unknown): asserts value is number | undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new LedgerError('invalid_position', 'maxCount must be a positive safe integer');
  }
}

export function matchesFilter(event: Pick<RecordedEvent, 'type' | 'stream'>, filter: EventFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.types && !filter.types.includes(event.type)) return false;
  if (filter.streamPrefixes && !filter.streamPrefixes.some((p) => event.stream.startsWith(p))) return false;
  return true;
}

/** Renders an expected revision for error messages. */
export const describeRevision = (r: ExpectedRevision | number | undefined): string =>
  r === undefined ? 'any' : typeof r === 'number' ? String(r) : r;
