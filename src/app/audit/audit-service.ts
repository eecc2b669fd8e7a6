/**
 * Audit replay (SPEC §2 "Audit"): the raw event history, every tenant's, in commit order, paged
 * or as a live tail. Reads go through the EventStore port only.
 *
 * A page never scans unboundedly: with a filter it reads at most `SCAN_FACTOR × limit` events
 * (in chunks, keeping only the matches) and returns `next` so the client continues from where
 * the scan stopped. A page is cut at the head read when the request began, so `next: null`
 * means "everything up to `head` has been seen" and `head` is a safe `after` for the next poll.
 *
 * A tail is the store's catch-up-then-live subscription behind an AbortController; the service
 * counts the tails that are open (a tail leaves the count only once the store's iterator has
 * finished), bounds them, and ends them all on `stop()` (graceful shutdown).
 */
import { LedgerError } from '../../errors.ts';
import type { EventFilter, EventStore, RecordedEvent } from '../../store/event-store.ts';

/** Events of a page: 1..MAX_PAGE_LIMIT, default DEFAULT_PAGE_LIMIT. */
export const MAX_PAGE_LIMIT = 1000;
export const DEFAULT_PAGE_LIMIT = 100;
/** A filtered page scans at most this many times `limit` events. */
export const SCAN_FACTOR = 10;
/** Events read from the store at a time while scanning a filtered page. */
const SCAN_CHUNK = 500;
/** Upper bound on events per batch of a tail. */
const TAIL_BATCH = 100;
export const DEFAULT_MAX_TAILS = 64;
/** At most this many `type` and `stream` selectors per request. */
export const MAX_SELECTORS = 64;

/**
 * Which events a page or tail returns. `types`: the event's type is one of these.
 * `streams`: the event's stream equals one of `exact` or starts with one of `prefixes`.
 * Both present: both must hold. An absent part does not filter.
 */
export interface AuditFilter {
  readonly types?: readonly string[];
  readonly streams?: { readonly exact: readonly string[]; readonly prefixes: readonly string[] };
}

export interface AuditPageQuery {
  /** Exclusive: events with position > after. */
  readonly after: number;
  readonly limit: number;
  readonly filter?: AuditFilter;
}

export interface AuditPage {
  /** The events as the store records them, in commit (position) order. */
  readonly events: readonly RecordedEvent[];
  /** Pass as `after` to continue; null once the scan reached `head`. */
  readonly next: number | null;
  /** The store's head position when the page was read. */
  readonly head: number;
}

export interface AuditTail {
  /** Batches of matching events in commit order; ends on close(), stop() or when the store closes. */
  readonly events: AsyncIterable<readonly RecordedEvent[]>;
  /** Ends the subscription (idempotent). */
  close(): void;
}

export interface AuditServiceDeps {
  readonly store: EventStore;
  /** Live tails open at once on this instance (default 64); more are refused with 429. */
  readonly maxTails?: number;
}

/** A predicate for the filter (undefined: everything matches). */
export function auditMatcher(filter: AuditFilter | undefined): ((e: Pick<RecordedEvent, 'type' | 'stream'>) => boolean) | undefined {
  if (!filter || (!filter.types && !filter.streams)) return undefined;
  const types = filter.types ? new Set(filter.types) : undefined;
  const exact = filter.streams ? new Set(filter.streams.exact) : undefined;
  const prefixes = filter.streams?.prefixes ?? [];
  return (e) => {
    if (types && !types.has(e.type)) return false;
    if (exact && !exact.has(e.stream) && !prefixes.some((p) => e.stream.startsWith(p))) return false;
    return true;
  };
}

/** A store filter admitting at least what `filter` admits (exact stream names become prefixes; the matcher has the last word). */
function storeFilterOf(filter: AuditFilter | undefined): EventFilter | undefined {
  if (!filter || (!filter.types && !filter.streams)) return undefined;
  return {
    ...(filter.types ? { types: filter.types } : {}),
    ...(filter.streams ? { streamPrefixes: [...filter.streams.exact, ...filter.streams.prefixes] } : {}),
  };
}

