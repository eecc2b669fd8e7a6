/**
 * Read models: a fresh fold of every projection (the same runtime the service uses) into an empty
 * read model equals the live read models, collection by collection. Compared only when the live
 * read models stand exactly at the replayed head; otherwise the comparison is skipped with why.
 */
import type { Projection } from '../../../projections/projection.ts';
import { ProjectionRuntime } from '../../../projections/runtime.ts';
import type { EventStore } from '../../../store/event-store.ts';
import type { ReadModelStore } from '../../../store/read-model.ts';
import type { ReportProblem } from './checker.ts';

/** A read model that can be compared as a whole. */
export interface DigestibleReadModel extends ReadModelStore {
  digest(): Map<string, { readonly rows: number; readonly sha256: string }>;
  checkpoints(): { projection: string; version: number; position: number }[];
}

export interface ReadModelComparison {
  readonly compared: number;
  readonly skipped?: string;
}

/** How long the fresh fold may take (a large history folds at tens of thousands of events a second). */
const FOLD_TIMEOUT_MS = 10 * 60_000;

export async function compareReadModels(
  deps: { readonly store: EventStore; readonly projections: () => Projection[]; readonly fresh: DigestibleReadModel; readonly live?: DigestibleReadModel | undefined },
  head: number,
  report: ReportProblem,
): Promise<ReadModelComparison> {
  const runtime = new ProjectionRuntime({ store: deps.store, readModel: deps.fresh, projections: deps.projections() });
  runtime.start();
  try {
    await runtime.waitFor(head, FOLD_TIMEOUT_MS);
  } finally {
    await runtime.stop();
  }
  const live = deps.live;
  if (!live) return { compared: 0, skipped: 'no live read model to compare with' };
  const freshAt = new Map(deps.fresh.checkpoints().map((c) => [c.projection, c]));
  const liveAt = live.checkpoints();
  if (liveAt.length === 0) return { compared: 0, skipped: 'the live read model is empty' };
  const elsewhere = liveAt.filter((c) => freshAt.get(c.projection)?.position !== c.position || freshAt.get(c.projection)?.version !== c.version);
  if (elsewhere.length > 0) {
    return { compared: 0, skipped: `the live read models are at other positions (${elsewhere.map((c) => `${c.projection}@${c.position}`).join(', ')}) than the history (${head}); stop the service or replay again` };
  }
  const replayed = deps.fresh.digest();
  const current = live.digest();
  let compared = 0;
  for (const name of new Set([...replayed.keys(), ...current.keys()])) {
    compared++;
    const x = replayed.get(name);
    const y = current.get(name);
    if (!x || !y || x.sha256 !== y.sha256) report(head, 'read-models', `read model "${name}" differs from a fresh replay (${y?.rows ?? 0} live rows, ${x?.rows ?? 0} replayed)`);
  }
  return { compared };
}
