/**
 * Ledger events ⇄ EventStoreDB records (pure; exported for unit tests).
 *
 * - The chain hash travels in the ESDB event metadata under the reserved key `$sigledger.hash`
 *   and is stripped on the way back, so `RecordedEvent.metadata` is exactly what the caller
 *   appended. Callers may not use keys starting with `$sigledger`.
 * - `RecordedEvent.position` is the event's PREPARE position (see esdb-event-store.ts for why),
 *   and must be a safe integer: anything else is `integrity_violation`.
 * - System events (a `$`-prefixed stream or type) are never ledger events.
 */
import {
  START,
  eventTypeFilter,
  excludeSystemEvents,
  streamNameFilter,
  type EventData,
  type Filter,
  type Position as EsdbPosition,
  type ReadPosition,
} from '@eventstore/db-client';
import { IntegrityError, LedgerError } from '../../errors.ts';
import { isObject } from '../../json.ts';
import type { PreparedEvent } from '../chain.ts';
import { assertPosition, type EventFilter, type EventMetadata, type JsonValue, type NewEvent, type RecordedEvent } from '../event-store.ts';
import type { EsdbRecordedEventLike } from './client.ts';

/** Metadata keys starting with this are the adapter's own; callers may not use them. */
const RESERVED_METADATA_PREFIX = '$sigledger';
/** The ESDB metadata key holding an event's chain hash. */
export const CHAIN_HASH_METADATA_KEY = `${RESERVED_METADATA_PREFIX}.hash`;
const HASH_RE = /^[0-9a-f]{64}$/;
/** 2^64 - 1: the wire form of "no position" in ESDB. */
const NO_POSITION = 0xffff_ffff_ffff_ffffn;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// ------------------------------------------------------------------------------ metadata

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
  // The client hands binary metadata over as bytes: never ours.
  if (!isObject(raw) || raw instanceof Uint8Array) return null;
  const hash = raw[CHAIN_HASH_METADATA_KEY];
  if (typeof hash !== 'string' || !HASH_RE.test(hash)) return null;
  // Object.fromEntries defines own data properties, so a caller key "__proto__" stays a plain key.
  const metadata = Object.fromEntries(Object.entries(raw).filter(([k]) => k !== CHAIN_HASH_METADATA_KEY));
  return { metadata: metadata as EventMetadata, hash };
}

// ------------------------------------------------------------------------------ positions

/** A vendor bigint (revision, log position) as a number; `integrity_violation` unless it is a non-negative safe integer. */
export function toSafeNumber(value: unknown, what: string): number {
  if (typeof value === 'bigint' && value >= 0n && value <= MAX_SAFE) return Number(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const shown = typeof value === 'bigint' || typeof value === 'number' ? String(value) : typeof value;
  throw new LedgerError('integrity_violation', `EventStoreDB reported ${what} ${shown}, which is not a non-negative safe integer`);
}

/**
 * The ledger position of an ESDB log position: its prepare position (see the adapter's comment).
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

// ------------------------------------------------------------------------------ filters

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

// ------------------------------------------------------------------------------ events

/** The ESDB event to append for a prepared event whose chain hash is `hash`. */
export function encodeEvent(event: PreparedEvent, hash: string): EventData {
  return {
    id: event.id,
    contentType: 'application/json',
    type: event.type,
    data: JSON.parse(event.dataJson) as JsonValue,
    metadata: withChainHash(event.metadataJson, hash),
  } as EventData;
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
