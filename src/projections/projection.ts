/**
 * What a projection is. The general form is `apply(tx, event)` writing into the projection's own
 * collections; most read models are written as `documentProjection`, a pure fold
 * `evolve(state, event) => state` per document, where the runtime loads and stores the state.
 */
import type { JsonValue, RecordedEvent } from '../store/event-store.ts';
import type { ReadModelReader, ReadModelTx } from '../store/read-model.ts';

export interface Projection {
  /** Also the name of its main collection; further collections are `<name>.<suffix>`. */
  readonly name: string;
  /** Bump when the fold changes: the runtime then rebuilds the read model from position 0. */
  readonly version: number;
  /** Event types it folds; others advance its checkpoint without touching the read model. */
  readonly eventTypes?: readonly string[];
  apply(tx: ReadModelTx, event: RecordedEvent): void;
  /**
   * Optional batch form, used instead of `apply` when present: folds every event of a batch that
   * is past its checkpoint and of its types, in commit order, inside the batch's transaction.
   */
  applyBatch?(tx: ReadModelTx, events: readonly RecordedEvent[]): void;
  /**
   * Optional: (re)loads in-memory state kept between batches from the read model. Called at
   * start, after a reset, and after a batch whose transaction failed (so memory never runs ahead
   * of what was committed).
   */
  restore?(reader: ReadModelReader): void;
}

export interface DocumentProjectionSpec<S extends JsonValue> {
  readonly name: string;
  readonly version: number;
  readonly eventTypes?: readonly string[];
  /** Which document the event folds into; undefined when none. */
  documentId(event: RecordedEvent): string | undefined;
  initialState(): S;
  /** Pure: no I/O, no clock, no randomness. */
  evolve(state: S, event: RecordedEvent): S;
}

export interface DocumentProjection<S extends JsonValue> extends Projection {
  read(reader: ReadModelReader, id: string): S | undefined;
  list(reader: ReadModelReader, options?: { after?: string; prefix?: string; limit?: number }): { key: string; value: S }[];
}

export function documentProjection<S extends JsonValue>(spec: DocumentProjectionSpec<S>): DocumentProjection<S> {
  const { name } = spec;
  return {
    name,
    version: spec.version,
    ...(spec.eventTypes ? { eventTypes: spec.eventTypes } : {}),
    apply(tx, event) {
      const id = spec.documentId(event);
      if (id === undefined) return;
      const current = tx.get<S>(name, id) ?? spec.initialState();
      tx.put(name, id, spec.evolve(current, event));
    },
    read: (reader, id) => reader.get<S>(name, id),
    list: (reader, options) => reader.list<S>(name, options),
  };
}

const COLLECTION_RE = /^[a-z][a-z0-9-]*$/;

export function assertProjectionName(name: string): void {
  if (!COLLECTION_RE.test(name)) throw new Error(`projection name "${name}" must match ${COLLECTION_RE}`);
}
