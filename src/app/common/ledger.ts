/**
 * The application layer the HTTP routes talk to. It owns the store (behind the port), the
 * read models and the projection runtime; routes never see a store adapter.
 */
import { isLedgerError } from '../../errors.ts';
import type { ProjectionRuntime } from '../../projections/runtime.ts';
import type { ReadModelStore } from '../../store/read-model.ts';
import type { EventStore } from '../../store/event-store.ts';
import type { Metrics } from './metrics.ts';

export interface Readiness {
  readonly ready: boolean;
  readonly checks: {
    readonly store: { readonly ok: boolean; readonly kind: string; readonly head?: number; readonly error?: string };
    readonly projections: { readonly ok: boolean; readonly position: number; readonly behind: readonly string[]; readonly error?: string };
  };
}

export interface LedgerDeps {
  readonly store: EventStore;
  readonly readModel: ReadModelStore;
  readonly runtime: ProjectionRuntime;
  readonly metrics: Metrics;
}

export class Ledger {
  constructor(private readonly deps: LedgerDeps) {}

  get store(): EventStore {
    return this.deps.store;
  }

  get readModel(): ReadModelStore {
    return this.deps.readModel;
  }

  /** Store reachable and every projection folded up to the store's head. */
  async readiness(): Promise<Readiness> {
    const { store, runtime } = this.deps;
    let head: number | undefined;
    let storeError: string | undefined;
    try {
      await store.ping();
      head = await store.headPosition();
    } catch (err) {
      storeError = isLedgerError(err) ? err.code : 'store_unavailable';
    }
    const status = runtime.status();
    const behind = head === undefined ? status.map((s) => s.name) : status.filter((s) => s.position < head!).map((s) => s.name);
    const runtimeError = runtime.error();
    const projections = {
      ok: behind.length === 0 && runtimeError === undefined,
      position: runtime.position() === Number.MAX_SAFE_INTEGER ? (head ?? 0) : runtime.position(),
      behind,
      ...(runtimeError !== undefined ? { error: isLedgerError(runtimeError) ? runtimeError.message : 'projection error' } : {}),
    };
    const storeCheck = { ok: storeError === undefined, kind: store.kind, ...(head !== undefined ? { head } : {}), ...(storeError ? { error: storeError } : {}) };
    return { ready: storeCheck.ok && projections.ok, checks: { store: storeCheck, projections } };
  }

  /** Updates the gauges that are sampled rather than counted; called before each scrape. */
  async refreshGauges(): Promise<void> {
    const { store, runtime, metrics } = this.deps;
    let head: number;
    try {
      head = await store.headPosition();
    } catch {
      return;
    }
    for (const s of runtime.status()) {
      metrics.projectionPosition.set({ projection: s.name }, s.position);
      metrics.projectionLag.set({ projection: s.name }, Math.max(0, head - s.position));
    }
  }
}
