/**
 * Bounding vendor calls in time. The v6 client gives appends a gRPC deadline but streaming calls
 * none, and a call that never answers must not hold a caller forever: every call races a local
 * timer. A timer that fires does not cancel the vendor promise (its outcome stays unknown);
 * a finite read is cancelled on the wire.
 */
import { LedgerError } from '../../errors.ts';
import type { EsdbStreamingRead } from './client.ts';

/** `promise`, or a rejection with `onTimeout()` once `ms` have passed (the vendor promise keeps its own outcome). */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
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

/** The error of a vendor call that did not answer in time: its outcome is unknown. */
export const unanswered = (what: string, ms: number): LedgerError =>
  new LedgerError('store_unavailable', `EventStoreDB did not answer ${what} within ${ms} ms (its outcome is unknown)`);

const closedError = () => new LedgerError('store_closed', 'the event store is closed');

/**
 * Collects a finite read. Rejects with the raw vendor error (the caller translates it), with
 * store_unavailable at the deadline, or store_closed when `signal` aborts; the gRPC call is
 * cancelled in both latter cases.
 */
export function readToEnd(open: () => EsdbStreamingRead, what: string, ms: number, signal?: AbortSignal): Promise<unknown[]> {
  return new Promise<unknown[]>((resolve, reject) => {
    if (signal?.aborted) {
      reject(closedError());
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
    const onAbort = () => finish(closedError());
    const timer = setTimeout(() => finish(new LedgerError('store_unavailable', `EventStoreDB did not answer ${what} within ${ms} ms`)), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', (item: unknown) => {
      if (!settled) items.push(item);
    });
    stream.on('error', (err: unknown) => finish(err ?? new Error('read failed')));
    stream.on('end', () => finish());
  });
}
