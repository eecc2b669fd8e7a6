/**
 * Audit replay (`sigledger replay`): reads the whole history from position 0 and proves it was
 * not altered, independently of the read models the service keeps. This driver reads the history
 * once and feeds every event to one checker per concern (./checks/), in a fixed order so each
 * sees the history as of that event:
 *
 * - hash chain (chain.ts), every event;
 * - the key registry as of the event (key-registry.ts), which the next two read;
 * - DSSE signatures on worker threads (signatures.ts);
 * - ceremonies' approvals and thresholds (ceremonies.ts), against the anchors in force;
 * - the trust anchors chain (anchors.ts);
 * - checkpoints and log roots (checkpoints.ts), every event being a leaf.
 *
 * Then the read models are folded afresh and compared with the live ones (read-models.ts).
 * The report names the first bad position; nothing here writes to the history.
 */
import type { Projection } from '../../projections/projection.ts';
import type { EventStore, RecordedEvent } from '../../store/event-store.ts';
import { AnchorsCheck } from './checks/anchors.ts';
import { CeremonyCheck } from './checks/ceremonies.ts';
import { ChainCheck } from './checks/chain.ts';
import type { HistoryChecker, HistoryEntry, ReplayCheck, ReplayProblem } from './checks/checker.ts';
import { CheckpointCheck, checkpointSizes } from './checks/checkpoints.ts';
import { KeyRegistryAt } from './checks/key-registry.ts';
import { compareReadModels, type DigestibleReadModel } from './checks/read-models.ts';
import { SignatureCheck } from './checks/signatures.ts';

export type { ReplayCheck, ReplayProblem } from './checks/checker.ts';
export type { DigestibleReadModel } from './checks/read-models.ts';

export interface ReplayDeps {
  readonly store: EventStore;
  /** Projections to fold into `fresh` (a new factory result: the log projection keeps state). */
  readonly projections?: () => Projection[];
  /** An empty read model to replay into, and the live one to compare with. */
  readonly fresh?: DigestibleReadModel;
  readonly live?: DigestibleReadModel;
  /** Verify signatures (default true) on this many worker threads (default: available cores). */
  readonly signatures?: boolean;
  readonly threads?: number;
  readonly pageSize?: number;
  readonly onProgress?: (position: number, head: number) => void;
}

export interface ReplayReport {
  readonly ok: boolean;
  readonly headPosition: number;
  readonly events: number;
  readonly streams: number;
  readonly seconds: number;
  readonly checks: {
    readonly chain: { readonly events: number };
    readonly signatures: { readonly checked: number; readonly threads: number; readonly skipped: boolean };
    readonly checkpoints: { readonly checked: number; readonly leaves: number };
    readonly ceremonies: { readonly executed: number; readonly approvals: number };
    readonly anchors: { readonly versions: number; readonly chained: number };
    readonly readModels: { readonly compared: number; readonly skipped?: string };
  };
  readonly problems: readonly ReplayProblem[];
  /** Position of the first problem, or null when clean. */
  readonly firstBadPosition: number | null;
}

/** A store that can also hand out the canonical text it stored (the SQLite adapter). */
interface CanonicalHistory {
  readAllCanonical(options: { after?: number; maxCount?: number }): Promise<{ event: RecordedEvent; dataJson: string; metadataJson: string }[]>;
}
const hasCanonicalText = (store: EventStore): store is EventStore & CanonicalHistory => typeof (store as Partial<CanonicalHistory>).readAllCanonical === 'function';

/** Pages of the history after a position, with the stored canonical text when the store has it. */
function pageReader(store: EventStore, pageSize: number): (after: number) => Promise<HistoryEntry[]> {
  if (hasCanonicalText(store)) return (after) => store.readAllCanonical({ after, maxCount: pageSize });
  return async (after) => (await store.readAll({ after, maxCount: pageSize })).map((event) => ({ event, dataJson: undefined, metadataJson: undefined }));
}

export async function replay(deps: ReplayDeps): Promise<ReplayReport> {
  const started = performance.now();
  const problems: ReplayProblem[] = [];
  const report = (position: number, check: ReplayCheck, message: string) => void problems.push({ position, check, message });
  const head = await deps.store.headPosition();
  // Read before the signature workers start, so a failing read leaves no threads behind.
  const sizes = await checkpointSizes(deps.store, head);

  const registry = new KeyRegistryAt();
  const chain = new ChainCheck(report);
  const signatures = deps.signatures !== false ? new SignatureCheck(registry, report, deps.threads ? { threads: deps.threads } : {}) : undefined;
  const anchors = new AnchorsCheck(report);
  const ceremonies = new CeremonyCheck(report, () => anchors.current());
  const checkpoints = new CheckpointCheck(registry, report, sizes);
  // The order matters: the registry before the checks that read it, ceremonies before the anchors
  // their own event may change, the log roots last (an event is a leaf after it was checked).
  const checkers: readonly HistoryChecker[] = [chain, registry, ...(signatures ? [signatures] : []), ceremonies, anchors, checkpoints];

  let events = 0;
  const streams = new Set<string>();
  try {
    const readPage = pageReader(deps.store, deps.pageSize ?? 2000);
    for (let after = 0; after < head; ) {
      const page = await readPage(after);
      if (page.length === 0) break;
      for (const entry of page) {
        if (entry.event.position > head) break;
        after = entry.event.position;
        events++;
        streams.add(entry.event.stream);
        for (const checker of checkers) checker.observe(entry);
      }
      deps.onProgress?.(after, head);
      await signatures?.backpressure();
    }
    await signatures?.finish();
  } finally {
    await signatures?.close();
  }

  const readModels = deps.fresh && deps.projections ? await compareReadModels({ store: deps.store, projections: deps.projections, fresh: deps.fresh, live: deps.live }, head, report) : { compared: 0 };

  problems.sort((a, b) => a.position - b.position);
  return {
    ok: problems.length === 0,
    headPosition: head,
    events,
    streams: streams.size,
    seconds: (performance.now() - started) / 1000,
    checks: {
      chain: chain.summary(),
      signatures: signatures?.summary() ?? { checked: 0, threads: 0, skipped: true },
      checkpoints: checkpoints.summary(),
      ceremonies: ceremonies.summary(),
      anchors: anchors.summary(),
      readModels,
    },
    problems,
    firstBadPosition: problems[0]?.position ?? null,
  };
}
