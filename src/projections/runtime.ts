/**
 * Feeds every projection from one store subscription. Each batch is folded into the read model
 * and every projection's checkpoint in one read-model transaction, so after a crash the runtime
 * resumes exactly where the read model stands. A projection whose version changed, or whose
 * checkpoint is missing (fresh read-model file), is reset and rebuilt from position 0 while the
 * others skip the events they have already seen.
 *
 * `waitFor(position)` gives command handlers read-your-writes.
 */
import { LedgerError } from '../errors.ts';
import type { EventStore, RecordedEvent } from '../store/event-store.ts';
import { assertProjectionName, type Projection } from './projection.ts';
import type { ReadModelStore } from '../store/read-model.ts';

export interface ProjectionRuntimeOptions {
  readonly store: EventStore;
  readonly readModel: ReadModelStore;
  readonly projections: readonly Projection[];
  readonly batchSize?: number;
  /** Called when folding or the subscription fails; the runtime retries with backoff. */
  readonly onError?: (err: unknown, context: { projection?: string; position?: number }) => void;
  /** Called after each committed batch. */
  readonly onBatch?: (events: number, seconds: number, position: number) => void;
  readonly retryDelayMs?: { min: number; max: number };
}

export interface ProjectionStatus {
  readonly name: string;
  readonly version: number;
  readonly position: number;
  /** Whether it was rebuilt from 0 at this start. */
  readonly rebuilt: boolean;
  /** When it was rebuilt because its checkpoint was ahead of the history: that checkpoint. */
  readonly aheadOfHistory?: number;
}

interface Waiter {
  readonly position: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly timer: NodeJS.Timeout;
}

interface Entry {
  readonly projection: Projection;
  readonly types: Set<string> | undefined;
  position: number;
  rebuilt: boolean;
  aheadOfHistory?: number;
}

export class ProjectionRuntime {
  private readonly store: EventStore;
  private readonly readModel: ReadModelStore;
  private readonly entries: Entry[];
  private readonly batchSize: number;
  private readonly opts: ProjectionRuntimeOptions;
  private waiters: Waiter[] = [];
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private lastError: unknown;
  private started = false;

  constructor(options: ProjectionRuntimeOptions) {
    this.opts = options;
    this.store = options.store;
    this.readModel = options.readModel;
    this.batchSize = options.batchSize ?? 500;
    const names = new Set<string>();
    this.entries = options.projections.map((projection) => {
      assertProjectionName(projection.name);
      if (names.has(projection.name)) throw new Error(`duplicate projection "${projection.name}"`);
      names.add(projection.name);
      return { projection, types: projection.eventTypes ? new Set(projection.eventTypes) : undefined, position: 0, rebuilt: false };
    });
  }

  /** Loads checkpoints (resetting stale read models) and starts folding in the background. */
  /**
   * Starts folding. A projection whose checkpoint is missing, of another version, or ahead of
   * `headPosition` (the store lost or was restored to an earlier state: its read model would
   * serve what the history no longer holds) is reset and rebuilt from position 0.
   */
  start(headPosition?: number): void {
    if (this.started) return;
    this.started = true;
    for (const e of this.entries) {
      const cp = this.readModel.getCheckpoint(e.projection.name);
      if (!cp || cp.version !== e.projection.version || (headPosition !== undefined && cp.position > headPosition)) {
        if (cp && headPosition !== undefined && cp.position > headPosition) e.aheadOfHistory = cp.position;
        this.readModel.reset(e.projection.name);
        e.position = 0;
        e.rebuilt = true;
      } else {
        e.position = cp.position;
      }
      e.projection.restore?.(this.readModel);
    }
    this.controller = new AbortController();
    this.loop = this.run(this.controller.signal);
  }

  /** The position every projection has reached. */
  position(): number {
    let min = Number.MAX_SAFE_INTEGER;
    for (const e of this.entries) if (e.position < min) min = e.position;
    return this.entries.length === 0 ? Number.MAX_SAFE_INTEGER : min;
  }

