/** Decorates any EventStore with append latency and failure metrics. */
import { isLedgerError } from '../../errors.ts';
import type { AppendOptions, AppendResult, EventStore, NewEvent } from '../../store/event-store.ts';
import type { Metrics } from './metrics.ts';

export function instrumentStore(store: EventStore, metrics: Metrics): EventStore {
  const labels = { store: store.kind };
  return {
    kind: store.kind,
    async appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
      const end = metrics.appendDuration.startTimer(labels);
      try {
        const result = await store.appendToStream(stream, events, options);
        end();
        return result;
      } catch (err) {
        metrics.appendFailures.inc({ ...labels, code: isLedgerError(err) ? err.code : 'internal' });
        throw err;
      }
    },
    readStream: (stream, options) => store.readStream(stream, options),
    readAll: (options) => store.readAll(options),
    subscribeToAll: (options) => store.subscribeToAll(options),
    headPosition: () => store.headPosition(),
    ping: () => store.ping(),
    close: () => store.close(),
  };
}
