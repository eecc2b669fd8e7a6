/**
 * A catch-up subscription to $all as the EventStore port wants it: batches of ledger events after
 * an exclusive position, system events and non-matching events dropped, back-pressure on the
 * vendor stream, a bounded wait for the server's confirmation, and an end when the caller's
 * signal or the store's close signal aborts.
 *
 * Subscriptions from a position exclude it on the server already; dropping every event at or
 * before the last one delivered keeps that true whatever the server sends. The server filters on
 * one prefix list (`serverFilterFor`); `matchesFilter` always has the final word.
 */
import type { AllStreamResolvedEvent } from '@eventstore/db-client';
import { LedgerError } from '../../errors.ts';
import { matchesFilter, type RecordedEvent } from '../event-store.ts';
import type { SubscribeRequest } from '../requests.ts';
import type { EsdbClient, EsdbRecordedEventLike, EsdbSubscription } from './client.ts';
import { decodeRecordedEvent, isSystemEvent, serverFilterFor, toLedgerPosition, toReadPosition } from './codec.ts';
import { unanswered, withDeadline } from './deadline.ts';

export interface SubscriptionContext {
  readonly client: EsdbClient;
  /** Bound on the confirmation and on the unsubscribe call (ms). */
  readonly deadlineMs: number;
  /** Aborted when the store closes. */
  readonly closeSignal: AbortSignal;
  readonly translate: (err: unknown) => LedgerError;
}

export async function* subscribeToAll(ctx: SubscriptionContext, request: SubscribeRequest): AsyncGenerator<readonly RecordedEvent[]> {
  const { batchSize, signal, filter } = request;
  if (signal?.aborted) return;
  let last = request.after;
  const { closeSignal, deadlineMs } = ctx;
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
    subscription = ctx.client.subscribeToAll({
      fromPosition: toReadPosition(last),
      resolveLinkTos: false,
      filter: serverFilterFor(filter),
    });
  } catch (err) {
    throw ctx.translate(err);
  }
  let confirmed = false;
  const confirmTimer = setTimeout(() => {
    if (!confirmed) {
      failure ??= new LedgerError('store_unavailable', `EventStoreDB did not confirm the subscription within ${deadlineMs} ms`);
      notify();
    }
  }, deadlineMs);
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
      failure = ctx.translate(err);
    }
    notify();
  });
  subscription.on('error', (err: unknown) => {
    failure ??= ctx.translate(err);
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
      await withDeadline(subscription.unsubscribe(), deadlineMs, () => unanswered('an unsubscribe', deadlineMs));
    } catch {
      /* the call is already gone */
    }
    subscription.destroy();
  }
}