function assertQuery(q: AuditPageQuery): void {
  if (!Number.isSafeInteger(q.after) || q.after < 0) throw new LedgerError('bad_request', '"after" must be a non-negative safe integer', { reason: 'invalid_after' });
  if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_PAGE_LIMIT) throw new LedgerError('bad_request', `"limit" must be an integer from 1 to ${MAX_PAGE_LIMIT}`, { reason: 'invalid_limit' });
}

export class AuditService {
  private readonly store: EventStore;
  private readonly maxTails: number;
  private readonly tails = new Set<AbortController>();
  private stopped = false;

  constructor(deps: AuditServiceDeps) {
    this.store = deps.store;
    this.maxTails = deps.maxTails ?? DEFAULT_MAX_TAILS;
  }

  /** One page of the history after `after`: at most `limit` events, scanning at most SCAN_FACTOR × limit when filtered. */
  async page(query: AuditPageQuery): Promise<AuditPage> {
    assertQuery(query);
    const { after, limit } = query;
    const match = auditMatcher(query.filter);
    const head = await this.store.headPosition();
    const events: RecordedEvent[] = [];
    if (after >= head) return { events, next: null, head };
    const budget = match ? limit * SCAN_FACTOR : limit;
    let scanned = 0;
    let at = after;
    while (scanned < budget) {
      const want = match ? Math.min(budget - scanned, SCAN_CHUNK) : budget - scanned;
      const chunk = await this.store.readAll({ after: at, maxCount: want });
      for (const e of chunk) {
        // Committed after the head was read: left for the next page (or poll).
        if (e.position > head) return { events, next: null, head };
        scanned++;
        at = e.position;
        if (match && !match(e)) continue;
        events.push(e);
        if (events.length >= limit) return { events, next: at >= head ? null : at, head };
      }
      if (chunk.length < want || at >= head) return { events, next: null, head };
    }
    return { events, next: at >= head ? null : at, head };
  }

  /**
   * Opens a live tail after `after` (catch-up, then live). Throws 429 `concurrency_limited` when
   * `maxTails` are open and 503 `not_ready` once stopped; nothing is subscribed until `events` is
   * iterated.
   */
  openTail(options: { readonly after: number; readonly filter?: AuditFilter }): AuditTail {
    if (!Number.isSafeInteger(options.after) || options.after < 0) throw new LedgerError('bad_request', '"after" must be a non-negative safe integer', { reason: 'invalid_after' });
    if (this.stopped) throw new LedgerError('not_ready', 'the service is shutting down');
    if (this.tails.size >= this.maxTails) throw new LedgerError('concurrency_limited', `at most ${this.maxTails} audit tails may be open at once`, { reason: 'too_many_tails' });
    const controller = new AbortController();
    this.tails.add(controller);
    let started = false;
    const close = () => {
      controller.abort();
      // A tail never iterated holds no subscription; an iterated one leaves the set when its iterator ends.
      if (!started) this.tails.delete(controller);
    };
    const match = auditMatcher(options.filter);
    const storeFilter = storeFilterOf(options.filter);
    const store = this.store;
    const tails = this.tails;
    async function* events(): AsyncGenerator<readonly RecordedEvent[]> {
      if (started || controller.signal.aborted) {
        tails.delete(controller);
        return;
      }
      started = true;
      try {
        const batches = store.subscribeToAll({ after: options.after, batchSize: TAIL_BATCH, signal: controller.signal, ...(storeFilter ? { filter: storeFilter } : {}) });
        for await (const batch of batches) {
          if (controller.signal.aborted) return;
          const out = match ? batch.filter(match) : batch;
          if (out.length > 0) yield out;
        }
      } finally {
        controller.abort();
        tails.delete(controller);
      }
    }
    return { events: events(), close };
  }

  /** Tails open now (each holding a store subscription or about to). */
  liveTails(): number {
    return this.tails.size;
  }

  /** Ends every tail and refuses new ones (graceful shutdown). */
  stop(): void {
    this.stopped = true;
    for (const c of this.tails) c.abort();
  }
}
