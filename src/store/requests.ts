/**
 * The arguments of the EventStore calls, checked and defaulted in one place for every adapter, so
 * sqlite and EventStoreDB refuse the same input with the same LedgerError code, in the same order,
 * before touching storage (test/store/contract.ts holds both to it). Adapters check that they are
 * open first; what only one backend needs (esdb's reserved metadata keys) stays in that adapter.
 */
import { LedgerError } from '../errors.ts';
import { prepareEvents, type PreparedEvent } from './chain.ts';
import {
  assertExpectedRevision,
  assertMaxCount,
  assertPosition,
  assertStreamName,
  type AppendOptions,
  type EventFilter,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type SubscribeOptions,
} from './event-store.ts';

/** `readAll` returns at most this many events when the caller names no maxCount. */
const DEFAULT_READ_ALL_COUNT = 1000;
/** A subscription yields batches of at most this many events when the caller names no batchSize. */
const DEFAULT_BATCH_SIZE = 500;

export interface AppendRequest {
  readonly expected: ExpectedRevision;
  readonly prepared: PreparedEvent[];
}

/** Stream name, expected revision (default 'any'), then the events (validated, canonical JSON). */
export function appendRequest(stream: unknown, events: readonly NewEvent[], options: AppendOptions | undefined): AppendRequest {
  assertStreamName(stream);
  const given = options?.expectedRevision;
  assertExpectedRevision(given);
  return { expected: given === undefined ? 'any' : given, prepared: prepareEvents(events) };
}

export interface ReadStreamRequest {
  readonly backwards: boolean;
  readonly fromRevision: number | undefined;
  readonly maxCount: number | undefined;
}

export function readStreamRequest(stream: unknown, options: ReadStreamOptions): ReadStreamRequest {
  assertStreamName(stream);
  assertMaxCount(options.maxCount);
  if (options.direction !== undefined && options.direction !== 'forwards' && options.direction !== 'backwards') {
    throw new LedgerError('invalid_position', 'direction must be "forwards" or "backwards"');
  }
  if (options.fromRevision !== undefined) assertPosition(options.fromRevision, 'fromRevision');
  return { backwards: options.direction === 'backwards', fromRevision: options.fromRevision, maxCount: options.maxCount };
}

export interface ReadAllRequest {
  /** Exclusive. */
  readonly after: number;
  readonly maxCount: number;
  readonly filter: EventFilter | undefined;
}

export function readAllRequest(options: ReadAllOptions): ReadAllRequest {
  const after = options.after ?? 0;
  assertPosition(after, 'after');
  assertMaxCount(options.maxCount);
  return { after, maxCount: options.maxCount ?? DEFAULT_READ_ALL_COUNT, filter: options.filter };
}

export interface SubscribeRequest {
  /** Exclusive. */
  readonly after: number;
  readonly batchSize: number;
  readonly filter: EventFilter | undefined;
  readonly signal: AbortSignal | undefined;
}

export function subscribeRequest(options: SubscribeOptions): SubscribeRequest {
  const after = options.after ?? 0;
  assertPosition(after, 'after');
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  assertMaxCount(batchSize);
  return { after, batchSize, filter: options.filter, signal: options.signal };
}
