/**
 * Full-history integrity check over the EventStore port: reads every event in commit order and
 * feeds it to the ChainVerifier (positions strictly increasing, per-stream revisions contiguous
 * from 0, every hash equal to SHA-256(previous hash ‖ canonical event)). Works on any adapter.
 *
 * What it cannot see (by construction of a per-stream hash chain): events removed from the very
 * end of a stream, or a suffix re-written with freshly computed hashes. The transparency log
 * covers those.
 */
import { ChainVerifier } from './chain.ts';
import { assertMaxCount, type EventStore } from './event-store.ts';

export interface VerifyStoreIntegrityOptions {
  /** Events per readAll page (default 1000). */
  readonly pageSize?: number;
  /** Called after each verified page with the position of its last event. */
  onProgress?(position: number): void;
}

export interface StoreIntegrityReport {
  /** Number of events verified. */
  readonly events: number;
  /** Number of distinct streams seen. */
  readonly streams: number;
  /** Position of the last verified event (0 for an empty store). */
  readonly headPosition: number;
}

export const DEFAULT_INTEGRITY_PAGE_SIZE = 1000;

/**
 * Verifies the whole history up to the head position observed when the check starts (events
 * committed while it runs are left for the next check). Throws IntegrityError (code
 * `integrity_violation`, `position` and `details.position` set) naming the first event that does
 * not verify; an adapter that cannot decode a stored event throws its own IntegrityError from
 * readAll, other store errors propagate unchanged.
 */
export async function verifyStoreIntegrity(
  store: EventStore,
  opts: VerifyStoreIntegrityOptions = {},
): Promise<StoreIntegrityReport> {
  const pageSize = opts.pageSize ?? DEFAULT_INTEGRITY_PAGE_SIZE;
  assertMaxCount(pageSize);
  const stopAt = await store.headPosition();
  const verifier = new ChainVerifier();
  const streams = new Set<string>();
  let after = 0;
  while (after < stopAt) {
    const page = await store.readAll({ after, maxCount: pageSize });
    if (page.length === 0) break;
    for (const e of page) {
      if (e.position > stopAt) break;
      verifier.check(e);
      streams.add(e.stream);
      after = e.position;
    }
    opts.onProgress?.(after);
    if (page[page.length - 1]!.position > stopAt) break;
  }
  return { events: verifier.verified, streams: streams.size, headPosition: after };
}
