/**
 * The read side of rotations (`GET /api/v1/rotations[/{id}]`): each rotation's state and
 * re-signing progress from the read model, and its key transition attestation from its stream.
 */
import type { DsseEnvelope } from '../../crypto/dsse.ts';
import { rotationDecider, rotationStream } from '../../domain/rotation.ts';
import { bundlesProjection } from '../../projections/bundles.ts';
import { ceremoniesProjection } from '../../projections/ceremonies.ts';
import type { EventStore } from '../../store/event-store.ts';
import type { ReadModelReader } from '../../store/read-model.ts';
import { loadState } from '../common/load-state.ts';

export interface RotationView {
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly kind: 'rotate' | 'revoke';
  readonly state: string;
  readonly reason: string;
  readonly oldKeyId: string | null;
  readonly newKeyId: string | null;
  readonly createdAt: string;
  readonly completedAt: string | null;
  readonly progress: { readonly resigned: number; readonly remaining: number; readonly failed: number };
}

export type RotationDetail = RotationView & { readonly transitionAttestation: { readonly envelope: DsseEnvelope; readonly transitionAt: string } | null };

export interface RotationViewsDeps {
  readonly store: Pick<EventStore, 'readStream'>;
  readonly readModel: ReadModelReader;
}

/** How long a count of the bundles awaiting re-signing is reused: counting is O(remaining). */
const REMAINING_TTL_MS = 1000;
const REMAINING_CACHE_SIZE = 64;

export class RotationViews {
  private readonly remainingCache = new Map<string, { at: number; value: number }>();

  constructor(private readonly deps: RotationViewsDeps) {}

  list(): RotationView[] {
    return ceremoniesProjection.rotations(this.deps.readModel).flatMap((r) => this.view(r.rotationId) ?? []);
  }

  view(rotationId: string): RotationView | undefined {
    const r = ceremoniesProjection.rotation(this.deps.readModel, rotationId);
    if (!r) return undefined;
    const resigning = r.state === 'rotating' || r.state === 'resigning';
    const remaining = resigning && r.oldKeyId ? this.remaining(r.rotationId, r.oldKeyId, r.resignSince) : 0;
    return {
      rotationId: r.rotationId,
      ceremonyId: r.ceremonyId,
      kind: r.kind,
      state: r.state,
      reason: r.reason,
      oldKeyId: r.oldKeyId,
      newKeyId: r.newKeyId,
      createdAt: r.createdAt,
      completedAt: r.completedAt,
      progress: { resigned: r.resigned, remaining, failed: r.failed },
    };
  }

  /** The view plus the key transition attestation (its DSSE envelope, signed by both keys). */
  async detail(rotationId: string): Promise<RotationDetail | undefined> {
    const view = this.view(rotationId);
    if (!view) return undefined;
    const { transition } = await loadState(this.deps.store, rotationStream(rotationId), rotationDecider);
    return { ...view, transitionAttestation: transition ? { envelope: transition.envelope, transitionAt: transition.transitionAt } : null };
  }

  /** Bundles whose latest version is by `keyId` (signed at or after `since`): what is left to re-sign. */
  remaining(rotationId: string, keyId: string, since: string | null): number {
    const hit = this.remainingCache.get(rotationId);
    if (hit && Date.now() - hit.at < REMAINING_TTL_MS) return hit.value;
    const value = bundlesProjection.countLatestByKey(this.deps.readModel, keyId, since ?? undefined);
    if (this.remainingCache.size > REMAINING_CACHE_SIZE) this.remainingCache.clear();
    this.remainingCache.set(rotationId, { at: Date.now(), value });
    return value;
  }
}
