/**
 * Read model of ceremonies and rotations (SPEC §2 `GET /api/v1/ceremonies/{id}`,
 * `GET /api/v1/rotations[/{id}]`):
 * - `ceremonies`: `<ceremonyId>` → summary (action type, state, approvals so far, expiry);
 * - `rotations`: `<rotationId>` → the rotation's state and re-signing counters, folded from its
 *   ceremony, its `rotation-<id>` stream and the bundles it re-signed.
 */
import { CEREMONY_STREAM_PREFIX, type CeremonyEvent, type CeremonyStatus } from '../domain/ceremony.ts';
import type { BundleEvent } from '../domain/bundle.ts';
import { isObject, type JsonObject } from '../json.ts';
import { ROTATION_STREAM_PREFIX, type RotationEvent, type RotationKind } from '../domain/rotation.ts';
import type { RecordedEvent } from '../store/event-store.ts';
import type { Projection } from './projection.ts';
import type { ReadModelReader, ReadModelTx } from '../store/read-model.ts';

const CEREMONIES = 'ceremonies';
/** Under the projection's name, so a rebuild clears it with the ceremonies. */
const ROTATIONS = 'ceremonies.rotations';

/** `superseded`: the ceremony executed after another rotation had already replaced its outgoing key. */
export type RotationState = 'awaiting-approval' | 'rotating' | 'resigning' | 'completed' | 'superseded' | 'cancelled' | 'expired';

export interface CeremonySummary {
  readonly ceremonyId: string;
  readonly actionType: string;
  readonly state: CeremonyStatus;
  readonly threshold: number;
  readonly approvals: number;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly rotationId: string | null;
}

export interface RotationSummary {
  readonly rotationId: string;
  readonly ceremonyId: string;
  readonly kind: RotationKind;
  readonly state: RotationState;
  readonly reason: string;
  readonly oldKeyId: string | null;
  readonly newKeyId: string | null;
  readonly resignSince: string | null;
  readonly createdAt: string;
  readonly completedAt: string | null;
  readonly resigned: number;
  readonly failed: number;
}

const ROTATION_EVENTS = new Set(['BundleResigned', 'BundleResignFailed']);

function updateRotation(tx: ReadModelTx, rotationId: string, fn: (r: RotationSummary) => RotationSummary): void {
  const r = tx.get<JsonObject>(ROTATIONS, rotationId) as unknown as RotationSummary | undefined;
  if (r) tx.put(ROTATIONS, rotationId, fn(r) as unknown as JsonObject);
}

function applyCeremony(tx: ReadModelTx, ceremonyId: string, event: CeremonyEvent): void {
  if (event.type === 'CeremonyOpened') {
    const d = event.data;
    const action = d.proposal.action as Record<string, unknown>;
    const rotationId = typeof action.rotationId === 'string' ? action.rotationId : null;
    const summary: CeremonySummary = { ceremonyId: d.ceremonyId, actionType: String(action.type), state: d.threshold === 0 ? 'approved' : 'pending', threshold: d.threshold, approvals: 0, createdAt: d.proposal.createdAt, expiresAt: d.proposal.expiresAt, rotationId };
    tx.put(CEREMONIES, d.ceremonyId, summary as unknown as JsonObject);
    if (rotationId && (action.type === 'rotate-key' || action.type === 'revoke-key')) {
      const newKey = action.newKey as { keyId?: string } | undefined;
      const rotation: RotationSummary = {
        rotationId,
        ceremonyId: d.ceremonyId,
        kind: action.type === 'rotate-key' ? 'rotate' : 'revoke',
        state: 'awaiting-approval',
        reason: d.proposal.reason,
        oldKeyId: typeof action.keyId === 'string' ? action.keyId : null,
        newKeyId: newKey?.keyId ?? null,
        resignSince: typeof action.compromisedSince === 'string' ? action.compromisedSince : null,
        createdAt: d.proposal.createdAt,
        completedAt: null,
        resigned: 0,
        failed: 0,
      };
      tx.put(ROTATIONS, rotationId, rotation as unknown as JsonObject);
    }
    return;
  }
  const summary = tx.get<JsonObject>(CEREMONIES, ceremonyId) as unknown as CeremonySummary | undefined;
  if (!summary) return;
  let next: CeremonySummary = summary;
  switch (event.type) {
    case 'ApprovalRecorded':
      next = { ...summary, approvals: summary.approvals + 1, state: summary.state === 'pending' ? 'partially-approved' : summary.state };
      break;
    case 'CeremonyApproved':
      next = { ...summary, state: 'approved' };
      break;
    case 'CeremonyReevaluated':
      // The anchors changed while it was open: its standing under the new version.
      next = { ...summary, state: event.data.state, threshold: event.data.threshold, approvals: event.data.counted.length };
      break;
    case 'CeremonyExecuted': {
      next = { ...summary, state: 'executed' };
      // A rotation that never started because another one replaced its key ends here.
      const result = event.data.result;
      if (summary.rotationId && isObject(result) && result.superseded === 1) {
        updateRotation(tx, summary.rotationId, (r) => (r.state === 'awaiting-approval' ? { ...r, state: 'superseded', completedAt: event.data.executedAt } : r));
      }
      break;
    }
    case 'CeremonyCancelled':
      next = { ...summary, state: 'cancelled' };
      if (summary.rotationId) updateRotation(tx, summary.rotationId, (r) => ({ ...r, state: 'cancelled' }));
      break;
    case 'CeremonyExpired':
      next = { ...summary, state: 'expired' };
      if (summary.rotationId) updateRotation(tx, summary.rotationId, (r) => ({ ...r, state: 'expired' }));
      break;
  }
  tx.put(CEREMONIES, ceremonyId, next as unknown as JsonObject);
}

