/**
 * The read-model port: a namespaced document and blob store that projections fold into.
 * Projections only ever see this interface; `src/store/sqlite/sqlite-read-model.ts` implements it
 * on a local SQLite file in the data dir (also when the event store is EventStoreDB).
 *
 * Collection names belong to a projection: `<projection>` or `<projection>.<anything>`.
 */
import type { JsonValue } from './event-store.ts';

export interface ReadModelReader {
  get<T extends JsonValue = JsonValue>(collection: string, key: string): T | undefined;
  getBlob(collection: string, key: string): Uint8Array | undefined;
  /** Documents of a collection in key order, after `after` (exclusive) or from `from` (inclusive), at most `limit`. */
  list<T extends JsonValue = JsonValue>(
    collection: string,
    options?: { after?: string; from?: string; prefix?: string; limit?: number },
  ): { key: string; value: T }[];
  /** Documents of a collection (with keys starting with `prefix`, and not before `from`). */
  count(collection: string, options?: { prefix?: string; from?: string }): number;
}

export interface ReadModelTx extends ReadModelReader {
  put(collection: string, key: string, value: JsonValue): void;
  putBlob(collection: string, key: string, value: Uint8Array): void;
  delete(collection: string, key: string): void;
}

export interface Checkpoint {
  readonly version: number;
  readonly position: number;
}

export interface ReadModelStore extends ReadModelReader {
  /** Runs `fn` in one synchronous transaction; all of it commits or none. */
  transaction<T>(fn: (tx: ReadModelTx) => T): T;
  getCheckpoint(projection: string): Checkpoint | undefined;
  setCheckpoint(tx: ReadModelTx, projection: string, checkpoint: Checkpoint): void;
  /** Drops every collection owned by the projection and its checkpoint. */
  reset(projection: string): void;
  close(): void;
}