  status(): ProjectionStatus[] {
    return this.entries.map((e) => ({
      name: e.projection.name,
      version: e.projection.version,
      position: e.position,
      rebuilt: e.rebuilt,
      ...(e.aheadOfHistory !== undefined ? { aheadOfHistory: e.aheadOfHistory } : {}),
    }));
  }

  /** The last folding or subscription error, cleared by the next successful batch. */
  error(): unknown {
    return this.lastError;
  }

  /** Whether every projection has folded everything the store held when this was called. */
  async caughtUp(): Promise<boolean> {
    if (!this.started || this.lastError !== undefined) return false;
    return this.position() >= (await this.store.headPosition());
  }

  /** Resolves once every projection has folded the event at `position` (read-your-writes). */
  waitFor(position: number, timeoutMs = 10_000): Promise<void> {
    if (this.position() >= position) return Promise.resolve();
    if (!this.started) return Promise.reject(new LedgerError('projection_failed', 'projections are not running'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new LedgerError('projection_timeout', `read models did not reach position ${position} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ position, resolve, reject, timer });
    });
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const reached = this.position();
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.position <= reached) {
        clearTimeout(w.timer);
        w.resolve();
      } else keep.push(w);
    }
    this.waiters = keep;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { min, max } = this.opts.retryDelayMs ?? { min: 100, max: 10_000 };
    let delay = min;
    while (!signal.aborted) {
      try {
        const from = this.position();
        for await (const batch of this.store.subscribeToAll({ after: from, batchSize: this.batchSize, signal })) {
          if (signal.aborted) break;
          this.fold(batch);
          this.lastError = undefined;
          delay = min;
          this.settleWaiters();
        }
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof LedgerError && err.code === 'store_closed') break;
        this.lastError = err;
        this.opts.onError?.(err, err instanceof FoldError ? { projection: err.projection, position: err.position } : {});
        await sleep(delay, signal);
        delay = Math.min(max, delay * 2);
      }
    }
  }

  private fold(batch: readonly RecordedEvent[]): void {
    const started = performance.now();
    const last = batch[batch.length - 1]!.position;
    const next = this.entries.map((e) => e.position);
    try {
      this.readModel.transaction((tx) => {
        this.entries.forEach((entry, i) => {
          if (entry.position >= last) return;
          const { projection, types } = entry;
          if (projection.applyBatch) {
            const events = batch.filter((event) => event.position > entry.position && (!types || types.has(event.type)));
            if (events.length > 0) {
              try {
                projection.applyBatch(tx, events);
              } catch (err) {
                throw new FoldError(projection.name, events[0]!.position, err);
              }
            }
          } else {
            for (const event of batch) {
              if (event.position <= entry.position) continue;
              if (types && !types.has(event.type)) continue;
              try {
                projection.apply(tx, event);
              } catch (err) {
                throw new FoldError(projection.name, event.position, err);
              }
            }
          }
          next[i] = last;
          this.readModel.setCheckpoint(tx, projection.name, { version: projection.version, position: last });
        });
      });
    } catch (err) {
      // The transaction rolled back: drop whatever in-memory state ran ahead of it.
      for (const e of this.entries) e.projection.restore?.(this.readModel);
      throw err;
    }
    // Only after the transaction committed do the in-memory checkpoints move.
    this.entries.forEach((e, i) => (e.position = next[i]!));
    this.opts.onBatch?.(batch.length, (performance.now() - started) / 1000, last);
  }

  /** Stops folding; pending waiters are rejected. Does not close the store or the read model. */
  async stop(): Promise<void> {
    this.controller?.abort();
    await this.loop;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new LedgerError('projection_failed', 'projections stopped'));
    }
    this.waiters = [];
  }
}

export class FoldError extends LedgerError {
  constructor(
    readonly projection: string,
    readonly position: number,
    cause: unknown,
  ) {
    super('projection_failed', `projection "${projection}" failed at position ${position}`, { projection, position }, { cause });
    this.name = 'FoldError';
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