function applyRotation(tx: ReadModelTx, event: RotationEvent): void {
  switch (event.type) {
    case 'RotationStarted': {
      const d = event.data;
      updateRotation(tx, d.rotationId, (r) => ({ ...r, state: 'rotating', oldKeyId: d.oldKeyId, newKeyId: d.newKeyId, resignSince: d.resignSince }));
      break;
    }
    case 'KeyTransitionAttested':
      updateRotation(tx, event.data.rotationId, (r) => (r.state === 'completed' ? r : { ...r, state: 'resigning' }));
      break;
    case 'RotationCompleted': {
      const d = event.data;
      updateRotation(tx, d.rotationId, (r) => ({ ...r, state: 'completed', completedAt: d.completedAt }));
      break;
    }
  }
}

export const ceremoniesProjection: Projection & {
  ceremony(reader: ReadModelReader, ceremonyId: string): CeremonySummary | undefined;
  rotation(reader: ReadModelReader, rotationId: string): RotationSummary | undefined;
  rotations(reader: ReadModelReader, limit?: number): RotationSummary[];
  ceremonies(reader: ReadModelReader, limit?: number): CeremonySummary[];
} = {
  name: CEREMONIES,
  version: 2,
  eventTypes: ['CeremonyOpened', 'ApprovalRecorded', 'CeremonyApproved', 'CeremonyReevaluated', 'CeremonyExecuted', 'CeremonyCancelled', 'CeremonyExpired', 'RotationStarted', 'KeyTransitionAttested', 'RotationCompleted', 'BundleResigned', 'BundleResignFailed'],
  apply(tx, e: RecordedEvent) {
    if (e.stream.startsWith(CEREMONY_STREAM_PREFIX)) {
      applyCeremony(tx, e.stream.slice(CEREMONY_STREAM_PREFIX.length), { type: e.type, data: e.data } as unknown as CeremonyEvent);
    } else if (e.stream.startsWith(ROTATION_STREAM_PREFIX)) {
      applyRotation(tx, { type: e.type, data: e.data } as unknown as RotationEvent);
    } else if (ROTATION_EVENTS.has(e.type)) {
      const event = { type: e.type, data: e.data } as unknown as BundleEvent;
      if (event.type === 'BundleResigned') updateRotation(tx, event.data.rotationId, (r) => ({ ...r, resigned: r.resigned + 1 }));
      else if (event.type === 'BundleResignFailed') updateRotation(tx, event.data.rotationId, (r) => ({ ...r, failed: r.failed + 1 }));
    }
  },
  ceremony: (reader, id) => reader.get<JsonObject>(CEREMONIES, id) as unknown as CeremonySummary | undefined,
  rotation: (reader, id) => reader.get<JsonObject>(ROTATIONS, id) as unknown as RotationSummary | undefined,
  rotations: (reader, limit = 1000) =>
    reader
      .list<JsonObject>(ROTATIONS, { limit })
      .map((r) => r.value as unknown as RotationSummary)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0)),
  ceremonies: (reader, limit = 1000) => reader.list<JsonObject>(CEREMONIES, { limit }).map((r) => r.value as unknown as CeremonySummary),
};
