/**
 * The per-stream hash chain (pure). Each stored event's hash is
 *
 *   hash_r = SHA-256( hash_{r-1} ‖ JCS({data, id, metadata, revision, stream, type}) )
 *
 * with hash_{-1} = 32 zero bytes, hex-encoded lowercase. It is per stream so that it is
 * computed the same way on EventStoreDB, where the global order is the server's; the
 * transparency log covers the global order.
 */
import { randomUUID } from 'node:crypto';
import { LedgerError, IntegrityError } from '../errors.ts';
import { jcs, NotJsonError } from '../crypto/jcs.ts';
import { sha256Hex } from '../crypto/hash.ts';
import { parseRfc3339 } from '../domain/instant.ts';
import {
  MAX_EVENT_TYPE_LENGTH,
  MAX_EVENTS_PER_APPEND,
  type EventMetadata,
  type NewEvent,
  type RecordedEvent,
} from './event-store.ts';

export const GENESIS_HASH = '0'.repeat(64);
const GENESIS_BYTES = Buffer.alloc(32);

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const EVENT_TYPE_RE = /^[A-Za-z][A-Za-z0-9._:-]*$/;

/** An event ready to store: validated, id assigned, data and metadata in canonical JSON. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly dataJson: string;
  readonly metadataJson: string;
}

function invalid(message: string, index: number): LedgerError {
  return new LedgerError('invalid_event', `event ${index}: ${message}`, { index });
}

/** Validates events and renders their canonical JSON. Throws `invalid_event` before anything is written. */
export function prepareEvents(events: readonly NewEvent[]): PreparedEvent[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new LedgerError('invalid_event', 'an append needs at least one event');
  }
  if (events.length > MAX_EVENTS_PER_APPEND) {
    throw new LedgerError('invalid_event', `an append takes at most ${MAX_EVENTS_PER_APPEND} events`);
  }
  return events.map((e, i) => {
    if (typeof e !== 'object' || e === null) throw invalid('not an object', i);
    const { type, data, metadata } = e;
    if (typeof type !== 'string' || type.length === 0 || type.length > MAX_EVENT_TYPE_LENGTH || !EVENT_TYPE_RE.test(type)) {
      throw invalid(`type must match ${EVENT_TYPE_RE} and be at most ${MAX_EVENT_TYPE_LENGTH} characters`, i);
    }
    let id = e.id;
    if (id === undefined) id = randomUUID();
    else if (typeof id !== 'string' || !UUID_RE.test(id)) throw invalid('id must be a lowercase UUID', i);
    if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
      throw invalid('metadata must be an object', i);
    }
    if (typeof metadata.time !== 'string' || !RFC3339_RE.test(metadata.time) || parseRfc3339(metadata.time) === undefined) {
      throw invalid('metadata.time must be an RFC 3339 timestamp', i);
    }
    let dataJson: string;
    let metadataJson: string;
    try {
      dataJson = jcs(data);
    } catch (err) {
      throw invalid(`data is not JSON-serialisable (${err instanceof NotJsonError ? err.message : 'unknown'})`, i);
    }
    try {
      metadataJson = jcs(metadata);
    } catch (err) {
      throw invalid(`metadata is not JSON-serialisable (${err instanceof NotJsonError ? err.message : 'unknown'})`, i);
    }
    return { id, type, dataJson, metadataJson };
  });
}

/**
 * JCS of `{data, id, metadata, revision, stream, type}` composed from already-canonical parts.
 * The keys are written in RFC 8785 order, so this equals `jcs()` of the whole object.
 */
export function canonicalEventText(
  stream: string,
  revision: number,
  e: { id: string; type: string; dataJson: string; metadataJson: string },
): string {
  return `{"data":${e.dataJson},"id":${JSON.stringify(e.id)},"metadata":${e.metadataJson},"revision":${revision},"stream":${JSON.stringify(stream)},"type":${JSON.stringify(e.type)}}`;
}

export function chainHash(previousHash: string | null, canonicalText: string): string {
  const prev = previousHash === null ? GENESIS_BYTES : Buffer.from(previousHash, 'hex');
  return sha256Hex(prev, canonicalText);
}

/** Canonical text of a recorded event (re-canonicalises data and metadata). */
export function canonicalTextOf(e: RecordedEvent): string {
  return canonicalEventText(e.stream, e.revision, {
    id: e.id,
    type: e.type,
    dataJson: jcs(e.data),
    metadataJson: jcs(e.metadata as EventMetadata),
  });
}

/**
 * Incremental verifier of per-stream chains over events read in global order. Feed every event
 * of the history; the first violation throws IntegrityError naming its global position.
 */
export class ChainVerifier {
  private readonly heads = new Map<string, { revision: number; hash: string }>();
  private lastPosition = 0;
  verified = 0;

  /** `canonicalText` may be passed when the caller already has it (e.g. from raw storage). */
  check(e: RecordedEvent, canonicalText?: string): void {
    if (!(e.position > this.lastPosition)) {
      throw new IntegrityError(e.position, `position is not after ${this.lastPosition}`);
    }
    this.lastPosition = e.position;
    const head = this.heads.get(e.stream);
    const expectedRevision = head ? head.revision + 1 : 0;
    if (e.revision !== expectedRevision) {
      throw new IntegrityError(e.position, `stream "${e.stream}" revision ${e.revision}, expected ${expectedRevision} (an event is missing or reordered)`, {
        stream: e.stream,
      });
    }
    let text: string;
    try {
      text = canonicalText ?? canonicalTextOf(e);
    } catch {
      throw new IntegrityError(e.position, 'event is not canonical JSON', { stream: e.stream });
    }
    const expected = chainHash(head ? head.hash : null, text);
    if (expected !== e.hash) {
      throw new IntegrityError(e.position, `hash mismatch in stream "${e.stream}" at revision ${e.revision}`, {
        stream: e.stream,
        revision: e.revision,
      });
    }
    this.heads.set(e.stream, { revision: e.revision, hash: e.hash });
    this.verified++;
  }
}
